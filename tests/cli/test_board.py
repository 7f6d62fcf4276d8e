"""The market board: messages in, the latest state per symbol out. Pure, tested with data."""

from __future__ import annotations

from typing import Any

import pytest

from argus_cli.cli.board import RATE_WINDOW, TREND_POINTS, TREND_STEP, Board, Row


def price(symbol: str, value: float, at: float, spread: float = 0.02) -> dict[str, Any]:
    return {
        "type": "price",
        "symbol": symbol,
        "price": value,
        "bid": value - spread / 2,
        "ask": value + spread / 2,
        "received": at,
    }


def test_first_price_fills_the_row_and_change_is_zero() -> None:
    board = Board(["AAPL", "MSFT"])
    board.update(price("AAPL", 100.0, at=10.0))
    row = board.rows["AAPL"]
    assert (row.first, row.last, row.bid, row.ask) == (100.0, 100.0, 99.99, 100.01)
    assert row.change == 0
    assert row.change_pct == 0
    assert row.spread == pytest.approx(0.02)
    assert row.updated == 10.0
    assert board.rows["MSFT"].last is None  # other rows untouched


def test_change_is_measured_from_the_first_price() -> None:
    board = Board(["AAPL"])
    for value, at in ((200.0, 1.0), (190.0, 2.0), (210.0, 3.0)):
        board.update(price("AAPL", value, at))
    row = board.rows["AAPL"]
    assert row.first == 200.0 and row.last == 210.0
    assert row.change == pytest.approx(10.0)
    assert row.change_pct == pytest.approx(5.0)


def test_an_empty_row_has_no_derived_figures() -> None:
    row = Row("AAPL")
    assert row.change is None and row.change_pct is None and row.spread is None
    assert row.age(100.0) is None
    assert row.rate(100.0) == 0


def test_change_pct_from_a_zero_first_price_is_unknown() -> None:
    board = Board(["ZERO"])
    board.update(price("ZERO", 0.0, 1.0))
    board.update(price("ZERO", 5.0, 2.0))
    assert board.rows["ZERO"].change == 5.0
    assert board.rows["ZERO"].change_pct is None


def test_messages_for_other_symbols_are_ignored() -> None:
    board = Board(["AAPL"])
    board.update(price("TSLA", 100.0, 1.0))
    board.update({"type": "price"})  # no symbol at all
    assert list(board.rows) == ["AAPL"]
    assert board.rows["AAPL"].last is None


def test_volume_sets_size_and_total() -> None:
    board = Board(["AAPL"])
    board.update(
        {"type": "volume", "symbol": "AAPL", "volume": 300, "total_volume": 9_000, "received": 4.0}
    )
    row = board.rows["AAPL"]
    assert (row.size, row.total_volume, row.updated) == (300, 9_000, 4.0)
    assert row.last is None  # a volume is not a trade price


def test_orderbook_sets_depth_and_top_of_book() -> None:
    board = Board(["AAPL"])
    board.update(price("AAPL", 100.0, 1.0))
    book = {
        "type": "orderbook",
        "symbol": "AAPL",
        "bids": [[99.5, 10], [99.4, 20]],
        "asks": [[100.5, 30], [100.6, 40]],
        "received": 2.0,
    }
    board.update(book)
    row = board.rows["AAPL"]
    assert (row.bid, row.ask, row.bid_size, row.ask_size) == (99.5, 100.5, 10, 30)
    assert row.bids == [[99.5, 10], [99.4, 20]] and len(row.asks) == 2
    assert row.spread == pytest.approx(1.0)
    assert row.updated == 2.0


def test_an_empty_book_keeps_the_last_bid_and_ask() -> None:
    board = Board(["AAPL"])
    board.update(price("AAPL", 100.0, 1.0))
    board.update({"type": "orderbook", "symbol": "AAPL", "bids": [], "asks": [], "received": 2.0})
    row = board.rows["AAPL"]
    assert row.bid_size is None and row.ask_size is None
    assert (row.bid, row.ask) == (99.99, 100.01)


def test_gaps_are_kept_newest_twenty() -> None:
    board = Board(["AAPL"])
    for n in range(25):
        board.update({"type": "gap", "symbol": "AAPL", "from_seq": n, "to_seq": n})
    assert len(board.gaps) == 20
    assert [g["from_seq"] for g in board.gaps] == list(range(5, 25))


