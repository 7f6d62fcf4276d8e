"""The fake Kraken v2 feed itself, over real sockets with a plain websockets client:
the research's message shapes, one ack per symbol, contiguous trade ids, a book whose
every checksum verifies with an independent CRC32 (and the corrupted one does not),
ping/pong, heartbeats, the idle close and the faults."""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from argus_cli.testing.fakes.kraken import FakeKraken, book_checksum

# RESEARCH.md §3, the docs' book snapshot and update (kraken.jsonl lines 14 and 15)
DOC_SNAPSHOT = (
    '{"channel":"book","type":"snapshot","data":[{"symbol":"MATIC/USD","bids":['
    '{"price":0.5666,"qty":4831.75496356},{"price":0.5665,"qty":6658.22734739},'
    '{"price":0.5664,"qty":18724.91513344},{"price":0.5663,"qty":11563.92544914},'
    '{"price":0.5662,"qty":14006.65365711},{"price":0.5661,"qty":17454.85679807},'
    '{"price":0.566,"qty":18097.1547},{"price":0.5659,"qty":33644.89175666},'
    '{"price":0.5658,"qty":148.3464},{"price":0.5657,"qty":606.70854372}],"asks":['
    '{"price":0.5668,"qty":4410.79769741},{"price":0.5669,"qty":4655.40412487},'
    '{"price":0.567,"qty":49844.89424998},{"price":0.5671,"qty":24306.41678},'
    '{"price":0.5672,"qty":29783.25223475},{"price":0.5673,"qty":57234.71239278},'
    '{"price":0.5674,"qty":45065.04744},{"price":0.5675,"qty":5912.76380354},'
    '{"price":0.5676,"qty":42514.92434778},{"price":0.5677,"qty":36304.0847022}],'
    '"checksum":2439117997,"timestamp":"2023-10-06T17:35:55.440295Z"}]}'
)
DOC_UPDATE = (
    '{"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":'
    '[{"price":0.5657,"qty":1098.3947558}],"asks":[],"checksum":2114181697,'
    '"timestamp":"2023-10-06T17:35:55.440295Z"}]}'
)


def decode(raw: str | bytes) -> Any:
    return json.loads(raw, parse_float=Decimal)


class Book:
    """A client's book, kept as the research says, checked with its own CRC32."""

    def __init__(self, depth: int, price_precision: int, qty_precision: int) -> None:
        self.depth, self.pp, self.qp = depth, price_precision, qty_precision
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}

    def apply(self, row: dict[str, Any], snapshot: bool) -> bool:
        """Apply one data row; whether its checksum verifies."""
        if snapshot:
            self.bids, self.asks = {}, {}
        for side, levels in ((self.bids, row["bids"]), (self.asks, row["asks"])):
            for level in levels:
                if level["qty"] == 0:
                    side.pop(level["price"], None)
                else:
                    side[level["price"]] = level["qty"]
        self.bids = dict(sorted(self.bids.items(), reverse=True)[: self.depth])
        self.asks = dict(sorted(self.asks.items())[: self.depth])
        return self.checksum() == row["checksum"]

    def checksum(self) -> int:
        def token(value: Decimal, precision: int) -> str:
            return f"{value:.{precision}f}".replace(".", "").lstrip("0")

        asks = sorted(self.asks.items())[:10]
        bids = sorted(self.bids.items(), reverse=True)[:10]
        text = "".join(token(p, self.pp) + token(q, self.qp) for p, q in [*asks, *bids])
        return zlib.crc32(text.encode())


@pytest.fixture
async def fake() -> AsyncIterator[FakeKraken]:
    async with FakeKraken(symbols=("BTC/USD", "ETH/USD", "MATIC/USD"), interval=0.002) as fake:
        yield fake


async def open_ws(fake: FakeKraken) -> ClientConnection:
    ws = await connect(fake.url)
    status = decode(await ws.recv())
    assert status["channel"] == "status"
    return ws


async def send(ws: ClientConnection, msg: dict[str, Any]) -> None:
    await ws.send(json.dumps(msg))


async def until(
    ws: ClientConnection, wanted: Callable[[Any], bool], timeout: float = 2.0
) -> list[Any]:
    """Messages read up to and including the first that is ``wanted``."""
    seen: list[Any] = []
    async with asyncio.timeout(timeout):
        while True:
            seen.append(decode(await ws.recv()))
            if wanted(seen[-1]):
                return seen


