"""FakeFinnhub over real sockets with a plain websockets client: the token refused with
401, subscriptions without acks, batched trade rows with the samples' fields, pings
when idle, the too-many-symbols error, unknown symbols, and every fault."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from argus_cli.testing.fakes.finnhub import TOO_MANY_SYMBOLS, FakeFinnhub
from tests.client.helpers import wait_until

# shared/providers/finnhub.jsonl line 7 (a stock batch) and line 2 (crypto, "c": null)
STOCK_ROW = {"c": ["1", "8", "24", "12"], "p": 122.1, "s": "TSLA", "t": 1672348887195, "v": 1}
CRYPTO_ROW = {"c": None, "p": 7296.89, "s": "BINANCE:BTCUSDT", "t": 1575526691134, "v": 0.011467}

Json = dict[str, Any]


@pytest.fixture
async def make_fake() -> AsyncIterator[Callable[..., Any]]:
    started: list[FakeFinnhub] = []

    async def factory(**options: Any) -> FakeFinnhub:
        fake = FakeFinnhub(**options)
        await fake.start()
        started.append(fake)
        return fake

    yield factory
    for fake in started:
        await fake.stop()


def opened(fake: FakeFinnhub, token: str | None = None) -> Any:
    return connect(f"{fake.url}?token={token or fake.token}")


async def recv(ws: ClientConnection, timeout: float = 2.0) -> Any:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def until(ws: ClientConnection, matches: Callable[[Any], bool], timeout: float = 2.0) -> Any:
    async with asyncio.timeout(timeout):
        while not matches(msg := await recv(ws)):
            pass
    return msg


async def subscribe(ws: ClientConnection, *symbols: str, kind: str = "subscribe") -> None:
    for symbol in symbols:
        await ws.send(orjson.dumps({"type": kind, "symbol": symbol}).decode())


def is_trade(msg: Json) -> bool:
    return msg["type"] == "trade"


async def test_a_missing_or_wrong_token_is_refused_with_401(make_fake: Any) -> None:
    fake = await make_fake()
    for url in (fake.url, f"{fake.url}?token=wrong", f"{fake.url}?token="):
        with pytest.raises(InvalidStatus) as refused:
            await connect(url)
        assert refused.value.response.status_code == 401
    assert fake.refused == [401, 401, 401] and fake.connections == 0
    async with opened(fake) as ws:
        await ws.ping()
    assert fake.paths[-1] == f"/?token={fake.token}"


async def test_trades_arrive_batched_with_the_samples_fields_and_no_ack(make_fake: Any) -> None:
    fake = await make_fake(paused=True)
    async with opened(fake) as ws:
        await subscribe(ws, "TSLA", "BINANCE:BTCUSDT", "OANDA:EUR_USD")
        await ws.ping()  # the subscribes are read: nothing answered them
        fake.paused = False
        first = await recv(ws)
        batches = [first] + [await recv(ws) for _ in range(9)]
    assert all(list(b) == ["data", "type"] and b["type"] == "trade" for b in batches)
    for batch in batches:
        rows = {row["s"]: row for row in batch["data"]}
        assert list(rows) == ["TSLA", "BINANCE:BTCUSDT", "OANDA:EUR_USD"]  # one message, all
        for row in batch["data"]:
            sample = STOCK_ROW if row["s"] == "TSLA" else CRYPTO_ROW
            assert list(row) == list(sample)
            assert isinstance(row["p"], float) and isinstance(row["t"], int)
        assert all(isinstance(c, str) for c in rows["TSLA"]["c"])
        assert isinstance(rows["TSLA"]["v"], int) and rows["TSLA"]["v"] > 0
        assert rows["BINANCE:BTCUSDT"]["c"] is None
        assert isinstance(rows["BINANCE:BTCUSDT"]["v"], float)
        assert rows["OANDA:EUR_USD"]["v"] == 0  # FX: price updates
    assert fake.received[0][0] == {"type": "subscribe", "symbol": "TSLA"}


async def test_unsubscribe_stops_that_symbol(make_fake: Any) -> None:
    fake = await make_fake()
    async with opened(fake) as ws:
        await subscribe(ws, "AAPL", "MSFT")
        await until(ws, lambda m: is_trade(m) and len(m["data"]) == 2)
        await subscribe(ws, "AAPL", kind="unsubscribe")
        await until(ws, lambda m: is_trade(m) and len(m["data"]) == 1)
        later = [await recv(ws) for _ in range(10)]
    assert {row["s"] for m in later for row in m["data"]} == {"MSFT"}


async def test_ping_when_idle(make_fake: Any) -> None:
    fake = await make_fake(ping_interval=0.05)
    async with opened(fake) as ws:
        assert [await ws.recv() for _ in range(2)] == ['{"type":"ping"}'] * 2
    assert fake.pings_sent >= 2


async def test_no_ping_while_trades_flow(make_fake: Any) -> None:
    fake = await make_fake(ping_interval=0.5)
    async with opened(fake) as ws:
        await subscribe(ws, "AAPL")
        msgs = [await recv(ws) for _ in range(20)]
    assert {m["type"] for m in msgs} == {"trade"}


async def test_too_many_symbols(make_fake: Any) -> None:
    fake = await make_fake(max_symbols=2)
    async with opened(fake) as ws:
        await subscribe(ws, "AAPL", "MSFT", "TSLA")
        error = await until(ws, lambda m: m["type"] == "error")
        later = [await until(ws, is_trade) for _ in range(5)]
    assert error == {"msg": TOO_MANY_SYMBOLS, "type": "error"}
    assert list(error) == ["msg", "type"]  # shared/providers/finnhub.jsonl line 9
    assert {row["s"] for m in later for row in m["data"]} == {"AAPL", "MSFT"}


async def test_unknown_symbol_is_silent_unless_an_error_is_chosen(make_fake: Any) -> None:
    fake = await make_fake()
    async with opened(fake) as ws:
        await subscribe(ws, "NOPE", "AAPL")
        msgs = [await recv(ws) for _ in range(10)]
    assert {m["type"] for m in msgs} == {"trade"}
    assert {row["s"] for m in msgs for row in m["data"]} == {"AAPL"}
    strict = await make_fake(unknown_symbol_error="Invalid symbol {symbol}")
    async with opened(strict) as ws:
        await subscribe(ws, "NOPE")
        assert await recv(ws) == {"msg": "Invalid symbol NOPE", "type": "error"}


async def test_abort_after_drops_the_first_connection_only(make_fake: Any) -> None:
    fake = await make_fake(abort_after=3)
    async with opened(fake) as ws:
        await subscribe(ws, "AAPL")
        trades = [await until(ws, is_trade) for _ in range(3)]
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ws)
    assert isinstance(closed.value, ConnectionClosedError) and closed.value.rcvd is None
    assert len(trades) == 3 and fake.aborted == 1
    async with opened(fake) as ws:
        await subscribe(ws, "AAPL")
        assert len([await until(ws, is_trade) for _ in range(10)]) == 10
    assert fake.aborted == 1


async def test_max_trades_then_only_pings(make_fake: Any) -> None:
    fake = await make_fake(paused=True, max_trades=2, ping_interval=0.05)
    async with opened(fake) as ws:
        await subscribe(ws, "AAPL")
        await ws.ping()
        fake.paused = False
        await until(ws, is_trade)
        await until(ws, is_trade)
        after = [await recv(ws) for _ in range(3)]
    assert [m["type"] for m in after] == ["ping"] * 3
    assert fake.received[0] == [{"type": "subscribe", "symbol": "AAPL"}]


async def test_paused_holds_the_market(make_fake: Any) -> None:
    fake = await make_fake(paused=True, ping_interval=0.05)
    async with opened(fake) as ws:
        await subscribe(ws, "AAPL")
        assert [(await recv(ws))["type"] for _ in range(2)] == ["ping", "ping"]
        fake.paused = False
        assert (await until(ws, is_trade))["data"][0]["s"] == "AAPL"


async def test_one_connection_per_key_when_chosen(make_fake: Any) -> None:
    fake = await make_fake(connections_per_key=1, tokens=("a", "b"))
    async with opened(fake, "a") as ws:
        await ws.ping()
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{fake.url}?token=a")
        assert refused.value.response.status_code == 429
        async with opened(fake, "b") as other:
            await other.ping()
    await wait_until(lambda: fake.open_connections == 0)
    async with opened(fake, "a") as ws:
        await ws.ping()
    assert fake.refused == [429] and fake.connections == 3
