"""The table at 80, 120 and 200 columns: columns dropped whole in priority order, numbers
never cut, widths that do not jitter, the status panel as wide as the table; once on a
real pseudo-terminal 80 columns wide. And a repaint formats only the rows that changed."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from rich.console import Console

from argus_cli.cli import table
from argus_cli.cli.board import Board
from argus_cli.cli.render import render_board
from tests.cli.helpers import ARGUS, ThreadedSim, argus_env

NOW = 1_000.0
PRICES = {"AAPL": 228.45, "PEPE": 0.000123, "BTC": 67890.12}
SHOWN = {"AAPL": "228.45", "PEPE": "0.000123", "BTC": "67,890.12"}
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


def board_of(**extra: float) -> Board:
    """Three symbols with realistic prices, sizes and a volume; AAPL with a book."""
    board = Board(list(PRICES))
    for symbol, value in PRICES.items():
        board.update(
            {
                "type": "price",
                "symbol": symbol,
                "price": extra.get(symbol, value),
                "bid": value * 0.9999,
                "ask": value * 1.0001,
                "bid_size": 300,
                "ask_size": 1_200,
                "received": NOW - 0.1,
            }
        )
        volume = {"type": "volume", "symbol": symbol, "volume": 120, "total_volume": 1_234_567}
        board.update({**volume, "received": NOW - 0.1})
    book = {"bids": [[228.44, 100], [228.43, 250]], "asks": [[228.46, 90], [228.47, 40]]}
    board.update({"type": "orderbook", "symbol": "AAPL", **book, "received": NOW - 0.1})
    return board


def screen(renderable: Any, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text().splitlines()


def header_of(lines: list[str]) -> str:
    return next(line for line in lines if line.startswith("Symbol"))


EVERY = ("Last", "Chg", "Chg%", "Bid", "Ask", "Spread", "Bid Sz", "Ask Sz", "Size")
EVERY += ("Volume", "Upd/s", "Age", "Trend", "High", "Low")


@pytest.mark.parametrize(
    ("width", "dropped"),
    [
        (
            50,
            {
                "High",
                "Low",
                "Chg",
                "Spread",
                "Bid Sz",
                "Ask Sz",
                "Size",
                "Volume",
                "Upd/s",
                "Age",
                "Trend",
            },
        ),
        (80, {"High", "Low", "Spread", "Bid Sz", "Ask Sz", "Size", "Age", "Trend"}),
        (120, {"High", "Low", "Trend"}),
        (200, set()),
    ],
)
def test_columns_drop_whole_in_priority_order_and_numbers_are_never_cut(
    width: int, dropped: set[str]
) -> None:
    lines = screen(render_board(board_of(), STATS, NOW, 40), width)
    assert all(cell_len(line) <= width for line in lines)
    header = header_of(lines).split("  ")
    assert {name.strip() for name in header if name.strip()} == {"Symbol", *EVERY} - dropped
    for symbol, price in SHOWN.items():
        row = next(line for line in lines if line.startswith(symbol))
        assert price in row.split(), (symbol, row)  # the last price, whole
    assert not any("…" in line for line in lines)
    assert not re.search(r"\d…|…\d", "\n".join(lines))


def test_widths_do_not_move_when_values_get_shorter() -> None:
    board = board_of()
    board.update({"type": "price", "symbol": "BTC", "price": 100_000.5, "received": NOW - 0.1})
    first = screen(render_board(board, STATS, NOW + 0.5), 200)  # ages of 600ms
    board.update({"type": "price", "symbol": "BTC", "price": 67_890.12, "received": NOW + 1.0})
    second = screen(render_board(board, STATS, NOW + 1.01), 200)  # 10ms, shorter figures
    assert header_of(first) == header_of(second)
    header = header_of(second)
    btc = next(line for line in second if line.startswith("BTC"))
    assert "100,000.50" in first[3] and "67,890.12" in btc
    assert btc.index("67,890.12") + 9 == header.index("Last") + 4  # right-aligned under Last
    for age, lines in (("600ms", first), ("10ms", second)):
        line = next(line for line in lines if age in line)
        assert line.index(age) + len(age) == header.index("Age") + 3


@pytest.mark.parametrize("width", [80, 120, 200])
def test_the_status_panel_is_as_wide_as_the_table_on_two_lines_of_whole_fields(
    width: int,
) -> None:
    lines = screen(render_board(board_of(), STATS, NOW, 40), width)
    table = len(header_of(lines))  # the table's width: its header is padded to every column
    top = next(i for i, line in enumerate(lines) if "argus" in line and line.startswith("╭"))
    assert len(lines[top]) == table
    inside = lines[top + 1 : top + 3]
    assert lines[top + 3].startswith("╰")  # two lines inside the border
    text = "\n".join(inside)
    for field in ("● connected", "msgs 12,345", "latency p50 1.2 ms  p99 4.6 ms", "gaps 2"):
        assert field in text, field
    if width > 80:
        assert "conn 01234567" in text and "uptime 0:01:02" in text


def test_a_repaint_formats_only_the_rows_that_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    board = board_of()
    screen(render_board(board, STATS, NOW), 120)
    formatted: list[str] = []
    real = table._format

    def counting(row: Any, before: Any) -> Any:
        formatted.append(row.symbol)
        return real(row, before)

    monkeypatch.setattr(table, "_format", counting)
    screen(render_board(board, STATS, NOW + 0.25), 120)
    assert formatted == []
    board.update({"type": "price", "symbol": "PEPE", "price": 0.000124, "received": NOW + 0.3})
    lines = screen(render_board(board, STATS, NOW + 0.5), 120)
    assert formatted == ["PEPE"]
    assert "0.000124" in next(line for line in lines if line.startswith("PEPE"))


def test_several_sources_at_80_columns_keep_the_source() -> None:
    board = Board(["BTC-USD", "BTC/USD"], ["coinbase", "kraken"])
    board.update({"type": "price", "symbol": "BTC-USD", "source": "coinbase", "price": 67890.12,
                  "bid": 67890.11, "ask": 67890.13, "received": NOW})  # fmt: skip
    lines = screen(render_board(board, [{**STATS, "source": "coinbase"}], NOW, 30), 80)
    assert header_of_source(lines).split()[:3] == ["Source", "Symbol", "Last"]
    assert "67,890.12" in next(line for line in lines if line.startswith("coinbase"))
    assert all(cell_len(line) <= 80 for line in lines)


def test_a_flashing_row_is_reversed_and_keeps_its_columns() -> None:
    board = board_of()
    rendered = render_board(board, STATS, NOW, 40, lambda row, _: row.symbol == "PEPE")
    console = Console(width=80, file=open(os.devnull, "w"))  # noqa: SIM115
    styles = {s.text.strip(): s.style for s in console.render(rendered) if s.text.strip()}
    assert styles["PEPE"] is not None and styles["PEPE"].reverse
    assert styles["AAPL"] is not None and not styles["AAPL"].reverse
    plain = screen(render_board(board, STATS, NOW, 40, lambda row, _: True), 80)
    assert header_of(plain) == header_of(screen(render_board(board, STATS, NOW, 40), 80))


def header_of_source(lines: list[str]) -> str:
    return next(line for line in lines if line.startswith("Source"))


# --- on a real terminal -------------------------------------------------------------------

CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


@pytest.mark.parametrize("width", [80, 120, 200])
def test_the_live_table_fits_a_real_terminal(tmp_path: Path, width: int) -> None:
    env = argus_env(tmp_path, COLUMNS=str(width), LINES="24", TERM="xterm-256color")
    symbols = ["AAPL", "GOOGL", "MSFT"]
    with ThreadedSim(symbols=symbols) as sim:
        pid, fd = pty.fork()
        if pid == 0:  # the child: argus on a WIDTHx24 terminal
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, width, 0, 0))
            os.execvpe(ARGUS[0], [*ARGUS, "stream", *symbols, "--url", sim.url], env)
        raw = b""
        deadline = time.monotonic() + 15
        try:
            while time.monotonic() < deadline:
                if select.select([fd], [], [], 0.1)[0]:
                    try:
                        raw += os.read(fd, 65536)
                    except OSError:
                        break
                # three repaints after the subscriptions answered
                shown = CSI.sub("", raw.decode(errors="replace"))
                if shown.count("connected") >= 3 and re.search(r"MSFT\s+\d", shown):
                    break
            os.kill(pid, signal.SIGINT)
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                raw += chunk
        finally:
            os.waitpid(pid, 0)
            os.close(fd)
    text = CSI.sub("", raw.decode(errors="replace"))
    lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
    assert lines and all(cell_len(line) <= width for line in lines), max(lines, key=cell_len)
    for symbol in symbols:
        assert any(re.match(rf"{symbol}\s+[\d,]+\.\d\d\s", line) for line in lines), symbol
    assert "…" not in text and "Traceback" not in text
    header = next(line for line in lines if line.startswith("Symbol"))
    assert "Bid" in header and "Ask" in header and "Chg%" in header
    if width == 80:  # Trend goes first, then High/Low
        assert "Trend" not in header and "High" not in header
    if width == 200:
        assert "Trend" in header and "High" in header and "Low" in header
