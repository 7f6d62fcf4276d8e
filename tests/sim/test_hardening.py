"""The simulator under abusive clients, over real sockets: non-readers, big resumes,
rate limits, bad handshakes, bad ``argus serve`` values; and the ``epoch``."""

from __future__ import annotations

import asyncio
import json
import re
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

import pytest
from typer.testing import CliRunner
from websockets.exceptions import ConnectionClosed, InvalidStatus

from argus_cli.cli.app import app
from argus_cli.protocol.rules import CloseCode
from argus_cli.sim import DEFAULT_UNIVERSE, Simulator
from argus_cli.sim.session import Session
from argus_cli.testing.rawclient import RawClient, subscribe_op
from tests.conftest import SimFactory

ALL_TYPES = ["price", "volume", "orderbook"]
SYMBOLS = list(DEFAULT_UNIVERSE)[:20]
# The largest pause a well-behaved client may see between two frames while others
# misbehave. Its frames come every few ms; the old simulator stalled for seconds.
MAX_GAP = 0.75


# --- helpers --------------------------------------------------------------------------


@dataclass
class Watcher:
    """A well-behaved client of prices; the gaps between its frames and any seq holes."""

    client: RawClient
    gaps: list[float] = field(default_factory=list)
    last_seq: dict[tuple[str, str], int] = field(default_factory=dict)  # (sub, symbol)
    holes: list[tuple[str, str, int, int]] = field(default_factory=list)
    messages: int = 0
    _last: float | None = None

    @classmethod
    async def open(cls, sim: Simulator) -> Watcher:
        return cls(await RawClient.open(sim.url))

    async def subscribe(self, sub_id: str, symbols: list[str]) -> None:
        """Subscribe; the reply is skipped over by ``step``."""
        await self.client.send(subscribe_op(sub_id, symbols, data_types=["price"]))

    async def step(self, timeout: float = 5.0) -> None:
        """Receive one frame."""
        frame = await asyncio.wait_for(self.client.ws.recv(decode=False), timeout)
        now = asyncio.get_running_loop().time()
        if self._last is not None and self.messages:
            self.gaps.append(now - self._last)
        self._last = now
        parsed = json.loads(frame)
        for msg in parsed if isinstance(parsed, list) else [parsed]:
            if msg.get("type") != "price":
                continue
            self.messages += 1
            key = (msg["sub"], msg["symbol"])
            previous = self.last_seq.get(key)
            if previous is not None and msg["seq"] != previous + 1:
                self.holes.append((*key, previous, msg["seq"]))
            self.last_seq[key] = msg["seq"]


async def open_nonreader(sim: Simulator) -> tuple[RawClient, Session]:
    """A client that will never read; and its session on the server."""
    client = await RawClient.open(sim.url, max_queue=1, ping_interval=None)
    welcome = await client.expect_type("welcome")
    client.ws.transport.pause_reading()
    session = next(s for s in sim.sessions if s.connection_id == welcome["connection_id"])
    return client, session


async def close_code_after_reading(client: RawClient) -> int | None:
    """Read everything left (the close frame waits behind it); the close code."""
    client.ws.transport.resume_reading()
    try:
        while True:
            await asyncio.wait_for(client.ws.recv(decode=False), 5)
    except ConnectionClosed:
        pass
    return client.ws.close_code


# --- 10: clients that never read --------------------------------------------------------


async def test_non_readers_are_cut_with_1013_while_others_carry_on(make_sim: SimFactory) -> None:
    sim = await make_sim(symbols=SYMBOLS, rate=10, send_queue=20_000)
    count = 8
    subscribes = [subscribe_op(f"n{i}", SYMBOLS, data_types=ALL_TYPES) for i in range(100)]
    watcher = await Watcher.open(sim)
    await watcher.subscribe("early", SYMBOLS)  # before the non-readers
    nonreaders: dict[RawClient, Session] = {}
    drains: list[asyncio.Task[int | None]] = []

    async def watch() -> None:
        """Read all along; once the non-readers' subscriptions are in place, subscribe
        again (this route comes after all theirs); read each cut non-reader up to its
        close frame at once; end 50 frames after the last cut."""
        late = False
        cut: set[Session] = set()
        after = 0
        while after < 50:
            await watcher.step()
            sessions = list(nonreaders.items())
            placed = [len(s.routes) == len(subscribes) or s.closed for _, s in sessions]
            if not late and len(placed) == count and all(placed):
                await watcher.subscribe("late", SYMBOLS)
                late = True
            for client, session in sessions:
                if session.closed and session not in cut:
                    cut.add(session)
                    drains.append(asyncio.create_task(close_code_after_reading(client)))
            if len(drains) == count:
                after += 1

    tracemalloc.start()
    reading = asyncio.create_task(watch())
    try:
        nonreaders.update([await open_nonreader(sim) for _ in range(count)])
        for client in nonreaders:
            for op in subscribes:
                await client.send(op)
        await asyncio.wait_for(reading, 20)
        codes = await asyncio.gather(*drains)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        reading.cancel()
        tracemalloc.stop()
    assert codes == [CloseCode.TRY_AGAIN] * count
    assert sim.closes == {CloseCode.TRY_AGAIN: count}
    assert not watcher.holes, watcher.holes[:5]
    assert max(watcher.gaps) < MAX_GAP, max(watcher.gaps)
    # A queue is bounded in messages and holds references, not encoded copies (about
    # 64 bytes an entry, ~0.5 MiB here); with the subscriptions and a frame in flight,
    # under 2 MiB a non-reader. The old simulator held ~5 MiB of encoded bytes each.
    assert peak < count * 2 * 2**20 + 4 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB"


