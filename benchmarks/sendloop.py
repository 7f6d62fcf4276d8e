"""The simulator's baseline: a bare websockets server sending one message per frame in a loop.

Prints ``PORT <n>``; every client gets the same pre-encoded price message as
fast as ``ws.send`` goes (after reading its first frame, the subscribe).
"""

from __future__ import annotations

import asyncio

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

MESSAGE = (
    b'{"type":"price","sub":"b","symbol":"S00","price":100.0,"bid":99.99,"ask":100.01,'
    b'"timestamp":1795491760.964737,"seq":1}'
)


async def handler(ws: ServerConnection) -> None:
    await ws.recv()
    try:
        while True:
            await ws.send(MESSAGE, text=True)
    except ConnectionClosed:
        pass


async def main() -> None:
    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        print(f"PORT {next(iter(server.sockets)).getsockname()[1]}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
