"""NATS publish and fan-out, side by side with bare nats-py, in one run (issue 13, item 5).

One real ``nats-server`` (JetStream on, a temp store) on 127.0.0.1, stopped at the end.

1. Publish: the same ``messages`` price events (dicts as ``argus stream --json`` prints
   them) through (a) a bare nats-py core loop (``await nc.publish`` each, then ``flush``)
   and (b) ``NatsPublisher`` into core NATS (no stream); then (c) a bare nats-py
   JetStream loop (``publish_async`` with the same ``Nats-Msg-Id`` headers and the same
   window, then every acknowledgement awaited) and (d) ``NatsPublisher`` into the stream
   (``ensure_stream``; the stream is made afresh for each JetStream run, so every event
   is stored and the count is checked). Each bare loop does the per-event work any
   publisher of these events does: the subject, ``orjson.dumps`` (and the id). The sides
   alternate, ``rounds`` times; the best run of each counts. Sequential
   ``await js.publish`` is measured on fewer events, for reference.
2. The CLI: ``argus stream --format none --publish`` against the blast sender of
   ``benchmarks/run.py`` (JetStream: messages stored per second, checked in the stream;
   core NATS) beside ``argus stream --json > /dev/null`` on the same firehose, each less
   its start-up (the same command with ``--count 1``).
3. Fan-out: one ``NatsPublisher`` paced at ``FANOUT_RATE`` events/s, with 1, 10 and 50
   ``BrokerClient`` consumers in one separate process (this module with ``--consume``):
   aggregate delivered messages/s and latency from publish (the event's ``timestamp``,
   set when it is written to the publisher) to each consumer's handler.

    python -m benchmarks.nats_bench [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from argus_cli.cli.runtime import run_async
from argus_cli.protocol.subjects import msg_id, subject_for
from argus_cli.sinks.nats import STREAM_NAME, WINDOW, NatsPublisher, ensure_stream
from argus_cli.testing.nats import NatsServer

SYMBOLS = ("AAPL", "MSFT", "GOOGL", "AMZN", "TSLA")
FANOUT_RATE = 5_000  # events/s the fan-out publisher sends, paced
FANOUT_CONSUMERS = (1, 10, 50)


def make_events(count: int, start: float | None = None) -> list[dict[str, Any]]:
    """``count`` price events as ``argus stream --json`` prints them, per-symbol ``seq``."""
    t0 = time.time() if start is None else start
    seqs = dict.fromkeys(SYMBOLS, 0)
    out = []
    for i in range(count):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        seqs[symbol] += 1
        price = 100 + (i % 977) / 100
        ts = t0 + i / 100_000
        out.append(
            {"type": "price", "sub": "cli-1", "symbol": symbol, "price": round(price, 2),
             "bid": round(price - 0.01, 2), "ask": round(price + 0.01, 2), "timestamp": ts,
             "seq": seqs[symbol], "source": "argus", "received": ts + 0.0004}
        )  # fmt: skip
    return out


WARM = {**make_events(1)[0], "seq": 0}  # one event sent before the clock starts


# --- publish throughput -------------------------------------------------------------------


async def _connect(url: str) -> Any:
    import nats

    return await nats.connect(url, name="argus bench")


async def bare_core(url: str, events: list[dict[str, Any]], ids: bool = True) -> float:
    """The same messages as ``NatsPublisher`` sends on core NATS: each with its
    ``Nats-Msg-Id`` header (docs/PROTOCOL.md: core consumers drop a redundant
    publisher's copies by it). ``ids=False``: without the header, for reference
    (nats-py's header encoding about halves its rate)."""
    nc = await _connect(url)
    try:
        dumps, publish = orjson.dumps, nc.publish
        await publish(subject_for(WARM), dumps(WARM))
        await nc.flush()
        started = time.perf_counter()
        if ids:
            for event in events:
                headers = {"Nats-Msg-Id": msg_id(event)}
                await publish(subject_for(event), dumps(event), headers=headers)
        else:
            for event in events:
                await publish(subject_for(event), dumps(event))
        await nc.flush(timeout=60)
        return len(events) / (time.perf_counter() - started)
    finally:
        await nc.close()


async def bare_core_without_ids(url: str, events: list[dict[str, Any]]) -> float:
    return await bare_core(url, events, ids=False)


async def bare_jetstream(url: str, events: list[dict[str, Any]]) -> float:
    nc = await _connect(url)
    try:
        js = nc.jetstream(publish_async_max_pending=WINDOW)
        dumps, publish = orjson.dumps, js.publish_async
        await js.publish(subject_for(WARM), dumps(WARM), headers={"Nats-Msg-Id": msg_id(WARM)})
        started = time.perf_counter()
        futures = []
        for event in events:
            headers = {"Nats-Msg-Id": msg_id(event)}
            futures.append(await publish(subject_for(event), dumps(event), headers=headers))
        await asyncio.wait_for(js.publish_async_completed(), 60)
        took = time.perf_counter() - started
        failed = sum(1 for f in futures if f.exception() is not None)
        assert not failed, f"{failed} JetStream publishes failed"
        return len(events) / took
    finally:
        await nc.close()


async def bare_jetstream_sequential(url: str, events: list[dict[str, Any]]) -> float:
    nc = await _connect(url)
    try:
        js = nc.jetstream()
        dumps = orjson.dumps
        await js.publish(subject_for(WARM), dumps(WARM), headers={"Nats-Msg-Id": msg_id(WARM)})
        started = time.perf_counter()
        for event in events:
            headers = {"Nats-Msg-Id": msg_id(event)}
            await js.publish(subject_for(event), dumps(event), headers=headers)
        return len(events) / (time.perf_counter() - started)
    finally:
        await nc.close()


async def publisher_run(url: str, events: list[dict[str, Any]]) -> float:
    """``NatsPublisher``: from the first ``write`` to ``close`` returning (drained)."""
    pub = NatsPublisher([url], drain_timeout=60)
    await pub.open()
    await pub.write([WARM])  # connected, the streams read, one event through
    deadline = time.monotonic() + 10
    while pub.published + pub.duplicates < 1:
        assert time.monotonic() < deadline, f"the warm-up event was not sent: {pub.stats()}"
        await asyncio.sleep(0.005)
    started = time.perf_counter()
    await pub.write(events)  # type: ignore[arg-type]
    await pub.close()
    took = time.perf_counter() - started
    assert pub.dropped == 0 and pub.published == len(events) + 1, pub.stats()
    return len(events) / took


class Admin:
    """A connection that makes, empties and counts the ARGUS stream between runs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.nc: Any = None

    async def __aenter__(self) -> Admin:
        self.nc = await _connect(self.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.nc.close()

    async def drop_stream(self) -> None:
        from nats.js.errors import NotFoundError

        with contextlib.suppress(NotFoundError):
            await self.nc.jetstream().delete_stream(STREAM_NAME)

    async def fresh_stream(self) -> None:
        """A new stream: empty, and its de-duplication window too."""
        await self.drop_stream()
        await ensure_stream([self.url])

    async def stored(self) -> int:
        info = await self.nc.jetstream().stream_info(STREAM_NAME)
        return int(info.state.messages)


Run = Callable[[str, list[dict[str, Any]]], Awaitable[float]]


async def side_by_side(
    admin: Admin, sides: dict[str, Run], events: list[dict[str, Any]], rounds: int, stream: bool
) -> dict[str, list[float]]:
    """Each side ``rounds`` times, in turn (the order flips every round)."""
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for r in range(rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for name in order:
            if stream:
                await admin.fresh_stream()
            rates[name].append(await sides[name](admin.url, events))
            if stream:  # every event stored once (and the warm-up)
                assert await admin.stored() == len(events) + 1, name
    return rates


async def publish_throughput(
    admin: Admin, count: int, rounds: tuple[int, int], sequential: int
) -> dict:
    """``rounds``: (core, JetStream); a core run takes a fraction of a second."""
    events = make_events(count)
    await admin.drop_stream()  # core NATS: no stream may cover the subjects
    core = await side_by_side(
        admin,
        {"bare": bare_core, "argus": publisher_run, "bare_without_ids": bare_core_without_ids},
        events,
        rounds[0],
        stream=False,
    )
    js = await side_by_side(
        admin, {"bare": bare_jetstream, "argus": publisher_run}, events, rounds[1], stream=True
    )
    await admin.fresh_stream()
    seq_rate = await bare_jetstream_sequential(admin.url, events[:sequential])
    best = {
        f"{k}_{n}": max(v) for k, rates in (("core", core), ("js", js)) for n, v in rates.items()
    }
    return {
        "publish_core": {
            "messages": count,
            "bare_nats_py_per_s": round(best["core_bare"]),
            "argus_publisher_per_s": round(best["core_argus"]),
            "ratio": round(best["core_argus"] / best["core_bare"], 2),
            "bare_without_ids_per_s": round(best["core_bare_without_ids"]),
            "all_bare": [round(v) for v in core["bare"]],
            "all_argus": [round(v) for v in core["argus"]],
        },
        "publish_jetstream": {
            "messages": count,
            "bare_publish_async_per_s": round(best["js_bare"]),
            "argus_publisher_per_s": round(best["js_argus"]),
            "ratio": round(best["js_argus"] / best["js_bare"], 2),
            "bare_sequential_publish_per_s": round(seq_rate),
            "sequential_messages": sequential,
            "all_bare": [round(v) for v in js["bare"]],
            "all_argus": [round(v) for v in js["argus"]],
        },
    }


# --- the CLI, end to end ----------------------------------------------------------------------


def cli_seconds(sender_args: list[str], argv_tail: list[str], count: int) -> tuple[float, str]:
    """Wall seconds of ``argus stream AAPL --count N ...`` against a fresh blast sender."""
    from benchmarks.run import Sender, argus_command

    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    with Sender(*sender_args) as sender:
        argv = [*argus_command(), "stream", "AAPL", "--url", sender.url, "--types", "price",
                "--count", str(count), *argv_tail]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=True,
            timeout=120, text=True,
        )  # fmt: skip
        return time.perf_counter() - started, done.stderr


async def cli_throughput(admin: Admin, count: int, startups: int) -> dict:
    legs = {
        "stream_json": (["--json"], None),
        "publish_jetstream": (["--format", "none", "--publish", admin.url], True),
        "publish_core": (["--format", "none", "--publish", admin.url], False),
    }
    out: dict[str, Any] = {"messages": count}
    rates = {}
    for name, (tail, stream) in legs.items():

        async def seconds(
            n: int, tail: list[str] = tail, stream: bool | None = stream, name: str = name
        ) -> float:
            if stream is True:
                await admin.fresh_stream()
            elif stream is False:
                await admin.drop_stream()
            sender = ["--count", str(n), "--batch", "1"]
            took, stderr = await asyncio.to_thread(cli_seconds, sender, tail, n)
            assert "dropped" not in stderr, stderr
            if stream is True:
                assert await admin.stored() == n, f"{name}: {await admin.stored()} of {n} stored"
            return took

        start_up = min([await seconds(1) for _ in range(startups)])
        rates[name] = (count - 1) / max(1e-6, await seconds(count) - start_up)
        out[f"{name}_start_up_s"] = round(start_up, 3)
    base = rates["stream_json"]
    out["stream_json_per_s"] = round(base)
    out["publish_jetstream_stored_per_s"] = round(rates["publish_jetstream"])
    out["publish_jetstream_ratio"] = round(rates["publish_jetstream"] / base, 2)
    out["publish_core_per_s"] = round(rates["publish_core"])
    out["publish_core_ratio"] = round(rates["publish_core"] / base, 2)
    return out


# --- fan-out ----------------------------------------------------------------------------------


async def consume(url: str, consumers: int) -> None:
    """The consumer process: ``consumers`` BrokerClients, READY, counts until a line on
    stdin, then one JSON line of figures on stdout."""
    from argus_cli import SubscriptionConfig
    from argus_cli.sources.nats import BrokerClient, BrokerConfig

    counts = [0] * consumers
    latencies: list[float] = []
    first_last = [0.0, 0.0]
    clients = []

    def handler(index: int) -> Callable[[dict[str, Any]], None]:
        add, now = latencies.append, time.time

        def on_price(event: dict[str, Any]) -> None:
            t = now()
            add(t - event["timestamp"])
            counts[index] += 1
            if not first_last[0]:
                first_last[0] = t
            first_last[1] = t

        return on_price

    for index in range(consumers):
        client = BrokerClient(BrokerConfig((url,), source="argus"))
        client.add_message_handler("price", handler(index))
        clients.append(client)
    connected = await asyncio.gather(*(c.connect() for c in clients))
    assert all(connected), [c.last_error for c in clients]
    config = SubscriptionConfig(symbols=list(SYMBOLS), data_types=["price"])
    for client in clients:
        await client.subscribe("bench", config)
    print("READY", clients[0].mode, flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    stats = [c.stats_snapshot() for c in clients]
    step = max(1, len(latencies) // 20_000)  # every step-th sample, in arrival order
    result = {
        "delivered": sum(counts),
        "first": first_last[0],
        "last": first_last[1],
        "min_per_consumer": min(counts),
        "latencies": [round(x, 6) for x in latencies[::step]],
        "weight": step,
        "backpressure_pauses": sum(s["backpressure_pauses"] for s in stats),
    }
    await asyncio.gather(*(c.disconnect() for c in clients))
    print(json.dumps(result), flush=True)


async def paced(pub: NatsPublisher, rate: float, seconds: float) -> int:
    """Write ``rate`` events/s to ``pub`` for ``seconds``, each stamped when written."""
    seqs = dict.fromkeys(SYMBOLS, 0)
    started = time.perf_counter()
    sent = 0
    while (elapsed := time.perf_counter() - started) < seconds:
        due = int(elapsed * rate) - sent
        if due > 0:
            now = time.time()
            batch = []
            for i in range(sent, sent + due):
                symbol = SYMBOLS[i % len(SYMBOLS)]
                seqs[symbol] += 1
                price = 100 + (i % 977) / 100
                batch.append(
                    {"type": "price", "sub": "cli-1", "symbol": symbol, "price": round(price, 2),
                     "bid": round(price - 0.01, 2), "ask": round(price + 0.01, 2),
                     "timestamp": now, "seq": seqs[symbol], "source": "argus", "received": now}
                )  # fmt: skip
            await pub.write(batch)  # type: ignore[arg-type]
            sent += due
        await asyncio.sleep(0.001)
    return sent


def weighted_percentile(samples: list[tuple[float, int]], p: float) -> float:
    """The ``p``-th percentile of (value, weight) pairs."""
    ordered = sorted(samples)
    target = p / 100 * sum(w for _, w in ordered)
    seen = 0
    for value, weight in ordered:
        seen += weight
        if seen >= target:
            return value
    return ordered[-1][0]


async def fanout_once(
    admin: Admin, consumers: int, seconds: float, jetstream: bool, rate: float = FANOUT_RATE
) -> dict:
    """``consumers`` in ``processes`` children (see ``consumer_processes``), one paced
    ``NatsPublisher`` here."""
    if jetstream:
        await admin.fresh_stream()
    else:
        await admin.drop_stream()
    processes = consumer_processes(consumers)
    children = []
    try:
        for index in range(processes):
            share = consumers // processes + (index < consumers % processes)
            argv = [
                "-m",
                "benchmarks.nats_bench",
                "--consume",
                admin.url,
                "--consumers",
                str(share),
            ]
            child = await asyncio.create_subprocess_exec(
                sys.executable, *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=1 << 24
            )
            children.append(child)
        modes = set()
        for child in children:
            assert child.stdout is not None
            ready = await asyncio.wait_for(child.stdout.readline(), 30)
            assert ready.startswith(b"READY"), ready
            modes.add(ready.split()[1].decode())
        pub = NatsPublisher([admin.url])
        await pub.open()
        sent = await paced(pub, rate, seconds)
        publish_end = time.time()
        await pub.close()  # drained: every event on the wire (JetStream: acknowledged)
        await asyncio.sleep(0.5)  # the last events on their way to the consumers
        for child in children:
            assert child.stdin is not None
            child.stdin.write(b"stop\n")
            await child.stdin.drain()
        results = []
        for child in children:
            assert child.stdout is not None
            results.append(json.loads(await asyncio.wait_for(child.stdout.readline(), 30)))
            await asyncio.wait_for(child.wait(), 10)
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    delivered = sum(r["delivered"] for r in results)
    samples = [(x, r["weight"]) for r in results for x in r["latencies"]]
    first = min(r["first"] for r in results)
    # while the consumers keep up, the rate is the publisher's; when they fall behind
    # they are busy from the first message to the stop: their own ceiling
    window = max(publish_end, max(r["last"] for r in results)) - first
    return {
        "mode": "/".join(sorted(modes)),
        "consumers": consumers,
        "processes": processes,
        "publish_per_s": round(sent / seconds),
        "seconds": seconds,
        "delivered_per_s": round(delivered / window),
        "delivered_ratio": round(delivered / (sent * consumers), 3),
        "publisher_dropped": pub.dropped,
        "p50_ms": round(weighted_percentile(samples, 50) * 1000, 2),
        "p99_ms": round(weighted_percentile(samples, 99) * 1000, 2),
        "max_ms": round(max(x for x, _ in samples) * 1000, 2),
        "backpressure_pauses": sum(r["backpressure_pauses"] for r in results),
    }


def consumer_processes(consumers: int) -> int:
    """One consumer process up to 5 consumers, then one per core (at most 2): see
    BENCHMARKS.md "NATS" for why."""
    return 1 if consumers <= 5 else min(2, os.cpu_count() or 1)


# --- the whole step ---------------------------------------------------------------------------


async def measure_async(quick: bool) -> dict[str, Any]:
    began = time.perf_counter()
    out: dict[str, Any] = {}
    async with NatsServer() as server, Admin(server.url) as admin:
        out["loop"] = type(asyncio.get_running_loop()).__module__.split(".")[0]
        out.update(
            await publish_throughput(
                admin,
                30_000 if quick else 100_000,
                (3, 1 if quick else 2),
                1_000 if quick else 3_000,
            )
        )
        out["cli"] = await cli_throughput(admin, 30_000 if quick else 100_000, 1 if quick else 2)
        seconds = 1.5 if quick else 2.5
        for jetstream in (False,) if quick else (False, True):
            kind = "jetstream" if jetstream else "core"
            for n in FANOUT_CONSUMERS:
                out[f"fanout_{kind}_{n}"] = await fanout_once(admin, n, seconds, jetstream)
            if not jetstream and not quick:  # 50 consumers below the machine's delivery ceiling
                n, rate = FANOUT_CONSUMERS[-1], FANOUT_RATE // 5
                out[f"fanout_{kind}_{n}_at_{rate}"] = await fanout_once(
                    admin, n, seconds, jetstream, rate
                )
    out["seconds"] = round(time.perf_counter() - began, 1)
    return out


def measure(quick: bool = False) -> dict[str, Any]:
    """Every NATS figure (see the module doc); a step of ``benchmarks/run.py``."""
    return run_async(measure_async(quick))


def summary(results: dict[str, Any]) -> str:
    core, js, cli = results["publish_core"], results["publish_jetstream"], results["cli"]
    lines = [
        f"NATS publish, {core['messages']} events, best of {len(core['all_bare'])} (core) and "
        f"{len(js['all_bare'])} (JetStream), "
        f"{results['loop']} (goal: argus >= 0.8x bare)",
        f"  core      bare nats-py {core['bare_nats_py_per_s']:>9,}/s   NatsPublisher "
        f"{core['argus_publisher_per_s']:>9,}/s   ratio {core['ratio']:.2f}x   "
        f"(bare without ids {core['bare_without_ids_per_s']:,}/s)",
        f"  JetStream bare async   {js['bare_publish_async_per_s']:>9,}/s   NatsPublisher "
        f"{js['argus_publisher_per_s']:>9,}/s   ratio {js['ratio']:.2f}x   "
        f"(bare sequential js.publish {js['bare_sequential_publish_per_s']:,}/s)",
        f"CLI, {cli['messages']} events from a blast sender: stream --json "
        f"{cli['stream_json_per_s']:,}/s, --format none --publish: JetStream stored "
        f"{cli['publish_jetstream_stored_per_s']:,}/s ({cli['publish_jetstream_ratio']:.2f}x), "
        f"core {cli['publish_core_per_s']:,}/s ({cli['publish_core_ratio']:.2f}x)",
        "fan-out, one NatsPublisher, paced; consumers in separate processes:",
    ]
    for key, row in results.items():
        if key.startswith("fanout_"):
            lines.append(
                f"  {row['mode']:<9} {row['publish_per_s']:>6,}/s to {row['consumers']:>2} "
                f"consumers ({row['processes']} proc): delivered "
                f"{row['delivered_per_s']:>8,}/s ({row['delivered_ratio']:.0%} of sent x "
                f"consumers), p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, max "
                f"{row['max_ms']} ms"
            )
    lines.append(f"({results['seconds']} s)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke test)")
    parser.add_argument("--consume", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--consumers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.consume:
        run_async(consume(args.consume, args.consumers))
        return
    results = measure(args.quick)
    print(summary(results))
    print(json.dumps(results, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
