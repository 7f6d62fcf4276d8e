"""``argus stream SYMBOL...``: a live table in a terminal, JSON lines anywhere else."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from . import exit_codes, options
from .alerting import AlertOption, NoBellOption, OnAlertOption
from .formats import Fields, Json, TimeFormat

# Only typer and the options load with this module: ``argus stream --help`` reads the
# signature below. The rest loads where it is used: the rules and profiles when the
# arguments are checked, the client when the stream runs, rich's Live for a table only.
if TYPE_CHECKING:
    import asyncio

    from rich.live import Live

    from ..client import WebSocketClient
    from ..config import Resolved
    from .alerting import Alerting, AlertPlan
    from .board import View
    from .keys import TerminalKeys
    from .output import StreamOutput
    from .runtime import Outcome

log = logging.getLogger("argus_cli.cli")

__all__ = ["StreamOptions", "parse_symbols", "parse_types", "run_stream", "stream"]
_ONE_SERVER_ENV = frozenset({"ARGUS_URL", "ARGUS_REST_URL", "ARGUS_PROVIDER", "ARGUS_PROFILE"})
STREAM_HELP = (
    "Stream live market data: a table in a terminal, JSON lines when piped or with --json.\n\n"
    "\b\nExamples:\n"
    "  argus stream --demo AAPL MSFT          # the built-in simulator, no server needed\n"
    "  argus stream AAPL,GOOGL --url ws://localhost:8000/ws\n"
    "  argus stream AAPL --json --count 10    # ten JSON lines, then exit 0\n"
    "  argus stream kraken:BTC/USD --types price,orderbook\n"
    "  argus stream AAPL | jq -c 'select(.type==\"price\")'\n"
    "  argus stream AAPL --format csv --fields symbol,price,timestamp --time iso\n"
    "  argus stream AAPL --publish nats://localhost:4222     # also into NATS\n"
    "  argus stream AAPL --from nats://localhost:4222 --since 10m\n"
    "  argus stream --demo AAPL --alert 'AAPL>230' --alert 'AAPL%<-2'\n\n"
    + exit_codes.EXIT_CODES_HELP
)


@dataclass
class Feed:
    """One provider's part of a run: its settings and symbols (one connection)."""

    provider: str
    settings: Resolved
    symbols: list[str]


@dataclass
class StreamOptions:
    symbols: list[str]
    settings: Resolved
    table: bool
    count: int | None = None
    duration: float | None = None
    demo: bool = False
    no_color: bool = False
    feeds: list[Feed] | None = None  # None: one feed, ``settings`` and ``symbols``
    quiet: bool = False  # --format none: publish only, nothing on standard output
    output: str = "jsonl"  # when not the table: jsonl, csv or tsv (--format)
    fields: list[str] | None = None  # --fields (csv/tsv: DEFAULT_FIELDS when not given)
    time: str = "epoch"  # --time: how timestamp and received are written
    broker: list[str] | None = None  # --from: read from these NATS servers
    since: float | None = None  # --since (epoch seconds), with --from
    alerts: AlertPlan | None = None  # --alert, --on-alert, --no-bell (checked)

    def all_feeds(self) -> list[Feed]:
        if self.feeds:
            return self.feeds
        provider = self.settings.values.get("connection.provider", "argus")
        return [Feed(provider, self.settings, self.symbols)]


def parse_symbols(raw: list[str]) -> list[str]:
    """The symbols, upper case, deduplicated (a ``PROVIDER:`` prefix kept as given)."""
    return [f"{p}:{s}" if p else s for p, s in parse_feeds(raw)]


