"""Rendering: board and stats in, rich renderables out. Pure; called at the repaint rate.

Values from a server or a stats file are shown with ``safe_text.plain`` or
``shown``: rich ``Text`` or plain strings, never markup (``[red]`` in data stays
literal), controls neutralized.

The board's table is laid out here, not by rich's ``Table``: measuring and
wrapping every cell of 55 rows four times a second cost a quarter of a core.
Each row's cells are formatted once per change of the row (``Row.version``) and
kept; a repaint pads them to the column widths and yields segments. The layout
is fitted to the console's width when rich renders it: columns are dropped whole
in their drop order (a number is never cut), and widths only grow, kept per
board, so a value that gets shorter (``100ms`` → ``10ms``) never moves a column.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.panel import Panel
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from .board import TREND_POINTS, Board, Row
from .safe_text import plain, shown

__all__ = ["COLUMNS", "render_board", "render_stats_table", "render_status", "sparkline"]

SPARKS = "▁▂▃▄▅▆▇█"
STALE_AFTER = 5.0  # seconds without an update before a row is dimmed
STATE_STYLES = {
    "connected": "bold green",
    "connecting": "yellow",
    "reconnecting": "bold yellow",
    "disconnected": "dim",
    "error": "bold red",
}


def sparkline(values: list[float]) -> str:
    if len(values) < 2 or not all(math.isfinite(v) for v in values):
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARKS[3] * len(values)
    if not math.isfinite(high - low):  # prices near the double's limits: halve first
        values = [v / 2 for v in values]
        low, high = low / 2, high / 2
    scale = (len(SPARKS) - 1) / (high - low)
    return "".join(SPARKS[round((v - low) * scale)] for v in values)


# --- numbers ------------------------------------------------------------------------------

HUGE = 1e15  # from here on a figure is shown in scientific notation, not 20 digits wide


def _digits(reference: float | None) -> int:
    """Decimals for a row's prices: 2, or three significant digits below 1
    (``0.000123``, not ``0.00``). Fixed by the row's first price: no jitter."""
    if reference is None or not math.isfinite(reference) or reference == 0:
        return 2
    return min(8, max(2, 2 - math.floor(math.log10(abs(reference)))))


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if abs(value) >= HUGE:
        return f"{value:.3e}"
    return f"{value:,.{digits}f}"


def _int(value: float | None) -> str:
    """A size or volume: whole numbers with separators, fractions (crypto) kept."""
    if value is None:
        return "—"
    if abs(value) >= HUGE:
        return f"{value:.3e}"
    if value == int(value) or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.4g}"


def _age(age: float | None) -> str:
    if age is None:
        return "—"
    if age < 1:
        return f"{age * 1000:.0f}ms"
    if age < 120:
        return f"{age:.1f}s"
    return f"{age / 60:.0f}m"


# --- the board's table --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    left: bool = False  # text is left-aligned, numbers right-aligned
    drop: int = 99  # narrow terminals drop the lowest first (a pair together); 99: never
    seed: int = 0  # a starting width, so the first values do not widen it at once


COLUMNS = (
    Column("Source", left=True, drop=11),
    Column("Symbol", left=True),
    Column("Last"),
    Column("Chg", drop=8),
    Column("Chg%", drop=9, seed=6),
    Column("Bid", drop=10),
    Column("Ask", drop=10),
    Column("Spread", drop=5),
    Column("Bid Sz", drop=2),
    Column("Ask Sz", drop=2),
    Column("Size", drop=3),
    Column("Volume", drop=6),
    Column("Upd/s", drop=7),
    Column("Age", drop=4, seed=5),
    Column("Trend", left=True, drop=1),
)
LEFT = frozenset(c.name for c in COLUMNS if c.left)
DROPS = sorted({c.drop for c in COLUMNS if c.drop < 99})
GAP = 2  # spaces between columns
TREND_MIN = 8  # the trend shrinks to the room left, down to this, then is dropped
TEXT_MAX = 16  # a longer symbol or source is cut (text only: never a number)

BOLD, CYAN, GREEN, RED = (
    Style(bold=True),
    Style(color="cyan"),
    Style(color="green"),
    Style(color="red"),
)
NONE, DIM, CAPTION = Style(), Style(dim=True), Style(dim=True, italic=True)
FLASH = Style(reverse=True)  # a row whose alert just fired

Cell = tuple[str, int, Style]  # text, width in cells, style


@dataclass(slots=True)
class _Cells:
    """One row's formatted cells, as of ``version``; the trend as last drawn."""

    version: int
    values: dict[str, Cell]
    colour: Style
    trend: tuple[int, Cell] = (0, ("", 0, NONE))