def on(channel: str, kind: str | None = None) -> Callable[[Any], bool]:
    return lambda m: m.get("channel") == channel and kind in (None, m.get("type"))


def test_checksums_reproduce_the_docs_sample() -> None:
    book = Book(10, 4, 8)
    assert book.apply(decode(DOC_SNAPSHOT)["data"][0], snapshot=True)
    assert book.apply(decode(DOC_UPDATE)["data"][0], snapshot=False)
    snapshot = decode(DOC_SNAPSHOT)["data"][0]

    def units(levels: list[dict[str, Decimal]]) -> list[tuple[int, int]]:
        return [(int(lv["price"] * 10**4), int(lv["qty"] * 10**8)) for lv in levels]

    assert book_checksum(units(snapshot["asks"]), units(snapshot["bids"])) == 2439117997


async def test_status_first_and_only_path_v2(fake: FakeKraken) -> None:
    async with connect(fake.url) as ws:
        status = decode(await ws.recv())
    assert status["channel"] == "status" and status["type"] == "update"
    (row,) = status["data"]
    assert list(row) == ["api_version", "connection_id", "system", "version"]
    assert row["api_version"] == "v2" and row["system"] == "online"
    assert 2**63 < row["connection_id"] < 2**64
    with pytest.raises(InvalidStatus):
        await connect(fake.url.removesuffix("/v2") + "/")


async def test_one_ack_per_symbol_and_errors_as_sampled(fake: FakeKraken) -> None:
    ws = await open_ws(fake)
    params = {"channel": "ticker", "symbol": ["BTC/USD", "XBT/USD", "DOGE/XYZ", "ETH/USD"]}
    await send(ws, {"method": "subscribe", "params": params, "req_id": 7})
    acks: list[Any] = []
    seen: list[Any] = []
    while len(acks) < 4:
        seen.append(decode(await asyncio.wait_for(ws.recv(), 2)))
        acks = [m for m in seen if "method" in m]
    ok = [m for m in acks if m["success"]]
    assert [m["result"]["symbol"] for m in ok] == ["BTC/USD", "ETH/USD"]
    assert ok[0]["result"] == {"channel": "ticker", "snapshot": True, "symbol": "BTC/USD"}
    assert all(m["req_id"] == 7 and "time_in" in m and "time_out" in m for m in ok)
    bad = [m for m in acks if not m["success"]]
    assert bad == [
        {
            "error": "Currency pair not supported XBT/USD",
            "method": "subscribe",
            "success": False,
            "symbol": "XBT/USD",
            "req_id": 7,
        },
        {
            "error": "Currency pair not supported DOGE/XYZ",
            "method": "subscribe",
            "success": False,
            "symbol": "DOGE/XYZ",
            "req_id": 7,
        },
    ]
    params = {"channel": "book", "symbol": ["BTC/USD"], "depth": 27}
    await send(ws, {"method": "subscribe", "params": params})
    (error,) = [m for m in await until(ws, lambda m: "error" in m) if "error" in m]
    assert error["error"] == "Subscription depth not supported"
    assert list(error) == ["error", "method", "success", "time_in", "time_out"]
    assert fake.requests[0]["params"]["symbol"][1] == "XBT/USD"
    await ws.close()


async def test_ticker_snapshot_updates_and_unsubscribe_ack(fake: FakeKraken) -> None:
    ws = await open_ws(fake)
    params = {"channel": "ticker", "symbol": ["ETH/USD"], "event_trigger": "bbo"}
    await send(ws, {"method": "subscribe", "params": params, "req_id": 1})
    await until(ws, on("ticker", "snapshot"))
    (update,) = (await until(ws, on("ticker", "update")))[-1]["data"]
    assert list(update) == [
        "symbol",
        "bid",
        "bid_qty",
        "ask",
        "ask_qty",
        "last",
        "volume",
        "vwap",
        "low",
        "high",
        "change",
        "change_pct",
        "timestamp",
    ]
    assert update["bid"] < update["ask"]
    await send(ws, {"method": "unsubscribe", "params": params, "req_id": 2})
    ack = (await until(ws, lambda m: m.get("method") == "unsubscribe"))[-1]
    assert ack["result"] == {"channel": "ticker", "event_trigger": "bbo", "symbol": "ETH/USD"}
    await send(ws, {"method": "unsubscribe", "params": params, "req_id": 3})
    error = (await until(ws, lambda m: m.get("method") == "unsubscribe"))[-1]
    assert error["success"] is False and error["symbol"] == "ETH/USD"
    await ws.close()