def parse_feeds(raw: list[str]) -> list[tuple[str | None, str]]:
    """(provider or None, SYMBOL) for each symbol given (``kraken:BTC/USD`` selects
    kraken; comma lists work; case is folded to upper)."""
    from ..protocol import rules
    from ..protocol.providers import split_symbol

    out: list[tuple[str | None, str]] = []
    for item in raw:
        for part in item.split(","):
            provider, symbol = split_symbol(part.strip())
            symbol = symbol.upper()
            if not symbol:
                continue
            reason = rules.check_symbol(symbol, venue=True)
            if reason:
                raise typer.BadParameter(reason, param_hint="SYMBOL")
            if (provider, symbol) not in out:
                out.append((provider, symbol))
    if not out:
        raise typer.BadParameter("give at least one symbol", param_hint="SYMBOL")
    return out


def plan_feeds(
    wanted: list[tuple[str | None, str]],
    profile: str | None,
    config: str | None,
    flags: dict[str, Any],
    types_given: bool,
) -> list[Feed]:
    """Group the symbols by provider (unprefixed: the provider in force) and resolve
    each provider's settings. ``--url``/``--rest-url`` name one server: with several
    providers they are refused (a user profile of the provider's name sets its URL)."""
    from ..config import resolve
    from ..protocol import rules
    from ..protocol.providers import facts as provider_facts

    main = resolve(profile, config, flags)
    default = main.values["connection.provider"]
    groups: dict[str, list[str]] = {}
    for provider, symbol in wanted:
        groups.setdefault(provider or default, []).append(symbol)
    if len(groups) > 1 and (flags.get("connection.url") or flags.get("connection.rest_url")):
        raise typer.BadParameter(
            "--url and --rest-url name one provider's server; with several providers each "
            "uses its profile's (a user profile of the provider's name can change it)",
            param_hint="--url",
        )
    feeds = []
    for provider, symbols in groups.items():
        if provider == default:
            settings = main
        else:
            # ARGUS_URL & co. name the main provider's server, not this one's
            env = {k: v for k, v in os.environ.items() if k not in _ONE_SERVER_ENV}
            settings = resolve(None, config, {**flags, "connection.provider": provider}, env)
        if provider == "argus":  # PROTOCOL.md's grammar is narrower than venues'
            for symbol in symbols:
                reason = rules.check_symbol(symbol)
                if reason:
                    raise typer.BadParameter(reason, param_hint="SYMBOL")
        offered = provider_facts(provider).data_types
        types = settings.values["subscription.data_types"]
        missing = [t for t in types if t not in offered]
        if missing and types_given:
            raise typer.BadParameter(
                f"{provider} does not offer {', '.join(missing)}: it streams {', '.join(offered)}",
                param_hint="--types",
            )
        if missing:  # a profile's default types: keep what the provider offers
            kept = [t for t in types if t in offered] or list(offered)
            settings.set("subscription.data_types", kept, f"provider {provider}")
        feeds.append(Feed(provider, settings, symbols))
    return feeds


def source_flags(
    url: str | None,
    provider: str | None,
    rest_url: str | None,
    transport: str | None,
    types: str | None,
    frequency: str | None,
    allow_insecure_key: bool,
) -> dict[str, Any]:
    """The settings the source options name (stream and record share them), checked."""
    from ..protocol import rules

    if frequency is not None and rules.check_frequency(frequency):
        raise typer.BadParameter("expected realtime, 1s, 5s or 1m", param_hint="--frequency")
    flags: dict[str, Any] = {
        "connection.url": url,
        "connection.provider": provider.lower() if provider else None,
        "connection.rest_url": rest_url,
        "connection.transport": transport,
        "subscription.data_types": parse_types(types),
        "subscription.update_frequency": frequency,
    }
    if allow_insecure_key:
        flags["connection.allow_insecure_key"] = True
    return flags


