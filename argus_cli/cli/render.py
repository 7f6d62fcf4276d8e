"""Rendering: board and stats in, rich renderables out. Pure; called at the repaint rate.

Values from a server or a stats file are shown with ``safe_text.plain`` or
``shown``: rich ``Text`` or plain strings, never markup (``[red]`` in data stays
literal), controls neutralized.

The board's table is laid out in ``table``; here are the status panel, the
stats table, and ``render_board``, which puts the table and the status together
in the terminal's height.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .board import Board, Row, View
from .safe_text import plain, shown
from .table import (
    COLUMNS,
    SPARKS,
    STALE_AFTER,
    TEXT_MAX,
    Books,
    Frame,
    num,
    row_digits,
    sparkline,
    whole,
)

__all__ = [
    "COLUMNS",
    "SPARKS",
    "STALE_AFTER",
    "render_board",
    "render_stats_table",
    "render_status",
    "sparkline",
]

STATE_STYLES = {
    "connected": "bold green",
    "connecting": "yellow",
    "reconnecting": "bold yellow",
    "disconnected": "dim",
    "error": "bold red",
}


# --- order books under the table ----------------------------------------------------------

DEPTH_LEVELS = 3  # each book's levels in the depth view (several symbols)
DEPTH_BAND = 1 + DEPTH_LEVELS  # a band of books: the symbols' line and their levels
DEPTH_SEP = "   "


def _books(board: Board) -> Callable[[list[tuple[Any, Row]]], Books | None]:
    """The book panel of a single symbol's board; several symbols' books, compact."""

    def books(rows: list[tuple[Any, Row]]) -> Books | None:
        if board.book_symbol is not None:
            row = board.rows[board.book_symbol]
            return _Book(row) if row.bids or row.asks else None
        depth = _Depth(board, rows)
        return depth if depth.books else None

    return books


class _Book:
    """One symbol's book, every level (the panel as wide as the table or its own)."""

    def __init__(self, row: Row) -> None:
        self.row = row

    def fit(self, width: int, lines: int) -> int:
        return max(len(self.row.bids), len(self.row.asks)) + 3  # header and border

    def panel(self, console: Console, options: ConsoleOptions, width: int) -> RenderableType:
        row = self.row
        digits = row_digits(row)
        table = Table(box=None, header_style="bold", pad_edge=False)
        for header in ("Bid Sz", "Bid", "Ask", "Ask Sz"):
            table.add_column(header, justify="right", no_wrap=True)
        for i in range(max(len(row.bids), len(row.asks))):
            bid = row.bids[i] if i < len(row.bids) else None
            ask = row.asks[i] if i < len(row.asks) else None
            table.add_row(
                whole(bid[1]) if bid else "",
                Text(num(bid[0], digits), style="green") if bid else "",
                Text(num(ask[0], digits), style="red") if ask else "",
                whole(ask[1]) if ask else "",
            )
        natural = Measurement.get(console, options, table).maximum + 4  # border, padding
        room = min(options.max_width, max(width, natural))
        title = plain(f"{row.symbol} book")
        return Panel(table, title=title, title_align="left", border_style="dim", width=room)


