# The samples below are verbatim from shared/providers/binance.jsonl: long lines are theirs.
# ruff: noqa: E501
"""FakeBinance over real sockets with a plain websockets client: the research's field
sets, replies and errors; contiguous trade ids; the documented depth sync from REST;
the 5 messages a second limit, pings, serverShutdown, lifetime; every fault."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from argus_cli.testing.fakes.binance import FakeBinance, parse_stream
from tests.client.helpers import wait_until

# shared/providers/binance.jsonl lines 11-16 and 22-23, 31, 2: the server's shapes
TRADE = {
    "e": "trade",
    "E": 1672515782136,
    "s": "BNBBTC",
    "t": 12345,
    "p": "0.001",
    "q": "100",
    "T": 1672515782136,
    "m": True,
    "M": True,
}
AGG_TRADE = {
    "e": "aggTrade",
    "E": 1672515782136,
    "s": "BNBBTC",
    "a": 12345,
    "p": "0.001",
    "q": "100",
    "f": 100,
    "l": 105,
    "T": 1672515782136,
    "m": True,
    "M": True,
}
BOOK_TICKER = {
    "u": 400900217,
    "s": "BNBUSDT",
    "b": "25.35190000",
    "B": "31.21000000",
    "a": "25.36520000",
    "A": "40.66000000",
}
TICKER = {
    "e": "24hrTicker",
    "E": 1672515782136,
    "s": "BNBBTC",
    "p": "0.0015",
    "P": "250.00",
    "w": "0.0018",
    "x": "0.0009",
    "c": "0.0025",
    "Q": "10",
    "b": "0.0024",
    "B": "10",
    "a": "0.0026",
    "A": "100",
    "o": "0.0010",
    "h": "0.0025",
    "l": "0.0010",
    "v": "10000",
    "q": "18",
    "O": 0,
    "C": 86400000,
    "F": 0,
    "L": 18150,
    "n": 18151,
}
PARTIAL = {"lastUpdateId": 160, "bids": [["0.0024", "10"]], "asks": [["0.0026", "100"]]}
DEPTH_UPDATE = {
    "e": "depthUpdate",
    "E": 1672515782136,
    "s": "BNBBTC",
    "U": 157,
    "u": 160,
    "b": [["0.0024", "10"]],
    "a": [["0.0026", "100"]],
}
SHUTDOWN_COMBINED = {
    "stream": "!serverShutdown",
    "data": {"e": "serverShutdown", "E": 1770123456789},
}
SHUTDOWN = {"e": "serverShutdown", "E": 1770123456789}
INVALID_STREAM = '{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":2}'
RESULT = '{"result":null,"id":1}'

Json = dict[str, Any]


@pytest.fixture
async def make_fake() -> AsyncIterator[Callable[..., Any]]:
    started: list[FakeBinance] = []

    async def factory(**options: Any) -> FakeBinance:
        fake = FakeBinance(**options)
        await fake.start()
        started.append(fake)
        return fake

    yield factory
    for fake in started:
        await fake.stop()


async def recv(ws: ClientConnection, timeout: float = 2.0) -> Any:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def until(ws: ClientConnection, matches: Callable[[Any], bool], timeout: float = 2.0) -> Any:
    async with asyncio.timeout(timeout):
        while not matches(msg := await recv(ws)):
            pass
    return msg


async def ask(ws: ClientConnection, request: Json) -> Any:
    """Send a request; its reply (data on the way is skipped)."""
    await ws.send(orjson.dumps(request).decode())
    return await until(ws, lambda m: "id" in m and ("result" in m or "error" in m))


async def closing(ws: ClientConnection, timeout: float = 2.0) -> ConnectionClosed:
    """Read until the connection ends; the exception that ended it."""
    async with asyncio.timeout(timeout):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            return closed


async def http_get(url: str) -> tuple[int, Any]:
    def get() -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, orjson.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, orjson.loads(error.read())

    return await asyncio.to_thread(get)


async def take(ws: ClientConnection, n: int, matches: Callable[[Any], bool]) -> list[Any]:
    return [await until(ws, matches) for _ in range(n)]


# --- shapes ------------------------------------------------------------------------------


def test_stream_names_as_the_server_reads_them() -> None:
    assert parse_stream("btcusdt@depth5@100ms") is not None
    assert parse_stream("btcusdt@depth@100ms") is not None
    assert parse_stream("btcusdt@kline_1m") is not None
    for bad in (
        "BTCUSDT@trade",
        "not asdfads",
        "btcusdt@depth7",
        "!bookTicker",
        "btcusdt@depth@250ms",
        3,
    ):
        assert parse_stream(bad) is None, bad


async def test_every_stream_has_the_samples_fields_in_order(make_fake: Any) -> None:
    fake = await make_fake()
    names = ["trade", "aggTrade", "bookTicker", "ticker", "depth@100ms", "depth5", "depth"]
    query = "/".join(f"btcusdt@{n}" for n in names)
    async with connect(f"{fake.base_url}/stream?streams={query}") as ws:
        seen: dict[str, Json] = {}
        async with asyncio.timeout(2):
            while len(seen) < len(names):
                msg = await recv(ws)
                assert list(msg) == ["stream", "data"]
                seen.setdefault(msg["stream"], msg["data"])
    shapes = {
        "trade": TRADE,
        "aggTrade": AGG_TRADE,
        "bookTicker": BOOK_TICKER,
        "ticker": TICKER,
        "depth@100ms": DEPTH_UPDATE,
        "depth": DEPTH_UPDATE,
        "depth5": PARTIAL,
    }
    for name, sample in shapes.items():
        payload = seen[f"btcusdt@{name}"]
        assert list(payload) == list(sample), name
        for key, value in sample.items():
            assert type(payload[key]) is type(value), (name, key)
        if "s" in payload:
            assert payload["s"] == "BTCUSDT"
    assert len(seen["btcusdt@depth5"]["bids"]) == 5
    ticker = seen["btcusdt@ticker"]
    assert ticker["n"] == ticker["L"] - ticker["F"] + 1
    assert abs(ticker["E"] - time.time() * 1000) < 60_000
    book = seen["btcusdt@bookTicker"]
    assert float(book["b"]) < float(book["a"])


async def test_replies_and_the_documented_errors(make_fake: Any) -> None:
    fake = await make_fake(max_messages_per_second=None)  # many requests here
    async with connect(fake.url) as ws:
        await ws.send('{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth"],"id":1}')
        assert await ws.recv() == RESULT
        await ws.send('{"method":"SUBSCRIBE","params":["not asdfads"],"id":2}')
        assert await until(ws, lambda m: "id" in m) == orjson.loads(INVALID_STREAM)
        assert await ask(ws, {"method": "UNSUBSCRIBE", "params": ["btcusdt@depth"], "id": 312}) == {
            "result": None,
            "id": 312,
        }
        assert await ask(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 3}) == {
            "result": ["btcusdt@aggTrade"],
            "id": 3,
        }
        assert (await ask(ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": "ab"}))[
            "result"
        ] is False
        errors = [
            (
                {"method": "SUBSCRIBE", "params": ["BTCUSDT@trade"], "id": 4},
                2,
                "Invalid request: invalid stream",
                4,
            ),
            (
                {"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 5},
                1,
                "Invalid value type: expected Boolean",
                5,
            ),
            (
                {"method": "SET_PROPERTY", "params": ["colour", True], "id": 6},
                0,
                "Unknown property",
                6,
            ),
            (
                {"method": "GET_PROPERTY", "params": [7], "id": 7},
                2,
                "Invalid request: property name must be a string",
                7,
            ),
            (
                {"method": "GET_PROPERTY", "params": ["combined", 1], "id": 8},
                2,
                "Invalid request: too many parameters",
                8,
            ),
            (
                {"method": "LIST_SUBSCRIPTIONS", "id": 1.5},
                2,
                "Invalid request: request ID must be an unsigned integer",
                None,
            ),
        ]
        for request, code, text, req_id in errors:
            reply = await ask(ws, request)
            assert reply == {"error": {"code": code, "msg": text}, "id": req_id}, request
        unknown = await ask(ws, {"method": "FOO", "id": 9})
        assert unknown["error"]["msg"].startswith(
            "Invalid request: unknown variant `FOO`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 column "
        )
        missing = await ask(ws, {"params": [], "id": 10})
        assert missing["error"]["msg"].startswith(
            "Invalid request: missing field `method` at line 1 column "
        )
        await ws.send("{")
        bad_json = await until(ws, lambda m: "error" in m)
        assert bad_json["error"]["code"] == 3 and bad_json["id"] is None
        assert bad_json["error"]["msg"].startswith("Invalid JSON: expected value at line 1 column ")
    assert len(fake.errors_sent) == 10


async def test_set_property_combined_wraps_what_follows(make_fake: Any) -> None:
    fake = await make_fake()
    async with connect(fake.url) as ws:
        await ask(ws, {"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 1})
        assert (await until(ws, lambda m: "e" in m))["s"] == "ETHUSDT"
        assert await ask(ws, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 5}) == {
            "result": None,
            "id": 5,
        }
        wrapped = await until(ws, lambda m: "stream" in m)
        assert wrapped["stream"] == "ethusdt@trade" and wrapped["data"]["e"] == "trade"
    async with connect(f"{fake.base_url}/stream") as ws:
        assert (await ask(ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 2}))[
            "result"
        ] is True


async def test_unknown_symbol_is_silent_or_refused_as_chosen(make_fake: Any) -> None:
    silent = await make_fake()
    async with connect(silent.url) as ws:
        await ws.send('{"method":"SUBSCRIBE","params":["foobarusdt@trade"],"id":1}')
        assert await ws.recv() == RESULT
        assert (await ask(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 2}))["result"] == [
            "foobarusdt@trade"
        ]
    strict = await make_fake(unknown_symbol="error")
    async with connect(strict.url) as ws:
        await ws.send('{"method":"SUBSCRIBE","params":["foobarusdt@trade"],"id":2}')
        assert await ws.recv() == INVALID_STREAM


async def test_url_streams_are_checked_at_the_handshake(make_fake: Any) -> None:
    fake = await make_fake()
    for path, status in (
        ("/ws/BTCUSDT@trade", 400),
        ("/ws/btcusdt@trade/ethusdt@trade", 400),
        ("/nope", 404),
    ):
        with pytest.raises(InvalidStatus) as refused:
            await connect(fake.base_url + path)
        assert refused.value.response.status_code == status, path
        if status == 400:
            assert (
                orjson.loads(refused.value.response.body) == orjson.loads(INVALID_STREAM)["error"]
            )
    assert fake.connections == 0


async def test_book_ticker_u_is_the_books_id_and_jumps(make_fake: Any) -> None:
    fake = await make_fake()
    async with connect(f"{fake.base_url}/ws/ethusdt@bookTicker") as ws:
        ids = [(await recv(ws))["u"] for _ in range(10)]
    assert ids == sorted(set(ids)) and ids[-1] <= fake.update_id("ETHUSDT")
    assert any(b - a > 1 for a, b in itertools.pairwise(ids))


async def test_microsecond_time_unit(make_fake: Any) -> None:
    fake = await make_fake()
    async with connect(f"{fake.base_url}/ws/btcusdt@trade?timeUnit=MICROSECOND") as ws:
        trade = await recv(ws)
    assert abs(trade["E"] - time.time() * 1_000_000) < 60_000_000
    assert trade["T"] == trade["E"]


# --- trades ------------------------------------------------------------------------------


async def test_trade_ids_are_contiguous_and_aggregates_cover_them(make_fake: Any) -> None:
    fake = await make_fake(paused=True)
    async with connect(f"{fake.base_url}/stream?streams=bnbbtc@trade/bnbbtc@aggTrade") as ws:
        await ask(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        fake.paused = False
        msgs = await take(ws, 60, lambda m: "stream" in m)
    trades = [m["data"]["t"] for m in msgs if m["stream"] == "bnbbtc@trade"]
    aggs = [m["data"] for m in msgs if m["stream"] == "bnbbtc@aggTrade"]
    first = fake.first_trade_id * 3 + 1
    assert trades == list(range(first, first + len(trades)))
    assert [a["a"] for a in aggs] == list(range(aggs[0]["a"], aggs[0]["a"] + len(aggs)))
    assert aggs[0]["f"] == first
    for before, after in itertools.pairwise(aggs):
        assert after["f"] == before["l"] + 1
    assert all(m["data"]["s"] == "BNBBTC" for m in msgs)


async def test_dropped_trades_leave_holes_in_trade_ids_only(make_fake: Any) -> None:
    first = 10_001
    fake = await make_fake(paused=True, drop_trades={"BTCUSDT": {first + 2, first + 3}})
    async with connect(f"{fake.base_url}/stream?streams=btcusdt@trade/btcusdt@aggTrade") as ws:
        await ask(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        fake.paused = False
        msgs = await take(ws, 40, lambda m: "stream" in m)
    trades = [m["data"]["t"] for m in msgs if m["stream"] == "btcusdt@trade"]
    covered = [
        i
        for m in msgs
        if m["stream"] == "btcusdt@aggTrade"
        for i in range(m["data"]["f"], m["data"]["l"] + 1)
    ]
    assert trades[:2] == [first, first + 1] and trades[2:4] == [first + 4, first + 5]
    assert covered[:6] == list(range(first, first + 6))


async def test_max_trades_and_paused_stop_trading_not_the_book(make_fake: Any) -> None:
    fake = await make_fake(paused=True, max_trades=3)
    async with connect(f"{fake.base_url}/stream?streams=btcusdt@trade/btcusdt@depth5@100ms") as ws:
        held = await take(ws, 3, lambda m: "stream" in m)
        assert {m["stream"] for m in held} == {"btcusdt@depth5@100ms"}  # a quiet market
        assert len({m["data"]["lastUpdateId"] for m in held}) == 1
        fake.paused = False
        trades = [(await until(ws, lambda m: m["stream"] == "btcusdt@trade"))["data"]["t"]]
        await wait_until(lambda: fake.last_trade_id("BTCUSDT") >= 10_003)
        stop = fake.last_trade_id("BTCUSDT")
        books = 0
        while books < 10:  # the book goes on changing, the trades do not
            msg = await recv(ws)
            if msg["stream"] == "btcusdt@trade":
                trades.append(msg["data"]["t"])
            else:
                books += 1
    assert trades == list(range(10_001, stop + 1))
    assert fake.last_trade_id("BTCUSDT") == stop


# --- depth -------------------------------------------------------------------------------


class LocalBook:
    """The documented local order book (RESEARCH.md §2 "Sequence and gap detection")."""

    def __init__(self, snapshot: Json) -> None:
        self.update_id: int = snapshot["lastUpdateId"]
        self.bids = dict(map(tuple, snapshot["bids"]))
        self.asks = dict(map(tuple, snapshot["asks"]))

    def apply(self, event: Json) -> bool:
        """False: events were missed, resync."""
        if event["u"] <= self.update_id:
            return True
        if event["U"] > self.update_id + 1:
            return False
        for side, levels in ((self.bids, event["b"]), (self.asks, event["a"])):
            for price, qty in levels:
                if float(qty) == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        self.update_id = event["u"]
        return True


async def sync(ws: ClientConnection, fake: FakeBinance, first: Json) -> LocalBook:
    """Steps 2-7 of the procedure, ``first`` being the first event buffered."""
    while True:
        status, snapshot = await http_get(f"{fake.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=5000")
        assert status == 200
        if snapshot["lastUpdateId"] >= first["U"]:
            break
    book = LocalBook(snapshot)
    event = first
    while event["u"] <= book.update_id:
        event = await recv(ws)
    assert event["U"] <= book.update_id + 1 <= event["u"]
    assert book.apply(event)
    return book


async def settle(ws: ClientConnection, fake: FakeBinance, book: LocalBook) -> None:
    """Freeze the market, apply the events still coming, compare with the fake's book."""
    fake.paused = True
    while book.update_id < fake.update_id("BTCUSDT"):
        assert book.apply(await recv(ws))
    whole = fake.book("BTCUSDT")
    assert book.bids == dict(map(tuple, whole["bids"]))
    assert book.asks == dict(map(tuple, whole["asks"]))


