"""Keys for the live table: bytes from the terminal in, actions out, applied to the
table's ``View``; and the terminal mode that lets single keys through.

``decode`` and ``apply`` are pure. ``TerminalKeys`` reads standard input, only
when it is a terminal, in cbreak mode without echo (ISIG stays on: Ctrl-C still
interrupts), through the event loop's reader; ``stop`` gives the terminal back
its mode, and is called on every way out (``q``, ``--duration``, a signal, an
exception), and once more at exit should anything have skipped it.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import sys
import termios
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from .board import Board, View

__all__ = ["FOOTER", "HELP", "KEYS", "TerminalKeys", "apply", "decode"]

KEYS: dict[bytes, str] = {
    b"s": "sort",
    b"S": "sort-back",
    b"r": "reverse",
    b"p": "pause",
    b" ": "pause",
    b"j": "down",
    b"k": "up",
    b"\x1b[B": "down",
    b"\x1bOB": "down",
    b"\x1b[A": "up",
    b"\x1bOA": "up",
    b"\x1b[6~": "page-down",
    b"\x1b[5~": "page-up",
    b"g": "top",
    b"\x1b[H": "top",
    b"G": "bottom",
    b"\x1b[F": "bottom",
    b"q": "quit",
    b"?": "help",
}
FOOTER = "s/S sort  r reverse  p pause  j/k scroll  q quit  ? help"
HELP = (
    "s/S sort by the next/previous column  r reverse  p or space pause  "
    "j/k or ↓/↑ a row  PgDn/PgUp a page  g/G top/bottom  q quit"
)
BIG = 1 << 30  # "to the end": the view clamps it


def decode(data: bytes) -> list[str]:
    """The actions in ``data``; unknown keys and escape sequences are skipped whole."""
    actions: list[str] = []
    i = 0
    while i < len(data):
        if data[i] == 0x1B:  # ESC: a sequence ends at its final byte (@ to ~)
            end = i + 1
            if end < len(data) and data[end] in b"[O":
                end += 1
                while end < len(data) and not 0x40 <= data[end] <= 0x7E:
                    end += 1
                end += 1
            action = KEYS.get(data[i:end])
            i = end
        else:
            action = KEYS.get(data[i : i + 1])
            i += 1
        if action is not None:
            actions.append(action)
    return actions


def apply(view: View, action: str, board: Board) -> None:
    """``action`` (not ``quit``: the command ends) applied to ``view``."""
    page = max(1, view.page - 1)  # a page keeps one row in sight
    if action in ("sort", "sort-back"):
        view.cycle(1 if action == "sort" else -1, board)
    elif action == "reverse":
        view.reverse = not view.reverse
        view.offset = 0
    elif action == "pause":
        view.paused = not view.paused
    elif action == "help":
        view.help = not view.help
    elif action in ("down", "up", "page-down", "page-up", "top", "bottom"):
        moves = {"down": 1, "up": -1, "page-down": page, "page-up": -page}
        moves.update(top=-BIG, bottom=BIG)
        view.scroll(moves[action])


class TerminalKeys:
    """Standard input's keys to ``on_keys`` (a list of actions) while started."""

    def __init__(self, on_keys: Callable[[list[str]], None], fd: int | None = None) -> None:
        self.on_keys = on_keys
        self.wanted = fd  # None: standard input's, looked up when started
        self.fd = -1
        self.saved: list[Any] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> bool:
        """Read keys if standard input is a terminal; whether it is."""
        try:
            # no file descriptor under a test runner's fake stdin: UnsupportedOperation
            self.fd = sys.stdin.fileno() if self.wanted is None else self.wanted
            if not os.isatty(self.fd):
                return False
            saved = termios.tcgetattr(self.fd)
        except (OSError, ValueError, termios.error):
            return False
        mode = termios.tcgetattr(self.fd)
        mode[3] &= ~(termios.ICANON | termios.ECHO)  # lflag; ISIG kept: Ctrl-C works
        mode[6][termios.VMIN], mode[6][termios.VTIME] = 1, 0
        self.saved = saved
        atexit.register(self.stop)
        try:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, mode)
            self.loop = asyncio.get_running_loop()
            self.loop.add_reader(self.fd, self._read)
        except Exception:
            self.stop()
            raise
        return True

    def _read(self) -> None:
        try:
            data = os.read(self.fd, 1024)
        except OSError:
            data = b""
        if not data:  # the terminal went away: stop reading it
            if self.loop is not None:
                self.loop.remove_reader(self.fd)
            return
        actions = decode(data)
        if actions:
            self.on_keys(actions)

    def stop(self) -> None:
        """Stop reading and give the terminal back its mode (again: harmless)."""
        if self.loop is not None:
            loop, self.loop = self.loop, None
            if not loop.is_closed():
                loop.remove_reader(self.fd)
        if self.saved is not None:
            saved, self.saved = self.saved, None
            atexit.unregister(self.stop)
            with suppress(OSError, termios.error):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)
