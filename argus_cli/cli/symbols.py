"""``argus symbols``: the symbols the server offers."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from ..client import WebSocketClient
from ..config import resolve
from ..protocol.providers import facts as provider_facts
from . import exit_codes, options
from .runtime import Outcome, connect_or_raise, run_async, setup_logging
from .safe_text import shown

SYMBOLS_HELP = """List the symbols the server (or --provider) offers, one per line.

\b
Examples:
  argus symbols                              # the dev profile's server
  argus symbols --url ws://localhost:8000/ws | head -5
  argus symbols --provider coinbase --json
"""


def symbols(
    profile: options.Profile = None,
    config: options.ConfigFile = None,
    url: options.Url = None,
    provider: options.Provider = None,
    rest_url: options.RestUrl = None,
    transport: options.Transport = None,
    json_: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List the symbols the server (or --provider) offers, one per line."""
    setup_logging(os.environ.get("ARGUS_LOG_LEVEL", "WARNING"))
    flags = {
        "connection.url": url,
        "connection.provider": provider.lower() if provider else None,
        "connection.rest_url": rest_url,
        "connection.transport": transport,
    }
    settings = resolve(profile, config, flags)
    name = settings.values["connection.provider"]
    if not provider_facts(name).lists_symbols:
        raise exit_codes.CommandExit(
            exit_codes.USAGE,
            f"{name} does not list its symbols through argus: see its documentation "
            '(the README, "Providers") for the symbols it streams',
        )
    names = run_async(_list(WebSocketClient(settings.connection_config())))
    if names is None:
        raise typer.Exit(exit_codes.INTERRUPTED)
    # names come from the server: JSON escapes controls itself; lines are neutralized
    print(json.dumps(names) if json_ else "\n".join(map(shown, names)), flush=True)


async def _list(client: WebSocketClient) -> list[str] | None:
    outcome = Outcome()
    outcome.install_signals()
    try:
        if not await connect_or_raise(client, outcome):
            return None
        return await client.list_symbols()
    finally:
        outcome.remove_signals()
        await client.disconnect()
