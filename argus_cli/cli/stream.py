"""``argus stream SYMBOL...``: a live table in a terminal, JSON lines anywhere else."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.live import Live

from ..client import WebSocketClient
from ..config import Resolved, resolve
from ..events import Event
from ..protocol import rules
from ..sinks import JsonLinesSink, OutputClosed
from . import exit_codes, options, statefile
from .board import Board
from .console import make_console
from .render import render_board
from .runtime import Outcome, connect_or_raise, run_async, setup_logging, start_demo, subscribe_all

log = logging.getLogger("argus_cli.cli")

__all__ = ["StreamOptions", "parse_symbols", "parse_types", "run_stream", "stream"]

DATA_TYPES = frozenset(rules.DATA_TYPES)
STREAM_HELP = (
    "Stream live market data: a table in a terminal, JSON lines when piped or with --json.\n\n"
    + exit_codes.EXIT_CODES_HELP
)


@dataclass
class StreamOptions:
    symbols: list[str]
    settings: Resolved
    table: bool
    count: int | None = None
    duration: float | None = None
    demo: bool = False
    no_color: bool = False


def parse_symbols(raw: list[str]) -> list[str]:
    symbols: list[str] = []
    for item in raw:
        for part in item.split(","):
            symbol = part.strip().upper()
            if not symbol:
                continue
            reason = rules.check_symbol(symbol)
            if reason:
                raise typer.BadParameter(reason, param_hint="SYMBOL")
            if symbol not in symbols:
                symbols.append(symbol)
    if not symbols:
        raise typer.BadParameter("give at least one symbol", param_hint="SYMBOL")
    return symbols


def parse_types(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    types = [t.strip().lower() for t in raw.split(",") if t.strip()]
    reason = rules.check_data_types(types)
    if reason:
        raise typer.BadParameter(reason, param_hint="--types")
    return list(dict.fromkeys(types))


def stream(
    symbols: Annotated[list[str], typer.Argument(help="Symbols, e.g. AAPL GOOGL (or AAPL,GOOGL).")],
    profile: options.Profile = "dev",
    config: options.ConfigFile = None,
    url: options.Url = None,
    types: Annotated[
        str | None, typer.Option("--types", help="Comma list of price,volume,orderbook.")
    ] = None,
    frequency: Annotated[
        str | None, typer.Option("--frequency", help="realtime, 1s, 5s or 1m.")
    ] = None,
    min_price: Annotated[float | None, typer.Option("--min-price", help="Price filter.")] = None,
    max_price: Annotated[float | None, typer.Option("--max-price", help="Price filter.")] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="JSON lines (same as --format jsonl).")
    ] = False,
    format_: Annotated[
        str, typer.Option("--format", help="auto (table on a terminal), table or jsonl.")
    ] = "auto",
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="Stop after N data messages.")
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", min=0.001, help="Stop after SECONDS.")
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Start the simulator in-process and stream from it.")
    ] = False,
    no_color: options.NoColor = False,
    allow_insecure_key: Annotated[
        bool,
        typer.Option(
            "--allow-insecure-key", help="Allow sending the key over ws:// to a remote host."
        ),
    ] = False,
) -> None:
    """Stream live market data: a table in a terminal, JSON lines when piped."""
    symbol_list = parse_symbols(symbols)
    if format_ not in ("auto", "table", "jsonl"):
        raise typer.BadParameter("expected auto, table or jsonl", param_hint="--format")
    if frequency is not None and rules.check_frequency(frequency):
        raise typer.BadParameter("expected realtime, 1s, 5s or 1m", param_hint="--frequency")
    data_types = parse_types(types)
    filters: dict[str, float] | None = None
    if min_price is not None or max_price is not None:
        filters = {}
        if min_price is not None:
            filters["min_price"] = min_price
        if max_price is not None:
            filters["max_price"] = max_price
        reason = rules.check_filters(filters)
        if reason:
            raise typer.BadParameter(reason, param_hint="--min-price/--max-price")
    flags: dict[str, Any] = {
        "connection.url": url,
        "subscription.data_types": data_types,
        "subscription.update_frequency": frequency,
        "subscription.filters": filters,
    }
    if allow_insecure_key:
        flags["connection.allow_insecure_key"] = True
    settings = resolve(profile, config, flags)
    table = format_ == "table" or (format_ == "auto" and not json_ and sys.stdout.isatty())
    if json_:
        table = False
    options = StreamOptions(
        symbols=symbol_list,
        settings=settings,
        table=table,
        count=count,
        duration=duration,
        demo=demo,
        no_color=no_color,
    )
    code = run(options)
    raise typer.Exit(code)


def run(options: StreamOptions) -> int:
    setup_logging(os.environ.get("ARGUS_LOG_LEVEL", "WARNING"))
    return run_async(run_stream(options))


async def run_stream(options: StreamOptions) -> int:
    outcome = Outcome()
    outcome.install_signals()
    sim = None
    settings = options.settings
    if options.demo:
        sim = await start_demo()
        settings.set("connection.url", sim.url, "demo")
        settings.set("connection.api_key", None, "demo")
    connection = settings.connection_config()
    client = WebSocketClient(connection)
    template = settings.subscription_config(options.symbols)
    board = Board(options.symbols)
    output = StreamOutput(outcome, board if options.table else None, options.count)

    def on_error(_: dict[str, Any]) -> None:
        if not client.subscriptions and not outcome.done.is_set():
            outcome.finish(exit_codes.RUNTIME_FAILURE, "no subscription left")

    client.add_sink(output)
    client.add_message_handler("error", on_error)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    publisher: asyncio.Task[None] | None = None
    painter: asyncio.Task[None] | None = None
    live: Live | None = None
    try:
        outcome.start_timer(options.duration)  # bounds connecting and subscribing too
        await output.open()
        if not await connect_or_raise(client, outcome):
            if outcome.code == exit_codes.OK:  # --duration ran out before a connection
                reason = f": {client.last_error}" if client.last_error else ""
                raise exit_codes.CommandExit(
                    exit_codes.CANNOT_CONNECT,
                    f"no connection to {connection.safe_url} within --duration "
                    f"{options.duration:g}s{reason}",
                )
            return _stopped(outcome)
        live_ids = await outcome.first(subscribe_all(client, connection, template))
        if live_ids is None:
            return _stopped(outcome)
        if not live_ids:
            raise exit_codes.CommandExit(exit_codes.RUNTIME_FAILURE, "no subscription left")
        publisher = asyncio.create_task(_publish_stats(client, options, started, settings.profile))
        if options.table:
            console = make_console(options.no_color)
            live = Live(console=console, auto_refresh=False, transient=False)
            live.start()
            painter = asyncio.create_task(_paint(live, board, client, settings.refresh_per_second))
        await outcome.hold(client, None)
        if not outcome.done.is_set():  # the client stopped without a failure: never a silent 0
            outcome.finish(exit_codes.RUNTIME_FAILURE, "the stream stopped unexpectedly")
        return _stopped(outcome)
    finally:
        outcome.remove_signals()
        for background in (publisher, painter):
            if background is not None:
                background.cancel()
                with suppress(asyncio.CancelledError):
                    await background
        if live is not None:
            with suppress(Exception):  # already said by the painter; the exit code stands
                height = live.console.height
                final = render_board(board, client.stats_snapshot(), time.time(), height)
                live.update(final, refresh=True)
            live.stop()
        await client.disconnect()
        await output.close()
        if sim is not None:
            await sim.stop()
        statefile.remove()


def _stopped(outcome: Outcome) -> int:
    """The exit code of the first reason to stop (with its message on stderr)."""
    if outcome.message:
        raise exit_codes.CommandExit(outcome.code, outcome.message)
    return outcome.code


class StreamOutput:
    """The stream command's sink: ``--count``, then the table's board or JSON lines.

    A reader that goes away (``| head``) ends the command normally; any other
    failure to write stops the stream with a ``SinkError`` (exit 1)."""

    def __init__(self, outcome: Outcome, board: Board | None, limit: int | None) -> None:
        self.outcome = outcome
        self.board = board
        self.limit = limit
        self.seen = 0
        self.jsonl = JsonLinesSink() if board is None else None

    async def open(self) -> None:
        if self.jsonl is not None:
            await self.jsonl.open()

    async def write(self, events: Sequence[Event]) -> None:
        outcome, limit = self.outcome, self.limit
        if outcome.done.is_set():
            return
        if limit is not None:
            kept = []
            for event in events:
                if self.seen >= limit:
                    break
                kept.append(event)
                if event["type"] in DATA_TYPES:
                    self.seen += 1
            events = kept
        if self.board is not None:
            self.board.update_frame(events)
        elif events and self.jsonl is not None:
            try:
                await self.jsonl.write(events)
            except OutputClosed:
                outcome.finish(exit_codes.OK)
                return
        if limit is not None and self.seen >= limit:
            outcome.finish(exit_codes.OK)

    async def close(self) -> None:
        if self.jsonl is not None:
            await self.jsonl.close()


async def _paint(live: Live, board: Board, client: WebSocketClient, rate: float) -> None:
    """Repaint at a fixed rate from the latest state, never per message. A repaint that
    fails is said once on stderr and painting goes on: never a frozen "live" screen."""
    interval = 1.0 / rate
    loop = asyncio.get_running_loop()
    said: set[str] = set()
    while True:
        started = loop.time()
        height = live.console.height
        try:
            table = render_board(board, client.stats_snapshot(), time.time(), height)
            live.update(table, refresh=True)
        except Exception as exc:
            if type(exc).__name__ not in said:
                said.add(type(exc).__name__)
                log.error("cannot draw the table (a bug in argus): %s: %s", type(exc).__name__, exc)
        await asyncio.sleep(max(0.0, interval - (loop.time() - started)))


async def _publish_stats(
    client: WebSocketClient, options: StreamOptions, started: str, profile: str
) -> None:
    while True:
        data = client.stats_snapshot()
        data.update(
            pid=os.getpid(),
            symbols=options.symbols,
            profile="demo" if options.demo else profile,
            started=started,
            mode="table" if options.table else "jsonl",
        )
        with suppress(OSError):
            await asyncio.to_thread(statefile.write_atomic, data)
        await asyncio.sleep(1.0)
