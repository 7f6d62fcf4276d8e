"""``argus stream --publish`` and ``--from`` against a real nats-server: what is stored
is what --json prints, each event once (retries, two publishers, a broker restart,
a broker down at start), and a consumer replays then goes live without a seam."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import nats
import pytest

from argus_cli.client.config import SubscriptionConfig
from argus_cli.sinks.nats import ensure_stream
from argus_cli.sources.nats import BrokerClient, BrokerConfig
from argus_cli.testing.nats import NatsCluster, NatsServer
from tests.cli.helpers import ThreadedSim, argus_env
from tests.nats.helpers import (
    Argus,
    drain_config,
    exactly_once,
    run,
    stored,
    stream_count,
    until,
)


def strip(event: dict[str, object]) -> dict[str, object]:
    """An event without what a consumer may make its own."""
    return {k: v for k, v in event.items() if k not in ("received", "sub")}


async def test_published_lines_are_what_json_prints_then_replayed_and_live_without_a_seam(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    outcome, settings = await ensure_stream([nats_server.url])
    assert outcome == "created" and settings["subjects"] == ["argus.>"]
    env = argus_env(tmp_path)
    with ThreadedSim(rate=300.0, symbols=["AAPL", "BRK.B"]) as sim:
        first = await run(
            [
                "stream",
                "AAPL",
                "BRK.B",
                "--url",
                sim.url,
                "--json",
                "--count",
                "60",
                "--publish",
                nats_server.url,
            ],
            env,
        )
        assert first.proc is not None and first.proc.returncode == 0, first.stderr
        assert len(first.lines) == 60
        assert {e["symbol"] for e in first.events()} == {"AAPL", "BRK.B"}  # a dot in a subject
        held = await stored(nats_server.url)
        # byte for byte the lines --json printed, on subjects that name them
        assert [payload for payload, _ in held] == first.lines
        for payload, headers in held:
            event = json.loads(payload)
            assert headers["Nats-Msg-Id"].startswith(f"argus:{event['symbol']}:{event['type']}:")
        # a consumer replays the hour, then goes on live through the same consumer
        consumer = await Argus(
            [
                "stream",
                "AAPL",
                "BRK.B",
                "--from",
                nats_server.url,
                "--since",
                "1h",
                "--json",
                "--count",
                "120",
            ],
            env,
        ).start()
        await until(lambda: len(consumer.lines) >= 60, what="the replayed part")
        second = await run(
            [
                "stream",
                "AAPL",
                "BRK.B",
                "--url",
                sim.url,
                "--format",
                "none",
                "--count",
                "60",
                "--publish",
                nats_server.url,
            ],
            env,
        )
        assert second.proc is not None and second.proc.returncode == 0, second.stderr
        assert second.lines == []  # --format none: publish only
        assert await consumer.wait() == 0, consumer.stderr
    published = [strip(json.loads(p)) for p, _ in await stored(nats_server.url)]
    seen = [strip(e) for e in consumer.events()]
    assert len(published) == 120 and len(seen) == 120
    for symbol in ("AAPL", "BRK.B"):  # one consumer a symbol: each in stream order
        mine = [e for e in seen if e["symbol"] == symbol]
        assert mine and mine == [e for e in published if e["symbol"] == symbol]
    assert {e["sub"] for e in consumer.events()} == {"cli-1", "cli-2"}  # the consumer's own
    print(f"\nseam: {len(seen)} events through replay then live, lost 0, duplicated 0")


async def test_two_redundant_publishers_store_each_event_once_and_one_may_die(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    await ensure_stream([nats_server.url])
    env = argus_env(tmp_path)
    args = ["AAPL", "MSFT", "--json", "--publish", nats_server.url]
    with ThreadedSim(rate=400.0) as sim:
        a = await Argus(["stream", *args, "--url", sim.url], env).start()
        b = await Argus(["stream", *args, "--url", sim.url], env).start()
        try:
            # hot standby: b has taken over a stretch a also holds (the stream has every
            # event up to past b's first one) before a dies; a standby that joins after
            # the primary died cannot have what came in between
            await until(lambda: len(b.lines) >= 20, what="the standby streaming")
            first = {e["symbol"]: e["seq"] for e in reversed(b.events()) if "seq" in e}
            await until(lambda: _covers(nats_server.url, first), what="a and b overlapping")
            a.send(signal.SIGKILL)  # b carries on alone
            assert await a.wait() == -signal.SIGKILL
            killed_at = await stream_count(nats_server.url)
            await until(lambda: _grew(nats_server.url, killed_at + 150), what="b alone")
        finally:
            code = await b.stop(signal.SIGTERM)
    assert code == 143, b.stderr
    events = [json.loads(p) for p, _ in await stored(nats_server.url)]
    total, lost, dup = exactly_once(events)
    print(f"\nredundant publishers: {total} events stored, lost {lost}, duplicated {dup}")
    assert total > 200 and lost == 0 and dup == 0, (a.stderr, b.stderr)


async def _covers(url: str, first: dict[str, int]) -> bool:
    """The stream holds every event of each symbol from its first up to 20 past
    ``first[symbol]``."""
    events = [json.loads(p) for p, _ in await stored(url)]
    for symbol, seq in first.items():
        held = {e["seq"] for e in events if e["symbol"] == symbol and e["type"] == "price"}
        if not held or max(held) < seq + 20 or len(held) != max(held) - min(held) + 1:
            return False
    return True


async def _grew(url: str, at_least: int) -> bool:
    return await stream_count(url) >= at_least


async def test_a_broker_restart_loses_nothing_and_stdout_never_stops(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    await ensure_stream([nats_server.url])
    env = argus_env(tmp_path)
    with ThreadedSim(rate=300.0) as sim:
        pub = await Argus(
            ["stream", "AAPL", "MSFT", "--url", sim.url, "--json", "--publish", nats_server.url],
            env,
        ).start()
        try:
            await until(lambda: _grew(nats_server.url, 100), what="publishing")
            await nats_server.kill()
            during = len(pub.lines)
            await until(lambda: len(pub.lines) >= during + 100, what="stdout while NATS is down")
            await nats_server.restart()
            after = len(pub.lines)
            await until(lambda: len(pub.lines) >= after + 100, what="stdout after the restart")
        finally:
            code = await pub.stop(signal.SIGTERM)
    assert code == 143, pub.stderr
    assert b"dropped" not in pub.stderr, pub.stderr
    held = [json.loads(p) for p, _ in await stored(nats_server.url)]
    printed = pub.events()
    total, lost, dup = exactly_once(held)
    print(f"\nbroker restart: {total} stored of {len(printed)} printed, lost {lost}, dup {dup}")
    assert lost == 0 and dup == 0
    assert [strip(e) for e in held] == [strip(e) for e in printed]  # all of it, in order


async def test_a_broker_down_at_start_is_waited_for_and_an_absent_one_is_counted(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    await ensure_stream([nats_server.url])
    await nats_server.stop()  # the same port comes back with start()
    env = argus_env(tmp_path)
    with ThreadedSim(rate=300.0) as sim:
        pub = await Argus(
            [
                "stream",
                "AAPL",
                "--url",
                sim.url,
                "--json",
                "--count",
                "80",
                "--publish",
                nats_server.url,
            ],
            env,
        ).start()
        await until(lambda: len(pub.lines) >= 20, what="stdout with the broker down")
        await nats_server.start()
        assert await pub.wait() == 0, pub.stderr
        held = [json.loads(p) for p, _ in await stored(nats_server.url)]
        assert [strip(e) for e in held] == [strip(e) for e in pub.events()]
        assert len(held) == 80
        await nats_server.stop()
        # never reachable: stdout complete, the loss said as one count, exit 0
        lost = await run(
            [
                "stream",
                "AAPL",
                "--url",
                sim.url,
                "--json",
                "--count",
                "30",
                "--publish",
                nats_server.url,
                "--config",
                drain_config(tmp_path, 0.3),
            ],
            env,
        )
    assert lost.proc is not None and lost.proc.returncode == 0, lost.stderr
    assert len(lost.lines) == 30
    message = lost.stderr.decode()
    assert "argus: 30 messages dropped (NATS unreachable" in message, message
    assert "Traceback" not in message


async def test_core_nats_without_a_stream_and_the_sdk_consumer(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """No stream: core NATS, live only; two publishers' copies shown once."""
    env = argus_env(tmp_path)
    client = BrokerClient(BrokerConfig((nats_server.url,), source="argus"))
    got: list[dict[str, object]] = []
    client.add_message_handler("price", got.append)
    assert await client.connect()
    await client.subscribe("s1", SubscriptionConfig(symbols=["AAPL"], data_types=["price"]))
    assert client.stats_snapshot()["mode"] == "core"
    with ThreadedSim(rate=300.0) as sim:
        args = [
            "stream",
            "AAPL",
            "--types",
            "price",
            "--url",
            sim.url,
            "--format",
            "none",
            "--publish",
            nats_server.url,
        ]
        a = await Argus(args, env).start()
        b = await Argus(args, env).start()
        try:
            await until(lambda: len(got) >= 100, what="100 prices from the broker")
        finally:
            await a.stop()
            await b.stop()
    await client.disconnect()
    assert all(e["sub"] == "s1" and e["source"] == "argus" for e in got)
    total, lost, dup = exactly_once(got)
    stats = client.stats_snapshot()
    print(f"\ncore: {total} shown, lost {lost}, dup {dup}, {stats['duplicates_dropped']} copies")
    assert dup == 0 and lost == 0
    assert stats["duplicates_dropped"] > 0  # the second publisher's copies were there


