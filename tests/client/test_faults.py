"""The client through a fault-injecting proxy: resets, stalls, slicing, cuts, down/up.

Every test checks the delivered stream: no duplicates, no reordering, and no
hole that a reported gap does not cover. Every test also checks that its fault
really happened (a proxy counter, a reconnect, a silence in the arrivals), so
none passes merely because the fault was never injected.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from argus_cli import ConnectionConfig, ConnectionState, SubscriptionConfig, WebSocketClient
from argus_cli.client.transports import make_transport
from argus_cli.sim import Simulator
from argus_cli.testing.faultproxy import FaultProxy
from argus_cli.testing.procinfo import open_fds, rss_kib
from argus_cli.testing.seqcheck import check
from tests.client.helpers import wait_until
from tests.conftest import SimFactory

HEARTBEAT = 0.4
TIMEOUT = 0.4


PROTOCOL_LEVEL_CHAOS = frozenset({"garbage", "dup-seq", "skip-seq"})  # not the transport's


@pytest.fixture(autouse=True, params=["websockets", "picows"])
def transport_name(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every fault here, on both transports (the default is picows where installed)."""
    name = str(request.param)
    if name == "picows" and importlib.util.find_spec("picows") is None:
        pytest.skip("picows is not installed")
    spec = getattr(request.node, "callspec", None)
    mode = str(spec.params.get("spec", "")) if spec is not None else ""
    if name == "websockets" and mode.split("=")[0] in PROTOCOL_LEVEL_CHAOS:
        pytest.skip("protocol-level chaos: the same on any transport (run on picows)")
    chosen = make_transport(name)
    monkeypatch.setattr(
        "argus_cli.client.connection.make_transport", lambda _: make_transport(name)
    )
    assert chosen.name == name
    return name


@pytest.fixture
async def proxy(sim: Simulator) -> AsyncIterator[FaultProxy]:
    fault_proxy = FaultProxy("127.0.0.1", sim.port)
    await fault_proxy.start()
    yield fault_proxy
    await fault_proxy.stop()


def config(url: str, **kwargs: Any) -> ConnectionConfig:
    options: dict[str, Any] = {
        "max_reconnect_attempts": 10,
        "reconnect_delay": 0.05,
        "heartbeat_interval": HEARTBEAT,
        "timeout": TIMEOUT,
    }
    options.update(kwargs)
    return ConnectionConfig(url=url, **options)


