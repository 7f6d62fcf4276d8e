"""Requests waiting for the server's answer, keyed by what the provider session says
will answer them (``Request.reply``)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..protocol.session import ReplyKey as Key

__all__ = ["PendingReplies"]


class PendingReplies:
    def __init__(self) -> None:
        self._futures: dict[Key, asyncio.Future[Any]] = {}

    def expect(self, key: Key) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._futures[key] = future
        return future

    def done_with(self, key: Key, future: asyncio.Future[Any]) -> None:
        if self._futures.get(key) is future:
            del self._futures[key]

    def resolve(self, key: Key, value: Any) -> bool:
        future = self._futures.pop(key, None)
        if future is not None and not future.done():
            future.set_result(value)
            return True
        return False

    def fail(self, key: Key, error: BaseException) -> bool:
        """Fail the request waiting on ``key``; False when nobody was waiting."""
        future = self._futures.pop(key, None)
        if future is not None and not future.done():
            future.set_exception(error)
            return True
        return False

    def waiting(self, key: Key) -> bool:
        future = self._futures.get(key)
        return future is not None and not future.done()

    def fail_all(self, error: BaseException) -> None:
        for future in self._futures.values():
            if not future.done():
                future.set_exception(error)
        self._futures.clear()
