"""The broker consumer (``BrokerClient``) on a real nats-server: a consumer that falls
silent while its stream grows is re-created from the next stream sequence; the
figures ``--publish`` adds to the status panel and ``argus stats``."""

from __future__ import annotations

import time

from rich.console import Console

from argus_cli.cli.render import render_stats_table, render_status
from argus_cli.client.config import SubscriptionConfig
from argus_cli.sinks.nats import NatsPublisher, ensure_stream
from argus_cli.sources.nats import BrokerClient, BrokerConfig
from argus_cli.testing.nats import NatsServer
from tests.nats.helpers import exactly_once, until


def price(seq: int, symbol: str = "AAPL") -> dict[str, object]:
    return {
        "type": "price", "sub": "p", "symbol": symbol, "price": 100.0 + seq, "seq": seq,
        "source": "argus", "received": time.time(),
    }  # fmt: skip


async def test_a_silent_consumer_is_re_created_from_the_next_sequence(
    nats_server: NatsServer,
) -> None:
    await ensure_stream([nats_server.url])
    publisher = NatsPublisher([nats_server.url])
    await publisher.open()
    client = BrokerClient(BrokerConfig((nats_server.url,), source="argus"))
    got: list[dict[str, object]] = []
    client.add_message_handler("price", got.append)
    assert await client.connect()
    await client.subscribe("s1", SubscriptionConfig(symbols=["AAPL"], data_types=["price"]))
    try:
        await publisher.write([price(n) for n in range(1, 51)])
        await until(lambda: len(got) >= 50, what="the first 50")
        # the consumer falls silent without nats-py knowing (as after a lost stream leader)
        consumer = client._consumers["s1"]
        assert consumer.nats_sub is not None
        await consumer.nats_sub.unsubscribe()
        await publisher.write([price(n) for n in range(51, 101)])
        await until(lambda: len(got) >= 100, 15, "the watchdog to re-create the consumer")
        stats = client.stats_snapshot()
    finally:
        await client.disconnect()
        await publisher.close()
    assert stats["consumers_recreated"] == 1
    assert [e["seq"] for e in got] == list(range(1, 101))
    assert exactly_once(got) == (100, 0, 0)
    assert publisher.stats()["published"] == 100 and publisher.dropped == 0


def test_publish_figures_in_the_status_panel_and_argus_stats() -> None:
    publish = {
        "servers": ["nats://127.0.0.1:4222"], "state": "disconnected", "mode": "jetstream",
        "published": 1234, "buffered": 56, "dropped": 7,
    }  # fmt: skip
    console = Console(width=140, record=True, color_system=None)
    console.print(render_status({"state": "connected", "source": "argus", "publish": publish}))
    text = console.export_text()
    assert "publish" in text and "disconnected" in text and "nats://127.0.0.1:4222" in text
    assert "published 1,234" in text and "buffered 56" in text and "dropped 7" in text
    console = Console(width=200, record=True, color_system=None)
    console.print(render_stats_table([{"pid": 1, "publish": publish}, {"pid": 2}]))
    table = console.export_text()
    assert "Published" in table and "Dropped" in table and "1234" in table
    console = Console(width=200, record=True, color_system=None)
    console.print(render_stats_table([{"pid": 2}]))
    assert "Published" not in console.export_text()
