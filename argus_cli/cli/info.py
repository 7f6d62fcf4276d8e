"""``argus info FILE...``: what a recording holds, without playing it."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import exit_codes, options

__all__ = ["INFO_HELP", "info", "summarize"]

INFO_HELP = (
    "Summarize recordings: symbols, types, time span, message counts in all and per "
    "symbol, gaps, and each symbol's first and last seq per type.\n\n"
    "\b\nExamples:\n"
    "  argus info day.jsonl.zst\n"
    "  argus info part-*.jsonl.gz --json | jq .symbols\n\n" + exit_codes.EXIT_CODES_HELP
)

_DATA = ("price", "volume", "orderbook")


def summarize(paths: list[Path]) -> dict[str, Any]:
    """The summary ``argus info --json`` prints, of ``paths`` read in order."""
    from ..sources.recording import ReadCounts, iter_recording

    counts = ReadCounts()
    types: dict[str, int] = {}
    symbols: dict[tuple[str, str], dict[str, Any]] = {}
    first: float | None = None
    last: float | None = None
    gaps = 0
    for event in iter_recording(*paths, counts=counts):
        kind = event["type"]
        types[kind] = types.get(kind, 0) + 1
        received = event.get("received")
        if isinstance(received, int | float):
            first = received if first is None or received < first else first
            last = received if last is None or received > last else last
        key = (str(event.get("source", "")), str(event.get("symbol", "")))
        entry = symbols.get(key)
        if entry is None:
            entry = symbols[key] = {
                "source": key[0],
                "symbol": key[1],
                "messages": 0,
                "types": {},
                "gaps": 0,
                "seq": {},
            }
        if kind == "gap":
            gaps += 1
            entry["gaps"] += 1
            continue
        entry["messages"] += 1
        entry["types"][kind] = entry["types"].get(kind, 0) + 1
        seq = event.get("seq")
        if isinstance(seq, int):
            span = entry["seq"].get(kind)
            if span is None:
                entry["seq"][kind] = {"first": seq, "last": seq}
            else:
                span["first"] = min(span["first"], seq)
                span["last"] = max(span["last"], seq)
    data_messages = sum(n for kind, n in types.items() if kind != "gap")
    return {
        "files": [str(p) for p in paths],
        "messages": counts.events,
        "data_messages": data_messages,
        "malformed_lines": counts.malformed,
        "start": first,
        "end": last,
        "start_iso": _iso(first),
        "end_iso": _iso(last),
        "duration": (last - first) if first is not None and last is not None else None,
        "types": dict(sorted(types.items())),
        "gaps": gaps,
        "symbols": sorted(symbols.values(), key=lambda e: (e["source"], e["symbol"])),
    }


def _iso(when: float | None) -> str | None:
    if when is None:
        return None
    return dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="milliseconds")


def info(
    files: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE",
            help="Recordings (.jsonl, .jsonl.zst, .jsonl.gz), summarized together.",
            show_default=False,
        ),
    ],
    json_: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
    no_color: options.NoColor = False,
) -> None:
    """Summarize recordings: symbols, types, time span, counts, gaps, seq."""
    import orjson

    paths = [Path(f) for f in files]
    for path in paths:
        if not path.is_file():
            raise typer.BadParameter(f"{path}: no such file", param_hint="FILE")
    from .runtime import setup_logging

    setup_logging(os.environ.get("ARGUS_LOG_LEVEL", "WARNING"))
    try:
        summary = summarize(paths)
    except OSError as exc:
        raise exit_codes.CommandExit(
            exit_codes.RUNTIME_FAILURE, f"cannot read the recording: {exc}"
        ) from None
    if json_:
        sys.stdout.buffer.write(orjson.dumps(summary, option=orjson.OPT_APPEND_NEWLINE))
        sys.stdout.flush()
        return
    _print_table(summary, no_color)


def _print_table(summary: dict[str, Any], no_color: bool) -> None:
    from rich.table import Table

    from .console import make_console
    from .safe_text import plain

    console = make_console(no_color)
    duration = summary["duration"]
    span = (
        f"{summary['start_iso']} .. {summary['end_iso']} ({duration:.3f}s)"
        if duration is not None
        else "—"
    )
    types = ", ".join(f"{k} {v:,}" for k, v in summary["types"].items()) or "—"
    console.print(plain(f"files     {', '.join(summary['files'])}"))
    console.print(plain(f"span      {span}"))
    console.print(plain(f"messages  {summary['messages']:,} ({types})"))
    console.print(plain(f"gaps      {summary['gaps']:,}"))
    if summary["malformed_lines"]:
        console.print(plain(f"malformed {summary['malformed_lines']:,} lines skipped", "yellow"))
    table = Table(show_edge=False)
    for title, justify in (
        ("source", "left"),
        ("symbol", "left"),
        ("messages", "right"),
        ("types", "left"),
        ("seq (first..last)", "left"),
        ("gaps", "right"),
    ):
        table.add_column(title, justify=justify)  # type: ignore[arg-type]
    for entry in summary["symbols"]:
        table.add_row(
            plain(entry["source"]),
            plain(entry["symbol"]),
            f"{entry['messages']:,}",
            plain(", ".join(f"{k} {v:,}" for k, v in entry["types"].items())),
            plain(
                ", ".join(f"{k} {s['first']}..{s['last']}" for k, s in entry["seq"].items()) or "—"
            ),
            f"{entry['gaps']:,}",
        )
    console.print(table)
