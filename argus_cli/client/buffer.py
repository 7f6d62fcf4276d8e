"""The bounded buffer between the socket reader and the handlers.

Counted in messages, not frames, so memory stays bounded whatever the
batching. When full, ``put`` waits: the reader stops reading, websockets'
own receive queue fills, and TCP pushes back on the server.

A batch (one frame's messages) goes in whole, while fewer than ``capacity``
messages are held: frame handlers and sinks get one call per frame. With
batches handed over one at a time (the reader awaits ``put`` before the next
frame), ``depth`` thus never passes ``capacity - 1`` plus the largest frame,
and the frame's size is the server's choice (the simulator's ``max_batch``,
1,000 messages by default).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

__all__ = ["MessageBuffer"]

T = TypeVar("T")


class MessageBuffer(Generic[T]):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.depth = 0  # messages held
        self.pauses = 0  # times the reader had to wait for room
        self._items: deque[list[T]] = deque()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    def offer(self, batch: list[T]) -> bool:
        """Add ``batch`` if there is room (the fast path); False when full."""
        if self.depth >= self.capacity:
            return False
        self._items.append(batch)
        self.depth += len(batch)
        if not self._readable.is_set():
            self._readable.set()
        return True

    async def put(self, batch: list[T]) -> None:
        if self.depth >= self.capacity:
            self.pauses += 1
            self._writable.clear()
            while self.depth >= self.capacity:
                await self._writable.wait()
        self._items.append(batch)
        self.depth += len(batch)
        self._readable.set()

    async def get(self) -> list[T]:
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
