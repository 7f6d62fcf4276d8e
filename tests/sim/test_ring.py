"""The resume ring: events held as numbers, replayed equal (to the byte) to what went out live;
``ring_size`` honoured, from ``SimulatorConfig`` and from ``argus serve --ring-size``."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Coroutine
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from argus_cli.cli import serve as serve_command
from argus_cli.cli.app import app
from argus_cli.sim import Market, Simulator, SimulatorConfig
from argus_cli.sim.market import Event, EventRing
from argus_cli.testing.rawclient import RawClient, subscribe_op
from tests.conftest import SimFactory

ALL_TYPES = ["price", "volume", "orderbook"]


def bodies(event: Event) -> dict[str, bytes]:
    return {data_type: event.body(data_type) for data_type in ALL_TYPES}


@given(st.integers(0, 60), st.integers(0, 150))
def test_the_ring_holds_the_newest_ring_size_events_equal_to_the_published(
    ring_size: int, count: int
) -> None:
    market = Market(["AAPL", "PENNY"], seed=3, ring_size=ring_size)
    live = [market.next_event("AAPL", 1_700_000_000.123456 + i / 7) for i in range(count)]
    sent = [bodies(event) for event in live]  # what a subscriber was sent, encoded live
    ring = market.states["AAPL"].ring
    held = min(count, ring_size)
    assert len(ring) == held and ring.newest == count and ring.oldest == count - held + 1
    replayed, gap = market.events_after("AAPL", 0)
    assert replayed == live[count - held :]  # every field, floats bit for bit
    assert [bodies(event) for event in replayed] == sent[count - held :]
    assert gap == ((1, count - held) if count > held else None)
    assert market.last_event("AAPL") == (live[-1] if held else None)
    assert list(ring) == replayed


def test_the_ring_wraps_in_place_and_refuses_what_it_does_not_hold() -> None:
    market = Market(["AAPL"], seed=0, ring_size=4)
    for i in range(10):
        market.next_event("AAPL", float(i))
    ring = market.states["AAPL"].ring
    assert [e.seq for e in ring] == [7, 8, 9, 10]
    assert len(ring.prices) == 4  # wrapped, not grown
    with pytest.raises(IndexError):
        ring.event(6)
    with pytest.raises(IndexError):
        ring.events(6, 8)
    assert ring.events(9, 8) == []
    with pytest.raises(ValueError, match="seq 12 after 10"):
        ring.append(Event("AAPL", 12, 0.0, 1.0, 1.0, 1.0, 1, 1))
    with pytest.raises(ValueError, match="ring_size must be >= 0"):
        EventRing("AAPL", -1)


def test_a_held_event_costs_at_most_150_bytes() -> None:
    """Issue 11: at most 150 bytes an event (measured: ~46; the old ring took ~390).
    tracemalloc counts what Python allocates: deterministic, unlike RSS."""
    market = Market(["AAPL", "MSFT"], seed=1, ring_size=20_000)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            for symbol in ("AAPL", "MSFT"):
                market.next_event(symbol, float(i)).body("price")  # a subscriber's encoding
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held / 40_000 <= 150


async def test_a_resume_replays_the_very_messages_sent_live(make_sim: SimFactory) -> None:
    sim = await make_sim(symbols=["AAPL", "MSFT"], rate=200, ring_size=1_000)
    live = await RawClient.open(sim.url)
    await live.send(subscribe_op("s1", ["AAPL", "MSFT"], data_types=ALL_TYPES))
    await live.expect_type("subscribed")
    seen = [m for m in await live.collect(0.5) if m.get("type") in ALL_TYPES]
    await live.close()
    assert len(seen) > 100
    first = {s: min(m["seq"] for m in seen if m["symbol"] == s) for s in ("AAPL", "MSFT")}
    resumed = await RawClient.open(sim.url)
    resume = {symbol: seq - 1 for symbol, seq in first.items()}
    await resumed.send(subscribe_op("s1", ["AAPL", "MSFT"], data_types=ALL_TYPES, resume=resume))
    await resumed.expect_type("subscribed")
    again: list[dict[str, Any]] = []
    for _ in range(50):  # the replay, then live: at least as many as seen
        again += [m for m in await resumed.collect(0.2) if m.get("type") in ALL_TYPES]
        if len(again) >= len(seen):
            break
    await resumed.close()

    def key(msg: dict[str, Any]) -> tuple[str, int, str]:
        return msg["symbol"], msg["seq"], msg["type"]

    replayed = {key(m): m for m in again}
    assert all(replayed[key(m)] == m for m in seen)  # every field, every number
    assert not [m for m in again if m.get("type") == "gap"]


async def test_a_ring_of_zero_holds_nothing_and_every_resume_is_a_gap(
    make_sim: SimFactory,
) -> None:
    sim = await make_sim(symbols=["AAPL"], rate=200, ring_size=0)
    while sim.market.last_seq("AAPL") < 5:
        await asyncio.sleep(0.01)
    client = await RawClient.open(sim.url)
    await client.send(subscribe_op("s1", ["AAPL"], resume={"AAPL": 1}))
    await client.expect_type("subscribed")
    gap = await client.expect_type("gap")
    assert gap["from_seq"] == 2 and gap["to_seq"] >= 5
    first = await client.expect_type("price")
    assert first["seq"] == gap["to_seq"] + 1
    await client.close()


@pytest.mark.parametrize(("args", "ring_size"), [([], 10_000), (["--ring-size", "250"], 250)])
def test_serve_ring_size_flag(
    monkeypatch: pytest.MonkeyPatch, args: list[str], ring_size: int
) -> None:
    started: list[Simulator] = []

    def build(config: SimulatorConfig) -> Simulator:
        started.append(Simulator(config))
        return started[-1]

    def run_async(main: Coroutine[Any, Any, None]) -> None:
        main.close()  # not served: the simulator built is what is checked

    monkeypatch.setattr(serve_command, "Simulator", build)
    monkeypatch.setattr(serve_command, "run_async", run_async)
    result = CliRunner().invoke(app, ["serve", "--port", "0", *args])
    assert result.exit_code == 0, result.output
    (sim,) = started
    assert sim.config.ring_size == ring_size
    assert all(state.ring.capacity == ring_size for state in sim.market.states.values())


def test_serve_refuses_a_negative_ring_size() -> None:
    result = CliRunner().invoke(app, ["serve", "--port", "0", "--ring-size", "-1"])
    assert result.exit_code == 2 and "--ring-size" in result.output
