"""Value rules shared by the venue adapters: decimals, prices, trade ids, book
levels and RFC 3339 times, each raising ``DecodeError`` naming the field.

Venues send numbers as decimal strings (Coinbase, Binance) or JSON numbers
(Kraken, Alpaca, Finnhub); both become finite floats here. Pure.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from ..events import MAX_SEQ
from ..exceptions import DecodeError

__all__ = ["levels", "number", "parse_time", "price", "text", "trade_id"]

_DECIMAL = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", re.ASCII)
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|([+-])(\d\d):(\d\d))",
    re.ASCII,
)
_EPOCH_DAY = date(1970, 1, 1).toordinal()


_SECONDS: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:SS" -> epoch seconds, for Z times
_SECONDS_MAX = 4096


def parse_time(text: Any) -> float:
    """An RFC 3339 time as epoch seconds, exact to the microsecond (finer digits cut).

    The hot path: a ``...Z`` time whose second was seen before costs a dict
    lookup and the fraction's digits (a feed's times share their second)."""
    if type(text) is str and text[-1:] == "Z":
        base = _SECONDS.get(text[:19])
        if base is not None:
            rest = text[19:-1]
            if not rest:
                return float(base)
            digits = rest[1:]
            if rest[0] == "." and digits.isdigit() and digits.isascii():
                micros = int(digits[:6].ljust(6, "0"))
                return (base * 1_000_000 + micros) / 1_000_000
    return _parse_time(text)


def _parse_time(text: Any) -> float:
    match = _RFC3339.fullmatch(text) if type(text) is str else None
    if match is None:
        raise DecodeError(f"time must be an RFC 3339 string, not {text!r:.60}")
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_DAY
    except ValueError:
        raise DecodeError(f"time {text!r:.60} is not a calendar date") from None
    h, m, s = int(hour), int(minute), int(second)
    if h > 23 or m > 59 or s > 60 or (sign and (int(off_h) > 23 or int(off_m) > 59)):
        raise DecodeError(f"time {text!r:.60} is out of range")
    seconds = days * 86400 + h * 3600 + m * 60 + s
    if sign:
        offset = int(off_h) * 3600 + int(off_m) * 60
        seconds += -offset if sign == "+" else offset
    elif text[10] == "T" and text[-1] == "Z":
        if len(_SECONDS) >= _SECONDS_MAX:
            _SECONDS.clear()
        _SECONDS[text[:19]] = seconds
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    return (seconds * 1_000_000 + micros) / 1_000_000  # one correctly rounded division


def number(value: Any, what: str) -> float:
    """A non-negative decimal string (or JSON number) as a finite float."""
    if type(value) is str:
        plain = value.replace(".", "", 1).isdigit() and value.isascii()  # the common case
        if (plain and value[0] != "." and value[-1] != ".") or _DECIMAL.fullmatch(value):
            result = float(value)
            if math.isfinite(result):
                return result
    elif type(value) in (int, float) and math.isfinite(value) and value >= 0:
        return float(value)
    raise DecodeError(f"{what} must be a non-negative decimal, not {value!r:.40}")


def price(value: Any, what: str) -> float:
    result = number(value, what)
    if result <= 0:
        raise DecodeError(f"{what} must be above 0, not {value!r:.40}")
    return result


def trade_id(value: Any, what: str, low: int = 1) -> int:
    if type(value) is not int or not low <= value <= MAX_SEQ:
        raise DecodeError(f"{what} must be an integer in {low}..2^63-1, not {value!r:.40}")
    return value


def levels(value: Any, what: str) -> list[tuple[float, float]]:
    if type(value) is not list:
        raise DecodeError(f"{what} must be a list of [price, size]")
    out = []
    for level in value:
        if type(level) is not list or len(level) != 2:
            raise DecodeError(f"{what} must be a list of [price, size], not {level!r:.60}")
        out.append((price(level[0], f"{what} price"), number(level[1], f"{what} size")))
    return out


def text(value: Any) -> str:
    """``value`` when it is a string, else "" (free text a venue may omit)."""
    return value if type(value) is str else ""
