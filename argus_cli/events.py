"""The shapes of normalized events, as handlers and JSON-lines consumers see them.

Events travel as plain dicts (no per-message object conversion on the hot
path); these ``TypedDict`` definitions document and type them. Every data
event carries ``source`` (the provider, ``"argus"`` for the native protocol)
and ``received`` (epoch seconds when the client received it), added by the
client. Fields a provider lacks are omitted, never invented.

``check_event`` enforces the contract on one event (or one parsed JSON line):
the tests run it on every line every provider produces.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "MAX_BOOK_LEVELS",
    "MAX_SEQ",
    "Event",
    "GapEvent",
    "OrderbookEvent",
    "PriceEvent",
    "VolumeEvent",
    "check_event",
]

MAX_SEQ = 2**63 - 1  # docs/PROTOCOL.md: seq in 1..2^63-1
MAX_BOOK_LEVELS = 10  # per side


class PriceEvent(TypedDict):
    """A quote or last price: at least one of ``price``, ``bid``, ``ask`` (a venue's
    best bid/offer message, Binance ``bookTicker``, has no last price)."""

    type: Literal["price"]
    sub: str
    symbol: str
    price: NotRequired[float]
    bid: NotRequired[float]
    ask: NotRequired[float]
    bid_size: NotRequired[float]
    ask_size: NotRequired[float]
    timestamp: NotRequired[float]
    seq: NotRequired[int]
    source: str
    received: float


class VolumeEvent(TypedDict):
    type: Literal["volume"]
    sub: str
    symbol: str
    volume: float
    total_volume: NotRequired[float]
    timestamp: NotRequired[float]
    seq: NotRequired[int]
    source: str
    received: float


class OrderbookEvent(TypedDict):
    type: Literal["orderbook"]
    sub: str
    symbol: str
    bids: list[list[float]]
    asks: list[list[float]]
    timestamp: NotRequired[float]
    seq: NotRequired[int]
    source: str
    received: float


class GapEvent(TypedDict):
    """Data is missing: ``from_seq`` to ``to_seq`` (inclusive) of ``symbol``.

    ``reason`` is ``not_in_buffer`` when the server no longer held the events
    asked for on resume, ``sequence_jump`` when the client saw ``seq`` skip
    (then ``sub`` and ``data_type`` say where). ``to_seq`` is None when the size
    of the loss is unknown (``server_restart``).
    """

    type: Literal["gap"]
    symbol: str
    from_seq: int
    to_seq: int | None
    reason: str
    sub: NotRequired[str]
    data_type: NotRequired[str]
    source: str
    received: float


Event = PriceEvent | VolumeEvent | OrderbookEvent | GapEvent


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _seq(value: Any) -> bool:
    return type(value) is int and 1 <= value <= MAX_SEQ


def _levels(levels: Any) -> bool:
    return (
        type(levels) is list
        and len(levels) <= MAX_BOOK_LEVELS
        and all(
            type(level) is list and len(level) == 2 and _number(level[0]) and _number(level[1])
            for level in levels
        )
    )


_REQUIRED_NUMBERS = {"price": (), "volume": ("volume",), "orderbook": (), "gap": ()}
_OPTIONAL_NUMBERS = ("timestamp", "price", "bid", "ask", "bid_size", "ask_size", "total_volume")


def check_event(event: Mapping[str, Any]) -> list[str]:
    """Every way ``event`` breaks the normalized-event contract; empty when it keeps it."""
    kind = event.get("type")
    if kind not in _REQUIRED_NUMBERS:
        return [f"type must be price, volume, orderbook or gap, not {kind!r}"]
    problems = []
    for key in ("source", "symbol"):
        if type(event.get(key)) is not str or not event[key]:
            problems.append(f"{key} must be a non-empty string")
    if not _number(event.get("received")):
        problems.append("received must be a finite number (epoch seconds)")
    if "sub" in event and type(event["sub"]) is not str:
        problems.append("sub must be a string")
    for key in _REQUIRED_NUMBERS[kind]:
        if not _number(event.get(key)):
            problems.append(f"{kind} needs a finite number {key}")
    for key in _OPTIONAL_NUMBERS:
        if key in event and not _number(event[key]):
            problems.append(f"{key}, when present, must be a finite number")
    if kind == "price" and not any(key in event for key in ("price", "bid", "ask")):
        problems.append("price needs at least one of price, bid, ask")
    if kind == "gap":
        low, high = event.get("from_seq"), event.get("to_seq")
        if not _seq(low) or not (high is None or (_seq(high) and high >= low)):
            problems.append("gap needs 1 <= from_seq <= to_seq <= 2^63-1 (to_seq may be null)")
        if type(event.get("reason")) is not str:
            problems.append("gap needs a reason")
    elif "seq" in event and not _seq(event["seq"]):
        problems.append("seq, when present, must be an integer in 1..2^63-1")
    if kind == "orderbook":
        bids, asks = event.get("bids"), event.get("asks")
        if not (_levels(bids) and _levels(asks)):
            problems.append(
                f"bids and asks must be lists of at most {MAX_BOOK_LEVELS} [price, size]"
            )
        elif bids and asks and bids[0][0] >= asks[0][0]:
            problems.append("the book is crossed: best bid >= best ask")
    return problems
