# The samples below are verbatim, one JSON value a line: long lines are theirs.
# ruff: noqa: E501
"""CoinbaseSession: PROVIDERS.md's Coinbase table, its worked examples and every
sample of shared/providers/coinbase.jsonl; requests and their reply keys; invalid
products; trades once each, heartbeat gaps; whole books that never cross."""

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
from argus_cli.events import MAX_BOOK_LEVELS, check_event
from argus_cli.exceptions import (
    ConfigError,
    DecodeError,
    EncodeError,
    SubscriptionError,
    UnknownMessageType,
)
from argus_cli.protocol.coinbase import CHANNELS, FACTS, CoinbaseSession, parse_time
from argus_cli.protocol.rules import DATA_TYPES
from argus_cli.protocol.session import Message, Received, Request, Send
from argus_cli.testing.fakes.coinbase import AUTH_REASON, Refused, read_request
from argus_cli.testing.seqcheck import check

# shared/providers/coinbase.jsonl, verbatim (line n is SAMPLES[n - 1])
SAMPLES = """\
{"type":"subscribe","product_ids":["ETH-USD","ETH-EUR"],"channels":["level2","heartbeat",{"name":"ticker","product_ids":["ETH-BTC","ETH-USD"]}]}
{"type":"unsubscribe","channels":["heartbeat"]}
{"type":"unsubscribe","product_ids":["ETH-USD","ETH-EUR"],"channels":["ticker"]}
{"type":"subscriptions","channels":[{"name":"level2","product_ids":["ETH-USD","ETH-EUR"]},{"name":"heartbeat","product_ids":["ETH-USD","ETH-EUR"]},{"name":"ticker","product_ids":["ETH-USD","ETH-EUR","ETH-BTC"]}]}
{"type":"subscribe","product_ids":["SKL-USD","SKL-BTC","BAND-GBP","NMR-EUR","BAND-BTC","YFI-BTC","DASH-BTC","NU-GBP","CRV-EUR","SKL-GBP"],"channels":["level2"]}
{"type":"subscribe","product_ids":["SKL-USD","SKL-BTC","BAND-GBP","NMR-EUR","BAND-BTC","YFI-BTC","DASH-BTC","NU-GBP","CRV-EUR","SKL-GBP"],"channels":["ticker"]}
{"type":"subscribe","product_ids":["SKL-USD","SKL-BTC","BAND-GBP","NMR-EUR","BAND-BTC","YFI-BTC","DASH-BTC","NU-GBP","CRV-EUR","SKL-GBP"],"channels":["matches"]}
{"type":"subscriptions","channels":[{"name":"level2","product_ids":["BAND-GBP","BAND-BTC","YFI-BTC","NU-GBP","CRV-EUR","SKL-GBP","SKL-USD","SKL-BTC","NMR-EUR","DASH-BTC"]}]}
{"type":"subscriptions","channels":[{"name":"level2","product_ids":["DASH-BTC","CRV-EUR","SKL-GBP","SKL-USD","SKL-BTC","NMR-EUR","BAND-GBP","BAND-BTC","YFI-BTC","NU-GBP"]},{"name":"ticker","product_ids":["YFI-BTC","NU-GBP","CRV-EUR","SKL-USD","BAND-GBP","NMR-EUR","BAND-BTC","DASH-BTC","SKL-GBP","SKL-BTC"]}]}
{"type":"match","trade_id":10,"sequence":50,"maker_order_id":"ac928c66-ca53-498f-9c13-a110027a60e8","taker_order_id":"132fb6ae-456b-4654-b4e0-d681ac05cea1","time":"2014-11-07T08:19:27.028459Z","product_id":"BTC-USD","size":"5.23512","price":"400.23","side":"sell"}
{"type":"last_match","trade_id":881613,"maker_order_id":"27fff20b-af29-4f45-8744-56dd1ef57dc0","taker_order_id":"1da6ce16-c8da-4732-9f71-6049f4c6aaf8","side":"sell","size":"0.04","price":"14.7775","product_id":"BAND-GBP","sequence":333938798,"time":"2021-04-17T16:43:30.244075Z"}
{"type":"match","trade_id":280232,"maker_order_id":"2a0da34e-61f7-4c36-88e5-c9dd15927b16","taker_order_id":"3c82abaa-c01e-4608-be59-6a1e69742891","side":"sell","size":"985","price":"0.00001305","product_id":"SKL-BTC","sequence":177100030,"time":"2021-04-17T16:43:37.089723Z"}
{"type":"subscribe","product_ids":["ETH-USD","BTC-USD"],"channels":["ticker"]}
{"type":"ticker","sequence":37475248783,"product_id":"ETH-USD","price":"1285.22","open_24h":"1310.79","volume_24h":"245532.79269678","low_24h":"1280.52","high_24h":"1313.8","volume_30d":"9788783.60117027","best_bid":"1285.04","best_bid_size":"0.46688654","best_ask":"1285.27","best_ask_size":"1.56637040","side":"buy","time":"2022-10-19T23:28:22.061769Z","trade_id":370843401,"last_size":"11.4396987"}
{"type":"ticker","sequence":333938798,"product_id":"BAND-GBP","price":"14.7775","open_24h":"14.6647","volume_24h":"94381.28000000","low_24h":"14.3691","high_24h":"16.55","volume_30d":"2295579.57000000","best_bid":"14.7550","best_ask":"14.8060","side":"buy","time":"2021-04-17T16:43:30.244075Z","trade_id":881613,"last_size":"0.04"}
{"type":"subscribe","product_ids":["ETH-USD","BTC-USD"],"channels":["level2_batch"]}
{"type":"snapshot","product_id":"BTC-USD","bids":[["10101.10","0.45054140"]],"asks":[["10102.55","0.57753524"]]}
{"type":"l2update","product_id":"BTC-USD","changes":[["buy","22356.270000","0.00000000"],["buy","22356.300000","1.00000000"]],"time":"2022-08-04T15:25:05.010758Z"}
{"type":"l2update","product_id":"YFI-BTC","changes":[["sell","0.82668","0.030000"]],"time":"2021-04-17T16:43:37.629573Z"}
{"type":"l2update","product_id":"BAND-BTC","changes":[["sell","0.00033524","0.00"]],"time":"2021-04-17T16:43:39.090616Z"}
{"type":"subscribe","channels":[{"name":"heartbeat","product_ids":["ETH-EUR"]}]}
{"type":"heartbeat","sequence":90,"last_trade_id":20,"product_id":"BTC-USD","time":"2014-11-07T08:19:28.464459Z"}
{"type":"error","message":"Failed to unsubscribe","reason":"You need to specify at least one product ID for channel heartbeat"}
{"type":"error","message":"Failed to subscribe","reason":"level2, level3, and full channels now require authentication. https://docs.cloud.coinbase.com/exchange/docs/websocket-auth"}
{"type":"error","message":"Failed to subscribe","reason":" is not a valid product"}
{"type":"error","message":"Failed to subscribe","reason":"Invalid product ID provided"}
{"message":"Failed to subscribe","reason":"No channels provided","type":"error"}
""".splitlines()

