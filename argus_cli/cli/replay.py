"""``argus replay FILE... [SYMBOL...]``: a recording played back as ``stream`` shows it."""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from . import exit_codes, options

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from rich.live import Live

    from ..sources.recording import ReadCounts
    from .board import Board
    from .runtime import Outcome

log = logging.getLogger("argus_cli.cli")

__all__ = ["REPLAY_HELP", "ReplayOptions", "parse_speed", "parse_time", "replay", "split_items"]

REPLAY_HELP = (
    "Play a recording back in its original pacing (by received time), scaled by --speed: "
    "a table in a terminal, JSON lines when piped or with --json.\n\n"
    "\b\nExamples:\n"
    "  argus replay day.jsonl.zst                       # as it happened\n"
    "  argus replay day.jsonl.zst --speed 10 AAPL       # ten times faster, AAPL only\n"
    "  argus replay a.jsonl.zst b.jsonl.zst --speed max --json > all.jsonl\n"
    "  argus replay day.jsonl.zst --from 2026-11-29T14:30Z --to 2026-11-29T15:00Z\n"
    "  argus replay coinbase.jsonl.zst --raw --speed max  # re-run the provider's frames\n\n"
    + exit_codes.EXIT_CODES_HELP
)

_FILE_ENDINGS = (".jsonl", ".json", ".ndjson", ".zst", ".gz", ".txt")


@dataclass
class ReplayOptions:
    files: list[Path]
    symbols: list[str] | None
    types: list[str] | None
    start: float | None
    end: float | None
    speed: float | None
    table: bool
    raw: bool = False
    count: int | None = None
    no_color: bool = False


def parse_speed(text: str) -> float | None:
    """``--speed``: a factor above 0 (1 is the original pacing), or ``max`` (None)."""
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise typer.BadParameter(
            f"{text!r} is not a speed: give a factor above 0 (10 is ten times faster) or max",
            param_hint="'--speed'",
        )
    return value


