"""The rich consoles argus prints human output with."""

from __future__ import annotations

import os
import sys

from rich.console import Console

PIPE_WIDTH = 240  # piped human output is not cut to 80 columns


class _Console(Console):
    """rich's console, but a reader that goes away (``argus profiles | head -1``)
    ends the command with 0, quietly, as it does for ``argus stream | head``."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        from .exit_codes import reader_gone

        reader_gone()


def make_console(no_color: bool = False) -> Console:
    """A console for human output; ``--no-color`` or ``NO_COLOR`` turn colours off."""
    no_color = no_color or bool(os.environ.get("NO_COLOR"))
    width = None if sys.stdout.isatty() else PIPE_WIDTH
    return _Console(no_color=no_color, highlight=False, width=width)
