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

WATCH_INTERVAL = 1.0  # seconds between two refreshes of --watch

# the options that only mean something with --probe (the others read the stats files)
PROBE_ONLY = (
    ("url", "--url"),
    ("provider", "--provider"),
    ("rest_url", "--rest-url"),
    ("transport", "--transport"),
    ("duration", "--duration"),
    ("profile", "--profile"),
    ("config", "--config"),
)

STATS_HELP = """Show the statistics of every running `argus stream`, or probe a server with --probe.

Piped, --watch prints each refresh as plain text; --watch --json prints one JSON
object a line per refresh ({"time": ..., "streams": [...]}).

\b
Examples:
  argus stats                        # one table of the running streams
  argus stats --watch                # live until Ctrl-C
  argus stats --json | jq '.[].pid'
  argus stats --watch --json         # one JSON object per second
  argus stats --probe --url ws://localhost:8000/ws AAPL --duration 3
"""


def stats(
    ctx: typer.Context,
    symbols: Annotated[
        list[str] | None,
        typer.Argument(metavar="SYMBOL", help="With --probe: symbols to subscribe to."),
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Refresh every second until Ctrl-C.")
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    probe: Annotated[
        bool, typer.Option("--probe", help="Connect and measure instead of reading streams.")
    ] = False,
    duration: Annotated[
        float,
        typer.Option(
            "--duration",
            metavar="SECONDS",
            callback=options.positive_seconds("--duration", 0.1),
            help="With --probe: seconds to measure [default: 5].",
            show_default=False,
        ),
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
    if probe and watch:
        raise options.conflict("--probe", "--watch", "a probe measures once")
    if not probe:
        for name, flag in PROBE_ONLY:
            if options.from_command_line(ctx, name):
                raise options.usage_error(
                    f"{flag} is only used with --probe (without it, stats reads the "
                    "running streams' statistics)"
                )
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
    if watch and (json_ or not sys.stdout.isatty()):
        _watch_lines(json_, no_color)
        return
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


def _watch_lines(json_: bool, no_color: bool) -> None:
    """``--watch`` for a pipe or with ``--json``: each refresh printed in turn, never a
    screen update: one JSON object a line, or the table as plain text under a line with
    the time. Ctrl-C ends it with 0, and so does a reader that goes away."""
    import datetime as dt

    console = None if json_ else make_console(no_color)
    try:
        while True:
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            streams = statefile.read_all()
            if console is None:
                line = json.dumps({"time": now, "streams": streams}, default=str)
                print(line, flush=True)
            else:
                console.print(plain(f"{now}  running streams: {len(streams)}"))
                if streams:
                    console.print(render_stats_table(streams))
                console.print()
                sys.stdout.flush()
            time.sleep(WATCH_INTERVAL)
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
