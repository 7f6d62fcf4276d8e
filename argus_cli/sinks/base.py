"""The sink interface."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..events import Event

__all__ = ["Sink"]


class Sink(Protocol):
    async def open(self) -> None:
        """Get ready (open files, connect); called by whoever owns the sink."""

    async def write(self, events: Sequence[Event]) -> None:
        """Keep one frame's events (data and gap records, in order)."""

    async def close(self) -> None:
        """Flush and release; bounded in time; safe to call twice."""
