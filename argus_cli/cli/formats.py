"""How ``stream`` and ``quote`` write lines: ``--format``, ``--fields``, ``--time``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from . import options

if TYPE_CHECKING:
    from ..sinks import Sink

__all__ = ["FORMATS", "Fields", "Json", "TimeFormat", "choose_format", "make_sink"]

FORMATS = ("auto", "table", "jsonl", "csv", "tsv", "none")
Json = Annotated[bool, typer.Option("--json", help="JSON lines (same as --format jsonl).")]
Fields = Annotated[
    str | None,
    typer.Option(
        "--fields",
        metavar="FIELDS",
        help="Comma list of the fields to write, in order (csv, tsv, jsonl), e.g. "
        "symbol,price,bid,ask,timestamp.",
        show_default=False,
    ),
]
TimeFormat = Annotated[
    str | None,
    typer.Option(
        "--time",
        metavar="FORMAT",
        help="How timestamp and received are written (csv, tsv, jsonl): epoch (seconds, "
        "the default) or iso (ISO 8601 UTC, 2026-11-29T14:03:07.123456Z).",
        show_default=False,
    ),
]


def choose_format(
    *,
    json_: bool,
    format_: str,
    fields: str | None,
    time_: str | None,
    valid_fields: Sequence[str],
    formats: Sequence[str] = FORMATS,
) -> tuple[str, list[str] | None, str]:
    """(output, fields, time): ``table``, ``jsonl``, ``csv``, ``tsv`` or ``none`` (auto:
    the table on a terminal, else JSON lines), the ``--fields`` checked against
    ``valid_fields`` (None: not given), and ``epoch`` or ``iso``. ``--fields`` and
    ``--time`` shape written lines: with the table or ``none`` they are refused (exit 2,
    naming the pair), as is an unknown field (naming it and listing the valid ones)."""
    if format_ not in formats:
        raise typer.BadParameter(
            f"{format_!r} is not one of {', '.join(formats)}", param_hint="'--format'"
        )
    time = "epoch"
    if time_ is not None:
        time = time_.strip().lower()
        if time not in ("epoch", "iso"):
            raise typer.BadParameter(f"{time_!r} is not one of iso, epoch", param_hint="'--time'")
    output = "jsonl" if json_ else format_
    if output == "auto":
        output = "table" if sys.stdout.isatty() else "jsonl"
    for flag, given in (("--fields", fields is not None), ("--time", time_ is not None)):
        if not given:
            continue
        if output == "none":
            raise options.conflict(flag, "--format none", "--format none writes nothing")
        if output == "table" and format_ == "table":
            raise options.conflict(flag, "--format table", "the table has its own columns")
        if output == "table":
            raise options.conflict(
                flag,
                "the table",
                "standard output is a terminal: add --json, --format csv or --format tsv",
            )
    chosen: list[str] | None = None
    if fields is not None:
        from ..sinks.delimited import parse_fields

        try:
            chosen = parse_fields(fields, valid_fields)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--fields'") from None
    return output, chosen, time


def make_sink(output: str, fields: Sequence[str] | None, time: str) -> Sink | None:
    """The sink for standard output: CSV/TSV, or JSON lines cut to ``fields`` or with
    ``iso`` times; None for plain JSON lines (``StreamOutput``'s own) or no lines."""
    from ..sinks.delimited import Columns, DelimitedSink, SelectedJsonLinesSink

    if output in ("csv", "tsv"):
        assert fields is not None
        return DelimitedSink(Columns(fields, time), output)
    if output == "jsonl" and (fields is not None or time != "epoch"):
        return SelectedJsonLinesSink(Columns(fields, time))
    return None