async def test_the_documented_depth_sync_gives_the_fakes_book(make_fake: Any) -> None:
    fake = await make_fake()
    async with connect(f"{fake.base_url}/ws/btcusdt@depth@100ms") as ws:
        book = await sync(ws, fake, await recv(ws))
        for _ in range(20):
            event = await recv(ws)
            assert event["U"] == book.update_id + 1  # Normally, U of the next is u + 1
            assert book.apply(event)
        await settle(ws, fake, book)
    assert fake.rest_requests[0] == "/api/v3/depth?symbol=BTCUSDT&limit=5000"


async def test_a_depth_gap_is_seen_and_rest_resyncs(make_fake: Any) -> None:
    fake = await make_fake(depth_gap_after=4)
    async with connect(f"{fake.base_url}/ws/btcusdt@depth@100ms") as ws:
        events = [await recv(ws) for _ in range(5)]
        for before, after in itertools.pairwise(events[:4]):
            assert after["U"] == before["u"] + 1
        assert events[4]["U"] > events[3]["u"] + 1
        assert fake.depth_gaps == [("btcusdt@depth@100ms", events[3]["u"] + 1, events[4]["U"] - 1)]
        book = await sync(ws, fake, events[4])  # discard the book, start again
        for _ in range(10):
            assert book.apply(await recv(ws))  # once only
        await settle(ws, fake, book)