async def test_since_without_a_stream_is_a_clear_error(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    done = await run(
        ["stream", "AAPL", "--from", nats_server.url, "--since", "10m", "--json"],
        argus_env(tmp_path),
    )
    assert done.proc is not None and done.proc.returncode != 0
    message = done.stderr.decode()
    assert "argus nats init" in message and "Traceback" not in message, message


async def test_a_consumer_of_an_unreachable_broker_exits_5(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "gone")
    await server.start()
    url = server.url
    await server.close()
    done = await run(
        ["stream", "AAPL", "--from", url, "--json"],
        argus_env(tmp_path, ARGUS_TIMEOUT="1"),
    )
    assert done.proc is not None and done.proc.returncode == 5, done.stderr
    assert b"cannot reach NATS" in done.stderr and b"Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "10m"], "--since"),
        (["--from", "http://x:4222"], "nats://"),
        (["--publish", "localhost:4222"], "nats://"),
        (["--format", "none"], "--publish"),
        (["--from", "nats://x:4222", "--url", "ws://h/ws"], "--from"),
        (["--from", "nats://x:4222", "--publish", "nats://y:4222"], "--publish"),
        (["--from", "nats://x:4222", "--since", "tomorrow"], "--since"),
    ],
)
def test_bad_broker_options_are_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    import subprocess

    from tests.cli.helpers import run_argus

    done = run_argus(["stream", "AAPL", *args], argus_env(tmp_path))
    assert isinstance(done, subprocess.CompletedProcess)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr, done.stderr