# PROVIDERS.md "Worked examples" (source/received, and argus's `sub`, left out)
WORKED = """\
{"provider":"coinbase","line":10,"events":[{"type":"volume","symbol":"BTC-USD","volume":5.23512,"timestamp":1415348367.028459,"seq":10}]}
{"provider":"coinbase","line":14,"events":[{"type":"price","symbol":"ETH-USD","price":1285.22,"bid":1285.04,"ask":1285.27,"timestamp":1666222102.061769}]}
{"provider":"coinbase","line":17,"events":[{"type":"orderbook","symbol":"BTC-USD","bids":[[10101.1,0.4505414]],"asks":[[10102.55,0.57753524]]}]}
{"provider":"coinbase","line":18,"events":[]}
""".splitlines()

CLIENT_LINES = (1, 2, 3, 5, 6, 7, 13, 16, 21)
# what each server line gives a fresh session that holds every product in every type
SERVER_LINES: dict[int, list[str]] = {
    4: [],
    8: [],
    9: [],
    10: ["volume"],
    11: ["volume"],
    12: ["volume"],
    14: ["price"],
    15: ["price"],
    17: ["orderbook"],
    18: [],  # before any snapshot
    19: [],
    20: [],
    22: [],  # no trade printed yet: nothing to compare
}
ERROR_LINES = (23, 24, 25, 26, 27)
SAMPLE_PRODUCTS = sorted(
    {json.loads(line)["product_id"] for line in SAMPLES if '"product_id"' in line}
)
ALL = list(DATA_TYPES)
NOW = 1764000000.0
ACK = '{"type":"subscriptions","channels":[]}'


def sample(line: int) -> str:
    return SAMPLES[line - 1]


def holding(*products: str, types: list[str] = ALL, sub: str = "s") -> CoinbaseSession:
    """A fresh session holding ``products``, its subscribe answered."""
    session = CoinbaseSession()
    hold(session, sub, list(products), types)
    return session


def hold(session: CoinbaseSession, sub: str, products: list[str], types: list[str] = ALL) -> None:
    request = session.subscribe(sub, products, types, "realtime", None, None)
    assert [r.key for r in session.receive(ACK, NOW).replies] == [request.reply]


def frame_of(request: Request) -> dict[str, Any]:
    (action,) = request.actions
    assert isinstance(action, Send)
    decoded: dict[str, Any] = json.loads(action.data)
    return decoded


def feed(session: CoinbaseSession, *messages: dict[str, Any] | str) -> list[Message]:
    """The events of ``messages``, each checked as the pipeline would deliver it."""
    events: list[Message] = []
    for message in messages:
        raw = message if isinstance(message, str) else json.dumps(message)
        received = session.receive(raw, NOW)
        assert not received.errors, received.errors
        events.extend(received.events)
    for event in events:
        assert check_event({**event, "source": "coinbase", "received": NOW}) == [], event
    return events


def bare(events: list[Message]) -> list[Message]:
    return [{k: v for k, v in e.items() if k != "sub"} for e in events]


def match(trade_id: int, product: str = "BTC-USD", kind: str = "match") -> dict[str, Any]:
    return {
        "type": kind,
        "trade_id": trade_id,
        "sequence": 50 + 7 * trade_id,
        "time": "2014-11-07T08:19:27.028459Z",
        "product_id": product,
        "size": "0.5",
        "price": "400.23",
        "side": "sell",
    }


