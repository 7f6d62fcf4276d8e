"""The provider seam's actions, driven by the real client against a live simulator:
timer actions are performed while connected; ``Reconnect`` opens a new connection
that resumes without loss and is not counted as a failure; a provider bug in the
timer is not a silent stop."""

from __future__ import annotations

import asyncio
from typing import Any

from argus_cli import ConnectionState, SubscriptionConfig, WebSocketClient
from argus_cli.exceptions import InternalError
from argus_cli.protocol.argus import ArgusSession
from argus_cli.protocol.codec import encode_ping
from argus_cli.protocol.session import Action, Received, Reconnect, Send
from argus_cli.sim import Simulator
from argus_cli.testing.seqcheck import check
from tests.client.helpers import fast_config, wait_until


class PingingSession(ArgusSession):
    """Sends an application ping on every timer tick."""

    timer_interval = 0.05

    def __init__(self) -> None:
        self.ticks = 0

    def on_timer(self, now: float) -> list[Action]:
        self.ticks += 1
        return [Send(encode_ping(1000 + self.ticks))]


class RotatingSession(ArgusSession):
    """Asks for a new connection after every ``every`` data frames (Binance's 24 h
    rotation, a ``serverShutdown`` notice)."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.frames = 0

    def receive(self, frame: str | bytes, now: float) -> Received:
        received = super().receive(frame, now)
        if any(m["type"] == "price" for m in received.events):
            self.frames += 1
            if self.frames % self.every == 0:
                received.add_actions([Reconnect("rotation")])
        return received


class BrokenTimerSession(ArgusSession):
    timer_interval = 0.05

    def on_timer(self, now: float) -> list[Action]:
        raise RuntimeError("timer bug")


async def test_timer_actions_are_performed_while_connected(sim: Simulator) -> None:
    provider = PingingSession()
    client = WebSocketClient(fast_config(sim.url), provider=provider)
    pongs: list[dict[str, Any]] = []
    client.add_message_handler("pong", pongs.append)
    assert await client.connect()
    await wait_until(lambda: len(pongs) >= 3)
    await client.disconnect()
    assert {p["nonce"] for p in pongs} <= {1000 + n for n in range(1, provider.ticks + 1)}
    timers = [t for t in asyncio.all_tasks() if t.get_name() == "argus-provider-timer"]
    assert all(t.done() for t in timers)  # disconnected: the timer stopped with the link


async def test_a_reconnect_action_resumes_without_loss_and_is_no_failure(
    make_sim: Any,
) -> None:
    sim = await make_sim(rate=200.0)
    client = WebSocketClient(fast_config(sim.url), provider=RotatingSession(every=40))
    seen: list[dict[str, Any]] = []
    client.add_frame_handler(seen.extend)
    assert await client.connect()
    await client.subscribe("s", SubscriptionConfig(["AAPL"], ["price"]))
    await wait_until(lambda: client.reconnect_count >= 2, timeout=10)
    await wait_until(lambda: len(seen) >= 150, timeout=10)
    await client.disconnect()
    report = check(seen)
    assert report.lost == 0 and report.duplicated == 0 and report.gapped == 0
    assert client.failure is None


async def test_a_provider_timer_that_raises_is_not_a_silent_stop(sim: Simulator) -> None:
    client = WebSocketClient(fast_config(sim.url), provider=BrokenTimerSession())
    assert await client.connect()
    await asyncio.wait_for(client.wait_stopped(), 10)
    assert client.state is ConnectionState.ERROR
    assert isinstance(client.failure, InternalError) and "timer bug" in str(client.failure)
    await client.disconnect()