@dataclass(slots=True)
class _Layout:
    """What one board's table keeps between repaints: the column widths (they only
    grow) and each row's formatted cells."""

    widths: dict[str, int] = field(
        default_factory=lambda: {c.name: max(len(c.name), c.seed) for c in COLUMNS}
    )
    rows: dict[Any, _Cells] = field(default_factory=dict)

    def grow(self, name: str, width: int) -> None:
        if width > self.widths[name]:
            self.widths[name] = width


_LAYOUTS: weakref.WeakKeyDictionary[Board, _Layout] = weakref.WeakKeyDictionary()


def _cell(text: str, style: Style = NONE) -> Cell:
    """A figure's cell: ASCII digits and signs, or ``—``, one cell a character."""
    return text, len(text), style


def _label(value: str, style: Style) -> Cell:
    text = shown(value)
    if cell_len(text) > TEXT_MAX:
        text = set_cell_size(text, TEXT_MAX - 1) + "…"
    return text, cell_len(text), style


def _format(row: Row, before: _Cells | None) -> _Cells:
    """The row's cells as of its current version (the labels, which never change, kept)."""
    change, pct = row.change, row.change_pct
    colour = NONE if not change else (GREEN if change > 0 else RED)
    sign = "+" if change and change > 0 else ""
    digits = _digits(next((p for p in (row.first, row.bid, row.ask) if p is not None), None))
    if before is None:
        labels = {"Source": _label(row.source, CYAN), "Symbol": _label(row.symbol, BOLD)}
    else:
        labels = {"Source": before.values["Source"], "Symbol": before.values["Symbol"]}
    values = {
        **labels,
        "Last": _cell(_num(row.last, digits), colour),
        "Chg": _cell("—" if change is None else sign + _num(change, digits), colour),
        "Chg%": _cell("—" if pct is None else f"{sign}{_num(pct)}%", colour),
        "Bid": _cell(_num(row.bid, digits)),
        "Ask": _cell(_num(row.ask, digits)),
        "Spread": _cell(_num(row.spread, digits)),
        "Bid Sz": _cell(_int(row.bid_size)),
        "Ask Sz": _cell(_int(row.ask_size)),
        "Size": _cell(_int(row.size)),
        "Volume": _cell(_int(row.total_volume)),
    }
    return _Cells(row.version, values, colour)


def _trend(cells: _Cells, row: Row, points: int) -> Cell:
    """The sparkline of the row's last ``points`` samples, drawn again only when the
    row or the room for it changed."""
    if cells.trend[0] != points:
        values = list(row.trend)[-points:]
        cells.trend = (points, _cell(sparkline(values), cells.colour or CYAN))
    return cells.trend[1]


def _fit(widths: dict[str, int], names: list[str], width: int) -> tuple[list[str], int]:
    """The columns that fit ``width``, dropped whole in drop order; the trend's width."""
    ranks = {c.name: c.drop for c in COLUMNS}

    def total(kept: list[str]) -> int:
        cells = sum(TREND_MIN if n == "Trend" else widths[n] for n in kept)
        return cells + GAP * (len(kept) - 1)

    kept = list(names)
    for rank in DROPS:
        if total(kept) <= width:
            break
        kept = [n for n in kept if ranks[n] != rank]
    trend = min(TREND_POINTS, width - total(kept) + TREND_MIN) if "Trend" in kept else 0
    return kept, trend


