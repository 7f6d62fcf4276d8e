"""The real client with ``BinanceSession`` over real sockets against the fake Binance:
normalized prices, trades and books (synced from REST, equal to the fake's book); an
abort reconnects with no trade printed twice and every hole a gap line; a missed
depth event resyncs the book from REST; ``serverShutdown`` reconnects and restores
every stream; subscriptions one per symbol stay within 5 messages a second; an
unknown symbol is refused while the others stream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from argus_cli import SubscriptionConfig, WebSocketClient
from argus_cli.events import MAX_BOOK_LEVELS, check_event
from argus_cli.exceptions import SubscriptionError
from argus_cli.protocol.binance import BinanceSession
from argus_cli.testing.fakes.binance import FakeBinance
from argus_cli.testing.seqcheck import check
from tests.client.helpers import fast_config, wait_until

ALL = ["price", "volume", "orderbook"]

FakeFactory = Callable[..., Awaitable[FakeBinance]]


@pytest.fixture
async def make_fake() -> AsyncIterator[FakeFactory]:
    started: list[FakeBinance] = []

    async def factory(**options: Any) -> FakeBinance:
        fake = FakeBinance(**options)
        await fake.start()
        started.append(fake)
        return fake

    yield factory
    for fake in started:
        await fake.stop()


class Run:
    """A client on the fake, with everything it delivered."""

    def __init__(self, fake: FakeBinance) -> None:
        self.session = BinanceSession(rest_url=fake.rest_url)
        self.client = WebSocketClient(fast_config(fake.url), provider=self.session)
        self.seen: list[dict[str, Any]] = []
        self.client.add_frame_handler(self.seen.extend)

    def of(self, kind: str, symbol: str | None = None) -> list[dict[str, Any]]:
        return [
            m for m in self.seen if m["type"] == kind and (symbol is None or m["symbol"] == symbol)
        ]

    def trades(self) -> list[dict[str, Any]]:
        return [m for m in self.seen if m["type"] in ("volume", "gap")]


def top(fake: FakeBinance, symbol: str) -> tuple[list[list[float]], list[list[float]]]:
    """The fake's book now, as an orderbook line shows it."""
    book = fake.book(symbol)
    levels = [
        [[float(p), float(q)] for p, q in book[side][:MAX_BOOK_LEVELS]] for side in ("bids", "asks")
    ]
    return levels[0], levels[1]


def subscribes(frames: list[Any]) -> list[list[str]]:
    return [f["params"] for f in frames if isinstance(f, dict) and f.get("method") == "SUBSCRIBE"]


async def test_prices_trades_and_books_arrive_normalized(make_fake: FakeFactory) -> None:
    fake = await make_fake()
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTCUSDT", "ETHUSDT"], ALL))
    wanted = [(k, s) for k in ALL for s in ("BTCUSDT", "ETHUSDT")]
    await wait_until(
        lambda: (
            all(len(run.of(k, s)) >= 5 for k, s in wanted)
            # both price sources: the 24hrTicker (timed, slower) and bookTicker (untimed)
            and any("timestamp" in p for p in run.of("price"))
            and any("timestamp" not in p for p in run.of("price"))
        )
    )
    await run.client.disconnect()
    data = [m for m in run.seen if m["type"] in ("price", "volume", "orderbook", "gap")]
    assert {m["symbol"] for m in data} == {"BTCUSDT", "ETHUSDT"}  # not BNBBTC
    for message in data:
        assert check_event(message) == [], message
        assert message["source"] == "binance" and message["sub"] == "s"
    assert run.of("gap") == []  # a clean run: bookTicker's jumping `u` is no gap
    for price in run.of("price"):
        assert price["bid"] < price["ask"] and "seq" not in price
    assert any("timestamp" in p for p in run.of("price"))  # 24hrTicker
    assert any("timestamp" not in p for p in run.of("price"))  # bookTicker has no time
    for book in run.of("orderbook"):
        assert 0 < len(book["bids"]) <= 10 and 0 < len(book["asks"]) <= 10
        assert book["bids"] == sorted(book["bids"], reverse=True) and "seq" not in book
    assert all("timestamp" in b for b in run.of("orderbook", "BTCUSDT")[1:])
    for symbol in ("BTCUSDT", "ETHUSDT"):
        ids = [v["seq"] for v in run.of("volume", symbol)]
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous `t`
    report = check(run.trades())
    assert report.duplicated == report.lost == report.gapped == 0
    (params,) = subscribes(fake.received[0])  # every stream in one frame
    assert sorted(params) == sorted(
        f"{s}@{k}"
        for s in ("btcusdt", "ethusdt")
        for k in ("bookTicker", "ticker", "trade", "depth@100ms")
    )
    assert sorted(r.split("?")[0] for r in fake.rest_requests) == [
        "/api/v3/depth",
        "/api/v3/depth",
        "/api/v3/exchangeInfo",
    ]
    assert fake.rate_limited == 0 and run.client.stats_snapshot()["decode_errors"] == 0


