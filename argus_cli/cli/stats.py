"""``argus stats``: how the running streams are doing, or a live probe of a server."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from ..client import ConnectionConfig, WebSocketClient
from ..config import Resolved, resolve
from ..protocol.providers import facts as provider_facts
from . import exit_codes, options, statefile
from .console import make_console
from .render import render_stats_table
from .runtime import Outcome, connect_or_raise, run_async, setup_logging, subscribe_all
from .safe_text import plain
from .stream import parse_symbols


def stats(
    symbols: Annotated[
        list[str] | None, typer.Argument(help="With --probe: symbols to subscribe to.")
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Keep the table live.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    probe: Annotated[
        bool, typer.Option("--probe", help="Connect and measure instead of reading streams.")
    ] = False,
    duration: Annotated[
        float, typer.Option("--duration", min=0.1, help="With --probe: seconds to measure.")
    ] = 5.0,
    profile: options.Profile = None,
    config: options.ConfigFile = None,
    url: options.Url = None,
    provider: options.Provider = None,
    rest_url: options.RestUrl = None,
    transport: options.Transport = None,
    no_color: options.NoColor = False,
) -> None:
    """Show the statistics of every running `argus stream`, or probe a server with --probe."""
    if probe:
        flags = {
            "connection.url": url,
            "connection.provider": provider.lower() if provider else None,
            "connection.rest_url": rest_url,
            "connection.transport": transport,
        }
        _probe(symbols or [], duration, profile, config, flags, json_, no_color)
        return
    if symbols:
        raise typer.BadParameter("symbols are only used with --probe", param_hint="SYMBOL")
    console = make_console(no_color)
    if json_:
        print(json.dumps(statefile.read_all(), default=str), flush=True)
        return
    if not watch:
        streams = statefile.read_all()
        if not streams:
            print("argus: no running streams", file=sys.stderr)
            return
        console.print(render_stats_table(streams))
        return
    try:
        with Live(console=console, auto_refresh=False) as live:
            while True:
                live.update(render_stats_table(statefile.read_all()), refresh=True)
                time.sleep(1.0)
    except KeyboardInterrupt:
        raise typer.Exit(exit_codes.OK) from None


def _probe(
    raw_symbols: list[str],
    duration: float,
    profile: str | None,
    config: str | None,
    flags: dict[str, Any],
    json_: bool,
    no_color: bool,
) -> None:
    setup_logging(os.environ.get("ARGUS_LOG_LEVEL", "WARNING"))
    symbols = parse_symbols(raw_symbols) if raw_symbols else []
    settings = resolve(profile, config, flags)
    name = settings.values["connection.provider"]
    if not symbols and not provider_facts(name).lists_symbols:
        raise typer.BadParameter(
            f"{name} cannot list its symbols: name some to probe", param_hint="SYMBOL"
        )
    result = run_async(_run_probe(settings.connection_config(), settings, symbols, duration))
    if result is None:
        raise typer.Exit(exit_codes.INTERRUPTED)
    if json_:
        print(json.dumps(result, default=str), flush=True)
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in result.items():  # values from the server: literal, neutralized text
        table.add_row(plain(key), plain("—" if value is None else value))
    make_console(no_color).print(table)


async def _run_probe(
    connection: ConnectionConfig, settings: Resolved, symbols: list[str], duration: float
) -> dict[str, Any] | None:
    outcome = Outcome()
    outcome.install_signals()
    client = WebSocketClient(connection)
    try:
        started = time.perf_counter()
        if not await connect_or_raise(client, outcome):
            return None
        connect_ms = (time.perf_counter() - started) * 1000
        rtts = [await client.ping() for _ in range(3)]
        if not symbols:
            symbols = (await client.list_symbols())[:3]
        live = await subscribe_all(client, connection, settings.subscription_config(symbols))
        if not live:
            raise exit_codes.CommandExit(exit_codes.RUNTIME_FAILURE, "no subscription left")
        await outcome.hold(client, duration)
        if outcome.done.is_set():
            return None
        result = client.stats_snapshot()
        result.update(
            symbols=symbols,
            duration_s=duration,
            connect_ms=round(connect_ms, 3),
            ping_ms=round(statistics.median(rtts) * 1000, 3),
        )
        return result
    finally:
        outcome.remove_signals()
        await client.disconnect()
