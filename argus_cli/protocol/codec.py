"""The client side of the argus wire codec: encode ops, decode server frames. No I/O.

``decode_frame`` takes a text or binary frame and returns the valid messages it
holds, in order, plus a ``DecodeError`` for each part that was not valid. Any
input whatsoever gives messages or decode errors, never another exception:
orjson refuses invalid UTF-8, lone surrogates, NaN/Infinity, numbers that
overflow a double and nesting deeper than 1,024 levels; the validators below
check every field a consumer relies on.

Messages stay plain ``dict`` objects (the shapes are in ``argus_cli.events``)
so the hot path allocates nothing it does not need.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from ..exceptions import DecodeError, EncodeError, UnknownMessageType
from . import rules, typed
from .session import Message
from .typed import MAX_BOOK_LEVELS, MAX_INT, MAX_SEQ

__all__ = [
    "Message",
    "decode_data",
    "decode_frame",
    "encode_list_symbols",
    "encode_ping",
    "encode_subscribe",
    "encode_unsubscribe",
]


# --- encoding -------------------------------------------------------------------------


def encode_subscribe(
    subscription_id: str,
    symbols: Sequence[str],
    data_types: Sequence[str],
    update_frequency: str = "realtime",
    filters: Mapping[str, float] | None = None,
    resume: Mapping[str, int] | None = None,
) -> bytes:
    """Encode a ``subscribe`` op; raise ``EncodeError`` naming the bad value."""
    for reason in (
        rules.check_subscription_id(subscription_id),
        rules.check_symbols(list(symbols)),
        rules.check_data_types(list(data_types)),
        rules.check_frequency(update_frequency),
        rules.check_filters(filters),
        rules.check_resume(resume),
    ):
        if reason:
            raise EncodeError(reason)
    if resume and update_frequency != "realtime":
        raise EncodeError("resume is allowed on realtime subscriptions only")
    op: dict[str, Any] = {
        "op": "subscribe",
        "id": subscription_id,
        "symbols": list(symbols),
        "data_types": list(data_types),
        "update_frequency": update_frequency,
    }
    if filters:
        op["filters"] = dict(filters)
    if resume:
        op["resume"] = dict(resume)
    return orjson.dumps(op)


def encode_unsubscribe(subscription_id: str) -> bytes:
    reason = rules.check_subscription_id(subscription_id)
    if reason:
        raise EncodeError(reason)
    return orjson.dumps({"op": "unsubscribe", "id": subscription_id})


def encode_list_symbols() -> bytes:
    return b'{"op":"list_symbols"}'


def encode_ping(nonce: int) -> bytes:
    if not isinstance(nonce, int) or isinstance(nonce, bool):
        raise EncodeError(f"ping nonce must be an integer, not {nonce!r}")
    return orjson.dumps({"op": "ping", "nonce": nonce})


# --- decoding -------------------------------------------------------------------------

MAX_FLOAT = sys.float_info.max  # the largest finite double
MAX_TEXT = 500  # characters of a server's free text kept (error messages)
_TOKEN_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")  # ids, codes, epochs


def _number(value: Any) -> bool:
    """A JSON number argus can hold: an int within 64 bits, or a finite double."""
    kind = type(value)
    if kind is int:
        return bool(-MAX_INT - 1 <= value <= MAX_INT)
    return kind is float and bool(-MAX_FLOAT <= value <= MAX_FLOAT)


def _num(msg: Message, key: str) -> bool:
    return _number(msg.get(key))


def _str(msg: Message, key: str) -> bool:
    return type(msg.get(key)) is str


def _symbol(msg: Message, key: str = "symbol") -> bool:
    value = msg.get(key)
    return type(value) is str and rules.SYMBOL_RE.fullmatch(value) is not None


def _token(msg: Message, key: str) -> bool:
    value = msg.get(key)
    return type(value) is str and _TOKEN_RE.fullmatch(value) is not None


def _seq(value: Any) -> bool:
    return type(value) is int and 1 <= value <= MAX_SEQ


def _seq_ok(msg: Message) -> bool:
    return _seq(msg.get("seq"))


def _levels_ok(levels: Any) -> bool:
    if type(levels) is not list or len(levels) > MAX_BOOK_LEVELS:
        return False
    for level in levels:
        if type(level) is not list or len(level) != 2 or not _number(level[0]):
            return False
        if not _number(level[1]):
            return False
    return True


def _check_price(m: Message) -> str | None:
    if not (_str(m, "sub") and _symbol(m) and _num(m, "price") and _num(m, "timestamp")):
        return "price message needs sub, a valid symbol, and finite price and timestamp"
    if not (_num(m, "bid") and _num(m, "ask")):
        return "price message needs finite numeric bid and ask"
    return None if _seq_ok(m) else "price message needs an integer seq in 1..2^63-1"


def _check_volume(m: Message) -> str | None:
    if not (_str(m, "sub") and _symbol(m) and _num(m, "volume") and _num(m, "timestamp")):
        return "volume message needs sub, a valid symbol, and finite volume and timestamp"
    if not _num(m, "total_volume"):
        return "volume message needs a finite numeric total_volume"
    return None if _seq_ok(m) else "volume message needs an integer seq in 1..2^63-1"


def _check_orderbook(m: Message) -> str | None:
    if not (_str(m, "sub") and _symbol(m) and _num(m, "timestamp")):
        return "orderbook message needs sub, a valid symbol and a finite timestamp"
    if not (_levels_ok(m.get("bids")) and _levels_ok(m.get("asks"))):
        return f"orderbook bids and asks must be at most {MAX_BOOK_LEVELS} [price, size] each"
    return None if _seq_ok(m) else "orderbook message needs an integer seq in 1..2^63-1"


def _check_welcome(m: Message) -> str | None:
    if type(m.get("protocol")) is not int or not _token(m, "connection_id"):
        return "welcome needs protocol and a connection_id of [A-Za-z0-9_.:-]{1,128}"
    if "epoch" in m and m["epoch"] is not None and not _token(m, "epoch"):
        return "welcome epoch must be a string of [A-Za-z0-9_.:-]{1,128}"
    return None


def _check_subscribed(m: Message) -> str | None:
    return None if _str(m, "id") else "subscribed needs an id"


def _check_unsubscribed(m: Message) -> str | None:
    return None if _str(m, "id") else "unsubscribed needs an id"


def _check_symbols(m: Message) -> str | None:
    symbols = m.get("symbols")
    if type(symbols) is not list or not all(
        type(s) is str and rules.SYMBOL_RE.fullmatch(s) for s in symbols
    ):
        return "symbols reply needs a list of valid symbols"
    return None


def _check_pong(m: Message) -> str | None:
    nonce = m.get("nonce")
    if nonce is None or type(nonce) in (int, float, str):
        return None
    return "pong nonce must be a number or a string"


def _check_error(m: Message) -> str | None:
    if not (_token(m, "code") and _str(m, "message")):
        return "error needs a code of [A-Za-z0-9_.:-]{1,128} and a message"
    if "id" in m and m["id"] is not None and not _token(m, "id"):
        return "error id must be a subscription id"
    if len(m["message"]) > MAX_TEXT:
        m["message"] = m["message"][:MAX_TEXT] + "..."
    return None


def _check_gap(m: Message) -> str | None:
    if not _symbol(m):
        return "gap needs a valid symbol"
    low: Any = m.get("from_seq")
    high: Any = m.get("to_seq")
    if not (_seq(low) and _seq(high)) or high < low:
        return "gap needs integers 1 <= from_seq <= to_seq <= 2^63-1"
    if "sub" in m and m["sub"] is not None and not _token(m, "sub"):
        return "gap sub must be a subscription id"
    if "reason" in m and not _token(m, "reason"):
        return "gap reason must be a word of [A-Za-z0-9_.:-]{1,128}"
    return None


def _check_heartbeat(m: Message) -> str | None:
    return None


VALIDATORS: dict[str, Callable[[Message], str | None]] = {
    "price": _check_price,
    "volume": _check_volume,
    "orderbook": _check_orderbook,
    "welcome": _check_welcome,
    "subscribed": _check_subscribed,
    "unsubscribed": _check_unsubscribed,
    "symbols": _check_symbols,
    "pong": _check_pong,
    "error": _check_error,
    "gap": _check_gap,
    "heartbeat": _check_heartbeat,
}


def _validate(obj: Any, errors: list[DecodeError]) -> Message | None:
    if type(obj) is not dict:
        errors.append(DecodeError(f"expected a JSON object, got {type(obj).__name__}"))
        return None
    kind = obj.get("type")
    check = VALIDATORS.get(kind) if type(kind) is str else None
    if check is None:
        if type(kind) is str:
            errors.append(UnknownMessageType(f"unknown message type {kind[:40]!r}"))
        else:
            errors.append(DecodeError("message without a string 'type'"))
        return None
    reason = check(obj)
    if reason is not None:
        errors.append(DecodeError(reason))
        return None
    return _known_fields(obj, kind)


# Fields a delivered event keeps. A server may add others (a newer protocol); they
# are dropped, never passed on to handlers and output unvalidated.
_EVENT_FIELDS: dict[str, frozenset[str]] = {
    "price": frozenset({"type", "sub", "symbol", "price", "bid", "ask", "timestamp", "seq"}),
    "volume": frozenset({"type", "sub", "symbol", "volume", "total_volume", "timestamp", "seq"}),
    "orderbook": frozenset({"type", "sub", "symbol", "bids", "asks", "timestamp", "seq"}),
    "gap": frozenset({"type", "sub", "symbol", "from_seq", "to_seq", "reason"}),
}


def _known_fields(msg: Message, kind: Any) -> Message:
    keep = _EVENT_FIELDS.get(kind)
    if keep is None or msg.keys() <= keep:
        return msg
    return {key: value for key, value in msg.items() if key in keep}


def decode_data(data: str | bytes) -> list[Message] | None:
    """The fast path alone (``protocol.typed``): the frame's data messages when it holds
    nothing else and every one is valid; None otherwise (then ``decode_frame``
    decides and says why)."""
    fast = typed.decode_one(data)
    return None if fast is None else typed.to_dicts(fast)


def decode_frame(data: str | bytes) -> tuple[list[Message], list[DecodeError]]:
    """Decode one frame (an object or a batch) into valid messages and errors."""
    fast = decode_data(data)
    if fast is not None:
        return fast, []
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return [], [DecodeError(f"invalid JSON: {str(exc)[:120]}")]
    errors: list[DecodeError] = []
    if type(parsed) is dict:  # the common case, kept short
        kind = parsed.get("type")
        check = VALIDATORS.get(kind) if type(kind) is str else None
        if check is not None and check(parsed) is None:
            return [_known_fields(parsed, kind)], errors
        _validate(parsed, errors)
        return [], errors
    if type(parsed) is list:
        messages = []
        for item in parsed:
            msg = _validate(item, errors)
            if msg is not None:
                messages.append(msg)
        if not parsed:
            errors.append(DecodeError("empty batch"))
        return messages, errors
    _validate(parsed, errors)
    return [], errors