def heartbeat(last_trade_id: int, product: str = "BTC-USD") -> dict[str, Any]:
    return {
        "type": "heartbeat",
        "sequence": 90,
        "last_trade_id": last_trade_id,
        "product_id": product,
        "time": "2014-11-07T08:19:28.464459Z",
    }


def snapshot(bids: list[list[str]], asks: list[list[str]], product: str = "BTC-USD") -> Message:
    return {"type": "snapshot", "product_id": product, "bids": bids, "asks": asks}


def l2update(*changes: list[str], product: str = "BTC-USD") -> Message:
    return {
        "type": "l2update",
        "product_id": product,
        "changes": list(changes),
        "time": "2022-08-04T15:25:05.010758Z",
    }


# --- the samples and the worked examples -----------------------------------------------


def test_the_samples_here_are_the_shared_file_verbatim() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "providers" / "coinbase.jsonl"
    if not shared.exists():
        pytest.skip("shared/providers is not beside this checkout")
    assert shared.read_text().splitlines() == SAMPLES
    covered = set(CLIENT_LINES) | set(SERVER_LINES) | set(ERROR_LINES)
    assert covered == set(range(1, len(SAMPLES) + 1))


@pytest.mark.parametrize("line", sorted(SERVER_LINES))
def test_every_server_sample_through_a_fresh_session(line: int) -> None:
    session = holding(*SAMPLE_PRODUCTS)
    received = session.receive(sample(line), NOW)
    assert not received.errors and not received.refusals and not received.actions
    assert [e["type"] for e in received.events] == SERVER_LINES[line]
    for event in received.events:
        assert event["sub"] == "s"
        assert check_event({**event, "source": "coinbase", "received": NOW}) == []


@pytest.mark.parametrize("line", ERROR_LINES)
def test_every_error_sample_is_a_refusal_naming_what_coinbase_said(line: int) -> None:
    received = holding(*SAMPLE_PRODUCTS).receive(sample(line), NOW)
    assert not received.events and not received.errors and not received.replies
    (refusal,) = received.refusals
    said = json.loads(sample(line))
    assert said["message"] in refusal.message and said["reason"] in refusal.message
    assert not refusal.drops_subscription  # nothing of ours was waiting on it


@pytest.mark.parametrize("worked", WORKED)
def test_the_worked_examples_exactly(worked: str) -> None:
    example = json.loads(worked)
    session = holding(*SAMPLE_PRODUCTS)
    events = feed(session, sample(example["line"]))
    assert bare(events) == example["events"]
    assert all(e["sub"] == "s" for e in events)


def test_samples_through_the_pipeline_are_stamped_and_keep_the_contract() -> None:
    session = holding(*SAMPLE_PRODUCTS)
    pipeline = Pipeline("coinbase")
    pipeline.track("s", True, SAMPLE_PRODUCTS)
    delivered = []
    for line in sorted(SERVER_LINES):
        delivered += pipeline.process(session.receive(sample(line), NOW).events, NOW)
    # in one session line 18 follows the snapshot of line 17 (its bid at 22356.3 takes
    # the ask it crosses), and line 22's last_trade_id 20 is beyond line 10's trade 10
    kinds = ["volume"] * 3 + ["price"] * 2 + ["orderbook"] * 2 + ["gap"]
    assert [e["type"] for e in delivered] == kinds
    assert delivered[6]["bids"] == [[22356.3, 1.0], [10101.1, 0.4505414]]
    assert delivered[6]["asks"] == []
    assert (delivered[-1]["from_seq"], delivered[-1]["to_seq"]) == (11, 20)
    for event in delivered:
        assert check_event(event) == [] and event["source"] == "coinbase"


@pytest.mark.parametrize("line", CLIENT_LINES)
def test_the_fake_feed_reads_every_client_sample(line: int) -> None:
    products = {*SAMPLE_PRODUCTS, "ETH-EUR", "ETH-BTC", "SKL-USD", "NMR-EUR", "DASH-BTC"}
    products |= {"NU-GBP", "CRV-EUR", "SKL-GBP"}
    if '"level2"' in sample(line):  # level2 needs authentication: sample 24 is the answer
        with pytest.raises(Refused) as refused:
            read_request(sample(line), products)
        assert refused.value.frame() == json.loads(sample(24))
        assert refused.value.reason == AUTH_REASON
        return
    request = read_request(sample(line), products)
    assert request.kind == json.loads(sample(line))["type"]


def test_the_fake_adds_a_channel_objects_products_to_the_root_ones() -> None:
    products = {"ETH-USD", "ETH-EUR", "ETH-BTC"}
    line_1 = sample(1).replace('"level2",', "")
    request = read_request(line_1, products)
    assert request.channels == {  # as sample 4 lists them
        "heartbeat": ("ETH-USD", "ETH-EUR"),
        "ticker": ("ETH-USD", "ETH-EUR", "ETH-BTC"),
    }


# --- requests ------------------------------------------------------------------------------


def test_facts() -> None:
    assert FACTS.name == CoinbaseSession.source == "coinbase"
    assert FACTS.url == "wss://ws-feed.exchange.coinbase.com"
    assert FACTS.data_types == DATA_TYPES and FACTS.frequencies == ("realtime",)
    assert FACTS.contiguous_trade_ids and not FACTS.needs_key and not FACTS.filters
    assert dict(CHANNELS) == {"price": "ticker", "volume": "matches", "orderbook": "level2_batch"}


