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
    __slots__ = ("_dicts", "ends", "typed")

    def __init__(
        self,
        messages: list[Message] | None = None,
        typed_events: list[TypedEvent] | None = None,
        ends: list[int] | None = None,
    ) -> None:
        self._dicts = messages
        self.typed = typed_events
        self.ends = ends  # typed only: each frame's end in ``typed``

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
        if self.typed is None:
            data = [m for m in messages if "source" in m]
            if data:
                yield data
            return
        start = 0
        for end in self.ends or (len(messages),):
            if end > start:
                yield messages[start:end]
            start = end

    def events(self) -> Events:
        """The data and gap events, as a sink gets them."""
        if self.typed is None:
            return Events([m for m in self.messages() if "source" in m])  # type: ignore[misc]
        return Events(self._dicts, self.typed)  # type: ignore[arg-type]

    def split(self, room: int) -> tuple[Delivery, Delivery | None]:
        """The first frames holding at least ``room`` messages (or all of them), and the
        rest: so a full buffer is overshot by at most one frame."""
        ends = self.ends
        if self.typed is None or ends is None or len(self.typed) <= room:
            return self, None
        cut = bisect_left(ends, max(room, 1)) + 1
        at = ends[cut - 1]
        if at >= len(self.typed):
            return self, None
        head = Delivery(None, self.typed[:at], ends[:cut])
        rest = Delivery(None, self.typed[at:], [end - at for end in ends[cut:]])
        if self._dicts is not None:
            head._dicts, rest._dicts = self._dicts[:at], self._dicts[at:]
        return head, rest
