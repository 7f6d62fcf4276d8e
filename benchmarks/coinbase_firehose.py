"""A Coinbase feed that is never the bottleneck: pre-encoded frames, sent as fast as read.

Runs in its own process (``python -m benchmarks.coinbase_firehose``). Listens on
127.0.0.1, port 0, prints ``PORT <n>``, serves one connection at a time: answers
the handshake, answers each subscribe with the ``subscriptions`` message
Coinbase sends, and once every product is subscribed on the data channels
(``argus stream`` sends one subscribe per symbol) writes ``--count`` trades, pre-framed in chunks of ~256 KiB built before
the server starts listening, as fast as the socket takes them, and closes
(1000).

The same trades in either of Coinbase's two public dialects (RESEARCH.md §1):

- ``--dialect exchange``: the Coinbase Exchange feed (§1A, what argus' coinbase
  adapter speaks). One ``match`` per frame; with ``--ticker``, each match is
  followed by the ``ticker`` it moves, as the live feed does.
- ``--dialect advanced``: the Advanced Trade feed (§1B, what cryptofeed 2.4's
  ``Coinbase`` speaks): one ``market_trades`` ``update`` event with one trade
  per frame (the live feed batches trades over 250 ms; one per frame keeps the
  frame count equal to the exchange dialect).

Trades round-robin over ``--products``, ``trade_id`` contiguous per product,
prices walking a few cents around a per-product centre, sizes with 8 decimals,
the time advancing 1 ms a trade. Deterministic: the same seed gives the same
bytes, so two instances serve the same stream.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import random
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from benchmarks.sender import GUID, frame, read_frame

PRODUCTS = ("BTC-USD", "ETH-USD", "SOL-USD")
CENTRES = {"BTC-USD": 9_712_345, "ETH-USD": 352_110, "SOL-USD": 24_233}  # cents
FIRST_TRADE_ID = 600_000_000
START = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def _cents(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def trades(count: int, products: list[str], seed: int = 7) -> Iterator[dict[str, Any]]:
    """The trades of the stream, dialect-neutral."""
    rng = random.Random(seed)
    ids = {p: FIRST_TRADE_ID + i * 10_000_000 for i, p in enumerate(products)}
    prices = {p: CENTRES.get(p, 10_000) for p in products}
    for i in range(count):
        product = products[i % len(products)]
        ids[product] += 1
        prices[product] += rng.randint(-3, 3)
        price = prices[product]
        yield {
            "product": product,
            "trade_id": ids[product],
            "price": price,
            "bid": price - 1,
            "ask": price + 1,
            "size": f"{rng.randint(1, 500_000_000) / 1e8:.8f}",
            "buy": rng.random() < 0.5,
            "time": _time(START + timedelta(milliseconds=i)),
            "sequence": 80_000_000_000 + 2 * i,
        }


def exchange_frames(trade: dict[str, Any], ticker: bool) -> list[bytes]:
    match = {
        "type": "match",
        "trade_id": trade["trade_id"],
        "maker_order_id": "ac928c66-ca53-498f-9c13-a110027a60e8",
        "taker_order_id": "132fb6ae-456b-4654-b4e0-d681ac05cea1",
        "side": "buy" if trade["buy"] else "sell",
        "size": trade["size"],
        "price": _cents(trade["price"]),
        "product_id": trade["product"],
        "sequence": trade["sequence"],
        "time": trade["time"],
    }
    out = [orjson.dumps(match)]
    if ticker:
        centre = CENTRES.get(trade["product"], 10_000)
        out.append(
            orjson.dumps(
                {
                    "type": "ticker",
                    "sequence": trade["sequence"] + 1,
                    "product_id": trade["product"],
                    "price": _cents(trade["price"]),
                    "open_24h": _cents(centre),
                    "volume_24h": "12345.67890000",
                    "low_24h": _cents(centre - 5000),
                    "high_24h": _cents(centre + 5000),
                    "volume_30d": "987654.32100000",
                    "best_bid": _cents(trade["bid"]),
                    "best_bid_size": "0.51000000",
                    "best_ask": _cents(trade["ask"]),
                    "best_ask_size": "1.20000000",
                    "side": "buy" if trade["buy"] else "sell",
                    "time": trade["time"],
                    "trade_id": trade["trade_id"],
                    "last_size": trade["size"],
                }
            )
        )
    return out


def advanced_frames(trade: dict[str, Any], sequence_num: int) -> list[bytes]:
    event = {
        "channel": "market_trades",
        "client_id": "",
        "timestamp": trade["time"][:-1] + "123Z",
        "sequence_num": sequence_num,
        "events": [
            {
                "type": "update",
                "trades": [
                    {
                        "trade_id": str(trade["trade_id"]),
                        "product_id": trade["product"],
                        "price": _cents(trade["price"]),
                        "size": trade["size"],
                        "side": "BUY" if trade["buy"] else "SELL",
                        "time": trade["time"],
                    }
                ],
            }
        ],
    }
    return [orjson.dumps(event)]


def build(args: argparse.Namespace) -> tuple[list[bytes], int]:
    """Pre-framed chunks of about 256 KiB, and the number of data frames in them."""
    chunks: list[bytes] = []
    current: list[bytes] = []
    size = frames = 0
    products = args.products.split(",")
    for i, trade in enumerate(trades(args.count, products, args.seed)):
        if args.dialect == "exchange":
            payloads = exchange_frames(trade, args.ticker)
        else:
            payloads = advanced_frames(trade, i + 2)  # 0, 1: the subscriptions answers
        for payload in payloads:
            framed = frame(payload)
            current.append(framed)
            size += len(framed)
            frames += 1
        if size >= 256 * 1024:
            chunks.append(b"".join(current))
            current, size = [], 0
    if current:
        chunks.append(b"".join(current))
    return chunks, frames


class Subscriptions:
    """What the client asked for, and Coinbase's answer to it (cumulative)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.channels: dict[str, list[str]] = {}
        self.answered = 0

    def ready(self, products: list[str], channels: tuple[str, ...]) -> bool:
        """Every product subscribed on every one of ``channels``."""
        return all(p in self.channels.get(c, ()) for c in channels for p in products)

    def add(self, raw: bytes) -> bytes:
        """The answer to one client frame."""
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            msg = None
        if not isinstance(msg, dict) or msg.get("type") != "subscribe":
            return orjson.dumps({"type": "error", "message": "Failed to parse"})
        root = list(msg.get("product_ids") or [])
        if self.dialect == "exchange":
            for channel in msg.get("channels") or []:
                if isinstance(channel, dict):
                    name, ids = channel.get("name", ""), root + list(channel.get("product_ids", []))
                else:
                    name, ids = str(channel), root
                held = self.channels.setdefault(name, [])
                held.extend(p for p in ids if p not in held)
            listing = [{"name": n, "product_ids": ps} for n, ps in self.channels.items()]
            return orjson.dumps({"type": "subscriptions", "channels": listing})
        name = str(msg.get("channel", ""))
        held = self.channels.setdefault(name, [])
        held.extend(p for p in root if p not in held)
        answer = orjson.dumps(
            {
                "channel": "subscriptions",
                "client_id": "",
                "timestamp": _time(datetime.now(UTC)),
                "sequence_num": self.answered,
                "events": [{"subscriptions": self.channels}],
            }
        )
        self.answered += 1
        return answer