def parse_time(text: str, hint: str) -> float:
    """Epoch seconds, or an ISO 8601 time (UTC when it names no offset)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a time: give epoch seconds or ISO 8601 "
            "(2026-11-29T14:30:00Z; UTC unless an offset is given)",
            param_hint=hint,
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def split_items(items: list[str]) -> tuple[list[Path], list[str]]:
    """The files (those that exist, or are named like a recording) and the symbols."""
    files: list[Path] = []
    symbols: list[str] = []
    for item in items:
        path = Path(item)
        looks_like_file = os.sep in item or item.lower().endswith(_FILE_ENDINGS)
        if path.is_file() or (looks_like_file and not symbols):
            if not path.is_file():
                raise typer.BadParameter(f"{item}: no such file", param_hint="FILE")
            if symbols:
                raise typer.BadParameter(
                    f"{item}: give the files first, then the symbols", param_hint="FILE"
                )
            files.append(path)
        else:
            symbols.append(item)
    if not files:
        raise typer.BadParameter("give at least one recording", param_hint="FILE")
    return files, symbols


def replay(
    ctx: typer.Context,
    items: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE",
            help="Recordings (.jsonl, .jsonl.zst, .jsonl.gz), played in the order given; "
            "then, optionally, SYMBOL... to keep (PROVIDER:SYMBOL for one provider's).",
            show_default=False,
        ),
    ],
    speed: Annotated[
        str,
        typer.Option(
            "--speed",
            metavar="N|max",
            help="Pace: N times the original (by received time), or max for no waiting.",
        ),
    ] = "1",
    from_: Annotated[
        str | None,
        typer.Option(
            "--from", metavar="T", help="Start at T (epoch seconds or ISO 8601; UTC by default)."
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="T", help="Stop after T (epoch seconds or ISO 8601)."),
    ] = None,
    types: Annotated[
        str | None,
        typer.Option("--types", metavar="TYPES", help="Comma list of price,volume,orderbook."),
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="JSON lines (same as --format jsonl).")
    ] = False,
    format_: Annotated[
        str,
        typer.Option(
            "--format", metavar="FORMAT", help="auto (table on a terminal), table or jsonl."
        ),
    ] = "auto",
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Re-normalize the provider frames kept by 'argus record --raw' "
            "through the provider's adapter (FILE: the recording or its "
            "<stem>.frames.jsonl[.zst|.gz] sidecar, which replays alone).",
        ),
    ] = False,
    count: Annotated[
        int | None,
        typer.Option("--count", metavar="N", help="Stop after N data messages."),
    ] = None,
    no_color: options.NoColor = False,
) -> None:
    """Play a recording back: a table in a terminal, JSON lines when piped."""
    from .stream import parse_feeds, parse_types

    if json_ and format_ not in ("auto", "jsonl"):
        raise options.conflict("--json", f"--format {format_}", "--json is --format jsonl")
    if format_ not in ("auto", "table", "jsonl"):
        raise typer.BadParameter(
            f"{format_!r} is not one of auto, table, jsonl", param_hint="'--format'"
        )
    if count is not None and count < 1:
        raise typer.BadParameter(f"{count} is not a count: give 1 or more", param_hint="'--count'")
    files, symbol_items = split_items(items)
    symbols = None
    if symbol_items:
        symbols = [f"{p}:{s}" if p else s for p, s in parse_feeds(symbol_items)]
    start = parse_time(from_, "'--from'") if from_ is not None else None
    end = parse_time(to, "'--to'") if to is not None else None
    if start is not None and end is not None and end < start:
        raise typer.BadParameter("--to is before --from", param_hint="'--to'")
    if raw:
        from ..sources.recording import sidecar_path

        for path in files:
            try:
                sidecar_path(path)
            except FileNotFoundError as exc:
                raise typer.BadParameter(str(exc), param_hint="--raw") from None
    table = format_ == "table" or (format_ == "auto" and not json_ and sys.stdout.isatty())
    opts = ReplayOptions(
        files=files,
        symbols=symbols,
        types=parse_types(types),
        start=start,
        end=end,
        speed=parse_speed(speed),
        table=table and not json_,
        raw=raw,
        count=count,
        no_color=no_color,
    )
    from .runtime import run_async, setup_logging

    setup_logging(os.environ.get("ARGUS_LOG_LEVEL", "WARNING"))
    raise typer.Exit(run_async(run_replay(opts)))


@dataclass
class _Progress:
    now: float = 0.0  # the received time of the last event played
    messages: int = 0
    gaps: int = 0
    started: float = 0.0


async def run_replay(opts: ReplayOptions) -> int:
    import asyncio
    from contextlib import suppress

    from ..sources.recording import ReadCounts
    from .output import StreamOutput
    from .runtime import Outcome

    outcome = Outcome()
    outcome.install_signals()
    counts = ReadCounts()
    board = await asyncio.to_thread(_board_for, opts) if opts.table else None
    # JSON lines of a plain recording are copied as recorded (``_copy_lines``)
    copying = board is None and not opts.raw
    output = None if copying else StreamOutput(outcome, board, opts.count)
    progress = _Progress(started=time.monotonic())
    live: Live | None = None
    painter: asyncio.Task[None] | None = None
    try:
        if output is not None:
            await output.open()
        if board is not None:
            from rich.live import Live

            from .console import make_console

            live = Live(console=make_console(opts.no_color), auto_refresh=False, transient=False)
            live.start()
            painter = asyncio.create_task(_paint(live, board, progress, opts))
        await outcome.first(_play(opts, output, outcome, progress, counts))
        outcome.finish(exit_codes.OK)
    except OSError as exc:
        raise exit_codes.CommandExit(
            exit_codes.RUNTIME_FAILURE, f"cannot read the recording: {exc}"
        ) from None
    finally:
        outcome.remove_signals()
        if painter is not None:
            painter.cancel()
            with suppress(asyncio.CancelledError):
                await painter
        if live is not None and board is not None:
            with suppress(Exception):
                live.update(_render(live, board, progress, opts), refresh=True)
            live.stop()
        if output is not None:
            await output.close()
    if counts.malformed:
        log.warning("%d malformed lines skipped", counts.malformed)
    if outcome.message:
        raise exit_codes.CommandExit(outcome.code, outcome.message)
    return outcome.code


async def _play(
    opts: ReplayOptions,
    output: Any,
    outcome: Outcome,
    progress: _Progress,
    counts: ReadCounts,
) -> None:
    """Events to the table, or JSON lines; a plain recording's lines are copied as
    recorded (byte-identical, and no encoding: the fast path)."""
    from ..sources.recording import replay

    if output is None:
        return await _copy_lines(opts, outcome, progress, counts)
    batches = replay(
        opts.files,
        opts.speed,
        symbols=opts.symbols,
        types=opts.types,
        start=opts.start,
        end=opts.end,
        counts=counts,
        raw=opts.raw,
    )
    try:
        async for batch in batches:
            if outcome.done.is_set():
                break
            progress.messages += len(batch)
            received = batch[-1].get("received")
            if isinstance(received, int | float):
                progress.now = received
            await output.write(batch)
    finally:
        await batches.aclose()


async def _copy_lines(
    opts: ReplayOptions, outcome: Outcome, progress: _Progress, counts: ReadCounts
) -> None:
    from ..sinks import JsonLinesSink, OutputClosed
    from ..sources.recording import iter_entries, paced

    class LineSink(JsonLinesSink):
        """JSON lines to standard output as ``stream`` writes them, from (event, line)
        pairs: the recorded line goes out as it is, not encoded again."""

        def encode(self, events: Sequence[Any]) -> bytes:
            return b"\n".join([line for _, line in events]) + b"\n"

    entries = iter_entries(
        *opts.files,
        symbols=opts.symbols,
        types=opts.types,
        start=opts.start,
        end=opts.end,
        counts=counts,
    )
    sink = LineSink()
    await sink.open()
    limit, seen = opts.count, 0
    batches = paced(entries, _entry_received, opts.speed)
    try:
        async for batch in batches:
            if outcome.done.is_set():
                break
            if limit is not None:
                kept = []
                for entry in batch:
                    if seen >= limit:
                        break
                    kept.append(entry)
                    if entry[0]["type"] in _DATA:
                        seen += 1
                batch = kept
            progress.messages += len(batch)
            try:
                await sink.write(cast(Any, batch))  # (event, line) pairs: see LineSink
            except OutputClosed:
                break
            if limit is not None and seen >= limit:
                break
    finally:
        await batches.aclose()
        await sink.close()


_DATA = frozenset(("price", "volume", "orderbook"))


def _entry_received(entry: tuple[dict[str, Any], bytes]) -> Any:
    return entry[0].get("received")


def _board_for(opts: ReplayOptions) -> Board:
    """A board with a row per (source, symbol) the replay will show."""
    from ..sources.recording import iter_raw, iter_recording
    from .board import Board

    pairs: dict[tuple[str, str], None] = {}
    events: Iterator[dict[str, Any]]
    if opts.raw:
        events = (
            e for path in opts.files for e in iter_raw(path, symbols=opts.symbols, types=opts.types)
        )
    else:
        events = iter_recording(*opts.files, symbols=opts.symbols, types=opts.types)
    for event in events:
        if event["type"] != "gap":
            pairs[(str(event.get("source", "")), str(event.get("symbol", "")))] = None
    if not pairs and opts.symbols:
        pairs = {("", s.split(":", 1)[-1]): None for s in opts.symbols}
    return Board([s for _, s in pairs], [src for src, _ in pairs])


def _render(live: Live, board: Board, progress: _Progress, opts: ReplayOptions) -> Any:
    from .render import render_board

    elapsed = max(time.monotonic() - progress.started, 1e-9)
    speed = "max" if opts.speed is None else f"x{opts.speed:g}"
    stats: dict[str, Any] = {
        "state": f"replay {speed}",
        "source": "replay",
        "url": ", ".join(p.name for p in opts.files),
        "messages_received": progress.messages,
        "messages_per_second": progress.messages / elapsed,
        "gaps": len(board.gaps),
    }
    return render_board(board, stats, progress.now, live.console.height)


async def _paint(live: Live, board: Board, progress: _Progress, opts: ReplayOptions) -> None:
    import asyncio

    said = False
    while True:
        try:
            live.update(_render(live, board, progress, opts), refresh=True)
        except Exception as exc:
            if not said:
                said = True
                log.error("cannot draw the table (a bug in argus): %s: %s", type(exc).__name__, exc)
        await asyncio.sleep(0.25)
