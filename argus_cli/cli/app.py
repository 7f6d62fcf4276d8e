"""The ``argus`` command: one module per command, wired in ``commands``.

This module is the entry point and imports nearly nothing: ``argus --version``
answers before typer loads, and each command's module loads only when it is
used (``commands.LazyGroup``). ``app`` (the typer application) is built on
first access.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    app: typer.Typer


def __getattr__(name: str) -> Any:
    if name == "app":
        from .commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


COMPLETE_VAR = "_ARGUS_COMPLETE"


def _hold_standard_descriptors() -> None:
    """Put /dev/null on a closed fd 0, 1 or 2 (``argus stream >&-``).

    Python has already seen it closed (``sys.stdout`` is None, which the stream
    reports as "cannot write to standard output"); without this the next socket
    would take the free descriptor, and uvloop aborts when it closes fd <= 2."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:  # a lower one was free too: filled in its own turn
                os.close(opened)


def _version_only(args: list[str]) -> bool:
    """``argus --version`` (the root's eager option, ahead of any command): answered
    here without loading typer. Anything else goes through typer as usual."""
    return bool(args) and args[0] == "--version"


def main() -> None:
    _hold_standard_descriptors()
    if _version_only(sys.argv[1:]):
        from .. import __version__

        print(f"argus {__version__}")
        raise SystemExit(0)
    # Start-up makes many objects and no garbage worth collecting: the cyclic GC waits
    # until the command starts (``commands._collecting``), and what is left at the end is
    # not traced again at exit.
    gc.disable()
    from . import stderr
    from .commands import app

    if COMPLETE_VAR in os.environ:  # the shell asks for completions (`argus completion`)
        from .completion import register

        register()

    try:
        app(prog_name="argus", complete_var=COMPLETE_VAR)  # also under python -m argus_cli
    finally:
        stderr.flush(1.0)
        gc.freeze()
