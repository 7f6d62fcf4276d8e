"""The real client with ``FinnhubSession`` over real sockets against the fake Finnhub
stream: the token in the URL's query, never shown; trades as volume and price lines;
a refused token stops the client at once; an abort reconnects and resubscribes;
pings give nothing; unknown symbols, silent or named by an error."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from argus_cli import SubscriptionConfig, WebSocketClient
from argus_cli.client.config import ConnectionState
from argus_cli.events import check_event
from argus_cli.exceptions import AuthenticationError, NotOffered
from argus_cli.protocol.finnhub import FinnhubSession
from argus_cli.testing.fakes.finnhub import FakeFinnhub
from tests.client.helpers import fast_config, wait_until

TOKEN = "finnhub-live-token-0123"
# Finnhub spells FX "OANDA:EUR_USD", but argus symbols have no "_" (SubscriptionConfig)
SYMBOLS = ("AAPL", "MSFT", "BINANCE:BTCUSDT", "OANDA:EURUSD")
ALL = ["price", "volume"]

FakeFactory = Callable[..., Awaitable[FakeFinnhub]]


@pytest.fixture
async def make_fake() -> AsyncIterator[FakeFactory]:
    started: list[FakeFinnhub] = []

    async def factory(**options: Any) -> FakeFinnhub:
        fake = FakeFinnhub(**{"symbols": SYMBOLS, "tokens": (TOKEN,), **options})
        await fake.start()
        started.append(fake)
        return fake

    yield factory
    for fake in started:
        await fake.stop()


class Run:
    """A client on the fake, with everything it delivered."""

    def __init__(self, fake: FakeFinnhub, token: str = TOKEN) -> None:
        self.client = WebSocketClient(
            fast_config(fake.url, api_key=token), provider=FinnhubSession()
        )
        self.seen: list[dict[str, Any]] = []
        self.client.add_frame_handler(self.seen.extend)

    def of(self, kind: str, symbol: str | None = None) -> list[dict[str, Any]]:
        return [
            m for m in self.seen if m["type"] == kind and (symbol is None or m["symbol"] == symbol)
        ]


def shown(client: WebSocketClient, caplog: pytest.LogCaptureFixture) -> str:
    """Everything the client shows of itself: where a token would leak."""
    stats = client.stats_snapshot()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    return f"{client!r} {client.last_error} {client.failure} {client.config!r} {stats} {logs}"


async def test_trades_arrive_as_volume_and_price_lines_and_the_token_is_never_shown(
    make_fake: FakeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    fake = await make_fake()
    run = Run(fake)
    symbols = ["AAPL", "BINANCE:BTCUSDT", "OANDA:EURUSD"]
    with caplog.at_level(logging.DEBUG):
        assert await run.client.connect()
        await run.client.subscribe("s", SubscriptionConfig(symbols, ALL))
        await wait_until(lambda: all(len(run.of("price", s)) >= 5 for s in symbols))
        await run.client.disconnect()
    (path,) = fake.paths
    assert parse_qs(urlsplit(path).query) == {"token": [TOKEN]}  # the token reached the fake
    assert fake.received[0] == [{"type": "subscribe", "symbol": s} for s in symbols]
    data = [m for m in run.seen if m["type"] in ("price", "volume", "orderbook", "gap")]
    assert {m["symbol"] for m in data} == set(symbols)  # not MSFT
    for message in data:
        assert check_event(message) == [], message
        assert message["source"] == "finnhub" and message["sub"] == "s"
        assert "seq" not in message and isinstance(message["timestamp"], float)
    assert run.of("gap") == [] and run.client.gaps == 0
    assert run.of("volume", "AAPL") and run.of("volume", "BINANCE:BTCUSDT")
    assert run.of("volume", "OANDA:EURUSD") == []  # FX rows (v 0) are price updates
    assert all(v["volume"] > 0 for v in run.of("volume"))
    assert run.client.stats_snapshot()["decode_errors"] == 0
    assert TOKEN not in shown(run.client, caplog)


async def test_a_refused_token_stops_the_client_at_once(
    make_fake: FakeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    fake = await make_fake()
    wrong = "not-a-finnhub-token-9876"
    run = Run(fake, token=wrong)
    with caplog.at_level(logging.DEBUG):
        assert not await run.client.connect()
    failure = run.client.failure
    assert isinstance(failure, AuthenticationError) and failure.status == 401
    assert run.client.state is ConnectionState.ERROR
    assert fake.refused == [401] and len(fake.paths) == 1  # never retried
    assert wrong in fake.paths[0]  # it was sent, and is shown nowhere
    assert wrong not in shown(run.client, caplog)
    await run.client.disconnect()


async def test_an_abort_reconnects_resubscribes_and_resumes(make_fake: FakeFactory) -> None:
    fake = await make_fake(abort_after=20)
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("a", SubscriptionConfig(["AAPL", "MSFT"], ALL))
    await run.client.subscribe("b", SubscriptionConfig(["MSFT"], ["volume"]))
    await wait_until(lambda: fake.aborted == 1 and run.client.reconnect_count == 1)
    resumed = len(run.seen)
    await wait_until(
        lambda: (
            {(m["sub"], m["symbol"]) for m in run.seen[resumed:] if m["type"] == "volume"}
            == {("a", "AAPL"), ("a", "MSFT"), ("b", "MSFT")}
        )
    )
    await run.client.disconnect()
    once = [{"type": "subscribe", "symbol": s} for s in ("AAPL", "MSFT")]
    assert fake.received[0] == fake.received[1] == once  # MSFT once for both subscriptions
    assert run.of("gap") == [] and run.client.gaps == 0  # no seq: nothing to tell
    assert all(check_event(m) == [] for m in run.seen if m["type"] in ("price", "volume"))
    assert run.client.failure is None


async def test_pings_give_nothing(make_fake: FakeFactory) -> None:
    fake = await make_fake(paused=True, ping_interval=0.05)
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["AAPL"], ALL))
    await wait_until(lambda: fake.pings_sent >= 3)
    fake.paused = False
    await wait_until(lambda: len(run.of("volume")) >= 2)
    await run.client.disconnect()
    stats = run.client.stats_snapshot()
    assert stats["decode_errors"] == stats["unknown_messages"] == stats["errors"] == 0
    assert {m["type"] for m in run.seen} == {"price", "volume"}


async def test_an_unknown_symbol_is_silent_and_the_others_stream(make_fake: FakeFactory) -> None:
    fake = await make_fake()
    run = Run(fake)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["AAPL", "NOPE"], ALL))
    await wait_until(lambda: len(run.of("volume", "AAPL")) >= 3)
    await run.client.disconnect()
    assert fake.errors_sent == [] and "s" in run.client.subscriptions
    assert {m["symbol"] for m in run.seen} == {"AAPL"}


async def test_an_unknown_symbol_an_error_names_is_reported_and_left_out(
    make_fake: FakeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    fake = await make_fake(unknown_symbol_error="Invalid symbol {symbol}", abort_after=30)
    run = Run(fake)
    assert await run.client.connect()
    with caplog.at_level(logging.WARNING, logger="argus_cli.client"):
        await run.client.subscribe("s", SubscriptionConfig(["AAPL", "NOPE"], ALL))
        await run.client.subscribe("bad", SubscriptionConfig(["NOPE"], ["price"]))
        await wait_until(lambda: "bad" not in run.client.subscriptions)
        await wait_until(lambda: run.client.reconnect_count == 1 and len(fake.received) == 2)
        await wait_until(lambda: len(fake.received[1]) == 1)
    await run.client.disconnect()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("NOPE" in w and "invalid_symbol" in w for w in warnings), warnings
    assert set(run.client.subscriptions) == {"s"}
    assert fake.received[1] == [{"type": "subscribe", "symbol": "AAPL"}]  # restored without it
    assert len(fake.errors_sent) == 1


async def test_order_books_are_not_offered_and_not_kept(make_fake: FakeFactory) -> None:
    fake = await make_fake()
    run = Run(fake)
    assert await run.client.connect()
    try:
        with pytest.raises(NotOffered, match="trades only: --types price,volume"):
            await run.client.subscribe("s", SubscriptionConfig(["AAPL"], ["price", "orderbook"]))
        assert run.client.subscriptions == {} and fake.received[0] == []
    finally:
        await run.client.disconnect()
