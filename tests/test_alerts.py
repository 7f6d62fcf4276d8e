"""Alert rules and crossings (argus_cli.alerts): pure, tested with data."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from argus_cli.alerts import (
    ROUNDING,
    Alert,
    AlertBook,
    AlertRule,
    AlertRuleError,
    observed_price,
    parse_rule,
    parse_rules,
)
from argus_cli.exceptions import ConfigError

SEQ = iter(range(1, 10**9))


def tick(price: float | None = None, symbol: str = "AAPL", source: str = "argus", **more: Any):
    event: dict[str, Any] = {
        "type": "price",
        "sub": "cli-1",
        "symbol": symbol,
        "source": source,
        "received": 1_700_000_000.5,
        "seq": next(SEQ),
    }
    if price is not None:
        event["price"] = price
    event.update(more)
    return event


def run(book: AlertBook, prices: list[float], **kw: Any) -> list[int]:
    """The indexes of ``prices`` that fired something."""
    return [i for i, p in enumerate(prices) if book.observe(tick(p, **kw))]


# -- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "symbol", "op", "level", "percent", "provider", "normal"),
    [
        ("AAPL>230", "AAPL", ">", 230.0, False, None, "AAPL>230"),
        ("aapl >= 230.50", "AAPL", ">=", 230.5, False, None, "AAPL>=230.50"),
        ("TSLA<300", "TSLA", "<", 300.0, False, None, "TSLA<300"),
        (" tsla <= 1e3 ", "TSLA", "<=", 1000.0, False, None, "TSLA<=1e3"),
        ("NVDA%>2", "NVDA", ">", 2.0, True, None, "NVDA%>2"),
        ("nvda % < -2.5", "NVDA", "<", -2.5, True, None, "NVDA%<-2.5"),
        ("coinbase:BTC-USD>100000", "BTC-USD", ">", 100000.0, False, "coinbase", None),
        ("kraken:btc/usd<=50000", "BTC/USD", "<=", 50000.0, False, "kraken", None),
        # Finnhub's own prefix (upper case) is part of the symbol, as in argus stream
        ("BINANCE:BTCUSDT>1", "BINANCE:BTCUSDT", ">", 1.0, False, None, None),
    ],
)
def test_good_rules(
    text: str,
    symbol: str,
    op: str,
    level: float,
    percent: bool,
    provider: str | None,
    normal: str | None,
) -> None:
    rule = parse_rule(text)
    assert (rule.symbol, rule.op, rule.level, rule.percent, rule.provider) == (
        symbol,
        op,
        level,
        percent,
        provider,
    )
    if normal is not None:
        assert rule.text == normal
    assert parse_rule(rule.text) == rule  # the normalized text reads back the same


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("AAPL", "no comparison"),
        ("AAPL 230", "no comparison"),
        ("AAPL=230", "seldom equals"),
        ("AAPL==230", "seldom equals"),
        ("AAPL=>230", "did you mean >="),
        ("AAPL=<230", "did you mean <="),
        ("AAPL>>230", "'>>' is not a comparison"),
        ("AAPL<>230", "is not a comparison"),
        (">230", "no symbol before >"),
        ("AAPL>", "no level after >"),
        ("AAPL>abc", "'abc' is not a number"),
        ("AAPL>nan", "finite"),
        ("AAPL>inf", "finite"),
        ("AAPL>1e999", "finite"),
        ("NVDA>2%", "a percentage rule is written NVDA%>2"),
        ("NVDA>%2", "a percentage rule is written NVDA%>2"),
        ("NVDA%<-100", "cannot move by -100%"),
        ("A APL>1", "invalid symbol 'A APL'"),
        ("AAPL$(touch x)>1", "invalid symbol"),
        ("AA%PL>1", "cannot read it"),
        ("X" * 40 + ">1", "1 to 32 characters"),
    ],
)
def test_bad_rules_name_the_rule_and_the_problem(text: str, says: str) -> None:
    with pytest.raises(AlertRuleError) as caught:
        parse_rule(text)
    assert says in str(caught.value)
    assert repr(text) in str(caught.value)
    assert caught.value.rule == text
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ConfigError)


def test_rules_that_read_the_same_are_kept_once_in_order() -> None:
    rules = parse_rules(["aapl>230", "TSLA<300", "AAPL > 230", "AAPL>230.0", "AAPL>=230"])
    assert [r.text for r in rules] == ["AAPL>230", "TSLA<300", "AAPL>=230"]


def test_parse_rules_stops_at_the_first_bad_one() -> None:
    with pytest.raises(AlertRuleError, match="'TSLA'"):
        parse_rules(["AAPL>1", "TSLA"])


# -- crossings, hysteresis -------------------------------------------------------------


def test_crossing_up_fires_once_and_carries_the_event() -> None:
    book = AlertBook([parse_rule("AAPL>230")])
    assert book.observe(tick(229.0)) == []
    event = tick(230.5, timestamp=1_700_000_000.25)
    [alert] = book.observe(event)
    assert alert.to_dict() == {
        "type": "alert",
        "rule": "AAPL>230",
        "kind": "price",
        "symbol": "AAPL",
        "source": "argus",
        "condition": ">",
        "level": 230.0,
        "price": 230.5,
        "basis": "last",
        "timestamp": 1_700_000_000.25,
        "seq": event["seq"],
        "received": 1_700_000_000.5,
    }
    assert book.observe(tick(231.0)) == []  # still above: a level, not a crossing
    assert book.fired == 1


def test_crossing_down() -> None:
    book = AlertBook([parse_rule("TSLA<300")])
    assert run(book, [310, 305, 299.5, 298, 300.2, 299], symbol="TSLA") == [2]  # band 0.3
    assert run(book, [300.3, 299], symbol="TSLA") == [1]


def test_the_first_price_never_fires_even_if_the_condition_holds() -> None:
    book = AlertBook([parse_rule("AAPL>230")])
    assert run(book, [235, 236, 231]) == []
    # it starts disarmed: back below by the band (0.1% of 230 = 0.23), then up again
    assert run(book, [229.7, 230.1]) == [1]


def test_jitter_around_the_level_fires_once() -> None:
    book = AlertBook([parse_rule("AAPL>230")])
    path = [229.0, 230.01, 229.99, 230.02, 229.9, 230.1, 229.8, 230.05]
    assert run(book, path) == [1]


def test_re_arms_after_the_band() -> None:
    book = AlertBook([parse_rule("AAPL>230")])  # band 0.23
    assert run(book, [229.0, 230.5, 229.78, 230.5]) == [1]  # 0.22 below: not re-armed
    assert run(book, [229.77, 230.5]) == [1]  # 0.23 below: re-armed, fires again


def test_the_band_is_configurable_and_may_be_zero() -> None:
    book = AlertBook([parse_rule("AAPL>230")], price_band=0.0)
    assert run(book, [229.0, 231, 230, 230.01, 229.99, 230.01]) == [1, 3, 5]
    with pytest.raises(ConfigError):
        AlertBook([], price_band=-0.1)
    with pytest.raises(ConfigError):
        AlertBook([], percent_band=float("nan"))


def test_or_equal_operators() -> None:
    up = AlertBook([parse_rule("AAPL>=230")], price_band=0.0)
    assert run(up, [229, 230, 229.99, 230]) == [1, 3]
    down = AlertBook([parse_rule("AAPL<=230")], price_band=0.0)
    assert run(down, [231, 230, 230.01, 230]) == [1, 3]
    strict = AlertBook([parse_rule("AAPL>230")], price_band=0.0)
    assert run(strict, [229, 230, 230.5]) == [2]  # equal is not above


def test_a_gap_that_jumps_over_the_level_is_still_a_crossing() -> None:
    book = AlertBook([parse_rule("AAPL>230"), parse_rule("AAPL<200")])
    assert run(book, [210, 250, 190]) == [1, 2]


# -- percent rules ---------------------------------------------------------------------


def test_percent_rules_measure_from_the_first_price() -> None:
    book = AlertBook([parse_rule("NVDA%>2"), parse_rule("NVDA%<-2")])
    assert book.observe(tick(100.0, symbol="NVDA")) == []
    assert book.observe(tick(101.9, symbol="NVDA")) == []
    [up] = book.observe(tick(102.5, symbol="NVDA"))
    assert up.rule == "NVDA%>2" and up.percent
    assert up.reference == 100.0 and up.change_pct == pytest.approx(2.5)
    assert up.to_dict()["kind"] == "percent" and up.to_dict()["change_pct"] == pytest.approx(2.5)
    [down] = book.observe(tick(97.5, symbol="NVDA"))
    assert down.rule == "NVDA%<-2" and down.change_pct == pytest.approx(-2.5)


def test_percent_hysteresis_is_in_percentage_points() -> None:
    book = AlertBook([parse_rule("NVDA%>2")])  # band 0.1 points
    assert run(book, [100, 102.1, 101.95, 102.1], symbol="NVDA") == [1]  # 0.05 back: no
    assert run(book, [101.9, 102.1], symbol="NVDA") == [1]  # 0.1 back: re-armed


def test_percent_rule_that_holds_at_start_waits_for_a_crossing() -> None:
    book = AlertBook([parse_rule("NVDA%<1")], percent_band=0.0)  # 0 < 1 holds at start
    assert run(book, [100, 99, 101.5, 100.5], symbol="NVDA") == [3]


def test_percent_rules_need_a_positive_reference() -> None:
    book = AlertBook([parse_rule("X%>2"), parse_rule("X>5")])
    assert run(book, [0.0, 10.0, 0.0, 10.0], symbol="X") == [1, 3]  # only the price rule


def test_price_rule_and_percent_rule_and_quotes_json() -> None:
    price_only = Alert("A>1", "A", "argus", ">", 1.0, 2.0, "last", 5.0)
    assert "reference" not in price_only.to_dict() and "timestamp" not in price_only.to_dict()
    assert price_only.time == 5.0


# -- which price --------------------------------------------------------------------------


def test_observed_price() -> None:
    assert observed_price(tick(10.0, bid=9.0, ask=12.0)) == (10.0, "last")
    assert observed_price(tick(bid=9.0, ask=11.0)) == (10.0, "mid")
    assert observed_price(tick(bid=9.0)) is None
    assert observed_price(tick(bid=11.0, ask=9.0)) is None  # crossed: skipped
    assert observed_price(tick(float("nan"))) is None
    assert observed_price(tick(True)) is None  # a bool is not a price
    assert observed_price({"type": "price", "symbol": "A"}) is None


def test_midpoint_on_quote_only_venues() -> None:
    book = AlertBook([parse_rule("BTCUSDT>100")])
    quotes = [(99.0, 100.0), (99.8, 100.0), (100.1, 100.3)]  # mids 99.5, 99.9, 100.2
    fired = [book.observe(tick(symbol="BTCUSDT", bid=b, ask=a)) for b, a in quotes]
    assert [len(f) for f in fired] == [0, 0, 1]
    assert fired[2][0].basis == "mid" and fired[2][0].price == pytest.approx(100.2)
    assert book.observe(tick(symbol="BTCUSDT", bid=100.5)) == []  # half a quote: ignored


def test_a_symbol_with_last_prices_is_watched_on_last_prices_only() -> None:
    book = AlertBook([parse_rule("AAPL>230")], price_band=0.0)
    assert book.observe(tick(bid=228.0, ask=229.0)) == []  # mid 228.5
    assert book.observe(tick(231.0)) == []  # the first last price: a fresh start
    assert book.observe(tick(229.0)) == []
    assert book.observe(tick(bid=230.5, ask=231.5)) == []  # a quote: not this series
    assert len(book.observe(tick(230.5))) == 1


# -- sources, many rules --------------------------------------------------------------------


def test_provider_prefix_watches_that_source_only() -> None:
    book = AlertBook([parse_rule("coinbase:BTC-USD>100")])
    assert run(book, [90, 110], symbol="BTC-USD", source="argus") == []
    assert run(book, [90, 110], symbol="BTC-USD", source="coinbase") == [1]


def test_without_a_prefix_each_source_has_its_own_state() -> None:
    book = AlertBook([parse_rule("BTC-USD>100")])
    assert book.observe(tick(90, "BTC-USD", "coinbase")) == []
    assert book.observe(tick(110, "BTC-USD", "argus")) == []  # argus's first price
    [alert] = book.observe(tick(110, "BTC-USD", "coinbase"))
    assert alert.source == "coinbase"


def test_many_rules_per_symbol_fire_in_order_on_one_event() -> None:
    rules = parse_rules(["AAPL>230", "AAPL>231", "AAPL%>1", "AAPL<200", "MSFT>1"])
    book = AlertBook(rules)
    assert book.observe(tick(228.0)) == []
    alerts = book.observe(tick(232.0))
    assert [a.rule for a in alerts] == ["AAPL>230", "AAPL>231", "AAPL%>1"]
    assert book.symbols == {"AAPL", "MSFT"}


def test_other_events_and_symbols_are_ignored() -> None:
    book = AlertBook([parse_rule("AAPL>1")])
    assert book.observe({"type": "volume", "symbol": "AAPL", "volume": 5}) == []
    assert book.observe({"type": "gap", "symbol": "AAPL"}) == []
    assert book.observe(tick(0.5, symbol="MSFT")) == []
    frame = [tick(0.5), {"type": "volume", "symbol": "AAPL"}, tick(2.0), tick(3.0)]
    assert [a.price for a in book.observe_all(frame)] == [2.0]


def test_an_alert_without_timestamp_or_seq_omits_them() -> None:
    book = AlertBook([parse_rule("AAPL>1")])
    book.observe({"type": "price", "symbol": "AAPL", "source": "x", "price": 0.5, "received": 1})
    [alert] = book.observe({"type": "price", "symbol": "AAPL", "source": "x", "price": 2})
    line = alert.to_dict()
    assert "timestamp" not in line and "seq" not in line and line["received"] == 0.0


# -- the property: crossings only, once per re-arm ---------------------------------------------

prices = st.lists(
    st.floats(min_value=90, max_value=110, allow_nan=False) | st.sampled_from([99.9, 100, 100.1]),
    max_size=60,
)


@given(
    path=prices,
    op=st.sampled_from([">", ">=", "<", "<="]),
    band=st.sampled_from([0.0, 0.001, 0.01]),
)
def test_fires_only_on_crossings_and_once_per_re_arm(
    path: list[float], op: str, band: float
) -> None:
    rule = parse_rule(f"X{op}100")
    book = AlertBook([rule], price_band=band)
    fired = run(book, path, symbol="X")
    width = max(0.0, band * 100 - ROUNDING * 100)  # the book's rounding allowance
    rising = op.startswith(">")
    for i in fired:
        # a crossing: the condition holds now and did not at the previous observation
        assert i > 0 and rule.holds(path[i]) and not rule.holds(path[i - 1])
    for earlier, later in itertools.pairwise(fired):
        # between two alerts the price went back past the level by the band
        between = path[earlier + 1 : later]
        assert any(
            not rule.holds(p) and ((100 - p) if rising else (p - 100)) >= width for p in between
        )
    # and no crossing after a re-arm is missed: the model, step by step
    armed: bool | None = None
    expected = []
    for i, p in enumerate(path):
        holds = rule.holds(p)
        if armed is None:
            armed = not holds
        elif armed and holds:
            expected.append(i)
            armed = False
        elif not armed and not holds and ((100 - p) if rising else (p - 100)) >= width:
            armed = True
    assert fired == expected


def test_rule_dataclass_is_frozen() -> None:
    rule = AlertRule("A>1", "A", ">", 1.0)
    with pytest.raises(AttributeError):
        rule.level = 2.0  # type: ignore[misc]
