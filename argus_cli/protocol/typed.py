"""The argus protocol's data events as typed structs: the receive path's fast lane. No I/O.

A frame that holds only data messages exactly as docs/PROTOCOL.md shapes them
(``price``, ``volume``, ``orderbook``: every field present, each of its type and
range, nothing else) is parsed and type-checked in one C pass by msgspec into
these structs. They travel as they are through the pipeline (sequence checks,
``source``/``received`` stamps) to the sinks, which encode them back to JSON
lines in one C call per delivery (``encode_lines``); handlers get plain dicts
(``to_dicts``), made only when a handler wants them.

Anything else (a control message, an extra field, a bad value, an empty batch)
is not decoded here: ``decode_frames`` answers None and the frames take the
general path (``codec.decode_frame``), which is the authority on what is valid
and says why. A property test holds both paths to the same output.

Field order is the wire order of docs/PROTOCOL.md, ``source`` and ``received``
last, so a typed event encodes to the line the general path prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Final

import msgspec

from ..events import MAX_BOOK_LEVELS, MAX_SEQ

__all__ = [
    "MAX_BOOK_LEVELS",
    "MAX_INT",
    "MAX_SEQ",
    "Gap",
    "Orderbook",
    "Price",
    "TypedEvent",
    "Volume",
    "decode_frames",
    "decode_one",
    "encode_each",
    "encode_lines",
    "to_dicts",
]

MAX_INT: Final = 2**63 - 1  # integers beyond a signed 64-bit value are malformed

_Seq = Annotated[int, msgspec.Meta(ge=1, le=MAX_SEQ)]
# a float needs no bounds: msgspec refuses one that overflows a double ("1e999")
_Num = Annotated[int, msgspec.Meta(ge=-MAX_INT - 1, le=MAX_INT)] | float
_Level = Annotated[list[_Num], msgspec.Meta(min_length=2, max_length=2)]
_Book = Annotated[list[_Level], msgspec.Meta(max_length=MAX_BOOK_LEVELS)]


# ``source`` and ``received`` are absent on the wire (None, never encoded): the
# pipeline sets them. ``gc=False``: the structs hold numbers, strings and (books)
# lists of numbers, never themselves, so the garbage collector need not track
# them (fewer collections on the hot path).


class Price(
    msgspec.Struct,
    tag="price",
    tag_field="type",
    forbid_unknown_fields=True,
    omit_defaults=True,
    gc=False,
):
    kind: ClassVar[str] = "price"
    sub: str
    symbol: str
    price: _Num
    bid: _Num
    ask: _Num
    timestamp: _Num
    seq: _Seq
    source: str | None = None
    received: float | None = None


class Volume(
    msgspec.Struct,
    tag="volume",
    tag_field="type",
    forbid_unknown_fields=True,
    omit_defaults=True,
    gc=False,
):
    kind: ClassVar[str] = "volume"
    sub: str
    symbol: str
    volume: _Num
    total_volume: _Num
    timestamp: _Num
    seq: _Seq
    source: str | None = None
    received: float | None = None


class Orderbook(
    msgspec.Struct,
    tag="orderbook",
    tag_field="type",
    forbid_unknown_fields=True,
    omit_defaults=True,
    gc=False,
):
    kind: ClassVar[str] = "orderbook"
    sub: str
    symbol: str
    bids: _Book
    asks: _Book
    timestamp: _Num
    seq: _Seq
    source: str | None = None
    received: float | None = None


class Gap(msgspec.Struct, tag="gap", tag_field="type", gc=False):
    """A gap the client saw (``sequence_jump``, or ``server_restart`` with ``to_seq``
    None): the keys, in order, of the gap record the general path makes."""

    kind: ClassVar[str] = "gap"
    symbol: str
    from_seq: int
    to_seq: int | None
    reason: str
    sub: str
    data_type: str
    source: str
    received: float


TypedEvent = Price | Volume | Orderbook | Gap

_DECODER: Final = msgspec.json.Decoder(
    list[Price | Volume | Orderbook] | Price | Volume | Orderbook
)
_ENCODER: Final = msgspec.json.Encoder()
# UnicodeEncodeError: a str frame with a lone surrogate (from a test: a socket's text
# frames are valid UTF-8)
_ERRORS: Final = (msgspec.DecodeError, msgspec.ValidationError, UnicodeEncodeError)


def decode_one(frame: str | bytes) -> list[Price | Volume | Orderbook] | None:
    """One frame's data events, or None when it holds anything else."""
    decoded = decode_frames([frame])
    if decoded is None:
        return None
    got = decoded[0]
    return got if type(got) is list else [got]


def decode_frames(frames: Sequence[str | bytes]) -> list[Any] | None:
    """Each frame's data events: a struct (one message) or a non-empty list of them
    (a batch), in order; None as soon as one frame holds anything else."""
    decode = _DECODER.decode
    out: list[Any] = []
    append = out.append
    try:
        for frame in frames:
            got = decode(frame)
            if type(got) is list and not got:
                return None
            append(got)
    except _ERRORS:
        return None
    return out


def encode_lines(events: Sequence[TypedEvent]) -> bytes:
    """The events as JSON lines, each ending in a newline: one C call."""
    return _ENCODER.encode_lines(events)


def encode_each(events: Sequence[TypedEvent]) -> list[bytes]:
    """Each event as its JSON line without the newline (``encode_lines`` joins these)."""
    encode = _ENCODER.encode
    return [encode(e) for e in events]


def to_dicts(events: Sequence[TypedEvent]) -> list[dict[str, Any]]:
    """The events as the plain dicts handlers are promised (keys in wire order)."""
    return msgspec.to_builtins(events)  # type: ignore[no-any-return]
