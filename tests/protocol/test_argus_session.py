"""ArgusSession: requests become frames the server decodes; frames become events and control."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from argus_cli.exceptions import DecodeError, SubscriptionError
from argus_cli.protocol.argus import ArgusSession
from argus_cli.protocol.server_codec import (
    ListSymbols,
    Ping,
    Subscribe,
    Unsubscribe,
    decode_op,
)
from argus_cli.protocol.session import Received, Refusal, Request, Send, SessionInfo

UNIVERSE = ("AAPL", "GOOGL", "MSFT")

PRICE: dict[str, Any] = {
    "type": "price",
    "sub": "s1",
    "symbol": "AAPL",
    "price": 189.12,
    "bid": 189.11,
    "ask": 189.13,
    "timestamp": 1764000000.123456,
    "seq": 1234,
}
VOLUME: dict[str, Any] = {
    "type": "volume",
    "sub": "s1",
    "symbol": "AAPL",
    "volume": 300,
    "total_volume": 1203400,
    "timestamp": 1764000000.123456,
    "seq": 1234,
}
WELCOME: dict[str, Any] = {
    "type": "welcome",
    "protocol": 1,
    "connection_id": "550e8400-e29b-41d4-a716-446655440000",
    "epoch": "2026-11-29T08:00:00Z-7f3a",
    "server_time": 1764000000.123456,
    "heartbeat_interval": 30,
}


def _sent(request: Request) -> bytes:
    """The one frame a request sends."""
    assert len(request.actions) == 1
    action = request.actions[0]
    assert isinstance(action, Send)
    return action.data


def _receive(*messages: dict[str, Any]) -> Received:
    frame = json.dumps(list(messages)) if len(messages) > 1 else json.dumps(messages[0])
    return ArgusSession().receive(frame, 1764000001.0)


# --- requests ------------------------------------------------------------------------------


def test_subscribe_sends_a_subscribe_op_and_waits_on_subscribed() -> None:
    request = ArgusSession().subscribe(
        "s1", ["AAPL", "GOOGL"], ["price", "orderbook"], "realtime", {"min_price": 100.0}, None
    )
    op = decode_op(_sent(request), UNIVERSE)
    assert op == Subscribe(
        id="s1",
        symbols=("AAPL", "GOOGL"),
        data_types=("price", "orderbook"),
        update_frequency="realtime",
        min_price=100.0,
        max_price=None,
        resume={},
    )
    assert request.reply == ("subscribed", "s1")


def test_subscribe_carries_the_resume_point() -> None:
    request = ArgusSession().subscribe("s1", ["AAPL"], ["price"], "realtime", None, {"AAPL": 41})
    op = decode_op(_sent(request), UNIVERSE)
    assert isinstance(op, Subscribe) and op.resume == {"AAPL": 41}


def test_an_empty_resume_is_not_sent() -> None:
    request = ArgusSession().subscribe("s1", ["AAPL"], ["price"], "1s", None, {})
    assert b"resume" not in _sent(request)
    assert isinstance(decode_op(_sent(request), UNIVERSE), Subscribe)


def test_unsubscribe_list_symbols_and_ping() -> None:
    session = ArgusSession()
    unsubscribe = session.unsubscribe("s1")
    assert decode_op(_sent(unsubscribe), UNIVERSE) == Unsubscribe("s1")
    assert unsubscribe.reply == ("unsubscribed", "s1")

    symbols = session.list_symbols()
    assert decode_op(_sent(symbols), UNIVERSE) == ListSymbols()
    assert symbols.reply == ("symbols", None)

    ping = session.ping(42)
    assert decode_op(_sent(ping), UNIVERSE) == Ping(42)
    assert ping.reply == ("pong", 42)


def test_the_session_is_pure_and_stateless() -> None:
    session = ArgusSession()
    assert session.source == "argus"
    assert session.opened() == [] and session.on_timer(0.0) == []
    assert session.timer_interval is None


# --- receiving -----------------------------------------------------------------------------


def test_a_data_frame_gives_events_only() -> None:
    received = _receive(PRICE)
    assert received.events == [PRICE]
    assert not received.has_control
    batch = _receive(PRICE, VOLUME)
    assert batch.events == [PRICE, VOLUME] and not batch.has_control


def test_a_heartbeat_or_gap_notice_is_an_event_not_control() -> None:
    gap = {"type": "gap", "symbol": "AAPL", "from_seq": 5, "to_seq": 9, "reason": "not_in_buffer"}
    received = _receive({"type": "heartbeat", "server_time": 1.5}, gap)
    assert [m["type"] for m in received.events] == ["heartbeat", "gap"]
    assert not received.has_control


def test_a_mixed_batch_gives_events_in_order_and_every_reply() -> None:
    received = _receive(
        PRICE,
        {"type": "subscribed", "id": "s1", "symbols": ["AAPL"], "data_types": ["price"]},
        {"type": "unsubscribed", "id": "s0"},
        VOLUME,
        {"type": "symbols", "symbols": ["AAPL", "GOOGL"]},
        {"type": "pong", "nonce": 42, "server_time": 1.5},
    )
    assert received.has_control
    # every message stays in the events, in order, for the handlers
    assert [m["type"] for m in received.events] == [
        "price",
        "subscribed",
        "unsubscribed",
        "volume",
        "symbols",
        "pong",
    ]
    keys = [reply.key for reply in received.replies]
    assert keys == [("subscribed", "s1"), ("unsubscribed", "s0"), ("symbols", None), ("pong", 42)]
    assert all(reply.error is None for reply in received.replies)
    assert received.replies[2].value == ["AAPL", "GOOGL"]  # list_symbols answers with the list
    assert not received.refusals and not received.errors and received.info is None


def test_a_reply_key_matches_the_request_that_waits_on_it() -> None:
    session = ArgusSession()
    cases: list[tuple[Request, dict[str, Any]]] = [
        (session.subscribe("s1", ["AAPL"], ["price"], "realtime", None, None), {"id": "s1"}),
        (session.unsubscribe("s1"), {"id": "s1"}),
        (session.list_symbols(), {"symbols": []}),
        (session.ping(7), {"nonce": 7}),
    ]
    for request, reply in cases:
        assert request.reply is not None
        message = {"type": request.reply[0], **reply}
        received = session.receive(json.dumps(message), 0.0)
        assert [r.key for r in received.replies] == [request.reply]


def test_welcome_gives_session_info() -> None:
    received = _receive(WELCOME)
    assert received.info == SessionInfo(WELCOME["connection_id"], WELCOME["epoch"])
    assert received.has_control and not received.replies


def test_welcome_without_an_epoch_has_none() -> None:
    welcome = dict(WELCOME)
    del welcome["epoch"]
    assert _receive(welcome).info == SessionInfo(WELCOME["connection_id"], None)


@pytest.mark.parametrize("epoch", [7, ["e"], {"e": 1}, True, "\x1b]0;x\x07", "e" * 129])
def test_a_welcome_with_a_malformed_epoch_is_refused(epoch: Any) -> None:
    welcome = dict(WELCOME, epoch=epoch)
    received = _receive(welcome)
    assert received.info is None and len(received.errors) == 1


@pytest.mark.parametrize(
    ("code", "drops"),
    [
        ("unknown_subscription", False),
        ("duplicate_id", False),
        ("rate_limited", False),
        ("invalid_symbol", True),
    ],
)
def test_an_error_with_an_id_refuses_and_fails_both_waiting_requests(
    code: str, drops: bool
) -> None:
    received = _receive(PRICE, {"type": "error", "code": code, "message": "no", "id": "s1"})
    assert received.refusals == [
        Refusal(code, "no", "s1", awaited_by=("subscribed", "s1"), drops_subscription=drops)
    ]
    assert [reply.key for reply in received.replies] == [
        ("subscribed", "s1"),
        ("unsubscribed", "s1"),
    ]
    for reply in received.replies:
        assert reply.value is None
        assert isinstance(reply.error, SubscriptionError)
        assert reply.error.code == code and reply.error.subscription_id == "s1"
    assert received.events[0] == PRICE


@pytest.mark.parametrize("extra", [{}, {"id": None}])
def test_an_error_without_an_id_is_a_refusal_only(extra: dict[str, Any]) -> None:
    received = _receive({"type": "error", "code": "rate_limited", "message": "slow", **extra})
    assert received.refusals == [Refusal("rate_limited", "slow")]
    assert not received.replies
    assert received.refusals[0].drops_subscription is False


def test_a_malformed_element_is_an_error_and_the_rest_still_arrives() -> None:
    received = _receive(PRICE, {"type": "price", "price": "cheap"}, {"type": "mystery"}, VOLUME)
    assert received.events == [PRICE, VOLUME]
    assert len(received.errors) == 2 and received.has_control


@pytest.mark.parametrize("frame", ["", "{", "[]", "null", b"\xff", '{"type":"welcome"}'])
def test_malformed_frames_are_errors(frame: str | bytes) -> None:
    received = ArgusSession().receive(frame, 0.0)
    assert received.events == [] and received.errors and received.has_control


@pytest.mark.parametrize("nonce", [[1], {"n": 1}])
def test_every_reply_key_is_hashable(nonce: Any) -> None:
    received = ArgusSession().receive(json.dumps({"type": "pong", "nonce": nonce}), 0.0)
    for reply in received.replies:
        hash(reply.key)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_CONTROL_TYPES = ["welcome", "subscribed", "unsubscribed", "symbols", "pong", "error"]
_TYPES = st.sampled_from(["price", "volume", "orderbook", *_CONTROL_TYPES, "gap", "heartbeat", "x"])
_MESSAGE = st.builds(
    lambda kind, body: {**body, "type": kind},
    _TYPES,
    st.dictionaries(
        st.sampled_from(["id", "code", "message", "connection_id", "epoch", "protocol", "symbols"]),
        _JSON,
    ),
)


def _check(received: Received) -> None:
    assert all(isinstance(e, DecodeError) for e in received.errors)
    assert all(isinstance(m, dict) and isinstance(m.get("type"), str) for m in received.events)
    if received.info is not None:
        assert isinstance(received.info.connection_id, str)
        assert received.info.epoch is None or isinstance(received.info.epoch, str)
    for refusal in received.refusals:
        assert isinstance(refusal.code, str) and isinstance(refusal.message, str)


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_input_gives_results_never_an_exception(frame: str | bytes) -> None:
    _check(ArgusSession().receive(frame, 0.0))


@given(st.lists(_MESSAGE, min_size=1, max_size=5))
def test_any_message_shaped_input_gives_results_never_an_exception(
    messages: list[dict[str, Any]],
) -> None:
    frame = json.dumps(messages if len(messages) > 1 else messages[0])
    received = ArgusSession().receive(frame, 0.0)
    _check(received)
    assert len(received.events) + len(received.errors) == len(messages)
