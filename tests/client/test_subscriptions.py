"""The client's subscription registry as a state machine, against a model.

Offline (no connection): subscribe/unsubscribe only touch the registry and
the per-subscription sequence state, which is what every reconnect restores.
"""

from __future__ import annotations

import asyncio

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from argus_cli import (
    ConfigError,
    ConnectionConfig,
    SubscriptionConfig,
    SubscriptionError,
    SubscriptionLimitError,
    WebSocketClient,
)
from argus_cli.protocol.server_codec import Subscribe, decode_op
from argus_cli.protocol.session import Send

LIMIT = 4
IDS = st.sampled_from(["a", "b", "c", "d", "e", "f"])
SYMBOLS = st.lists(st.sampled_from(["AAPL", "MSFT", "TSLA"]), min_size=1, max_size=3, unique=True)
FREQUENCIES = st.sampled_from(["realtime", "1s"])


class SubscriptionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.client = WebSocketClient(
            ConnectionConfig(url="ws://127.0.0.1:1/ws", max_subscriptions=LIMIT)
        )
        self.model: dict[str, tuple[list[str], str]] = {}

    @rule(sub_id=IDS, symbols=SYMBOLS, frequency=FREQUENCIES)
    def subscribe(self, sub_id: str, symbols: list[str], frequency: str) -> None:
        config = SubscriptionConfig(symbols, ["price", "volume"], frequency)
        try:
            asyncio.run(self.client.subscribe(sub_id, config))
        except SubscriptionLimitError:
            assert len(self.model) >= LIMIT and sub_id not in self.model
            return
        except ConfigError:
            assert sub_id in self.model
            return
        assert sub_id not in self.model and len(self.model) < LIMIT
        self.model[sub_id] = (symbols, frequency)

    @rule(sub_id=IDS)
    def unsubscribe(self, sub_id: str) -> None:
        try:
            asyncio.run(self.client.unsubscribe(sub_id))
        except SubscriptionError:
            assert sub_id not in self.model
            return
        del self.model[sub_id]

    @rule(sub_id=IDS, seq=st.integers(1, 100))
    def receive(self, sub_id: str, seq: int) -> None:
        if sub_id in self.model:
            symbols, frequency = self.model[sub_id]
            self.client._pipeline.tracker.observe(
                sub_id, symbols[0], "price", seq, frequency == "realtime"
            )
            self.client._pipeline.tracker.observe(
                sub_id, symbols[0], "volume", seq, frequency == "realtime"
            )

    @invariant()
    def registry_matches_the_model(self) -> None:
        assert set(self.client.subscriptions) == set(self.model)
        assert set(self.client._pipeline.tracking) == set(self.model)
        assert {key[0] for key in self.client._pipeline.tracker.last} <= set(self.model)

    @invariant()
    def what_a_reconnect_would_send_is_valid_and_resumes_only_realtime(self) -> None:
        for sub_id, (symbols, frequency) in self.model.items():
            point = self.client._resume_point(sub_id)
            (send,) = self.client._subscribe_request(sub_id, point).actions
            assert isinstance(send, Send)
            request = decode_op(send.data, {"AAPL", "MSFT", "TSLA"})
            assert isinstance(request, Subscribe)
            assert list(request.symbols) == symbols
            if frequency != "realtime":
                assert request.resume == {}
            else:
                assert set(request.resume) <= set(symbols)


TestSubscriptions = SubscriptionMachine.TestCase