# --- 11: resume replays in slices ---------------------------------------------------------


def prefill(sim: Simulator, events: int) -> dict[str, int]:
    """Trade every symbol ``events`` times at once; the newest seq of each."""
    now = time.time()
    for symbol in sim.market.symbols:
        for _ in range(events):
            sim.market.next_event(symbol, now)
    return {symbol: sim.market.last_seq(symbol) for symbol in sim.market.symbols}


async def read_until_live(
    client: RawClient, sub_id: str, heads: dict[str, int], types: list[str]
) -> tuple[dict[tuple[str, str], list[int]], list[dict[str, Any]]]:
    """Read until every (symbol, type) of ``sub_id`` has gone 3 past its head; the seqs
    seen, and the other messages."""
    seqs: dict[tuple[str, str], list[int]] = {(s, t): [] for s in heads for t in types}
    others: list[dict[str, Any]] = []
    pending = set(seqs)
    while pending:
        frame = await asyncio.wait_for(client.ws.recv(decode=False), 5)
        parsed = json.loads(frame)
        for msg in parsed if isinstance(parsed, list) else [parsed]:
            if msg.get("sub") != sub_id or msg["type"] not in types:
                others.append(msg)
                continue
            key = (msg["symbol"], msg["type"])
            seqs[key].append(msg["seq"])
            if msg["seq"] > heads[msg["symbol"]] + 3:
                pending.discard(key)
    return seqs, others


async def test_a_big_resume_replays_in_order_then_live_while_others_carry_on(
    make_sim: SimFactory,
) -> None:
    sim = await make_sim(symbols=SYMBOLS, rate=20, ring_size=5_000, send_queue=5_000)
    heads = prefill(sim, 2_000)  # 120,000 messages to replay: 24 times the send queue
    watcher = await Watcher.open(sim)
    await watcher.subscribe("w", SYMBOLS)
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            await watcher.step()

    reading = asyncio.create_task(watch())
    resumer = await RawClient.open(sim.url)
    await resumer.send(subscribe_op("live", SYMBOLS, data_types=["price"]))
    await resumer.send(
        subscribe_op("r", SYMBOLS, data_types=ALL_TYPES, resume=dict.fromkeys(SYMBOLS, 1))
    )
    try:
        seqs, others = await read_until_live(resumer, "r", heads, ALL_TYPES)
        done.set()
        await asyncio.wait_for(reading, 5)
    finally:
        reading.cancel()
    for (symbol, kind), got in seqs.items():
        assert got == list(range(2, got[-1] + 1)), (symbol, kind, got[:3], got[-3:])
    assert not [m for m in others if m["type"] in ("gap", "error")]
    live = {}
    for msg in others:  # the same connection's live subscription was never starved
        if msg.get("sub") == "live":
            assert msg["seq"] == live.get(msg["symbol"], msg["seq"] - 1) + 1, msg
            live[msg["symbol"]] = msg["seq"]
    assert set(live) == set(SYMBOLS)
    assert sim.closes == {}
    assert not watcher.holes, watcher.holes[:5]
    assert max(watcher.gaps) < MAX_GAP, max(watcher.gaps)


async def test_a_resume_past_the_ring_sends_each_gap_before_its_events(
    make_sim: SimFactory,
) -> None:
    symbols = SYMBOLS[:4]
    sim = await make_sim(symbols=symbols, rate=20, ring_size=1_000)
    heads = prefill(sim, 2_500)
    client = await RawClient.open(sim.url)
    await client.send(
        subscribe_op("r", symbols, data_types=["price"], resume=dict.fromkeys(symbols, 10))
    )
    seqs, others = await read_until_live(client, "r", heads, ["price"])
    gaps = {m["symbol"]: m for m in others if m["type"] == "gap"}
    assert set(gaps) == set(symbols)
    assert [m["type"] for m in others[:2]] == ["welcome", "subscribed"]
    for symbol in symbols:
        gap = gaps[symbol]
        assert (gap["from_seq"], gap["reason"], gap["sub"]) == (11, "not_in_buffer", "r")
        got = seqs[(symbol, "price")]
        assert got == list(range(gap["to_seq"] + 1, got[-1] + 1))


