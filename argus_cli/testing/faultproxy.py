"""A fault-injecting TCP proxy: reset, black hole, latency, slicing, cuts, down/up.

proxy = FaultProxy("127.0.0.1", upstream_port)
await proxy.start()              # proxy.port is where clients connect
proxy.reset()                    # RST every connection
proxy.blackhole = True           # stop forwarding; sockets stay open
proxy.latency = 0.05             # delay every chunk
proxy.slice_size = 3             # forward in tiny segments
proxy.cut_next_server_chunk()    # forward half of the next server chunk, then RST
await proxy.down(); await proxy.up()

Counters say which faults were injected, so a test can tell its fault happened:
``resets`` (connections reset by ``reset()``/``down()``), ``held_chunks`` (chunks
held back by the black hole), ``delayed_chunks``, ``sliced_chunks`` (chunks
forwarded in more than one segment), ``cuts`` (server chunks cut short), beside
``connections`` and ``bytes_forwarded``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct


class _Link:
    def __init__(
        self,
        proxy: FaultProxy,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.proxy = proxy
        self.client = client
        self.server = server
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.tasks = [
            asyncio.create_task(self._pump(self.client[0], self.server[1], upstream=True)),
            asyncio.create_task(self._pump(self.server[0], self.client[1], upstream=False)),
        ]

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool
    ) -> None:
        proxy = self.proxy
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if proxy.blackhole:
                    proxy.held_chunks += 1
                while proxy.blackhole:
                    await asyncio.sleep(0.01)
                if proxy.latency:
                    proxy.delayed_chunks += 1
                    await asyncio.sleep(proxy.latency)
                if not upstream and proxy.cut_pending:
                    proxy.cut_pending = False
                    proxy.cuts += 1
                    writer.write(data[: max(1, len(data) // 2)])
                    with contextlib.suppress(Exception):
                        await writer.drain()
                    self.abort()
                    return
                if proxy.slice_size:
                    if len(data) > proxy.slice_size:
                        proxy.sliced_chunks += 1
                    for i in range(0, len(data), proxy.slice_size):
                        writer.write(data[i : i + proxy.slice_size])
                        await writer.drain()
                else:
                    writer.write(data)
                    await writer.drain()
                proxy.bytes_forwarded += len(data)
        except (ConnectionError, OSError):
            pass
        finally:
            self.abort()

    def abort(self) -> None:
        for _, writer in (self.client, self.server):
            transport = writer.transport
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        self.proxy.links.discard(self)


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.links: set[_Link] = set()
        self.blackhole = False
        self.latency = 0.0
        self.slice_size = 0
        self.cut_pending = False
        self.connections = 0
        self.bytes_forwarded = 0
        self.resets = 0
        self.held_chunks = 0
        self.delayed_chunks = 0
        self.sliced_chunks = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            upstream = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        link = _Link(self, (reader, writer), upstream)
        self.links.add(link)
        link.start()

    def reset(self) -> None:
        """RST every open connection, both sides."""
        for link in list(self.links):
            self.resets += 1
            link.abort()

    def cut_next_server_chunk(self) -> None:
        self.cut_pending = True

    async def down(self) -> None:
        """Stop listening and reset everything: connections are refused until ``up()``."""
        if self._server is not None:
            self._server.close()
            self.reset()
            await self._server.wait_closed()
            self._server = None
        self.reset()

    async def up(self) -> None:
        if self._server is None:
            await self.start()

    async def stop(self) -> None:
        await self.down()
