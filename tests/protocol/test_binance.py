# The samples below are verbatim, one JSON value a line: long lines are theirs.
# ruff: noqa: E501
"""BinanceSession: PROVIDERS.md's Binance table, its worked examples and every sample
of shared/providers/binance.jsonl; paced, coalesced SUBSCRIBEs and their replies;
unknown symbols found over REST; trades once each; books synced from a REST snapshot
that never cross and match a reference model, resynced after a missed event."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import hypothesis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from argus_cli.client.pipeline import Pipeline
from argus_cli.events import MAX_BOOK_LEVELS, check_event
from argus_cli.exceptions import (
    ArgusConnectionError,
    ConfigError,
    DecodeError,
    NotOffered,
    SubscriptionError,
    UnknownMessageType,
)
from argus_cli.protocol.binance import (
    FACTS,
    MESSAGES_PER_SECOND,
    STREAMS,
    BinanceSession,
)
from argus_cli.protocol.rules import DATA_TYPES
from argus_cli.protocol.session import (
    Fetch,
    Fetched,
    Message,
    Received,
    Reconnect,
    Refusal,
    Send,
)
from argus_cli.testing.fakes.binance import METHODS, parse_stream

# shared/providers/binance.jsonl, verbatim (line n is SAMPLES[n - 1])
SAMPLES = """\
{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth"],"id":1}
{"result":null,"id":1}
{"method":"UNSUBSCRIBE","params":["btcusdt@depth"],"id":312}
{"result":null,"id":312}
{"method":"LIST_SUBSCRIPTIONS","id":3}
{"result":["btcusdt@aggTrade"],"id":3}
{"method":"SET_PROPERTY","params":["combined",true],"id":5}
{"result":null,"id":5}
{"method":"GET_PROPERTY","params":["combined"],"id":2}
{"result":true,"id":2}
{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}
{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":1672515782136,"m":true,"M":true}
{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}
{"e":"24hrTicker","E":1672515782136,"s":"BNBBTC","p":"0.0015","P":"250.00","w":"0.0018","x":"0.0009","c":"0.0025","Q":"10","b":"0.0024","B":"10","a":"0.0026","A":"100","o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18","O":0,"C":86400000,"F":0,"L":18150,"n":18151}
{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}
{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}
{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}
{"stream":"nknusdt@depth@100ms","data":{"e":"depthUpdate","E":1633998512068,"s":"NKNUSDT","U":499869750,"u":499869752,"b":[["0.35130000","6195.00000000"],["0.34750000","5548.00000000"],["0.34640000","6222.00000000"]],"a":[]}}
{"stream":"nknusdt@depth@100ms","data":{"e":"depthUpdate","E":1633998512568,"s":"NKNUSDT","U":499869753,"u":499869754,"b":[["0.35170000","4265.00000000"]],"a":[["0.35290000","10968.00000000"]]}}
{"stream":"nknusdt@bookTicker","data":{"u":499869768,"s":"NKNUSDT","b":"0.35210000","B":"672.00000000","a":"0.35260000","A":"3199.00000000"}}
{"stream":"nknusdt@aggTrade","data":{"e":"aggTrade","E":1633998523963,"s":"NKNUSDT","a":15683430,"p":"0.35280000","q":"58.00000000","f":19862790,"l":19862790,"T":1633998523963,"m":false,"M":true}}
{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1770123456789}}
{"e":"serverShutdown","E":1770123456789}
{"code":1,"msg":"Invalid value type: expected Boolean"}
{"code":2,"msg":"Invalid request: property name must be a string"}
{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"}
{"code":2,"msg":"Invalid request: unknown variant %s, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 column 28"}
{"code":2,"msg":"Invalid request: too many parameters"}
{"code":2,"msg":"Invalid request: missing field `method` at line 1 column 73"}
{"code":3,"msg":"Invalid JSON: expected value at line %s column %s"}
{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":2}
{"code":2,"msg":"Invalid request: invalid stream"}
""".splitlines()

# PROVIDERS.md "Worked examples" (source/received, and argus's `sub`, left out)
WORKED = """\
{"provider":"binance","line":11,"events":[{"type":"volume","symbol":"BNBBTC","volume":100.0,"timestamp":1672515782.136,"seq":12345}]}
{"provider":"binance","line":13,"events":[{"type":"price","symbol":"BNBUSDT","bid":25.3519,"ask":25.3652}]}
{"provider":"binance","line":15,"events":[{"type":"orderbook","symbol":"BNBBTC","bids":[[0.0024,10.0]],"asks":[[0.0026,100.0]]}]}
""".splitlines()
WORKED_STREAMS = {15: "bnbbtc@depth5"}  # "Binance line 15 is stream bnbbtc@depth5"

CLIENT_LINES = (1, 3, 5, 7, 9)
# what each server line gives a fresh session holding every sample symbol in every type
SERVER_LINES: dict[int, list[str]] = {
    2: [],
    4: [],
    6: [],
    8: [],
    10: [],
    11: ["volume"],
    13: ["price"],
    14: ["price"],
    16: [],  # buffered until the REST snapshot
    18: [],
    19: [],
    20: ["price"],
}
UNKNOWN_LINES = (12, 15, 17, 21)  # aggTrade (never subscribed), partial books without a stream
SHUTDOWN_LINES = (22, 23)
ERROR_LINES = (24, 25, 26, 27, 28, 29, 30, 31, 32)
SAMPLE_SYMBOLS = ["BNBBTC", "BNBUSDT", "NKNUSDT"]
ALL = list(DATA_TYPES)
NOW = 1764000000.0
REST = "https://rest.test"


def sample(line: int) -> str:
    return SAMPLES[line - 1]


def sends(actions: Iterable[object]) -> list[dict[str, Any]]:
    return [json.loads(a.data) for a in actions if isinstance(a, Send)]


def fetches(actions: Iterable[object]) -> list[Fetch]:
    return [a for a in actions if isinstance(a, Fetch)]


def exchange_info(*symbols: str, status: str = "TRADING") -> bytes:
    infos = [
        {"symbol": s, "status": status, "baseAsset": s[:3], "quoteAsset": s[3:]} for s in symbols
    ]
    return json.dumps({"timezone": "UTC", "symbols": infos}).encode()


INVALID = json.dumps({"code": -1121, "msg": "Invalid symbol."}).encode()


def answer_checks(
    session: BinanceSession, checks: Iterable[Fetch], invalid: Iterable[str] = ()
) -> Received:
    """Answer exchangeInfo Fetches as Binance would (400 -1121 when any symbol is unknown)."""
    bad = set(invalid)
    merged = Received([])
    queue = list(checks)
    while queue:
        fetch = queue.pop(0)
        query = parse_qs(urlsplit(fetch.url).query)
        asked = json.loads(query["symbols"][0]) if "symbols" in query else query["symbol"]
        if bad & set(asked):
            received = session.fetched(Fetched(fetch.tag, 400, INVALID), NOW)
        else:
            received = session.fetched(Fetched(fetch.tag, 200, exchange_info(*asked)), NOW)
        queue += fetches(received.actions)
        for reply in received.replies:
            merged.add_reply(reply)
        for refusal in received.refusals:
            merged.add_refusal(refusal)
        merged.add_actions(
            [a for a in received.actions if not isinstance(a, Fetch) or "depth" in a.url]
        )
        merged.events.extend(received.events)
    return merged


def ack_all(session: BinanceSession, frames: list[dict[str, Any]], now: float = NOW) -> Received:
    merged = Received([])
    for frame in frames:
        received = session.receive(json.dumps({"result": None, "id": frame["id"]}), now)
        for reply in received.replies:
            merged.add_reply(reply)
        for refusal in received.refusals:
            merged.add_refusal(refusal)
        merged.add_actions(received.actions)
    return merged


def hold(
    session: BinanceSession, sub: str, symbols: list[str], types: list[str] = ALL, now: float = NOW
) -> Received:
    """Subscribe, send on the next tick, check the symbols and acknowledge: answered."""
    request = session.subscribe(sub, symbols, types, "realtime", None, None)
    answer_checks(session, fetches(request.actions))
    frames = sends(session.on_timer(now))
    received = ack_all(session, frames, now)
    assert [r.key for r in received.replies] == [request.reply]
    return received


def holding(*symbols: str, types: list[str] = ALL, sub: str = "s") -> BinanceSession:
    session = BinanceSession(rest_url=REST)
    hold(session, sub, list(symbols), types)
    return session


def feed(session: BinanceSession, *messages: dict[str, Any] | str) -> list[Message]:
    """The events of ``messages``, each checked as the pipeline would deliver it."""
    events: list[Message] = []
    for message in messages:
        raw = message if isinstance(message, str) else json.dumps(message)
        received = session.receive(raw, NOW)
        assert not received.errors, received.errors
        events.extend(received.events)
    for event in events:
        assert check_event({**event, "source": "binance", "received": NOW}) == [], event
    return events


def bare(events: list[Message]) -> list[Message]:
    return [{k: v for k, v in e.items() if k != "sub"} for e in events]


def trade(trade_id: int, symbol: str = "BTCUSDT", price: str = "100.5") -> dict[str, Any]:
    return {
        "e": "trade",
        "E": 1672515782136,
        "s": symbol,
        "t": trade_id,
        "p": price,
        "q": "0.5",
        "T": 1672515782135,
        "m": True,
        "M": True,
    }


def depth(
    first: int, last: int, bids: list[list[str]], asks: list[list[str]], symbol: str = "BTCUSDT"
) -> dict[str, Any]:
    return {
        "e": "depthUpdate",
        "E": 1672515782000 + last,
        "s": symbol,
        "U": first,
        "u": last,
        "b": bids,
        "a": asks,
    }


def snapshot(last_id: int, bids: list[list[str]], asks: list[list[str]]) -> bytes:
    return json.dumps({"lastUpdateId": last_id, "bids": bids, "asks": asks}).encode()


def depth_fetch(actions: Iterable[object]) -> Fetch:
    (fetch,) = [f for f in fetches(actions) if "/api/v3/depth" in f.url]
    return fetch


def synced_book(session: BinanceSession, symbol: str = "BTCUSDT") -> Fetch:
    """The snapshot Fetch the session made when the depth stream was acknowledged."""
    return depth_fetch(hold(session, "s", [symbol], ["orderbook"]).actions)


# --- the samples and the worked examples -----------------------------------------------


def test_the_samples_here_are_the_shared_file_verbatim() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "providers" / "binance.jsonl"
    if not shared.exists():
        pytest.skip("shared/providers is not beside this checkout")
    assert shared.read_text().splitlines() == SAMPLES
    covered = {*CLIENT_LINES, *SERVER_LINES, *UNKNOWN_LINES, *SHUTDOWN_LINES, *ERROR_LINES}
    assert covered == set(range(1, len(SAMPLES) + 1))


@pytest.mark.parametrize("line", sorted(SERVER_LINES))
def test_every_server_sample_through_a_fresh_session(line: int) -> None:
    session = holding(*SAMPLE_SYMBOLS)
    received = session.receive(sample(line), NOW)
    assert not received.errors and not received.refusals and not received.actions
    assert [e["type"] for e in received.events] == SERVER_LINES[line]
    for event in received.events:
        assert event["sub"] == "s" and ("seq" not in event or event["type"] == "volume")
        assert check_event({**event, "source": "binance", "received": NOW}) == []


@pytest.mark.parametrize("line", UNKNOWN_LINES)
def test_streams_argus_never_asks_for_are_skipped_as_unknown(line: int) -> None:
    received = holding(*SAMPLE_SYMBOLS).receive(sample(line), NOW)
    assert not received.events and not received.refusals and not received.actions
    assert [type(e) for e in received.errors] == [UnknownMessageType]


@pytest.mark.parametrize("line", SHUTDOWN_LINES)
def test_server_shutdown_asks_for_a_reconnect_once(line: int) -> None:
    session = holding(*SAMPLE_SYMBOLS)
    received = session.receive(sample(line), NOW)
    assert not received.events and not received.errors
    (action,) = received.actions
    assert isinstance(action, Reconnect) and "serverShutdown" in action.reason
    assert not session.receive(sample(line), NOW).actions  # already leaving
    session.opened()
    assert len(session.receive(sample(line), NOW).actions) == 1  # a new connection


@pytest.mark.parametrize("line", ERROR_LINES)
def test_every_error_sample_is_a_refusal_saying_what_binance_said(line: int) -> None:
    received = holding(*SAMPLE_SYMBOLS).receive(sample(line), NOW)
    assert not received.events and not received.errors and not received.replies
    (refusal,) = received.refusals
    said = json.loads(sample(line))
    said = said.get("error", said)
    assert said["msg"] in refusal.message and refusal.code == "error"
    assert not refusal.drops_subscription and refusal.subscription_id is None


@pytest.mark.parametrize("worked", WORKED)
def test_the_worked_examples_exactly(worked: str) -> None:
    example = json.loads(worked)
    session = holding(*SAMPLE_SYMBOLS)
    line = sample(example["line"])
    stream = WORKED_STREAMS.get(example["line"])
    if stream is not None:
        line = json.dumps({"stream": stream, "data": json.loads(line)})
    events = feed(session, line)
    assert bare(events) == example["events"]
    assert all(e["sub"] == "s" for e in events)


def test_samples_through_the_pipeline_are_stamped_and_keep_the_contract() -> None:
    session = holding(*SAMPLE_SYMBOLS)
    pipeline = Pipeline("binance")
    pipeline.track("s", True, SAMPLE_SYMBOLS)
    delivered = []
    for line in sorted(SERVER_LINES):
        delivered += pipeline.process(session.receive(sample(line), NOW).events, NOW)
    assert [e["type"] for e in delivered] == ["volume", "price", "price", "price"]
    # line 14's 24hrTicker gives BNBBTC its last price; line 11's trade did before it
    assert delivered[2]["price"] == 0.0025 and delivered[2]["timestamp"] == 1672515782.136
    assert "price" not in delivered[1] and "timestamp" not in delivered[1]  # BNBUSDT: none yet
    for event in delivered:
        assert check_event(event) == [] and event["source"] == "binance"


@pytest.mark.parametrize("line", CLIENT_LINES)
def test_client_samples_are_what_the_fake_reads_and_our_frames_share_their_shape(line: int) -> None:
    frame = json.loads(sample(line))
    assert frame["method"] in METHODS and type(frame["id"]) is int
    for name in frame.get("params", []):
        if frame["method"] in ("SUBSCRIBE", "UNSUBSCRIBE"):
            assert parse_stream(name) is not None
    session = BinanceSession(rest_url=REST)
    session.subscribe("s", ["BTCUSDT"], ALL, "realtime", None, None)
    (ours,) = sends(session.on_timer(NOW))
    if frame["method"] == "SUBSCRIBE":
        assert list(ours) == list(frame)  # method, params, id
    assert all(parse_stream(name) is not None for name in ours["params"])


# --- facts and requests ------------------------------------------------------------------


def test_facts() -> None:
    assert FACTS.name == BinanceSession.source == "binance"
    assert FACTS.url == "wss://stream.binance.com:9443/ws"
    assert FACTS.rest_url == "https://api.binance.com"
    assert FACTS.data_types == DATA_TYPES and FACTS.frequencies == ("realtime",)
    assert FACTS.contiguous_trade_ids and not FACTS.needs_key and not FACTS.needs_secret
    assert FACTS.lists_symbols and not FACTS.filters and FACTS.client_messages_per_second == 5
    assert FACTS.max_symbols is not None and FACTS.max_symbols * 4 <= 1024 and FACTS.description
    assert dict(STREAMS) == {
        "price": ("bookTicker", "ticker"),
        "volume": ("trade",),
        "orderbook": ("depth@100ms",),
    }
    assert MESSAGES_PER_SECOND < 5  # room for the pings and pongs, which count too


def test_the_default_rest_url_is_binances() -> None:
    session = BinanceSession()
    (fetch,) = session.list_symbols().actions
    assert isinstance(fetch, Fetch) and fetch.url == "https://api.binance.com/api/v3/exchangeInfo"
    assert session.ping(1) is None and session.handshake("key").headers == {}
    assert session.timer_interval is not None and 0 < session.timer_interval <= 0.5


@pytest.mark.parametrize(
    ("types", "streams"),
    [
        (["price"], ["btcusdt@bookTicker", "btcusdt@ticker"]),
        (["volume"], ["btcusdt@trade"]),
        (["orderbook"], ["btcusdt@depth@100ms"]),
    ],
)
def test_each_type_asks_for_its_streams_on_the_next_tick(
    types: list[str], streams: list[str]
) -> None:
    session = BinanceSession(rest_url=REST)
    request = session.subscribe("s", ["btcusdt"], types, "realtime", None, None)
    assert request.reply == ("subscribed", "s")
    assert sends(request.actions) == []  # nothing sent outside the timer
    (check,) = fetches(request.actions)
    assert check.url == f"{REST}/api/v3/exchangeInfo?symbol=BTCUSDT"
    (frame,) = sends(session.on_timer(NOW))
    assert frame["method"] == "SUBSCRIBE" and frame["params"] == streams
    assert sends(session.on_timer(NOW + 0.25)) == []  # asked already


def test_a_request_is_answered_once_acknowledged_and_checked() -> None:
    session = BinanceSession(rest_url=REST)
    request = session.subscribe(
        "s", ["BTCUSDT", "ETHUSDT"], ["price", "volume"], "realtime", None, None
    )
    (check,) = fetches(request.actions)
    assert parse_qs(urlsplit(check.url).query)["symbols"] == ['["BTCUSDT","ETHUSDT"]']
    (frame,) = sends(session.on_timer(NOW))
    assert not ack_all(session, [frame]).replies  # not checked yet
    (reply,) = answer_checks(session, [check]).replies
    assert reply.key == request.reply and reply.value == ["BTCUSDT", "ETHUSDT"]
    assert reply.error is None


def test_a_second_subscription_to_held_streams_is_answered_after_a_round_trip() -> None:
    session = holding("BTCUSDT")
    request = session.subscribe("t", ["BTCUSDT"], ["volume"], "realtime", None, None)
    assert fetches(request.actions) == []  # known to exist
    (frame,) = sends(session.on_timer(NOW))
    assert frame["params"] == ["btcusdt@trade"]  # asked again: Binance accepts it
    (reply,) = ack_all(session, [frame]).replies
    assert reply.key == request.reply and reply.value == ["BTCUSDT"]
    assert [e["sub"] for e in feed(session, trade(1))] == ["s", "t"]


@pytest.mark.parametrize(
    ("frequency", "filters", "types", "words"),
    [
        ("1s", None, ["price"], "realtime"),
        ("realtime", {"min_price": 1.0}, ["price"], "filter"),
        ("realtime", None, ["trades"], "price, volume, orderbook"),
    ],
)
def test_what_binance_cannot_do_is_refused_before_anything_is_sent(
    frequency: str, filters: dict[str, float] | None, types: list[str], words: str
) -> None:
    session = BinanceSession(rest_url=REST)
    with pytest.raises(NotOffered, match=words):
        session.subscribe("s", ["BTCUSDT"], types, frequency, filters, None)
    with pytest.raises(ConfigError):
        session.subscribe("s", [], ["price"], "realtime", None, None)
    assert session.on_timer(NOW) == []


def test_list_symbols_answers_the_trading_ones_from_exchange_info() -> None:
    session = BinanceSession(rest_url=REST)
    request = session.list_symbols()
    (fetch,) = request.actions
    assert isinstance(fetch, Fetch) and fetch.url == f"{REST}/api/v3/exchangeInfo"
    body = json.loads(exchange_info("BTCUSDT", "ETHUSDT", "LUNAUSDT"))
    body["symbols"][2]["status"] = "BREAK"
    session.opened()  # the answer is good on any connection
    (reply,) = session.fetched(Fetched(fetch.tag, 200, json.dumps(body).encode()), NOW).replies
    assert reply.key == request.reply and reply.value == ["BTCUSDT", "ETHUSDT"]
    failed = session.list_symbols()
    (fetch,) = failed.actions
    assert isinstance(fetch, Fetch)
    (reply,) = session.fetched(Fetched(fetch.tag, 0, error="connection refused"), NOW).replies
    assert isinstance(reply.error, ArgusConnectionError) and "connection refused" in str(
        reply.error
    )
    bad = session.list_symbols()
    (fetch,) = bad.actions
    assert isinstance(fetch, Fetch)
    (reply,) = session.fetched(Fetched(fetch.tag, 200, b'{"symbols":7}'), NOW).replies
    assert isinstance(reply.error, DecodeError)


def test_unsubscribe_stops_only_what_no_other_subscription_holds() -> None:
    session = BinanceSession(rest_url=REST)
    hold(session, "a", ["BTCUSDT", "ETHUSDT"], ["price", "volume"])
    hold(session, "b", ["BTCUSDT"], ["price"])
    assert session.unsubscribe("a") == session.unsubscribe("nobody")  # nothing to wait for
    assert feed(session, trade(1)) == []  # nobody holds BTCUSDT volume any more
    (frame,) = sends(session.on_timer(NOW + 1))
    assert frame["method"] == "UNSUBSCRIBE"
    assert frame["params"] == [
        "btcusdt@trade",
        "ethusdt@bookTicker",
        "ethusdt@ticker",
        "ethusdt@trade",
    ]
    assert not ack_all(session, [frame]).refusals
    assert sends(session.on_timer(NOW + 2)) == []


def test_a_reconnect_asks_for_every_stream_again_in_one_frame() -> None:
    session = BinanceSession(rest_url=REST)
    for n, symbol in enumerate(["BTCUSDT", "ETHUSDT", "BNBBTC"]):
        hold(session, f"s{n}", [symbol], ["volume"])
    session.opened()
    for n, symbol in enumerate(["BTCUSDT", "ETHUSDT", "BNBBTC"]):  # the client restores each
        request = session.subscribe(f"s{n}", [symbol], ["volume"], "realtime", None, {})
        assert not request.actions  # checked already
    (frame,) = sends(session.on_timer(NOW + 5))
    assert frame["params"] == ["btcusdt@trade", "ethusdt@trade", "bnbbtc@trade"]
    replies = ack_all(session, [frame]).replies
    assert [r.key for r in replies] == [("subscribed", f"s{n}") for n in range(3)]


# --- pacing --------------------------------------------------------------------------------


def test_ten_subscriptions_made_one_by_one_go_in_one_frame() -> None:
    session = BinanceSession(rest_url=REST)
    symbols = [f"SYM{n}USDT" for n in range(10)]
    for symbol in symbols:
        session.subscribe(symbol, [symbol], ["volume"], "realtime", None, None)
    frames = sends(session.on_timer(NOW))
    assert len(frames) == 1 and frames[0]["params"] == [f"{s.lower()}@trade" for s in symbols]


def test_more_frames_than_the_budget_wait_for_the_next_second() -> None:
    session = BinanceSession(rest_url=REST)
    symbols = [f"SYM{n}USDT" for n in range(6)]
    request = session.subscribe("s", symbols, ["volume"], "realtime", None, None)
    answer_checks(session, fetches(request.actions))
    (frame,) = sends(session.on_timer(NOW))
    refused = {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": frame["id"]}
    assert not session.receive(json.dumps(refused), NOW).refusals  # which one? each alone
    sent: list[tuple[float, dict[str, Any]]] = []
    for tick in range(1, 13):
        now = NOW + tick * 0.25
        sent += [(now, f) for f in sends(session.on_timer(now))]
    assert sorted(f["params"][0] for _, f in sent) == sorted(f"{s.lower()}@trade" for s in symbols)
    times = [t for t, _ in sent]
    assert all(sum(1 for u in times if t - 1 < u <= t) <= MESSAGES_PER_SECOND for t in times)
    assert times[MESSAGES_PER_SECOND] - times[0] >= 1.0


@st.composite
def pacing_runs(draw: st.DrawFn) -> list[tuple[str, Any]]:
    steps: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["subscribe", "unsubscribe", "tick", "tick", "ack"]))
        if kind == "subscribe":
            symbols = draw(
                st.lists(
                    st.sampled_from(["AUSDT", "BUSDT", "CUSDT", "DUSDT"]), min_size=1, max_size=3
                )
            )
            types = draw(st.lists(st.sampled_from(ALL), min_size=1, max_size=3, unique=True))
            steps.append((kind, (draw(st.sampled_from("abcde")), symbols, types)))
        elif kind == "unsubscribe":
            steps.append((kind, draw(st.sampled_from("abcde"))))
        elif kind == "tick":
            steps.append((kind, draw(st.floats(0.0, 0.7))))
        else:
            steps.append((kind, draw(st.booleans())))  # True: refuse the oldest frame
    return steps


@settings(max_examples=150, deadline=None)
@given(pacing_runs())
def test_pacing_never_exceeds_the_budget_and_every_stream_ends_up_asked(
    steps: list[tuple[str, Any]],
) -> None:
    session = BinanceSession(rest_url=REST)
    now = NOW
    times: list[float] = []
    inflight: list[dict[str, Any]] = []
    server: set[str] = set()
    subs: dict[str, tuple[list[str], list[str]]] = {}

    def tick(dt: float) -> None:
        nonlocal now
        now += dt
        for frame in sends(session.on_timer(now)):
            times.append(now)
            inflight.append(frame)

    def ack(refuse: bool) -> None:
        if not inflight:
            return
        frame = inflight.pop(0)
        if refuse and frame["method"] == "SUBSCRIBE":
            session.receive(
                json.dumps(
                    {
                        "error": {"code": 2, "msg": "Invalid request: too many streams"},
                        "id": frame["id"],
                    }
                ),
                now,
            )
            return
        if frame["method"] == "SUBSCRIBE":
            server.update(frame["params"])
        elif frame["method"] == "UNSUBSCRIBE":
            server.difference_update(frame["params"])
        session.receive(json.dumps({"result": None, "id": frame["id"]}), now)

    for kind, arg in steps:
        if kind == "subscribe":
            sub, symbols, types = arg
            request = session.subscribe(sub, symbols, types, "realtime", None, None)
            answer_checks(session, fetches(request.actions))
            subs[sub] = (symbols, types)
        elif kind == "unsubscribe":
            session.unsubscribe(arg)
            subs.pop(arg, None)
        elif kind == "tick":
            tick(arg)
        else:
            ack(arg)
    for _ in range(80):  # then quietly: every frame answered, time passing
        tick(0.25)
        while inflight:
            ack(False)
    for t in times:
        assert sum(1 for u in times if t - 1 < u <= t) <= MESSAGES_PER_SECOND
    wanted = {
        f"{symbol.lower()}@{suffix}"
        for sub_id, (symbols, types) in subs.items()
        if sub_id in session._subs
        for symbol in symbols
        if symbol not in session._refused.get(sub_id, ((), frozenset()))[1]
        for t in types
        for suffix in STREAMS[t]
    }
    assert server == wanted


# --- unknown symbols ------------------------------------------------------------------------


def test_an_unknown_symbol_is_found_over_rest_refused_and_unsubscribed() -> None:
    session = BinanceSession(rest_url=REST)
    request = session.subscribe(
        "s", ["BTCUSDT", "NOPEUSDT", "ETHUSDT"], ["price"], "realtime", None, None
    )
    (frame,) = sends(session.on_timer(NOW))
    assert not ack_all(session, [frame]).replies
    (check,) = fetches(request.actions)
    one_each = session.fetched(Fetched(check.tag, 400, INVALID), NOW)  # names none
    assert [parse_qs(urlsplit(f.url).query)["symbol"] for f in fetches(one_each.actions)] == [
        ["BTCUSDT"],
        ["NOPEUSDT"],
        ["ETHUSDT"],
    ]
    settled = answer_checks(session, fetches(one_each.actions), invalid={"NOPEUSDT"})
    (reply,) = settled.replies
    assert reply.key == request.reply and reply.value == ["BTCUSDT", "ETHUSDT"]
    (refusal,) = settled.refusals
    assert refusal.code == "invalid_symbol" and "NOPEUSDT" in refusal.message
    assert "Invalid symbol." in refusal.message and refusal.subscription_id == "s"
    assert not refusal.drops_subscription and refusal.awaited_by is None
    (cleanup,) = sends(session.on_timer(NOW + 1))
    assert cleanup == {
        "method": "UNSUBSCRIBE",
        "params": ["nopeusdt@bookTicker", "nopeusdt@ticker"],
        "id": cleanup["id"],
    }
    assert feed(session, sample(13).replace("BNBUSDT", "NOPEUSDT")) == []
    # restored after a reconnect: left out, silently, and not asked over REST again
    session.opened()
    again = session.subscribe(
        "s", ["BTCUSDT", "NOPEUSDT", "ETHUSDT"], ["price"], "realtime", None, {}
    )
    assert not again.actions
    (frame,) = sends(session.on_timer(NOW + 2))
    assert "nopeusdt@ticker" not in frame["params"]
    restored = ack_all(session, [frame])
    assert [r.value for r in restored.replies] == [["BTCUSDT", "ETHUSDT"]] and not restored.refusals


def test_a_subscription_of_unknown_symbols_only_fails_and_is_dropped() -> None:
    session = BinanceSession(rest_url=REST)
    request = session.subscribe("s", ["NOPEUSDT"], ["volume"], "realtime", None, None)
    received = answer_checks(session, fetches(request.actions), invalid={"NOPEUSDT"})
    (reply,) = received.replies
    assert reply.key == request.reply and isinstance(reply.error, SubscriptionError)
    assert reply.error.code == "invalid_symbol" and reply.error.subscription_id == "s"
    assert "NOPEUSDT" in str(reply.error)
    (refusal,) = received.refusals
    assert refusal.drops_subscription and refusal.awaited_by == request.reply
    assert sends(session.on_timer(NOW)) == []  # refused before anything was sent
    # known unknown: a new subscription is refused after one round trip, without REST
    again = session.subscribe("t", ["nopeusdt"], ["volume"], "realtime", None, None)
    assert not again.actions
    (ping,) = sends(session.on_timer(NOW + 1))
    assert ping["method"] == "LIST_SUBSCRIPTIONS"
    answered = session.receive(json.dumps({"result": [], "id": ping["id"]}), NOW)
    assert isinstance(answered.replies[0].error, SubscriptionError)


@pytest.mark.parametrize("symbol", ["BTC-USD@x", "BTC/USD", "A B"])
def test_a_symbol_that_cannot_make_a_stream_name_is_refused_locally(symbol: str) -> None:
    session = BinanceSession(rest_url=REST)
    request = session.subscribe("s", ["BTCUSDT", symbol], ["volume"], "realtime", None, None)
    (check,) = fetches(request.actions)
    assert "symbol=BTCUSDT" in check.url
    (frame,) = sends(session.on_timer(NOW))
    assert frame["params"] == ["btcusdt@trade"]
    ack_all(session, [frame])
    received = answer_checks(session, [check])
    assert [r.value for r in received.replies] == [["BTCUSDT"]]
    assert [r.code for r in received.refusals] == ["invalid_symbol"]


def test_an_invalid_stream_error_finds_the_symbol_one_frame_each() -> None:
    session = BinanceSession(rest_url=REST)
    request = session.subscribe("s", ["BTCUSDT", "NOPEUSDT"], ["volume"], "realtime", None, None)
    checks = fetches(request.actions)
    (frame,) = sends(session.on_timer(NOW))
    refused = json.dumps(
        {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": frame["id"]}
    )
    assert not session.receive(refused, NOW).refusals
    alone = sends(session.on_timer(NOW + 0.25))
    assert [f["params"] for f in alone] == [["btcusdt@trade"], ["nopeusdt@trade"]]
    ack_all(session, alone[:1])
    received = session.receive(refused.replace(str(frame["id"]), str(alone[1]["id"])), NOW)
    assert not received.replies and not received.refusals  # BTCUSDT is not checked yet
    settled = answer_checks(session, checks, invalid={"NOPEUSDT"})
    (reply,) = settled.replies
    assert reply.key == request.reply and reply.value == ["BTCUSDT"]
    (refusal,) = settled.refusals
    assert refusal.code == "invalid_symbol" and "NOPEUSDT" in refusal.message
    assert "invalid stream" in refusal.message and not refusal.drops_subscription
    assert sends(session.on_timer(NOW + 2)) == []  # never subscribed: nothing to undo


def test_when_rest_cannot_check_the_symbols_stream_unchecked_with_a_warning() -> None:
    session = BinanceSession(rest_url=REST)
    request = session.subscribe("s", ["BTCUSDT"], ["volume"], "realtime", None, None)
    ack_all(session, sends(session.on_timer(NOW)))
    (check,) = fetches(request.actions)
    now = NOW
    for attempt in range(3):
        received = session.fetched(Fetched(check.tag, 503 if attempt else 0, b"busy", "down"), now)
        if attempt < 2:
            assert not received.replies and not received.refusals
            assert session.on_timer(now) == []  # not yet due
            now += 1.0
            (check,) = fetches(session.on_timer(now))
    (reply,) = received.replies
    assert reply.value == ["BTCUSDT"] and reply.error is None
    (refusal,) = received.refusals
    assert refusal.code == "symbol_check_failed" and not refusal.drops_subscription
    assert [e["seq"] for e in feed(session, trade(5))] == [5]


# --- trades and prices -------------------------------------------------------------------------


def test_trades_are_volume_lines_with_the_trade_id_as_seq_never_twice() -> None:
    session = holding("BTCUSDT")
    events = feed(session, trade(10), trade(11), trade(11), trade(9), trade(12))
    assert [(e["seq"], e["volume"], e["timestamp"]) for e in events] == [
        (10, 0.5, 1672515782.135),
        (11, 0.5, 1672515782.135),
        (12, 0.5, 1672515782.135),
    ]
    session.opened()  # a new connection: what was printed stays printed
    hold(session, "s", ["BTCUSDT"])
    assert feed(session, trade(12)) == []
    assert [e["seq"] for e in feed(session, trade(13))] == [13]


def test_times_in_microseconds_are_told_apart_by_size() -> None:
    session = holding("BTCUSDT")
    micro = dict(trade(1), T=1672515782135123)
    (event,) = feed(session, micro)
    assert event["timestamp"] == 1672515782.135123


def test_combined_stream_wrappers_are_read() -> None:
    session = holding("BTCUSDT")
    (event,) = feed(session, {"stream": "btcusdt@trade", "data": trade(3)})
    assert event["type"] == "volume" and event["seq"] == 3


def test_book_ticker_lines_carry_the_last_trade_price_never_a_computed_one() -> None:
    session = holding("BNBUSDT", types=["price", "volume"])
    ticker = sample(13)
    (first,) = feed(session, ticker)
    assert "price" not in first  # nothing traded yet
    feed(session, trade(1, "BNBUSDT", price="25.36"))
    (second,) = feed(session, ticker)
    assert second["price"] == 25.36 and "timestamp" not in second and "seq" not in second
    day = sample(14).replace("BNBBTC", "BNBUSDT")
    (daily,) = feed(session, day)
    assert (daily["price"], daily["bid"], daily["ask"]) == (0.0025, 0.0024, 0.0026)
    assert feed(session, ticker)[0]["price"] == 0.0025


def test_one_copy_per_subscription_holding_the_symbol_and_type() -> None:
    session = BinanceSession(rest_url=REST)
    hold(session, "both", ["BTCUSDT"], ["price", "volume"])
    hold(session, "trades", ["BTCUSDT", "ETHUSDT"], ["volume"])
    assert [e["sub"] for e in feed(session, trade(10))] == ["both", "trades"]
    copies = feed(session, trade(11))
    copies[0]["volume"] = -1  # a handler changing its copy changes no other
    assert copies[1]["volume"] == 0.5


@pytest.mark.parametrize(
    "message",
    [
        dict(trade(1), q="-1"),
        dict(trade(1), t="1"),
        dict(trade(1), T=1.5),
        {"e": "trade", "s": 7},
        {"stream": "btcusdt@trade", "data": [1]},
        {"something": "else"},
        depth(5, 4, [], []),
    ],
)
def test_a_malformed_message_is_a_decode_error_and_gives_nothing(message: dict[str, Any]) -> None:
    session = holding("BTCUSDT")
    received = session.receive(json.dumps(message), NOW)
    assert received.events == [] and len(received.errors) == 1
    assert not isinstance(received.errors[0], UnknownMessageType)
    assert "binance" in str(received.errors[0])
    assert [type(e) for e in session.receive(b"{nope", NOW).errors] == [DecodeError]


# --- books ---------------------------------------------------------------------------------


def test_the_captured_sync_applies_the_event_after_the_snapshot() -> None:
    session = BinanceSession(rest_url=REST)
    fetch = synced_book(session, "NKNUSDT")
    assert fetch.url == f"{REST}/api/v3/depth?symbol=NKNUSDT&limit=1000"
    assert feed(session, sample(18), sample(19)) == []  # buffered
    body = snapshot(
        499869752,
        [["0.35210000", "672.00000000"], ["0.35130000", "6195.00000000"]],
        [["0.35260000", "3199.00000000"]],
    )
    received = session.fetched(Fetched(fetch.tag, 200, body), NOW)
    (book,) = received.events
    # line 18 (u = lastUpdateId) is dropped; line 19 (U = lastUpdateId + 1) applies
    assert book["bids"] == [[0.3521, 672.0], [0.3517, 4265.0], [0.3513, 6195.0]]
    assert book["asks"] == [[0.3526, 3199.0], [0.3529, 10968.0]]
    assert book["timestamp"] == 1633998512.568 and book["sub"] == "s"
    assert check_event({**book, "source": "binance", "received": NOW}) == []


def test_no_book_line_before_the_snapshot_and_a_quiet_book_shows_the_snapshot() -> None:
    session = BinanceSession(rest_url=REST)
    fetch = synced_book(session)
    received = session.fetched(
        Fetched(fetch.tag, 200, snapshot(100, [["10", "1"]], [["11", "2"]])), NOW
    )
    (book,) = bare(received.events)
    assert book == {
        "type": "orderbook",
        "symbol": "BTCUSDT",
        "bids": [[10.0, 1.0]],
        "asks": [[11.0, 2.0]],
    }
    assert feed(session, depth(90, 100, [["9", "1"]], [])) == []  # older than the book
    (update,) = feed(session, depth(101, 102, [["10", "0"], ["9.5", "3"]], []))
    assert update["bids"] == [[9.5, 3.0]] and update["timestamp"] == 1672515782.102
    assert feed(session, depth(103, 103, [["1", "0"]], [])) == []  # no change: no line


def test_a_snapshot_older_than_the_stream_is_asked_again() -> None:
    session = BinanceSession(rest_url=REST)
    fetch = synced_book(session)
    feed(session, depth(200, 205, [["10", "1"]], []))
    received = session.fetched(Fetched(fetch.tag, 200, snapshot(150, [["9", "1"]], [])), NOW)
    assert received.events == [] and not received.refusals
    retry = depth_fetch(session.on_timer(NOW + 1))
    (book,) = session.fetched(
        Fetched(retry.tag, 200, snapshot(203, [["9", "1"]], [["12", "1"]])), NOW
    ).events
    assert book["bids"] == [[10.0, 1.0], [9.0, 1.0]]


def test_a_missed_event_hides_the_book_until_a_new_snapshot() -> None:
    session = BinanceSession(rest_url=REST)
    fetch = synced_book(session)
    session.fetched(Fetched(fetch.tag, 200, snapshot(100, [["10", "1"]], [["11", "1"]])), NOW)
    assert len(feed(session, depth(101, 101, [["10", "2"]], []))) == 1
    received = session.receive(json.dumps(depth(103, 104, [["10", "3"]], [])), NOW)  # 102 missed
    assert received.events == [] and session.resyncs == 1
    resync = depth_fetch(received.actions)
    assert feed(session, depth(105, 105, [["10", "4"]], [])) == []  # hidden until synced
    (book,) = session.fetched(
        Fetched(resync.tag, 200, snapshot(104, [["10", "3"]], [["11", "1"]])), NOW
    ).events
    assert book["bids"] == [[10.0, 4.0]]


def test_a_snapshot_that_fails_is_retried_then_warned_about() -> None:
    session = BinanceSession(rest_url=REST)
    fetch = synced_book(session)
    now = NOW
    warnings: list[Refusal] = []
    for _ in range(4):
        received = session.fetched(Fetched(fetch.tag, 503, b"{}"), now)
        warnings += received.refusals
        assert fetches(received.actions) == [] and received.events == []
        now += 31
        fetch = depth_fetch(session.on_timer(now))
    (warning,) = warnings
    assert warning.code == "snapshot_failed" and "BTCUSDT" in warning.message
    assert warning.subscription_id == "s" and not warning.drops_subscription
    (book,) = session.fetched(Fetched(fetch.tag, 200, snapshot(1, [["1", "1"]], [])), now).events
    assert book["bids"] == [[1.0, 1.0]]


def test_a_depth_snapshot_for_an_unknown_symbol_refuses_it() -> None:
    session = BinanceSession(rest_url=REST)
    hold(session, "s", ["BTCUSDT"], ["orderbook"])
    fetch = synced_book(session, "ETHUSDT")  # a second subscription
    received = session.fetched(Fetched(fetch.tag, 400, INVALID), NOW)
    (refusal,) = received.refusals
    assert refusal.code == "invalid_symbol" and "ETHUSDT" in refusal.message
    assert refusal.drops_subscription  # it held nothing else


def test_a_new_subscription_to_a_synced_book_sees_it_at_once() -> None:
    session = BinanceSession(rest_url=REST)
    fetch = synced_book(session)
    session.fetched(Fetched(fetch.tag, 200, snapshot(100, [["10", "1"]], [["11", "1"]])), NOW)
    request = session.subscribe("t", ["BTCUSDT"], ["orderbook"], "realtime", None, None)
    received = ack_all(session, sends(session.on_timer(NOW)))
    assert [r.key for r in received.replies] == [request.reply]
    frames = session.receive(json.dumps(depth(101, 101, [], [["11", "2"]])), NOW).events
    assert [e["sub"] for e in frames] == ["s", "t"]


def test_a_wrapped_partial_book_is_its_own_line_named_by_the_stream() -> None:
    session = holding("BNBBTC", types=["orderbook"])
    (book,) = feed(session, {"stream": "bnbbtc@depth10@100ms", "data": json.loads(sample(17))})
    assert book["symbol"] == "BNBBTC" and book["bids"] == [[4.0, 431.0]] and "timestamp" not in book


@st.composite
def depth_runs(draw: st.DrawFn) -> tuple[dict[int, int], list[dict[str, Any]]]:
    bids = st.lists(st.tuples(st.integers(100, 140), st.integers(0, 5)), max_size=4)
    asks = st.lists(st.tuples(st.integers(141, 180), st.integers(0, 5)), max_size=4)
    start = draw(st.dictionaries(st.integers(100, 180), st.integers(1, 5), max_size=12))
    steps = []
    for _ in range(draw(st.integers(1, 60))):
        steps.append(
            {
                "bids": draw(bids),
                "asks": draw(asks),
                "ids": draw(st.integers(1, 3)),  # update ids this event spans
                "delivered": draw(st.integers(0, 9)) > 0,  # about one in ten missed
                "answer": draw(st.sampled_from(["now", "now", "later", "stale", "fail"])),
            }
        )
    return start, steps


def _text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _view(book: dict[int, int]) -> tuple[list[list[float]], list[list[float]]]:
    bids = sorted((p for p in book if p <= 140), reverse=True)[:MAX_BOOK_LEVELS]
    asks = sorted(p for p in book if p > 140)[:MAX_BOOK_LEVELS]
    return (
        [[float(_text(p)), float(book[p])] for p in bids],
        [[float(_text(p)), float(book[p])] for p in asks],
    )


@settings(max_examples=200, deadline=None)
@given(depth_runs())
def test_books_synced_from_rest_equal_a_reference_model_and_never_cross(
    run: tuple[dict[int, int], list[dict[str, Any]]],
) -> None:
    """Random diff-depth runs, about one event in ten missed, snapshots answered now,
    later, stale or failed: every line is the true book at the update id the session
    claims, and the first event after a missed one while synced asks for a snapshot."""
    start, steps = run
    session = BinanceSession(rest_url=REST)
    pending: list[Fetch] = [synced_book(session)]
    truth = dict(start)
    uid = 1000
    history = {uid: dict(truth)}  # the true book at each update id
    now = NOW
    lost = 0  # the last update id of the last event missed

    def check(received: Received) -> None:
        state = session._depth["BTCUSDT"]
        for event in received.events:
            assert check_event({**event, "source": "binance", "received": now}) == []
            assert state.book is not None
            assert (event["bids"], event["asks"]) == _view(history[state.last])
        new = [f for f in fetches(received.actions) if "/api/v3/depth" in f.url]
        assert len(new) + len(pending) <= 1  # one snapshot asked at a time
        pending.extend(new)

    def answer(how: str) -> None:
        nonlocal now
        if not pending or how == "later":
            return
        asked = pending.pop()
        if how == "fail":
            check(session.fetched(Fetched(asked.tag, 502, b""), now))
        else:
            at = uid if how == "now" else max(uid - 2, 1000)
            while at not in history:
                at -= 1
            book = history[at]
            bids = [[_text(p), str(q)] for p, q in book.items() if p <= 140]
            asks = [[_text(p), str(q)] for p, q in book.items() if p > 140]
            check(session.fetched(Fetched(asked.tag, 200, snapshot(at, bids, asks)), now))
        now += 31  # any retry comes due
        received = Received([])
        received.add_actions(session.on_timer(now))
        check(received)

    for step in steps:
        first = uid + 1
        uid += step["ids"]
        for cents, qty in [*step["bids"], *step["asks"]]:
            if qty:
                truth[cents] = qty
            else:
                truth.pop(cents, None)
        history[uid] = dict(truth)
        if not step["delivered"]:
            lost = uid
        else:
            message = depth(
                first,
                uid,
                [[_text(p), str(q)] for p, q in step["bids"]],
                [[_text(p), str(q)] for p, q in step["asks"]],
            )
            state = session._depth["BTCUSDT"]
            was_synced, book_id = state.book is not None, state.last
            received = session.receive(json.dumps(message), now)
            assert not received.errors
            if was_synced and lost > book_id:  # the first event after a break: sync again
                assert received.events == [] and state.book is None
                assert any("/api/v3/depth" in f.url for f in fetches(received.actions))
            elif was_synced:
                assert state.last == uid
            check(received)
        answer(step["answer"])
    state = session._depth["BTCUSDT"]
    if state.book is not None:
        assert state.book.view() == _view(history[state.last])
    hypothesis.event(f"resyncs: {min(session.resyncs, 2)}, synced: {state.book is not None}")


# --- connection life -------------------------------------------------------------------------


def test_a_connection_is_rotated_before_binances_24_hours() -> None:
    session = holding("BTCUSDT")
    assert session.on_timer(NOW) == []  # the first tick notes when the connection began
    assert session.on_timer(NOW + 23 * 3600) == []
    (action,) = session.on_timer(NOW + 23.5 * 3600)
    assert isinstance(action, Reconnect) and "24 h" in action.reason
    assert session.on_timer(NOW + 23.6 * 3600) == []  # asked once
    session.opened()
    assert session.on_timer(NOW + 24 * 3600) == []  # a new connection, a new day