@pytest.mark.parametrize(
    ("types", "line"), [(["price"], 13), (["orderbook"], 16), (["volume"], None)]
)
def test_subscribe_sends_the_documented_frame_plus_heartbeat(
    types: list[str], line: int | None
) -> None:
    request = CoinbaseSession().subscribe("s", ["ETH-USD", "BTC-USD"], types, "realtime", None, {})
    frame = frame_of(request)
    assert frame["channels"][-1] == "heartbeat"
    frame["channels"] = frame["channels"][:-1]
    if line is not None:
        assert frame == json.loads(sample(line))
    else:
        assert frame["channels"] == ["matches"]
    assert request.reply == ("subscribed", "s")


def test_subscribe_every_type_asks_every_channel_in_one_frame() -> None:
    request = CoinbaseSession().subscribe("s", ["BTC-USD"], ALL, "realtime", None, None)
    frame = frame_of(request)
    assert frame == {
        "type": "subscribe",
        "product_ids": ["BTC-USD"],
        "channels": ["ticker", "matches", "level2_batch", "heartbeat"],
    }


@pytest.mark.parametrize(
    ("frequency", "filters", "words"),
    [
        ("1s", None, "realtime"),
        ("1m", None, "realtime"),
        ("realtime", {"min_price": 1.0}, "filter"),
    ],
)
def test_what_coinbase_cannot_do_is_refused_before_anything_is_sent(
    frequency: str, filters: dict[str, float] | None, words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        CoinbaseSession().subscribe("s", ["BTC-USD"], ["price"], frequency, filters, None)


def test_listing_symbols_and_pinging_are_not_offered() -> None:
    with pytest.raises(EncodeError, match="REST"):
        CoinbaseSession().list_symbols()
    assert CoinbaseSession().ping(1) is None  # the client times a WebSocket ping instead
    session = CoinbaseSession()
    assert session.timer_interval is None and session.on_timer(NOW) == []
    assert session.opened() == []


def test_each_subscriptions_message_answers_the_oldest_request() -> None:
    session = CoinbaseSession()
    first = session.subscribe("a", ["BTC-USD"], ["price"], "realtime", None, None)
    second = session.subscribe("b", ["ETH-USD"], ["volume"], "realtime", None, None)
    assert first.reply != second.reply
    answers = [session.receive(sample(4), NOW).replies for _ in range(3)]
    assert [[r.key for r in replies] for replies in answers] == [[first.reply], [second.reply], []]
    assert answers[0][0].value == ["BTC-USD"] and answers[0][0].error is None


def test_unsubscribe_stops_only_what_no_other_subscription_holds() -> None:
    session = CoinbaseSession()
    hold(session, "a", ["BTC-USD", "ETH-USD"], ["price", "volume"])
    hold(session, "b", ["BTC-USD"], ["price"])
    request = session.unsubscribe("a")
    assert request.reply == ("unsubscribed", "a")
    assert frame_of(request) == {
        "type": "unsubscribe",
        "channels": [
            {"name": "ticker", "product_ids": ["ETH-USD"]},
            {"name": "matches", "product_ids": ["BTC-USD", "ETH-USD"]},
            {"name": "heartbeat", "product_ids": ["ETH-USD"]},
        ],
    }
    assert feed(session, match(1)) == []  # nobody holds BTC-USD volume any more
    assert [e["sub"] for e in feed(session, sample(14).replace("ETH-USD", "BTC-USD"))] == ["b"]
    assert [r.key for r in session.receive(ACK, NOW).replies] == [request.reply]
    everything_shared = session.unsubscribe("nobody")
    assert everything_shared.actions == [] and everything_shared.reply is None


def test_a_refused_unsubscribe_fails_its_request() -> None:
    session = holding("BTC-USD")
    request = session.unsubscribe("s")
    received = session.receive(sample(23), NOW)
    (reply,) = received.replies
    assert reply.key == request.reply and isinstance(reply.error, SubscriptionError)
    assert "at least one product ID" in str(reply.error)


# --- invalid products ------------------------------------------------------------------


def test_a_named_invalid_product_is_left_out_and_reported() -> None:
    session = CoinbaseSession()
    request = session.subscribe(
        "s", ["BTC-USD", "NOPE-USD", "ETH-USD"], ALL, "realtime", None, None
    )
    error = {
        "type": "error",
        "message": "Failed to subscribe",
        "reason": "NOPE-USD is not a valid product",
    }
    received = session.receive(json.dumps(error), NOW)
    assert not received.replies and not received.refusals  # not settled yet
    (resend,) = received.actions
    assert isinstance(resend, Send)
    assert json.loads(resend.data)["product_ids"] == ["BTC-USD", "ETH-USD"]
    settled = session.receive(ACK, NOW)
    (reply,) = settled.replies
    assert reply.key == request.reply and reply.error is None
    assert reply.value == ["BTC-USD", "ETH-USD"]
    (refusal,) = settled.refusals
    assert refusal.code == "invalid_symbol" and "NOPE-USD" in refusal.message
    assert refusal.subscription_id == "s" and not refusal.drops_subscription
    assert refusal.awaited_by is None  # said as a warning: the request itself succeeded
    assert feed(session, sample(14).replace("ETH-USD", "NOPE-USD")) == []
    # after a reconnect, the restored subscription leaves it out
    session.opened()
    again = session.subscribe("s", ["BTC-USD", "NOPE-USD", "ETH-USD"], ALL, "realtime", None, {})
    assert frame_of(again)["product_ids"] == ["BTC-USD", "ETH-USD"]
    # a new subscription asks again
    session.unsubscribe("s")
    fresh = session.subscribe("s", ["BTC-USD", "NOPE-USD", "ETH-USD"], ALL, "realtime", None, {})
    assert frame_of(fresh)["product_ids"] == ["BTC-USD", "NOPE-USD", "ETH-USD"]


@pytest.mark.parametrize("line", [25, 26])
def test_an_unnamed_invalid_product_is_found_one_product_a_frame(line: int) -> None:
    session = CoinbaseSession()
    request = session.subscribe(
        "s", ["BTC-USD", "NOPE-USD", "ETH-USD"], ["price"], "realtime", None, None
    )
    probes = session.receive(sample(line), NOW).actions
    assert [json.loads(p.data)["product_ids"] for p in probes if isinstance(p, Send)] == [
        ["BTC-USD"],
        ["NOPE-USD"],
        ["ETH-USD"],
    ]
    assert not session.receive(ACK, NOW).replies
    assert not session.receive(sample(line), NOW).replies  # NOPE-USD, alone
    settled = session.receive(ACK, NOW)
    assert [(r.key, r.value) for r in settled.replies] == [(request.reply, ["BTC-USD", "ETH-USD"])]
    assert [r.message.split()[0] for r in settled.refusals] == ["NOPE-USD"]
    assert [e["sub"] for e in feed(session, sample(14))] == ["s"]


@pytest.mark.parametrize(
    "reason", ["Invalid product ID provided", "NOPE-USD is not a valid product"]
)
def test_nothing_is_asked_again_for_a_subscription_already_unsubscribed(reason: str) -> None:
    session = CoinbaseSession()
    session.subscribe("s", ["BTC-USD", "NOPE-USD"], ["price"], "realtime", None, None)
    session.unsubscribe("s")
    error = {"type": "error", "message": "Failed to subscribe", "reason": reason}
    received = session.receive(json.dumps(error), NOW)
    assert not received.actions and not received.refusals
    assert [r.key for r in session.receive(ACK, NOW).replies] == [("unsubscribed", "s")]


def test_a_subscription_with_no_valid_product_fails_and_is_dropped() -> None:
    session = CoinbaseSession()
    request = session.subscribe("s", ["NOPE-USD"], ["price"], "realtime", None, None)
    received = session.receive(sample(26), NOW)
    (reply,) = received.replies
    assert reply.key == request.reply and isinstance(reply.error, SubscriptionError)
    assert reply.error.code == "invalid_symbol" and reply.error.subscription_id == "s"
    assert "NOPE-USD" in str(reply.error)
    (refusal,) = received.refusals
    assert refusal.drops_subscription and refusal.awaited_by == request.reply
    assert session.unsubscribe("s").actions == []  # the session forgot it too


def test_a_subscribe_refused_for_another_reason_fails_whole() -> None:
    session = CoinbaseSession()
    request = session.subscribe("s", ["BTC-USD", "ETH-USD"], ["price"], "realtime", None, None)
    received = session.receive(sample(24), NOW)
    assert not received.actions
    (reply,) = received.replies
    assert reply.key == request.reply and isinstance(reply.error, SubscriptionError)
    assert reply.error.code == "subscribe_failed" and "require authentication" in str(reply.error)


# --- trades --------------------------------------------------------------------------------


def test_trades_are_volume_lines_with_the_trade_id_as_seq() -> None:
    session = holding("BTC-USD")
    events = feed(session, match(10, kind="last_match"), match(11), match(12))
    assert [(e["type"], e["seq"], e["volume"]) for e in events] == [
        ("volume", 10, 0.5),
        ("volume", 11, 0.5),
        ("volume", 12, 0.5),
    ]


def test_price_and_book_lines_carry_no_seq() -> None:
    session = holding(*SAMPLE_PRODUCTS)
    events = feed(session, sample(14), sample(15), sample(17))
    assert events and all("seq" not in e for e in events)
    assert "bid_size" not in events[0] and set(events[1]) >= {"bid", "ask"}


def test_a_trade_id_is_never_printed_twice_even_across_a_reconnect() -> None:
    session = holding("BTC-USD")
    assert [e["seq"] for e in feed(session, match(10), match(11), match(11), match(9))] == [10, 11]
    session.opened()  # a new connection: last_match repeats the last trade
    hold(session, "s", ["BTC-USD"])
    assert feed(session, match(11, kind="last_match")) == []
    assert [e["seq"] for e in feed(session, match(12))] == [12]


def test_one_copy_per_subscription_holding_the_product_and_type() -> None:
    session = CoinbaseSession()
    hold(session, "both", ["BTC-USD"], ["price", "volume"])
    hold(session, "trades", ["BTC-USD", "ETH-USD"], ["volume"])
    hold(session, "prices", ["BTC-USD"], ["price"])
    assert [e["sub"] for e in feed(session, match(10))] == ["both", "trades"]
    ticker = sample(14).replace("ETH-USD", "BTC-USD")
    assert [e["sub"] for e in feed(session, ticker)] == ["both", "prices"]
    copies = feed(session, match(11))
    copies[0]["volume"] = -1  # a handler changing its copy changes no other
    assert copies[1]["volume"] == 0.5


def test_a_heartbeat_beyond_the_last_trade_is_a_gap_in_trade_id_space() -> None:
    session = holding("BTC-USD")
    assert feed(session, heartbeat(20)) == []  # no trade printed yet: nothing to compare
    feed(session, match(10))
    assert feed(session, heartbeat(10)) == []
    gaps = feed(session, heartbeat(14))
    assert gaps == [
        {
            "type": "gap",
            "sub": "s",
            "symbol": "BTC-USD",
            "from_seq": 11,
            "to_seq": 14,
            "reason": "heartbeat",
            "data_type": "volume",
        }
    ]
    assert feed(session, match(13), heartbeat(14)) == []  # late, and said already
    assert [e["seq"] for e in feed(session, match(15))] == [15]


def test_a_heartbeat_says_nothing_to_a_subscription_without_trades_on_this_connection() -> None:
    session = holding("BTC-USD")
    feed(session, match(10))
    session.opened()
    hold(session, "s", ["BTC-USD"])
    assert feed(session, heartbeat(30)) == []  # last_match will show what was missed
    assert [e["seq"] for e in feed(session, match(30, kind="last_match"))] == [30]


def test_trades_missed_and_seen_late_are_all_accounted_for_by_the_pipeline() -> None:
    session = holding("BTC-USD")
    pipeline = Pipeline("coinbase")
    pipeline.track("s", True, ["BTC-USD"])
    messages = [match(10), match(11), match(14), match(12), heartbeat(17), match(16), match(18)]
    delivered = []
    for message in messages:
        delivered += pipeline.process(feed(session, message), NOW)
    report = check(delivered)
    assert report.duplicated == report.out_of_order == report.lost == 0
    assert report.gapped == 5  # 12, 13 (jump), 15, 16, 17 (heartbeat)
    assert [e["seq"] for e in delivered if e["type"] == "volume"] == [10, 11, 14, 18]


@given(
    st.lists(
        st.tuples(st.sampled_from(["match", "heartbeat", "reconnect"]), st.integers(1, 40)),
        max_size=40,
    )
)
def test_any_trade_stream_prints_each_id_once_and_covers_every_hole(
    steps: list[tuple[str, int]],
) -> None:
    session = holding("BTC-USD")
    pipeline = Pipeline("coinbase")
    pipeline.track("s", True, ["BTC-USD"])
    delivered: list[Message] = []
    for kind, number in steps:
        if kind == "reconnect":
            session.opened()
            hold(session, "s", ["BTC-USD"])
            continue
        message = match(number) if kind == "match" else heartbeat(number)
        delivered += pipeline.process(feed(session, message), NOW)
    report = check(delivered)
    assert report.duplicated == report.out_of_order == report.lost == 0
    seqs = [e["seq"] for e in delivered if e["type"] == "volume"]
    assert seqs == sorted(set(seqs))


# --- books ---------------------------------------------------------------------------------


def test_no_book_line_before_the_snapshot_and_a_whole_book_after() -> None:
    session = holding("BTC-USD")
    assert feed(session, sample(18)) == []
    (line,) = feed(session, sample(17))
    assert "timestamp" not in line  # a snapshot has no time
    (after,) = feed(session, l2update(["sell", "10102.56", "2"], ["buy", "10101.10", "0"]))
    assert after["bids"] == [] and after["asks"] == [[10102.55, 0.57753524], [10102.56, 2.0]]
    assert after["timestamp"] == 1659626705.010758


def test_a_book_line_shows_ten_levels_a_side_best_first() -> None:
    session = holding("BTC-USD")
    bids = [[str(100 - i), "1"] for i in range(15)]
    asks = [[str(101 + i), "2"] for i in reversed(range(15))]
    (line,) = feed(session, snapshot(bids, asks))
    assert line["bids"] == [[100.0 - i, 1.0] for i in range(MAX_BOOK_LEVELS)]
    assert line["asks"] == [[101.0 + i, 2.0] for i in range(MAX_BOOK_LEVELS)]
    assert feed(session, l2update(["buy", "88", "5"])) == []  # below the top 10: same line
    (deeper,) = feed(session, l2update(["buy", "100", "0"]))
    assert deeper["bids"][0] == [99.0, 1.0] and deeper["bids"][-1] == [90.0, 1.0]


def test_a_quote_through_the_other_side_removes_what_it_crossed() -> None:
    session = holding("BTC-USD")
    feed(session, snapshot([["99", "1"], ["98", "1"]], [["101", "1"], ["102", "1"]]))
    (line,) = feed(session, l2update(["buy", "101.5", "3"]))
    assert line["bids"][0] == [101.5, 3.0] and line["asks"] == [[102.0, 1.0]]
    (crossed,) = feed(session, snapshot([["103", "1"], ["99", "1"]], [["101", "1"]]))
    assert crossed["bids"] == [[99.0, 1.0]] and crossed["asks"] == [[101.0, 1.0]]


def test_a_new_connection_waits_for_a_new_snapshot() -> None:
    session = holding("BTC-USD")
    feed(session, sample(17))
    session.opened()
    hold(session, "s", ["BTC-USD"])
    assert feed(session, l2update(["buy", "10101.2", "1"])) == []
    (line,) = feed(session, sample(17))
    assert line["bids"] == [[10101.1, 0.4505414]]  # rebuilt, never merged


# one level, three spellings: "7", "7.0" and "7.00000" are the same price
prices = st.sampled_from(
    [form.format(n) for n in range(1, 31) for form in ("{}", "{}.0", "{}.00000")]
)
sizes = st.sampled_from(["0", "0.00000000", "1", "2.5", "0.00000001", "1000"])
book_levels = st.lists(st.tuples(prices, sizes).map(list), max_size=25)
changes = st.lists(
    st.tuples(st.sampled_from(["buy", "sell"]), prices, sizes).map(list), min_size=1, max_size=4
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("snapshot"), st.tuples(book_levels, book_levels)),
        st.tuples(st.just("l2update"), changes),
    ),
    max_size=16,
)