async def test_partial_books_and_the_slow_diff(make_fake: Any) -> None:
    fake = await make_fake()
    query = "btcusdt@depth10@100ms/btcusdt@depth20/btcusdt@depth"
    async with connect(f"{fake.base_url}/stream?streams={query}") as ws:
        seen: dict[str, Json] = {}
        async with asyncio.timeout(2):
            while len(seen) < 3:
                msg = await recv(ws)
                seen[msg["stream"]] = msg["data"]
    for name, levels in (("btcusdt@depth10@100ms", 10), ("btcusdt@depth20", 20)):
        book = seen[name]
        assert len(book["bids"]) == len(book["asks"]) == levels
        bids = [float(p) for p, _ in book["bids"]]
        asks = [float(p) for p, _ in book["asks"]]
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    assert seen["btcusdt@depth"]["e"] == "depthUpdate"


# --- REST --------------------------------------------------------------------------------


async def test_rest_depth_exchange_info_and_errors(make_fake: Any) -> None:
    fake = await make_fake()
    status, book = await http_get(f"{fake.rest_url}/api/v3/depth?symbol=BNBBTC&limit=3")
    assert status == 200 and list(book) == ["lastUpdateId", "bids", "asks"]
    assert len(book["bids"]) == len(book["asks"]) == 3
    assert book["lastUpdateId"] <= fake.update_id("BNBBTC")
    assert await http_get(f"{fake.rest_url}/api/v3/depth?symbol=NOPE") == (
        400,
        {"code": -1121, "msg": "Invalid symbol."},
    )
    status, missing = await http_get(f"{fake.rest_url}/api/v3/depth")
    assert status == 400 and missing["code"] == -1102
    status, info = await http_get(f"{fake.rest_url}/api/v3/exchangeInfo")
    assert status == 200
    assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT", "BNBBTC"]
    assert info["symbols"][2] == {
        "symbol": "BNBBTC",
        "status": "TRADING",
        "baseAsset": "BNB",
        "quoteAsset": "BTC",
    }
    assert fake.connections == 0  # REST is not a WebSocket connection


