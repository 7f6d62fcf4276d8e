"""``argus profiles``: list profiles; ``argus profiles show NAME``: resolved settings."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ..client.redact import redact_url
from ..config import list_profiles, load_file, resolve, user_profiles_dir
from ..exceptions import ConfigError
from . import exit_codes, options
from .console import make_console
from .safe_text import plain

PROFILES_HELP = """List and inspect connection profiles.

Your profiles (NAME.yaml in the user profiles directory) win over shipped ones of
the same name.

\b
Examples:
  argus profiles                     # every profile, shipped and yours
  argus profiles show dev            # its resolved settings and where each came from
  argus profiles show prod --url wss://my.server/ws
"""

SHOW_HELP = """Show a profile's resolved settings and where each value came from (key redacted).

\b
Examples:
  argus profiles show dev
  ARGUS_TIMEOUT=30 argus profiles show dev     # the environment's value, marked as such
  argus profiles show kraken --config ./mine.yaml
"""

app = typer.Typer(help=PROFILES_HELP, no_args_is_help=False)


@app.callback(invoke_without_command=True)
@exit_codes.boundary
def profiles(ctx: typer.Context) -> None:
    """List profiles: shipped ones, and yours (which win over shipped ones of the same name)."""
    if ctx.invoked_subcommand is not None:
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in ("Profile", "Provider", "Kind", "URL", "File"):
        table.add_column(header)
    for name, path, kind in list_profiles():
        try:
            values = load_file(path, {})
            url = values.get("connection.url")
            shown_url = "—" if url is None else redact_url(str(url))  # no user:pass, no tokens
            provider = str(values.get("connection.provider", "argus"))
        except ConfigError:
            shown_url, provider = "(invalid file)", "?"
        row = (name, provider, kind, shown_url, path)
        table.add_row(*(plain(cell) for cell in row))
    console = make_console()
    console.print(table)
    console.print(plain(f"Your profiles go in {user_profiles_dir()}/NAME.yaml", "dim"))


@app.command("show", help=SHOW_HELP)
@exit_codes.boundary
def show(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Profile name, e.g. dev.")],
    config: options.ConfigFile = None,
    url: options.Url = None,
) -> None:
    """Show the resolved settings of a profile and where each value came from (key redacted)."""
    settings = resolve(name, config, {"connection.url": url})
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in ("Setting", "Value", "From"):
        table.add_column(header)
    for key, value, origin in settings.redacted():
        table.add_row(plain(key), plain(value), plain(origin))
    make_console().print(table)