class _Depth:
    """Several symbols' books, top ``DEPTH_LEVELS`` levels each, side by side in
    bands, in the order given: as many as fit."""

    def __init__(self, board: Board, rows: list[tuple[Any, Row]]) -> None:
        self.labels: list[str] = []
        self.levels: list[list[tuple[str, str, str, str]]] = []
        for _, row in rows:
            if not row.bids and not row.asks:
                continue
            digits = row_digits(row)
            levels = []
            for i in range(DEPTH_LEVELS):
                bid = row.bids[i] if i < len(row.bids) else None
                ask = row.asks[i] if i < len(row.asks) else None
                levels.append(
                    (
                        whole(bid[1]) if bid else "",
                        num(bid[0], digits) if bid else "",
                        num(ask[0], digits) if ask else "",
                        whole(ask[1]) if ask else "",
                    )
                )
            label = f"{row.source}:{row.symbol}" if board.multi_source else row.symbol
            self.labels.append(shown(label))
            self.levels.append(levels)
        self.books = self.shown = len(self.labels)
        self.sizes = [
            max([len(level[i]) for levels in self.levels for level in levels] or [1])
            for i in range(4)
        ]
        widest = min(TEXT_MAX, max(map(cell_len, self.labels), default=1))
        self.block = max(sum(self.sizes) + 4, widest)  # a space, two, a space

    def _per_band(self, width: int) -> int:
        inner = max(1, width - 4)  # the border and a space each side
        return max(1, (inner + len(DEPTH_SEP)) // (self.block + len(DEPTH_SEP)))

    def fit(self, width: int, lines: int) -> int:
        per = self._per_band(width)
        bands = min(-(-self.books // per), max(1, (lines - 2) // DEPTH_BAND))
        self.shown = min(self.books, bands * per)
        return 2 + bands * DEPTH_BAND

    def panel(self, console: Console, options: ConsoleOptions, width: int) -> RenderableType:
        per = min(self.shown, self._per_band(options.max_width))  # as fitted
        needed = per * (self.block + len(DEPTH_SEP)) - len(DEPTH_SEP) + 4
        width = min(options.max_width, max(width, needed))  # the table's, or what it needs
        lines: list[Text] = []
        b, p, q, a = self.sizes
        for start in range(0, self.shown, per):
            labels = self.labels[start : start + per]
            lines.append(
                Text(DEPTH_SEP).join(
                    Text(set_cell_size(label, self.block), style="bold") for label in labels
                )
            )
            for i in range(DEPTH_LEVELS):
                parts = []
                for levels in self.levels[start : start + per]:
                    bid_size, bid, ask, ask_size = levels[i]
                    parts.append(
                        Text.assemble(
                            (bid_size.rjust(b) + " ", "dim"),
                            (bid.rjust(p), "green"),
                            "  ",
                            (ask.ljust(q), "red"),
                            (" " + ask_size.ljust(a), "dim"),
                        )
                    )
                lines.append(Text(DEPTH_SEP).join(parts))
        title = f"books, top {DEPTH_LEVELS} levels"
        if self.shown < self.books:
            title += f", {self.shown} of {self.books} (a larger terminal shows more)"
        return Panel(
            Group(*lines), title=title, title_align="left", border_style="dim", width=width
        )


# --- the status panel ---------------------------------------------------------------------

SEPARATOR = "   "
Field = tuple[int, Text]  # (importance: the least important is dropped first, the field)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _figure(value: object, spec: str) -> str:
    """A number as ``spec`` formats it; anything else (a damaged stats file) as safe text."""
    return format(value, spec) if _is_number(value) else shown(value)


def render_status(stats: dict[str, Any] | Sequence[dict[str, Any]]) -> RenderableType:
    """The connection's health; with several connections (one per provider), two
    lines each, led by the source. As wide as the console."""
    return _Status([stats] if isinstance(stats, dict) else list(stats), None)


class _Status:
    """The status panel, ``width`` wide (or the console's width): each connection's
    fields on one or two lines, whole; the least important dropped when they do not fit."""

    def __init__(self, many: list[dict[str, Any]], width: int | None) -> None:
        self.many, self.width = many, width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        room = options.max_width if self.width is None else min(self.width, options.max_width)
        inner = max(1, room - 4)  # the border and a space each side
        lines: list[RenderableType] = []
        for one in self.many:
            lines += _status_lines(one, len(self.many) > 1, inner)
        yield Panel(
            Group(*lines),
            title="argus",
            title_align="left",
            border_style="blue",
            width=None if self.width is None else room,
        )


def _pack(fields: list[Field], width: int, most: int) -> list[Text]:
    """``fields`` in order on at most ``most`` lines of ``width``, never split: the least
    important are dropped until the rest fit; one too wide for a line is cut at its end."""
    fields = list(fields)
    while True:
        lines: list[list[Text]] = [[]]
        used = 0
        for _, text in fields:
            size = text.cell_len
            if lines[-1] and used + len(SEPARATOR) + size > width:
                lines.append([])
                used = 0
            used += (len(SEPARATOR) if lines[-1] else 0) + size
            lines[-1].append(text)
        if len(lines) <= most or len(fields) == 1:
            break
        del fields[min(range(len(fields)), key=lambda i: fields[i][0])]
    packed = []
    for parts in lines[:most]:
        line = Text(SEPARATOR).join(parts)
        line.truncate(width, overflow="ellipsis")
        packed.append(line)
    return packed


def _fits(fields: list[Field], width: int) -> bool:
    return sum(t.cell_len for _, t in fields) + len(SEPARATOR) * (len(fields) - 1) <= width


def _status_lines(stats: dict[str, Any], labelled: bool, width: int) -> list[RenderableType]:
    state = shown(stats.get("state", "?"))
    p50, p99 = stats.get("latency_p50_ms"), stats.get("latency_p99_ms")
    latency = "—" if p50 is None else f"p50 {_figure(p50, '.1f')} ms  p99 {_figure(p99, '.1f')} ms"
    conn = shown(str(stats.get("connection_id") or "—")[:8])
    uptime = shown(str(stats.get("uptime", "0:00:00")).split(".")[0])
    source = shown(stats.get("source", ""))
    head = Text.assemble(
        (f"{source} " if labelled else "", "bold cyan"),
        ("● ", STATE_STYLES.get(state, "")),
        (state, STATE_STYLES.get(state, "")),
    )
    gaps, errors = stats.get("gaps", 0), stats.get("errors", 0)
    first: list[Field] = [
        (100, head),
        (60, Text.assemble("server ", (shown(stats.get("url", "")), "cyan"))),
        (20, Text(f"conn {conn}")),
        (30, Text(f"uptime {uptime}")),
    ]
    second: list[Field] = [
        (80, Text(f"msgs {_figure(stats.get('messages_received', 0), ',')}")),
        (50, Text(f"rate {_figure(stats.get('messages_per_second', 0), ',.1f')}/s")),
        (70, Text(f"latency {latency}")),
        (40, Text(f"reconnects {shown(stats.get('reconnect_count', 0))}")),
        (85, Text.assemble("gaps ", (shown(gaps), "bold yellow" if gaps else ""))),
        (90, Text.assemble("errors ", (shown(errors), "bold red" if errors else ""))),
    ]
    if _fits(first, width) and _fits(second, width):
        lines: list[RenderableType] = [*_pack(first, width, 1), *_pack(second, width, 1)]
    else:
        lines = [*_pack(first + second, width, 2)]
    if stats.get("last_error") and state != "connected":
        error = plain(f"last error: {stats['last_error']}", "red")
        error.truncate(width, overflow="ellipsis")
        lines.append(error)
    publish = stats.get("publish")
    if isinstance(publish, dict):
        lines += _pack(_publish_fields(publish), width, 1)
    return lines


def _publish_fields(publish: dict[str, Any]) -> list[Field]:
    """``--publish``: where to, how, and what was kept or lost."""
    state = shown(publish.get("state", "?"))
    dropped, buffered = publish.get("dropped", 0), publish.get("buffered", 0)
    servers = publish.get("servers")
    where = ",".join(shown(s) for s in servers) if isinstance(servers, list) else "?"
    return [
        (100, Text.assemble("publish ", ("● " + state, STATE_STYLES.get(state, "")))),
        (40, Text(where, style="cyan")),
        (20, Text(shown(publish.get("mode", "")))),
        (70, Text(f"published {_figure(publish.get('published', 0), ',')}")),
        (50, Text.assemble("buffered ", (_figure(buffered, ","), "yellow" if buffered else ""))),
        (90, Text.assemble("dropped ", (_figure(dropped, ","), "bold red" if dropped else ""))),
    ]


STATUS_LINES = 4  # the status panel: two lines inside a border


def render_board(
    board: Board,
    stats: dict[str, Any] | Sequence[dict[str, Any]],
    now: float,
    height: int | None = None,
    flashing: Callable[[Row, float], bool] | None = None,
    view: View | None = None,
) -> RenderableType:
    """The table (cut to ``height`` lines if given), the book panel (one symbol) or
    the books (several), the status panel (``stats``: one connection's, or one per
    provider), fitted to the console's width when rendered. Rows for which
    ``flashing(row, now)`` is true are shown reversed. ``view`` orders and scrolls
    the rows; with keys (``view.keys``) a footer shows them."""
    many = [stats] if isinstance(stats, dict) else list(stats)
    budget = None
    if height is not None:
        status = STATUS_LINES + 2 * (len(many) - 1)
        errors = sum(1 for one in many if one.get("last_error"))
        publish = sum(1 for one in many if isinstance(one.get("publish"), dict))
        budget = height - 1 - status - errors - publish
    status_of = lambda width: _Status(many, width)  # noqa: E731
    return Frame(board, now, budget, flashing, view, status_of, _books(board))


STATS_COLUMNS = (
    ("pid", "PID"),
    ("profile", "Profile"),
    ("symbols", "Symbols"),
    ("state", "State"),
    ("uptime", "Uptime"),
    ("messages_received", "Msgs"),
    ("messages_per_second", "Msg/s"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p99_ms", "p99 ms"),
    ("reconnect_count", "Reconn"),
    ("gaps", "Gaps"),
    ("errors", "Errors"),
    ("url", "Server"),
)

# shown when a stream publishes to NATS (``--publish``)
PUBLISH_COLUMNS = (("publish.published", "Published"), ("publish.dropped", "Dropped"))


def render_stats_table(streams: list[dict[str, Any]]) -> Table:
    """One row per stats file. The files are read from a shared directory: every
    value is shown as literal, neutralized text, whatever its type."""
    table = Table(header_style="bold", box=None, pad_edge=False)
    columns: tuple[tuple[str, str], ...] = STATS_COLUMNS
    if any(isinstance(stream.get("publish"), dict) for stream in streams):
        columns = STATS_COLUMNS[:-1] + PUBLISH_COLUMNS + STATS_COLUMNS[-1:]
    for _, header in columns:
        table.add_column(header, justify="left" if header in ("Symbols", "Server") else "right")
    for stream in streams:
        cells: list[RenderableType] = []
        for key, _ in columns:
            if key.startswith("publish."):
                publish = stream.get("publish")
                value = publish.get(key[8:]) if isinstance(publish, dict) else None
            else:
                value = stream.get(key)
            if key == "symbols" and isinstance(value, list):
                value = ",".join(map(str, value[:6])) + ("…" if len(value) > 6 else "")
            elif key == "uptime" and isinstance(value, str):
                value = value.split(".")[0]
            cells.append(plain("—" if value is None else value))
        table.add_row(*cells)
    return table