# --- the server's rules ------------------------------------------------------------------


async def test_five_messages_a_second_pass_the_sixth_disconnects(make_fake: Any) -> None:
    fake = await make_fake()
    async with connect(fake.url) as ws:
        for i in range(5):
            await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}).decode())
        assert [(await recv(ws))["id"] for _ in range(5)] == list(range(5))
        await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":5}')
        closed = await closing(ws)
    assert closed.rcvd is not None and closed.rcvd.code == 1008
    assert closed.rcvd.reason == "Too many requests"
    assert fake.rate_limited == 1
    assert [f["id"] for f in fake.received[0]] == list(range(5))


async def test_pongs_count_against_the_limit(make_fake: Any) -> None:
    fake = await make_fake(ping_interval=0.02, ping_timeout=1.0)
    async with connect(fake.url) as ws:
        closed = await closing(ws)
    assert closed.rcvd is not None and closed.rcvd.code == 1008
    assert fake.pings_sent >= 6


async def test_server_pings_keep_an_answering_client(make_fake: Any) -> None:
    fake = await make_fake(ping_interval=0.03, ping_timeout=0.5, max_messages_per_second=None)
    async with connect(fake.url) as ws:
        await wait_until(lambda: fake.pings_sent >= 4)
        assert (await ask(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}))["result"] == []