class ReferenceBook:
    """The rule in plain dicts: sizes are absolute, 0 removes, a quote that reaches
    the other side removes what it crossed, a crossed snapshot keeps its asks."""

    def __init__(self, bids: list[list[str]], asks: list[list[str]]) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        for side, given_levels in ((self.bids, bids), (self.asks, asks)):
            for price, size in given_levels:
                side[float(price)] = float(size)
                if float(size) == 0:
                    del side[float(price)]
        if self.asks:
            best_ask = min(self.asks)
            self.bids = {p: s for p, s in self.bids.items() if p < best_ask}

    def apply(self, side: str, price_text: str, size_text: str) -> None:
        price, size = float(price_text), float(size_text)
        mine, other = (self.bids, self.asks) if side == "buy" else (self.asks, self.bids)
        if size == 0:
            mine.pop(price, None)
            return
        mine[price] = size
        for level in [p for p in other if (p <= price if side == "buy" else p >= price)]:
            del other[level]

    def view(self) -> tuple[list[list[float]], list[list[float]]]:
        bids = sorted(self.bids.items(), reverse=True)[:MAX_BOOK_LEVELS]
        asks = sorted(self.asks.items())[:MAX_BOOK_LEVELS]
        return [list(b) for b in bids], [list(a) for a in asks]


