"""NATS subjects and message ids for normalized events (pure; no I/O).

Scheme (README "Subjects"): ``argus.<source>.<type>.<symbol>``, for instance
``argus.coinbase.price.BTC-USD``, ``argus.kraken.orderbook.BTC/USD``,
``argus.argus.gap.AAPL``. A NATS subject token may hold neither ``.`` nor the
wildcards ``*`` and ``>`` nor white space, so those characters (and ``%``, the
escape itself) are written ``%XX`` (upper-case hex of the byte): ``BRK.B``
becomes ``BRK%2EB``. Every other character stands as itself, so the usual
symbols read plainly and every symbol comes back exactly (``symbol_of``).
Wildcards then mean what they say: ``argus.coinbase.*.BTC-USD`` is every type
of one Coinbase symbol, ``argus.*.price.>`` every price line of every venue.

Message ids (``Nats-Msg-Id``, JetStream's de-duplication key) name one event
of one sequence space: ``<source>:<symbol>:<type>:<seq>``, plus ``@<epoch>``
when the server names its sequence space (docs/PROTOCOL.md ``welcome``), so a
restarted server's new ``seq 1`` is not taken for a duplicate of the old one.
Two publishers that ingest the same feed derive the same id for the same
event, and the stream keeps it once. A gap line's id names its range
(``<source>:<symbol>:gap:<from>-<to>``). Lines without ``seq`` (quotes and
books of venues that number nothing) get no id: nothing in them tells one
event from an identical later one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "PREFIX",
    "SubjectError",
    "filter_subject",
    "matches",
    "msg_id",
    "parse_subject",
    "subject_for",
    "symbol_of",
    "token_for",
]

PREFIX = "argus"
_SPECIAL = frozenset(".*>% \t\r\n\f\v")


class SubjectError(ValueError):
    """A subject that is not one of argus' (wrong prefix, shape or escape)."""


def token_for(symbol: str) -> str:
    """``symbol`` as one subject token (``BRK.B`` -> ``BRK%2EB``)."""
    if not any(c in _SPECIAL or ord(c) < 32 or ord(c) == 127 for c in symbol):
        return symbol
    out: list[str] = []
    for c in symbol:
        if c in _SPECIAL or ord(c) < 32 or ord(c) == 127:
            out.extend(f"%{b:02X}" for b in c.encode())
        else:
            out.append(c)
    return "".join(out)


def symbol_of(token: str) -> str:
    """The symbol a token stands for (the inverse of ``token_for``)."""
    if "%" not in token:
        return token
    raw = bytearray()
    i = 0
    while i < len(token):
        c = token[i]
        if c == "%":
            pair = token[i + 1 : i + 3]
            try:
                raw.append(int(pair, 16))
            except ValueError:
                raise SubjectError(f"bad escape {token[i : i + 3]!r} in {token!r}") from None
            i += 3
        else:
            raw.extend(c.encode())
            i += 1
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise SubjectError(f"bad escape in {token!r}") from None


def subject_for(event: Mapping[str, Any]) -> str:
    """The subject of one normalized event (data or gap line)."""
    return f"{PREFIX}.{event['source']}.{event['type']}.{token_for(event['symbol'])}"


def filter_subject(source: str | None, data_type: str | None, symbol: str | None) -> str:
    """A subscription subject; ``None`` is the ``*`` wildcard for that token."""
    return ".".join(
        (
            PREFIX,
            source or "*",
            data_type or "*",
            "*" if symbol is None else token_for(symbol),
        )
    )


def parse_subject(subject: str) -> tuple[str, str, str]:
    """(source, type, symbol) of an argus subject."""
    parts = subject.split(".")
    if len(parts) != 4 or parts[0] != PREFIX or not all(parts):
        raise SubjectError(f"{subject!r} is not argus.<source>.<type>.<symbol>")
    return parts[1], parts[2], symbol_of(parts[3])


def matches(pattern: str, subject: str) -> bool:
    """True when the NATS subject ``pattern`` (``*`` one token, ``>`` the rest)
    covers ``subject``."""
    want = pattern.split(".")
    have = subject.split(".")
    for i, part in enumerate(want):
        if part == ">":
            return len(have) > i
        if i >= len(have) or (part != "*" and part != have[i]):
            return False
    return len(want) == len(have)


def msg_id(event: Mapping[str, Any], epoch: str | None = None) -> str | None:
    """The JetStream de-duplication id of ``event``, or None when it has none."""
    kind = event["type"]
    seq = event.get("seq")
    if type(seq) is int:
        base = f"{event['source']}:{event['symbol']}:{kind}:{seq}"
    elif kind == "gap" and type(event.get("from_seq")) is int:
        to_seq = event.get("to_seq")
        base = f"{event['source']}:{event['symbol']}:gap:{event['from_seq']}-{to_seq or ''}"
        reason = event.get("reason")
        if reason:
            base += f":{reason}"
    else:
        return None
    return f"{base}@{epoch}" if epoch else base