async def test_a_client_that_never_pongs_is_dropped(make_fake: Any) -> None:
    fake = await make_fake(ping_interval=0.05, ping_timeout=0.1)
    host, port = fake.base_url[5:].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    try:
        async with asyncio.timeout(2):
            assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
            frames = []
            while True:
                try:
                    head = await reader.readexactly(2)
                except asyncio.IncompleteReadError:
                    break
                payload = await reader.readexactly(head[1] & 0x7F)  # control frames are short
                frames.append((head[0] & 0x0F, payload))
    finally:
        writer.close()
    assert frames[0][0] == 0x9 and len(frames[0][1]) == 4  # ping
    assert frames[-1][0] == 0x8 and int.from_bytes(frames[-1][1][:2]) == 1011  # close
    assert fake.pings_sent == 1


async def test_server_shutdown_on_demand_raw_and_combined(make_fake: Any) -> None:
    fake = await make_fake()
    async with connect(fake.url) as raw, connect(f"{fake.base_url}/stream") as combined:
        for ws in (raw, combined):
            await ask(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1})
        await fake.server_shutdown()
        event = await recv(raw)
        wrapped = await recv(combined)
        closes = [await closing(raw), await closing(combined)]
    assert list(event) == list(SHUTDOWN) and event["e"] == "serverShutdown"
    assert list(wrapped) == list(SHUTDOWN_COMBINED) and wrapped["stream"] == "!serverShutdown"
    assert list(wrapped["data"]) == list(SHUTDOWN)
    assert abs(event["E"] - time.time() * 1000) < 60_000
    assert [c.rcvd.code for c in closes if c.rcvd] == [1001, 1001]
    assert fake.shutdowns_sent == 2


