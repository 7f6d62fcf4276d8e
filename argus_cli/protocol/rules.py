"""The value rules of docs/PROTOCOL.md, shared by the SDK configs, the codec and the server.

Pure functions: each returns ``None`` when a value is valid, else a one-line
reason that names the value. Callers turn reasons into the right exception
(``ConfigError`` locally, an ``error`` reply on the server).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from enum import IntEnum, StrEnum
from typing import Any, Final

PROTOCOL_VERSION: Final = 1

DATA_TYPES: Final = ("price", "volume", "orderbook")
FREQUENCIES: Final = ("realtime", "1s", "5s", "1m")
FREQUENCY_SECONDS: Final[Mapping[str, float]] = {"1s": 1.0, "5s": 5.0, "1m": 60.0}
FILTER_KEYS: Final = ("min_price", "max_price")


class ErrorCode(StrEnum):
    """The ``code`` of an ``error`` message (docs/PROTOCOL.md "Replies")."""

    BAD_REQUEST = "bad_request"
    UNKNOWN_OP = "unknown_op"
    INVALID_SYMBOL = "invalid_symbol"
    INVALID_DATA_TYPE = "invalid_data_type"
    INVALID_FREQUENCY = "invalid_frequency"
    INVALID_FILTER = "invalid_filter"
    DUPLICATE_ID = "duplicate_id"
    UNKNOWN_SUBSCRIPTION = "unknown_subscription"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"


class CloseCode(IntEnum):
    """WebSocket close codes with a meaning in docs/PROTOCOL.md ("Close codes")."""

    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    RESTART = 1012
    TRY_AGAIN = 1013


SUBSCRIPTION_ID_RE: Final = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
SYMBOL_RE: Final = re.compile(r"[A-Z0-9.:/\-]{1,20}")  # docs/PROTOCOL.md
# Venues' own spellings reach further: Finnhub's OANDA:EUR_USD, long Alpaca/Kraken
# pairs. Still no spaces, quotes or controls (symbols reach terminals and files).
VENUE_SYMBOL_RE: Final = re.compile(r"[A-Z0-9.:/_\-]{1,32}")


def is_number(value: Any) -> bool:
    """A finite JSON number (bool excluded)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and (isinstance(value, int) or math.isfinite(value))
    )


def check_subscription_id(value: Any) -> str | None:
    if not isinstance(value, str) or not SUBSCRIPTION_ID_RE.fullmatch(value):
        return f"invalid subscription id {value!r}: 1 to 64 characters of [A-Za-z0-9_.:-]"
    return None


def check_symbol(value: Any, venue: bool = False) -> str | None:
    """docs/PROTOCOL.md's symbol grammar; with ``venue``, the wider one of venues' symbols."""
    if venue:
        if not isinstance(value, str) or not VENUE_SYMBOL_RE.fullmatch(value):
            return f"invalid symbol {value!r}: 1 to 32 characters of [A-Z0-9.:/_-], upper case"
        return None
    if not isinstance(value, str) or not SYMBOL_RE.fullmatch(value):
        return f"invalid symbol {value!r}: 1 to 20 characters of [A-Z0-9.:/-], upper case"
    return None


def check_symbols(value: Any, venue: bool = False) -> str | None:
    if not isinstance(value, (list, tuple)) or not value:
        return "symbols must be a non-empty list"
    for symbol in value:
        reason = check_symbol(symbol, venue)
        if reason:
            return reason
    return None


def check_data_types(value: Any) -> str | None:
    if not isinstance(value, (list, tuple)) or not value:
        return f"data_types must be a non-empty list of {', '.join(DATA_TYPES)}"
    for item in value:
        if item not in DATA_TYPES:
            return f"unknown data type {item!r}: expected one of {', '.join(DATA_TYPES)}"
    return None


def check_frequency(value: Any) -> str | None:
    if value not in FREQUENCIES:
        return f"unknown update_frequency {value!r}: expected one of {', '.join(FREQUENCIES)}"
    return None


def check_filters(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        return "filters must be an object"
    for key, bound in value.items():
        if key not in FILTER_KEYS:
            return f"unknown filter {key!r}: expected {' or '.join(FILTER_KEYS)}"
        if not is_number(bound):
            return f"filter {key} must be a finite number, not {bound!r}"
    low, high = value.get("min_price"), value.get("max_price")
    if low is not None and high is not None and low > high:
        return f"min_price {low} is above max_price {high}"
    return None


def check_resume(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        return "resume must be an object of symbol to seq"
    for symbol, seq in value.items():
        reason = check_symbol(symbol)
        if reason:
            return f"resume: {reason}"
        if not (isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0):
            return f"resume: seq for {symbol} must be an integer >= 0, not {seq!r}"
    return None
