"""The board's table, laid out by hand: rows, header, footer, and the books. Pure.

Not rich's ``Table``: measuring and wrapping every cell of 55 rows four times a
second cost a quarter of a core. Each row's cells are formatted once per change
of the row (``Row.version``) and kept; a repaint pads them to the column widths
and yields segments. The layout is fitted to the console's width when rich
renders it: columns are dropped whole in their drop order (a number is never
cut), and widths only grow, kept per board, so a value that gets shorter
(``100ms`` → ``10ms``) never moves a column. Columns the subscribed data types
cannot fill are left out (``Board.can_fill``).

The ``View`` (keys) orders and scrolls the rows; the sorted column's header has
an arrow in the gap beside it, so no column gets wider for it.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment
from rich.style import Style

from .board import TREND_POINTS, Board, Row, View
from .keys import FOOTER, HELP
from .safe_text import shown

__all__ = ["COLUMNS", "STALE_AFTER", "Books", "Frame", "sparkline"]

SPARKS = "▁▂▃▄▅▆▇█"
STALE_AFTER = 5.0  # seconds without an update before a row is dimmed


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


def row_digits(row: Row) -> int:
    return _digits(next((p for p in (row.first, row.bid, row.ask) if p is not None), None))


def num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if abs(value) >= HUGE:
        return f"{value:.3e}"
    return f"{value:,.{digits}f}"


def whole(value: float | None) -> str:
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


# --- columns and cells --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    left: bool = False  # text is left-aligned, numbers right-aligned
    drop: int = 99  # narrow terminals drop the lowest first (a pair together); 99: never
    seed: int = 0  # a starting width, so the first values do not widen it at once


COLUMNS = (
    Column("Source", left=True, drop=12),
    Column("Symbol", left=True),
    Column("Last"),
    Column("Chg", drop=9),
    Column("Chg%", drop=10, seed=6),
    Column("High", drop=2),
    Column("Low", drop=2),
    Column("Bid", drop=11),
    Column("Ask", drop=11),
    Column("Spread", drop=6),
    Column("Bid Sz", drop=3),
    Column("Ask Sz", drop=3),
    Column("Size", drop=4),
    Column("Volume", drop=7),
    Column("Upd/s", drop=8),
    Column("Age", drop=5, seed=5),
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
PAUSED = Style(bold=True, reverse=True, color="yellow")

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
    digits = row_digits(row)
    if before is None:
        labels = {"Source": _label(row.source, CYAN), "Symbol": _label(row.symbol, BOLD)}
    else:
        labels = {"Source": before.values["Source"], "Symbol": before.values["Symbol"]}
    values = {
        **labels,
        "Last": _cell(num(row.last, digits), colour),
        "Chg": _cell("—" if change is None else sign + num(change, digits), colour),
        "Chg%": _cell("—" if pct is None else f"{sign}{num(pct)}%", colour),
        "High": _cell(num(row.high, digits)),
        "Low": _cell(num(row.low, digits)),
        "Bid": _cell(num(row.bid, digits)),
        "Ask": _cell(num(row.ask, digits)),
        "Spread": _cell(num(row.spread, digits)),
        "Bid Sz": _cell(whole(row.bid_size)),
        "Ask Sz": _cell(whole(row.ask_size)),
        "Size": _cell(whole(row.size)),
        "Volume": _cell(whole(row.total_volume)),
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


def _header(kept: list[str], widths: dict[str, int], view: View | None) -> str:
    """The column names, each over its column; ▲/▼ beside the sorted one, in its gap."""
    text = "  ".join(n.ljust(widths[n]) if n in LEFT else n.rjust(widths[n]) for n in kept)
    sort = view.sort if view is not None else None
    if sort in kept:
        assert sort is not None
        start = sum(widths[n] + GAP for n in kept[: kept.index(sort)])
        at = start + len(sort) if sort in LEFT else start + widths[sort] - len(sort) - 1
        arrow = "▼" if view is not None and view.descending else "▲"
        text = text[:at] + arrow + text[at + 1 :]
    return text


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


def _caption(text: str, width: int, style: Style = CAPTION) -> list[Segment]:
    return [Segment(set_cell_size(text, min(width, cell_len(text))), style), Segment.line()]


# --- the frame ----------------------------------------------------------------------------


class Books(Protocol):
    """A panel of order books under the table (``render``'s)."""

    def fit(self, width: int, lines: int) -> int:
        """Keep what fits about ``lines`` lines at ``width``; the lines it takes."""

    def panel(self, console: Console, options: ConsoleOptions, width: int) -> RenderableType:
        """The panel, about ``width`` (the table's) wide."""


class Frame:
    """The table laid out at the console's width when rich renders it, its footer
    (with keys), then the book or the books, and the status (``status(width)``: as
    wide as the table). ``budget``: the lines for the table, footer and books."""

    def __init__(
        self,
        board: Board,
        now: float,
        budget: int | None,
        flashing: Callable[[Row, float], bool] | None,
        view: View | None,
        status: Callable[[int], RenderableType],
        books: Callable[[list[tuple[Any, Row]]], Books | None],
    ) -> None:
        self.board, self.now, self.budget, self.flashing = board, now, budget, flashing
        self.view, self.status, self.books = view, status, books

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        board, now, view, width = self.board, self.now, self.view, options.max_width
        layout = _LAYOUTS.get(board)
        if layout is None:
            layout = _LAYOUTS[board] = _Layout()
        rows = board.ordered(view, now)
        total = len(rows)
        keys = view is not None and view.keys
        books = any(row.bids or row.asks for row in board.rows.values())
        names = [
            c.name
            for c in COLUMNS
            if (c.name != "Source" or board.multi_source)
            and (books or c.name not in ("Bid Sz", "Ask Sz"))
            and board.can_fill(c.name)
        ]
        footer = _footer(view, width) if keys else []
        depth = None
        if books:  # in the table's order, from its first row shown
            start = view.offset if keys and view is not None else 0
            depth = self.books(rows[start:] + rows[:start])
        max_rows = None
        if self.budget is not None:
            spare = self.budget - sum(1 for s in footer if s.text == "\n")
            if depth is not None:
                spare -= depth.fit(width, spare // 2)
            max_rows = max(2, spare)
        caption = ""
        if max_rows is not None and total > max_rows:
            # only what fits is built: 500 symbols on a 40-line terminal cost 40 rows
            page = max_rows - 1
            if keys:
                assert view is not None
                offset = view.fit(total, page)
                rows = rows[offset : offset + page]
                caption = f"rows {offset + 1}-{offset + page} of {total} (j/k, PgDn/PgUp scroll)"
            else:
                caption = f"… and {total - page} more symbols (a taller terminal shows more)"
                rows = rows[:page]
        elif view is not None:
            view.fit(total, total)
        lines = [_cells(layout, key, row, now) for key, row in rows]
        kept, trend = _fit(layout.widths, names, width)
        widths = {n: trend if n == "Trend" else layout.widths[n] for n in kept}
        table_width = _width(widths, kept, trend)
        yield Segment(_header(kept, widths, view), BOLD)
        yield Segment.line()
        for (_, row), (cells, stale) in zip(rows, lines, strict=True):
            values = cells.values
            if trend:
                values = {**values, "Trend": _trend(cells, row, trend)}
            base = DIM if stale else NONE
            if self.flashing is not None and self.flashing(row, now):
                base = FLASH
            yield from _line([values[n] for n in kept], kept, widths, base)
        if caption:
            yield from _caption(caption, width)
        yield from footer
        if depth is not None:
            yield depth.panel(console, options, table_width)
        yield self.status(table_width)


def _width(widths: dict[str, int], kept: list[str], trend: int) -> int:
    return sum(trend if n == "Trend" else widths[n] for n in kept) + GAP * (len(kept) - 1)


def _cells(layout: _Layout, key: Any, row: Row, now: float) -> tuple[_Cells, bool]:
    """The row's cells (formatted again only if the row changed) with this repaint's
    rate and age; whether the row is stale."""
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


def _footer(view: View | None, width: int) -> list[Segment]:
    """The keys on one line (PAUSED first while paused); with ``?``, what each does."""
    if view is None:
        return []
    segments: list[Segment] = []
    used = 0
    if view.paused:
        segments += [Segment(" PAUSED ", PAUSED), Segment("  ")]
        used = 10
    order = f"sort {view.sort} {'▼' if view.descending else '▲'}" if view.sort else "as given"
    if view.reverse and not view.sort:
        order += " ↕"
    text = f"{order}   {FOOTER}"
    segments += _caption(text, max(0, width - used), DIM)
    if view.help:
        words, line = HELP.split("  "), ""
        for word in words:
            if line and cell_len(line) + 2 + cell_len(word) > width:
                segments += _caption(line, width, DIM)
                line = ""
            line = f"{line}  {word}" if line else word
        segments += _caption(line, width, DIM)
    return segments
