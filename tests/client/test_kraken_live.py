"""The real client with ``KrakenSession`` over real sockets against the fake Kraken v2
feed: normalized prices, trades and CRC32-verified books; an abort mid-stream
reconnects with no trade printed twice (the trade snapshot's repeats left out) and
every hole a gap line; a corrupted checksum hides that book until a new snapshot; an
unknown pair is reported while the others stream; application pings keep an
otherwise idle connection open."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest

from argus_cli import SubscriptionConfig, WebSocketClient
from argus_cli.events import check_event
from argus_cli.exceptions import SubscriptionError
from argus_cli.protocol.kraken import KrakenSession
from argus_cli.protocol.session import Message, Received
from argus_cli.testing.fakes.kraken import FakeKraken
from argus_cli.testing.seqcheck import check
from tests.client.helpers import fast_config, wait_until

ALL = ["price", "volume", "orderbook"]

FakeFactory = Callable[..., Awaitable[FakeKraken]]


@pytest.fixture
async def make_fake() -> AsyncIterator[FakeFactory]:
    started: list[FakeKraken] = []

    async def factory(**options: Any) -> FakeKraken:
        fake = FakeKraken(**options)
        await fake.start()
        started.append(fake)
        return fake

    yield factory
    for fake in started:
        await fake.stop()


class Recording(KrakenSession):
    """A KrakenSession that keeps every frame with the events and errors it gave."""

    def __init__(self, **options: Any) -> None:
        self.log: list[tuple[dict[str, Any], list[Message], int]] = []
        super().__init__(**options)

    def receive(self, frame: str | bytes, now: float) -> Received:
        received = super().receive(frame, now)
        self.log.append((orjson.loads(frame), list(received.events), len(received.errors)))
        return received


class Run:
    """A client on the fake, with everything it delivered."""

    def __init__(self, fake: FakeKraken, **options: Any) -> None:
        self.session = Recording(**options)
        self.client = WebSocketClient(fast_config(fake.url), provider=self.session)
        self.seen: list[dict[str, Any]] = []
        self.client.add_frame_handler(self.seen.extend)

    def of(self, kind: str, symbol: str | None = None) -> list[dict[str, Any]]:
        return [
            m for m in self.seen if m["type"] == kind and (symbol is None or m["symbol"] == symbol)
        ]

    def trades(self) -> list[dict[str, Any]]:
        return [m for m in self.seen if m["type"] in ("volume", "gap")]


def sent(fake: FakeKraken, connection: int, method: str, channel: str) -> list[dict[str, Any]]:
    """The ``method`` frames for ``channel`` the fake received on one connection."""
    return [
        f
        for f in fake.received[connection]
        if f.get("method") == method and f.get("params", {}).get("channel") == channel
    ]


async def test_prices_trades_and_books_arrive_normalized_and_verified(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake(symbols=("BTC/USD", "ETH/USD", "MATIC/USD"))
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTC/USD", "ETH/USD"], ALL))
    wanted = [(k, s) for k in ALL for s in ("BTC/USD", "ETH/USD")]
    await wait_until(lambda: all(len(run.of(k, s)) >= 5 for k, s in wanted))
    await run.client.disconnect()
    data = [m for m in run.seen if m["type"] in ("price", "volume", "orderbook", "gap")]
    assert {m["symbol"] for m in data} == {"BTC/USD", "ETH/USD"}  # not MATIC/USD
    for message in data:
        assert check_event(message) == [], message
        assert message["source"] == "kraken" and message["sub"] == "s"
    assert run.of("gap") == []
    for price in run.of("price"):
        assert price["bid"] < price["ask"] and isinstance(price["timestamp"], float)
        assert "seq" not in price and price["price"] > 0
    for book in run.of("orderbook"):
        assert 0 < len(book["bids"]) <= 10 and 0 < len(book["asks"]) <= 10
        assert book["bids"][0][0] < book["asks"][0][0]
        assert book["bids"] == sorted(book["bids"], reverse=True)
        assert book["asks"] == sorted(book["asks"])
        assert "seq" not in book and isinstance(book["timestamp"], float)
    for symbol in ("BTC/USD", "ETH/USD"):
        ids = [v["seq"] for v in run.of("volume", symbol)]
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous
        assert ids[0] > fake.first_trade_id * (1 if symbol == "BTC/USD" else 2)  # live only
    # every book message's checksum matched, with precisions found from the checksums
    assert run.client.stats_snapshot()["decode_errors"] == 0
    for symbol in ("BTC/USD", "ETH/USD"):
        inst = fake.instrument(symbol)
        found = run.session._precisions[symbol].found
        assert found == (inst.price_precision, inst.qty_precision)
    connection_id = run.client.stats_snapshot()["connection_id"]
    assert isinstance(connection_id, str) and int(connection_id) >= 2**63
    assert "snapshot" not in sent(fake, 0, "subscribe", "trade")[0]["params"]
    assert sent(fake, 0, "subscribe", "book")[0]["params"]["depth"] == 10


async def test_an_abort_reconnects_with_no_trade_twice_and_every_hole_a_gap(
    make_fake: FakeFactory,
) -> None:
    dropped = {"BTC/USD": {2005, 2006}, "ETH/USD": {4003}}
    fake = await make_fake(
        symbols=("BTC/USD", "ETH/USD"),
        interval=0.05,  # 50 trades of snapshot span more than the reconnect
        abort_after=20,  # about 10 market ticks in: after the dropped trades
        drop_trades=dropped,
        first_trade_id=2000,
    )
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTC/USD", "ETH/USD"], ["volume"]))
    await wait_until(lambda: fake.aborted == 1 and run.client.reconnect_count == 1)
    resumed = len(run.of("volume"))
    await wait_until(lambda: len(run.of("volume")) > resumed + 10)
    await run.client.disconnect()
    log = run.session.log
    second = [i for i, (msg, _, _) in enumerate(log) if msg.get("channel") == "status"][1]
    first_connection = [e for _, events, _ in log[:second] for e in events]
    before = {s: max(e["seq"] for e in first_connection if e["symbol"] == s) for s in dropped}
    for symbol in dropped:
        ids = [v["seq"] for v in run.of("volume", symbol)]
        assert len(ids) == len(set(ids)) and ids == sorted(ids)  # never twice, in order
    report = check(run.trades())
    assert report.duplicated == report.out_of_order == report.lost == 0
    covered = {
        (g["symbol"], n) for g in run.of("gap") for n in range(g["from_seq"], g["to_seq"] + 1)
    }
    # the trades missed while reconnecting came back in the snapshot: only the dropped
    # ones are holes
    assert covered == {(s, n) for s, ids in dropped.items() for n in ids}
    # the restored subscription asked for the snapshot, whose repeats were left out
    (restored,) = sent(fake, 1, "subscribe", "trade")
    assert restored["params"]["snapshot"] is True
    snapshots = [
        (msg, events)
        for msg, events, _ in log
        if msg.get("channel") == "trade" and msg.get("type") == "snapshot"
    ]
    assert snapshots
    for msg, events in snapshots:
        symbol = msg["data"][0]["symbol"]
        repeated = [r["trade_id"] for r in msg["data"] if r["trade_id"] <= before[symbol]]
        assert repeated  # the snapshot held trades printed before the abort
        assert all(e["seq"] > before[symbol] for e in events)
    assert run.client.failure is None


async def test_a_hole_in_the_trade_ids_is_a_gap_line(make_fake: FakeFactory) -> None:
    fake = await make_fake(
        symbols=("BTC/USD",),
        paused=True,
        max_trades=6,
        drop_trades={"BTC/USD": {1003}},
        first_trade_id=1000,
    )
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTC/USD"], ["volume"]))
    fake.paused = False
    await wait_until(lambda: len(run.of("volume")) == 5 and len(run.of("gap")) == 1)
    await run.client.disconnect()
    assert [v["seq"] for v in run.of("volume")] == [1001, 1002, 1004, 1005, 1006]
    (gap,) = run.of("gap")
    assert (gap["from_seq"], gap["to_seq"]) == (1003, 1003)
    assert check_event(gap) == [] and gap["source"] == "kraken"
    assert run.client.gaps == 1


async def test_a_corrupted_checksum_hides_that_book_until_a_new_snapshot(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake(symbols=("BTC/USD", "ETH/USD"), corrupt_checksum_after=30)
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTC/USD", "ETH/USD"], ["orderbook"]))
    await wait_until(lambda: bool(fake.corrupted))
    (symbol, wrong, _) = fake.corrupted[0]
    log = run.session.log

    def books_after_resync() -> int:
        return sum(
            1
            for msg, events, _ in log
            if msg.get("channel") == "book" and msg.get("type") == "snapshot"
            for e in events
            if e["symbol"] == symbol
        )

    await wait_until(lambda: books_after_resync() == 2 and len(run.of("orderbook", symbol)) > 20)
    await run.client.disconnect()
    assert run.client.stats_snapshot()["decode_errors"] == 1  # that one; every other matched
    bad = next(
        i
        for i, (msg, _, _) in enumerate(log)
        if msg.get("channel") == "book" and msg["data"][0]["checksum"] == wrong
    )
    assert log[bad][1] == [] and log[bad][2] == 1
    shown_again = next(
        i
        for i, (msg, _, _) in enumerate(log)
        if i > bad and msg.get("type") == "snapshot" and msg["data"][0]["symbol"] == symbol
    )
    hidden = [e for _, events, _ in log[bad:shown_again] for e in events if e["symbol"] == symbol]
    assert hidden == []  # nothing from that book between the mismatch and the snapshot
    assert [e["symbol"] for e in log[shown_again][1]] == [symbol]
    after = [e for _, events, _ in log[shown_again:] for e in events if e["symbol"] == symbol]
    assert len(after) > 5 and all(
        check_event(e | {"source": "kraken", "received": 0.0}) == [] for e in after
    )
    # resubscribed: unsubscribe then subscribe of that book alone, on the same connection
    again = [
        (f["method"], f["params"]["symbol"])
        for f in fake.received[0]
        if f.get("params", {}).get("channel") == "book"
    ]
    assert again == [
        ("subscribe", ["BTC/USD", "ETH/USD"]),
        ("unsubscribe", [symbol]),
        ("subscribe", [symbol]),
    ]
    assert fake.connections == 1 and run.client.failure is None


async def test_an_unknown_pair_is_reported_while_the_others_stream(
    make_fake: FakeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    fake = await make_fake(symbols=("BTC/USD", "ETH/USD"))
    run = Run(fake)
    assert await run.client.connect()
    with caplog.at_level(logging.WARNING, logger="argus_cli.client"):
        await run.client.subscribe(
            "s", SubscriptionConfig(["BTC/USD", "XBT/USD", "ETH/USD"], ["price", "volume"])
        )
    await wait_until(lambda: all(len(run.of("volume", s)) >= 3 for s in ("BTC/USD", "ETH/USD")))
    await run.client.disconnect()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("XBT/USD" in w and "invalid_symbol" in w for w in warnings), warnings
    assert len(fake.errors_sent) == 2  # one per channel
    assert all(e["symbol"] == "XBT/USD" for e in fake.errors_sent)
    assert "s" in run.client.subscriptions  # the subscription stands
    assert {m["symbol"] for m in run.seen if "symbol" in m} == {"BTC/USD", "ETH/USD"}


async def test_a_subscription_of_unknown_pairs_only_is_refused(make_fake: FakeFactory) -> None:
    fake = await make_fake(symbols=("BTC/USD",))
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("ok", SubscriptionConfig(["BTC/USD"], ["volume"]))
    with pytest.raises(SubscriptionError, match="XBT/USD") as refused:
        await run.client.subscribe("bad", SubscriptionConfig(["XBT/USD"], ["price", "volume"]))
    assert refused.value.code == "invalid_symbol" and refused.value.subscription_id == "bad"
    assert set(run.client.subscriptions) == {"ok"}
    await wait_until(lambda: len(run.of("volume")) >= 2)
    await run.client.disconnect()


async def test_a_restored_subscription_leaves_the_refused_pair_out(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake(symbols=("BTC/USD",), abort_after=10)
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTC/USD", "XBT/USD"], ["price"]))
    await wait_until(lambda: run.client.reconnect_count == 1 and len(fake.received) == 2)
    await wait_until(lambda: len(sent(fake, 1, "subscribe", "ticker")) == 1)
    await run.client.disconnect()
    assert sent(fake, 1, "subscribe", "ticker")[0]["params"]["symbol"] == ["BTC/USD"]
    assert len(fake.errors_sent) == 1  # refused once, not on every reconnect


async def test_application_pings_keep_an_idle_connection_open(make_fake: FakeFactory) -> None:
    fake = await make_fake(symbols=("BTC/USD",), idle_timeout=0.4, paused=True)
    run = Run(fake, ping_interval=0.1)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTC/USD"], ["volume"]))

    def pings() -> int:
        return sum(1 for f in fake.requests if f.get("method") == "ping")

    await wait_until(lambda: pings() >= 10)  # a second: the idle timeout 2.5 times over
    await run.client.disconnect()
    assert fake.idle_closed == 0 and fake.connections == 1
    assert run.client.reconnect_count == 0 and run.client.failure is None


async def test_without_pings_the_feed_closes_the_idle_connection(make_fake: FakeFactory) -> None:
    fake = await make_fake(symbols=("BTC/USD",), idle_timeout=0.3, paused=True)
    run = Run(fake, ping_interval=30)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["BTC/USD"], ["volume"]))
    await wait_until(lambda: fake.idle_closed >= 1 and run.client.reconnect_count >= 1)
    await run.client.disconnect()
    assert not [f for f in fake.requests if f.get("method") == "ping"]


async def test_ping_is_answered_by_the_feeds_pong(make_fake: FakeFactory) -> None:
    fake = await make_fake(symbols=("BTC/USD",))
    run = Run(fake)
    assert await run.client.connect()
    try:
        rtt = await run.client.ping()
        assert 0 < rtt < 1
        (ping,) = [f for f in fake.requests if f.get("method") == "ping"]
        assert type(ping["req_id"]) is int
        assert any(
            msg.get("method") == "pong" and msg.get("req_id") == ping["req_id"]
            for msg, _, _ in run.session.log
        )
    finally:
        await run.client.disconnect()