async def test_a_cluster_node_lost_and_back_loses_and_doubles_nothing(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """Replicas 3: publishing goes on while the stream leader is killed and restarted;
    a consumer reading throughout sees every sequenced event exactly once."""
    urls = nats_cluster.urls
    outcome, settings = await ensure_stream(urls, replicas=3)
    assert outcome == "created" and settings["replicas"] == 3
    env = argus_env(tmp_path)
    client = BrokerClient(BrokerConfig(tuple(urls), source="argus"))
    got: list[dict[str, object]] = []
    for kind in ("price", "volume"):
        client.add_message_handler(kind, got.append)
    assert await client.connect()
    await client.subscribe(
        "s1", SubscriptionConfig(symbols=["AAPL", "MSFT"], data_types=["price", "volume"])
    )
    with ThreadedSim(rate=200.0) as sim:
        pub = await Argus(
            ["stream", "AAPL", "MSFT", "--url", sim.url, "--json", "--publish", ",".join(urls)],
            env,
        ).start()
        try:
            await until(lambda: len(got) >= 100, what="the consumer reading")
            nc = await nats.connect(urls)
            leader = (await nc.jetstream().stream_info("ARGUS")).cluster.leader
            await nc.close()
            assert leader is not None
            node = nats_cluster.node_named(leader)
            await node.kill()
            killed_at = len(pub.lines)
            await until(lambda: len(pub.lines) >= killed_at + 200, what="publishing on")
            await node.restart()
            back_at = len(got)
            await until(lambda: len(got) >= back_at + 100, 30, "the consumer after the loss")
        finally:
            code = await pub.stop(signal.SIGTERM)
        assert code == 143, pub.stderr
        printed = [strip(e) for e in pub.events()]
        try:
            await until(lambda: len(got) >= len(printed), 30, "the consumer catching up")
        except AssertionError as exc:
            held = await stream_count(urls)
            raise AssertionError(
                f"{exc}: printed {len(printed)}, stored {held}, consumed {len(got)}, "
                f"publisher said {pub.stderr.decode()!r}, consumer {client.stats_snapshot()}"
            ) from None
    stats = client.stats_snapshot()
    await client.disconnect()
    total, lost, dup = exactly_once(got)
    print(
        f"\nnode loss (leader {leader}): {len(printed)} published, {total} consumed, "
        f"lost {lost}, duplicated {dup}, consumers re-created {stats['consumers_recreated']}"
    )
    assert lost == 0 and dup == 0
    # every event printed was consumed (during the election the stream may hold a
    # retried event after a later one: each is stored once, ``seq`` tells the order)
    key = lambda e: json.dumps(strip(e), sort_keys=True)  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, printed))