class Recorder:
    """A client subscribed to AAPL and MSFT price+volume, recording everything delivered."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.client = WebSocketClient(config(url, **kwargs))
        self.messages: list[dict[str, Any]] = []
        self.arrivals: list[float] = []  # monotonic arrival time of each data message
        for kind in ("price", "volume", "gap"):
            self.client.add_message_handler(kind, self._record)

    def _record(self, msg: dict[str, Any]) -> None:
        self.messages.append(msg)
        if msg.get("type") != "gap":
            self.arrivals.append(time.monotonic())

    def silences(self, longer_than: float) -> list[float]:
        """The gaps between consecutive data arrivals longer than ``longer_than`` seconds."""
        pairs = zip(self.arrivals, self.arrivals[1:], strict=False)
        return [later - earlier for earlier, later in pairs if later - earlier > longer_than]

    async def start(self) -> None:
        assert await self.client.connect()
        await self.client.subscribe("s", SubscriptionConfig(["AAPL", "MSFT"], ["price", "volume"]))
        await self.more(10)

    async def more(self, count: int, timeout: float = 10) -> None:
        target = len(self.messages) + count
        await wait_until(lambda: len(self.messages) >= target, timeout)

    async def reconnected(self, before: int, timeout: float = 10) -> None:
        """Wait for a reconnect beyond ``before`` (the count taken before the fault)."""
        await wait_until(lambda: self.client.reconnect_count > before, timeout)
        await wait_until(lambda: self.client.state is ConnectionState.CONNECTED, timeout)

    async def stop(self) -> None:
        await self.client.disconnect()

    def assert_exact(self) -> None:
        report = check(self.messages)
        assert report.duplicated == 0 and report.out_of_order == 0, report
        assert report.lost == 0, report.holes
        assert report.delivered > 0


async def test_resets_lose_and_double_nothing(proxy: FaultProxy) -> None:
    rec = Recorder(proxy.url)
    await rec.start()
    for _ in range(5):
        before = rec.client.reconnect_count
        proxy.reset()
        await rec.reconnected(before)
        await rec.more(10)
    await rec.stop()
    rec.assert_exact()
    assert proxy.resets == 5  # one live connection reset each time
    assert rec.client.reconnect_count == 5
    assert check(rec.messages).gapped == 0  # the ring held everything


async def test_black_hole_is_detected_within_heartbeat_plus_timeout(proxy: FaultProxy) -> None:
    rec = Recorder(proxy.url)
    await rec.start()
    before = rec.client.reconnect_count
    proxy.blackhole = True
    started = time.monotonic()
    await wait_until(lambda: rec.client.state is not ConnectionState.CONNECTED, 10)
    detected = time.monotonic() - started
    proxy.blackhole = False
    await rec.reconnected(before)
    await rec.more(20)
    await rec.stop()
    # keepalive: a ping within HEARTBEAT, no pong within TIMEOUT, then a bounded close
    assert detected <= HEARTBEAT + TIMEOUT + 1.5, detected
    assert proxy.held_chunks > 0  # the black hole swallowed traffic (at least the ping)
    rec.assert_exact()


QUIET = 1.5


async def test_quiet_but_healthy_stream_is_never_restarted(make_sim: SimFactory) -> None:
    # every 2 s, quiet for 1.5 s: longer than heartbeat + timeout (0.8 s), so only the
    # pongs that keep coming stop a restart
    sim = await make_sim(chaos=f"quiet=2s:{QUIET}s", rate=20)
    rec = Recorder(sim.url, heartbeat_interval=0.3, timeout=0.5)
    await rec.start()
    # the fault happened: two silences in the arrivals (a stream of ~80 messages/s
    # otherwise never pauses for a second), and the data came back after each
    await wait_until(lambda: len(rec.silences(1.0)) >= 2, 10)
    await rec.more(10)
    assert rec.client.reconnect_count == 0
    assert rec.client.state is ConnectionState.CONNECTED
    await rec.stop()
    silences = rec.silences(1.0)
    assert all(QUIET * 0.8 <= s <= QUIET + 0.75 for s in silences), silences
    rec.assert_exact()
    assert check(rec.messages).gapped == 0  # held back, not dropped


async def test_tiny_segments_and_latency(proxy: FaultProxy) -> None:
    proxy.slice_size = 7
    proxy.latency = 0.005
    rec = Recorder(proxy.url)
    await rec.start()
    await rec.more(50)
    await rec.stop()
    rec.assert_exact()
    assert rec.client.decode_errors == 0
    assert proxy.sliced_chunks > 0 and proxy.delayed_chunks > 0  # both faults were applied


async def test_cut_mid_frame(proxy: FaultProxy) -> None:
    rec = Recorder(proxy.url)
    await rec.start()
    for _ in range(3):
        before = rec.client.reconnect_count
        proxy.cut_next_server_chunk()
        await rec.reconnected(before)
        await rec.more(10)
    await rec.stop()
    rec.assert_exact()
    assert proxy.cuts == 3  # each reconnect followed a cut, not some other failure
    assert rec.client.decode_errors == 0  # a partial frame is never decoded


async def test_server_down_then_up(proxy: FaultProxy) -> None:
    rec = Recorder(proxy.url, reconnect_delay=0.1)
    await rec.start()
    before = rec.client.reconnect_count
    await proxy.down()
    await wait_until(lambda: rec.client.state is ConnectionState.RECONNECTING)
    await asyncio.sleep(0.5)  # down for a while: the market moves on
    await proxy.up()
    await rec.reconnected(before)
    await rec.more(20)
    await rec.stop()
    assert proxy.resets == 1  # down() dropped the live connection
    assert proxy.connections >= 2  # and a new one came through after up()
    rec.assert_exact()


async def test_many_reconnects_leave_no_leaks(proxy: FaultProxy) -> None:
    rec = Recorder(proxy.url, max_reconnect_attempts=5)
    await rec.start()
    fds, tasks, rss = open_fds(), len(asyncio.all_tasks()), rss_kib()
    for _ in range(100):
        before = rec.client.reconnect_count
        proxy.reset()
        await rec.reconnected(before)
    await rec.more(5)
    assert rec.client.reconnect_count == 100
    assert abs(open_fds() - fds) <= 2
    assert len(asyncio.all_tasks()) <= tasks + 1
    assert rss_kib() - rss < 10 * 1024
    await rec.stop()
    rec.assert_exact()


async def test_slow_handler_pauses_reading_with_bounded_memory(make_sim: SimFactory) -> None:
    # The bound, from the code. The buffer takes a frame's messages whole, and only
    # while it holds fewer than its capacity (``MessageBuffer.offer`` and ``put`` both
    # check ``depth < capacity`` and append without an ``await`` in between). The reader
    # hands it one frame at a time and waits for ``put`` before the next, on both
    # transports (picows queues the frames it read before pausing, outside the buffer,
    # and offers them one by one). A frame's batch holds at most its messages (the
    # pipeline adds one only for a seq jump, which ``check`` below would catch). So the
    # depth never passes capacity - 1 + the largest frame, counted in messages.
    #
    # The largest frame is the server's to choose: the simulator sends everything
    # queued, up to ``max_batch`` messages (1,000 by default). Under load the shared
    # event loop stalls, the market catches up in one tick and the next frame holds
    # the whole stall's worth: that is how "capacity plus 100" once saw 156 (a frame
    # of at least 107). Here ``max_batch`` caps a frame at 100 messages, and the
    # handler stalls the loop once on purpose, so full frames do arrive.
    capacity, frame = 50, 100
    sim = await make_sim(rate=500, symbols=["AAPL"], max_batch=frame)
    client = WebSocketClient(config(sim.url, queue_size=capacity, heartbeat_interval=5, timeout=5))
    seen: list[dict[str, Any]] = []
    depths: list[int] = []

    async def slow(msg: dict[str, Any]) -> None:
        seen.append(msg)
        depths.append((await client.get_stats())["queue_depth"])
        if len(seen) == 200:
            time.sleep(0.3)  # the loop stalls (as when the process is descheduled)
        await asyncio.sleep(0.002)

    client.add_message_handler("price", slow)
    client.add_message_handler("gap", seen.append)
    assert await client.connect()
    await client.subscribe("s", SubscriptionConfig(["AAPL"], ["price", "volume"]))
    await wait_until(lambda: len(seen) >= 400, 20)
    stats = await client.get_stats()
    await client.disconnect()
    assert stats["backpressure_pauses"] > 0
    assert capacity < max(depths) <= capacity - 1 + frame  # frames overshot; never more
    report = check(seen)
    assert report.duplicated == 0 and report.lost == 0, report.holes


@pytest.mark.parametrize(
    ("spec", "check_stats"),
    [
        ("reset=0.5s", lambda s: s["reconnect_count"] >= 2),
        ("stall=1.2s:0.8s", lambda s: s["reconnect_count"] >= 1),
        ("flap=2s:0.3s", lambda s: s["reconnect_count"] >= 1),
        ("garbage=20%", lambda s: s["decode_errors"] > 0),
        ("dup-seq=5%", lambda s: s["duplicates_dropped"] > 0),
        ("skip-seq=5%", lambda s: s["gaps"] > 0),
    ],
)
async def test_chaos_modes(make_sim: SimFactory, spec: str, check_stats: Any) -> None:
    sim = await make_sim(chaos=spec, rate=100, seed=11)
    rec = Recorder(sim.url, heartbeat_interval=0.3, timeout=0.3, max_reconnect_attempts=20)
    await rec.start()
    await asyncio.sleep(2.5)  # run under the fault for a while
    await rec.more(10)
    stats = await rec.client.get_stats()
    await rec.stop()
    assert check_stats(stats), stats
    report = check(rec.messages)
    assert report.duplicated == 0 and report.out_of_order == 0, report
    assert report.lost == 0, report.holes
    if spec.startswith("skip-seq"):
        assert report.gapped > 0  # the holes were reported as gaps
    for msg in rec.messages:
        assert msg["type"] in ("price", "volume", "gap")
        if msg["type"] == "price":
            assert isinstance(msg["price"], float | int) and msg["symbol"] in ("AAPL", "MSFT")


async def test_mute_silences_one_symbol(make_sim: SimFactory) -> None:
    sim = await make_sim(chaos="mute=AAPL:5s", rate=100)
    rec = Recorder(sim.url)
    assert await rec.client.connect()
    await rec.client.subscribe("s", SubscriptionConfig(["AAPL", "MSFT"], ["price"]))
    await rec.more(20)
    await rec.stop()
    assert {m["symbol"] for m in rec.messages} == {"MSFT"}


async def test_accept_close_gives_up_after_the_attempts(make_sim: SimFactory) -> None:
    sim = await make_sim(chaos="accept-close")
    client = WebSocketClient(config(sim.url, max_reconnect_attempts=4))
    await client.connect()  # the handshake succeeds, so connect() itself says True
    await client.wait_stopped()
    assert client.state is ConnectionState.ERROR
    assert "4 consecutive failed attempts" in str(client.failure)
    assert "1011" in str(client.failure)


async def test_429_is_retried_honouring_retry_after(make_sim: SimFactory) -> None:
    sim = await make_sim(chaos="refuse=429")
    client = WebSocketClient(config(sim.url, max_reconnect_attempts=2, reconnect_delay=0.01))
    started = time.monotonic()
    assert await client.connect() is False
    assert time.monotonic() - started >= 1.0  # Retry-After: 1
    assert "429" in str(client.failure) and "2 consecutive" in str(client.failure)


async def test_403_is_fatal_at_once(make_sim: SimFactory) -> None:
    sim = await make_sim(chaos="refuse=403")
    client = WebSocketClient(config(sim.url, max_reconnect_attempts=10))
    assert await client.connect() is False
    assert "refused" in str(client.failure) or "requires an API key" in str(client.failure)
    assert client.reconnect_count == 0
