"""The bounded buffer between the socket reader and the handlers.

Counted in messages, not frames, so memory stays bounded whatever the
batching. When full, ``put`` waits: the reader stops reading, websockets'
own receive queue fills, and TCP pushes back on the server.

A delivery (what one read gave: one or more frames' messages) goes in whole
while it fits, else split at frame ends (``Delivery.split``): a part goes in
only while fewer than ``capacity`` messages are held, and the reader awaits
the rest (``submit``'s awaitable) before reading on. ``depth`` thus never passes ``capacity - 1``
plus the largest frame, and the frame's size is the server's choice (the
simulator's ``max_batch``, 1,000 messages by default).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable

from .delivery import Delivery

__all__ = ["MessageBuffer"]


class MessageBuffer:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.depth = 0  # messages held
        self.pauses = 0  # times the reader had to wait for room
        self._items: deque[Delivery] = deque()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    def offer(self, batch: Delivery) -> bool:
        """Add ``batch`` if there is room (the fast path); False when full."""
        if self.depth >= self.capacity:
            return False
        self._add(batch)
        return True

    def submit(self, batch: Delivery) -> Awaitable[None] | None:
        """Hand ``batch`` over: at once when it fits (None), else in parts split at
        frame ends, each once there is room; the awaitable completes when the last
        part is in (the reader reads nothing more until then)."""
        room = self.capacity - self.depth
        if len(batch) <= room:  # the common case
            self._add(batch)
            return None
        if room <= 0:
            return self._parts(batch)
        head, rest = batch.split(room)
        self._add(head)
        return None if rest is None else self._parts(rest)

    async def _parts(self, rest: Delivery | None) -> None:
        while rest is not None:
            await self._room()
            part, rest = rest.split(self.capacity - self.depth)
            self._add(part)

    async def put(self, batch: Delivery) -> None:
        await self._room()
        self._add(batch)

    def _add(self, batch: Delivery) -> None:
        self._items.append(batch)
        self.depth += len(batch)
        if not self._readable.is_set():
            self._readable.set()

    async def _room(self) -> None:
        if self.depth >= self.capacity:
            self.pauses += 1
            self._writable.clear()
            while self.depth >= self.capacity:
                await self._writable.wait()

    async def get(self) -> Delivery:
        while not self._items:
            self._readable.clear()
            await self._readable.wait()
        batch = self._items.popleft()
        self.depth -= len(batch)
        if self.depth < self.capacity:
            self._writable.set()
        return batch

    def empty(self) -> bool:
        return not self._items

    def clear(self) -> None:
        self._items.clear()
        self.depth = 0
        self._writable.set()
