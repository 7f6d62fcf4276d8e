"""check_event: the normalized-event contract, every problem reported."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from argus_cli.events import MAX_BOOK_LEVELS, MAX_SEQ, check_event

STAMPS = {"source": "argus", "received": 1764000000.2}

# The examples of PROTOCOL.md, with the two fields the client adds.
PRICE = {
    "type": "price",
    "sub": "my_subscription",
    "symbol": "AAPL",
    "price": 189.12,
    "bid": 189.11,
    "ask": 189.13,
    "timestamp": 1764000000.123456,
    "seq": 1234,
    **STAMPS,
}
VOLUME = {
    "type": "volume",
    "sub": "my_subscription",
    "symbol": "AAPL",
    "volume": 300,
    "total_volume": 1203400,
    "timestamp": 1764000000.123456,
    "seq": 1234,
    **STAMPS,
}
ORDERBOOK = {
    "type": "orderbook",
    "sub": "my_subscription",
    "symbol": "AAPL",
    "bids": [[189.11, 500], [189.10, 1200]],
    "asks": [[189.13, 400], [189.14, 900]],
    "timestamp": 1764000000.123456,
    "seq": 1234,
    **STAMPS,
}
GAP = {
    "type": "gap",
    "symbol": "AAPL",
    "from_seq": 1235,
    "to_seq": 1999,
    "reason": "not_in_buffer",
    **STAMPS,
}
EXAMPLES = [PRICE, VOLUME, ORDERBOOK, GAP]


def _with(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**event, **changes}


def _without(event: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in keys}


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e["type"])
def test_the_protocol_examples_keep_the_contract(event: dict[str, Any]) -> None:
    assert check_event(event) == []


@pytest.mark.parametrize(
    "event",
    [
        _with(GAP, to_seq=None, reason="server_restart"),
        _with(GAP, from_seq=5, to_seq=5),
        _with(GAP, reason="sequence_jump", sub="s1", data_type="price"),
        _without(PRICE, "seq", "bid", "ask", "timestamp"),  # a provider without them
        _with(PRICE, seq=MAX_SEQ, source="coinbase"),
        _with(ORDERBOOK, bids=[], asks=[]),
        _with(ORDERBOOK, bids=[[1.0, 1]] * MAX_BOOK_LEVELS, asks=[[2.0, 1]] * MAX_BOOK_LEVELS),
        _with(PRICE, price=189),  # an int is a number
    ],
)
def test_accepts(event: dict[str, Any]) -> None:
    assert check_event(event) == []


@pytest.mark.parametrize(
    ("event", "needle"),
    [
        (_without(PRICE, "source"), "source"),
        (_without(GAP, "received"), "received"),
        (_with(PRICE, source=""), "source"),
        (_with(PRICE, received="now"), "received"),
        (_with(PRICE, price=math.nan), "price"),
        (_with(PRICE, price=math.inf), "price"),
        (_with(VOLUME, volume=-math.inf), "volume"),
        (_with(PRICE, bid=math.nan), "bid"),
        (_with(PRICE, received=math.inf), "received"),
        (_with(PRICE, price=True), "price"),
        (_with(VOLUME, total_volume=False), "total_volume"),
        (_with(PRICE, seq=0), "seq"),
        (_with(PRICE, seq=2**63), "seq"),
        (_with(PRICE, seq=True), "seq"),
        (_with(PRICE, seq=12.0), "seq"),
        (_with(GAP, from_seq=0), "from_seq"),
        (_with(GAP, to_seq=2**63), "from_seq"),
        (_with(GAP, from_seq=10, to_seq=9), "from_seq"),
        (_without(GAP, "reason"), "reason"),
        (_with(ORDERBOOK, bids=[[1.0, 1]] * (MAX_BOOK_LEVELS + 1)), "at most 10"),
        (_with(ORDERBOOK, asks=[[200.0, 1]] * (MAX_BOOK_LEVELS + 1)), "at most 10"),
        (_with(ORDERBOOK, bids=[[189.13, 1]]), "crossed"),
        (_with(ORDERBOOK, bids=[[190.0, 1]]), "crossed"),
        (_with(ORDERBOOK, bids=[[1.0, True]]), "bids"),
        (_with(ORDERBOOK, asks=[[1.0]]), "asks"),
        (_without(ORDERBOOK, "asks"), "asks"),
        (_with(PRICE, sub=7), "sub"),
        (_without(VOLUME, "symbol"), "symbol"),
    ],
)
def test_rejects(event: dict[str, Any], needle: str) -> None:
    problems = check_event(event)
    assert len(problems) == 1, problems
    assert needle in problems[0]


@pytest.mark.parametrize("kind", ["trade", None, "", "Price", 1])
def test_rejects_an_unknown_type(kind: Any) -> None:
    problems = check_event(_with(PRICE, type=kind))
    assert len(problems) == 1 and "type" in problems[0]
    assert check_event(_without(PRICE, "type")) != []


def test_returns_every_problem_not_just_the_first() -> None:
    event = _without(PRICE, "source", "received")
    event.update(price=math.nan, seq=0, bid=True)
    problems = check_event(event)
    assert len(problems) == 5, problems
    for needle in ("source", "received", "price", "bid", "seq"):
        assert any(needle in p for p in problems), needle
    gap = _without(GAP, "source", "reason")
    gap.update(from_seq=0)
    assert len(check_event(gap)) == 3


def test_parse_lines_holds_every_line_to_the_contract() -> None:
    from argus_cli.testing.lines import MalformedLine, parse_lines

    good = '{"type":"price","symbol":"AAPL","price":1.5,"source":"argus","received":1.0}'
    assert parse_lines(good + "\n" + good) == [json.loads(good)] * 2
    with pytest.raises(MalformedLine, match="line 2"):
        parse_lines(good + '\n{"type":"price","symbol":"AAPL","price":"1.5"}')
    with pytest.raises(MalformedLine, match="not JSON"):
        parse_lines("{")
