"""The SDK against the real simulator over 127.0.0.1: every documented method."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest

from argus_cli import (
    AuthenticationError,
    ConfigError,
    ConnectionState,
    QuickStartClient,
    ReconnectExhausted,
    SubscriptionConfig,
    SubscriptionError,
    SubscriptionLimitError,
    WebSocketClient,
    WebSocketClientManager,
)
from argus_cli.sim import Simulator
from tests.client.helpers import fast_config, wait_until
from tests.conftest import SimFactory


def reset_all(sim: Simulator) -> None:
    """Abort every server-side connection: a TCP reset, no close frame."""
    for session in list(sim.sessions):
        session.ws.transport.abort()


async def test_quick_start_prints_price_updates(sim: Simulator) -> None:
    client = await QuickStartClient.create(sim.url)
    assert await client.connect()
    updates: list[dict[str, Any]] = []
    sub_id = await QuickStartClient.subscribe_stocks(
        client, ["AAPL", "GOOGL", "MSFT"], updates.append
    )
    try:
        await wait_until(lambda: {u["symbol"] for u in updates} == {"AAPL", "GOOGL", "MSFT"})
    finally:
        await client.disconnect()
    assert all(u["type"] == "price" and u["sub"] == sub_id for u in updates)
    assert all(u["source"] == "argus" and u["received"] >= u["timestamp"] - 1 for u in updates)


async def test_connect_subscribe_handlers_and_stats(sim: Simulator) -> None:
    client = WebSocketClient(fast_config(sim.url))
    assert client.state is ConnectionState.DISCONNECTED
    assert await client.connect()
    assert client.state is ConnectionState.CONNECTED
    await client.wait_for_connection()
    sync_seen: list[dict[str, Any]] = []
    async_seen: list[dict[str, Any]] = []
    debug_seen: list[str] = []

    async def on_volume(data: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        async_seen.append(data)

    client.add_message_handler("price", sync_seen.append)
    client.add_message_handler("volume", on_volume)
    client.add_message_handler("debug", lambda m: debug_seen.append(m["type"]))
    await client.subscribe("s1", SubscriptionConfig(["AAPL", "MSFT"], ["price", "volume"]))
    await wait_until(lambda: len(sync_seen) >= 10 and len(async_seen) >= 10)
    assert "subscribed" in debug_seen and "price" in debug_seen and "volume" in debug_seen
    stats = await client.get_stats()
    for key in (
        "messages_received",
        "messages_sent",
        "reconnect_count",
        "errors",
        "state",
        "connection_id",
        "subscriptions_count",
        "uptime",
        "messages_per_second",
        "latency_p50_ms",
        "latency_p99_ms",
        "gaps",
        "last_message_age",
        "url",
    ):
        assert key in stats, key
    assert stats["state"] == "connected" and stats["subscriptions_count"] == 1
    assert stats["messages_sent"] == 1 and stats["messages_received"] >= 20
    assert len(stats["connection_id"]) == 36 and stats["errors"] == 0
    assert (
        stats["latency_p50_ms"] is not None and stats["latency_p99_ms"] >= stats["latency_p50_ms"]
    )
    assert stats["uptime"].startswith("0:00:")
    await client.unsubscribe("s1")
    assert (await client.get_stats())["subscriptions_count"] == 0
    count = len(sync_seen)
    await client.list_symbols()  # a round trip: anything in flight has arrived
    await asyncio.sleep(0.1)
    assert len(sync_seen) - count <= 2
    await client.disconnect()
    assert client.state is ConnectionState.DISCONNECTED
    await client.disconnect()  # safe twice


async def test_remove_message_handler(sim: Simulator) -> None:
    client = WebSocketClient(fast_config(sim.url))
    seen: list[Any] = []
    client.add_message_handler("price", seen.append)
    client.remove_message_handler("price", seen.append)
    client.remove_message_handler("price", seen.append)  # harmless twice
    await client.connect()
    await client.subscribe("s1", SubscriptionConfig(["AAPL"], ["price"]))
    probe: list[Any] = []
    client.add_message_handler("price", probe.append)
    await wait_until(lambda: len(probe) >= 3)
    assert seen == []
    await client.disconnect()


async def test_a_raising_handler_is_counted_not_fatal(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    client = WebSocketClient(fast_config(sim.url))
    good: list[Any] = []

    def bad(_: Any) -> None:
        raise RuntimeError("boom")

    client.add_message_handler("price", bad)
    client.add_message_handler("price", good.append)
    await client.connect()
    await client.subscribe("s1", SubscriptionConfig(["AAPL"], ["price"]))
    await wait_until(lambda: len(good) >= 5)
    stats = await client.get_stats()
    assert stats["errors"] >= 5 and stats["handler_errors"] >= 5
    assert client.state is ConnectionState.CONNECTED
    assert "boom" in caplog.text
    await client.disconnect()


async def test_server_refusal_raises_subscription_error(sim: Simulator) -> None:
    client = WebSocketClient(fast_config(sim.url))
    errors: list[Any] = []
    client.add_message_handler("error", errors.append)
    await client.connect()
    with pytest.raises(SubscriptionError) as info:
        await client.subscribe("s1", SubscriptionConfig(["XYZQ"], ["price"]))
    assert info.value.code == "invalid_symbol" and "XYZQ" in str(info.value)
    assert client.subscriptions == {}
    await wait_until(lambda: len(errors) == 1)
    assert (await client.get_stats())["errors"] == 1
    await client.disconnect()


async def test_local_limits(sim: Simulator) -> None:
    client = WebSocketClient(fast_config(sim.url, max_subscriptions=1))
    await client.connect()
    await client.subscribe("a", SubscriptionConfig(["AAPL"], ["price"]))
    with pytest.raises(SubscriptionLimitError):
        await client.subscribe("b", SubscriptionConfig(["MSFT"], ["price"]))
    with pytest.raises(ConfigError):
        await client.subscribe("a", SubscriptionConfig(["MSFT"], ["price"]))
    with pytest.raises(ConfigError):
        await client.subscribe("no spaces", SubscriptionConfig(["MSFT"], ["price"]))
    with pytest.raises(SubscriptionError):
        await client.unsubscribe("never")
    await client.disconnect()


async def test_ping_and_list_symbols(sim: Simulator) -> None:
    client = WebSocketClient(fast_config(sim.url))
    await client.connect()
    assert await client.list_symbols() == ["AAPL", "GOOGL", "MSFT", "TSLA"]
    assert 0 < await client.ping() < 1
    await client.disconnect()


async def test_reconnect_resumes_without_loss_or_duplicates(sim: Simulator, caplog: Any) -> None:
    caplog.set_level("WARNING", logger="argus_cli.client")
    client = WebSocketClient(fast_config(sim.url))
    seen: list[tuple[str, str, int]] = []
    gaps: list[Any] = []
    client.add_message_handler("price", lambda m: seen.append((m["symbol"], "price", m["seq"])))
    client.add_message_handler("volume", lambda m: seen.append((m["symbol"], "volume", m["seq"])))
    client.add_message_handler("gap", gaps.append)
    await client.connect()
    await client.subscribe("s1", SubscriptionConfig(["AAPL", "MSFT"], ["price", "volume"]))
    for _ in range(3):
        # data on this connection first: a connection reset before any data came is a
        # failed attempt ("retrying"), not a lost connection ("reconnecting"); what the
        # previous connection left in the buffer is delivered before counting
        await wait_until(lambda: client.stats_snapshot()["queue_depth"] == 0)
        target = len(seen) + 10
        await wait_until(lambda target=target: len(seen) >= target)
        first_id = client.connection_id
        reset_all(sim)
        await wait_until(lambda first_id=first_id: client.connection_id != first_id)
        await wait_until(lambda: client.state is ConnectionState.CONNECTED)
    await wait_until(lambda: len(seen) >= 200)
    await client.disconnect()
    stats = await client.get_stats()
    assert stats["reconnect_count"] == 3
    assert gaps == [] and stats["gaps"] == 0
    said = [r.getMessage() for r in caplog.records]
    lost = [m for m in said if m.endswith("s") and "; reconnecting in " in m]
    assert len(lost) == 3  # each loss said, then its end (an attempt may need a retry)
    assert sum(bool(re.match(r"reconnected after \d+\.\ds \(attempt \d+\)$", m)) for m in said) == 3
    for symbol in ("AAPL", "MSFT"):
        for kind in ("price", "volume"):
            seqs = [s for sym, k, s in seen if sym == symbol and k == kind]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), (symbol, kind)


async def test_resume_past_the_ring_reports_a_gap(make_sim: SimFactory) -> None:
    from argus_cli.testing.faultproxy import FaultProxy

    sim = await make_sim(ring_size=3, rate=400, symbols=["AAPL"])
    proxy = FaultProxy("127.0.0.1", sim.port)
    await proxy.start()
    client = WebSocketClient(fast_config(proxy.url, max_reconnect_attempts=20))
    seen: list[int] = []
    gaps: list[dict[str, Any]] = []
    client.add_message_handler("price", lambda m: seen.append(m["seq"]))
    client.add_message_handler("gap", gaps.append)
    await client.connect()
    await client.subscribe("s1", SubscriptionConfig(["AAPL"], ["price"]))
    await wait_until(lambda: len(seen) >= 5)
    await proxy.down()  # away until the ring of 3 no longer holds what we missed
    await wait_until(lambda: sim.market.last_seq("AAPL") > seen[-1] + 10)
    await proxy.up()
    await wait_until(lambda: len(gaps) >= 1)
    await wait_until(lambda: len(seen) >= 20)
    await client.disconnect()
    await proxy.stop()
    gap = gaps[0]
    assert gap["reason"] == "not_in_buffer" and gap["source"] == "argus"
    covered = set(seen) | set(range(gap["from_seq"], gap["to_seq"] + 1))
    assert covered >= set(range(seen[0], seen[-1] + 1))
    assert (await client.get_stats())["gaps"] == 1


async def test_refused_key_fails_at_once_without_retry(make_sim: SimFactory) -> None:
    sim = await make_sim(api_key="right-key")
    client = WebSocketClient(fast_config(sim.url, api_key="wrong-key", max_reconnect_attempts=50))
    started = asyncio.get_running_loop().time()
    assert await client.connect() is False
    assert asyncio.get_running_loop().time() - started < 1.0
    assert isinstance(client.failure, AuthenticationError)
    assert "refused the API key" in str(client.failure)
    assert "wrong-key" not in str(client.failure)
    stats = await client.get_stats()
    assert stats["state"] == "error" and "401" in stats["last_error"]
    assert "wrong-key" not in repr(stats)
    ok = WebSocketClient(fast_config(sim.url, api_key="right-key"))
    assert await ok.connect()
    await ok.disconnect()


async def test_unreachable_server_gives_up_after_the_attempts(unused_port: int) -> None:
    client = WebSocketClient(
        fast_config(f"ws://127.0.0.1:{unused_port}/ws", max_reconnect_attempts=3)
    )
    assert await client.connect() is False
    assert isinstance(client.failure, ReconnectExhausted)
    assert client.failure.attempts == 3
    assert client.state is ConnectionState.ERROR
    with pytest.raises(ReconnectExhausted):
        await client.wait_for_connection()


async def test_subscribe_before_connect_is_sent_on_connect(sim: Simulator) -> None:
    client = WebSocketClient(fast_config(sim.url))
    seen: list[Any] = []
    client.add_message_handler("price", seen.append)
    await client.subscribe("early", SubscriptionConfig(["TSLA"], ["price"]))
    await client.connect()
    await wait_until(lambda: len(seen) >= 3)
    assert {m["symbol"] for m in seen} == {"TSLA"}
    await client.disconnect()


async def test_manager(sim: Simulator) -> None:
    manager = WebSocketClientManager()
    one = manager.create_client("client1", fast_config(sim.url))
    two = manager.create_client("client2", fast_config(sim.url))
    with pytest.raises(ConfigError):
        manager.create_client("client1", fast_config(sim.url))
    assert await one.connect() and await two.connect()
    stats = await manager.get_all_stats()
    assert set(stats) == {"client1", "client2"}
    assert stats["client1"]["connection_id"] != stats["client2"]["connection_id"]
    await manager.close_all()
    assert one.state is ConnectionState.DISCONNECTED and two.state is ConnectionState.DISCONNECTED


async def test_debug_logs_never_show_the_key(
    make_sim: SimFactory, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await make_sim(api_key="k-123456789-secret")
    caplog.set_level(logging.DEBUG)
    client = WebSocketClient(fast_config(sim.url, api_key="k-123456789-secret"))
    assert await client.connect()
    await client.subscribe("s1", SubscriptionConfig(["AAPL"], ["price"]))
    await client.disconnect()
    assert "Authorization" in caplog.text  # websockets did log the header...
    assert "k-123456789-secret" not in caplog.text  # ...without its value


async def test_an_oversized_frame_closes_with_1009_and_the_client_reconnects() -> None:
    from websockets.asyncio.server import ServerConnection, serve

    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.send('{"type":"welcome","protocol":1,"connection_id":"x"}')
        await ws.send('{"type":"heartbeat","pad":"' + "x" * 5000 + '"}')
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        client = WebSocketClient(
            fast_config(
                f"ws://127.0.0.1:{port}/ws", max_message_size=1024, max_reconnect_attempts=2
            )
        )
        await client.connect()
        await client.wait_stopped()
    assert connections == 2  # closed on the big frame, tried again, gave up
    assert "1009" in str(client.failure)
