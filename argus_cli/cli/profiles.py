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

app = typer.Typer(help="List and inspect connection profiles.", no_args_is_help=False)


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


@app.command("show")
@exit_codes.boundary
def show(
    name: Annotated[str, typer.Argument(help="Profile name, e.g. dev.")],
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
