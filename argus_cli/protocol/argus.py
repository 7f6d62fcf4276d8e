"""The argus protocol (docs/PROTOCOL.md) as a provider session: the first ``ProviderSession``.

Everything that knows argus message names lives here and in ``codec``:
``welcome``, the reply types and their keys, ``error`` codes, ``gap`` notices.
The client sees only events, replies, refusals, errors and actions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..exceptions import SubscriptionError
from .codec import (
    decode_data,
    decode_frame,
    encode_list_symbols,
    encode_ping,
    encode_subscribe,
    encode_unsubscribe,
)
from .facts import ProviderFacts
from .rules import DATA_TYPES, FREQUENCIES, ErrorCode
from .session import (
    Action,
    Fetched,
    Handshake,
    Message,
    Received,
    Refusal,
    Reply,
    Request,
    Send,
    SessionInfo,
)
from .typed import decode_frames

__all__ = ["FACTS", "ArgusSession"]

FACTS: Final = ProviderFacts(
    name="argus",
    url="ws://localhost:8000/ws",  # `argus serve`; the dev profile's
    data_types=DATA_TYPES,
    frequencies=FREQUENCIES,
    filters=True,
    contiguous_trade_ids=True,
    needs_key=False,  # a server may require one (docs/PROTOCOL.md: Bearer)
    subscribe_within=None,
    client_messages_per_second=None,
    max_message_size=1 << 20,
    lists_symbols=True,
    description="the argus protocol: `argus serve` or any argus-protocol server (docs/PROTOCOL.md)",
)

_DATA = frozenset(DATA_TYPES)
# Refusals that leave an existing subscription in place.
_KEEPS_SUBSCRIPTION = frozenset(
    {ErrorCode.UNKNOWN_SUBSCRIPTION, ErrorCode.DUPLICATE_ID, ErrorCode.RATE_LIMITED}
)


class ArgusSession:
    """Speaks the argus protocol version 1 (docs/PROTOCOL.md). Stateless between
    frames: one instance serves every connection of a client."""

    source = "argus"
    timer_interval: float | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass that changes ``receive`` does not get the fast lane, which would
        go around it (unless it gives its own ``decode_typed``)."""
        super().__init_subclass__(**kwargs)
        if "receive" in cls.__dict__ and "decode_typed" not in cls.__dict__:
            cls.decode_typed = None  # type: ignore[assignment]

    def opened(self) -> list[Action]:
        return []

    def subscribe(
        self,
        subscription_id: str,
        symbols: Sequence[str],
        data_types: Sequence[str],
        update_frequency: str,
        filters: Mapping[str, float] | None,
        resume: Mapping[str, int] | None,
    ) -> Request:
        data = encode_subscribe(
            subscription_id, symbols, data_types, update_frequency, filters, resume or None
        )
        return Request([Send(data)], ("subscribed", subscription_id))

    def unsubscribe(self, subscription_id: str) -> Request:
        return Request(
            [Send(encode_unsubscribe(subscription_id))], ("unsubscribed", subscription_id)
        )

    def list_symbols(self) -> Request:
        return Request([Send(encode_list_symbols())], ("symbols", None))

    def ping(self, nonce: int) -> Request:
        return Request([Send(encode_ping(nonce))], ("pong", nonce))

    def handshake(self, api_key: str | None) -> Handshake:
        """docs/PROTOCOL.md: the key as a bearer token in the Authorization header."""
        return Handshake(headers={"Authorization": f"Bearer {api_key}"} if api_key else {})

    def fetched(self, answer: Fetched, now: float) -> Received:
        return Received([])  # never fetches

    def on_timer(self, now: float) -> list[Action]:
        return []

    # The fast lane (``protocol.typed``): the frames' data events as typed structs when
    # every frame holds plain data and nothing else; None sends them through
    # ``receive``, frame by frame.
    decode_typed = staticmethod(decode_frames)

    def receive(self, frame: str | bytes, now: float) -> Received:
        fast = decode_data(frame)
        if fast is not None:  # data messages only: the hot path
            return Received(fast)
        messages, errors = decode_frame(frame)
        received = Received(messages)
        received.add_errors(errors)
        for msg in messages:
            if msg["type"] not in _DATA:
                self._control(msg, received)
        return received

    @staticmethod
    def _control(msg: Message, out: Received) -> None:
        kind = msg["type"]
        if kind in ("subscribed", "unsubscribed"):
            out.add_reply(Reply((kind, msg["id"]), msg))
        elif kind == "symbols":
            out.add_reply(Reply(("symbols", None), list(msg["symbols"])))
        elif kind == "pong":
            out.add_reply(Reply(("pong", msg.get("nonce")), msg))
        elif kind == "welcome":
            epoch = msg.get("epoch")
            out.set_info(SessionInfo(msg["connection_id"], epoch if type(epoch) is str else None))
        elif kind == "error":
            sub_id = msg.get("id")
            code, text = msg["code"], msg["message"]
            refusal = Refusal(
                code,
                text,
                sub_id,
                awaited_by=None if sub_id is None else ("subscribed", sub_id),
                drops_subscription=sub_id is not None and code not in _KEEPS_SUBSCRIPTION,
            )
            out.add_refusal(refusal)
            if sub_id is not None:
                error = SubscriptionError(text, code=code, subscription_id=sub_id)
                out.add_reply(Reply(("subscribed", sub_id), error=error))
                out.add_reply(Reply(("unsubscribed", sub_id), error=error))
