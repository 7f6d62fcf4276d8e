"""``argus quote SYMBOL...``: each symbol's latest price, one row a symbol, then exit.

It runs ``stream``'s machinery (``run_stream`` with its own output, as ``argus record``
does): the same sources (``--demo``, ``--url``, ``--provider``, ``PROVIDER:SYMBOL``,
profiles), connection handling, signals and exit codes. It subscribes to ``price`` and
``volume`` (realtime; those the provider offers), waits for the first ``price`` event
of every symbol, then prints one row each: a table on a terminal, JSON lines when
piped or with ``--json``, CSV/TSV with ``--format``.

A row holds the latest values seen before exit, named as the events name them:
``price`` (the last price), ``bid``, ``ask``, their sizes, ``volume`` (the last trade's
size) and ``total_volume`` (the session's, where the provider gives it), and
``timestamp``, ``seq``, ``received`` of the price event. There is no change column:
no feed carries a previous close, and a command that exits at the first price has
nothing of its own to compare it with.

``--timeout`` (default 10 s, connecting included) bounds the wait. Symbols with no price
by then (or refused by the server) are named on stderr and the command exits 1 after
printing the rows it has; no connection by then is exit 5.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from . import exit_codes, options
from .formats import Fields, Json, TimeFormat

if TYPE_CHECKING:
    import asyncio

    from rich.table import Table

    from ..client import WebSocketClient
    from ..events import Event
    from ..sinks import Sink
    from .output import StreamOutput
    from .runtime import Outcome
    from .stream import StreamOptions

__all__ = ["QUOTE_DEFAULT_FIELDS", "QUOTE_FIELDS", "QUOTE_HELP", "QuoteBook", "quote"]

QUOTE_HELP = (
    "Print the latest price of each symbol, one row a symbol, then exit: a table in a "
    "terminal, JSON lines when piped or with --json, CSV/TSV with --format.\n\n"
    "\b\nExamples:\n"
    "  argus quote --demo AAPL MSFT           # the built-in simulator\n"
    "  argus quote AAPL GOOGL --url ws://localhost:8000/ws\n"
    "  argus quote coinbase:BTC-USD kraken:ETH/USD\n"
    "  argus quote AAPL MSFT --format csv --fields symbol,price,timestamp --time iso\n"
    "  argus quote AAPL --json | jq .price\n\n"
    + exit_codes.EXIT_CODES_HELP
    + " A symbol with no price within --timeout (or refused by the server) is named "
    "on stderr and exits 1, after the rows that came."
)

QUOTE_FIELDS = (
    "symbol",
    "source",
    "price",
    "bid",
    "ask",
    "bid_size",
    "ask_size",
    "volume",
    "total_volume",
    "timestamp",
    "seq",
    "received",
)
QUOTE_DEFAULT_FIELDS = ("symbol", "source", "price", "bid", "ask", "total_volume", "timestamp")
_FROM_PRICE = ("price", "bid", "ask", "bid_size", "ask_size", "timestamp", "seq", "received")
_FROM_VOLUME = ("volume", "total_volume")
REFUSAL_SETTLE = 0.05  # seconds after an error message before the subscriptions are read


class QuoteBook:
    """The latest values of each (source, symbol), from its events. Pure."""

    def __init__(self, keys: Sequence[tuple[str, str]]) -> None:
        self.values: dict[tuple[str, str], dict[str, Any]] = {key: {} for key in keys}
        self.priced: set[tuple[str, str]] = set()

    def update(self, events: Sequence[Mapping[str, Any]]) -> None:
        values = self.values
        for event in events:
            kind = event.get("type")
            names: tuple[str, ...]
            if kind == "price":
                names = _FROM_PRICE
            elif kind == "volume":
                names = _FROM_VOLUME
            else:
                continue
            key = (event.get("source", ""), event.get("symbol", ""))
            row = values.get(key)
            if row is None:
                continue
            for name in names:
                if name in event:
                    row[name] = event[name]
            if kind == "price":
                self.priced.add(key)

    def pending(self) -> list[tuple[str, str]]:
        """The keys with no price yet, in order."""
        return [key for key in self.values if key not in self.priced]

    def rows(self) -> list[dict[str, Any]]:
        """One row per priced key, in the order given: ``QUOTE_FIELDS`` it has."""
        out = []
        for key, got in self.values.items():
            if key not in self.priced:
                continue
            row = {"symbol": key[1], "source": key[0], **got}
            out.append({name: row[name] for name in QUOTE_FIELDS if name in row})
        return out


def quote(
    ctx: typer.Context,
    symbols: options.Symbols,
    profile: options.Profile = None,
    config: options.ConfigFile = None,
    url: options.Url = None,
    provider: options.Provider = None,
    rest_url: options.RestUrl = None,
    transport: options.Transport = None,
    json_: Json = False,
    format_: Annotated[
        str,
        typer.Option(
            "--format", metavar="FORMAT", help="auto (table on a terminal), table, jsonl, csv, tsv."
        ),
    ] = "auto",
    fields: Fields = None,
    time_: TimeFormat = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            callback=options.positive_seconds("--timeout", 0.001),
            help="Wait at most SECONDS (connecting included) for every symbol's price.",
        ),
    ] = 10.0,
    demo: Annotated[
        bool, typer.Option("--demo", help="Start the simulator in-process and quote from it.")
    ] = False,
    no_color: options.NoColor = False,
    allow_insecure_key: options.AllowInsecureKey = False,
) -> None:
    """Print the latest price of each symbol, then exit."""
    from .formats import choose_format
    from .stream import StreamOptions, check_conflicts, parse_feeds, plan_feeds, source_flags
    from .watchlists import expand_symbols

    check_conflicts(ctx, json_=json_, format_=format_, demo=demo, url=url, rest_url=rest_url)
    wanted = parse_feeds(expand_symbols(symbols, profile, config))  # @NAME, @FILE, -
    output, chosen, time = choose_format(
        json_=json_,
        format_=format_,
        fields=fields,
        time_=time_,
        valid_fields=QUOTE_FIELDS,
        formats=("auto", "table", "jsonl", "csv", "tsv"),
    )
    if output in ("csv", "tsv") and chosen is None:
        chosen = list(QUOTE_DEFAULT_FIELDS)
    if demo and provider:
        raise options.conflict("--demo", "--provider", "--demo quotes from the simulator")
    if demo and any(p for p, _ in wanted):
        raise options.conflict(
            "--demo", "PROVIDER:SYMBOL", "--demo quotes from the simulator (provider argus)"
        )
    flags = source_flags(
        url, provider, rest_url, transport, "price,volume", "realtime", allow_insecure_key
    )
    feeds = plan_feeds(wanted, profile, config, flags, False)
    stream_options = StreamOptions(
        symbols=[s for feed in feeds for s in feed.symbols],
        settings=feeds[0].settings,
        feeds=feeds,
        table=False,  # the stream's live table: quote prints its own, once
        demo=demo,
        no_color=no_color,
        output=output,
        fields=chosen,
        time=time,
    )
    code = run(stream_options, timeout)
    raise typer.Exit(code)


def run(stream_options: StreamOptions, timeout: float) -> int:
    from .output import StreamOutput
    from .runtime import run_async, setup_logging
    from .stream import run_stream

    setup_logging(os.environ.get("ARGUS_LOG_LEVEL", "WARNING"))

    def make_output(outcome: Outcome, clients: list[WebSocketClient]) -> StreamOutput:
        quotes = Quotes(outcome, clients, stream_options, timeout)
        return StreamOutput(outcome, None, None, quotes)

    return run_async(run_stream(stream_options, make_output))


class Quotes:
    """The output ``run_stream`` feeds: the book until every symbol has a price (or
    ``timeout``), then, at close, the rows on standard output."""

    def __init__(
        self,
        outcome: Outcome,
        clients: list[WebSocketClient],
        stream_options: StreamOptions,
        timeout: float,
    ) -> None:
        feeds = stream_options.all_feeds()
        self.outcome = outcome
        self.clients = clients
        self.options = stream_options
        self.timeout = timeout
        self.symbols = [
            (client, symbol)
            for client, feed in zip(clients, feeds, strict=True)
            for symbol in feed.symbols
        ]
        self.book = QuoteBook([(client.source, symbol) for client, symbol in self.symbols])
        self.refused: set[tuple[str, str]] = set()
        self.sink: Sink | None = None
        self._timer: asyncio.TimerHandle | None = None
        for client in clients:
            client.add_message_handler("error", self._on_error)

    async def open(self) -> None:
        import asyncio

        from .formats import make_sink

        opts = self.options
        if opts.output != "table":
            self.sink = make_sink(opts.output, opts.fields, opts.time)
            if self.sink is None:
                from ..sinks import JsonLinesSink

                self.sink = JsonLinesSink()
            await self.sink.open()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.timeout, self._timed_out)

    async def write(self, events: Sequence[Event]) -> None:
        self.book.update(cast("Sequence[Mapping[str, Any]]", events))
        self._check()

    def _check(self) -> None:
        pending = [key for key in self.book.pending() if key not in self.refused]
        if pending:
            return
        if self.refused:
            names = ", ".join(symbol for _, symbol in self.book.pending())
            self.outcome.finish(
                exit_codes.RUNTIME_FAILURE, f"no price for {names}: refused by the server"
            )
        else:
            self.outcome.finish(exit_codes.OK)

    def _on_error(self, _: Any) -> None:
        """A refusal: once the client has dropped the subscription, its symbols are
        given up on (stderr has said why)."""
        import asyncio

        asyncio.get_running_loop().call_later(REFUSAL_SETTLE, self._read_refusals)

    def _read_refusals(self) -> None:
        for client, symbol in self.symbols:
            live = {s for sub in client.subscriptions.values() for s in sub.symbols}
            if symbol not in live:
                self.refused.add((client.source, symbol))
        if self.refused and not self.outcome.done.is_set():
            self._check()

    def _timed_out(self) -> None:
        if self.outcome.done.is_set():
            return
        pending = set(self.book.pending())
        for client, symbol in self.symbols:
            if client.state.value != "connected" and (client.source, symbol) in pending:
                reason = f": {client.last_error}" if client.last_error else ""
                self.outcome.finish(
                    exit_codes.CANNOT_CONNECT,
                    f"no connection to {client.config.safe_url} within --timeout "
                    f"{self.timeout:g}s{reason}",
                )
                return
        names = ", ".join(symbol for _, symbol in self.book.pending())
        self.outcome.finish(
            exit_codes.RUNTIME_FAILURE, f"no price for {names} within --timeout {self.timeout:g}s"
        )

    async def close(self) -> None:
        from ..sinks import OutputClosed

        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        rows = self.book.rows()
        sink, self.sink = self.sink, None
        if sink is None:
            if rows and self.options.output == "table":
                from .console import make_console

                make_console(self.options.no_color).print(render_quotes(rows))
            return
        try:
            if rows:
                await sink.write(cast("Sequence[Event]", rows))
        except OutputClosed:
            pass  # the reader went away (``| head -1``): a normal end
        finally:
            await sink.close()


def _price(value: Any) -> str:
    if type(value) not in (int, float):
        return "—"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    whole, _, decimals = f"{value:.10f}".rstrip("0").partition(".")  # 0.00001234
    return f"{whole}.{decimals:0<2}"


def _time(value: Any) -> str:
    from ..sinks.delimited import iso_time

    text = iso_time(value)
    return text[11:23] if isinstance(text, str) else "—"  # HH:MM:SS.mmm


def render_quotes(rows: Sequence[Mapping[str, Any]]) -> Table:
    """The quote table: Symbol (Source with several), Last, Bid, Ask, Volume, Time (UTC).
    Pure; numbers are never cut (rich folds a too-narrow column rather than the figure)."""
    from rich.table import Table

    from .safe_text import plain

    several = len({row.get("source") for row in rows}) > 1
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("Symbol", no_wrap=True)
    if several:
        table.add_column("Source", no_wrap=True)
    for title in ("Last", "Bid", "Ask", "Volume", "Time (UTC)"):
        table.add_column(title, justify="right", no_wrap=True)
    for row in rows:
        volume = row.get("total_volume")
        cells = [plain(row.get("symbol", ""), "bold")]
        if several:
            cells.append(plain(row.get("source", "")))
        cells += [
            plain(_price(row.get("price"))),
            plain(_price(row.get("bid"))),
            plain(_price(row.get("ask"))),
            plain(f"{volume:,.0f}" if type(volume) in (int, float) else "—"),
            plain(_time(row.get("timestamp", row.get("received")))),
        ]
        table.add_row(*cells)
    return table
