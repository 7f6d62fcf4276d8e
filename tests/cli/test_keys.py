"""Keys for the live table: decoding, what each does to the view (pure), the terminal
mode (on a pseudo-terminal pair), and once the real command driven by keys on a pty."""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest

from argus_cli.cli.board import Board, View
from argus_cli.cli.keys import TerminalKeys, apply, decode
from tests.cli.helpers import ARGUS, argus_env


def board_of(types: set[str] | None = None) -> Board:
    board = Board(["MSFT", "AAPL", "GOOGL", "IDLE"])
    for symbol, price, at in (("MSFT", 425.0, 9.0), ("AAPL", 228.0, 9.5), ("GOOGL", 172.0, 8.0)):
        board.update({"type": "price", "symbol": symbol, "price": price, "received": at})
    board.data_types = None if types is None else frozenset(types)
    return board


def symbols(board: Board, view: View | None, now: float = 10.0) -> list[str]:
    return [row.symbol for _, row in board.ordered(view, now)]


# --- decoding -----------------------------------------------------------------------------


def test_keys_and_escape_sequences_decode_to_actions() -> None:
    assert decode(b"sSrp qgG?") == [
        "sort", "sort-back", "reverse", "pause", "pause", "quit", "top", "bottom", "help",
    ]  # fmt: skip
    assert decode(b"j\x1b[Bk\x1b[A\x1bOB") == ["down", "down", "up", "up", "down"]
    assert decode(b"\x1b[6~\x1b[5~") == ["page-down", "page-up"]


def test_unknown_keys_and_sequences_are_skipped_whole() -> None:
    assert decode(b"x\x1b[1;5Cz\x1b[15~s") == ["sort"]  # Ctrl-Right, F5: nothing
    assert decode(b"\x1b") == [] and decode(b"") == []


# --- the view: sort, reverse, pause, scroll -----------------------------------------------


def test_s_cycles_the_sort_forward_and_S_back_through_the_order_given() -> None:
    board, view = board_of(), View()
    seen = []
    for _ in range(7):
        apply(view, "sort", board)
        seen.append(view.sort)
    assert seen == ["Symbol", "Last", "Chg%", "Volume", "Upd/s", "Age", None]
    apply(view, "sort-back", board)
    assert view.sort == "Age"


def test_sorting_orders_the_rows_rows_without_the_figure_last() -> None:
    board, view = board_of(), View()
    assert symbols(board, view) == ["MSFT", "AAPL", "GOOGL", "IDLE"]  # as given
    apply(view, "sort", board)  # Symbol, A to Z
    assert symbols(board, view) == ["AAPL", "GOOGL", "IDLE", "MSFT"]
    apply(view, "sort", board)  # Last, largest first
    assert symbols(board, view) == ["MSFT", "AAPL", "GOOGL", "IDLE"]
    apply(view, "reverse", board)
    assert symbols(board, view) == ["GOOGL", "AAPL", "MSFT", "IDLE"]  # no price: still last
    for _ in range(4):
        apply(view, "sort", board)
    assert view.sort == "Age" and not view.reverse  # a new column starts unreversed
    assert symbols(board, view) == ["GOOGL", "MSFT", "AAPL", "IDLE"]  # the stalest first


def test_an_orderbook_only_board_sorts_only_by_what_it_fills() -> None:
    board, view = board_of({"orderbook"}), View()
    seen = []
    for _ in range(4):
        apply(view, "sort", board)
        seen.append(view.sort)
    assert seen == ["Symbol", "Upd/s", "Age", None]


def test_pause_and_help_toggle() -> None:
    board, view = board_of(), View()
    apply(view, "pause", board)
    assert view.paused
    apply(view, "pause", board)
    assert not view.paused
    apply(view, "help", board)
    assert view.help


