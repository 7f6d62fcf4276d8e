"""A plain websockets client for testing the simulator against docs/PROTOCOL.md."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

Message = dict[str, Any]


class RawClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pending: list[Message] = []
        self.frames = 0
        self.batches = 0

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> RawClient:
        ws = await connect(url, open_timeout=5, compression=None, **kwargs)
        return cls(ws)

    async def send(self, obj: Any) -> None:
        await self.ws.send(obj if isinstance(obj, str | bytes) else json.dumps(obj))

    async def recv(self, timeout: float = 5.0) -> Message:
        while not self.pending:
            frame = await asyncio.wait_for(self.ws.recv(), timeout)
            self.frames += 1
            parsed = json.loads(frame)
            if isinstance(parsed, list):
                self.batches += 1
                self.pending.extend(parsed)
            else:
                self.pending.append(parsed)
        return self.pending.pop(0)

    async def expect(
        self, predicate: Callable[[Message], bool], timeout: float = 5.0
    ) -> tuple[Message, list[Message]]:
        """Read until a message matches; return it and the messages before it."""
        skipped: list[Message] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no matching message; saw {skipped[-5:]}")
            msg = await self.recv(left)
            if predicate(msg):
                return msg, skipped
            skipped.append(msg)

    async def expect_type(self, kind: str, timeout: float = 5.0) -> Message:
        msg, _ = await self.expect(lambda m: m.get("type") == kind, timeout)
        return msg

    async def collect(self, seconds: float) -> list[Message]:
        out: list[Message] = []
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return out
            try:
                out.append(await self.recv(left))
            except TimeoutError:
                return out

    async def close(self) -> None:
        await self.ws.close()


def subscribe_op(sub_id: str = "s1", symbols: list[str] | None = None, **extra: Any) -> Message:
    op: Message = {
        "op": "subscribe",
        "id": sub_id,
        "symbols": symbols or ["AAPL"],
        "data_types": extra.pop("data_types", ["price"]),
    }
    op.update(extra)
    return op
