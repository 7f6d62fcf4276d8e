"""Faults of the NATS publisher and broker consumer found in review, each on a real
nats-server (no network mocks), each failing on the code before its fix: a slow
handler taken for a dead consumer, a failed re-creation ending the watchdog, a
--since consumer with nothing to deliver re-created forever, nats-py's own reset of a
--since consumer refused, a restarted feed's events dropped as duplicates on core
NATS, an event over the server's size limit vanishing from every count. The
watchdog's timings are shortened with monkeypatch; the behaviour is the same at the
defaults."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import nats
import pytest
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

import argus_cli.sources.nats as broker_mod
from argus_cli.client.config import SubscriptionConfig
from argus_cli.sinks.nats import WINDOW, NatsPublisher, ensure_stream
from argus_cli.sources.nats import BrokerClient, BrokerConfig
from argus_cli.testing.nats import NatsServer
from tests.nats.helpers import until


def price(seq: int, symbol: str = "AAPL", **extra: object) -> dict[str, object]:
    return {
        "type": "price", "sub": "p", "symbol": symbol, "price": 100.0 + seq, "seq": seq,
        "source": "argus", "received": time.time(), **extra,
    }  # fmt: skip


async def settle(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    """Wait for ``condition`` at most ``timeout`` s, without failing (the test asserts)."""
    with contextlib.suppress(AssertionError):
        await until(condition, timeout)


def fast_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker_mod, "WATCH_EVERY", 0.1)
    monkeypatch.setattr(broker_mod, "SILENT_AFTER", 0.3)


AAPL = SubscriptionConfig(symbols=["AAPL"], data_types=["price"])


# -- consumer ---------------------------------------------------------------------------


async def test_a_slow_handler_is_not_re_created_and_loses_no_event(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Backpressure (handlers slower than SILENT_AFTER) blocks on_msg in buffer.put; the
    watchdog takes that for a dead consumer, unsubscribes, which cancels the put of an
    event whose seq is already in last_seq: that event is never delivered."""
    fast_watchdog(monkeypatch)
    await ensure_stream([nats_server.url])
    publisher = NatsPublisher([nats_server.url])
    await publisher.open()
    client = BrokerClient(BrokerConfig((nats_server.url,), source="argus", queue_size=1))
    got: list[int] = []

    async def slow(event: dict[str, object]) -> None:
        got.append(int(event["seq"]))  # type: ignore[call-overload]
        if len(got) <= 3:
            await asyncio.sleep(0.6)  # a stalled sink/pipe, longer than SILENT_AFTER

    client.add_message_handler("price", slow)
    assert await client.connect()
    try:
        await client.subscribe("s1", AAPL)
        await publisher.write([price(n) for n in range(1, 21)])
        await settle(lambda: len(got) >= 20, 15)
        stats = client.stats_snapshot()
    finally:
        await client.disconnect()
        await publisher.close()
    assert got == list(range(1, 21)), (
        f"delivered {got}; missing {sorted(set(range(1, 21)) - set(got))}; "
        f"consumers_recreated={stats['consumers_recreated']}"
    )


async def test_the_watchdog_survives_a_failed_re_creation(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """_recreate is outside the try in _watch: one failed consumer create (an election,
    a consumer limit, a timeout) ends the watchdog task for good, with the old
    subscription already gone: the consumer stays silent forever."""
    fast_watchdog(monkeypatch)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="ARGUS", subjects=["argus.>"], max_consumers=1))
    publisher = NatsPublisher([nats_server.url])
    await publisher.open()
    client = BrokerClient(BrokerConfig((nats_server.url,), source="argus"))
    got: list[int] = []
    client.add_message_handler("price", lambda e: got.append(e["seq"]))
    assert await client.connect()
    try:
        await client.subscribe("s1", AAPL)
        consumer = client._consumers["s1"]
        old = consumer.nats_sub._consumer  # type: ignore[union-attr]
        await consumer.nats_sub.unsubscribe()  # type: ignore[union-attr]  # falls silent
        await publisher.write([price(n) for n in range(1, 11)])
        watch = client._tasks[1]
        # the watchdog tries and fails while the old consumer holds the only slot (if
        # the server has not dropped it already), then the cause goes
        await until(lambda: client.last_error is not None or len(got) >= 10, 15, "a try")
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer("ARGUS", old)
        await settle(lambda: len(got) >= 10, 15)
        state = (watch.done(), watch.exception() if watch.done() else None)
    finally:
        await client.disconnect()
        await publisher.close()
        await nc.close()
    assert got == list(range(1, 11)), f"delivered {got}; watchdog task (done, exc) = {state!r}"