async def test_a_resumer_that_does_not_read_is_cut_with_1013(make_sim: SimFactory) -> None:
    sim = await make_sim(symbols=SYMBOLS, rate=20, send_queue=2_000, drain_timeout=0.5)
    prefill(sim, 2_000)
    watcher = await Watcher.open(sim)
    await watcher.subscribe("w", SYMBOLS)
    resumer, session = await open_nonreader(sim)
    await resumer.send(
        subscribe_op("r", SYMBOLS, data_types=ALL_TYPES, resume=dict.fromkeys(SYMBOLS, 1))
    )
    most = 0
    deadline = asyncio.get_running_loop().time() + 10
    while not session.closed:
        assert asyncio.get_running_loop().time() < deadline, "the resumer was never cut"
        await watcher.step()
        most = max(most, session.queued)
    assert await close_code_after_reading(resumer) == CloseCode.TRY_AGAIN
    assert sim.closes == {CloseCode.TRY_AGAIN: 1}
    assert most <= 1_000 + 3 * 100  # the replay's share of the queue, plus a slice
    assert not watcher.holes and max(watcher.gaps) < MAX_GAP


# --- 12: rate-limit errors name the subscription; bad handshakes; bad serve values ------


async def test_a_rate_limited_subscribe_error_carries_its_id(make_sim: SimFactory) -> None:
    sim = await make_sim(control_rate=0.5, control_burst=2, max_violations=10)
    client = await RawClient.open(sim.url)
    await client.send(subscribe_op("a"))
    await client.send(subscribe_op("b"))
    await client.send(subscribe_op("c"))  # over the burst
    await client.send({"op": "unsubscribe", "id": "a"})  # over the burst too
    await client.send({"op": "ping", "nonce": 1})  # no id to carry
    await client.send('{"op": "subscribe", "id": "bad id!"}')  # not a valid id: left out
    errors = [await client.expect_type("error") for _ in range(4)]
    assert [e["code"] for e in errors] == ["rate_limited"] * 4
    assert [e.get("id") for e in errors] == ["c", "a", None, None]


async def test_duplicate_authorization_headers_get_400(make_sim: SimFactory) -> None:
    sim = await make_sim(api_key="sekret")
    headers = [("Authorization", "Bearer sekret"), ("Authorization", "Bearer other")]
    with pytest.raises(InvalidStatus) as info:
        await RawClient.open(sim.url, additional_headers=headers)
    assert info.value.response.status_code == 400
    assert b"Authorization" in info.value.response.body
    ok = await RawClient.open(sim.url, additional_headers={"Authorization": "Bearer sekret"})
    assert (await ok.recv())["type"] == "welcome"


# An address nothing can bind: a value that slips through fails fast (exit 1) instead of
# serving forever; a refused value exits 2 before any bind.
UNBINDABLE = ["--host", "256.256.256.256", "--port", "0"]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--chaos", "mute=XYZQ:5s"], "XYZQ"),
        (["--symbols", "AAPL,MSFT", "--chaos", "reset=5s,mute=GOOGL:5s"], "GOOGL"),
        (["--symbols", ""], "''"),
        (["--symbols", " , "], "' , '"),
    ],
)
def test_serve_refuses_values_naming_nothing_it_serves(args: list[str], named: str) -> None:
    result = CliRunner().invoke(app, ["serve", *UNBINDABLE, *args])
    assert result.exit_code == 2, result.output
    option = "--chaos" if "--chaos" in args else "--symbols"
    assert option in result.output and named in result.output


def test_serve_accepts_muting_a_symbol_it_serves() -> None:
    result = CliRunner().invoke(
        app, ["serve", *UNBINDABLE, "--symbols", "AAPL,MSFT", "--chaos", "mute=msft:5s"]
    )
    assert result.exit_code == 1 and "cannot listen" in result.output  # got as far as binding


# --- epoch ------------------------------------------------------------------------------


async def test_welcome_carries_the_epoch_of_the_sequence_space(make_sim: SimFactory) -> None:
    first, second = await make_sim(), await make_sim()
    welcomes = []
    for sim in (first, first, second):
        client = await RawClient.open(sim.url)
        welcomes.append(await client.expect_type("welcome"))
        await client.close()
    epochs = [w["epoch"] for w in welcomes]
    assert all(re.fullmatch(r"[A-Za-z0-9_.:\-]{1,128}", e) for e in epochs)  # what clients accept
    assert epochs[0] == epochs[1] == first.epoch  # one server: one epoch, every connection
    assert epochs[2] == second.epoch != first.epoch  # another server: another
    assert welcomes[0]["connection_id"] != welcomes[1]["connection_id"]
