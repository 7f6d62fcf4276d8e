# The samples below are verbatim, one JSON value a line: long lines are theirs.
"""FinnhubSession: PROVIDERS.md's Finnhub section and every sample of
shared/providers/finnhub.jsonl; the token in the query; one subscribe a symbol,
shared between subscriptions, no ack; trades as volume and price lines; pings;
errors, and symbols an error names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from argus_cli.client.pipeline import Pipeline
from argus_cli.events import check_event
from argus_cli.exceptions import ConfigError, DecodeError, NotOffered, UnknownMessageType
from argus_cli.protocol.finnhub import FACTS, FinnhubSession
from argus_cli.protocol.session import Message, Received, Request, Send

# shared/providers/finnhub.jsonl, verbatim (line n is SAMPLES[n - 1])
SAMPLES = """\
{"type":"subscribe","symbol":"AAPL"}
{"type":"subscribe","symbol":"BINANCE:BTCUSDT"}
{"type":"subscribe","symbol":"IC MARKETS:1"}
{"type":"unsubscribe","symbol":"AAPL"}
{"data":[{"p":7296.89,"s":"BINANCE:BTCUSDT","t":1575526691134,"v":0.011467}],"type":"trade"}
{"data":[{"c":null,"p":7296.89,"s":"BINANCE:BTCUSDT","t":1575526691134,"v":0.011467}],"type":"trade"}
{"data":[{"c":["1","8","24","12"],"p":122.1,"s":"TSLA","t":1672348887195,"v":1},{"c":["1","24","12"],"p":129.58,"s":"AAPL","t":1672348887666,"v":1}],"type":"trade"}
{"type":"ping"}
{"msg":"Subscribing to too many symbols","type":"error"}
""".splitlines()

BTC = [
    {
        "type": "volume",
        "symbol": "BINANCE:BTCUSDT",
        "volume": 0.011467,
        "timestamp": 1575526691.134,
    },
    {"type": "price", "symbol": "BINANCE:BTCUSDT", "price": 7296.89, "timestamp": 1575526691.134},
]
# what each server sample gives (source/received and sub left out): Finnhub's worked examples
WORKED: dict[int, list[Message]] = {
    5: BTC,
    6: BTC,
    7: [
        {"type": "volume", "symbol": "TSLA", "volume": 1.0, "timestamp": 1672348887.195},
        {"type": "price", "symbol": "TSLA", "price": 122.1, "timestamp": 1672348887.195},
        {"type": "volume", "symbol": "AAPL", "volume": 1.0, "timestamp": 1672348887.666},
        {"type": "price", "symbol": "AAPL", "price": 129.58, "timestamp": 1672348887.666},
    ],
    8: [],  # ping
}
CLIENT_LINES = (1, 2, 3, 4)
ERROR_LINES = (9,)
SAMPLE_SYMBOLS = ["AAPL", "BINANCE:BTCUSDT", "IC MARKETS:1", "TSLA"]
ALL = ["price", "volume"]
NOW = 1764000000.0
TOKEN = "c0ffee-token"


def sample(line: int) -> str:
    return SAMPLES[line - 1]


def frames(request: Request | Received) -> list[dict[str, Any]]:
    out = []
    for action in request.actions:
        assert isinstance(action, Send)
        out.append(json.loads(action.data))
    return out


def holding(*symbols: str, types: list[str] = ALL, sub: str = "s") -> FinnhubSession:
    session = FinnhubSession()
    session.subscribe(sub, list(symbols), types, "realtime", None, None)
    return session


def feed(session: FinnhubSession, *raws: str | dict[str, Any]) -> list[Message]:
    events: list[Message] = []
    for raw in raws:
        received = session.receive(raw if isinstance(raw, str) else json.dumps(raw), NOW)
        assert not received.errors, received.errors
        events.extend(received.events)
    for event in events:
        assert check_event({**event, "source": "finnhub", "received": NOW}) == [], event
    return events


def bare(events: list[Message]) -> list[Message]:
    return [{k: v for k, v in e.items() if k != "sub"} for e in events]


def trades(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"data": list(rows), "type": "trade"}


def row(
    symbol: str = "AAPL", p: float = 129.58, v: float = 2, t: int = 1672348887666
) -> dict[str, Any]:
    return {"c": ["1"], "p": p, "s": symbol, "t": t, "v": v}


# --- the samples -------------------------------------------------------------------------


def test_the_samples_here_are_the_shared_file_verbatim() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "providers" / "finnhub.jsonl"
    if not shared.exists():
        pytest.skip("shared/providers is not beside this checkout")
    assert shared.read_text().splitlines() == SAMPLES
    covered = set(CLIENT_LINES) | set(WORKED) | set(ERROR_LINES)
    assert covered == set(range(1, len(SAMPLES) + 1))


@pytest.mark.parametrize("line", sorted(WORKED))
def test_the_worked_examples_exactly(line: int) -> None:
    session = holding(*SAMPLE_SYMBOLS)
    received = session.receive(sample(line), NOW)
    assert not received.has_control  # no error, refusal, reply or action
    events = feed(session, sample(line))
    assert bare(events) == WORKED[line]
    assert all(e["sub"] == "s" and "seq" not in e for e in events)


def test_samples_through_the_pipeline_are_stamped_and_keep_the_contract() -> None:
    session = holding(*SAMPLE_SYMBOLS)
    pipeline = Pipeline("finnhub")
    pipeline.track("s", True, SAMPLE_SYMBOLS)
    delivered = []
    for line in sorted(WORKED):
        delivered += pipeline.process(session.receive(sample(line), NOW).events, NOW)
    assert [e["type"] for e in delivered] == ["volume", "price"] * 4  # no gap: no seq
    for event in delivered:
        assert check_event(event) == [] and event["source"] == "finnhub"


@pytest.mark.parametrize("line", CLIENT_LINES)
def test_the_client_samples_are_the_frames_the_session_sends(line: int) -> None:
    sent = json.loads(sample(line))
    session = FinnhubSession()
    request = session.subscribe("s", [sent["symbol"]], ["volume"], "realtime", None, None)
    if sent["type"] == "unsubscribe":
        request = session.unsubscribe("s")
    assert frames(request) == [sent]
    assert request.reply is None  # no ack: nothing to wait for


def test_the_error_sample_is_a_symbol_limit_refusal() -> None:
    received = holding("AAPL").receive(sample(9), NOW)
    assert not received.events and not received.errors and received.fatal is None
    (refusal,) = received.refusals
    assert refusal.code == "symbol_limit" and "Subscribing to too many symbols" in refusal.message
    assert not refusal.drops_subscription and refusal.subscription_id is None


# --- requests ----------------------------------------------------------------------------


def test_facts() -> None:
    assert FACTS.name == FinnhubSession.source == "finnhub"
    assert FACTS.url == "wss://ws.finnhub.io" and FACTS.needs_key and not FACTS.needs_secret
    assert FACTS.data_types == ("price", "volume") and FACTS.frequencies == ("realtime",)
    assert not FACTS.contiguous_trade_ids and not FACTS.filters and not FACTS.lists_symbols
    assert FACTS.description


def test_the_token_goes_in_the_query() -> None:
    handshake = FinnhubSession().handshake(TOKEN)
    assert dict(handshake.query) == {"token": TOKEN} and not handshake.headers


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_is_a_config_error(token: str | None) -> None:
    with pytest.raises(ConfigError, match="ARGUS_API_KEY"):
        FinnhubSession().handshake(token)


@pytest.mark.parametrize(
    ("types", "frequency", "filters", "words"),
    [
        (["orderbook"], "realtime", None, "trades only: --types price,volume"),
        (["price", "orderbook"], "realtime", None, "trades only"),
        (["price"], "1m", None, "real time only"),
        (["volume"], "realtime", {"min_price": 2.0}, "filter"),
    ],
)
def test_what_finnhub_cannot_do_is_not_offered(
    types: list[str], frequency: str, filters: dict[str, float] | None, words: str
) -> None:
    session = FinnhubSession()
    with pytest.raises(NotOffered, match=words):
        session.subscribe("s", ["AAPL"], types, frequency, filters, None)
    assert feed(session, sample(7)) == []  # nothing was kept


def test_listing_and_pinging_are_not_offered() -> None:
    session = FinnhubSession()
    with pytest.raises(NotOffered, match="REST"):
        session.list_symbols()
    assert session.ping(1) is None and session.timer_interval is None
    assert session.on_timer(NOW) == [] and session.opened() == []


def test_each_symbol_is_subscribed_once_and_unsubscribed_when_nobody_holds_it() -> None:
    session = FinnhubSession()
    first = session.subscribe("a", ["AAPL", "TSLA"], ALL, "realtime", None, None)
    assert [f["symbol"] for f in frames(first)] == ["AAPL", "TSLA"]
    second = session.subscribe("b", ["TSLA", "MSFT"], ["volume"], "realtime", None, None)
    assert frames(second) == [{"type": "subscribe", "symbol": "MSFT"}]
    assert frames(session.unsubscribe("a")) == [{"type": "unsubscribe", "symbol": "AAPL"}]
    assert feed(session, trades(row("AAPL"))) == []  # late data after an unsubscribe
    assert [e["sub"] for e in feed(session, trades(row("TSLA")))] == ["b"]
    assert [f["symbol"] for f in frames(session.unsubscribe("b"))] == ["TSLA", "MSFT"]
    assert session.unsubscribe("b").actions == []


def test_a_new_connection_subscribes_every_symbol_again() -> None:
    session = holding("AAPL", "TSLA")
    session.opened()
    again = session.subscribe("s", ["AAPL", "TSLA"], ALL, "realtime", None, None)
    assert [f["symbol"] for f in frames(again)] == ["AAPL", "TSLA"]


# --- data --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("types", "kinds"),
    [(["volume"], ["volume"]), (["price"], ["price"]), (ALL, ["volume", "price"])],
)
def test_a_trade_gives_the_lines_its_holders_asked_for(types: list[str], kinds: list[str]) -> None:
    events = feed(holding("AAPL", types=types), trades(row()))
    assert [e["type"] for e in events] == kinds
    assert all(e["timestamp"] == 1672348887.666 for e in events)


def test_a_row_with_no_volume_is_a_price_update_not_a_trade() -> None:
    session = holding("OANDA:EUR_USD")
    events = feed(session, trades(row("OANDA:EUR_USD", p=1.08421, v=0)))
    assert bare(events) == [
        {"type": "price", "symbol": "OANDA:EUR_USD", "price": 1.08421, "timestamp": 1672348887.666}
    ]


def test_a_row_without_a_time_has_no_timestamp() -> None:
    (volume, price) = feed(holding("AAPL"), trades({"p": 1.5, "s": "AAPL", "v": 3}))
    assert "timestamp" not in volume and "timestamp" not in price


def test_one_copy_per_subscription_holding_the_symbol_and_type() -> None:
    session = FinnhubSession()
    session.subscribe("both", ["AAPL"], ALL, "realtime", None, None)
    session.subscribe("trades", ["AAPL", "TSLA"], ["volume"], "realtime", None, None)
    events = feed(session, trades(row("AAPL"), row("TSLA"), row("MSFT")))
    assert [(e["type"], e["symbol"], e["sub"]) for e in events] == [
        ("volume", "AAPL", "both"),
        ("volume", "AAPL", "trades"),
        ("price", "AAPL", "both"),
        ("volume", "TSLA", "trades"),
    ]
    events[0]["volume"] = -1  # a handler changing its copy changes no other
    assert events[1]["volume"] == 2.0


def test_a_bad_row_is_an_error_of_its_own_and_the_other_rows_count() -> None:
    received = holding("AAPL", "TSLA").receive(
        json.dumps(trades(row("AAPL"), {"p": "x", "s": "TSLA", "t": 1, "v": 1}, row("AAPL", v=5))),
        NOW,
    )
    assert [e["volume"] for e in received.events if e["type"] == "volume"] == [2.0, 5.0]
    (error,) = received.errors
    assert "finnhub trade for 'TSLA'" in str(error) and "p " in str(error)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        b"\xff\xfe",
        "[1, 2]",
        '{"data": []}',
        '{"type": 7}',
        '{"type": "trade"}',
        '{"type": "trade", "data": {}}',
        '{"type": "trade", "data": [7]}',
        '{"type": "trade", "data": [{"p": 1, "v": 1, "t": 1}]}',
        '{"type": "trade", "data": [{"p": 0, "s": "AAPL", "v": 1, "t": 1}]}',
        '{"type": "trade", "data": [{"p": 1, "s": "AAPL", "v": -1, "t": 1}]}',
        '{"type": "trade", "data": [{"p": 1, "s": "AAPL", "t": 1}]}',
        '{"type": "trade", "data": [{"p": 1, "s": "AAPL", "v": 1, "t": -1}]}',
        '{"type": "trade", "data": [{"p": 1, "s": "AAPL", "v": 1, "t": "1672348887666"}]}',
        '{"type": "trade", "data": [{"p": 1, "s": "AAPL", "v": 1, "t": true}]}',
    ],
)
def test_a_malformed_frame_is_a_decode_error_and_no_event(raw: str | bytes) -> None:
    received = holding("AAPL").receive(raw, NOW)
    assert received.events == [] and len(received.errors) == 1
    (error,) = received.errors
    assert isinstance(error, DecodeError) and not isinstance(error, UnknownMessageType)
    assert "finnhub" in str(error)


def test_an_unknown_message_type_is_skipped_not_an_error() -> None:
    received = holding("AAPL").receive('{"type": "news", "data": []}', NOW)
    (error,) = received.errors
    assert isinstance(error, UnknownMessageType) and received.events == []


# --- errors and unknown symbols ----------------------------------------------------------


def test_an_unknown_symbol_is_silent_and_the_subscription_stands() -> None:
    session = FinnhubSession()
    request = session.subscribe("s", ["AAPL", "NOPE"], ALL, "realtime", None, None)
    assert [f["symbol"] for f in frames(request)] == ["AAPL", "NOPE"] and request.reply is None
    assert [e["symbol"] for e in feed(session, trades(row("AAPL")))] == ["AAPL", "AAPL"]


def test_an_error_naming_a_symbol_refuses_it_while_the_others_go_on() -> None:
    session = FinnhubSession()
    session.subscribe("s", ["AAPL", "NOPE", "BINANCE:NOPE"], ALL, "realtime", None, None)
    session.subscribe("n", ["NOPE"], ["price"], "realtime", None, None)
    received = session.receive('{"type": "error", "msg": "Invalid symbol NOPE"}', NOW)
    assert not received.events and not received.errors
    kept, dropped = received.refusals
    assert kept.code == "invalid_symbol" and kept.subscription_id == "s"
    assert kept.message.startswith("NOPE refused") and not kept.drops_subscription
    assert dropped.subscription_id == "n" and dropped.drops_subscription
    assert "NOPE" in dropped.message and dropped.awaited_by is None
    assert feed(session, trades(row("NOPE"))) == []
    assert len(feed(session, trades(row("BINANCE:NOPE")))) == 2  # another symbol
    # restored after a reconnect, the subscription leaves it out; a new one asks again
    session.opened()
    again = session.subscribe("s", ["AAPL", "NOPE", "BINANCE:NOPE"], ALL, "realtime", None, None)
    assert [f["symbol"] for f in frames(again)] == ["AAPL", "BINANCE:NOPE"]
    fresh = session.subscribe("n", ["NOPE"], ["price"], "realtime", None, None)
    assert frames(fresh) == [{"type": "subscribe", "symbol": "NOPE"}]


def test_another_error_is_said_as_it_came() -> None:
    received = holding("AAPL").receive('{"type": "error", "msg": "Something broke"}', NOW)
    (refusal,) = received.refusals
    assert refusal.code == "error" and refusal.message == "finnhub: Something broke"
    assert received.fatal is None


# --- whatever arrives --------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
rows = st.dictionaries(
    st.sampled_from(["p", "s", "t", "v", "c"]),
    st.one_of(json_values, st.sampled_from(["AAPL", "TSLA", 0, 1, 1.5, 1672348887666, -1])),
    max_size=5,
)
messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["trade", "ping", "error", "news"])},
    optional={"data": st.one_of(st.lists(rows, max_size=4), json_values), "msg": json_values},
)


@given(st.lists(st.one_of(messages, st.binary(max_size=40)), max_size=6))
def test_whatever_arrives_no_exception_and_every_event_keeps_the_contract(
    frames_in: list[dict[str, Any] | bytes],
) -> None:
    session = holding("AAPL", "TSLA")
    for frame in frames_in:
        raw = frame if isinstance(frame, bytes) else json.dumps(frame)
        received = session.receive(raw, NOW)
        assert isinstance(received, Received) and received.fatal is None
        for event in received.events:
            assert check_event({**event, "source": "finnhub", "received": NOW}) == []


@given(st.integers(0, 2**53), st.floats(0.0001, 1e9), st.floats(0.0001, 1e6))
def test_any_millisecond_time_is_that_many_thousandths_of_a_second(
    millis: int, price: float, volume: float
) -> None:
    events = feed(holding("AAPL"), trades(row(p=price, v=volume, t=millis)))
    assert [e["timestamp"] for e in events] == [millis / 1000] * 2
    assert events[0]["volume"] == volume and events[1]["price"] == price
