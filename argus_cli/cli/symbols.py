"""``argus symbols``: the symbols the server offers."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from ..client import WebSocketClient
from ..config import resolve
from . import exit_codes, options
from .runtime import Outcome, connect_or_raise, run_async, setup_logging
from .safe_text import shown


def symbols(
    profile: options.Profile = "dev",
    config: options.ConfigFile = None,
    url: options.Url = None,
    json_: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List the symbols the server offers, one per line."""
    setup_logging(os.environ.get("ARGUS_LOG_LEVEL", "WARNING"))
    settings = resolve(profile, config, {"connection.url": url})
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