async def test_trade_snapshot_then_contiguous_updates(fake: FakeKraken) -> None:
    ws = await open_ws(fake)
    params = {"channel": "trade", "symbol": ["BTC/USD", "ETH/USD"], "snapshot": True}
    await send(ws, {"method": "subscribe", "params": params})
    ids: dict[str, list[int]] = {"BTC/USD": [], "ETH/USD": []}
    snapshots = 0
    async with asyncio.timeout(2):
        while min(len(v) for v in ids.values()) < 100:
            msg = decode(await ws.recv())
            if msg.get("channel") == "trade":
                snapshots += msg["type"] == "snapshot"
                for row in msg["data"]:
                    assert list(row) == [
                        "symbol",
                        "side",
                        "price",
                        "qty",
                        "ord_type",
                        "trade_id",
                        "timestamp",
                    ]
                    ids[row["symbol"]].append(row["trade_id"])
    assert snapshots == 2
    for seen in ids.values():
        assert seen == list(range(seen[0], seen[0] + len(seen)))
    await ws.close()


async def test_trade_snapshot_is_off_by_default_and_drops_and_max_trades() -> None:
    first = 4_665_846
    dropped = {first + 3, first + 4}
    async with FakeKraken(
        symbols=("BTC/USD",), paused=True, max_trades=10, drop_trades={"BTC/USD": dropped}
    ) as fake:
        ws = await open_ws(fake)
        params = {"channel": "trade", "symbol": ["BTC/USD"]}
        await send(ws, {"method": "subscribe", "params": params})
        await until(ws, lambda m: m.get("success") is True)
        fake.paused = False
        ids: list[int] = []
        async with asyncio.timeout(2):
            while not ids or ids[-1] < first + 10:
                msg = decode(await ws.recv())
                if msg.get("channel") == "trade":
                    assert msg["type"] == "update"
                    ids.extend(row["trade_id"] for row in msg["data"])
        assert ids == [i for i in range(first + 1, first + 11) if i not in dropped]
        assert fake.last_trade_id("BTC/USD") == first + 10
        await ws.close()


@pytest.mark.parametrize("depth", [10, 25, 1000])
async def test_every_book_checksum_verifies(depth: int) -> None:
    async with FakeKraken(symbols=("BTC/USD", "MATIC/USD"), interval=0.002) as fake:
        ws = await open_ws(fake)
        params = {"channel": "book", "symbol": ["BTC/USD", "MATIC/USD"], "depth": depth}
        await send(ws, {"method": "subscribe", "params": params, "req_id": 5})
        books = {
            s: Book(depth, fake.instrument(s).price_precision, fake.instrument(s).qty_precision)
            for s in ("BTC/USD", "MATIC/USD")
        }
        updates = 0
        async with asyncio.timeout(2):
            while updates < 200:
                msg = decode(await ws.recv())
                if msg.get("method") == "subscribe":
                    assert msg["result"]["depth"] == depth
                if msg.get("channel") != "book":
                    continue
                (row,) = msg["data"]
                book = books[row["symbol"]]
                assert book.apply(row, snapshot=msg["type"] == "snapshot")
                assert len(book.bids) == len(book.asks) == depth
                assert max(book.bids) < min(book.asks)
                updates += msg["type"] == "update"
        await ws.close()


async def test_corrupted_checksum_once_then_a_resubscribe_verifies() -> None:
    async with FakeKraken(symbols=("ETH/USD",), corrupt_checksum_after=5, interval=0.002) as fake:
        ws = await open_ws(fake)
        params = {"channel": "book", "symbol": ["ETH/USD"]}
        await send(ws, {"method": "subscribe", "params": params})
        book = Book(10, 2, 8)
        verdicts: list[bool] = []
        async with asyncio.timeout(2):
            while len(verdicts) < 8:
                msg = decode(await ws.recv())
                if on("book")(msg):
                    verdicts.append(book.apply(msg["data"][0], msg["type"] == "snapshot"))
        assert verdicts == [True] * 6 + [False] + [True]  # snapshot, 5 good, the bad one
        assert len(fake.corrupted) == 1
        await send(ws, {"method": "unsubscribe", "params": params})
        await send(ws, {"method": "subscribe", "params": params})
        snapshot = (await until(ws, on("book", "snapshot")))[-1]
        book = Book(10, 2, 8)
        verdicts = [book.apply(snapshot["data"][0], snapshot=True)]
        async with asyncio.timeout(2):
            while len(verdicts) < 30:
                msg = decode(await ws.recv())
                if on("book")(msg):
                    verdicts.append(book.apply(msg["data"][0], msg["type"] == "snapshot"))
        assert all(verdicts)
        await ws.close()