async def test_since_does_not_re_create_a_consumer_with_nothing_to_deliver(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """--since after the symbol's last message: nothing to deliver, last_seq stays 0,
    and _behind compares the last AAPL message (before --since) with 0: the consumer is
    re-created (and a warning logged) every SILENT_AFTER, forever."""
    fast_watchdog(monkeypatch)
    await ensure_stream([nats_server.url])
    publisher = NatsPublisher([nats_server.url])
    await publisher.open()
    await publisher.write([price(n) for n in range(1, 6)])
    await publisher.close()
    client = BrokerClient(BrokerConfig((nats_server.url,), source="argus", since=time.time()))
    assert await client.connect()
    try:
        await client.subscribe("s1", AAPL)
        with caplog.at_level(logging.WARNING, "argus_cli.sources"):
            await asyncio.sleep(1.0)  # an absence to observe: ~3 watchdog rounds
        stats = client.stats_snapshot()
    finally:
        await client.disconnect()
    warnings = [r.getMessage() for r in caplog.records if "fell silent" in r.getMessage()]
    assert stats["consumers_recreated"] == 0, (
        f"{stats['consumers_recreated']} re-creations: {warnings[:2]}"
    )


async def test_core_dedupe_keeps_a_restarted_feeds_new_sequence_space(
    nats_server: NatsServer,
) -> None:
    """Core NATS (no stream): the publisher sends no Nats-Msg-Id, so the consumer derives
    ids without the epoch; after the upstream server restarts (new epoch, seq from 1
    again) every event whose seq was seen before is dropped as a 'duplicate'."""
    epoch = {"argus": "e1"}
    publisher = NatsPublisher([nats_server.url], epoch_of=epoch.get)
    await publisher.open()
    client = BrokerClient(BrokerConfig((nats_server.url,), source="argus"))
    got: list[tuple[int, float]] = []
    client.add_message_handler("price", lambda e: got.append((e["seq"], e["price"])))
    assert await client.connect()
    try:
        await client.subscribe("s1", AAPL)
        assert client.mode == "core"
        await publisher.write([price(n) for n in range(1, 6)])
        try:
            await until(lambda: len(got) >= 5, 15, "the first five")
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}: {publisher.stats()} known={publisher._streams_known} "
                f"task={publisher._task} nc={publisher._nc and publisher._nc.is_connected} "
                f"client={client.stats_snapshot()}"
            ) from None
        epoch["argus"] = "e2"  # the upstream restarted: a new sequence space
        await publisher.write([price(n, price=200.0 + n) for n in range(1, 6)])
        await settle(lambda: len(got) >= 10, 15)
        dropped = client.duplicates
    finally:
        await client.disconnect()
        await publisher.close()
    assert len(got) == 10, f"got {len(got)} of 10; {dropped} taken for duplicates"


# -- publisher --------------------------------------------------------------------------


@pytest.mark.parametrize("jetstream", [False, True], ids=["core", "jetstream"])
async def test_an_event_nats_refuses_is_counted_never_lost_silently(
    nats_server: NatsServer, jetstream: bool
) -> None:
    """An event over the server's max_payload (1 MiB): nc.publish raises MaxPayloadError
    after the item was popped from the queue and before it is in _inflight, so it is in
    neither 'published' nor 'dropped' nor 'buffered'. With JetStream, publish_async has
    already taken a window permit and registered a future that nothing will resolve."""
    if jetstream:
        await ensure_stream([nats_server.url])
    publisher = NatsPublisher([nats_server.url], drain_timeout=2.0)
    await publisher.open()
    await until(lambda: publisher.state == "connected" and publisher._streams_read, 15)
    big = price(2, book="x" * 1_200_000)
    await publisher.write([price(1), big, price(3)])
    await until(lambda: publisher.buffered == 0, 15, "the publisher to settle")
    js = publisher._js
    permits = js._publish_async_pending_semaphore._value if js else WINDOW  # type: ignore[attr-defined]
    pending = js.publish_async_pending() if js else 0
    await publisher.close()
    accounted = publisher.published + publisher.duplicates + publisher.dropped
    assert accounted == 3, (
        f"published {publisher.published}, duplicates {publisher.duplicates}, "
        f"dropped {publisher.dropped}: "
        f"{3 - accounted} event(s) vanished (last_error={publisher.last_error!r}); "
        f"window permits {permits}/{WINDOW}, futures never resolved {pending}"
    )


async def test_a_since_consumer_survives_nats_py_own_reset(nats_server: NatsServer) -> None:
    """nats-py resets an ordered consumer that misses two heartbeats by re-creating it
    BY_START_SEQUENCE from the same ConsumerConfig object, which (with --since) still
    carries opt_start_time: the server refuses the pair, so only argus' watchdog (2-3 s
    later, and only if the subjects grew) brings the consumer back."""
    await ensure_stream([nats_server.url])
    publisher = NatsPublisher([nats_server.url])
    await publisher.open()
    await publisher.write([price(n) for n in range(1, 4)])
    await until(lambda: publisher.published >= 3, 15)
    client = BrokerClient(BrokerConfig((nats_server.url,), source="argus", since=time.time() - 60))
    got: list[int] = []
    client.add_message_handler("price", lambda e: got.append(e["seq"]))
    assert await client.connect()
    nc = await nats.connect(nats_server.url)
    try:
        await client.subscribe("s1", AAPL)
        await until(lambda: len(got) >= 3, 15)
        name = client._consumers["s1"].nats_sub._consumer  # type: ignore[union-attr]
        await nc.jetstream().delete_consumer("ARGUS", name)  # e.g. lost with its node
        await publisher.write([price(n) for n in range(4, 7)])
        await until(lambda: len(got) >= 6, 20, "the consumer back after its reset")
        error = client.last_error
    finally:
        await client.disconnect()
        await publisher.close()
        await nc.close()
    assert error is None, f"nats-py's reset failed: {error!r}"
