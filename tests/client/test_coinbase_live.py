"""The real client with ``CoinbaseSession`` over real sockets against the fake Coinbase
feed: normalized prices, trades and books; an abort mid-stream reconnects with no
trade printed twice and every hole a gap line; an unknown product is reported while
the others stream."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from argus_cli import SubscriptionConfig, WebSocketClient
from argus_cli.events import check_event
from argus_cli.exceptions import ConfigError, SubscriptionError
from argus_cli.protocol.coinbase import CoinbaseSession
from argus_cli.testing.fakes.coinbase import FakeCoinbase
from argus_cli.testing.seqcheck import check
from tests.client.helpers import fast_config, wait_until

ALL = ["price", "volume", "orderbook"]

FakeFactory = Callable[..., Awaitable[FakeCoinbase]]


@pytest.fixture
async def make_fake() -> AsyncIterator[FakeFactory]:
    started: list[FakeCoinbase] = []

    async def factory(**options: Any) -> FakeCoinbase:
        fake = FakeCoinbase(**options)
        await fake.start()
        started.append(fake)
        return fake

    yield factory
    for fake in started:
        await fake.stop()


class Run:
    """A client on the fake, with everything it delivered."""

    def __init__(self, fake: FakeCoinbase) -> None:
        self.client = WebSocketClient(fast_config(fake.url), provider=CoinbaseSession())
        self.seen: list[dict[str, Any]] = []
        self.client.add_frame_handler(self.seen.extend)

    def of(self, kind: str, symbol: str | None = None) -> list[dict[str, Any]]:
        return [
            m for m in self.seen if m["type"] == kind and (symbol is None or m["symbol"] == symbol)
        ]

    def trades(self) -> list[dict[str, Any]]:
        return [m for m in self.seen if m["type"] in ("volume", "gap")]


async def test_prices_trades_and_books_arrive_normalized(make_fake: FakeFactory) -> None:
    fake = await make_fake(products=("BTC-USD", "ETH-USD", "SOL-USD"))
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTC-USD", "ETH-USD"], ALL))
    wanted = [(k, s) for k in ALL for s in ("BTC-USD", "ETH-USD")]
    await wait_until(lambda: all(len(run.of(k, s)) >= 5 for k, s in wanted))
    await run.client.disconnect()
    data = [m for m in run.seen if m["type"] in ("price", "volume", "orderbook", "gap")]
    assert {m["symbol"] for m in data} == {"BTC-USD", "ETH-USD"}  # not SOL-USD
    for message in data:
        assert check_event(message) == [], message
        assert message["source"] == "coinbase" and message["sub"] == "s"
    assert run.of("gap") == []  # a clean run: the jumping `sequence` is no gap
    for price in run.of("price"):
        assert price["bid"] < price["ask"] and isinstance(price["timestamp"], float)
        assert "seq" not in price
    for book in run.of("orderbook"):
        assert 0 < len(book["bids"]) <= 10 and 0 < len(book["asks"]) <= 10
        assert book["bids"][0][0] < book["asks"][0][0]
        assert book["bids"] == sorted(book["bids"], reverse=True)
        assert "seq" not in book
    first_book = run.of("orderbook", "BTC-USD")[0]
    assert "timestamp" not in first_book  # the snapshot has no time; updates do
    assert all("timestamp" in b for b in run.of("orderbook", "BTC-USD")[1:])
    for symbol in ("BTC-USD", "ETH-USD"):
        ids = [v["seq"] for v in run.of("volume", symbol)]
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous, from last_match
    report = check(run.trades())
    assert report.duplicated == report.lost == report.gapped == 0
    assert run.client.stats_snapshot()["decode_errors"] == 0


async def test_an_abort_reconnects_with_no_trade_twice_and_every_hole_a_gap(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake(
        products=("BTC-USD", "ETH-USD"),
        paused=True,
        abort_after=60,  # about 9 market ticks in: after the dropped trades
        drop_trades={"BTC-USD": {2005, 2006}, "ETH-USD": {4003}},
        first_trade_id=2000,
    )
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTC-USD", "ETH-USD"], ALL))
    await wait_until(lambda: len(run.of("volume")) == 2)  # last_match of each
    fake.paused = False
    await wait_until(lambda: fake.aborted == 1 and run.client.reconnect_count == 1)
    resumed = len(run.seen)
    await wait_until(lambda: len(run.of("volume")) > 0 and len(run.seen) > resumed + 60)
    await run.client.disconnect()
    volumes = run.of("volume")
    for symbol in ("BTC-USD", "ETH-USD"):
        ids = [v["seq"] for v in volumes if v["symbol"] == symbol]
        assert len(ids) == len(set(ids)) and ids == sorted(ids)  # never twice, in order
    report = check(run.trades())
    assert report.duplicated == report.out_of_order == report.lost == 0
    assert report.gapped >= 3  # the dropped trades, and any missed while reconnecting
    covered = {
        (g["symbol"], n) for g in run.of("gap") for n in range(g["from_seq"], g["to_seq"] + 1)
    }
    assert {("BTC-USD", 2005), ("BTC-USD", 2006), ("ETH-USD", 4003)} <= covered
    books = run.of("orderbook")
    assert all(check_event(b) == [] for b in books)
    assert len(fake.received) == 2 and fake.received[1][0]["type"] == "subscribe"  # restored
    assert run.client.failure is None


async def test_a_trade_lost_before_a_quiet_spell_is_a_heartbeat_gap(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake(
        products=("BTC-USD",), paused=True, max_trades=5, drop_trades={"BTC-USD": {1005}}
    )
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTC-USD"], ["volume"]))
    await wait_until(lambda: len(run.of("volume")) == 1)  # last_match: trade 1000
    fake.paused = False
    await wait_until(lambda: len(run.of("gap")) == 1)
    await run.client.disconnect()
    assert [v["seq"] for v in run.of("volume")] == [1000, 1001, 1002, 1003, 1004]
    (gap,) = run.of("gap")
    assert (gap["from_seq"], gap["to_seq"], gap["reason"]) == (1005, 1005, "heartbeat")
    assert check_event(gap) == [] and gap["source"] == "coinbase"
    assert run.client.gaps == 1


@pytest.mark.parametrize(
    ("reason", "frames", "errors"),
    [
        ("{product} is not a valid product", 2, 1),  # named: sent again without it
        ("Invalid product ID provided", 4, 2),  # unnamed: one frame a product finds it
    ],
)
async def test_an_unknown_product_is_reported_while_the_others_stream(
    make_fake: FakeFactory,
    caplog: pytest.LogCaptureFixture,
    reason: str,
    frames: int,
    errors: int,
) -> None:
    fake = await make_fake(products=("BTC-USD", "ETH-USD"), invalid_product_reason=reason)
    run = Run(fake)
    assert await run.client.connect()
    with caplog.at_level(logging.WARNING, logger="argus_cli.client"):
        await run.client.subscribe(
            "s", SubscriptionConfig(["BTC-USD", "NOPE-USD", "ETH-USD"], ["price", "volume"])
        )
    await wait_until(lambda: all(len(run.of("volume", s)) >= 3 for s in ("BTC-USD", "ETH-USD")))
    await run.client.disconnect()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("NOPE-USD" in w and "invalid_symbol" in w for w in warnings), warnings
    assert len(fake.errors_sent) == errors and len(fake.received[0]) == frames
    assert "NOPE-USD" not in str(fake.received[0][-1])
    assert "s" in run.client.subscriptions  # the subscription stands
    assert {m["symbol"] for m in run.seen if "symbol" in m} == {"BTC-USD", "ETH-USD"}


async def test_a_subscription_of_unknown_products_only_is_refused(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake(products=("BTC-USD",))
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("ok", SubscriptionConfig(["BTC-USD"], ["price"]))
    with pytest.raises(SubscriptionError, match="NOPE-USD") as refused:
        await run.client.subscribe("bad", SubscriptionConfig(["NOPE-USD"], ["price"]))
    assert refused.value.code == "invalid_symbol" and refused.value.subscription_id == "bad"
    assert set(run.client.subscriptions) == {"ok"}
    await wait_until(lambda: len(run.of("price")) >= 2)
    await run.client.disconnect()


async def test_a_restored_subscription_leaves_the_refused_product_out(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake(products=("BTC-USD",), abort_after=20)
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTC-USD", "NOPE-USD"], ALL))
    await wait_until(lambda: run.client.reconnect_count == 1 and len(fake.received) == 2)
    await wait_until(lambda: len(fake.received[1]) == 1)
    await run.client.disconnect()
    assert fake.received[1][0]["product_ids"] == ["BTC-USD"]
    assert len(fake.errors_sent) == 1  # refused once, not on every reconnect


async def test_a_connection_that_subscribes_to_nothing_is_closed_by_the_feed(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake(products=("BTC-USD",), subscribe_within=0.2)
    run = Run(fake)
    assert await run.client.connect()
    await wait_until(lambda: run.client.reconnect_count >= 1)  # closed, and opened again
    await run.client.subscribe("s", SubscriptionConfig(["BTC-USD"], ["price"]))
    await wait_until(lambda: len(run.of("price")) >= 2)
    await run.client.disconnect()
    assert fake.connections >= 2 and run.client.failure is None


async def test_a_subscription_coinbase_cannot_serve_is_refused_and_not_kept(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake(products=("BTC-USD",), abort_after=10)
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("ok", SubscriptionConfig(["BTC-USD"], ["price"]))
    with pytest.raises(ConfigError, match="real time only"):
        await run.client.subscribe("s", SubscriptionConfig(["BTC-USD"], ["price"], "1s"))
    try:
        assert "s" not in run.client.subscriptions
        await wait_until(lambda: run.client.reconnect_count == 1 or run.client.failure is not None)
        assert run.client.failure is None
    finally:
        await run.client.disconnect()


async def test_ping_times_a_websocket_ping_where_the_venue_has_none(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake(products=("BTC-USD",))
    run = Run(fake)
    assert await run.client.connect()
    try:
        await run.client.subscribe("s", SubscriptionConfig(["BTC-USD"], ["price"]))
        rtt = await run.client.ping()
        assert 0 < rtt < 1
        assert (await run.client.get_stats())["messages_sent"] == 1  # the subscribe only
    finally:
        await run.client.disconnect()
