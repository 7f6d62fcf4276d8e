"""A WebSocket sender that is never the bottleneck: hand-framed bytes, pre-built.

Runs in its own process. Accepts a connection, answers the handshake, reads
the client's first frame (a subscribe), then either blasts ``count`` pre-framed
price messages (``--mode blast``, ``--batch`` messages per frame) as fast as
the socket takes them and closes, or paces them at ``--rate`` messages per
second with live timestamps (``--mode paced``) for ``--seconds``.

Prints ``PORT <n>`` when listening. Messages carry ``"sub":"cli-1"`` (the id
``argus stream`` gives its first subscription) and per-symbol ``seq`` from 1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import re
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def message(symbol: str, seq: int, ts: float) -> bytes:
    price = 100 + (seq % 1000) / 100
    return (
        f'{{"type":"price","sub":"cli-1","symbol":"{symbol}","price":{price:.2f},'
        f'"bid":{price - 0.01:.2f},"ask":{price + 0.01:.2f},"timestamp":{ts:.6f},"seq":{seq}}}'
    ).encode()


def build_blast(count: int, batch: int, symbols: list[str]) -> list[bytes]:
    """Pre-framed chunks of about 256 KiB each."""
    ts = time.time()
    seqs = dict.fromkeys(symbols, 0)
    frames = []
    for start in range(0, count, batch):
        parts = []
        for i in range(start, min(count, start + batch)):
            symbol = symbols[i % len(symbols)]
            seqs[symbol] += 1
            parts.append(message(symbol, seqs[symbol], ts))
        payload = parts[0] if batch == 1 else b"[" + b",".join(parts) + b"]"
        frames.append(frame(payload))
    chunks, current, size = [], [], 0
    for f in frames:
        current.append(f)
        size += len(f)
        if size >= 256 * 1024:
            chunks.append(b"".join(current))
            current, size = [], 0
    if current:
        chunks.append(b"".join(current))
    return chunks


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b1, b2 = await reader.readexactly(2)
    n = b2 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if b2 & 0x80 else b"\0\0\0\0"
    data = await reader.readexactly(n)
    return b1 & 0x0F, bytes(c ^ mask[i % 4] for i, c in enumerate(data))


async def drain_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer pings and swallow everything else until the client goes."""
    try:
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == 0x9:
                writer.write(frame(payload, 0xA))
            elif opcode == 0x8:
                writer.write(frame(payload[:2], 0x8))
                return
    except (asyncio.IncompleteReadError, ConnectionError):
        return


async def serve(args: argparse.Namespace) -> None:
    symbols = [f"S{i:03d}" for i in range(args.symbols)] if args.symbols > 1 else ["AAPL"]
    chunks = build_blast(args.count, args.batch, symbols) if args.mode == "blast" else []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?i)sec-websocket-key:\s*(\S+)", request)
            assert match
            accept = base64.b64encode(hashlib.sha1(match.group(1) + GUID).digest())
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            writer.write(frame(b'{"type":"welcome","protocol":1,"connection_id":"bench"}'))
            await read_frame(reader)  # the subscribe
            writer.write(frame(b'{"type":"subscribed","id":"cli-1"}'))
            drainer = asyncio.create_task(drain_client(reader, writer))
            if args.mode == "blast":
                for chunk in chunks:
                    writer.write(chunk)
                    await writer.drain()
                writer.write(frame(b"\x03\xe8", 0x8))
                await writer.drain()
            else:
                await pace(writer, args.rate, args.seconds, symbols)
            await asyncio.wait_for(drainer, 30)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


async def pace(
    writer: asyncio.StreamWriter, rate: float, seconds: float, symbols: list[str]
) -> None:
    seqs = dict.fromkeys(symbols, 0)
    started = time.perf_counter()
    sent = 0
    i = 0
    while (elapsed := time.perf_counter() - started) < seconds:
        due = int(elapsed * rate) - sent
        if due > 0:
            now = time.time()
            parts = []
            for _ in range(due):
                symbol = symbols[i % len(symbols)]
                i += 1
                seqs[symbol] += 1
                parts.append(frame(message(symbol, seqs[symbol], now)))
            writer.write(b"".join(parts))
            await writer.drain()
            sent += due
        await asyncio.sleep(0.0005)
    writer.write(frame(b"\x03\xe8", 0x8))
    await writer.drain()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["blast", "paced"], default="blast")
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--symbols", type=int, default=1)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
