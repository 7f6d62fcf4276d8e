"""The NATS subject scheme: every symbol survives, wildcards mean what they say."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from argus_cli.protocol import subjects

SYMBOL_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))


@given(st.text(SYMBOL_CHARS, min_size=1, max_size=40))
def test_any_symbol_round_trips_as_one_token(symbol: str) -> None:
    token = subjects.token_for(symbol)
    assert token, symbol
    assert not any(c in token for c in ".*> \t\r\n"), token
    assert subjects.symbol_of(token) == symbol


@pytest.mark.parametrize(
    ("event", "subject"),
    [
        (
            {"source": "coinbase", "type": "price", "symbol": "BTC-USD"},
            "argus.coinbase.price.BTC-USD",
        ),
        (
            {"source": "kraken", "type": "orderbook", "symbol": "BTC/USD"},
            "argus.kraken.orderbook.BTC/USD",
        ),
        ({"source": "argus", "type": "gap", "symbol": "BRK.B"}, "argus.argus.gap.BRK%2EB"),
        ({"source": "argus", "type": "price", "symbol": "50%"}, "argus.argus.price.50%25"),
    ],
)
def test_subjects_read_plainly(event: dict[str, str], subject: str) -> None:
    assert subjects.subject_for(event) == subject
    assert subjects.parse_subject(subject) == (event["source"], event["type"], event["symbol"])


def test_wildcards() -> None:
    subject = subjects.subject_for({"source": "coinbase", "type": "price", "symbol": "BTC-USD"})
    assert subjects.matches("argus.coinbase.*.BTC-USD", subject)
    assert subjects.matches("argus.>", subject)
    assert subjects.matches(">", subject)
    assert subjects.matches("argus.*.price.>", subject)
    assert not subjects.matches("argus.kraken.>", subject)
    assert not subjects.matches("argus.coinbase.price", subject)
    assert not subjects.matches("argus.coinbase.price.BTC-USD.x", subject)
    assert not subjects.matches("argus.coinbase.price.BTC-USD.>", subject)
    assert subjects.filter_subject(None, None, "BRK.B") == "argus.*.*.BRK%2EB"
    assert subjects.matches(subjects.filter_subject("argus", None, None), "argus.argus.gap.X")


def test_bad_subjects_are_refused() -> None:
    for bad in ("nats.a.b.c", "argus.a.b", "argus.a..c", "argus.a.b.%G1"):
        with pytest.raises(subjects.SubjectError):
            subjects.parse_subject(bad)


def test_message_ids_name_one_event_of_one_sequence_space() -> None:
    event = {"source": "argus", "type": "price", "symbol": "AAPL", "seq": 42, "sub": "a"}
    other_sub = {**event, "sub": "b", "received": 1.0}
    assert subjects.msg_id(event) == subjects.msg_id(other_sub) == "argus:AAPL:price:42"
    assert subjects.msg_id(event, "e2") == "argus:AAPL:price:42@e2"
    assert subjects.msg_id(event, "e1") != subjects.msg_id(event, "e2")
    assert subjects.msg_id({**event, "seq": 43}) != subjects.msg_id(event)
    unsequenced = {"source": "coinbase", "type": "price", "symbol": "BTC-USD", "price": 1.0}
    assert subjects.msg_id(unsequenced) is None
    gap = {"source": "argus", "type": "gap", "symbol": "AAPL", "from_seq": 5, "to_seq": 9}
    assert subjects.msg_id(gap) == "argus:AAPL:gap:5-9"
    restart = {**gap, "to_seq": None, "reason": "server_restart"}
    assert subjects.msg_id(restart) == "argus:AAPL:gap:5-:server_restart"