def test_trend_samples_once_per_step_and_keeps_the_latest_price_in_a_step() -> None:
    board = Board(["AAPL"])
    board.update(price("AAPL", 1.0, 100.0))
    board.update(price("AAPL", 2.0, 100.0 + TREND_STEP / 2))  # same step: replaces
    board.update(price("AAPL", 3.0, 100.0 + TREND_STEP))  # next step: appends
    assert list(board.rows["AAPL"].trend) == [2.0, 3.0]


def test_trend_is_bounded() -> None:
    board = Board(["AAPL"])
    for i in range(TREND_POINTS + 10):
        board.update(price("AAPL", float(i), i * TREND_STEP))
    trend = list(board.rows["AAPL"].trend)
    assert len(trend) == TREND_POINTS
    assert trend[-1] == TREND_POINTS + 9


def test_rate_counts_updates_inside_the_window_only() -> None:
    board = Board(["AAPL"])
    for i in range(10):
        board.update(price("AAPL", 100.0, 1.0 + i * 0.1))  # 10 updates in 1 s
    row = board.rows["AAPL"]
    assert row.rate(2.0) == pytest.approx(10 / RATE_WINDOW)
    assert row.rate(1.0 + RATE_WINDOW + 0.45) == pytest.approx(5 / RATE_WINDOW)  # 5 aged out
    assert row.rate(100.0) == 0


def test_age_is_time_since_the_last_update_never_negative() -> None:
    board = Board(["AAPL"])
    board.update(price("AAPL", 100.0, 50.0))
    row = board.rows["AAPL"]
    assert row.age(52.5) == pytest.approx(2.5)
    assert row.age(49.0) == 0.0  # a clock behind the stamp


def test_book_panel_symbol_only_for_a_single_symbol() -> None:
    assert Board(["AAPL"]).book_symbol == "AAPL"
    assert Board(["AAPL", "MSFT"]).book_symbol is None


def test_update_frame_applies_messages_in_order() -> None:
    board = Board(["AAPL", "MSFT"])
    board.update_frame([price("AAPL", 1.0, 1.0), price("MSFT", 2.0, 1.0), price("AAPL", 3.0, 1.1)])
    assert board.rows["AAPL"].last == 3.0 and board.rows["AAPL"].first == 1.0
    assert board.rows["MSFT"].last == 2.0


def test_session_high_and_low_follow_the_last_price() -> None:
    board = Board(["AAPL"])
    assert board.rows["AAPL"].high is None and board.rows["AAPL"].low is None
    for value, at in ((200.0, 1.0), (210.0, 2.0), (190.0, 3.0), (205.0, 4.0)):
        board.update(price("AAPL", value, at))
    row = board.rows["AAPL"]
    assert (row.high, row.low, row.last) == (210.0, 190.0, 205.0)
    board.update({"type": "price", "symbol": "AAPL", "bid": 300.0, "received": 5.0})
    assert (row.high, row.low) == (210.0, 190.0)  # a quote without a price: unchanged


def test_book_updates_count_in_the_update_rate() -> None:
    board = Board(["AAPL"])
    book = {"type": "orderbook", "symbol": "AAPL", "bids": [[1.0, 2]], "asks": [[1.1, 3]]}
    for at in (1.0, 2.0, 3.0):
        board.update({**book, "received": at})
    assert board.rows["AAPL"].rate(3.0) == pytest.approx(3 / RATE_WINDOW)


def test_the_subscribed_types_decide_which_columns_can_be_filled() -> None:
    board = Board(["AAPL"])
    assert all(board.can_fill(c) for c in ("Last", "Volume", "Bid", "High", "Upd/s"))
    board.data_types = frozenset({"orderbook"})
    assert [c for c in ("Last", "Chg", "Chg%", "High", "Low", "Trend") if board.can_fill(c)] == []
    assert not board.can_fill("Size") and not board.can_fill("Volume")
    assert all(board.can_fill(c) for c in ("Symbol", "Bid", "Ask", "Spread", "Bid Sz", "Age"))
    board.data_types = frozenset({"price"})
    assert board.can_fill("Last") and board.can_fill("Bid") and not board.can_fill("Volume")
