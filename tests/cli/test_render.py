"""Rendering: a board and stats in, rich renderables out, checked as the text a terminal shows."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console, RenderableType
from rich.style import Style

from argus_cli.cli.board import Board, View
from argus_cli.cli.render import (
    SPARKS,
    STALE_AFTER,
    STATUS_LINES,
    render_board,
    render_stats_table,
    render_status,
    sparkline,
)

NOW = 1_000.0


def text_of(renderable: RenderableType, width: int = 160) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    output = console.file.getvalue()
    assert isinstance(output, str)
    return output


def style_of(renderable: RenderableType, needle: str, width: int = 160) -> Style:
    """The style of the first rendered segment that is ``needle`` (padding aside)."""
    console = Console(file=io.StringIO(), width=width)
    for segment in console.render(renderable):
        if segment.text.strip() == needle:
            return segment.style or Style()
    raise AssertionError(f"{needle!r} not rendered")


def line_with(output: str, needle: str) -> str:
    return next(line for line in output.splitlines() if needle in line)


def price(symbol: str, value: float, at: float = NOW) -> dict[str, Any]:
    return {
        "type": "price",
        "symbol": symbol,
        "price": value,
        "bid": value - 0.01,
        "ask": value + 0.01,
        "received": at,
    }


STATS: dict[str, Any] = {
    "state": "connected",
    "url": "ws://127.0.0.1:9001/ws",
    "connection_id": "0123456789abcdef",
    "uptime": "0:01:02.345678",
    "messages_received": 12_345,
    "messages_per_second": 321.5,
    "latency_p50_ms": 1.23,
    "latency_p99_ms": 4.56,
    "reconnect_count": 3,
    "gaps": 2,
    "errors": 0,
}


# --- sparkline ----------------------------------------------------------------------------


def test_sparkline_needs_two_points() -> None:
    assert sparkline([]) == ""
    assert sparkline([5.0]) == ""


def test_sparkline_flat_series_is_a_middle_bar() -> None:
    assert sparkline([2.0, 2.0, 2.0]) == SPARKS[3] * 3


def test_sparkline_spans_lowest_to_highest() -> None:
    line = sparkline([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    assert line == SPARKS
    assert sparkline([10.0, 0.0, 10.0]) == SPARKS[-1] + SPARKS[0] + SPARKS[-1]


# --- the table ----------------------------------------------------------------------------


def test_rows_show_symbols_and_formatted_prices() -> None:
    board = Board(["AAPL", "MSFT"])
    board.update(price("AAPL", 1234.5, NOW - 1))
    board.update(price("AAPL", 1236.0, NOW - 0.4))
    volume = {"type": "volume", "symbol": "AAPL", "volume": 1500, "total_volume": 1_234_567}
    board.update({**volume, "received": NOW})
    out = text_of(render_board(board, STATS, NOW))
    header = line_with(out, "Symbol")
    for column in ("Last", "Chg", "Chg%", "Bid", "Ask", "Spread", "Size", "Volume", "Age", "Trend"):
        assert column in header
    assert "Bid Sz" not in header  # no book, no depth columns
    aapl = line_with(out, "AAPL")
    cells = ("1,236.00", "+1.50", "+0.12%", "1,235.99", "1,236.01", "0.02", "1,500", "1,234,567")
    for cell in cells:
        assert cell in aapl, cell
    assert "0ms" in aapl  # updated at NOW
    msft = line_with(out, "MSFT")
    assert "—" in msft and "1,236" not in msft  # no data yet


def test_falling_price_is_red_with_a_minus_sign_rising_is_green() -> None:
    board = Board(["DOWN", "UP"])
    board.update(price("DOWN", 50.0))
    board.update(price("DOWN", 47.5))
    board.update(price("UP", 10.0))
    board.update(price("UP", 11.0))
    out = text_of(render_board(board, STATS, NOW))
    assert "-2.50" in line_with(out, "DOWN") and "-5.00%" in line_with(out, "DOWN")
    assert "+1.00" in line_with(out, "UP") and "+10.00%" in line_with(out, "UP")
    rendered = render_board(board, STATS, NOW)
    assert style_of(rendered, "-2.50").color is not None
    assert style_of(rendered, "-2.50").color.name == "red"  # type: ignore[union-attr]
    assert style_of(rendered, "+1.00").color.name == "green"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("age", "shown"), [(0.25, "250ms"), (3.0, "3.0s"), (119.0, "119.0s"), (600.0, "10m")]
)
def test_age_column_units(age: float, shown: str) -> None:
    board = Board(["AAPL"])
    board.update(price("AAPL", 1.0, NOW - age))
    assert shown in line_with(text_of(render_board(board, STATS, NOW)), "AAPL")


def test_stale_and_empty_rows_are_dimmed_fresh_ones_are_not() -> None:
    board = Board(["OLD", "NEW", "NONE"])
    board.update(price("OLD", 1.0, NOW - STALE_AFTER - 1))
    board.update(price("NEW", 1.0, NOW - 0.5))
    rendered = render_board(board, STATS, NOW)
    assert style_of(rendered, "OLD").dim
    assert style_of(rendered, "NONE").dim
    assert not style_of(rendered, "NEW").dim


def test_rows_that_do_not_fit_are_summarised_in_a_caption() -> None:
    symbols = [f"S{i:02d}" for i in range(30)]
    board = Board(symbols)
    for symbol in symbols:
        board.update(price(symbol, 100.0))
    height = 20
    out = text_of(render_board(board, STATS, NOW, height))
    # header + (rows - 1) + caption + status panel fill the height exactly
    shown = height - 1 - STATUS_LINES - 1
    assert f"… and {30 - shown} more symbols" in out
    assert f"S{shown - 1:02d}" in out and f"S{shown:02d}" not in out
    assert len(out.splitlines()) <= height


def test_everything_fits_without_a_height() -> None:
    symbols = [f"S{i:02d}" for i in range(30)]
    out = text_of(render_board(Board(symbols), STATS, NOW))
    assert "more symbols" not in out
    assert all(symbol in out for symbol in symbols)


def test_a_last_error_line_costs_a_table_row() -> None:
    symbols = [f"S{i:02d}" for i in range(30)]
    stats = {**STATS, "state": "reconnecting", "last_error": "connection reset"}
    out = text_of(render_board(Board(symbols), stats, NOW, 20))
    assert "… and 17 more symbols" in out  # one fewer row than without the error line
    assert len(out.splitlines()) <= 20


def test_single_symbol_with_a_book_shows_depth_and_the_book_panel() -> None:
    board = Board(["AAPL"])
    board.update(price("AAPL", 100.0))
    board.update(
        {
            "type": "orderbook",
            "symbol": "AAPL",
            "bids": [[99.5, 1200], [99.4, 800]],
            "asks": [[100.5, 300], [100.6, 700]],
            "received": NOW,
        }
    )
    out = text_of(render_board(board, STATS, NOW))
    assert "Bid Sz" in line_with(out, "Symbol") and "Ask Sz" in line_with(out, "Symbol")
    assert "AAPL book" in out
    assert "1,200" in line_with(out, "99.50") and "300" in line_with(out, "100.50")
    assert "700" in line_with(out, "100.60")


# --- the status panel ---------------------------------------------------------------------


def test_status_shows_connection_and_counters() -> None:
    out = text_of(render_status(STATS))
    assert "argus" in out
    assert "● connected" in out
    assert "ws://127.0.0.1:9001/ws" in out
    assert "conn 01234567 " in out  # the id cut to 8 characters
    assert "uptime 0:01:02 " in out  # fractions of a second dropped
    assert "msgs 12,345" in out and "rate 321.5/s" in out
    assert "latency p50 1.2 ms  p99 4.6 ms" in out
    assert "reconnects 3" in out and "gaps 2" in out and "errors 0" in out


def test_status_without_data_uses_placeholders() -> None:
    out = text_of(render_status({}))
    assert "● ?" in out and "conn —" in out and "latency —" in out
    assert "msgs 0" in out and "uptime 0:00:00" in out


def test_last_error_shown_only_while_not_connected() -> None:
    failing = {**STATS, "state": "reconnecting", "last_error": "connection reset by peer"}
    assert "last error: connection reset by peer" in text_of(render_status(failing))
    healed = {**failing, "state": "connected"}
    assert "last error" not in text_of(render_status(healed))


def test_state_and_problem_counters_are_coloured() -> None:
    panel = render_status({**STATS, "state": "error", "errors": 4})
    assert style_of(panel, "error").color.name == "red"  # type: ignore[union-attr]
    assert style_of(panel, "4").bold and style_of(panel, "4").color.name == "red"  # type: ignore[union-attr]
    calm = render_status({**STATS, "state": "connected"})
    assert style_of(calm, "connected").color.name == "green"  # type: ignore[union-attr]


# --- argus stats --------------------------------------------------------------------------


def test_stats_table_one_line_per_stream() -> None:
    streams: list[dict[str, Any]] = [
        {
            "pid": 4242,
            "profile": "dev",
            "symbols": ["A", "B", "C", "D", "E", "F", "G", "H"],
            "state": "connected",
            "uptime": "1:00:00.500",
            "messages_received": 99,
            "url": "ws://host/ws",
        },
        {"pid": 4343, "symbols": ["AAPL"], "state": "reconnecting"},
    ]
    out = text_of(render_stats_table(streams), width=200)
    header = line_with(out, "PID")
    for column in ("Profile", "Symbols", "State", "Uptime", "Msgs", "Reconn", "Server"):
        assert column in header
    first = line_with(out, "4242")
    assert "A,B,C,D,E,F…" in first and "G" not in first.split("…")[0]
    assert "1:00:00 " in first and ".500" not in first
    assert "ws://host/ws" in first and "dev" in first
    second = line_with(out, "4343")
    assert "AAPL" in second and "…" not in second and "reconnecting" in second
    assert "—" in second  # missing fields


def test_stats_table_with_no_streams_has_only_the_header() -> None:
    out = text_of(render_stats_table([]), width=200)
    assert len([line for line in out.splitlines() if line.strip()]) == 1


def test_several_sources_get_a_source_column_and_a_status_each() -> None:
    board = Board(["BTC-USD", "BTC/USD", "AAPL"], ["coinbase", "kraken", "alpaca"])
    board.update({**price("BTC-USD", 50_000.0), "source": "coinbase"})
    board.update({**price("BTC/USD", 50_010.0), "source": "kraken"})
    board.update({**price("BTC-USD", 1.0), "source": "kraken"})  # not a row of kraken's
    stats = [
        {**STATS, "source": "coinbase"},
        {**STATS, "source": "kraken", "state": "reconnecting"},
    ]
    out = text_of(render_board(board, stats, NOW))
    header = next(line for line in out.splitlines() if "Symbol" in line)
    assert header.split()[:2] == ["Source", "Symbol"]
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()}
    assert rows["coinbase"][1:3] == ["BTC-USD", "50,000.00"]
    assert rows["kraken"][1:3] == ["BTC/USD", "50,010.00"]
    assert rows["alpaca"][1:3] == ["AAPL", "—"]  # nothing yet: blank, not zero
    assert "coinbase ● connected" in out and "kraken ● reconnecting" in out


def test_a_quote_without_a_price_leaves_last_blank_and_sets_bid_ask() -> None:
    """Binance bookTicker: bid and ask, no last price (never a made-up one)."""
    board = Board(["BNBUSDT"])
    board.update(
        {"type": "price", "symbol": "BNBUSDT", "bid": 25.35, "ask": 25.37, "received": NOW}
    )
    row = board.rows["BNBUSDT"]
    assert (row.last, row.bid, row.ask) == (None, 25.35, 25.37)
    assert not row.trend
    board.update({"type": "volume", "symbol": "BNBUSDT", "volume": 3.0, "received": NOW})
    assert (row.size, row.total_volume) == (3.0, None)


def test_one_source_has_no_source_column() -> None:
    board = Board(["AAPL"], ["argus"])
    assert "Source" not in text_of(render_board(board, STATS, NOW))


# --- session high/low, keys, books -------------------------------------------------------


def header_of(out: str) -> list[str]:
    return line_with(out, "Symbol").split()


def test_high_and_low_are_shown_and_dropped_before_the_sizes() -> None:
    board = Board(["AAPL"])
    for value in (100.0, 104.5, 98.25, 101.0):
        board.update(price("AAPL", value))
    wide = text_of(render_board(board, STATS, NOW), 200)
    assert {"High", "Low"} <= set(header_of(wide))
    cells = line_with(wide, "AAPL").split()
    assert cells[header_of(wide).index("High")] == "104.50"
    assert cells[header_of(wide).index("Low")] == "98.25"
    narrow = set(header_of(text_of(render_board(board, STATS, NOW), 80)))
    assert not {"High", "Low", "Trend"} & narrow  # Trend, then High and Low go first
    assert {"Bid", "Ask", "Chg%"} <= narrow


@pytest.mark.parametrize("width", [80, 120, 200])
def test_an_orderbook_only_stream_hides_the_columns_it_cannot_fill(width: int) -> None:
    board = Board(["AAPL", "MSFT"])
    board.data_types = frozenset({"orderbook"})
    for symbol in ("AAPL", "MSFT"):
        for at in (NOW - 1, NOW):
            board.update({"type": "orderbook", "symbol": symbol, "bids": [[99.5, 100]],
                          "asks": [[100.5, 200]], "received": at})  # fmt: skip
    out = text_of(render_board(board, STATS, NOW, 40), width)
    header = line_with(out, "Symbol")
    assert header.split()[:4] == ["Symbol", "Bid", "Ask", "Spread"]
    for hidden in ("Last", "Chg", "High", "Low", "Size", "Volume", "Trend"):
        assert hidden not in header.split(), hidden
    assert "0.4" in line_with(out, "AAPL").split()  # two book updates in 5 s: Upd/s 0.4


def test_the_sorted_column_has_an_arrow_and_the_footer_shows_the_keys() -> None:
    board = Board(["MSFT", "AAPL"])
    board.update(price("MSFT", 425.0))
    board.update(price("AAPL", 228.0))
    view = View(keys=True, sort="Last")
    out = text_of(render_board(board, STATS, NOW, 30, view=view), 120)
    header = line_with(out, "Symbol")
    unsorted = line_with(text_of(render_board(board, STATS, NOW), 120), "Symbol")
    assert "▼Last" in header  # in the gap: no column moves for it
    assert header.index("Last") == unsorted.index("Last") and len(header) == len(unsorted)
    lines = out.splitlines()
    assert lines.index(line_with(out, "MSFT")) < lines.index(line_with(out, "AAPL"))
    assert "sort Last ▼" in out and "q quit" in out and "PAUSED" not in out
    view.paused, view.help = True, True
    paused = text_of(render_board(board, STATS, NOW, 30, view=view), 80)
    assert "PAUSED" in line_with(paused, "sort Last")
    assert "g/G top/bottom" in paused
    assert all(len(line) <= 80 for line in paused.splitlines())
    assert "q quit" not in text_of(render_board(board, STATS, NOW, 30, view=View()), 120)


def test_rows_that_do_not_fit_scroll_with_keys() -> None:
    symbols = [f"S{i:02d}" for i in range(30)]
    board = Board(symbols)
    for symbol in symbols:
        board.update(price(symbol, 100.0))
    view = View(keys=True)
    height = 20
    out = text_of(render_board(board, STATS, NOW, height, view=view))
    page = height - 1 - STATUS_LINES - 1 - 1  # the footer takes a line
    assert f"rows 1-{page} of 30" in out and "more symbols" not in out
    assert view.page == page and view.total == 30
    view.scroll(5)
    out = text_of(render_board(board, STATS, NOW, height, view=view))
    assert f"rows 6-{page + 5} of 30" in out
    assert "S05" in out and "S04" not in out
    view.scroll(100)
    out = text_of(render_board(board, STATS, NOW, height, view=view))
    assert "of 30" in out and "S29" in out and len(out.splitlines()) <= height


def books_of(symbols: list[str]) -> Board:
    board = Board(symbols)
    board.data_types = frozenset({"orderbook"})
    for i, symbol in enumerate(symbols):
        base = 100.0 + i
        board.update({"type": "orderbook", "symbol": symbol,
                      "bids": [[base - 0.01 * k, 100 * (k + 1)] for k in range(1, 6)],
                      "asks": [[base + 0.01 * k, 10 * (k + 1)] for k in range(1, 6)],
                      "received": NOW})  # fmt: skip
    return board


@pytest.mark.parametrize(("width", "across"), [(80, 3), (120, 4), (200, 6)])
def test_several_books_show_their_top_three_levels_side_by_side(width: int, across: int) -> None:
    symbols = [f"SYM{i}" for i in range(6)]
    out = text_of(render_board(books_of(symbols), STATS, NOW, 40), width)
    assert "books, top 3 levels" in out and " book\n" not in out
    assert all(len(line) <= width for line in out.splitlines())
    first_band = next(line for line in out.splitlines() if line.startswith("│ SYM0"))
    assert first_band.split()[1 : across + 1] == symbols[:across]
    level = line_with(out, "99.99")  # SYM0's best bid, its first level
    assert "100.01" in level and "200" in level
    assert "99.96" not in out  # the fourth level is not shown
    for symbol in symbols:
        assert symbol in out


def test_books_that_do_not_fit_the_height_are_counted_in_the_title() -> None:
    symbols = [f"SYM{i}" for i in range(12)]
    out = text_of(render_board(books_of(symbols), STATS, NOW, 24), 80)
    assert "books, top 3 levels, 3 of 12" in out
    assert len(out.splitlines()) <= 24


def test_one_symbol_keeps_its_full_book_panel() -> None:
    out = text_of(render_board(books_of(["AAPL"]), STATS, NOW, 40), 120)
    assert "AAPL book" in out and "books, top" not in out
    assert "99.95" in out  # every level
