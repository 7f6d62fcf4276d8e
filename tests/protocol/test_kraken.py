# The samples below are verbatim, one JSON value a line: long lines are theirs.
# ruff: noqa: E501
"""KrakenSession: PROVIDERS.md's Kraken table, its worked examples and every sample
of shared/providers/kraken.jsonl; requests, one ack per pair, and their reply keys;
unknown pairs; application pings; trades once each; books verified by their CRC32
checksum (precisions found from it), resubscribed on a mismatch, never crossed."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from argus_cli.client.pipeline import Pipeline
from argus_cli.events import MAX_BOOK_LEVELS, check_event
from argus_cli.exceptions import (
    ConfigError,
    DecodeError,
    NotOffered,
    SubscriptionError,
    UnknownMessageType,
)
from argus_cli.protocol.kraken import (
    CHANNELS,
    DEPTHS,
    FACTS,
    WIRE,
    KrakenSession,
    book_checksum,
    checksum_digits,
)
from argus_cli.protocol.rules import DATA_TYPES
from argus_cli.protocol.session import Message, Received, Request, Send, SessionInfo
from argus_cli.testing.seqcheck import check

# shared/providers/kraken.jsonl, verbatim (line n is SAMPLES[n - 1])
SAMPLES = """\
{"method":"subscribe","params":{"channel":"ticker","symbol":["ALGO/USD"]}}
{"method":"subscribe","result":{"channel":"ticker","snapshot":true,"symbol":"ALGO/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}
{"method":"unsubscribe","params":{"channel":"ticker","symbol":["ALGO/USD"]}}
{"method":"unsubscribe","result":{"channel":"ticker","event_trigger":"trades","symbol":"ALGO/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}
{"method":"subscribe","params":{"channel":"trade","symbol":["MATIC/USD"],"snapshot":true}}
{"method":"subscribe","result":{"channel":"trade","snapshot":true,"symbol":"MATIC/USD"},"success":true,"time_in":"2023-09-25T09:21:10.428340Z","time_out":"2023-09-25T09:21:10.428375Z"}
{"method":"subscribe","params":{"channel":"book","symbol":["ALGO/USD","MATIC/USD"]}}
{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"ALGO/USD"},"success":true,"time_in":"2023-10-06T17:35:55.219022Z","time_out":"2023-10-06T17:35:55.219067Z"}
{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"MATIC/USD"},"success":true,"time_in":"2023-10-06T17:35:55.219022Z","time_out":"2023-10-06T17:35:55.219067Z"}
{"channel":"ticker","type":"snapshot","data":[{"symbol":"ALGO/USD","bid":0.10025,"bid_qty":740.0,"ask":0.10036,"ask_qty":1361.44813783,"last":0.10035,"volume":997038.98383185,"vwap":0.10148,"low":0.09979,"high":0.10285,"change":-0.00017,"change_pct":-0.17,"timestamp":"2023-09-25T09:04:31.742648Z"}]}
{"channel":"ticker","type":"update","data":[{"symbol":"ALGO/USD","bid":0.10025,"bid_qty":740.0,"ask":0.10035,"ask_qty":740.0,"last":0.10035,"volume":997038.98383185,"vwap":0.10148,"low":0.09979,"high":0.10285,"change":-0.00017,"change_pct":-0.17,"timestamp":"2023-09-25T09:04:31.742648Z"}]}
{"channel":"trade","type":"snapshot","data":[{"symbol":"MATIC/USD","side":"buy","price":0.5147,"qty":6423.46326,"ord_type":"limit","trade_id":4665846,"timestamp":"2023-09-25T07:48:36.925533Z"},{"symbol":"MATIC/USD","side":"buy","price":0.5147,"qty":1136.19677815,"ord_type":"limit","trade_id":4665847,"timestamp":"2023-09-25T07:49:36.925603Z"}]}
{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"sell","price":0.5117,"qty":40.0,"ord_type":"market","trade_id":4665906,"timestamp":"2023-09-25T07:49:37.708706Z"}]}
{"channel":"book","type":"snapshot","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5666,"qty":4831.75496356},{"price":0.5665,"qty":6658.22734739},{"price":0.5664,"qty":18724.91513344},{"price":0.5663,"qty":11563.92544914},{"price":0.5662,"qty":14006.65365711},{"price":0.5661,"qty":17454.85679807},{"price":0.566,"qty":18097.1547},{"price":0.5659,"qty":33644.89175666},{"price":0.5658,"qty":148.3464},{"price":0.5657,"qty":606.70854372}],"asks":[{"price":0.5668,"qty":4410.79769741},{"price":0.5669,"qty":4655.40412487},{"price":0.567,"qty":49844.89424998},{"price":0.5671,"qty":24306.41678},{"price":0.5672,"qty":29783.25223475},{"price":0.5673,"qty":57234.71239278},{"price":0.5674,"qty":45065.04744},{"price":0.5675,"qty":5912.76380354},{"price":0.5676,"qty":42514.92434778},{"price":0.5677,"qty":36304.0847022}],"checksum":2439117997,"timestamp":"2023-10-06T17:35:55.440295Z"}]}
{"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5657,"qty":1098.3947558}],"asks":[],"checksum":2114181697,"timestamp":"2023-10-06T17:35:55.440295Z"}]}
{"channel":"heartbeat"}
{"method":"ping","req_id":101}
{"method":"pong","req_id":101,"time_in":"2023-09-24T14:10:23.799685Z","time_out":"2023-09-24T14:10:23.799703Z"}
{"channel":"status","data":[{"api_version":"v2","connection_id":12393906104898154338,"system":"online","version":"2.0.4"}],"type":"update"}
{"error":"Currency pair not supported XDG/USD","method":"subscribe","success":false,"symbol":"XDG/USD"}
{"error":"Subscription depth not supported","method":"subscribe","success":false,"time_in":"2026-08-16T23:54:19.629313Z","time_out":"2026-08-16T23:54:19.629343Z"}
{"error":"EGeneral:Unknown error","method":"subscribe","success":false,"time_in":"1725494400.000","time_out":"1725494460.000"}
""".splitlines()

# PROVIDERS.md "Worked examples" (source/received, and argus's `sub`, left out)
WORKED = """\
{"provider":"kraken","line":10,"events":[{"type":"price","symbol":"ALGO/USD","price":0.10035,"bid":0.10025,"ask":0.10036,"timestamp":1695632671.742648}]}
{"provider":"kraken","line":12,"events":[{"type":"volume","symbol":"MATIC/USD","volume":6423.46326,"timestamp":1695628116.925533,"seq":4665846},{"type":"volume","symbol":"MATIC/USD","volume":1136.19677815,"timestamp":1695628176.925603,"seq":4665847}]}
""".splitlines()

CLIENT_LINES = (1, 3, 5, 7, 17)
# what each server line gives a fresh session that holds every sample pair in every type
SERVER_LINES: dict[int, list[str]] = {
    2: [],  # an ack nobody waits on
    4: [],
    6: [],
    8: [],
    9: [],
    10: ["price"],
    11: ["price"],
    12: ["volume", "volume"],
    13: ["volume"],
    14: ["orderbook"],
    15: [],  # an update before any snapshot
    16: [],
    18: [],  # a pong nobody waits on
    19: [],  # status: session info only
}
ERROR_LINES = (20, 21, 22)
PAIRS = ["ALGO/USD", "MATIC/USD"]
ALL = list(DATA_TYPES)
NOW = 1764000000.0


def sample(line: int) -> str:
    return SAMPLES[line - 1]


def frames(request: Request | Sequence[Any]) -> list[dict[str, Any]]:
    actions = request.actions if isinstance(request, Request) else request
    out = []
    for action in actions:
        assert isinstance(action, Send)
        out.append(json.loads(action.data))
    return out


def ack(frame: dict[str, Any], symbol: str, method: str | None = None) -> str:
    params = frame["params"]
    result: dict[str, Any] = {"channel": params["channel"], "symbol": symbol}
    if params["channel"] == "book":
        result["depth"] = params.get("depth", 10)
    return json.dumps(
        {
            "method": method or frame["method"],
            "result": result,
            "success": True,
            "time_in": "2023-09-25T09:04:31.742599Z",
            "time_out": "2023-09-25T09:04:31.742648Z",
            "req_id": frame["req_id"],
        }
    )


def refuse(frame: dict[str, Any], symbol: str) -> str:
    return json.dumps(
        {
            "error": f"Currency pair not supported {symbol}",
            "method": frame["method"],
            "success": False,
            "symbol": symbol,
            "req_id": frame["req_id"],
        }
    )


def answer_all(session: KrakenSession, request: Request | Sequence[Any]) -> Received:
    """Ack every pair of every frame; the Received of the last ack."""
    last = Received([])
    for frame in frames(request):
        if frame["method"] == "ping":
            continue
        for symbol in frame["params"]["symbol"]:
            last = session.receive(ack(frame, symbol), NOW)
            assert not last.errors and not last.refusals
    return last


def holding(*pairs: str, types: list[str] = ALL, sub: str = "s", depth: int = 10) -> KrakenSession:
    """A fresh session holding ``pairs``, every ack answered."""
    session = KrakenSession(depth)
    hold(session, sub, list(pairs), types)
    return session


def hold(session: KrakenSession, sub: str, pairs: list[str], types: list[str] = ALL) -> None:
    request = session.subscribe(sub, pairs, types, "realtime", None, None)
    if request.reply is None:  # streaming already for another subscription
        assert request.actions == []
        return
    settled = answer_all(session, request)
    assert [r.key for r in settled.replies] == [request.reply]


def feed(session: KrakenSession, *messages: dict[str, Any] | str) -> list[Message]:
    """The events of ``messages``, each checked as the pipeline would deliver it."""
    events: list[Message] = []
    for message in messages:
        raw = message if isinstance(message, str) else json.dumps(message)
        received = session.receive(raw, NOW)
        assert not received.errors, received.errors
        events.extend(received.events)
    for event in events:
        assert check_event({**event, "source": "kraken", "received": NOW}) == [], event
    return events


def bare(events: list[Message]) -> list[Message]:
    return [{k: v for k, v in e.items() if k != "sub"} for e in events]


def trade(trade_id: int, symbol: str = "MATIC/USD", kind: str = "update") -> dict[str, Any]:
    return {"channel": "trade", "type": kind, "data": [trade_row(trade_id, symbol)]}


def trade_row(trade_id: int, symbol: str = "MATIC/USD") -> dict[str, Any]:
    return {
        "symbol": symbol,
        "side": "buy",
        "price": 0.5147,
        "qty": 0.5,
        "ord_type": "limit",
        "trade_id": trade_id,
        "timestamp": "2023-09-25T07:48:36.925533Z",
    }


# --- a reference checksum, written independently ------------------------------------------


def reference_text(number: str, decimals: int | None) -> str:
    """The decimal ``number`` with exactly ``decimals`` decimals (None: as written),
    without its point and leading zeros."""
    text = number if decimals is None else f"{Decimal(number):.{decimals}f}"
    return text.replace(".", "").lstrip("0")


def reference_checksum(
    asks: list[tuple[str, str]], bids: list[tuple[str, str]], decimals: tuple[int | None, ...]
) -> int:
    best_asks = sorted(asks, key=lambda level: Decimal(level[0]))[:10]
    best_bids = sorted(bids, key=lambda level: Decimal(level[0]), reverse=True)[:10]
    text = "".join(
        reference_text(price, decimals[0]) + reference_text(qty, decimals[1])
        for price, qty in best_asks + best_bids
    )
    return zlib.crc32(text.encode("ascii"))


def shortest(units: int, decimals: int) -> str:
    """A number as the feed writes it: a JSON number, shortest form (0.566, 740.0)."""
    return json.dumps(units / 10**decimals)


def book_frame(
    kind: str,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    checksum: int,
    symbol: str = "MATIC/USD",
    timestamp: str | None = "2023-10-06T17:35:55.440295Z",
) -> str:
    """A book message with the number tokens exactly as given."""

    def side(levels: list[tuple[str, str]]) -> str:
        return ",".join(f'{{"price":{p},"qty":{q}}}' for p, q in levels)

    stamp = f',"timestamp":"{timestamp}"' if timestamp else ""
    return (
        f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{symbol}",'
        f'"bids":[{side(bids)}],"asks":[{side(asks)}],"checksum":{checksum}{stamp}}}]}}'
    )


# --- the samples and the worked examples ---------------------------------------------------


def test_the_samples_here_are_the_shared_file_verbatim() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "providers" / "kraken.jsonl"
    if not shared.exists():
        pytest.skip("shared/providers is not beside this checkout")
    assert shared.read_text().splitlines() == SAMPLES
    covered = set(CLIENT_LINES) | set(SERVER_LINES) | set(ERROR_LINES)
    assert covered == set(range(1, len(SAMPLES) + 1))


@pytest.mark.parametrize("line", sorted(SERVER_LINES))
def test_every_server_sample_through_a_fresh_session(line: int) -> None:
    session = holding(*PAIRS)
    received = session.receive(sample(line), NOW)
    assert not received.errors and not received.refusals and not received.actions
    assert not received.replies
    assert [e["type"] for e in received.events] == SERVER_LINES[line]
    for event in received.events:
        assert event["sub"] == "s"
        assert check_event({**event, "source": "kraken", "received": NOW}) == []


@pytest.mark.parametrize("line", ERROR_LINES)
def test_every_error_sample_is_said_on_stderr_when_nothing_waits(line: int) -> None:
    received = holding(*PAIRS).receive(sample(line), NOW)
    assert not received.events and not received.errors and not received.replies
    (refusal,) = received.refusals
    assert json.loads(sample(line))["error"] in refusal.message
    assert not refusal.drops_subscription and refusal.subscription_id is None


@pytest.mark.parametrize("worked", WORKED)
def test_the_worked_examples_exactly(worked: str) -> None:
    example = json.loads(worked)
    session = holding(*PAIRS)
    events = feed(session, sample(example["line"]))
    assert bare(events) == example["events"]
    assert all(e["sub"] == "s" for e in events)


def test_the_book_samples_are_verified_by_their_real_checksums() -> None:
    session = holding(*PAIRS)
    (snapshot,) = feed(session, sample(14))
    assert snapshot["bids"][0] == [0.5666, 4831.75496356]
    assert snapshot["asks"][0] == [0.5668, 4410.79769741]
    assert snapshot["bids"][6] == [0.566, 18097.1547]
    assert snapshot["timestamp"] == 1696613755.440295
    (update,) = feed(session, sample(15))  # line 15 continues line 14
    assert update["bids"][-1] == [0.5657, 1098.3947558]
    assert update["bids"][:-1] == snapshot["bids"][:-1] and update["asks"] == snapshot["asks"]


def test_the_sample_checksums_need_the_precisions_not_the_wire_text() -> None:
    book = json.loads(sample(14), parse_float=str)["data"][0]
    asks = [(level["price"], level["qty"]) for level in book["asks"]]
    bids = [(level["price"], level["qty"]) for level in book["bids"]]
    assert book_checksum(asks, bids, (4, 8)) == 2439117997 == book["checksum"]
    assert reference_checksum(asks, bids, (4, 8)) == 2439117997
    assert book_checksum(asks, bids, WIRE) == reference_checksum(asks, bids, (None, None))
    assert book_checksum(asks, bids, WIRE) != 2439117997  # 0.566 must be written 5660
    assert book_checksum(asks, bids, (3, 8)) is None  # 0.5666 has four decimals
    assert checksum_digits("0.566", 4) == "5660" and checksum_digits("740.0", 8) == "74000000000"
    assert checksum_digits("0.566", -1) == "566" and checksum_digits("0.00001", 5) == "1"


def test_samples_through_the_pipeline_are_stamped_and_keep_the_contract() -> None:
    session = holding(*PAIRS)
    pipeline = Pipeline("kraken")
    pipeline.track("s", True, PAIRS)
    delivered = []
    for line in sorted(SERVER_LINES):
        delivered += pipeline.process(session.receive(sample(line), NOW).events, NOW)
    # trade 4665906 (line 13) follows 4665847 (line 12): the ids between are a gap
    kinds = ["price"] * 2 + ["volume"] * 2 + ["gap", "volume", "orderbook", "orderbook"]
    assert [e["type"] for e in delivered] == kinds
    assert (delivered[4]["from_seq"], delivered[4]["to_seq"]) == (4665848, 4665905)
    for event in delivered:
        assert check_event(event) == [] and event["source"] == "kraken"


def test_the_status_sample_names_the_connection_exactly() -> None:
    received = KrakenSession().receive(sample(19), NOW)
    assert received.info == SessionInfo(connection_id="12393906104898154338")
    assert received.events == [] and not received.refusals
    huge = sample(19).replace("12393906104898154338", "123939061048981543381234")
    assert KrakenSession().receive(huge, NOW).info == SessionInfo("123939061048981543381234")
    down = KrakenSession().receive(sample(19).replace("online", "maintenance"), NOW)
    (refusal,) = down.refusals
    assert "maintenance" in refusal.message and down.info is not None


# --- requests ------------------------------------------------------------------------------


def test_facts() -> None:
    assert FACTS.name == KrakenSession.source == "kraken"
    assert FACTS.url == "wss://ws.kraken.com/v2"
    assert FACTS.data_types == DATA_TYPES and FACTS.frequencies == ("realtime",)
    assert FACTS.contiguous_trade_ids and not FACTS.needs_key and not FACTS.filters
    assert not FACTS.lists_symbols and not FACTS.needs_secret and FACTS.rest_url is None
    assert FACTS.description
    assert dict(CHANNELS) == {"price": "ticker", "volume": "trade", "orderbook": "book"}


@pytest.mark.parametrize(
    ("line", "pairs", "types"),
    [(1, ["ALGO/USD"], ["price"]), (7, PAIRS, ["orderbook"])],
)
def test_subscribe_sends_the_documented_frames(
    line: int, pairs: list[str], types: list[str]
) -> None:
    request = KrakenSession().subscribe("s", pairs, types, "realtime", None, {})
    (frame,) = frames(request)
    assert type(frame.pop("req_id")) is int
    if frame["params"]["channel"] == "book":
        assert frame["params"].pop("depth") == 10  # the default, said
    assert frame == json.loads(sample(line))
    assert request.reply == ("subscribed", "s")


def test_every_type_is_one_frame_a_channel_each_with_its_own_req_id() -> None:
    request = KrakenSession(25).subscribe("s", ["BTC/USD"], ALL, "realtime", None, None)
    sent = frames(request)
    assert [f["params"]["channel"] for f in sent] == ["ticker", "trade", "book"]
    assert len({f["req_id"] for f in sent}) == 3
    assert sent[2]["params"]["depth"] == 25
    assert "snapshot" not in sent[1]["params"]  # live trades only on a first subscribe


def test_trades_are_asked_with_their_snapshot_once_some_were_printed() -> None:
    session = holding("MATIC/USD", types=["volume"])
    feed(session, trade(4665845))
    session.opened()
    request = session.subscribe("s", ["MATIC/USD", "ALGO/USD"], ["volume"], "realtime", None, {})
    again, first = frames(request)
    assert {k: v for k, v in again.items() if k != "req_id"} == json.loads(sample(5))
    assert first["params"] == {"channel": "trade", "symbol": ["ALGO/USD"]}


def test_unsubscribe_sends_the_documented_frame() -> None:
    session = holding("ALGO/USD", types=["price"])
    request = session.unsubscribe("s")
    (frame,) = frames(request)
    assert type(frame.pop("req_id")) is int
    assert frame == json.loads(sample(3))
    assert request.reply == ("unsubscribed", "s")
    (reply,) = session.receive(sample(4), NOW).replies  # no req_id: the oldest fitting frame
    assert reply.key == request.reply and reply.error is None


@pytest.mark.parametrize(
    ("frequency", "filters", "words"),
    [
        ("1s", None, "realtime"),
        ("1m", None, "realtime"),
        ("realtime", {"min_price": 1.0}, "filter"),
    ],
)
def test_what_kraken_cannot_do_is_not_offered_before_anything_is_sent(
    frequency: str, filters: dict[str, float] | None, words: str
) -> None:
    with pytest.raises(NotOffered, match=words):
        KrakenSession().subscribe("s", ["BTC/USD"], ["price"], frequency, filters, None)


def test_bad_requests_and_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="data types"):
        KrakenSession().subscribe("s", ["BTC/USD"], ["candles"], "realtime", None, None)
    with pytest.raises(ConfigError, match="symbols"):
        KrakenSession().subscribe("s", [], ["price"], "realtime", None, None)
    for depth in (0, 5, 27, 2000):
        with pytest.raises(ConfigError, match="depth"):
            KrakenSession(depth)
    for interval in (0.0, -1.0, 31.0):
        with pytest.raises(ConfigError, match="30"):
            KrakenSession(ping_interval=interval)
    assert [KrakenSession(d).book_depth for d in DEPTHS] == list(DEPTHS)


def test_listing_symbols_is_not_offered_and_no_key_is_sent() -> None:
    with pytest.raises(NotOffered, match="REST"):
        KrakenSession().list_symbols()
    session = KrakenSession()
    handshake = session.handshake("secret")
    assert not handshake.headers and not handshake.query
    assert session.opened() == []


def test_ping_is_an_application_ping_answered_by_its_pong() -> None:
    session = KrakenSession()
    request = session.ping(7)
    assert request is not None and request.reply == ("pong", 7)
    (frame,) = frames(request)
    assert set(frame) == set(json.loads(sample(17))) and frame["method"] == "ping"
    other = session.receive(sample(18).replace("101", str(frame["req_id"] + 1000)), NOW)
    assert not other.replies  # not ours
    pong = sample(18).replace("101", str(frame["req_id"]))
    (reply,) = session.receive(pong, NOW).replies
    assert reply.key == ("pong", 7) and reply.error is None
    assert not session.receive(pong, NOW).replies  # answered once


def test_the_timer_pings_at_least_every_30_seconds() -> None:
    session = KrakenSession()
    assert session.timer_interval is not None and 0 < session.timer_interval <= 30
    assert KrakenSession(ping_interval=0.2).timer_interval == 0.2
    first, second = (frames(session.on_timer(NOW + n)) for n in (0, 15))
    assert [f["method"] for f in first + second] == ["ping", "ping"]
    assert first[0]["req_id"] != second[0]["req_id"]
    pong = sample(18).replace("101", str(first[0]["req_id"]))
    received = session.receive(pong, NOW)
    assert not received.has_control and received.events == []


# --- acknowledgements and unknown pairs ----------------------------------------------------


def test_the_reply_waits_for_every_pair_of_every_channel() -> None:
    session = KrakenSession()
    request = session.subscribe("s", PAIRS, ["price", "orderbook"], "realtime", None, None)
    ticker, book = frames(request)
    answers = [
        session.receive(ack(ticker, "ALGO/USD"), NOW),
        session.receive(ack(book, "MATIC/USD"), NOW),
        session.receive(ack(ticker, "MATIC/USD"), NOW),
    ]
    assert all(not a.replies for a in answers)
    (reply,) = session.receive(ack(book, "ALGO/USD"), NOW).replies
    assert reply.key == request.reply and reply.value == PAIRS and reply.error is None
    assert not session.receive(ack(book, "ALGO/USD"), NOW).has_control  # said already


def test_acks_without_req_id_answer_the_oldest_frame_holding_the_pair() -> None:
    session = KrakenSession()
    request = session.subscribe("s", PAIRS, ["orderbook"], "realtime", None, None)
    assert not session.receive(sample(8), NOW).replies
    (reply,) = session.receive(sample(9), NOW).replies
    assert reply.key == request.reply and reply.value == PAIRS


def test_an_unknown_pair_is_refused_naming_it_while_the_others_go_on() -> None:
    session = KrakenSession()
    request = session.subscribe(
        "s", ["BTC/USD", "XBT/USD", "ETH/USD"], ["price", "volume"], "realtime", None, None
    )
    ticker, trades = frames(request)
    for frame in (ticker, trades):
        session.receive(ack(frame, "BTC/USD"), NOW)
        session.receive(refuse(frame, "XBT/USD"), NOW)
    assert not session.receive(ack(ticker, "ETH/USD"), NOW).replies
    settled = session.receive(ack(trades, "ETH/USD"), NOW)
    (reply,) = settled.replies
    assert reply.key == request.reply and reply.value == ["BTC/USD", "ETH/USD"]
    (refusal,) = settled.refusals
    assert refusal.code == "invalid_symbol" and "XBT/USD" in refusal.message
    assert "Currency pair not supported XBT/USD" in refusal.message
    assert refusal.subscription_id == "s" and not refusal.drops_subscription
    assert refusal.awaited_by is None  # a warning: the request itself succeeded
    assert feed(session, trade(5, "XBT/USD")) == []
    assert [e["seq"] for e in feed(session, trade(5, "BTC/USD"))] == [5]
    # after a reconnect, the restored subscription leaves it out
    session.opened()
    again = session.subscribe(
        "s", ["BTC/USD", "XBT/USD", "ETH/USD"], ["price", "volume"], "realtime", None, {}
    )
    asked = [(f["params"]["channel"], f["params"]["symbol"]) for f in frames(again)]
    assert asked == [  # BTC/USD trades printed: asked with their snapshot
        ("ticker", ["BTC/USD", "ETH/USD"]),
        ("trade", ["BTC/USD"]),
        ("trade", ["ETH/USD"]),
    ]
    # a new subscription asks again
    session.unsubscribe("s")
    fresh = session.subscribe("s", ["BTC/USD", "XBT/USD"], ["price"], "realtime", None, {})
    assert frames(fresh)[0]["params"]["symbol"] == ["BTC/USD", "XBT/USD"]


def test_the_real_invalid_pair_sample_without_req_id_settles_the_request() -> None:
    session = KrakenSession()
    request = session.subscribe("s", ["XDG/USD", "BTC/USD"], ["price"], "realtime", None, None)
    (frame,) = frames(request)
    assert not session.receive(sample(20), NOW).replies
    settled = session.receive(ack(frame, "BTC/USD"), NOW)
    assert [(r.key, r.value) for r in settled.replies] == [(request.reply, ["BTC/USD"])]
    assert [r.code for r in settled.refusals] == ["invalid_symbol"]


def test_a_subscription_with_no_known_pair_fails_and_is_dropped() -> None:
    session = KrakenSession()
    request = session.subscribe("s", ["XBT/USD"], ["price", "volume"], "realtime", None, None)
    ticker, trades = frames(request)
    assert not session.receive(refuse(ticker, "XBT/USD"), NOW).replies
    received = session.receive(refuse(trades, "XBT/USD"), NOW)
    (reply,) = received.replies
    assert reply.key == request.reply and isinstance(reply.error, SubscriptionError)
    assert reply.error.code == "invalid_symbol" and reply.error.subscription_id == "s"
    assert "XBT/USD" in str(reply.error)
    (refusal,) = received.refusals
    assert refusal.drops_subscription and refusal.awaited_by == request.reply
    assert session.unsubscribe("s").actions == []  # the session forgot it too


def test_an_error_for_the_whole_request_fails_every_pair_in_it() -> None:
    session = KrakenSession()
    request = session.subscribe("s", PAIRS, ["orderbook"], "realtime", None, None)
    (frame,) = frames(request)
    error = json.loads(sample(21)) | {"req_id": frame["req_id"]}
    received = session.receive(json.dumps(error), NOW)
    (reply,) = received.replies
    assert isinstance(reply.error, SubscriptionError) and reply.error.code == "subscribe_failed"
    assert "Subscription depth not supported" in str(reply.error)


def test_already_subscribed_counts_as_an_ack() -> None:
    session = KrakenSession()
    request = session.subscribe("s", ["BTC/USD"], ["price"], "realtime", None, None)
    (frame,) = frames(request)
    already = {"error": "Already subscribed", "method": "subscribe", "success": False}
    received = session.receive(
        json.dumps(already | {"symbol": "BTC/USD", "req_id": frame["req_id"]}), NOW
    )
    assert [(r.key, r.value) for r in received.replies] == [(request.reply, ["BTC/USD"])]
    assert not received.refusals


def test_a_pair_another_subscription_streams_is_not_asked_again() -> None:
    session = KrakenSession()
    first = session.subscribe("a", ["BTC/USD"], ["price"], "realtime", None, None)
    second = session.subscribe("b", ["BTC/USD", "ETH/USD"], ["price"], "realtime", None, None)
    (frame_a,) = frames(first)
    (frame_b,) = frames(second)
    assert frame_b["params"]["symbol"] == ["ETH/USD"]
    assert not session.receive(ack(frame_b, "ETH/USD"), NOW).replies  # waits on a's BTC/USD
    both = session.receive(ack(frame_a, "BTC/USD"), NOW).replies
    assert [(r.key, r.value) for r in both] == [
        (first.reply, ["BTC/USD"]),
        (second.reply, ["BTC/USD", "ETH/USD"]),
    ]
    third = session.subscribe("c", ["ETH/USD"], ["price"], "realtime", None, None)
    assert third.actions == [] and third.reply is None  # streaming already: nothing to wait for
    ticker = sample(10).replace("ALGO/USD", "BTC/USD")
    assert [e["sub"] for e in feed(session, ticker)] == ["a", "b"]


def test_unsubscribe_stops_only_what_no_other_subscription_holds() -> None:
    session = KrakenSession()
    hold(session, "a", ["BTC/USD", "ETH/USD"], ["price", "volume"])
    hold(session, "b", ["BTC/USD"], ["price"])
    request = session.unsubscribe("a")
    assert request.reply == ("unsubscribed", "a")
    sent = frames(request)
    assert [(f["method"], f["params"]) for f in sent] == [
        ("unsubscribe", {"channel": "ticker", "symbol": ["ETH/USD"]}),
        ("unsubscribe", {"channel": "trade", "symbol": ["BTC/USD", "ETH/USD"]}),
    ]
    assert feed(session, trade(1, "BTC/USD")) == []  # nobody holds BTC/USD volume any more
    ticker = sample(10).replace("ALGO/USD", "BTC/USD")
    assert [e["sub"] for e in feed(session, ticker)] == ["b"]
    assert not session.receive(ack(sent[0], "ETH/USD"), NOW).replies
    assert not session.receive(ack(sent[1], "BTC/USD"), NOW).replies
    not_found = {"error": "Subscription Not Found", "method": "unsubscribe", "success": False}
    last = session.receive(
        json.dumps(not_found | {"symbol": "ETH/USD", "req_id": sent[1]["req_id"]}), NOW
    )
    assert [(r.key, r.error) for r in last.replies] == [(request.reply, None)]
    everything_shared = session.unsubscribe("nobody")
    assert everything_shared.actions == [] and everything_shared.reply is None


def test_a_refused_unsubscribe_fails_its_request() -> None:
    session = holding("BTC/USD", types=["price"])
    request = session.unsubscribe("s")
    (frame,) = frames(request)
    error = {"error": "EGeneral:Internal error", "method": "unsubscribe", "success": False}
    received = session.receive(json.dumps(error | {"req_id": frame["req_id"]}), NOW)
    (reply,) = received.replies
    assert reply.key == request.reply and isinstance(reply.error, SubscriptionError)
    assert "EGeneral:Internal error" in str(reply.error)


def test_an_answer_for_a_subscription_unsubscribed_meanwhile_still_settles_it() -> None:
    session = KrakenSession()
    request = session.subscribe("s", ["BTC/USD"], ["price"], "realtime", None, None)
    (frame,) = frames(request)
    session.unsubscribe("s")
    received = session.receive(refuse(frame, "BTC/USD"), NOW)
    assert [r.key for r in received.replies] == [request.reply] and not received.refusals


# --- trades --------------------------------------------------------------------------------


def test_a_trade_id_is_never_printed_twice_even_across_a_reconnect() -> None:
    session = holding("MATIC/USD")
    assert [e["seq"] for e in feed(session, trade(10), trade(11), trade(11), trade(9))] == [10, 11]
    session.opened()  # a new connection: its snapshot repeats trades printed already
    hold(session, "s", ["MATIC/USD"])
    snapshot = {
        "channel": "trade",
        "type": "snapshot",
        "data": [trade_row(n) for n in (13, 9, 11, 12)],
    }
    assert [e["seq"] for e in feed(session, snapshot)] == [12, 13]  # in id order, once
    assert [e["seq"] for e in feed(session, trade(14))] == [14]


def test_one_copy_per_subscription_holding_the_pair_and_type() -> None:
    session = KrakenSession()
    hold(session, "both", ["MATIC/USD"], ["price", "volume"])
    hold(session, "trades", ["MATIC/USD", "ALGO/USD"], ["volume"])
    assert [e["sub"] for e in feed(session, trade(10))] == ["both", "trades"]
    copies = feed(session, trade(11))
    copies[0]["volume"] = -1  # a handler changing its copy changes no other
    assert copies[1]["volume"] == 0.5


def test_price_lines_leave_out_missing_and_zero_quotes() -> None:
    session = holding("ALGO/USD")
    row = json.loads(sample(10))["data"][0]
    row.pop("timestamp")
    row["bid"] = 0.0
    (line,) = feed(session, {"channel": "ticker", "type": "update", "data": [row]})
    assert line == {
        "type": "price",
        "symbol": "ALGO/USD",
        "price": 0.10035,
        "ask": 0.10036,
        "sub": "s",
    }
    empty = {"symbol": "ALGO/USD", "bid": 0.0, "ask": 0.0}
    assert feed(session, {"channel": "ticker", "type": "update", "data": [empty]}) == []


@given(
    st.lists(
        st.tuples(st.sampled_from(["trade", "snapshot", "reconnect"]), st.integers(1, 40)),
        max_size=40,
    )
)
def test_any_trade_stream_prints_each_id_once_and_covers_every_hole(
    steps: list[tuple[str, int]],
) -> None:
    session = holding("MATIC/USD")
    pipeline = Pipeline("kraken")
    pipeline.track("s", True, ["MATIC/USD"])
    delivered: list[Message] = []
    for kind, number in steps:
        if kind == "reconnect":
            session.opened()
            hold(session, "s", ["MATIC/USD"])
            continue
        if kind == "snapshot":
            rows = [trade_row(n) for n in range(max(1, number - 5), number + 1)]
            message = {"channel": "trade", "type": "snapshot", "data": rows}
        else:
            message = trade(number)
        delivered += pipeline.process(feed(session, message), NOW)
    report = check(delivered)
    assert report.duplicated == report.out_of_order == report.lost == 0
    seqs = [e["seq"] for e in delivered if e["type"] == "volume"]
    assert seqs == sorted(set(seqs))


# --- books ---------------------------------------------------------------------------------


def levels_of(line: Message) -> tuple[list[list[float]], list[list[float]]]:
    return line["bids"], line["asks"]


def test_no_book_line_before_the_snapshot_nor_for_an_unheld_pair() -> None:
    session = holding("MATIC/USD", types=["price"])
    assert feed(session, sample(14)) == []  # MATIC/USD books are not held
    session = holding("MATIC/USD")
    assert feed(session, sample(15)) == []


def test_a_corrupted_checksum_hides_the_book_until_a_new_snapshot() -> None:
    session = holding("MATIC/USD")
    feed(session, sample(14))
    corrupt = sample(15).replace("2114181697", "2114181698")
    received = session.receive(corrupt, NOW)
    assert received.events == []
    (error,) = received.errors
    assert "checksum" in str(error) and "MATIC/USD" in str(error)
    unsubscribe, subscribe = frames(received.actions)
    assert (unsubscribe["method"], unsubscribe["params"]) == (
        "unsubscribe",
        {"channel": "book", "symbol": ["MATIC/USD"]},
    )
    assert (subscribe["method"], subscribe["params"]) == (
        "subscribe",
        {"channel": "book", "symbol": ["MATIC/USD"], "depth": 10},
    )
    assert feed(session, sample(15)) == []  # stale updates still in flight: nothing
    quiet = session.receive(ack(unsubscribe, "MATIC/USD"), NOW)
    assert not quiet.has_control
    assert not session.receive(ack(subscribe, "MATIC/USD"), NOW).has_control
    (fresh,) = feed(session, sample(14))  # the new snapshot: shown again
    assert fresh["bids"][-1] == [0.5657, 606.70854372]  # rebuilt, never merged
    (update,) = feed(session, sample(15))
    assert update["bids"][-1] == [0.5657, 1098.3947558]


def test_mismatches_in_a_row_resubscribe_at_most_every_few_seconds() -> None:
    session = holding("MATIC/USD")
    corrupt = sample(15).replace("2114181697", "1")
    feed(session, sample(14))
    first = session.receive(corrupt, NOW)
    assert len(first.actions) == 2
    answer_all(session, first.actions)
    feed(session, sample(14))
    second = session.receive(corrupt, NOW + 1)
    assert second.errors and not second.actions  # too soon: the timer does it
    timer = frames(session.on_timer(NOW + 2))
    assert [f["method"] for f in timer] == ["ping", "unsubscribe", "subscribe"]
    assert frames(session.on_timer(NOW + 3))[1:] == []  # once


def test_a_snapshot_whose_checksum_never_matches_is_asked_again_by_the_timer() -> None:
    session = holding("MATIC/USD")
    received = session.receive(sample(14).replace("2439117997", "7"), NOW)
    assert received.events == [] and received.errors and not received.actions
    assert feed(session, sample(15)) == []
    actions = session.on_timer(NOW + 15)
    timer = frames(actions)
    assert [(f["method"], f["params"]["channel"]) for f in timer[1:]] == [
        ("unsubscribe", "book"),
        ("subscribe", "book"),
    ]
    answer_all(session, actions)
    (line,) = feed(session, sample(14))
    assert line["bids"][0] == [0.5666, 4831.75496356]


def test_the_precisions_found_hold_across_connections() -> None:
    session = holding("MATIC/USD")
    feed(session, sample(14))
    assert session._precisions["MATIC/USD"].found == (4, 8)
    session.opened()
    hold(session, "s", ["MATIC/USD"])
    assert len(feed(session, sample(14), sample(15))) == 2


@pytest.mark.parametrize(
    "rewrite",
    [
        lambda text: text.replace(
            '{"price":0.5657,"qty":1098.3947558}', '{"qty":1098.3947558,"price":0.5657}'
        ),
        lambda text: text.replace('":', '" :  ').replace(',"', ', "'),
        lambda text: text.replace("1098.3947558", "1.0983947558e3"),
        lambda text: text.replace('"asks":[]', '"asks":[],"extra":{"price":1,"qty":2}'),
        lambda text: text.encode(),
    ],
    ids=["qty-first", "spaces", "exponent", "other-price-keys", "bytes"],
)
def test_the_exact_numbers_are_read_whatever_the_spelling(rewrite: Any) -> None:
    session = holding("MATIC/USD")
    feed(session, sample(14))
    received = session.receive(rewrite(sample(15)), NOW)
    assert not received.errors, received.errors
    (line,) = received.events
    assert line["bids"][-1] == [0.5657, 1098.3947558]


def test_a_book_is_truncated_to_the_subscribed_depth_before_its_checksum() -> None:
    session = holding("BTC/USD", depth=10)
    bids = [(shortest(60000 - i, 0), "1.0") for i in range(10)]
    asks = [(shortest(60001 + i, 0), "2.0") for i in range(10)]
    checksum = reference_checksum(asks, bids, (1, 8))
    (line,) = feed(session, book_frame("snapshot", bids, asks, checksum, "BTC/USD"))
    assert line["bids"][0] == [60000.0, 1.0]
    better = [("60000.5", "3.0")]
    bids_after = better + bids[:9]  # the worst bid falls out: Kraken sends no delete
    checksum = reference_checksum(asks, bids_after, (1, 8))
    (line,) = feed(session, book_frame("update", better, [], checksum, "BTC/USD"))
    assert line["bids"][0] == [60000.5, 3.0] and line["bids"][-1] == [59992.0, 1.0]
    deleted = [("60000.5", "0.0")]
    checksum = reference_checksum(asks, bids[:9], (1, 8))
    (line,) = feed(session, book_frame("update", deleted, [], checksum, "BTC/USD"))
    assert len(line["bids"]) == 9  # the level that fell out does not come back


@settings(max_examples=200)
@given(
    st.integers(0, 9),
    st.integers(0, 9),
    st.lists(st.tuples(st.integers(1, 10**9), st.integers(1, 10**9)), max_size=14),
    st.lists(st.tuples(st.integers(1, 10**9), st.integers(1, 10**9)), max_size=14),
    st.data(),
)
def test_the_checksum_is_the_reference_for_any_book_and_precisions(
    price_decimals: int,
    qty_decimals: int,
    bid_units: list[tuple[int, int]],
    ask_units: list[tuple[int, int]],
    data: st.DataObject,
) -> None:
    def text(units: int, decimals: int) -> str:
        """``units`` scaled by ``decimals``, written with up to that many decimals."""
        exact = Decimal(units).scaleb(-decimals)
        written = data.draw(st.integers(0, decimals)) if exact == exact.to_integral() else decimals
        trimmed = f"{exact:.{decimals}f}"
        if "." in trimmed:
            trimmed = trimmed.rstrip("0").rstrip(".") if written < decimals else trimmed
        return trimmed

    asks = sorted({p: q for p, q in ask_units}.items())
    bids = sorted({p: q for p, q in bid_units}.items(), reverse=True)
    ask_text = [(text(p, price_decimals), text(q, qty_decimals)) for p, q in asks]
    bid_text = [(text(p, price_decimals), text(q, qty_decimals)) for p, q in bids]
    precision = (price_decimals, qty_decimals)
    expected = reference_checksum(ask_text, bid_text, precision)
    assert book_checksum(ask_text, bid_text, precision) == expected
    assert book_checksum(ask_text, bid_text, WIRE) == reference_checksum(
        ask_text, bid_text, (None, None)
    )
    if asks or bids:
        wider = (price_decimals + 1, qty_decimals)
        assert book_checksum(ask_text, bid_text, wider) != expected  # one more zero a price


class ModelBook:
    """Kraken's rule in plain dicts: levels in order, qty 0 deletes, each side cut to
    ``depth``; the line leaves out the older of two crossing levels."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[int, tuple[int, int]] = {}  # price units: qty units, when set
        self.asks: dict[int, tuple[int, int]] = {}
        self.clock = 0

    def apply(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, qty in levels:
                self.clock += 1
                if qty:
                    side[price] = (qty, self.clock)
                else:
                    side.pop(price, None)
        for side, best_first in ((self.bids, True), (self.asks, False)):
            for price in sorted(side, reverse=best_first)[self.depth :]:
                del side[price]

    def checksum(self, pp: int, qp: int) -> int:
        asks = [(shortest(p, pp), shortest(self.asks[p][0], qp)) for p in sorted(self.asks)]
        bids = [
            (shortest(p, pp), shortest(self.bids[p][0], qp))
            for p in sorted(self.bids, reverse=True)
        ]
        return reference_checksum(asks, bids, (pp, qp))

    def line(self, pp: int, qp: int) -> tuple[list[list[float]], list[list[float]]]:
        bids = sorted(self.bids.items(), reverse=True)
        asks = sorted(self.asks.items())
        while bids and asks and bids[0][0] >= asks[0][0]:
            if bids[0][1][1] > asks[0][1][1]:
                asks.pop(0)
            else:
                bids.pop(0)
        return (
            [[p / 10**pp, q / 10**qp] for p, (q, _) in bids[:MAX_BOOK_LEVELS]],
            [[p / 10**pp, q / 10**qp] for p, (q, _) in asks[:MAX_BOOK_LEVELS]],
        )


quantities = st.sampled_from([0, 0, 1, 5, 10**8, 123456789, 2 * 10**8 + 1])
book_levels = st.lists(st.tuples(st.integers(1, 40), quantities), max_size=30)
book_steps = st.lists(
    st.tuples(
        st.sampled_from(["snapshot", "update", "update", "update"]), book_levels, book_levels
    ),
    max_size=14,
)


@settings(max_examples=150)
@given(st.sampled_from([10, 25]), st.integers(0, 4), st.integers(0, 8), book_steps)
def test_any_snapshot_and_update_sequence_gives_the_model_book_never_crossed(
    depth: int, pp: int, qp: int, steps: list[tuple[str, list[Any], list[Any]]]
) -> None:
    session = holding("BTC/USD", depth=depth)
    model: ModelBook | None = None
    shown = None
    for kind, bids, asks in steps:
        if kind == "snapshot":
            model = ModelBook(depth)
            bids = [(p, q) for p, q in bids if q]
            asks = [(p, q) for p, q in asks if q]
        if model is not None:
            model.apply(bids, asks)
        checksum = model.checksum(pp, qp) if model is not None else 0
        frame = book_frame(
            kind,
            [(shortest(p, pp), shortest(q, qp)) for p, q in bids],
            [(shortest(p, pp), shortest(q, qp)) for p, q in asks],
            checksum,
            "BTC/USD",
        )
        events = feed(session, frame)
        if model is None:
            assert events == []  # none before the snapshot
            continue
        expected = model.line(pp, qp)
        if kind == "snapshot" or expected != shown:
            (line,) = events
            assert levels_of(line) == expected
            shown = expected
        else:
            assert events == []  # the top ten did not change
        for line in events:
            line_bids, line_asks = levels_of(line)
            assert [p for p, _ in line_bids] == sorted({p for p, _ in line_bids}, reverse=True)
            assert [p for p, _ in line_asks] == sorted({p for p, _ in line_asks})
            assert not (line_bids and line_asks and line_bids[0][0] >= line_asks[0][0])


# --- what is not a Kraken message ----------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        b"\xff\xfe",
        "[1, 2]",
        '{"symbol": "BTC/USD"}',
        '{"channel": 7}',
        '{"channel": "ticker", "data": {}}',
        '{"channel": "ticker", "data": [{"last": 1}]}',
        '{"channel": "ticker", "data": [{"symbol": "BTC/USD", "last": "abc"}]}',
        '{"channel": "ticker", "data": [{"symbol": "BTC/USD", "last": -1}]}',
        '{"channel": "ticker", "data": [{"symbol": "BTC/USD", "last": 1, "timestamp": "now"}]}',
        '{"channel": "trade", "data": [{"symbol": "BTC/USD", "qty": 1, "trade_id": "5"}]}',
        '{"channel": "trade", "data": [{"symbol": "BTC/USD", "qty": 1, "trade_id": 0}]}',
        '{"channel": "trade", "data": [{"symbol": "BTC/USD", "trade_id": 5}]}',
        '{"channel": "trade", "data": [{"symbol": "BTC/USD", "qty": 1, "trade_id": 9223372036854775808}]}',
        '{"channel": "book", "type": "delta", "data": []}',
        '{"channel": "book", "type": "update", "data": [{"symbol": "BTC/USD", "bids": {}, "asks": [], "checksum": 0}]}',
        '{"channel": "book", "type": "update", "data": [{"symbol": "BTC/USD", "bids": [[1, 2]], "asks": [], "checksum": 0}]}',
        '{"channel": "book", "type": "update", "data": [{"symbol": "BTC/USD", "bids": [{"price": 0, "qty": 1}], "asks": [], "checksum": 0}]}',
        '{"channel": "book", "type": "update", "data": [{"symbol": "BTC/USD", "bids": [{"price": 1, "qty": -1}], "asks": [], "checksum": 0}]}',
        '{"channel": "book", "type": "update", "data": [{"symbol": "BTC/USD", "bids": [{"price": "1", "qty": 1}], "asks": [], "checksum": 0}]}',
        '{"channel": "book", "type": "update", "data": [{"symbol": "BTC/USD", "bids": [], "asks": [], "checksum": -1}]}',
        '{"channel": "book", "type": "update", "data": [{"symbol": "BTC/USD", "bids": [], "asks": []}]}',
        '{"method": "subscribe", "success": true}',
        '{"method": "subscribe", "success": true, "result": {"channel": "book"}}',
        '{"success": true}',
    ],
)
def test_a_malformed_frame_is_a_decode_error_and_no_event(raw: str | bytes) -> None:
    session = holding("BTC/USD")
    received = session.receive(raw, NOW)
    assert received.events == [] and len(received.errors) == 1
    (error,) = received.errors
    assert isinstance(error, DecodeError) and not isinstance(error, UnknownMessageType)
    assert "kraken" in str(error)


def test_a_malformed_update_changes_nothing() -> None:
    session = holding("MATIC/USD")
    feed(session, sample(14))
    bad = sample(15).replace('"asks":[]', '"asks":[{"price":0.5668,"qty":"lots"}]')
    assert session.receive(bad, NOW).errors
    (line,) = feed(session, sample(15))  # the book is as before: its checksum matches
    assert line["asks"][0] == [0.5668, 4410.79769741]


@pytest.mark.parametrize(
    "raw",
    ['{"channel": "instrument", "data": []}', '{"method": "edit_order", "success": true}'],
)
def test_an_unknown_channel_or_method_is_skipped_not_an_error(raw: str) -> None:
    received = holding("BTC/USD").receive(raw, NOW)
    (error,) = received.errors
    assert isinstance(error, UnknownMessageType) and received.events == []


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
row_fields = st.sampled_from(
    [
        "symbol",
        "last",
        "bid",
        "ask",
        "qty",
        "trade_id",
        "timestamp",
        "bids",
        "asks",
        "checksum",
        "connection_id",
        "system",
    ]
)
row_values = st.one_of(
    json_values,
    st.sampled_from(["BTC/USD", 1, 0, 2.5, "2023-09-25T09:04:31.742648Z", 7]),
    st.lists(
        st.fixed_dictionaries(
            {"price": st.sampled_from([1, 2.5, 0]), "qty": st.sampled_from([0, 1, 2.0])}
        ),
        max_size=3,
    ),
)
rows = st.dictionaries(row_fields, row_values, max_size=6)
messages = st.one_of(
    st.fixed_dictionaries(
        {
            "channel": st.sampled_from(
                ["ticker", "trade", "book", "heartbeat", "status", "level3"]
            ),
            "type": st.sampled_from(["snapshot", "update", "other"]),
            "data": st.lists(rows, max_size=3) | json_values,
        }
    ),
    st.fixed_dictionaries(
        {
            "method": st.sampled_from(["subscribe", "unsubscribe", "pong", "ping"]),
            "success": st.sampled_from([True, False, None]),
            "result": st.dictionaries(
                st.sampled_from(["channel", "symbol"]),
                st.sampled_from(["ticker", "book", "BTC/USD", 3]),
                max_size=2,
            )
            | json_values,
            "error": st.text(max_size=30),
            "symbol": st.sampled_from(["BTC/USD", "XBT/USD"]),
            "req_id": st.integers(0, 6) | json_values,
        }
    ),
)


@given(st.lists(st.one_of(messages, st.binary(max_size=40)), max_size=6))
def test_whatever_arrives_no_exception_and_every_event_keeps_the_contract(
    incoming: list[dict[str, Any] | bytes],
) -> None:
    session = KrakenSession()
    session.subscribe("s", ["BTC/USD"], ALL, "realtime", None, None)
    for message in incoming:
        raw = message if isinstance(message, bytes) else json.dumps(message)
        received = session.receive(raw, NOW)
        assert isinstance(received, Received)
        for event in received.events:
            assert check_event({**event, "source": "kraken", "received": NOW}) == []


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_bytes_or_text_give_errors_never_an_exception(raw: bytes | str) -> None:
    received = holding("BTC/USD").receive(raw, NOW)
    assert received.events == []
    assert len(received.errors) <= 1 and not received.replies
