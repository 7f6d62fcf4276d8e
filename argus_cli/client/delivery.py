"""``Delivery``: what the socket reader hands the dispatcher, through the bounded buffer.

One delivery is what one read gave: the messages of one or more frames, in
order, and where each frame ends. The argus protocol's data frames come as
typed events (``protocol.typed``), made into dicts only when a handler or a
frame handler wants them; sinks get them as ``Events`` (JSON lines encoded in
one call). Everything else comes as dicts, one frame a delivery, control
messages included (for the handlers; frame handlers and sinks see only the
events with a ``source``: data and gap records).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from ..protocol import typed
from ..protocol.session import Message
from ..protocol.typed import TypedEvent
from ..sinks.base import Events

__all__ = ["Delivery"]


class Delivery:
    __slots__ = ("_dicts", "ends", "gaps", "typed")

    def __init__(
        self,
        messages: list[Message] | None = None,
        typed_events: list[TypedEvent] | None = None,
        ends: list[int] | None = None,
        gaps: int | None = None,
    ) -> None:
        self._dicts = messages
        self.typed = typed_events
        self.ends = ends  # each frame's end in the messages (None: one frame)
        self.gaps = gaps  # typed: how many of them are gap records, when known

    def __len__(self) -> int:
        return len(self.typed) if self.typed is not None else len(self._dicts or ())

    def messages(self) -> list[Message]:
        """Every message, as dicts (made once)."""
        if self._dicts is None:
            self._dicts = typed.to_dicts(self.typed or [])
        return self._dicts

    def frames(self) -> Iterator[list[Message]]:
        """Each frame's data and gap events (dicts), skipping frames left empty."""
        messages = self.messages()
        whole = self.typed is not None  # typed: data and gap events only
        start = 0
        for end in self.ends or (len(messages),):
            if end > start:
                part = messages[start:end]
                if not whole:
                    part = [m for m in part if "source" in m]
                if part:
                    yield part
            start = end

    def events(self) -> Events:
        """The data and gap events, as a sink gets them."""
        if self.typed is None:
            return Events([m for m in self.messages() if "source" in m])  # type: ignore[misc]
        return Events(self._dicts, self.typed, self.gaps)  # type: ignore[arg-type]

    def split(self, room: int) -> tuple[Delivery, Delivery | None]:
        """The first frames holding at least ``room`` messages (or all of them), and the
        rest: so a full buffer is overshot by at most one frame."""
        ends = self.ends
        size = len(self)
        if ends is None or size <= room:
            return self, None
        cut = bisect_left(ends, max(room, 1)) + 1
        at = ends[cut - 1]
        if at >= size:
            return self, None
        head_ends, rest_ends = ends[:cut], [end - at for end in ends[cut:]]
        dicts = self._dicts
        if self.typed is None:
            assert dicts is not None
            return Delivery(dicts[:at], None, head_ends), Delivery(dicts[at:], None, rest_ends)
        gaps = 0 if self.gaps == 0 else None  # none in the whole: none in either part
        head = Delivery(None, self.typed[:at], head_ends, gaps)
        rest = Delivery(None, self.typed[at:], rest_ends, gaps)
        if dicts is not None:
            head._dicts, rest._dicts = dicts[:at], dicts[at:]
        return head, rest
