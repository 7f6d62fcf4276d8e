"""A prompt exit (issue 11): ``disconnect()`` sends the close frame, delivers nothing
more, waits for the server's answer at most ``CLOSE_WAIT`` and then drops the socket,
however much data is still queued behind that answer. Over real sockets, on both
transports; the benchmark (``prompt_exit`` in benchmarks/run.py) reports the figure."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import importlib.util
import json
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from argus_cli import ConnectionState, SubscriptionConfig, WebSocketClient
from argus_cli.client.connection import CLOSE_WAIT
from argus_cli.client.transports import Transport, make_transport
from argus_cli.testing.seqcheck import check
from tests.client.helpers import fast_config, wait_until

pytestmark = pytest.mark.timeout(20)

BOUND = 1.0  # generous on a shared machine: CLOSE_WAIT (0.25 s) plus scheduling
WELCOME = b'{"type":"welcome","protocol":1,"connection_id":"flood"}'


@pytest.fixture(params=["websockets", "picows"])
def transport(request: pytest.FixtureRequest) -> Transport:
    name = str(request.param)
    if name == "picows" and importlib.util.find_spec("picows") is None:
        pytest.skip("picows is not installed")
    return make_transport(name)


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A server frame (unmasked)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """A client frame (masked): its opcode and unmasked payload."""
    b1, b2 = await reader.readexactly(2)
    n = b2 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if b2 & 0x80 else b"\0\0\0\0"
    data = await reader.readexactly(n)
    return b1 & 0x0F, bytes(c ^ mask[i % 4] for i, c in enumerate(data))


@dataclass
class Seen:
    close_codes: list[int] = field(default_factory=list)
    close_reasons: list[str] = field(default_factory=list)
    sent: int = 0  # data messages written


@asynccontextmanager
async def firehose(answer_after: float | None) -> AsyncIterator[tuple[str, Seen]]:
    """A raw server that floods price messages (``sub`` s1, per-symbol seq from 1) as fast
    as the socket takes them and never stops; it answers the client's close frame after
    ``answer_after`` seconds, behind whatever it sent meanwhile, or never (None)."""
    seen = Seen()
    tasks: set[asyncio.Task[None]] = set()

    async def flood(writer: asyncio.StreamWriter) -> None:
        seq = 0
        while True:
            chunk = []
            for _ in range(200):
                seq += 1
                body = (
                    f'{{"type":"price","sub":"s1","symbol":"AAPL","price":100.5,"bid":100.4,'
                    f'"ask":100.6,"timestamp":{time.time():.6f},"seq":{seq}}}'
                )
                chunk.append(frame(body.encode()))
            writer.write(b"".join(chunk))
            seen.sent = seq
            await writer.drain()

    async def listen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == 0x1:
                request = json.loads(payload)
                reply = {"type": "subscribed", "id": request["id"]}
                writer.write(frame(json.dumps(reply).encode()))
            elif opcode == 0x8:
                seen.close_codes.append(struct.unpack("!H", payload[:2])[0])
                seen.close_reasons.append(payload[2:].decode())
                if answer_after is not None:
                    await asyncio.sleep(answer_after)
                    writer.write(frame(payload[:2], 0x8))
                await asyncio.Event().wait()  # the flood goes on until the client drops us

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            key = next(
                line.split(b":", 1)[1].strip()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
            accept = base64.b64encode(hashlib.sha1(key + guid).digest())
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            writer.write(frame(WELCOME))
            async with asyncio.TaskGroup() as group:
                group.create_task(flood(writer))
                group.create_task(listen(reader, writer))
        except* (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(serve_one, "127.0.0.1", 0)
    async with server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ws", seen
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def streaming_client(url: str, transport: Transport) -> tuple[WebSocketClient, list[Any]]:
    # timeout 2: websockets' close_timeout, the wait there was before CLOSE_WAIT
    client = WebSocketClient(fast_config(url, heartbeat_interval=5, timeout=2), transport=transport)
    got: list[Any] = []
    client.add_message_handler("price", got.append)
    assert await client.connect()
    await client.subscribe("s1", SubscriptionConfig(["AAPL"], ["price"]))
    await wait_until(lambda: len(got) >= 2000, 5)  # the socket is full behind this
    return client, got


@pytest.mark.parametrize("answer_after", [2.0, None], ids=["answers-late", "never-answers"])
async def test_disconnect_is_prompt_against_a_firehose(
    transport: Transport, answer_after: float | None
) -> None:
    async with firehose(answer_after) as (url, seen):
        client, got = await streaming_client(url, transport)
        started = time.monotonic()
        await client.disconnect()
        took = time.monotonic() - started
        delivered = len(got)
        await asyncio.sleep(0.1)
        assert len(got) == delivered  # nothing more once disconnected
    assert took < BOUND, f"disconnect took {took:.2f}s"
    assert took >= CLOSE_WAIT * 0.8  # it did wait for an answer, a while
    assert seen.close_codes == [1000] and seen.close_reasons == ["client disconnect"]
    assert client.state is ConnectionState.DISCONNECTED


async def test_a_link_delivers_nothing_after_its_close_frame(transport: Transport) -> None:
    async with firehose(None) as (url, seen):
        link = await transport.open(fast_config(url), {})
        got: list[str | bytes] = []
        receiving = asyncio.create_task(link.receive(got.extend))
        await wait_until(lambda: len(got) >= 1000, 5)
        at_close = len(got)
        started = time.monotonic()
        await link.close(1000, "bye", timeout=0.2)
        took = time.monotonic() - started
        line = await asyncio.wait_for(receiving, BOUND)
    assert len(got) == at_close  # read on towards the close frame, but not delivered
    assert 0.15 <= took < BOUND
    assert seen.close_codes == [1000] and seen.close_reasons == ["bye"]
    assert line.startswith("connection closed")


async def test_a_server_that_answers_in_time_sees_a_clean_1000(transport: Transport) -> None:
    """websockets as the server: a moderate stream, the close answered at once: the
    server records the client's 1000 and a completed closing handshake."""
    closed: list[tuple[int | None, str | None, bool]] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.send(WELCOME.decode())
        request = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "subscribed", "id": request["id"]}))
        seq = 0
        with contextlib.suppress(ConnectionClosed):
            while True:
                seq += 1
                await ws.send(
                    '{"type":"price","sub":"s1","symbol":"AAPL","price":1.5,"bid":1.4,'
                    f'"ask":1.6,"timestamp":{time.time():.6f},"seq":{seq}}}'
                )
                await asyncio.sleep(0.001)
        await ws.wait_closed()
        assert ws.protocol.close_rcvd is not None
        clean = ws.protocol.close_rcvd_then_sent is True  # the client's close, answered
        closed.append((ws.close_code, ws.close_reason, clean))

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        client = WebSocketClient(
            fast_config(f"ws://127.0.0.1:{port}/ws", heartbeat_interval=5), transport=transport
        )
        got: list[Any] = []
        client.add_message_handler("price", got.append)
        assert await client.connect()
        await client.subscribe("s1", SubscriptionConfig(["AAPL"], ["price"]))
        await wait_until(lambda: len(got) >= 20, 5)
        await client.disconnect()
        await wait_until(lambda: bool(closed), 2)
    assert closed == [(1000, "client disconnect", True)]
    assert client.state is ConnectionState.DISCONNECTED


async def test_no_handler_runs_once_disconnect_starts(transport: Transport) -> None:
    """disconnect() drops what is queued: a handler must then see nothing more, or it
    would see a later message after the dropped ones (a hole it cannot tell). Against a
    firehose with a slow handler the queue is full and the reader waits on it; clearing
    the queue releases the reader, so delivery must have stopped before."""
    async with firehose(None) as (url, _):
        client = WebSocketClient(
            fast_config(url, queue_size=50, heartbeat_interval=5, timeout=2), transport=transport
        )
        seen: list[dict[str, Any]] = []

        async def slow(msg: dict[str, Any]) -> None:
            seen.append(msg)
            await asyncio.sleep(0.0005)  # slower than the feed: the queue stays full

        assert await client.connect()
        await client.subscribe("s1", SubscriptionConfig(["AAPL"], ["price"]))
        client.add_message_handler("price", slow)  # once subscribed: the reply got through
        await wait_until(lambda: len(seen) >= 300, 5)
        await client.disconnect()
        delivered = len(seen)
        await asyncio.sleep(0.1)  # a window to observe: nothing may arrive after disconnect
    assert len(seen) == delivered
    report = check(seen)
    assert report.lost == 0 and report.duplicated == 0, report.holes
