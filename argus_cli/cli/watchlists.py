"""Symbols from elsewhere: ``@NAME`` (a watchlist), ``@FILE``, ``-`` (standard input);
and ``argus watchlists``, which lists the watchlists.

A watchlist is a named list of symbols, in ``~/.config/argus/watchlists.yaml``
(``tech: [AAPL, MSFT, NVDA]`` at the top level) or in a profile or ``--config``
file (a ``watchlists:`` section); a later one of the same name wins (the user
file, then the profile, then ``--config``).

``@NAME`` is the watchlist NAME when one is defined, else the file NAME; an
argument holding ``/`` (``@./tech.txt``, ``@/tmp/x``) is always a file. A file,
like standard input, holds symbols separated by white space or commas; ``#``
starts a comment.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import options

__all__ = ["WATCHLISTS_HELP", "expand_symbols", "watchlists_command"]

WATCHLISTS_HELP = (
    "List the watchlists: named lists of symbols for `argus stream @NAME`.\n\n"
    "They live in ~/.config/argus/watchlists.yaml (NAME: [SYMBOL, ...]) or in a "
    "profile's `watchlists:` section.\n\n"
    "\b\nExamples:\n"
    "  argus watchlists                  # name, symbols, where each is defined\n"
    "  argus stream @tech                # the watchlist tech\n"
    "  argus stream @symbols.txt         # symbols from a file\n"
    "  printf 'AAPL MSFT' | argus stream - --json --count 5\n"
)
MAX_SYMBOLS_READ = 10_000


def _words(text: str) -> list[str]:
    out: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        out += [w for w in line.replace(",", " ").split() if w]
    return out


def _read_file(path: Path, given: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(1024 * 1024)
    except OSError as exc:
        raise typer.BadParameter(
            f"{given}: cannot read {path}: {exc.strerror or exc}", param_hint="SYMBOL"
        ) from None
    symbols = _words(text)
    if not symbols:
        raise typer.BadParameter(f"{given}: {path} holds no symbols", param_hint="SYMBOL")
    return symbols


def expand_symbols(raw: list[str], profile: str | None, config: str | None) -> list[str]:
    """``raw`` with every ``@NAME``, ``@FILE`` and ``-`` replaced by the symbols it names."""
    if not any(item == "-" or item.startswith("@") for item in raw):
        return raw
    from ..config import watchlists
    from ..exceptions import ProfileError

    known: dict[str, tuple[list[str], str]] | None = None
    out: list[str] = []
    for item in raw:
        if item == "-":
            if sys.stdin is None or sys.stdin.isatty():
                raise typer.BadParameter(
                    "- reads symbols from standard input, which is a terminal here "
                    "(pipe them in: printf 'AAPL MSFT' | argus stream -)",
                    param_hint="SYMBOL",
                )
            symbols = _words(sys.stdin.read(1024 * 1024))
            if not symbols:
                raise typer.BadParameter("- : standard input held no symbols", param_hint="SYMBOL")
            out += symbols
            continue
        if not item.startswith("@"):
            out.append(item)
            continue
        name = item[1:]
        if not name:
            raise typer.BadParameter("@ needs a watchlist or file name", param_hint="SYMBOL")
        if "/" not in name:
            if known is None:
                try:
                    known = watchlists(profile, config)
                except ProfileError as exc:
                    raise typer.BadParameter(str(exc), param_hint="SYMBOL") from None
            if name in known:
                out += known[name][0]
                continue
        path = Path(name).expanduser()
        if path.is_file():
            out += _read_file(path, item)
            continue
        names = ", ".join(sorted(known)) if known else "none defined"
        raise typer.BadParameter(
            f"{item}: no watchlist {name!r} (watchlists: {names}; see `argus watchlists`) "
            "and no such file",
            param_hint="SYMBOL",
        )
    if len(out) > MAX_SYMBOLS_READ:
        raise typer.BadParameter(
            f"{len(out)} symbols: at most {MAX_SYMBOLS_READ}", param_hint="SYMBOL"
        )
    return out


def watchlists_command(
    profile: options.Profile = None,
    config: options.ConfigFile = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the watchlists: named lists of symbols for `argus stream @NAME`."""
    import json

    from ..config import user_watchlists_file, watchlists
    from .console import make_console
    from .safe_text import plain

    found = watchlists(profile, config)
    if json_:
        print(
            json.dumps(
                [{"name": n, "symbols": s, "file": f} for n, (s, f) in sorted(found.items())]
            )
        )
        return
    if not found:
        typer.echo(
            f"no watchlists yet: put NAME: [SYMBOL, ...] in {user_watchlists_file()}",
            err=True,
        )
        return
    from rich.table import Table

    table = Table(header_style="bold", box=None, pad_edge=False)
    for header in ("Name", "Symbols", "File"):
        table.add_column(header)
    for name, (symbols, where) in sorted(found.items()):
        table.add_row(plain(name), plain(" ".join(symbols)), plain(where))
    make_console(False).print(table)
