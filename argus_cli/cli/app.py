"""The ``argus`` command: one module per command, wired here."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from .. import __version__
from . import profiles, serve, stats, stderr, stream, symbols
from .exit_codes import EXIT_CODES_HELP, boundary

app = typer.Typer(
    name="argus",
    help=f"Real-time market data in the terminal and in pipelines.\n\n{EXIT_CODES_HELP}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"argus {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Real-time market data in the terminal and in pipelines."""


app.command(help=stream.STREAM_HELP)(boundary(stream.stream))
app.command()(boundary(stats.stats))
app.command()(boundary(serve.serve))
app.command()(boundary(symbols.symbols))
app.add_typer(profiles.app, name="profiles")


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


def main() -> None:
    _hold_standard_descriptors()
    try:
        app()
    finally:
        stderr.flush(1.0)