@given(steps)
def test_any_snapshot_and_update_sequence_gives_the_reference_book(
    sequence: list[tuple[str, Any]],
) -> None:
    session = holding("BTC-USD")
    reference: ReferenceBook | None = None
    shown: tuple[list[list[float]], list[list[float]]] | None = None
    for kind, body in sequence:
        if kind == "snapshot":
            events = feed(session, snapshot(*body))
            reference = ReferenceBook(*body)
        else:
            events = feed(session, l2update(*body))
            if reference is not None:
                for change in body:
                    reference.apply(*change)
        if reference is None:
            assert events == []  # none before the snapshot
            continue
        expected = reference.view()
        if kind == "snapshot" or expected != shown:
            (line,) = events
            assert (line["bids"], line["asks"]) == expected
            shown = expected
        else:
            assert events == []  # the top ten did not change
        for line in events:
            bids, asks = line["bids"], line["asks"]
            assert len(bids) <= MAX_BOOK_LEVELS and len(asks) <= MAX_BOOK_LEVELS
            assert [p for p, _ in bids] == sorted({p for p, _ in bids}, reverse=True)
            assert [p for p, _ in asks] == sorted({p for p, _ in asks})
            assert not (bids and asks and bids[0][0] >= asks[0][0])


# --- times ---------------------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339(moment: datetime, extra_digits: str = "", offset_minutes: int = 0) -> str:
    local = moment + timedelta(minutes=offset_minutes)
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    zone = "Z" if not offset_minutes else f"{sign}{hours:02d}:{minutes:02d}"
    return (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}:"
        f"{local.minute:02d}:{local.second:02d}.{local.microsecond:06d}{extra_digits}{zone}"
    )