async def test_repeat_subscribe_is_refused_or_resnapshot() -> None:
    params = {"channel": "book", "symbol": ["BTC/USD"], "depth": 25}
    async with FakeKraken(symbols=("BTC/USD",), paused=True) as fake:
        ws = await open_ws(fake)
        await send(ws, {"method": "subscribe", "params": params})
        await until(ws, on("book", "snapshot"))
        await send(ws, {"method": "subscribe", "params": params})
        error = (await until(ws, lambda m: "error" in m))[-1]
        assert error["error"] == "Already subscribed" and error["symbol"] == "BTC/USD"
        await ws.close()
    async with FakeKraken(symbols=("BTC/USD",), paused=True, resubscribe_error=None) as fake:
        ws = await open_ws(fake)
        for _ in range(2):
            await send(ws, {"method": "subscribe", "params": params})
            await until(ws, on("book", "snapshot"))
        await ws.close()


async def test_ping_pong_heartbeat_when_quiet_and_status_push() -> None:
    async with FakeKraken(symbols=("BTC/USD",), paused=True, heartbeat_interval=0.02) as fake:
        ws = await open_ws(fake)
        await send(ws, {"method": "ping", "req_id": 101})
        pong = decode(await asyncio.wait_for(ws.recv(), 2))
        assert list(pong) == ["method", "req_id", "time_in", "time_out"]
        assert pong["method"] == "pong" and pong["req_id"] == 101
        await send(ws, {"method": "ping"})
        pong = decode(await asyncio.wait_for(ws.recv(), 2))
        assert pong["method"] == "pong" and "req_id" not in pong
        params = {"channel": "ticker", "symbol": ["BTC/USD"]}
        await send(ws, {"method": "subscribe", "params": params})
        await until(ws, lambda m: m == {"channel": "heartbeat"})
        fake.push_status("maintenance")
        status = (await until(ws, on("status")))[-1]
        assert status["data"][0]["system"] == "maintenance"
        await ws.close()


async def test_idle_connection_closed_and_requests_keep_it_open() -> None:
    async with FakeKraken(symbols=("BTC/USD",), idle_timeout=0.3) as fake:
        ws = await open_ws(fake)
        started = time.monotonic()
        for _ in range(4):  # 0.4 s of pings, 0.1 s apart: longer than the idle timeout
            await asyncio.sleep(0.1)
            await send(ws, {"method": "ping"})
            await until(ws, lambda m: m.get("method") == "pong")
        assert time.monotonic() - started > 0.3 and fake.idle_closed == 0
        last = time.monotonic()
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(2):
                while True:
                    await ws.recv()
        assert time.monotonic() - last >= 0.25
        assert ws.close_code == 1000 and fake.idle_closed == 1


async def test_abort_after_drops_first_connection_only() -> None:
    async with FakeKraken(symbols=("BTC/USD",), abort_after=7, aborts=1) as fake:
        params = {"channel": "trade", "symbol": ["BTC/USD"]}
        ws = await open_ws(fake)
        await send(ws, {"method": "subscribe", "params": params})
        data: list[Any] = []
        with pytest.raises(ConnectionClosedError) as closed:
            async with asyncio.timeout(2):
                while True:
                    msg = decode(await ws.recv())
                    if on("trade")(msg):
                        data.append(msg)
        assert len(data) == 7 and closed.value.rcvd is None  # no close frame
        assert fake.aborted == 1
        ws = await open_ws(fake)
        await send(ws, {"method": "subscribe", "params": params})
        seen = 0
        async with asyncio.timeout(2):
            while seen < 20:
                seen += on("trade")(decode(await ws.recv()))
        await ws.close()
        assert fake.connections == 2 and fake.aborted == 1
