# The samples below are verbatim, one JSON value a line: long lines are theirs.
"""AlpacaSession: PROVIDERS.md's Alpaca table and every sample of
shared/providers/alpaca.jsonl; auth by message, frames held until authenticated;
subscribe acks and refusals (symbols left out, 400, 405, 409); fatal 402 and
retried 406; quotes and trades as price and volume lines; nanosecond times."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from argus_cli.client.pipeline import Pipeline
from argus_cli.client.policy import RetryPolicy
from argus_cli.events import check_event
from argus_cli.exceptions import (
    ArgusConnectionError,
    AuthenticationError,
    ConfigError,
    DecodeError,
    NotOffered,
    SubscriptionError,
    UnknownMessageType,
)
from argus_cli.protocol.alpaca import FACTS, AlpacaSession
from argus_cli.protocol.session import Message, Received, Send
from argus_cli.protocol.values import parse_time

# shared/providers/alpaca.jsonl, verbatim (line n is SAMPLES[n - 1])
SAMPLES = """\
[{"T":"success","msg":"connected"}]
{"action":"auth","key":"{KEY_ID}","secret":"{SECRET_KEY}"}
{"action":"auth","key":"access_token","secret":"{ACCESS_TOKEN}"}
{"action":"auth","key":"oauth","secret":"{OAUTH_ACCESS_TOKEN}"}
[{"T":"success","msg":"authenticated"}]
[{"T":"error","code":406,"msg":"connection limit exceeded"}]
{"action":"subscribe","trades":["AAPL"],"quotes":["AMD","CLDR"],"bars":["AAPL","VOO"]}
{"action":"unsubscribe","trades":["VOO"],"quotes":["IBM"],"bars":[]}
[{"T":"subscription","trades":["AAPL"],"quotes":["AMD","CLDR"],"bars":["*"],"updatedBars":[],"dailyBars":["VOO"],"statuses":["*"],"lulds":[],"corrections":["AAPL"],"cancelErrors":["AAPL"]}]
{"action":"subscribe","trades":["AAPL"],"quotes":["AMD","CLDR"],"bars":["*"]}
[{"T":"subscription","trades":["AAPL"],"quotes":["AMD","CLDR"],"bars":["*"],"updatedBars":[],"dailyBars":[],"statuses":[],"lulds":[],"corrections":["AAPL"],"cancelErrors":["AAPL"]}]
{"action":"unsubscribe","bars":["*"]}
[{"T":"subscription","trades":["AAPL"],"quotes":["AMD","CLDR"],"bars":[],"updatedBars":[],"dailyBars":[],"statuses":[],"lulds":[],"corrections":["AAPL"],"cancelErrors":["AAPL"]}]
{"T":"t","i":96921,"S":"AAPL","x":"D","p":126.55,"s":1,"t":"2021-02-22T15:51:44.208Z","c":["@","I"],"z":"C"}
{"T":"q","S":"AMD","bx":"U","bp":87.66,"bs":1,"ax":"Q","ap":87.68,"as":4,"t":"2021-02-22T15:51:45.335689322Z","c":["R"],"z":"C"}
{"T":"b","S":"SPY","o":388.985,"h":389.13,"l":388.975,"c":389.12,"v":49378,"t":"2021-02-22T19:15:00Z"}
{"action":"auth","key":"<YOUR API KEY>","secret":"<YOUR API SECRET>"}
{"action":"subscribe","bars":["FAKEPACA"],"quotes":["FAKEPACA"]}
[{"T":"subscription","trades":[],"quotes":["FAKEPACA"],"bars":["FAKEPACA"]}]
[{"T":"q","S":"FAKEPACA","bx":"O","bp":133.85,"bs":4,"ax":"R","ap":135.77,"as":5,"c":["R"],"z":"A","t":"2024-07-24T07:56:53.639713735Z"}]
[{"T":"q","S":"FAKEPACA","bx":"O","bp":133.85,"bs":4,"ax":"R","ap":135.77,"as":5,"c":["R"],"z":"A","t":"2024-07-24T07:56:58.641207127Z"}]
[{"T":"b","S":"FAKEPACA","o":132.65,"h":136,"l":132.12,"c":134.65,"v":205,"t":"2024-07-24T07:56:00Z","n":16,"vw":133.7}]
[{"T":"q","S":"AMD","bx":"U","bp":87.66,"bs":1,"ax":"X","ap":87.67,"as":1,"t":"2021-02-22T15:51:45.3355677Z","c":["R"],"z":"C"},{"T":"q","S":"AMD","bx":"U","bp":87.66,"bs":1,"ax":"Q","ap":87.68,"as":4,"t":"2021-02-22T15:51:45.335689322Z","c":["R"],"z":"C"},{"T":"q","S":"AMD","bx":"U","bp":87.66,"bs":1,"ax":"X","ap":87.67,"as":1,"t":"2021-02-22T15:51:45.335806018Z","c":["R"],"z":"C"}]
[{"T":"error","code":402,"msg":"auth failed"}]
""".splitlines()

# what each sample gives (source/received left out): the Alpaca worked examples
WORKED: dict[int, list[Message]] = {
    14: [  # a bare object, as the docs print it: read as an array of one
        {"type": "volume", "symbol": "AAPL", "volume": 1.0, "timestamp": 1614009104.208},
        {"type": "price", "symbol": "AAPL", "price": 126.55, "timestamp": 1614009104.208},
    ],
    15: [
        {
            "type": "price",
            "symbol": "AMD",
            "bid": 87.66,
            "bid_size": 1.0,
            "ask": 87.68,
            "ask_size": 4.0,
            "timestamp": 1614009105.335689,  # nanoseconds cut to the microsecond
        }
    ],
    16: [],  # a bar
    20: [
        {
            "type": "price",
            "symbol": "FAKEPACA",
            "bid": 133.85,
            "bid_size": 4.0,
            "ask": 135.77,
            "ask_size": 5.0,
            "timestamp": 1721807813.639713,
        }
    ],
    22: [],
}
CLIENT_LINES = (2, 3, 4, 7, 8, 10, 12, 17, 18)
# what each server line gives an authenticated session holding every sample symbol
SERVER_LINES: dict[int, list[str]] = {
    5: [],  # authenticated (again): nothing
    9: [],  # acks with nothing of ours waiting
    11: [],
    13: [],
    14: ["volume", "price"],
    15: ["price"],
    16: [],
    19: [],
    20: ["price"],
    21: ["price"],
    22: [],
    23: ["price", "price", "price"],
}
CONNECTION_LINES = (1, 6, 24)  # connected, 406, 402: tested one by one below
SAMPLE_SYMBOLS = ["AAPL", "AMD", "CLDR", "VOO", "SPY", "FAKEPACA"]
ALL = ["price", "volume"]
NOW = 1764000000.0
KEY, SECRET = "PKTESTKEYID", "s3cr3t-s3cr3t"
CONNECTED = '[{"T":"success","msg":"connected"}]'
AUTHENTICATED = '[{"T":"success","msg":"authenticated"}]'


def sample(line: int) -> str:
    return SAMPLES[line - 1]


def ack(trades: list[str], quotes: list[str]) -> str:
    return json.dumps([{"T": "subscription", "trades": trades, "quotes": quotes, "bars": []}])


def error(code: int, msg: str) -> str:
    return json.dumps([{"T": "error", "code": code, "msg": msg}])


def frames(actions: Any) -> list[dict[str, Any]]:
    out = []
    for action in actions:
        assert isinstance(action, Send)
        out.append(json.loads(action.data))
    return out


def authenticated() -> AlpacaSession:
    session = AlpacaSession(KEY, SECRET)
    session.receive(CONNECTED, NOW)
    assert not session.receive(AUTHENTICATED, NOW).actions
    return session


def hold(session: AlpacaSession, sub: str, symbols: list[str], types: list[str] = ALL) -> None:
    request = session.subscribe(sub, symbols, types, "realtime", None, None)
    quotes = symbols if "price" in types else []
    assert [r.key for r in session.receive(ack(symbols, quotes), NOW).replies] == [request.reply]


def holding(*symbols: str, types: list[str] = ALL) -> AlpacaSession:
    session = authenticated()
    hold(session, "s", list(symbols), types)
    return session


def feed(session: AlpacaSession, *raws: str | list[dict[str, Any]]) -> list[Message]:
    events: list[Message] = []
    for raw in raws:
        received = session.receive(raw if isinstance(raw, str) else json.dumps(raw), NOW)
        assert not received.errors, received.errors
        events.extend(received.events)
    for event in events:
        assert check_event({**event, "source": "alpaca", "received": NOW}) == [], event
    return events


def bare(events: list[Message]) -> list[Message]:
    return [{k: v for k, v in e.items() if k != "sub"} for e in events]


def quote(symbol: str = "AAPL", bp: float = 10.0, ap: float = 10.5, **extra: Any) -> dict[str, Any]:
    return {
        "T": "q",
        "S": symbol,
        "bp": bp,
        "bs": 2,
        "ap": ap,
        "as": 3,
        "t": "2024-07-24T07:56:53.639713735Z",
        **extra,
    }


def trade(symbol: str = "AAPL", i: int = 7, **extra: Any) -> dict[str, Any]:
    msg = {"T": "t", "i": i, "S": symbol, "x": "V", "p": 10.25, "s": 100}
    msg["t"] = "2024-07-24T07:56:53.1Z"
    return {**msg, **extra}


# --- the samples -------------------------------------------------------------------------


def test_the_samples_here_are_the_shared_file_verbatim() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "providers" / "alpaca.jsonl"
    if not shared.exists():
        pytest.skip("shared/providers is not beside this checkout")
    assert shared.read_text().splitlines() == SAMPLES
    covered = set(CLIENT_LINES) | set(SERVER_LINES) | set(CONNECTION_LINES)
    assert covered == set(range(1, len(SAMPLES) + 1))


@pytest.mark.parametrize("line", sorted(SERVER_LINES))
def test_every_server_sample_through_an_authenticated_session(line: int) -> None:
    session = holding(*SAMPLE_SYMBOLS)
    received = session.receive(sample(line), NOW)
    assert not received.errors and not received.refusals and not received.actions
    assert not received.replies and received.fatal is None
    assert [e["type"] for e in received.events] == SERVER_LINES[line]
    for event in received.events:
        assert event["sub"] == "s" and "seq" not in event
        assert check_event({**event, "source": "alpaca", "received": NOW}) == []


@pytest.mark.parametrize("line", sorted(WORKED))
def test_the_worked_examples_exactly(line: int) -> None:
    events = feed(holding(*SAMPLE_SYMBOLS), sample(line))
    assert bare(events) == WORKED[line]
    assert all(e["sub"] == "s" for e in events)


def test_samples_through_the_pipeline_are_stamped_and_keep_the_contract() -> None:
    session = holding(*SAMPLE_SYMBOLS)
    pipeline = Pipeline("alpaca")
    pipeline.track("s", True, SAMPLE_SYMBOLS)
    delivered = []
    for line in sorted(SERVER_LINES):
        delivered += pipeline.process(session.receive(sample(line), NOW).events, NOW)
    assert [e["type"] for e in delivered] == ["volume"] + ["price"] * 7  # no gap: no seq
    for event in delivered:
        assert check_event(event) == [] and event["source"] == "alpaca"
        assert event["received"] == NOW and "seq" not in event
    amd = [e["timestamp"] for e in delivered if e["symbol"] == "AMD"]
    assert amd == [1614009105.335689, 1614009105.335567, 1614009105.335689, 1614009105.335806]


@pytest.mark.parametrize("line", CLIENT_LINES)
def test_the_client_samples_are_frames_the_session_makes(line: int) -> None:
    sent = json.loads(sample(line))
    if sent["action"] == "auth":  # key id and secret, or the access_token / oauth forms
        session = AlpacaSession(sent["key"], sent["secret"])
        assert frames(session.receive(CONNECTED, NOW).actions) == [sent]
        return
    assert sent["action"] in ("subscribe", "unsubscribe")
    assert set(sent) - {"action"} <= {"trades", "quotes", "bars"}
    trades = sent.get("trades")
    if not trades:
        return  # bars only: argus never asks for bars
    session = authenticated()
    request = session.subscribe("v", trades, ["volume"], "realtime", None, None)
    if sent["action"] == "unsubscribe":
        session.receive(ack(trades, []), NOW)
        request = session.unsubscribe("v")
    assert frames(request.actions) == [{"action": sent["action"], "trades": trades}]


# --- auth --------------------------------------------------------------------------------


def test_facts() -> None:
    assert FACTS.name == AlpacaSession.source == "alpaca"
    assert FACTS.url == "wss://stream.data.alpaca.markets/v2/iex"
    assert FACTS.data_types == ("price", "volume") and FACTS.frequencies == ("realtime",)
    assert FACTS.needs_key and FACTS.needs_secret and FACTS.max_symbols == 30
    assert not FACTS.contiguous_trade_ids and not FACTS.filters and not FACTS.lists_symbols
    assert FACTS.description


def test_the_key_never_travels_in_the_handshake() -> None:
    handshake = AlpacaSession(KEY, SECRET).handshake(KEY)
    assert not handshake.headers and not handshake.query


@pytest.mark.parametrize(("key", "secret"), [(None, SECRET), (KEY, None), ("", ""), (None, None)])
def test_a_missing_key_id_or_secret_is_a_config_error_naming_both_settings(
    key: str | None, secret: str | None
) -> None:
    session = AlpacaSession(key, secret)
    with pytest.raises(ConfigError, match=r"ARGUS_API_KEY \(key id\) and ARGUS_API_SECRET"):
        session.handshake(key)
    received = session.receive(CONNECTED, NOW)  # and nothing is sent if it connects anyway
    assert not received.actions and isinstance(received.fatal, ConfigError)


def test_neither_the_key_id_nor_the_secret_is_shown() -> None:
    session = AlpacaSession(KEY, SECRET)
    assert KEY not in repr(session) and SECRET not in repr(session)


def test_frames_wait_for_authenticated_then_go_in_order() -> None:
    session = AlpacaSession(KEY, SECRET)
    first = session.subscribe("a", ["AAPL"], ["volume"], "realtime", None, None)
    assert first.actions == [] and first.reply == ("subscribed", "a")
    (auth,) = frames(session.receive(CONNECTED, NOW).actions)
    assert auth == {"action": "auth", "key": KEY, "secret": SECRET}
    second = session.subscribe("b", ["MSFT"], ["price"], "realtime", None, None)
    assert second.actions == []
    released = session.receive(AUTHENTICATED, NOW)
    assert frames(released.actions) == [
        {"action": "subscribe", "trades": ["AAPL"]},
        {"action": "subscribe", "trades": ["MSFT"], "quotes": ["MSFT"]},
    ]
    assert not session.receive(AUTHENTICATED, NOW).actions  # released once
    now_sent = session.subscribe("c", ["AMD"], ["volume"], "realtime", None, None)
    assert frames(now_sent.actions) == [{"action": "subscribe", "trades": ["AMD"]}]
    replies = [
        session.receive(ack(["AAPL"], []), NOW).replies,
        session.receive(ack(["AAPL", "MSFT"], ["MSFT"]), NOW).replies,
        session.receive(ack(["AAPL", "MSFT", "AMD"], ["MSFT"]), NOW).replies,
    ]
    assert [[(r.key, r.value) for r in rs] for rs in replies] == [
        [(("subscribed", "a"), ["AAPL"])],
        [(("subscribed", "b"), ["MSFT"])],
        [(("subscribed", "c"), ["AMD"])],
    ]


def test_a_new_connection_authenticates_again_and_holds_again() -> None:
    session = holding("AAPL")
    session.opened()
    again = session.subscribe("s", ["AAPL"], ALL, "realtime", None, None)
    assert again.actions == []
    assert frames(session.receive(CONNECTED, NOW).actions)[0]["action"] == "auth"
    assert frames(session.receive(AUTHENTICATED, NOW).actions) == [
        {"action": "subscribe", "trades": ["AAPL"], "quotes": ["AAPL"]}
    ]


def test_402_is_a_refused_key_never_retried_and_never_shown() -> None:
    session = AlpacaSession(KEY, SECRET)
    session.subscribe("s", ["AAPL"], ALL, "realtime", None, None)
    session.receive(CONNECTED, NOW)
    received = session.receive(sample(24), NOW)
    assert isinstance(received.fatal, AuthenticationError) and received.fatal.status == 402
    assert "key id and secret" in str(received.fatal) and "ARGUS_API_SECRET" in str(received.fatal)
    assert KEY not in str(received.fatal) and SECRET not in str(received.fatal)
    assert not received.actions and not received.replies  # the held subscribe is not sent
    assert RetryPolicy().decide(received.fatal).retry is False


def test_409_in_answer_to_auth_is_fatal_too() -> None:
    session = AlpacaSession(KEY, SECRET)
    session.receive(CONNECTED, NOW)
    received = session.receive(error(409, "insufficient subscription"), NOW)
    assert isinstance(received.fatal, AuthenticationError) and received.fatal.status == 409
    assert "insufficient subscription" in str(received.fatal) and "iex" in str(received.fatal)
    assert RetryPolicy().decide(received.fatal).retry is False


@pytest.mark.parametrize(("code", "words"), [(406, "one connection"), (404, "auth timeout")])
def test_406_and_404_end_the_connection_and_are_retried(code: int, words: str) -> None:
    session = AlpacaSession(KEY, SECRET)
    session.receive(CONNECTED, NOW)
    raw = sample(6) if code == 406 else error(404, "auth timeout")
    received = session.receive(raw, NOW)
    fatal = received.fatal
    assert isinstance(fatal, ArgusConnectionError) and not isinstance(fatal, AuthenticationError)
    assert words in str(fatal) and str(code) in str(fatal)
    assert RetryPolicy().decide(fatal).retry is True


@pytest.mark.parametrize(
    ("code", "msg"), [(403, "already authenticated"), (500, "internal error"), (407, "slow client")]
)
def test_other_errors_are_refusals_naming_code_and_message(code: int, msg: str) -> None:
    received = holding("AAPL").receive(error(code, msg), NOW)
    (refusal,) = received.refusals
    assert refusal.code == str(code) and msg in refusal.message and "alpaca" in refusal.message
    assert received.fatal is None and not refusal.drops_subscription and not received.replies


# --- subscriptions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("types", "frame"),
    [
        (["volume"], {"action": "subscribe", "trades": ["AAPL", "MSFT"]}),
        (
            ["price"],
            {"action": "subscribe", "trades": ["AAPL", "MSFT"], "quotes": ["AAPL", "MSFT"]},
        ),
        (ALL, {"action": "subscribe", "trades": ["AAPL", "MSFT"], "quotes": ["AAPL", "MSFT"]}),
    ],
)
def test_subscribe_asks_trades_for_volume_and_quotes_and_trades_for_price(
    types: list[str], frame: dict[str, Any]
) -> None:
    request = authenticated().subscribe("s", ["AAPL", "MSFT"], types, "realtime", None, None)
    assert frames(request.actions) == [frame]


@pytest.mark.parametrize(
    ("types", "frequency", "filters", "words"),
    [
        (["orderbook"], "realtime", None, "no order books"),
        (["price", "orderbook"], "realtime", None, "--types price,volume"),
        (["price"], "1s", None, "real time only"),
        (["price"], "realtime", {"max_price": 1.0}, "filter"),
    ],
)
def test_what_alpaca_cannot_do_is_not_offered(
    types: list[str], frequency: str, filters: dict[str, float] | None, words: str
) -> None:
    session = authenticated()
    with pytest.raises(NotOffered, match=words):
        session.subscribe("s", ["AAPL"], types, frequency, filters, None)
    assert feed(session, [quote()]) == []  # nothing was kept


def test_listing_and_pinging_are_not_offered() -> None:
    session = AlpacaSession(KEY, SECRET)
    with pytest.raises(NotOffered, match="REST"):
        session.list_symbols()
    assert session.ping(1) is None and session.timer_interval is None
    assert session.on_timer(NOW) == [] and session.opened() == []


def test_a_symbol_the_ack_leaves_out_is_refused_while_the_others_go_on() -> None:
    session = authenticated()
    request = session.subscribe("s", ["AAPL", "NOPE", "MSFT"], ALL, "realtime", None, None)
    received = session.receive(ack(["AAPL", "MSFT"], ["AAPL", "MSFT"]), NOW)
    (reply,) = received.replies
    assert reply.key == request.reply and reply.value == ["AAPL", "MSFT"] and reply.error is None
    (refusal,) = received.refusals
    assert refusal.code == "invalid_symbol" and refusal.message.startswith("NOPE refused")
    assert refusal.subscription_id == "s" and not refusal.drops_subscription
    assert feed(session, [quote("NOPE")]) == []
    # restored after a reconnect, the subscription leaves it out
    session.opened()
    session.subscribe("s", ["AAPL", "NOPE", "MSFT"], ALL, "realtime", None, None)
    session.receive(CONNECTED, NOW)
    (again,) = frames(session.receive(AUTHENTICATED, NOW).actions)
    assert again["trades"] == ["AAPL", "MSFT"]


def test_a_subscription_the_ack_lists_nothing_of_fails_and_is_dropped() -> None:
    session = authenticated()
    request = session.subscribe("s", ["NOPE"], ["price"], "realtime", None, None)
    received = session.receive(ack([], []), NOW)
    (reply,) = received.replies
    assert reply.key == request.reply and isinstance(reply.error, SubscriptionError)
    assert reply.error.code == "invalid_symbol" and "NOPE" in str(reply.error)
    (refusal,) = received.refusals
    assert refusal.drops_subscription and refusal.awaited_by == request.reply
    assert session.unsubscribe("s").actions == []  # forgotten


def test_the_wildcard_in_an_ack_lists_every_symbol() -> None:
    session = authenticated()
    request = session.subscribe("s", ["AAPL"], ["volume"], "realtime", None, None)
    (reply,) = session.receive(ack(["*"], []), NOW).replies
    assert reply.key == request.reply and reply.value == ["AAPL"]


def test_400_on_several_symbols_asks_again_one_symbol_a_frame() -> None:
    session = authenticated()
    request = session.subscribe("s", ["AAPL", "bad-1", "MSFT"], ["volume"], "realtime", None, None)
    probes = session.receive(error(400, "invalid syntax"), NOW)
    assert not probes.replies and not probes.refusals
    assert frames(probes.actions) == [
        {"action": "subscribe", "trades": ["AAPL"]},
        {"action": "subscribe", "trades": ["bad-1"]},
        {"action": "subscribe", "trades": ["MSFT"]},
    ]
    assert not session.receive(ack(["AAPL"], []), NOW).replies
    assert not session.receive(error(400, "invalid syntax"), NOW).replies
    settled = session.receive(ack(["AAPL", "MSFT"], []), NOW)
    assert [(r.key, r.value) for r in settled.replies] == [(request.reply, ["AAPL", "MSFT"])]
    (refusal,) = settled.refusals
    assert refusal.code == "invalid_symbol" and "bad-1" in refusal.message
    assert "invalid syntax" in refusal.message


def test_405_refuses_the_subscription_naming_the_limit() -> None:
    session = holding("AAPL")
    request = session.subscribe("more", ["MSFT", "AMD"], ALL, "realtime", None, None)
    received = session.receive(error(405, "symbol limit exceeded"), NOW)
    (reply,) = received.replies
    assert reply.key == request.reply and isinstance(reply.error, SubscriptionError)
    assert reply.error.code == "symbol_limit" and "30 symbols" in str(reply.error)
    (refusal,) = received.refusals
    assert refusal.drops_subscription and received.fatal is None
    assert [e["sub"] for e in feed(session, [quote("AAPL")])] == ["s"]  # the rest goes on
    assert feed(session, [quote("MSFT")]) == []


def test_409_in_answer_to_a_subscribe_fails_it() -> None:
    session = authenticated()
    request = session.subscribe("s", ["AAPL"], ALL, "realtime", None, None)
    received = session.receive(error(409, "insufficient subscription"), NOW)
    (reply,) = received.replies
    assert reply.key == request.reply and isinstance(reply.error, SubscriptionError)
    assert reply.error.code == "insufficient_subscription" and received.fatal is None


def test_unsubscribe_stops_only_what_no_other_subscription_holds() -> None:
    session = authenticated()
    hold(session, "a", ["AAPL", "MSFT"], ALL)
    hold(session, "b", ["AAPL"], ["volume"])
    request = session.unsubscribe("a")
    assert frames(request.actions) == [
        {"action": "unsubscribe", "trades": ["MSFT"], "quotes": ["AAPL", "MSFT"]}
    ]
    assert request.reply == ("unsubscribed", "a")
    assert [e["type"] for e in feed(session, [trade("AAPL"), quote("AAPL")])] == ["volume"]
    assert feed(session, [trade("MSFT")]) == []  # late data after an unsubscribe: dropped
    (reply,) = session.receive(ack(["AAPL"], []), NOW).replies
    assert reply.key == request.reply and reply.error is None
    shared = session.unsubscribe("nobody")
    assert shared.actions == [] and shared.reply is None


def test_a_refused_unsubscribe_fails_its_request() -> None:
    session = holding("AAPL")
    request = session.unsubscribe("s")
    received = session.receive(error(400, "invalid syntax"), NOW)
    (reply,) = received.replies
    assert reply.key == request.reply and isinstance(reply.error, SubscriptionError)


# --- data --------------------------------------------------------------------------------


def test_a_side_without_a_quote_is_left_out_and_no_side_gives_no_line() -> None:
    session = holding("AAPL")
    (line,) = feed(session, [quote(bp=0)])
    assert "bid" not in line and "bid_size" not in line and line["ask"] == 10.5
    assert feed(session, [quote(bp=0, ap=0)]) == []
    (no_sizes,) = feed(session, [{"T": "q", "S": "AAPL", "bp": 1, "ap": 2}])
    assert no_sizes == {"type": "price", "sub": "s", "symbol": "AAPL", "bid": 1.0, "ask": 2.0}


@pytest.mark.parametrize(
    ("types", "kinds"),
    [(["volume"], ["volume"]), (["price"], ["price"]), (ALL, ["volume", "price"])],
)
def test_a_trade_gives_the_lines_its_holders_asked_for(types: list[str], kinds: list[str]) -> None:
    events = feed(holding("AAPL", types=types), [trade()])
    assert [e["type"] for e in events] == kinds
    for event in events:
        assert event["timestamp"] == 1721807813.1 and "seq" not in event
    assert all(e["volume"] == 100.0 for e in events if e["type"] == "volume")
    assert all(e["price"] == 10.25 for e in events if e["type"] == "price")


def test_one_copy_per_subscription_holding_the_symbol_and_type() -> None:
    session = authenticated()
    hold(session, "both", ["AAPL"], ALL)
    hold(session, "trades", ["AAPL", "MSFT"], ["volume"])
    events = feed(session, [trade("AAPL")])
    assert [(e["type"], e["sub"]) for e in events] == [
        ("volume", "both"),
        ("volume", "trades"),
        ("price", "both"),
    ]
    events[0]["volume"] = -1  # a handler changing its copy changes no other
    assert events[1]["volume"] == 100.0


def test_several_messages_a_frame_each_count_and_a_bad_one_alone_is_an_error() -> None:
    session = holding("AAPL")
    received = session.receive(
        json.dumps([quote(), {"T": "q", "S": "AAPL", "bp": "x"}, trade(), {"T": "c", "S": "AAPL"}]),
        NOW,
    )
    assert [e["type"] for e in received.events] == ["price", "volume", "price"]
    (bad,) = received.errors
    assert "alpaca q for 'AAPL'" in str(bad) and "bp" in str(bad)


@pytest.mark.parametrize("kind", ["b", "d", "u", "s", "l", "c", "x"])
def test_bars_statuses_corrections_and_cancels_give_nothing(kind: str) -> None:
    received = holding("AAPL").receive(json.dumps([{"T": kind, "S": "AAPL"}]), NOW)
    assert received.events == [] and not received.has_control


def test_an_unknown_message_type_is_skipped_not_an_error() -> None:
    received = holding("AAPL").receive('[{"T": "o", "S": "BTC/USD"}]', NOW)
    (error,) = received.errors
    assert isinstance(error, UnknownMessageType) and received.events == []


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        b"\xff\xfe",
        "7",
        '"q"',
        "[1]",
        '[{"S": "AAPL"}]',
        '[{"T": 7}]',
        '[{"T": ["q"]}]',
        '[{"T": "q", "bp": 1}]',
        '[{"T": "q", "S": 5, "bp": 1}]',
        '[{"T": "q", "S": "AAPL", "bp": -1}]',
        '[{"T": "q", "S": "AAPL", "bp": 1, "bs": true}]',
        '[{"T": "q", "S": "AAPL", "bp": 1, "t": "yesterday"}]',
        '[{"T": "q", "S": "AAPL", "bp": 1, "t": 1614009104}]',
        '[{"T": "t", "S": "AAPL", "p": 1}]',
        '[{"T": "t", "S": "AAPL", "p": 0, "s": 1}]',
        '[{"T": "t", "S": "AAPL", "p": 1, "s": -1}]',
        '[{"T": "t", "S": "AAPL", "p": 1, "s": 1, "t": "2021-02-30T00:00:00Z"}]',
        '[{"T": "subscription", "trades": "AAPL"}]',
    ],
)
def test_a_malformed_message_is_a_decode_error_and_no_event(raw: str | bytes) -> None:
    received = holding("AAPL").receive(raw, NOW)
    assert received.events == [] and len(received.errors) == 1
    (error,) = received.errors
    assert isinstance(error, DecodeError) and not isinstance(error, UnknownMessageType)
    assert "alpaca" in str(error)


def test_a_subscription_ack_that_is_malformed_answers_nothing() -> None:
    session = authenticated()
    request = session.subscribe("s", ["AAPL"], ["volume"], "realtime", None, None)
    assert not session.receive('[{"T": "subscription", "trades": 1}]', NOW).replies
    (reply,) = session.receive(ack(["AAPL"], []), NOW).replies
    assert reply.key == request.reply


# --- times -------------------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def go_rfc3339_nano(moment: datetime, nanos: int) -> str:
    """As Go (Alpaca's server) writes a time: nanoseconds, trailing zeros cut."""
    head = moment.strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{moment.microsecond * 1000 + nanos:09d}".rstrip("0")
    return f"{head}.{digits}Z" if digits else f"{head}Z"


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2200, 12, 31), timezones=st.just(UTC)
    ),
    st.integers(0, 999),
)
def test_any_nanosecond_time_is_epoch_seconds_cut_to_the_microsecond(
    moment: datetime, nanos: int
) -> None:
    text = go_rfc3339_nano(moment, nanos)
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    exact = float(Fraction(micros, 1_000_000))  # the double nearest the cut value
    assert parse_time(text) == exact
    session = holding("AAPL")
    (line,) = feed(session, [quote(t=text)])
    assert line["timestamp"] == exact