@given(
    st.datetimes(
        min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
    ),
    st.text("0123456789", max_size=4),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)
def test_any_rfc3339_time_is_epoch_seconds_exact_to_the_microsecond(
    moment: datetime, extra_digits: str, offset_minutes: int
) -> None:
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    exact = float(Fraction(micros, 1_000_000))  # the double nearest the exact value
    assert parse_time(rfc3339(moment)) == exact
    assert parse_time(rfc3339(moment, extra_digits, offset_minutes)) == exact  # finer digits cut


def test_times_from_the_samples() -> None:
    assert parse_time("2022-10-19T23:28:22.061769Z") == 1666222102.061769
    assert parse_time("2014-11-07T08:19:27.028459Z") == 1415348367.028459
    assert parse_time("2021-04-17T16:43:30Z") == 1618677810.0
    assert parse_time("2021-04-17T18:43:30.5+02:00") == 1618677810.5


@pytest.mark.parametrize(
    "text",
    [
        "2022-10-19",
        "2022-13-19T23:28:22Z",
        "2022-02-30T23:28:22Z",
        "2022-10-19T24:00:00Z",
        "2022-10-19T23:28:22",
        "2022-10-19T23:28:22.Z",
        "\u0662022-10-19T23:28:22Z",
        "2022-10-19T23:28:22+24:00",
        1666222102,
        None,
    ],
)
def test_a_time_that_is_not_rfc3339_is_a_decode_error(text: Any) -> None:
    with pytest.raises(DecodeError):
        parse_time(text)