async def test_the_local_book_is_the_fakes_book(make_fake: FakeFactory) -> None:
    fake = await make_fake(symbols=("BTCUSDT",))
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTCUSDT"], ["orderbook"]))
    await wait_until(lambda: len(run.of("orderbook")) >= 20)
    fake.paused = True  # the book stops changing; the last diff goes out
    try:
        await wait_until(
            lambda: (
                (run.of("orderbook")[-1]["bids"], run.of("orderbook")[-1]["asks"])
                == top(fake, "BTCUSDT")
            ),
            timeout=2,
        )
    finally:
        await run.client.disconnect()
    assert run.session.resyncs == 0
    assert all(check_event(b) == [] for b in run.of("orderbook"))  # never crossed


async def test_an_abort_reconnects_with_no_trade_twice_and_every_hole_a_gap(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake(
        symbols=("BTCUSDT", "ETHUSDT"),
        paused=True,
        abort_after=40,  # trades: after the dropped ones
        drop_trades={"BTCUSDT": {1005, 1006}, "ETHUSDT": {2004}},
        first_trade_id=1000,
    )
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTCUSDT", "ETHUSDT"], ["volume"]))
    fake.paused = False
    await wait_until(lambda: fake.aborted == 1 and run.client.reconnect_count == 1)
    resumed = len(run.seen)
    await wait_until(lambda: len(run.seen) > resumed + 40)
    await run.client.disconnect()
    volumes = run.of("volume")
    for symbol, first in (("BTCUSDT", 1001), ("ETHUSDT", 2001)):
        ids = [v["seq"] for v in volumes if v["symbol"] == symbol]
        assert ids[0] == first and len(ids) == len(set(ids)) and ids == sorted(ids)
    report = check(run.trades())
    assert report.duplicated == report.out_of_order == report.lost == 0
    assert report.gapped >= 3  # the dropped trades, and those missed while reconnecting
    covered = {
        (g["symbol"], n) for g in run.of("gap") for n in range(g["from_seq"], g["to_seq"] + 1)
    }
    assert {("BTCUSDT", 1005), ("BTCUSDT", 1006), ("ETHUSDT", 2004)} <= covered
    assert subscribes(fake.received[1]) == [["btcusdt@trade", "ethusdt@trade"]]  # restored
    assert run.client.failure is None and fake.rate_limited == 0


async def test_a_missed_depth_event_resyncs_the_book_from_rest(make_fake: FakeFactory) -> None:
    fake = await make_fake(symbols=("BTCUSDT",), depth_gap_after=5)
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTCUSDT"], ["orderbook"]))

    def snapshots() -> int:
        return sum(r.startswith("/api/v3/depth") for r in fake.rest_requests)

    await wait_until(lambda: run.session.resyncs == 1 and snapshots() == 2)
    after = len(run.of("orderbook"))
    await wait_until(lambda: len(run.of("orderbook")) >= after + 5)
    fake.paused = True
    try:
        await wait_until(
            lambda: (
                (run.of("orderbook")[-1]["bids"], run.of("orderbook")[-1]["asks"])
                == top(fake, "BTCUSDT")
            ),
            timeout=2,
        )
    finally:
        await run.client.disconnect()
    assert len(fake.depth_gaps) == 1 and run.client.reconnect_count == 0
    assert all(check_event(b) == [] for b in run.of("orderbook"))


async def test_server_shutdown_reconnects_and_restores_every_stream(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake(symbols=("BTCUSDT", "ETHUSDT"))
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("a", SubscriptionConfig(["BTCUSDT"], ALL))
    await run.client.subscribe("b", SubscriptionConfig(["ETHUSDT"], ["volume", "price"]))
    await wait_until(lambda: len(run.of("volume")) >= 5)
    await fake.server_shutdown()
    await wait_until(lambda: run.client.reconnect_count == 1)
    resumed = len(run.seen)
    wanted = [("a", "BTCUSDT", k) for k in ALL] + [("b", "ETHUSDT", k) for k in ("volume", "price")]
    await wait_until(
        lambda: all(
            any((m.get("sub"), m.get("symbol"), m["type"]) == w for m in run.seen[resumed:])
            for w in wanted
        )
    )
    await run.client.disconnect()
    assert fake.shutdowns_sent == 1 and fake.connections == 2
    (first,) = subscribes(fake.received[0][:1])
    restored = subscribes(fake.received[1])
    assert len(restored) == 1 and sorted(restored[0]) == sorted(
        [*first, *subscribes(fake.received[0][1:])[0]]
    )
    assert set(run.client.subscriptions) == {"a", "b"} and run.client.failure is None
    report = check(run.trades())
    assert report.duplicated == report.out_of_order == report.lost == 0


async def test_ten_subscriptions_of_one_symbol_each_stay_within_the_rate_limit(
    make_fake: FakeFactory,
) -> None:
    symbols = [f"C{n}USDT" for n in range(10)]
    fake = await make_fake(symbols=tuple(symbols))
    run = Run(fake)
    assert await run.client.connect()
    await asyncio.gather(
        *(
            run.client.subscribe(f"cli-{n}", SubscriptionConfig([s], ["price", "volume"]))
            for n, s in enumerate(symbols)
        )
    )
    for n, symbol in enumerate(symbols[:4]):  # then one by one, as the CLI does
        await run.client.unsubscribe(f"cli-{n}")
        await run.client.subscribe(f"cli-{n}", SubscriptionConfig([symbol], ["volume"]))
    await wait_until(lambda: all(run.of("volume", s) for s in symbols))
    await run.client.disconnect()
    assert fake.rate_limited == 0 and fake.connections == 1
    assert len(subscribes(fake.received[0])[0]) == 30  # the ten at once: one frame
    assert {m["sub"] for m in run.of("volume")} == {f"cli-{n}" for n in range(10)}


@pytest.mark.parametrize("unknown_symbol", ["silent", "error"])
async def test_an_unknown_symbol_is_refused_while_the_others_stream(
    make_fake: FakeFactory, caplog: pytest.LogCaptureFixture, unknown_symbol: str
) -> None:
    fake = await make_fake(symbols=("BTCUSDT", "ETHUSDT"), unknown_symbol=unknown_symbol)
    run = Run(fake)
    assert await run.client.connect()
    with caplog.at_level(logging.WARNING, logger="argus_cli.client"):
        await run.client.subscribe(
            "s", SubscriptionConfig(["BTCUSDT", "NOPEUSDT", "ETHUSDT"], ["price", "volume"])
        )
    await wait_until(lambda: all(len(run.of("volume", s)) >= 3 for s in ("BTCUSDT", "ETHUSDT")))
    await run.client.disconnect()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("NOPEUSDT" in w and "invalid_symbol" in w for w in warnings), warnings
    assert "s" in run.client.subscriptions  # the subscription stands
    assert {m["symbol"] for m in run.seen if "symbol" in m} == {"BTCUSDT", "ETHUSDT"}
    assert fake.rate_limited == 0


async def test_a_subscription_of_unknown_symbols_only_is_refused(make_fake: FakeFactory) -> None:
    fake = await make_fake(symbols=("BTCUSDT",))
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("ok", SubscriptionConfig(["BTCUSDT"], ["price"]))
    with pytest.raises(SubscriptionError, match="NOPEUSDT") as refused:
        await run.client.subscribe("bad", SubscriptionConfig(["NOPEUSDT"], ["price"]))
    assert refused.value.code == "invalid_symbol" and refused.value.subscription_id == "bad"
    assert set(run.client.subscriptions) == {"ok"}
    await wait_until(lambda: len(run.of("price")) >= 2)
    await run.client.disconnect()
    assert not any("nopeusdt" in str(f) for f in fake.received[0])  # refused before asking


async def test_a_restored_subscription_leaves_the_refused_symbol_out(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake(symbols=("BTCUSDT",), abort_after=30)
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTCUSDT", "NOPEUSDT"], ["volume"]))
    await wait_until(lambda: run.client.reconnect_count == 1 and len(fake.received) == 2)
    await wait_until(lambda: len(subscribes(fake.received[1])) == 1)
    await run.client.disconnect()
    assert subscribes(fake.received[1]) == [["btcusdt@trade"]]
    checks = [r for r in fake.rest_requests if r.startswith("/api/v3/exchangeInfo")]
    assert len(checks) == 3  # both, then one each: not asked again after the reconnect


async def test_list_symbols_reads_exchange_info(make_fake: FakeFactory) -> None:
    fake = await make_fake(symbols=("BTCUSDT", "ETHUSDT", "BNBBTC"))
    run = Run(fake)
    assert await run.client.connect()
    try:
        assert await run.client.list_symbols() == ["BTCUSDT", "ETHUSDT", "BNBBTC"]
    finally:
        await run.client.disconnect()
    assert fake.rest_requests == ["/api/v3/exchangeInfo"]


async def test_a_combined_stream_url_is_used_as_given(make_fake: FakeFactory) -> None:
    fake = await make_fake(symbols=("BTCUSDT", "ETHUSDT"))
    session = BinanceSession(rest_url=fake.rest_url)
    url = f"{fake.base_url}/stream?streams=btcusdt@depth5@100ms"  # wrapped, plus ours
    client = WebSocketClient(fast_config(url), provider=session)
    seen: list[dict[str, Any]] = []
    client.add_frame_handler(seen.extend)
    assert await client.connect()
    await client.subscribe("s", SubscriptionConfig(["ETHUSDT"], ["volume", "orderbook"]))
    await wait_until(
        lambda: (
            sum(m["type"] == "volume" for m in seen) >= 5
            and sum(m["type"] == "orderbook" for m in seen) >= 5
        )
    )
    await client.disconnect()
    assert {m["symbol"] for m in seen if "symbol" in m} == {"ETHUSDT"}  # BTCUSDT: nobody's
    assert all(check_event(m) == [] for m in seen if m["type"] != "gap")
    assert client.stats_snapshot()["decode_errors"] == 0
