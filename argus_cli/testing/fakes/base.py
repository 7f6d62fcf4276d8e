"""What every fake feed shares: stop its market driver and server, and be an async
context manager (``async with FakeX(...) as fake``)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self

from websockets.asyncio.server import Server

__all__ = ["FakeFeed"]


class FakeFeed:
    """Subclasses (dataclasses) set ``_server`` in ``start()`` and may run a market
    ``_driver`` task; ``stop()`` ends both."""

    _server: Server | None
    _driver: asyncio.Task[None] | None

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        driver = getattr(self, "_driver", None)
        if driver is not None:
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driver
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
