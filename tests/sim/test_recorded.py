"""``argus serve --replay``: the simulator serves a recording over the wire protocol."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from argus_cli import ConnectionState, SubscriptionConfig, WebSocketClient
from argus_cli.compressed import open_lines
from argus_cli.sim import Simulator, SimulatorConfig
from argus_cli.sim.recorded import RecordedMarket, RecordingError, read_ticks
from tests.cli.helpers import ARGUS, argus_env, run_argus
from tests.client.helpers import fast_config, wait_until

SYMBOLS = ("AAPL", "MSFT", "TSLA")
EVENTS = 60  # per symbol: 180 events, 540 lines, received over ~0.5 s


def recording_lines(events: int = EVENTS) -> list[dict[str, Any]]:
    """Lines as ``argus stream --json`` prints them: seq from 101 (a mid-session recording)."""
    lines: list[dict[str, Any]] = []
    t0 = 1_700_000_000.0
    for i in range(events):
        for k, symbol in enumerate(SYMBOLS):
            seq = 101 + i
            ts = round(t0 + i * 0.008 + k * 0.001, 6)
            received = ts + 0.0005
            price = round(100.0 * (k + 1) + i * 0.01, 2)
            common = {"symbol": symbol, "timestamp": ts, "seq": seq, "source": "argus"}
            bid, ask = round(price - 0.01, 2), round(price + 0.01, 2)
            lines.append(
                {"type": "price", "sub": "cli-1", **common, "price": price, "bid": bid,
                 "ask": ask, "received": received}
            )  # fmt: skip
            lines.append(
                {"type": "volume", "sub": "cli-1", **common, "volume": 100 + i,
                 "total_volume": 10_000 + (i + 1) * 100, "received": received}
            )  # fmt: skip
            lines.append(
                {"type": "orderbook", "sub": "cli-1", **common, "bids": [[price - 0.01, 300 + i]],
                 "asks": [[price + 0.01, 400 + i]], "received": received}
            )  # fmt: skip
        if i == 30:  # a recorded gap line: skipped, the server numbers contiguously
            gap = {"type": "gap", "symbol": "AAPL", "from_seq": 1, "to_seq": 2}
            lines.append({**gap, "reason": "not_in_buffer", "source": "argus", "received": t0})
    return lines


def write_recording(path: Path, lines: list[dict[str, Any]]) -> Path:
    writer = open_lines(path)
    for line in lines:
        writer.write(orjson.dumps(line) + b"\n")
    writer.close()
    return path


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    return write_recording(tmp_path / "ticks.jsonl.zst", recording_lines())


async def start(path: Path, **options: Any) -> Simulator:
    config = {"host": "127.0.0.1", "port": 0, "api_key": "", "replay": path, **options}
    sim = Simulator(SimulatorConfig(**config))
    await sim.start()
    return sim


def test_ticks_group_lines_of_one_event_and_carry_missing_fields(tmp_path: Path) -> None:
    ts = 1_700_000_000.0
    path = write_recording(
        tmp_path / "r.jsonl.gz",
        [
            {"type": "price", "symbol": "BTC-USD", "price": 10.5, "timestamp": ts},  # no bid/ask
            {
                "type": "orderbook",
                "symbol": "ETH-USD",
                "bids": [[1.0, 0.5]],
                "asks": [[1.2, 2]],
                "timestamp": ts,
            },
            {"type": "volume", "symbol": "BTC-USD", "volume": 0.25, "timestamp": ts},
            {
                "type": "price",
                "symbol": "BTC-USD",
                "price": 10.6,
                "bid": 10.55,
                "ask": 10.65,
                "timestamp": ts + 1,
            },
            {"type": "price", "symbol": "BTC-USD", "price": 10.7, "timestamp": ts + 2},
            {"type": "volume", "symbol": "BTC-USD", "volume": 0.5, "timestamp": ts + 2},
            {"type": "price", "symbol": "BTC-USD", "price": "bad", "timestamp": ts + 3},
        ],
    )
    assert [(t.symbol, sorted(t.types)) for t in read_ticks(path)] == [
        ("BTC-USD", ["price", "volume"]),
        ("ETH-USD", ["orderbook"]),
        ("BTC-USD", ["price"]),
        ("BTC-USD", ["price", "volume"]),
    ]
    market = RecordedMarket(path)
    assert market.symbols == ("BTC-USD", "ETH-USD") and len(market) == 4
    events = [market.event(t) for t in market.ticks()]
    btc = [e for e in events if e.symbol == "BTC-USD"]
    assert [e.seq for e in btc] == [1, 2, 3]
    assert [(e.price, e.bid, e.ask) for e in btc] == [
        (10.5, 10.5, 10.5),  # no quote yet: the price
        (10.6, 10.55, 10.65),
        (10.7, 10.55, 10.65),  # carried
    ]
    assert [(e.size, e.total_volume) for e in btc] == [(0.25, 0.25), (0, 0.25), (0.5, 0.75)]
    eth = events[1]
    assert (eth.price, eth.bid, eth.ask) == (1.1, 1.0, 1.2)
    assert eth.message_fields("orderbook")["bids"] == [[1.0, 0.5]]
    assert btc[0].message_fields("orderbook")["asks"][0] == [10.5, btc[0].asks[0][1]]  # derived


def test_a_recording_without_events_is_refused(tmp_path: Path) -> None:
    empty = write_recording(tmp_path / "e.jsonl", [{"type": "gap", "symbol": "AAPL"}])
    with pytest.raises(RecordingError, match="no price, volume or orderbook"):
        RecordedMarket(empty)
    with pytest.raises(RecordingError, match="cannot read"):
        RecordedMarket(tmp_path / "missing.jsonl")


async def test_serves_the_recording_in_order_with_contiguous_seq(recording: Path) -> None:
    sim = await start(recording)
    client = WebSocketClient(fast_config(sim.url))
    seen: list[dict[str, Any]] = []
    client.add_message_handler("price", seen.append)
    try:
        await client.connect()
        await asyncio.sleep(0.3)
        assert sim.events_published == 0  # nothing before the first subscribe
        started = asyncio.get_running_loop().time()
        await client.subscribe("s", SubscriptionConfig(list(SYMBOLS), ["price"]))
        await wait_until(lambda: len(seen) >= EVENTS * 3)
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        await client.disconnect()
        await sim.stop()
    assert 0.6 <= elapsed < 3  # 0.2 s start delay + ~0.47 s of recorded pacing
    expected = [(ln["symbol"], ln["price"], ln["timestamp"]) for ln in recording_lines()
                if ln["type"] == "price"]  # fmt: skip
    assert [(m["symbol"], m["price"], m["timestamp"]) for m in seen] == expected
    for symbol in SYMBOLS:
        assert [m["seq"] for m in seen if m["symbol"] == symbol] == list(range(1, EVENTS + 1))


async def test_speed_max_plays_fast_and_loop_repeats(recording: Path) -> None:
    sim = await start(recording, speed=None, loop=True, replay_delay=0)
    client = WebSocketClient(fast_config(sim.url))
    seen: list[dict[str, Any]] = []
    client.add_message_handler("volume", seen.append)
    try:
        await client.connect()
        started = asyncio.get_running_loop().time()
        await client.subscribe("s", SubscriptionConfig(["MSFT"], ["volume"]))
        await wait_until(lambda: len(seen) >= 3 * EVENTS)
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        await client.disconnect()
        await sim.stop()
    assert elapsed < 0.45  # three passes of a 0.47 s recording
    assert [m["seq"] for m in seen[: 3 * EVENTS]] == list(range(1, 3 * EVENTS + 1))
    volumes = [m["volume"] for m in seen[: 3 * EVENTS]]
    assert volumes == [100 + i for i in range(EVENTS)] * 3
    totals = [m["total_volume"] for m in seen[: 3 * EVENTS]]
    assert totals == sorted(totals) and totals[EVENTS] == totals[EVENTS - 1] + 100


async def test_resume_after_a_reconnect_loses_nothing(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "long.jsonl", recording_lines(events=150))
    sim = await start(path, speed=0.8)
    client = WebSocketClient(fast_config(sim.url))
    seen: list[tuple[str, int]] = []
    gaps: list[Any] = []
    client.add_message_handler("price", lambda m: seen.append((m["symbol"], m["seq"])))
    client.add_message_handler("gap", gaps.append)
    try:
        await client.connect()
        await client.subscribe("s", SubscriptionConfig(list(SYMBOLS), ["price"]))
        for _ in range(2):
            count = len(seen)
            await wait_until(lambda count=count: len(seen) >= count + 30)
            first_id = client.connection_id
            for session in list(sim.sessions):
                session.ws.transport.abort()
            await wait_until(lambda first_id=first_id: client.connection_id != first_id)
            await wait_until(lambda: client.state is ConnectionState.CONNECTED)
        await wait_until(lambda: len(seen) >= 150 * 3, timeout=8)
        stats = await client.get_stats()
    finally:
        await client.disconnect()
        await sim.stop()
    assert stats["reconnect_count"] == 2 and gaps == [] and stats["gaps"] == 0
    for symbol in SYMBOLS:
        assert [s for sym, s in seen if sym == symbol] == list(range(1, 151))


async def test_conflation_carries_the_latest_recorded_values(recording: Path) -> None:
    sim = await start(recording, speed=None, replay_delay=0)
    client = WebSocketClient(fast_config(sim.url))
    seen: list[dict[str, Any]] = []
    client.add_message_handler("price", seen.append)
    try:
        await client.connect()
        await client.subscribe("c", SubscriptionConfig(["TSLA"], ["price"], update_frequency="1s"))
        await wait_until(lambda: len(seen) >= 1, timeout=3)
    finally:
        await client.disconnect()
        await sim.stop()
    assert seen[-1]["seq"] == EVENTS and seen[-1]["price"] == round(300 + (EVENTS - 1) * 0.01, 2)


def test_cli_serve_replay_then_stream(tmp_path: Path, recording: Path) -> None:
    env = argus_env(tmp_path)
    usage = run_argus(["serve", "--replay", str(recording), "--symbols", "AAPL"], env)
    assert usage.returncode == 2 and "--symbols" in usage.stderr
    assert run_argus(["serve", "--loop"], env).returncode == 2
    bad = run_argus(["serve", "--replay", str(recording), "--speed", "0"], env)
    assert bad.returncode == 2 and "speed" in bad.stderr
    proc = subprocess.Popen(
        [*ARGUS, "serve", "--replay", str(recording), "--port", "0", "--speed", "max"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("ws://"), url
        count = EVENTS * 3 * 2
        result = run_argus(
            ["stream", *SYMBOLS, "--url", url, "--json", "--count", str(count),
             "--types", "price,volume"],
            env,
        )  # fmt: skip
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert result.returncode == 0, result.stderr
    assert "replaying" in stderr and "180 events, 3 symbols" in stderr
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == count
    for symbol in SYMBOLS:
        for kind in ("price", "volume"):
            seqs = [ln["seq"] for ln in lines if ln["symbol"] == symbol and ln["type"] == kind]
            assert seqs == list(range(1, EVENTS + 1)), (symbol, kind)
    prices = [ln["price"] for ln in lines if ln["type"] == "price" and ln["symbol"] == "AAPL"]
    assert prices == [round(100 + i * 0.01, 2) for i in range(EVENTS)]
