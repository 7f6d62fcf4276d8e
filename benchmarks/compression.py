"""permessage-deflate on market data: the same 150-byte price messages, one per frame,
from a websockets server to a websockets client, with and without compression.

    python benchmarks/compression.py
"""

from __future__ import annotations

import asyncio
import time

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

COUNT = 100_000


def message(seq: int) -> str:
    price = 100 + (seq % 1000) / 100
    return (
        f'{{"type":"price","sub":"cli-1","symbol":"AAPL","price":{price:.2f},'
        f'"bid":{price - 0.01:.2f},"ask":{price + 0.01:.2f},"timestamp":1795491760.964737,'
        f'"seq":{seq}}}'
    )


async def run(compression: str | None) -> float:
    messages = [message(i) for i in range(1, COUNT + 1)]

    async def handler(ws: ServerConnection) -> None:
        for m in messages:
            await ws.send(m)
        await ws.close()

    async with serve(handler, "127.0.0.1", 0, compression=compression) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=compression) as ws:
            started = time.perf_counter()
            async for _ in ws:
                pass
            elapsed = time.perf_counter() - started
    return COUNT / elapsed


def main() -> None:
    for label, compression in (("off", None), ("deflate", "deflate")):
        rate = asyncio.run(run(compression))
        print(f"compression {label:8} {rate:10,.0f} messages/s (server and client in one process)")


if __name__ == "__main__":
    main()