class _Frame:
    """What ``render_board`` returns: the table laid out at the console's width when
    rich renders it, then the book and the status panel, as wide as the table."""

    def __init__(
        self,
        board: Board,
        many: list[dict[str, Any]],
        now: float,
        max_rows: int | None,
        flashing: Callable[[Row, float], bool] | None,
    ) -> None:
        self.board, self.many, self.now, self.max_rows = board, many, now, max_rows
        self.flashing = flashing

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        board, now = self.board, self.now
        layout = _LAYOUTS.get(board)
        if layout is None:
            layout = _LAYOUTS[board] = _Layout()
        rows = list(board.rows.items())
        hidden = 0
        if self.max_rows is not None and len(rows) > self.max_rows:
            # only what fits is built: 500 symbols on a 40-line terminal cost 40 rows
            hidden = len(rows) - (self.max_rows - 1)
            rows = rows[: self.max_rows - 1]
        depth = any(row.bids or row.asks for _, row in rows)
        names = [
            c.name
            for c in COLUMNS
            if (c.name != "Source" or board.multi_source)
            and (depth or c.name not in ("Bid Sz", "Ask Sz"))
        ]
        lines = [self._cells(layout, key, row, now) for key, row in rows]
        width = options.max_width
        kept, trend = _fit(layout.widths, names, width)
        widths = {n: trend if n == "Trend" else layout.widths[n] for n in kept}
        table_width = sum(widths.values()) + GAP * (len(kept) - 1)
        header = [(n, len(n), BOLD) for n in kept]
        yield from _line(header, kept, widths, BOLD)
        for (_, row), (cells, stale) in zip(rows, lines, strict=True):
            values = cells.values
            if trend:
                values = {**values, "Trend": _trend(cells, row, trend)}
            base = DIM if stale else NONE
            if self.flashing is not None and self.flashing(row, now):
                base = FLASH
            yield from _line([values[n] for n in kept], kept, widths, base)
        if hidden:
            caption = f"… and {hidden} more symbols (a taller terminal shows more)"
            yield Segment(set_cell_size(caption, min(width, cell_len(caption))), CAPTION)
            yield Segment.line()
        book = _book(board)
        if book is not None:
            table, title = book
            natural = Measurement.get(console, options, table).maximum + 4  # border, padding
            room = min(options.max_width, max(table_width, natural))
            yield Panel(table, title=title, title_align="left", border_style="dim", width=room)
        yield _Status(self.many, table_width)

    @staticmethod
    def _cells(layout: _Layout, key: Any, row: Row, now: float) -> tuple[_Cells, bool]:
        """The row's cells (formatted again only if the row changed) with this
        repaint's rate and age; whether the row is stale."""
        cells = layout.rows.get(key)
        if cells is None or cells.version != row.version:
            cells = layout.rows[key] = _format(row, cells)
            for name, (_, width, _) in cells.values.items():
                layout.grow(name, width)
        age = row.age(now)
        rate, shown_age = _cell(f"{row.rate(now):.1f}"), _cell(_age(age))
        layout.grow("Upd/s", rate[1])
        layout.grow("Age", shown_age[1])
        cells.values["Upd/s"], cells.values["Age"] = rate, shown_age
        return cells, age is None or age > STALE_AFTER


def _line(
    cells: list[Cell], names: list[str], widths: dict[str, int], base: Style
) -> list[Segment]:
    """One line of the table: each cell padded to its column, runs of one style joined
    (styles are shared objects: compared by identity)."""
    segments: list[Segment] = []
    text, style = "", base
    for i, (name, (value, size, cell_style)) in enumerate(zip(names, cells, strict=True)):
        if i:
            if style is not base:
                segments.append(Segment(text, style))
                text, style = "", base
            text += "  "
        wanted = cell_style if base is NONE else base + cell_style
        if wanted is not style:
            if text:
                segments.append(Segment(text, style))
            text, style = "", wanted
        pad = widths[name] - size
        text += (value + " " * pad if name in LEFT else " " * pad + value) if pad else value
    segments.append(Segment(text, style))
    segments.append(Segment.line())
    return segments


def _book(board: Board) -> tuple[Table, Text] | None:
    """The single symbol's order book, and the panel's title."""
    symbol = board.book_symbol
    if symbol is None:
        return None
    row = board.rows[symbol]
    if not row.bids and not row.asks:
        return None
    digits = _digits(next((p for p in (row.first, row.bid, row.ask) if p is not None), None))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in ("Bid Sz", "Bid", "Ask", "Ask Sz"):
        table.add_column(header, justify="right", no_wrap=True)
    for i in range(max(len(row.bids), len(row.asks))):
        bid = row.bids[i] if i < len(row.bids) else None
        ask = row.asks[i] if i < len(row.asks) else None
        table.add_row(
            _int(bid[1]) if bid else "",
            Text(_num(bid[0], digits), style="green") if bid else "",
            Text(_num(ask[0], digits), style="red") if ask else "",
            _int(ask[1]) if ask else "",
        )
    return table, plain(f"{row.symbol} book")


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
) -> RenderableType:
    """The table (cut to ``height`` lines if given), the book panel, the status panel
    (``stats``: one connection's, or one per provider), fitted to the console's width
    when rendered. Rows for which ``flashing(row, now)`` is true are shown reversed."""
    many = [stats] if isinstance(stats, dict) else list(stats)
    max_rows = None
    if height is not None:
        book_lines = 0
        if board.book_symbol is not None:
            row = board.rows[board.book_symbol]
            if row.bids or row.asks:
                book_lines = max(len(row.bids), len(row.asks)) + 3  # header and border
        status = STATUS_LINES + 2 * (len(many) - 1)
        errors = sum(1 for one in many if one.get("last_error"))
        publish = sum(1 for one in many if isinstance(one.get("publish"), dict))
        max_rows = max(2, height - 1 - status - book_lines - errors - publish)
    return _Frame(board, many, now, max_rows, flashing)


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
