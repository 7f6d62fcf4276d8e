"""The connection state machine against a live simulator (hypothesis, stateful).

Random sequences of connect, disconnect, subscribe, unsubscribe and server-side
connection drops. Throughout: every state change the client makes is in
``TRANSITIONS``; the connected event is set exactly while ``CONNECTED``; after
every reconnect the server holds exactly the client's subscriptions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from argus_cli import ConnectionConfig, ConnectionState, SubscriptionConfig, WebSocketClient
from argus_cli.client.state import TRANSITIONS
from argus_cli.sim import Simulator, SimulatorConfig

T = TypeVar("T")
S = ConnectionState
SYMBOLS = ["AAPL", "GOOGL", "MSFT"]


class ConnectionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.sim = Simulator(
            SimulatorConfig(host="127.0.0.1", port=0, symbols=SYMBOLS, rate=50.0, seed=1)
        )
        self.run(self.sim.start())
        config = ConnectionConfig(
            url=self.sim.url,
            max_reconnect_attempts=5,
            reconnect_delay=0.05,
            heartbeat_interval=1,
            timeout=2,
        )
        self.client = WebSocketClient(config)
        self.changes: list[tuple[S, S]] = []
        self.client._status.on_change = lambda old, new: self.changes.append((old, new))
        self.next_id = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 10))

    def until(self, condition: Callable[[], bool]) -> None:
        async def poll() -> None:
            while not condition():
                await asyncio.sleep(0.005)

        self.run(poll())

    def server_subscriptions(self) -> set[str] | None:
        sessions = list(self.sim.sessions)
        return set(sessions[0].routes) if len(sessions) == 1 else None

    @property
    def connected(self) -> bool:
        return self.client.state is S.CONNECTED

    @rule()
    def connect(self) -> None:
        assert self.run(self.client.connect())
        assert self.client.state is S.CONNECTED
        self.until(lambda: self.server_subscriptions() == set(self.client.subscriptions))

    @rule()
    def disconnect(self) -> None:
        self.run(self.client.disconnect())
        assert self.client.state is S.DISCONNECTED
        self.until(lambda: not self.sim.sessions)

    @rule(symbols=st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=3, unique=True))
    def subscribe(self, symbols: list[str]) -> None:
        self.next_id += 1
        sub_id = f"s{self.next_id}"
        self.run(self.client.subscribe(sub_id, SubscriptionConfig(symbols, ["price"])))
        assert sub_id in self.client.subscriptions
        if self.connected:
            assert sub_id in (self.server_subscriptions() or set())

    @precondition(lambda self: bool(self.client.subscriptions))
    @rule(data=st.data())
    def unsubscribe(self, data: st.DataObject) -> None:
        sub_id = data.draw(st.sampled_from(sorted(self.client.subscriptions)))
        self.run(self.client.unsubscribe(sub_id))
        assert sub_id not in self.client.subscriptions
        if self.connected:
            self.until(lambda: sub_id not in (self.server_subscriptions() or set()))

    @precondition(lambda self: self.connected)
    @rule()
    def server_drops_the_connection(self) -> None:
        before = self.client.reconnect_count
        for session in list(self.sim.sessions):
            session.abort()
        self.until(lambda: self.client.reconnect_count > before and self.connected)
        assert (S.CONNECTED, S.RECONNECTING) in self.changes
        self.until(lambda: self.server_subscriptions() == set(self.client.subscriptions))

    @invariant()
    def every_change_is_in_the_table(self) -> None:
        for old, new in self.changes:
            assert new in TRANSITIONS[old], (old, new)
        assert self.client.failure is None

    @invariant()
    def the_connected_event_follows_the_state(self) -> None:
        assert self.client._status.connected.is_set() == self.connected

    def teardown(self) -> None:
        self.run(self.client.disconnect())
        self.run(self.sim.stop())
        self.loop.close()


TestConnectionStates = ConnectionMachine.TestCase
TestConnectionStates.settings = settings(
    max_examples=12, stateful_step_count=10, deadline=None, derandomize=True
)
