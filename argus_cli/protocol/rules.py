"""The value rules of PROTOCOL.md, shared by the SDK configs, the codec and the server.

Pure functions: each returns ``None`` when a value is valid, else a one-line
reason that names the value. Callers turn reasons into the right exception
(``ConfigError`` locally, an ``error`` reply on the server).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

PROTOCOL_VERSION: Final = 1

DATA_TYPES: Final = ("price", "volume", "orderbook")
FREQUENCIES: Final = ("realtime", "1s", "5s", "1m")
FREQUENCY_SECONDS: Final[Mapping[str, float]] = {"1s": 1.0, "5s": 5.0, "1m": 60.0}
FILTER_KEYS: Final = ("min_price", "max_price")

ERROR_CODES: Final = (
    "bad_request",
    "unknown_op",
    "invalid_symbol",
    "invalid_data_type",
    "invalid_frequency",
    "invalid_filter",
    "duplicate_id",
    "unknown_subscription",
    "too_many_subscriptions",
    "rate_limited",
    "internal",
)

SUBSCRIPTION_ID_RE: Final = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
SYMBOL_RE: Final = re.compile(r"[A-Z0-9.:/\-]{1,20}")

# Close codes (PROTOCOL.md "Close codes").
CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_POLICY: Final = 1008
CLOSE_TOO_BIG: Final = 1009
CLOSE_INTERNAL: Final = 1011
CLOSE_RESTART: Final = 1012
CLOSE_TRY_AGAIN: Final = 1013
RETRYABLE_CLOSE_CODES: Final = frozenset({1001, 1006, 1011, 1012, 1013})


def is_number(value: Any) -> bool:
    """A finite JSON number (bool excluded)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and (isinstance(value, int) or math.isfinite(value))
    )


def is_seq(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_subscription_id(value: Any) -> str | None:
    if not isinstance(value, str) or not SUBSCRIPTION_ID_RE.fullmatch(value):
        return f"invalid subscription id {value!r}: 1 to 64 characters of [A-Za-z0-9_.:-]"
    return None


def check_symbol(value: Any) -> str | None:
    if not isinstance(value, str) or not SYMBOL_RE.fullmatch(value):
        return f"invalid symbol {value!r}: 1 to 20 characters of [A-Z0-9.:/-], upper case"
    return None


def check_symbols(value: Any) -> str | None:
    if not isinstance(value, (list, tuple)) or not value:
        return "symbols must be a non-empty list"
    for symbol in value:
        reason = check_symbol(symbol)
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
