"""The simulator performing chaos actions and honouring chaos decisions, over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from argus_cli.protocol.rules import CloseCode
from argus_cli.sim import Chaos, Simulator, SimulatorConfig
from argus_cli.sim.chaos import AbortAll, CloseAll, EndStall, StartStall
from tests.sim.test_chaos import FakeClock


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[ClientConnection]:
    async with connect(sim.url, ping_interval=None) as ws:
        await ws.recv()  # the welcome: the session is registered
        yield ws


async def test_close_all_sends_the_code(sim: Simulator, client: ClientConnection) -> None:
    sim.perform(CloseAll(CloseCode.RESTART, "service restart (test)"))
    await asyncio.wait_for(client.wait_closed(), 5)
    assert client.close_code == CloseCode.RESTART
    assert client.close_reason == "service restart (test)"
    assert sim.closes == {CloseCode.RESTART: 1}


async def test_abort_all_resets_without_a_close_frame(
    sim: Simulator, client: ClientConnection
) -> None:
    sim.perform(AbortAll())
    await asyncio.wait_for(client.wait_closed(), 5)
    assert client.protocol.close_rcvd is None
    assert client.close_code == 1006  # abnormal closure: no close frame came
    assert sim.closes == {}


async def test_a_stall_stops_pongs_until_it_ends(sim: Simulator, client: ClientConnection) -> None:
    sim.perform(StartStall())
    assert len(sim.stalled) == 1
    pong = await client.ping()
    # an absence can only be observed over time: no pong within 0.3 s while stalled
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(pong), 0.3)
    sim.perform(EndStall())
    assert sim.stalled == []
    await asyncio.wait_for(pong, 5)


async def test_handshakes_are_refused_with_503_during_a_flap_window() -> None:
    clock = FakeClock()
    sim = Simulator(SimulatorConfig(port=0, symbols=["AAPL"], api_key=""))
    sim.chaos = Chaos.parse("flap=10s:2s", seed=1, clock=clock)
    async with sim:
        clock.now += 10.5  # inside the window that opens with the first flap
        with pytest.raises(InvalidStatus) as caught:
            async with connect(sim.url):
                pass
        assert caught.value.response.status_code == 503
        assert caught.value.response.headers["Retry-After"] == "1"
        clock.now += 1.5  # the window has closed
        async with connect(sim.url) as ws:
            assert b"welcome" in await asyncio.wait_for(ws.recv(decode=False), 5)
