"""The sink interface, and ``Events``: what a sink is given."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, overload

import orjson

from ..events import Event
from ..protocol import typed
from ..protocol.typed import Gap, TypedEvent

__all__ = ["Events", "Sink", "encode_each", "encode_lines"]

_DUMP = orjson.dumps
_NEWLINE = orjson.OPT_APPEND_NEWLINE


class Sink(Protocol):
    async def open(self) -> None:
        """Get ready (open files, connect); called by whoever owns the sink."""

    async def write(self, events: Sequence[Event]) -> None:
        """Keep one delivery's events (data and gap records, in order)."""

    async def close(self) -> None:
        """Flush and release; bounded in time; safe to call twice."""


class Events(Sequence[Event]):
    """One delivery's data and gap events, in order: a read-only sequence of the
    dicts handlers see. Events that came the argus protocol's fast way
    (``protocol.typed``) become dicts only when read as dicts; ``lines()`` encodes
    them straight to JSON lines."""

    __slots__ = ("_dicts", "_gaps", "_typed")

    def __init__(
        self,
        dicts: list[Event] | None = None,
        typed_events: list[TypedEvent] | None = None,
        gaps: int | None = None,
    ) -> None:
        self._dicts = dicts
        self._typed = typed_events
        self._gaps = gaps  # how many are gap records, when the maker knows

    def dicts(self) -> list[Event]:
        if self._dicts is None:
            self._dicts = typed.to_dicts(self._typed or [])  # type: ignore[assignment]
        return self._dicts  # type: ignore[return-value]

    def lines(self) -> bytes:
        """Every event as the JSON line ``argus stream --json`` prints, newline-ended."""
        if self._typed is not None:
            return typed.encode_lines(self._typed)
        return encode_lines(self.dicts())

    def payloads(self) -> list[bytes]:
        """Each event's JSON line without its newline (what ``lines()`` joins)."""
        if self._typed is not None:
            return typed.encode_each(self._typed)
        return [_DUMP(e) for e in self.dicts()]

    def data_count(self) -> int:
        """How many are data events (not gap records)."""
        if self._typed is not None:
            if self._gaps is not None:
                return len(self._typed) - self._gaps
            return len(self._typed) - sum(type(e) is Gap for e in self._typed)
        return sum(1 for e in self.dicts() if e["type"] != "gap")

    def head(self, count: int) -> Events:
        """The events up to and including the ``count``-th data event."""
        kinds = (
            [e.kind for e in self._typed] if self._typed is not None
            else [e["type"] for e in self.dicts()]
        )  # fmt: skip
        taken = 0
        for index, kind in enumerate(kinds):
            if taken >= count:
                return self[:index]
            if kind != "gap":
                taken += 1
        return self

    def __len__(self) -> int:
        return len(self._typed) if self._typed is not None else len(self.dicts())

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> Events: ...

    def __getitem__(self, index: int | slice) -> Event | Events:
        if isinstance(index, slice):
            if self._dicts is not None:
                return Events(self._dicts[index])
            return Events(None, (self._typed or [])[index])
        return self.dicts()[index]

    def __iter__(self) -> Iterator[Event]:
        return iter(self.dicts())

    def __bool__(self) -> bool:
        return len(self) > 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Events):
            return self.dicts() == other.dicts()
        return isinstance(other, list) and self.dicts() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Events({self.dicts()!r})"


def encode_each(events: Sequence[Event]) -> list[bytes]:
    """Each event's JSON line without its newline, as ``encode_lines`` writes it."""
    if isinstance(events, Events):
        return events.payloads()
    return [_DUMP(e) for e in events]


def encode_lines(events: Sequence[Event]) -> bytes:
    """``events`` as JSON lines: ``Events`` the fast way, other sequences with orjson."""
    if isinstance(events, Events):
        return events.lines()
    if len(events) == 1:
        return _DUMP(events[0], option=_NEWLINE)
    return b"".join([_DUMP(e, option=_NEWLINE) for e in events])