# --- what is not a Coinbase message --------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        b"\xff\xfe",
        "[1, 2]",
        '{"product_id": "BTC-USD"}',
        '{"type": 7}',
        '{"type": "ticker", "product_id": "BTC-USD", "price": "abc"}',
        '{"type": "ticker", "product_id": "BTC-USD", "price": "NaN"}',
        '{"type": "ticker", "product_id": "BTC-USD", "price": "1e999"}',
        '{"type": "ticker", "product_id": "BTC-USD", "price": " 1"}',
        '{"type": "ticker", "product_id": "BTC-USD", "price": "-1"}',
        '{"type": "ticker", "product_id": "BTC-USD", "price": "0"}',
        '{"type": "ticker", "product_id": "BTC-USD", "price": "1", "best_bid": "x"}',
        '{"type": "ticker", "product_id": "BTC-USD", "price": "1", "time": "yesterday"}',
        '{"type": "ticker", "price": "1"}',
        '{"type": "ticker", "product_id": 5, "price": "1"}',
        '{"type": "match", "product_id": "BTC-USD", "trade_id": "10", "size": "1"}',
        '{"type": "match", "product_id": "BTC-USD", "trade_id": 0, "size": "1"}',
        '{"type": "match", "product_id": "BTC-USD", "trade_id": true, "size": "1"}',
        '{"type": "match", "product_id": "BTC-USD", "trade_id": 9223372036854775808, "size": "1"}',
        '{"type": "match", "product_id": "BTC-USD", "trade_id": 10}',
        '{"type": "heartbeat", "product_id": "BTC-USD", "last_trade_id": -1}',
        '{"type": "snapshot", "product_id": "BTC-USD", "bids": {}, "asks": []}',
        '{"type": "snapshot", "product_id": "BTC-USD", "bids": [["1"]], "asks": []}',
        '{"type": "snapshot", "product_id": "BTC-USD", "bids": [["0", "1"]], "asks": []}',
        '{"type": "l2update", "product_id": "BTC-USD", "changes": [["bid", "1", "1"]]}',
        '{"type": "l2update", "product_id": "BTC-USD", "changes": [["buy", "1", "-1"]]}',
        '{"type": "l2update", "product_id": "BTC-USD", "changes": "buy"}',
        '{"type": "subscriptions", "channels": "all"}',
    ],
)
def test_a_malformed_frame_is_a_decode_error_and_no_event(raw: str | bytes) -> None:
    session = holding("BTC-USD")
    feed(session, snapshot([["1", "1"]], [["2", "1"]]))
    received = session.receive(raw, NOW)
    assert received.events == [] and len(received.errors) == 1
    (error,) = received.errors
    assert isinstance(error, DecodeError) and not isinstance(error, UnknownMessageType)
    assert "coinbase" in str(error)


def test_a_malformed_update_changes_nothing() -> None:
    session = holding("BTC-USD")
    feed(session, snapshot([["1", "1"]], [["2", "1"]]))
    bad = l2update(["buy", "1.5", "1"], ["buy", "1.6", "lots"])
    assert session.receive(json.dumps(bad), NOW).errors
    (line,) = feed(session, l2update(["sell", "3", "1"]))
    assert line["bids"] == [[1.0, 1.0]]  # 1.5 was never applied


def test_an_unknown_message_type_is_skipped_not_an_error() -> None:
    received = holding("BTC-USD").receive('{"type": "status", "products": []}', NOW)
    (error,) = received.errors
    assert isinstance(error, UnknownMessageType) and received.events == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
fields = st.sampled_from(
    [
        "product_id",
        "price",
        "best_bid",
        "best_ask",
        "time",
        "trade_id",
        "size",
        "last_trade_id",
        "bids",
        "asks",
        "changes",
        "channels",
        "message",
        "reason",
    ]
)
field_values = st.one_of(
    json_values,
    st.sampled_from(["BTC-USD", "1", "0", "2.5", "2022-10-19T23:28:22.061769Z", "buy", "sell"]),
    st.lists(st.lists(st.sampled_from(["buy", "sell", "1", "2", "0"]), max_size=3), max_size=3),
)
messages = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "ticker",
                "match",
                "last_match",
                "snapshot",
                "l2update",
                "heartbeat",
                "subscriptions",
                "error",
                "status",
            ]
        )
    },
    optional={"product_id": st.just("BTC-USD")},
).flatmap(
    lambda base: st.dictionaries(fields, field_values, max_size=6).map(
        lambda extra: {**extra, **base}
    )
)


@given(st.lists(st.one_of(messages, st.binary(max_size=40)), max_size=6))
def test_whatever_arrives_no_exception_and_every_event_keeps_the_contract(
    frames: list[dict[str, Any] | bytes],
) -> None:
    session = CoinbaseSession()
    session.subscribe("s", ["BTC-USD"], ALL, "realtime", None, None)
    for frame in frames:
        raw = frame if isinstance(frame, bytes) else json.dumps(frame)
        received = session.receive(raw, NOW)
        assert isinstance(received, Received)
        for event in received.events:
            assert check_event({**event, "source": "coinbase", "received": NOW}) == []


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_bytes_or_text_give_errors_never_an_exception(raw: bytes | str) -> None:
    received = holding("BTC-USD").receive(raw, NOW)
    assert received.events == [] and len(received.errors) == 1