def check_conflicts(
    ctx: typer.Context,
    *,
    json_: bool,
    format_: str,
    demo: bool,
    url: str | None,
    rest_url: str | None,
) -> None:
    """Options that contradict each other are refused (exit 2), naming the pair."""
    if json_ and format_ not in ("auto", "jsonl"):
        raise options.conflict("--json", f"--format {format_}", "--json is --format jsonl")
    if demo:
        if url is not None:
            raise options.conflict(
                "--demo", "--url", "--demo streams from a simulator it starts itself"
            )
        if rest_url is not None:
            raise options.conflict("--demo", "--rest-url")
        if options.from_command_line(ctx, "profile"):
            raise options.conflict(
                "--demo",
                f"--profile {ctx.params.get('profile')}",
                "--demo streams from a simulator it starts itself",
            )


def parse_types(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    from ..protocol import rules

    types = [t.strip().lower() for t in raw.split(",") if t.strip()]
    reason = rules.check_data_types(types)
    if reason:
        raise typer.BadParameter(reason, param_hint="--types")
    return list(dict.fromkeys(types))


def stream(
    ctx: typer.Context,
    symbols: options.Symbols,
    profile: options.Profile = None,
    config: options.ConfigFile = None,
    url: options.Url = None,
    provider: options.Provider = None,
    rest_url: options.RestUrl = None,
    transport: options.Transport = None,
    types: options.Types = None,
    frequency: options.Frequency = None,
    min_price: Annotated[
        float | None, typer.Option("--min-price", metavar="PRICE", help="Price filter.")
    ] = None,
    max_price: Annotated[
        float | None, typer.Option("--max-price", metavar="PRICE", help="Price filter.")
    ] = None,
    json_: Json = False,
    format_: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="auto (table on a terminal), table, jsonl, csv, tsv, or none (with --publish).",
        ),
    ] = "auto",
    fields: Fields = None,
    time_: TimeFormat = None,
    publish: Annotated[
        str | None,
        typer.Option(
            "--publish",
            metavar="URLS",
            help="Also publish every line to NATS (nats://HOST:PORT[,...]): JetStream where "
            "a stream holds the subjects (argus nats init), else core NATS "
            "[env: ARGUS_PUBLISH].",
            show_default=False,
        ),
    ] = None,
    from_: options.BrokerFrom = None,
    since: options.Since = None,
    count: options.Count = None,
    duration: options.Duration = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Start the simulator in-process and stream from it.")
    ] = False,
    no_color: options.NoColor = False,
    alert: AlertOption = None,
    on_alert: OnAlertOption = None,
    no_bell: NoBellOption = False,
    allow_insecure_key: options.AllowInsecureKey = False,
) -> None:
    """Stream live market data: a table in a terminal, JSON lines when piped."""
    from ..protocol import rules
    from ..sinks.delimited import DEFAULT_FIELDS, EVENT_FIELDS
    from . import broker
    from .formats import choose_format
    from .watchlists import expand_symbols

    check_conflicts(ctx, json_=json_, format_=format_, demo=demo, url=url, rest_url=rest_url)

    wanted = parse_feeds(expand_symbols(symbols, profile, config))  # @NAME, @FILE, -
    output, chosen_fields, time_format = choose_format(
        json_=json_, format_=format_, fields=fields, time_=time_, valid_fields=EVENT_FIELDS
    )
    if output in ("csv", "tsv") and chosen_fields is None:
        chosen_fields = list(DEFAULT_FIELDS)
    servers = broker.parse_servers(from_, "'--from'") if from_ is not None else None
    since_at = broker.parse_since(since) if since is not None else None
    broker.check_broker_conflicts(
        from_=from_,
        since=since,
        publish=publish,
        demo=demo,
        given={"--url": url, "--rest-url": rest_url, "--provider": provider},
        transport=transport,
        frequency=frequency,
        prices=min_price is not None or max_price is not None,
    )
    flags = source_flags(url, provider, rest_url, transport, types, frequency, allow_insecure_key)
    if publish is not None:
        flags["publish.servers"] = broker.parse_servers(publish, "'--publish'")
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
    flags["subscription.filters"] = filters
    if demo and provider:
        raise options.conflict("--demo", "--provider", "--demo streams from the simulator")
    if demo and any(p for p, _ in wanted):
        raise options.conflict(
            "--demo", "PROVIDER:SYMBOL", "--demo streams from the simulator (provider argus)"
        )
    feeds = plan_feeds(wanted, profile, config, flags, types is not None)
    if format_ == "none" and not feeds[0].settings.values.get("publish.servers"):
        raise typer.BadParameter(
            "--format none prints nothing: it is for --publish (or ARGUS_PUBLISH)",
            param_hint="'--format'",
        )
    from .alerting import plan_alerts

    alert_plan = plan_alerts(alert, on_alert, no_bell, [(f.provider, f.symbols) for f in feeds])
    stream_options = StreamOptions(
        symbols=[s for feed in feeds for s in feed.symbols],
        settings=feeds[0].settings,
        feeds=feeds,
        table=output == "table",
        count=count,
        duration=duration,
        demo=demo,
        no_color=no_color,
        quiet=output == "none",
        output=output,
        fields=chosen_fields,
        time=time_format,
        broker=servers,
        since=since_at,
        alerts=alert_plan,
    )
    code = run(stream_options)
    raise typer.Exit(code)