def test_times_from_the_samples() -> None:
    assert parse_time("2021-02-22T15:51:45.335689322Z") == 1614009105.335689
    assert parse_time("2021-02-22T15:51:45.3355677Z") == 1614009105.335567
    assert parse_time("2024-07-24T07:56:00Z") == 1721807760.0


# --- whatever arrives --------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
fields = st.sampled_from(
    ["S", "bp", "ap", "bs", "as", "p", "s", "t", "i", "code", "msg", "trades", "quotes"]
)
field_values = st.one_of(
    json_values,
    st.sampled_from(["AAPL", "*", "2021-02-22T15:51:45.335689322Z", "connected", "authenticated"]),
    st.sampled_from([0, 1, 2.5, 400, 402, 405, 406, 409]),
    st.lists(st.sampled_from(["AAPL", "MSFT", "*"]), max_size=3),
)
messages = st.fixed_dictionaries(
    {"T": st.sampled_from(["q", "t", "b", "c", "success", "subscription", "error", "zz"])},
    optional={"S": st.just("AAPL")},
).flatmap(
    lambda base: st.dictionaries(fields, field_values, max_size=6).map(
        lambda extra: {**extra, **base}
    )
)


@given(st.lists(st.one_of(st.lists(messages, max_size=4), st.binary(max_size=40)), max_size=6))
def test_whatever_arrives_no_exception_and_every_event_keeps_the_contract(
    frames_in: list[list[dict[str, Any]] | bytes],
) -> None:
    session = AlpacaSession(KEY, SECRET)
    session.subscribe("s", ["AAPL"], ALL, "realtime", None, None)
    session.subscribe("t", ["AAPL", "MSFT"], ["volume"], "realtime", None, None)
    for frame in frames_in:
        raw = frame if isinstance(frame, bytes) else json.dumps(frame)
        received = session.receive(raw, NOW)
        assert isinstance(received, Received)
        for event in received.events:
            assert check_event({**event, "source": "alpaca", "received": NOW}) == []
        if received.fatal is not None:
            assert SECRET not in str(received.fatal)
