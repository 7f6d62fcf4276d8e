"""Tables on standard output: CSV and TSV (``--format csv|tsv``), and JSON lines cut to
chosen fields (``--fields``) or with readable times (``--time iso``).

The I/O is ``JsonLinesSink``'s (these sinks subclass it and only change what a
delivery encodes to): one write per delivery (a socket read's frames), flushed at
once, a non-blocking pipe transport with backpressure, ``OutputClosed`` when the
reader goes away (``| head``).

CSV and TSV:

- a header line once, with the first row (no data, no header);
- one row per data event (``price``, ``volume``, ``orderbook``), its fields in the
  chosen order; a field the event lacks is an empty cell, never invented;
- ``gap`` events are not rows (their fields are not the table's columns): each is
  logged on standard error (``gap in AAPL (argus): seq 1235 to 1240 missing ...``);
  JSON lines keep them in the data;
- CSV quotes as RFC 4180 says (the ``csv`` module: a cell with a comma, a quote or a
  line break is quoted, quotes doubled); lines end in ``\\n``;
- TSV escapes what would break a cell: tab, newline, carriage return and backslash
  become ``\\t``, ``\\n``, ``\\r``, ``\\\\`` (the "linear TSV" convention of PostgreSQL's
  ``COPY`` and of ``mlr --tsv``);
- numbers are written as in JSON (the shortest text that reads back to the same
  double); ``bids``/``asks`` (lists of ``[price, size]``) as their JSON text.

``time="iso"`` writes ``timestamp`` and ``received`` as ISO 8601 UTC with microseconds,
``2026-11-29T14:03:07.123456Z``; ``"epoch"`` (the default) as epoch seconds.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, BinaryIO

import orjson

from ..events import Event
from .jsonl import JsonLinesSink

log = logging.getLogger("argus_cli.sinks")

__all__ = [
    "DEFAULT_FIELDS",
    "EVENT_FIELDS",
    "TIME_FIELDS",
    "TIME_FORMATS",
    "Columns",
    "DelimitedSink",
    "SelectedJsonLinesSink",
    "describe_gap",
    "iso_time",
    "parse_fields",
]

# the data events' fields (events.py), with ``source`` and ``received`` the client adds
EVENT_FIELDS = (
    "type",
    "sub",
    "symbol",
    "price",
    "bid",
    "ask",
    "bid_size",
    "ask_size",
    "volume",
    "total_volume",
    "bids",
    "asks",
    "timestamp",
    "seq",
    "source",
    "received",
)
DEFAULT_FIELDS = ("type", "source", "symbol", "price", "bid", "ask", "volume", "timestamp", "seq")
TIME_FIELDS = frozenset({"timestamp", "received"})
TIME_FORMATS = ("epoch", "iso")
DIALECTS = ("csv", "tsv")
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def parse_fields(raw: str, valid: Sequence[str] = EVENT_FIELDS) -> list[str]:
    """``--fields``' comma list, checked against ``valid`` (case folded, duplicates
    dropped, order kept). ValueError naming the unknown ones and listing the valid."""
    fields = list(dict.fromkeys(f.strip().lower() for f in raw.split(",") if f.strip()))
    if not fields:
        raise ValueError(f"give at least one field: {', '.join(valid)}")
    unknown = [f for f in fields if f not in valid]
    if unknown:
        names = ", ".join(repr(f) for f in unknown)
        noun = "fields" if len(unknown) > 1 else "field"
        raise ValueError(f"unknown {noun} {names}: the fields are {', '.join(valid)}")
    return fields


def iso_time(value: Any) -> Any:
    """Epoch seconds as ISO 8601 UTC with microseconds and ``Z``; anything that is not
    such a number (or out of the calendar's range) unchanged."""
    if type(value) not in (int, float):
        return value
    try:
        when = dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return value
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def describe_gap(gap: Mapping[str, Any]) -> str:
    """A gap event as one line: ``gap in AAPL (argus): seq 1235 to 1240 missing
    (sequence_jump)``."""
    low, high = gap.get("from_seq"), gap.get("to_seq")
    if high is None:
        span = f"from seq {low} on, how many unknown"
    elif high == low:
        span = f"seq {low}"
    else:
        span = f"seq {low} to {high}"
    return (
        f"gap in {gap.get('symbol', '?')} ({gap.get('source', '?')}): {span} missing "
        f"({gap.get('reason', 'unknown reason')})"
    )


class Columns:
    """Which fields, in which order, and how times are written. Pure.

    ``fields`` None (JSON lines with ``--time iso`` alone): every field, as it comes."""

    __slots__ = ("fields", "iso", "times")

    def __init__(self, fields: Sequence[str] | None, time: str = "epoch") -> None:
        if time not in TIME_FORMATS:
            raise ValueError(f"time must be one of {', '.join(TIME_FORMATS)}, not {time!r}")
        if fields is not None and not fields:
            raise ValueError("give at least one field")
        self.fields = tuple(fields) if fields is not None else None
        self.iso = time == "iso"
        chosen = self.fields if self.fields is not None else TIME_FIELDS
        self.times = frozenset(f for f in chosen if f in TIME_FIELDS) if self.iso else None

    def select(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The chosen fields ``event`` has, in the chosen order (times formatted)."""
        fields = self.fields
        out = dict(event) if fields is None else {f: event[f] for f in fields if f in event}
        if self.times:
            for name in self.times & out.keys():
                out[name] = iso_time(out[name])
        return out

    def cells(self, event: Mapping[str, Any]) -> list[str]:
        """One row's cells: text for each chosen field, empty where ``event`` lacks it."""
        times = self.times
        out = []
        for name in self.fields or ():
            value = event.get(name)
            if value is None:
                out.append("")
                continue
            if times and name in times:
                value = iso_time(value)
            kind = type(value)
            if kind is str:
                out.append(value)
            elif kind is float or kind is int:
                out.append(repr(value))
            elif kind is bool:
                out.append("true" if value else "false")
            else:  # bids and asks: JSON text
                out.append(orjson.dumps(value).decode())
        return out


class DelimitedSink(JsonLinesSink):
    """Each delivery's data events as CSV or TSV rows (one write each), the header
    before the first; gap events go to ``on_gap`` (by default a warning in the log)."""

    def __init__(
        self,
        columns: Columns,
        dialect: str = "csv",
        stream: BinaryIO | None = None,
        *,
        name: str = "standard output",
        on_gap: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"dialect must be csv or tsv, not {dialect!r}")
        if columns.fields is None:
            raise ValueError("a table needs its fields")
        super().__init__(stream, name=name)
        self.columns = columns
        self.tsv = dialect == "tsv"
        self.on_gap = on_gap if on_gap is not None else _log_gap
        self.header_written = False
        self.rows = 0
        self._text = io.StringIO()
        self._csv = csv.writer(self._text, lineterminator="\n")

    async def write(self, events: Sequence[Event]) -> None:
        rows = [e for e in events if e.get("type") != "gap"]
        if len(rows) != len(events):
            for event in events:
                if event.get("type") == "gap":
                    self.on_gap(event)
        if rows:
            await super().write(rows)
            self.rows += len(rows)

    def encode(self, events: Sequence[Event]) -> bytes:
        cells = self.columns.cells
        lines: list[Iterable[str]] = []
        if not self.header_written:
            self.header_written = True
            lines.append(self.columns.fields or ())
        lines.extend(cells(event) for event in events)
        if self.tsv:
            escapes = _TSV_ESCAPES
            return "".join(
                "\t".join([c.translate(escapes) for c in line]) + "\n" for line in lines
            ).encode()
        text = self._text
        text.seek(0)
        text.truncate()
        self._csv.writerows(lines)
        return text.getvalue().encode()


class SelectedJsonLinesSink(JsonLinesSink):
    """JSON lines of the chosen fields only (``--fields``), in the chosen order, times
    as ``columns`` says; a ``gap`` line is written whole (it says data is missing,
    and always carries ``"type": "gap"``)."""

    def __init__(
        self, columns: Columns, stream: BinaryIO | None = None, *, name: str = "standard output"
    ) -> None:
        super().__init__(stream, name=name)
        self.columns = columns
        self._gap_columns = Columns(None, "iso" if columns.iso else "epoch")

    def encode(self, events: Sequence[Event]) -> bytes:
        select, gap = self.columns.select, self._gap_columns.select
        return b"".join(
            [
                orjson.dumps(
                    gap(e) if e.get("type") == "gap" else select(e),
                    option=orjson.OPT_APPEND_NEWLINE,
                )
                for e in events
            ]
        )


def _log_gap(gap: Mapping[str, Any]) -> None:
    log.warning("%s: not a row of the table (JSON lines keep gaps in the data)", describe_gap(gap))