def run(options: StreamOptions) -> int:
    from .runtime import run_async, setup_logging

    setup_logging(os.environ.get("ARGUS_LOG_LEVEL", "WARNING"))
    return run_async(run_stream(options))


async def run_stream(
    options: StreamOptions,
    make_output: Callable[[Outcome, list[WebSocketClient]], StreamOutput] | None = None,
) -> int:
    """Stream ``options``' feeds into ``StreamOutput`` (the table or JSON lines), or
    into what ``make_output(outcome, clients)`` builds (``argus record``'s)."""
    import asyncio

    from ..client import WebSocketClient
    from . import statefile
    from .board import Board
    from .output import StreamOutput, paint, publish_stats, snapshots
    from .runtime import Outcome, connect_or_raise, start_demo, subscribe_all

    outcome = Outcome()
    outcome.install_signals()
    sim = None
    feeds = options.all_feeds()
    if options.demo:
        sim = await start_demo()
        feeds[0].settings.set("connection.url", sim.url, "demo")
        feeds[0].settings.set("connection.api_key", None, "demo")
    clients: list[WebSocketClient]
    if options.broker:
        from ..sources.nats import BrokerClient, BrokerConfig

        # BrokerClient has the surface of WebSocketClient this command uses
        clients = [
            cast(
                "WebSocketClient",
                BrokerClient(
                    BrokerConfig(
                        tuple(options.broker),
                        source=feed.provider,
                        since=options.since,
                        timeout=float(feed.settings.values["connection.timeout"]),
                    )
                ),
            )
            for feed in feeds
        ]
    else:
        clients = [WebSocketClient(feed.settings.connection_config()) for feed in feeds]
    from .broker import make_publisher

    publisher = make_publisher(feeds[0].settings, clients)
    alerting: Alerting | None = None
    if options.alerts is not None:
        from .alerting import Alerting

        alerting = Alerting.start(options.alerts)
    board = Board(
        [s for feed in feeds for s in feed.symbols],
        [client.source for client, feed in zip(clients, feeds, strict=True) for _ in feed.symbols],
    )
    if make_output is not None:
        output = make_output(outcome, clients)
    else:
        sink = None
        if not options.table and not options.quiet:
            from .formats import make_sink

            sink = make_sink(options.output, options.fields, options.time)
        output = StreamOutput(
            outcome,
            board if options.table else None,
            options.count,
            sink,
            publisher=publisher,
            quiet=options.quiet,
            alerting=alerting,
            alert_lines=options.output == "jsonl" and options.fields is None,
        )

    def on_error(_: dict[str, Any]) -> None:
        if not any(c.subscriptions for c in clients) and not outcome.done.is_set():
            outcome.finish(exit_codes.RUNTIME_FAILURE, "no subscription left")

    for client in clients:
        client.add_sink(output)
        client.add_message_handler("error", on_error)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    stats_writer: asyncio.Task[None] | None = None
    painter: asyncio.Task[None] | None = None
    live: Live | None = None
    keys: TerminalKeys | None = None
    view: View | None = None
    try:
        outcome.start_timer(options.duration)  # bounds connecting and subscribing too
        await output.open()
        connected = await asyncio.gather(*(connect_or_raise(c, outcome) for c in clients))
        if not all(connected):
            if outcome.code == exit_codes.OK:  # --duration ran out before a connection
                late = next(c for c, ok in zip(clients, connected, strict=True) if not ok)
                reason = f": {late.last_error}" if late.last_error else ""
                raise exit_codes.CommandExit(
                    exit_codes.CANNOT_CONNECT,
                    f"no connection to {late.config.safe_url} within --duration "
                    f"{options.duration:g}s{reason}",
                )
            return _stopped(outcome)
        if options.table:  # drawn from here on: the rows fill as the subscriptions answer
            from rich.live import Live

            from .board import View
            from .console import make_console
            from .keys import TerminalKeys, apply

            console = make_console(options.no_color)
            board.data_types = frozenset(
                t for feed in feeds for t in feed.settings.values["subscription.data_types"]
            )
            view, wake = View(), asyncio.Event()

            def on_keys(actions: list[str]) -> None:
                for action in actions:
                    if action == "quit":  # as --duration ends: exit 0
                        outcome.finish(exit_codes.OK)
                    else:
                        apply(view, action, board)
                wake.set()  # repaint now, not at the next tick

            live = Live(console=console, auto_refresh=False, transient=False)
            keys = TerminalKeys(on_keys)
            live.start()
            view.keys = keys.start()  # stdin a terminal: keys (cbreak, no echo) until stop
            rate = feeds[0].settings.refresh_per_second
            painter = asyncio.create_task(
                paint(live, board, clients, rate, publisher, alerting, view, wake)
            )
        subscribing = asyncio.gather(
            *(
                subscribe_all(
                    client, client.config, feed.settings.subscription_config(feed.symbols)
                )
                for client, feed in zip(clients, feeds, strict=True)
            )
        )
        live_ids = await outcome.first(subscribing)
        if live_ids is None:
            return _stopped(outcome)
        if not any(live_ids):
            raise exit_codes.CommandExit(exit_codes.RUNTIME_FAILURE, "no subscription left")
        stats_writer = asyncio.create_task(publish_stats(clients, options, started, publisher))
        await outcome.hold(clients, None)
        if not outcome.done.is_set():  # the client stopped without a failure: never a silent 0
            outcome.finish(exit_codes.RUNTIME_FAILURE, "the stream stopped unexpectedly")
        return _stopped(outcome)
    finally:
        outcome.remove_signals()
        for background in (stats_writer, painter):
            if background is not None:
                background.cancel()
                with suppress(asyncio.CancelledError):
                    await background
        if keys is not None:
            keys.stop()  # the terminal's mode back, whatever ended the stream
        if live is not None:
            from .render import render_board

            with suppress(Exception):  # already said by the painter; the exit code stands
                height = live.console.height
                stats = snapshots(clients, publisher)
                if view is not None:
                    view.keys = False  # the last picture stays: no footer of keys under it
                now = time.time()
                live.update(render_board(board, stats, now, height, view=view), refresh=True)
            live.stop()
        await asyncio.gather(*(c.disconnect() for c in clients))
        await output.close()
        if alerting is not None:
            await alerting.close()
        if sim is not None:
            await sim.stop()
        statefile.remove()


def _stopped(outcome: Outcome) -> int:
    """The exit code of the first reason to stop (with its message on stderr)."""
    if outcome.message:
        raise exit_codes.CommandExit(outcome.code, outcome.message)
    return outcome.code