async def serve(args: argparse.Namespace) -> None:
    chunks, _ = build(args)
    products = args.products.split(",")
    if args.dialect == "advanced":
        channels: tuple[str, ...] = ("market_trades",)
    else:
        channels = ("matches", "ticker") if args.ticker else ("matches",)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        subs = Subscriptions(args.dialect)
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            key = re.search(rb"(?i)sec-websocket-key:\s*(\S+)", request)
            assert key
            accept = base64.b64encode(hashlib.sha1(key.group(1) + GUID).digest())
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            while not subs.ready(products, channels):
                opcode, payload = await read_frame(reader)
                if opcode == 0x9:
                    writer.write(frame(payload, 0xA))
                elif opcode == 0x8:
                    return
                elif opcode in (0x1, 0x2):
                    writer.write(frame(subs.add(payload)))
            drainer = asyncio.create_task(drain(reader, writer, subs))
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
            writer.write(frame(b"\x03\xe8", 0x8))
            await writer.drain()
            await asyncio.wait_for(drainer, 30)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


async def drain(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, subs: Subscriptions
) -> None:
    """Answer pings and later subscribes (whole frames, between the blast's chunks)."""
    try:
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == 0x9:
                writer.write(frame(payload, 0xA))
            elif opcode == 0x8:
                writer.write(frame(payload[:2], 0x8))
                return
            elif opcode in (0x1, 0x2):
                writer.write(frame(subs.add(payload)))
    except (asyncio.IncompleteReadError, ConnectionError):
        return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dialect", choices=["exchange", "advanced"], default="exchange")
    parser.add_argument("--count", type=int, default=100_000, help="trades")
    parser.add_argument("--ticker", action="store_true", help="exchange: a ticker after each match")
    parser.add_argument("--products", default=",".join(PRODUCTS))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.ticker and args.dialect != "exchange":
        parser.error("--ticker: exchange dialect only (cryptofeed 2.4 has no Coinbase ticker)")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
