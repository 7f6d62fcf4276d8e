"""The server side of the argus wire codec: decode client ops, encode replies. No I/O.

``decode_op`` turns one client frame into a request object or an ``OpError``
carrying the protocol error code the server must answer with. A subscribe
that fails validation is refused whole. ``peek_id`` reads just the ``id`` of a
frame the server will not serve (rate-limited), so its error can name it.
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson

from . import rules
from .rules import ErrorCode

__all__ = [
    "ListSymbols",
    "OpError",
    "Ping",
    "Request",
    "Subscribe",
    "Unsubscribe",
    "decode_op",
    "encode_error",
    "encode_message",
    "peek_id",
]


@dataclass(frozen=True, slots=True)
class Subscribe:
    id: str
    symbols: tuple[str, ...]
    data_types: tuple[str, ...]
    update_frequency: str
    min_price: float | None
    max_price: float | None
    resume: dict[str, int]

    @property
    def filtered(self) -> bool:
        return self.min_price is not None or self.max_price is not None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    id: str


@dataclass(frozen=True, slots=True)
class ListSymbols:
    pass


@dataclass(frozen=True, slots=True)
class Ping:
    nonce: Any


@dataclass(frozen=True, slots=True)
class OpError:
    code: ErrorCode
    message: str
    id: str | None = None


Request = Subscribe | Unsubscribe | ListSymbols | Ping

_KNOWN_FIELDS = {
    "subscribe": {"op", "id", "symbols", "data_types", "update_frequency", "filters", "resume"},
    "unsubscribe": {"op", "id"},
    "list_symbols": {"op"},
    "ping": {"op", "nonce"},
}


def decode_op(data: str | bytes, universe: Collection[str]) -> Request | OpError:
    """Decode and validate one client frame against the server's symbol ``universe``."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return OpError(ErrorCode.BAD_REQUEST, f"malformed JSON: {str(exc)[:100]}")
    if type(obj) is not dict:
        return OpError(ErrorCode.BAD_REQUEST, "a client message must be a JSON object")
    op = obj.get("op")
    if type(op) is not str:
        return OpError(ErrorCode.BAD_REQUEST, "missing or non-string field 'op'")
    known = _KNOWN_FIELDS.get(op)
    if known is None:
        return OpError(ErrorCode.UNKNOWN_OP, f"unknown op: {op[:40]!r}")
    sub_id = obj.get("id") if type(obj.get("id")) is str else None
    extra = sorted(set(obj) - known)
    if extra:
        return OpError(
            ErrorCode.BAD_REQUEST, f"unknown field {extra[0][:40]!r} for op {op}", sub_id
        )
    if op == "list_symbols":
        return ListSymbols()
    if op == "ping":
        nonce = obj.get("nonce")
        if isinstance(nonce, (dict, list)):
            return OpError(ErrorCode.BAD_REQUEST, "ping nonce must be a number or a string")
        return Ping(nonce)
    reason = rules.check_subscription_id(obj.get("id"))
    if reason:
        return OpError(ErrorCode.BAD_REQUEST, reason)
    assert sub_id is not None
    if op == "unsubscribe":
        return Unsubscribe(sub_id)
    return _decode_subscribe(obj, sub_id, universe)


def peek_id(data: str | bytes) -> str | None:
    """The frame's subscription ``id`` if it is a JSON object with a valid one, else None."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict:
        return None
    sub_id = obj.get("id")
    return sub_id if rules.check_subscription_id(sub_id) is None else None


def _decode_subscribe(
    obj: dict[str, Any], sub_id: str, universe: Collection[str]
) -> Request | OpError:
    symbols = obj.get("symbols")
    if type(symbols) is not list or not symbols:
        return OpError(ErrorCode.BAD_REQUEST, "symbols must be a non-empty list", sub_id)
    for symbol in symbols:
        reason = rules.check_symbol(symbol)
        if reason:
            return OpError(ErrorCode.INVALID_SYMBOL, reason, sub_id)
        if symbol not in universe:
            return OpError(ErrorCode.INVALID_SYMBOL, f"unknown symbol: {symbol}", sub_id)
    if len(set(symbols)) != len(symbols):
        return OpError(ErrorCode.BAD_REQUEST, "symbols are repeated", sub_id)
    data_types = obj.get("data_types")
    reason = rules.check_data_types(data_types)
    if reason:
        return OpError(ErrorCode.INVALID_DATA_TYPE, reason, sub_id)
    assert isinstance(data_types, list)
    frequency = obj.get("update_frequency", "realtime")
    reason = rules.check_frequency(frequency)
    if reason:
        return OpError(ErrorCode.INVALID_FREQUENCY, reason, sub_id)
    filters = obj.get("filters")
    reason = rules.check_filters(filters)
    if reason:
        return OpError(ErrorCode.INVALID_FILTER, reason, sub_id)
    filters = filters or {}
    resume = obj.get("resume")
    reason = rules.check_resume(resume)
    if reason:
        return OpError(ErrorCode.BAD_REQUEST, reason, sub_id)
    resume = resume or {}
    if resume and frequency != "realtime":
        return OpError(
            ErrorCode.BAD_REQUEST, "resume is allowed on realtime subscriptions only", sub_id
        )
    stray = [s for s in resume if s not in symbols]
    if stray:
        return OpError(
            ErrorCode.BAD_REQUEST, f"resume names {stray[0]}, which is not subscribed", sub_id
        )
    return Subscribe(
        id=sub_id,
        symbols=tuple(map(sys.intern, symbols)),  # subscriptions share one str a symbol
        data_types=tuple(dict.fromkeys(data_types)),
        update_frequency=frequency,
        min_price=filters.get("min_price"),
        max_price=filters.get("max_price"),
        resume=dict(resume),
    )


def encode_message(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message)


def encode_error(error: OpError) -> bytes:
    out: dict[str, Any] = {"type": "error", "code": error.code, "message": error.message}
    if error.id is not None:
        out["id"] = error.id
    return orjson.dumps(out)
