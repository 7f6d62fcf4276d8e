"""The shapes of normalized events, as handlers and JSON-lines consumers see them.

Events travel as plain dicts (no per-message object conversion on the hot
path); these ``TypedDict`` definitions document and type them. Every data
event carries ``source`` (the provider, ``"argus"`` for the native protocol)
and ``received`` (epoch seconds when the client received it), added by the
client. Fields a provider lacks are omitted, never invented.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

__all__ = ["Event", "GapEvent", "OrderbookEvent", "PriceEvent", "VolumeEvent"]


class PriceEvent(TypedDict):
    type: Literal["price"]
    sub: str
    symbol: str
    price: float
    bid: float
    ask: float
    timestamp: float
    seq: NotRequired[int]
    source: str
    received: float


class VolumeEvent(TypedDict):
    type: Literal["volume"]
    sub: str
    symbol: str
    volume: float
    total_volume: float
    timestamp: float
    seq: NotRequired[int]
    source: str
    received: float


class OrderbookEvent(TypedDict):
    type: Literal["orderbook"]
    sub: str
    symbol: str
    bids: list[list[float]]
    asks: list[list[float]]
    timestamp: float
    seq: NotRequired[int]
    source: str
    received: float


class GapEvent(TypedDict):
    """Data is missing: ``from_seq`` to ``to_seq`` (inclusive) of ``symbol``.

    ``reason`` is ``not_in_buffer`` when the server no longer held the events
    asked for on resume, ``sequence_jump`` when the client saw ``seq`` skip
    (then ``sub`` and ``data_type`` say where).
    """

    type: Literal["gap"]
    symbol: str
    from_seq: int
    to_seq: int
    reason: str
    sub: NotRequired[str]
    data_type: NotRequired[str]
    source: str
    received: float


Event = PriceEvent | VolumeEvent | OrderbookEvent | GapEvent