async def test_shutdown_after_messages_on_the_first_connection(make_fake: Any) -> None:
    fake = await make_fake(shutdown_after=3)
    async with connect(f"{fake.base_url}/ws/btcusdt@trade") as ws:
        msgs = [await recv(ws) for _ in range(4)]
        closed = await closing(ws)
    assert [m["e"] for m in msgs] == ["trade"] * 3 + ["serverShutdown"]
    assert closed.rcvd is not None and closed.rcvd.code == 1001
    async with connect(f"{fake.base_url}/ws/btcusdt@trade") as ws:
        assert {(await recv(ws))["e"] for _ in range(10)} == {"trade"}


async def test_connections_end_at_their_lifetime(make_fake: Any) -> None:
    fake = await make_fake(lifetime=0.1)
    async with connect(fake.url) as ws:
        closed = await closing(ws)
    assert closed.rcvd is not None and closed.rcvd.code == 1001


# --- faults and records ------------------------------------------------------------------


async def test_abort_after_drops_the_first_connection_without_a_close(make_fake: Any) -> None:
    fake = await make_fake(abort_after=4)
    async with connect(f"{fake.base_url}/ws/btcusdt@trade") as ws:
        trades = [await recv(ws) for _ in range(4)]
        closed = await closing(ws)
    assert isinstance(closed, ConnectionClosedError) and closed.rcvd is None
    assert len(trades) == 4 and fake.aborted == 1
    async with connect(f"{fake.base_url}/ws/btcusdt@trade") as ws:
        assert len([await recv(ws) for _ in range(10)]) == 10
    assert fake.aborted == 1


async def test_paths_and_frames_are_recorded(make_fake: Any) -> None:
    fake = await make_fake()
    async with connect(f"{fake.base_url}/stream?streams=btcusdt@trade/ethusdt@bookTicker") as ws:
        await ask(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 7})
    async with connect(fake.url) as ws:
        await ws.send("not json")
        await until(ws, lambda m: "error" in m)
    assert fake.paths == ["/stream?streams=btcusdt@trade/ethusdt@bookTicker", "/ws"]
    assert fake.received == [[{"method": "LIST_SUBSCRIPTIONS", "id": 7}], ["not json"]]
    assert fake.connections == 2
