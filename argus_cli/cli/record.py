"""``argus record SYMBOL... -o FILE``: keep a feed on disk, as the JSON lines
``argus stream --json`` prints (compressed by the file's name: ``.zst``, ``.gz``).

The sources are ``stream``'s (its functions, imported: profiles, ``--provider``,
``PROVIDER:SYMBOL``, ``--url``, ``--types``, ``--count``, ``--duration``, ...); the
file is written by ``argus_cli.sinks.recorder.Recorder`` (crash safety, rotation,
the ``--raw`` sidecar: see there). A write error (a full disk, a file-size limit,
the file or its directory removed) ends the command with one line and exit 1;
the file holds what was recorded up to its last flush (at most a second before).

With ``--raw``, each sidecar file starts with the subscriptions ``stream`` makes
(``planned_subscriptions``: its ids ``cli-1``, ``cli-2``, ... and symbol groups),
and a connection made again writes its provider's subscriptions again before its
first frame (``RawTap``), so ``argus replay --raw`` re-runs the frames through a
session subscribed as the live one was (``argus_cli.sources.recording``).
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from . import exit_codes, options

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Mapping
    from typing import Any

    from ..client import SubscriptionConfig, WebSocketClient
    from ..sinks.recorder import Recorder
    from .output import StreamOutput
    from .runtime import Outcome
    from .stream import Feed, StreamOptions

__all__ = [
    "RECORD_HELP",
    "RawTap",
    "parse_rotate",
    "planned_subscriptions",
    "record",
    "subscription_items",
]

RECORD_HELP = (
    "Record a feed to a file: the JSON lines `argus stream --json` prints, compressed "
    "when FILE ends in .zst or .gz.\n\n"
    "\b\nExamples:\n"
    "  argus record AAPL MSFT -o day.jsonl.zst          # until Ctrl-C\n"
    "  argus record coinbase:BTC-USD -o btc.jsonl.gz --raw --duration 3600\n"
    "  argus record AAPL -o ticks.jsonl --rotate 1h     # ticks-20261129T151300Z.jsonl, ...\n"
    "  argus record AAPL -o ticks.jsonl.zst --rotate 100MB\n"
    "  argus record AAPL -o hour.jsonl.zst --from nats://localhost:4222 --since 1h\n"
    "  zstdcat day.jsonl.zst | jq -c 'select(.type==\"price\")'\n\n"
    + exit_codes.EXIT_CODES_HELP
    + " A recording that cannot be written (disk full, file too large, "
    "directory removed) exits 1; the file is complete up to its last flush."
)

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_BYTES = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_ROTATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*")
PROGRESS_EVERY = 0.5


def parse_rotate(values: list[str] | None) -> tuple[float | None, int | None]:
    """``--rotate``'s (seconds, bytes): ``90s``, ``30m``, ``1h``, ``1d``; ``500KB``,
    ``100MB``, ``1GB`` (powers of 1000) or ``KiB``/``MiB``/``GiB`` (of 1024)."""
    seconds: float | None = None
    size: int | None = None
    for value in values or []:
        match = _ROTATE.fullmatch(value)
        unit = match.group(2).lower() if match else ""
        if match is None or (unit not in _SECONDS and unit not in _BYTES):
            raise typer.BadParameter(
                f"{value!r}: give a time (30m, 1h, 1d) or a size (100MB, 1GB)",
                param_hint="'--rotate'",
            )
        number = float(match.group(1))
        if number <= 0:
            raise typer.BadParameter(f"{value!r} is not more than 0", param_hint="'--rotate'")
        if unit in _SECONDS:
            seconds = number * _SECONDS[unit]
        else:
            size = max(1, int(number * _BYTES[unit]))
    return seconds, size


def record(
    symbols: options.Symbols,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="The recording (.zst: zstandard, .gz: gzip, else plain JSON lines).",
            show_default=False,
        ),
    ],
    profile: options.Profile = None,
    config: options.ConfigFile = None,
    url: options.Url = None,
    provider: options.Provider = None,
    rest_url: options.RestUrl = None,
    transport: options.Transport = None,
    types: options.Types = None,
    frequency: options.Frequency = None,
    count: options.Count = None,
    duration: options.Duration = None,
    rotate: Annotated[
        list[str] | None,
        typer.Option(
            "--rotate",
            metavar="EVERY",
            help="A new file every time span (1h) or size of lines (100MB); names carry "
            "the UTC start time. May be given twice (a time and a size).",
            show_default=False,
        ),
    ] = None,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Also keep each provider frame verbatim, with its receive time, in "
            "FILE's sidecar <stem>.frames.jsonl[.zst|.gz].",
        ),
    ] = False,
    from_: options.BrokerFrom = None,
    since: options.Since = None,
    allow_insecure_key: options.AllowInsecureKey = False,
) -> None:
    """Record a feed to a file (JSON lines, compressed by the file's name)."""
    from . import broker
    from .broker import check_broker_conflicts
    from .stream import StreamOptions, parse_feeds, plan_feeds, source_flags
    from .watchlists import expand_symbols

    wanted = parse_feeds(expand_symbols(symbols, profile, config))  # @NAME, @FILE, -
    servers = broker.parse_servers(from_, "'--from'") if from_ is not None else None
    since_at = broker.parse_since(since) if since is not None else None
    check_broker_conflicts(
        from_=from_,
        since=since,
        publish=None,
        demo=False,
        given={"--url": url, "--rest-url": rest_url, "--provider": provider},
        transport=transport,
        frequency=frequency,
        prices=False,
    )
    if from_ is not None and raw:
        raise options.conflict("--from", "--raw", "the broker holds events, not provider frames")
    flags = source_flags(url, provider, rest_url, transport, types, frequency, allow_insecure_key)
    rotate_seconds, rotate_bytes = parse_rotate(rotate)
    if not output or output == "-":
        raise typer.BadParameter(
            "give a file name (`argus stream --json` writes to standard output)",
            param_hint="'--output'",
        )
    feeds = plan_feeds(wanted, profile, config, flags, types is not None)
    stream_options = StreamOptions(
        symbols=[s for feed in feeds for s in feed.symbols],
        settings=feeds[0].settings,
        feeds=feeds,
        table=False,
        count=count,
        duration=duration,
        broker=servers,
        since=since_at,
    )
    code = run(stream_options, output, rotate_seconds, rotate_bytes, raw)
    raise typer.Exit(code)


def run(
    stream_options: StreamOptions,
    path: str,
    rotate_seconds: float | None,
    rotate_bytes: int | None,
    raw: bool,
) -> int:
    import signal

    from ..sinks.recorder import Recorder
    from .output import StreamOutput
    from .runtime import run_async, setup_logging
    from .stream import run_stream

    setup_logging(os.environ.get("ARGUS_LOG_LEVEL", "WARNING"))
    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit: EFBIG (an error), not death
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    progress = sys.stderr is not None and sys.stderr.isatty()

    def make_output(outcome: Outcome, clients: list[WebSocketClient]) -> StreamOutput:
        def stop(error: Exception) -> None:
            outcome.finish(exit_codes.RUNTIME_FAILURE, str(error))

        recorder = Recorder(
            path, rotate_seconds=rotate_seconds, rotate_bytes=rotate_bytes, raw=raw, on_error=stop
        )
        if raw:  # run_stream makes one client per feed, in order
            for client, feed in zip(clients, stream_options.all_feeds(), strict=True):
                subs = planned_subscriptions(client, feed)
                recorder.keep_subscriptions(client.source, subscription_items(client.source, subs))
                client.raw_frame = RawTap(recorder, client)
        return StreamOutput(outcome, None, stream_options.count, Recording(recorder, progress))

    return run_async(run_stream(stream_options, make_output))


def planned_subscriptions(client: WebSocketClient, feed: Feed) -> dict[str, SubscriptionConfig]:
    """The subscriptions ``stream`` makes for ``feed`` on ``client``, by id: as
    ``runtime.subscribe_all`` makes them (``cli-1``, ``cli-2``, ..., one a symbol
    group); what a ``--raw`` sidecar starts with."""
    from ..client import SubscriptionConfig
    from .runtime import group_symbols

    template = feed.settings.subscription_config(feed.symbols)
    groups = group_symbols(template.symbols, client.config.max_subscriptions)
    return {
        f"cli-{index + 1}": SubscriptionConfig(
            symbols=group,
            data_types=template.data_types,
            update_frequency=template.update_frequency,
            filters=template.filters,
        )
        for index, group in enumerate(groups)
    }


def subscription_items(source: str, subs: Mapping[str, SubscriptionConfig]) -> list[dict[str, Any]]:
    """``subs`` as a sidecar's ``subscriptions`` items (``Subscription.to_json``)."""
    from ..sources.recording import Subscription

    return [
        Subscription(
            source=source,
            symbols=tuple(config.symbols),
            data_types=tuple(config.data_types),
            id=sub_id,
            update_frequency=config.update_frequency,
            filters=config.filters,
        ).to_json()
        for sub_id, config in subs.items()
    ]


class RawTap:
    """A client's ``raw_frame`` hook for ``--raw``: each frame to the recorder, and,
    at the first frame of a connection made again (``reconnect_count`` moved), the
    subscriptions it restored, first (the replay opens its session again there)."""

    __slots__ = ("client", "connection", "recorder", "source")

    def __init__(self, recorder: Recorder, client: WebSocketClient) -> None:
        self.recorder = recorder
        self.client = client
        self.source = client.source
        self.connection = client.reconnect_count  # the first one's: the file starts with it

    def __call__(self, frame: str | bytes, received: float) -> None:
        client = self.client
        if client.reconnect_count != self.connection:
            self.connection = client.reconnect_count
            items = subscription_items(self.source, client.subscriptions)
            self.recorder.keep_subscriptions(self.source, items)
        self.recorder.keep_frame(self.source, frame, received)


class Recording:
    """The recorder, with the progress line on stderr (a terminal only) while it runs."""

    def __init__(self, recorder: Recorder, progress: bool) -> None:
        self.recorder = recorder
        self.write = recorder.write  # the hot path: no coroutine of ours in between
        self.progress = progress
        self._painter: asyncio.Task[None] | None = None
        self._started = 0.0

    async def open(self) -> None:
        import asyncio
        import time

        await self.recorder.open()
        self._started = time.monotonic()
        if self.progress:
            self._painter = asyncio.create_task(self._paint(), name="argus-record-progress")

    async def close(self) -> None:
        import asyncio
        from contextlib import suppress

        painter, self._painter = self._painter, None
        if painter is not None:
            painter.cancel()
            with suppress(asyncio.CancelledError):
                await painter
        try:
            await self.recorder.close()
        finally:
            if painter is not None:
                from . import stderr

                stderr.write(self.line() + "\n")

    def line(self) -> str:
        import time

        from .safe_text import shown

        recorder = self.recorder
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = recorder.messages / elapsed
        return (
            f"\rrecording: {recorder.messages:,} messages, {_size(recorder.bytes)}, "
            f"{rate:,.0f}/s -> {shown(recorder.current)}\x1b[K"
        )

    async def _paint(self) -> None:
        import asyncio

        from . import stderr

        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            stderr.write(self.line())


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