def test_scrolling_stays_within_the_rows() -> None:
    board, view = board_of(), View()
    view.fit(total=55, page=10)
    apply(view, "up", board)
    assert view.offset == 0
    apply(view, "down", board)
    apply(view, "down", board)
    assert view.offset == 2
    apply(view, "page-down", board)  # a page keeps one row in sight
    assert view.offset == 11
    apply(view, "bottom", board)
    assert view.offset == 45
    apply(view, "down", board)
    assert view.offset == 45
    apply(view, "page-up", board)
    assert view.offset == 36
    apply(view, "top", board)
    assert view.offset == 0
    view.offset = 40
    assert view.fit(total=20, page=10) == 10  # fewer rows now: back in range
    assert view.fit(total=5, page=5) == 0


def test_a_new_sort_or_direction_starts_at_the_top() -> None:
    board, view = board_of(), View()
    view.fit(total=55, page=10)
    view.scroll(20)
    apply(view, "sort", board)
    assert view.offset == 0


# --- the terminal mode --------------------------------------------------------------------


def lflag(fd: int) -> int:
    mode: Any = termios.tcgetattr(fd)[3]
    assert isinstance(mode, int)
    return mode


def test_keys_are_read_without_echo_or_lines_and_the_mode_comes_back() -> None:
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        got: list[str] = []

        async def main() -> None:
            keys = TerminalKeys(got.extend, slave)
            assert keys.start()
            flags = lflag(slave)
            assert not flags & termios.ECHO and not flags & termios.ICANON
            assert flags & termios.ISIG  # Ctrl-C still interrupts
            os.write(master, b"s\x1b[Bq")
            for _ in range(100):
                if len(got) == 3:
                    break
                await asyncio.sleep(0.01)
            keys.stop()
            keys.stop()  # twice: harmless

        asyncio.run(main())
        assert got == ["sort", "down", "quit"]
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_no_keys_when_standard_input_is_not_a_terminal(tmp_path: Path) -> None:
    with open(tmp_path / "in", "w+b") as file:

        async def main() -> bool:
            return TerminalKeys(lambda _: None, file.fileno()).start()

        assert asyncio.run(main()) is False


# --- the command on a real terminal -------------------------------------------------------

CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


class Terminal:
    """``argus`` on a pseudo-terminal (standard input, output and error), 120x30."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
        self.before = termios.tcgetattr(self.slave)
        self.raw = b""
        self.proc = subprocess.Popen(
            [*ARGUS, *args],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env=env,
            start_new_session=True,
        )

    def text(self, since: int = 0) -> str:
        return CSI.sub("", self.raw[since:].decode(errors="replace"))

    def wait_for(self, pattern: str, since: int = 0, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.02)[0]:
                self.raw += os.read(self.master, 65536)
            if re.search(pattern, self.text(since)):
                return self.text(since)
            if self.proc.poll() is not None:
                break
        raise AssertionError(f"{pattern!r} not shown: {self.text(since)[-2000:]}")

    def key(self, data: bytes) -> int:
        mark = len(self.raw)
        os.write(self.master, data)
        return mark

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        os.close(self.master)
        os.close(self.slave)


@pytest.mark.skipif(sys.platform != "linux", reason="pseudo-terminal behaviour of Linux")
def test_keys_sort_pause_and_quit_the_live_table(tmp_path: Path) -> None:
    env = argus_env(tmp_path, TERM="xterm-256color")
    term = Terminal(["stream", "--demo", "AAPL", "MSFT", "GOOGL"], env)
    try:
        term.wait_for(r"GOOGL\s+\d[\d,]*\.\d\d.*\n(.|\n)*s/S sort")  # rows, then the footer
        during = termios.tcgetattr(term.slave)[3]
        assert not during & termios.ECHO and during & termios.ISIG

        screen = term.wait_for(r"sort Symbol ▲", term.key(b"s"))
        assert "Symbol▲" in screen  # the arrow on the sorted column's header
        assert re.search(r"AAPL[^\n]*\n[^\n]*GOOGL[^\n]*\n[^\n]*MSFT", screen)  # A to Z

        screen = term.wait_for(r"PAUSED", term.key(b"p"))
        assert "sort Symbol ▲" in screen

        mark = term.key(b"q")
        assert term.proc.wait(5) == 0  # as --duration ends
        with_exit = term.text(mark)
        assert "Traceback" not in with_exit
        assert termios.tcgetattr(term.slave) == term.before  # echo and lines are back
    finally:
        term.close()
