"""The real client with ``AlpacaSession`` over real sockets against the fake Alpaca
stream: auth by message, then quotes and trades as price and volume lines; a refused
key (402) stops the client at once; an abort reconnects, authenticates and resumes;
symbols Alpaca refuses are reported while the others stream; the plan's limits."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from argus_cli import SubscriptionConfig, WebSocketClient
from argus_cli.client.config import ConnectionState
from argus_cli.client.transports.options import handshake_headers
from argus_cli.events import check_event
from argus_cli.exceptions import (
    AuthenticationError,
    ConfigError,
    InsecureTransportError,
    NotOffered,
    ReconnectExhausted,
    SubscriptionError,
)
from argus_cli.protocol.alpaca import AlpacaSession
from argus_cli.testing.fakes.alpaca import FakeAlpaca
from tests.client.helpers import fast_config, wait_until

KEY, SECRET = "PKLIVETESTKEY", "live-test-secret-0123"
ALL = ["price", "volume"]

FakeFactory = Callable[..., Awaitable[FakeAlpaca]]


@pytest.fixture
async def make_fake() -> AsyncIterator[FakeFactory]:
    started: list[FakeAlpaca] = []

    async def factory(**options: Any) -> FakeAlpaca:
        options = {"symbols": ("AAPL", "MSFT", "AMD"), "key": KEY, "secret": SECRET, **options}
        fake = FakeAlpaca(**options)
        await fake.start()
        started.append(fake)
        return fake

    yield factory
    for fake in started:
        await fake.stop()


class Run:
    """A client on the fake (as the CLI makes it: key id and secret in the config)."""

    def __init__(self, url: str, key: str | None = KEY, secret: str | None = SECRET) -> None:
        config = fast_config(url, api_key=key, api_secret=secret)
        self.client = WebSocketClient(config, provider=AlpacaSession(key, secret))
        self.seen: list[dict[str, Any]] = []
        self.client.add_frame_handler(self.seen.extend)

    def of(self, kind: str, symbol: str | None = None) -> list[dict[str, Any]]:
        return [
            m for m in self.seen if m["type"] == kind and (symbol is None or m["symbol"] == symbol)
        ]


def shown(client: WebSocketClient, caplog: pytest.LogCaptureFixture) -> str:
    """Everything the client shows of itself: where a key would leak."""
    stats = client.stats_snapshot()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    return f"{client!r} {client.last_error} {client.failure} {stats} {logs}"


async def test_auth_then_quotes_and_trades_arrive_normalized(
    make_fake: FakeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    fake = await make_fake()
    run = Run(fake.url)
    with caplog.at_level(logging.DEBUG):
        assert await run.client.connect()
        await run.client.subscribe("s", SubscriptionConfig(["AAPL", "MSFT"], ALL))
        wanted = [(k, s) for k in ALL for s in ("AAPL", "MSFT")]
        await wait_until(lambda: all(len(run.of(k, s)) >= 5 for k, s in wanted))
        await run.client.disconnect()
    auth, subscribe = fake.received[0]
    assert auth == {"action": "auth", "key": KEY, "secret": SECRET}
    assert subscribe == {
        "action": "subscribe",
        "trades": ["AAPL", "MSFT"],
        "quotes": ["AAPL", "MSFT"],
    }
    data = [m for m in run.seen if m["type"] in ("price", "volume", "orderbook", "gap")]
    assert {m["symbol"] for m in data} == {"AAPL", "MSFT"}  # not AMD
    for message in data:
        assert check_event(message) == [], message
        assert message["source"] == "alpaca" and message["sub"] == "s"
        assert "seq" not in message and isinstance(message["timestamp"], float)
    assert run.of("gap") == [] and run.client.gaps == 0
    quotes = [p for p in run.of("price") if "bid" in p]
    trades = [p for p in run.of("price") if "price" in p]
    assert quotes and trades and len(quotes) + len(trades) == len(run.of("price"))
    for price in quotes:
        assert price["bid"] < price["ask"] and price["bid_size"] >= 1 and price["ask_size"] >= 1
    assert all(v["volume"] >= 1 for v in run.of("volume"))
    assert run.client.stats_snapshot()["decode_errors"] == 0
    assert SECRET not in shown(run.client, caplog)  # not even the debug log of the auth frame


async def test_a_refused_key_stops_the_client_at_once(
    make_fake: FakeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    fake = await make_fake()
    wrong = "wrong-secret-4567"
    run = Run(fake.url, secret=wrong)
    with caplog.at_level(logging.DEBUG):
        await run.client.connect()
        await run.client.subscribe("s", SubscriptionConfig(["AAPL"], ALL))
        await wait_until(lambda: run.client.failure is not None)
    failure = run.client.failure
    assert isinstance(failure, AuthenticationError) and failure.status == 402
    assert "refused the key id and secret" in str(failure)
    assert run.client.state is ConnectionState.ERROR and run.client.reconnect_count == 0
    assert fake.connections == 1 and fake.errors_sent == [
        {"T": "error", "code": 402, "msg": "auth failed"}
    ]
    assert [f["action"] for f in fake.received[0]] == ["auth"]  # the subscribe was held
    everything = shown(run.client, caplog)
    assert wrong not in everything and KEY not in everything
    await run.client.disconnect()


async def test_a_missing_secret_is_a_config_error_before_connecting(make_fake: FakeFactory) -> None:
    fake = await make_fake()
    run = Run(fake.url, secret=None)
    assert not await run.client.connect()
    assert isinstance(run.client.failure, ConfigError)
    assert "ARGUS_API_SECRET" in str(run.client.failure) and fake.connections == 0
    await run.client.disconnect()


async def test_an_abort_reconnects_authenticates_and_resumes(make_fake: FakeFactory) -> None:
    fake = await make_fake(abort_after=40)
    run = Run(fake.url)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["AAPL", "MSFT"], ALL))
    await wait_until(lambda: fake.aborted == 1 and run.client.reconnect_count == 1)
    resumed = len(run.seen)
    await wait_until(
        lambda: (
            {m["symbol"] for m in run.seen[resumed:] if m["type"] == "volume"} == {"AAPL", "MSFT"}
        )
    )
    await run.client.disconnect()
    assert fake.received[1] == fake.received[0]  # auth, then the subscription restored
    assert [f["action"] for f in fake.received[1]] == ["auth", "subscribe"]
    assert run.of("gap") == [] and run.client.gaps == 0  # no seq: nothing to tell
    assert all(check_event(m) == [] for m in run.seen if m["type"] in ("price", "volume"))
    assert run.client.failure is None


async def test_a_symbol_alpaca_refuses_is_reported_while_the_others_stream(
    make_fake: FakeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    fake = await make_fake()
    run = Run(fake.url)
    assert await run.client.connect()
    with caplog.at_level(logging.WARNING, logger="argus_cli.client"):
        # BRK-B is not a symbol of Alpaca's format: 400, and one frame a symbol finds it
        await run.client.subscribe("s", SubscriptionConfig(["AAPL", "BRK-B", "MSFT"], ALL))
    await wait_until(lambda: all(len(run.of("volume", s)) >= 3 for s in ("AAPL", "MSFT")))
    with pytest.raises(SubscriptionError, match="BRK-B") as refused:
        await run.client.subscribe("bad", SubscriptionConfig(["BRK-B"], ["volume"]))
    await run.client.disconnect()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("BRK-B" in w and "invalid_symbol" in w for w in warnings), warnings
    assert refused.value.code == "invalid_symbol" and set(run.client.subscriptions) == {"s"}
    assert [e["code"] for e in fake.errors_sent] == [400, 400, 400]
    assert [f.get("trades") for f in fake.received[0][1:5]] == [
        ["AAPL", "BRK-B", "MSFT"],
        ["AAPL"],
        ["BRK-B"],
        ["MSFT"],
    ]
    assert {m["symbol"] for m in run.seen if "symbol" in m} == {"AAPL", "MSFT"}


async def test_a_symbol_of_no_listed_company_is_silent(make_fake: FakeFactory) -> None:
    fake = await make_fake()
    run = Run(fake.url)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["AAPL", "NOPE"], ALL))
    await wait_until(lambda: len(run.of("volume", "AAPL")) >= 3)
    await run.client.disconnect()
    assert fake.errors_sent == [] and "s" in run.client.subscriptions
    assert run.of("price", "NOPE") == [] and run.of("volume", "NOPE") == []


async def test_beyond_the_symbol_limit_a_subscription_is_refused_and_the_rest_goes_on(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake(symbol_limit=2)
    run = Run(fake.url)
    assert await run.client.connect()
    await run.client.subscribe("s", SubscriptionConfig(["AAPL"], ALL))
    with pytest.raises(SubscriptionError, match="30 symbols") as refused:
        await run.client.subscribe("more", SubscriptionConfig(["MSFT", "AMD"], ["volume"]))
    assert refused.value.code == "symbol_limit" and set(run.client.subscriptions) == {"s"}
    count = len(run.of("volume", "AAPL"))
    await wait_until(lambda: len(run.of("volume", "AAPL")) >= count + 3)
    await run.client.disconnect()
    assert {m["symbol"] for m in run.seen if "symbol" in m} == {"AAPL"}


async def test_a_second_connection_with_the_key_is_refused_and_given_up_on(
    make_fake: FakeFactory,
) -> None:
    fake = await make_fake()
    first = Run(fake.url)
    second = Run(fake.url)
    assert await first.client.connect()
    await first.client.subscribe("s", SubscriptionConfig(["AAPL"], ["volume"]))
    await second.client.connect()
    await wait_until(lambda: second.client.failure is not None)
    failure = second.client.failure
    assert isinstance(failure, ReconnectExhausted)  # retried (a stale slot frees), then given up
    assert "406 connection limit exceeded" in str(failure) and "one connection" in str(failure)
    assert fake.connections == 1 + 3  # max_reconnect_attempts
    count = len(first.of("volume"))
    await wait_until(lambda: len(first.of("volume")) > count)  # the first one goes on
    await first.client.disconnect()
    await second.client.disconnect()


async def test_a_feed_the_plan_lacks_is_refused_for_good(make_fake: FakeFactory) -> None:
    fake = await make_fake()  # entitled to iex, not sip
    run = Run(fake.url_for("sip"))
    await run.client.connect()
    await wait_until(lambda: run.client.failure is not None)
    failure = run.client.failure
    assert isinstance(failure, AuthenticationError) and failure.status == 409
    assert "insufficient subscription" in str(failure) and fake.connections == 1
    await run.client.disconnect()


async def test_order_books_are_not_offered_and_not_kept(make_fake: FakeFactory) -> None:
    fake = await make_fake()
    run = Run(fake.url)
    assert await run.client.connect()
    try:
        with pytest.raises(NotOffered, match="no order books"):
            await run.client.subscribe("s", SubscriptionConfig(["AAPL"], ["orderbook"]))
        assert run.client.subscriptions == {}
    finally:
        await run.client.disconnect()


async def test_a_session_made_by_hand_still_has_its_secrets_redacted(
    make_fake: FakeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """An SDK user who passes ``AlpacaSession`` without the keys in the config: the
    session names its secrets in the handshake and the client redacts them."""
    key, secret = "PKHANDMADEKEY42", "hand-made-secret-98765"
    fake = await make_fake(key=key, secret=secret)
    caplog.set_level(logging.DEBUG)
    client = WebSocketClient(fast_config(fake.url), provider=AlpacaSession(key, secret))
    prices: list[dict[str, Any]] = []
    client.add_message_handler("price", prices.append)
    assert await client.connect()
    await client.subscribe("s", SubscriptionConfig(["AAPL"], ["price"]))
    await wait_until(lambda: len(prices) >= 1)
    await client.disconnect()
    assert "sent" in caplog.text  # the auth frame was logged at DEBUG...
    assert key not in caplog.text and secret not in caplog.text  # ...redacted


def test_the_auth_message_is_never_sent_in_clear_text_to_a_remote_host() -> None:
    session = AlpacaSession(KEY, SECRET)
    with pytest.raises(InsecureTransportError):
        handshake_headers(fast_config("ws://feed.example.com/v2/iex"), session.handshake(None))
    assert handshake_headers(fast_config("ws://127.0.0.1:9/v2/iex"), session.handshake(None)) == {}
