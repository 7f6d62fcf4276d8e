"""Rendering: board and stats in, rich renderables out. Pure; called at the repaint rate.

Values from a server or a stats file are shown with ``safe_text.plain``: rich
``Text``, never markup (``[red]`` in data stays literal), controls neutralized.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .board import Board, Row
from .safe_text import plain, shown

__all__ = ["render_board", "render_stats_table", "render_status", "sparkline"]

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


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _int(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _age(age: float | None) -> str:
    if age is None:
        return "—"
    if age < 1:
        return f"{age * 1000:.0f}ms"
    if age < 120:
        return f"{age:.1f}s"
    return f"{age / 60:.0f}m"


def _row_cells(
    row: Row, now: float, depth: bool, source: bool = False
) -> tuple[list[RenderableType], str]:
    change, pct = row.change, row.change_pct
    colour = "" if change is None or change == 0 else ("green" if change > 0 else "red")
    sign = "+" if change and change > 0 else ""
    age = row.age(now)
    cells: list[RenderableType] = [plain(row.source, "cyan")] if source else []
    cells += [
        plain(row.symbol, "bold"),
        Text(_num(row.last), style=colour),
        Text("—" if change is None else f"{sign}{change:,.2f}", style=colour),
        Text("—" if pct is None else f"{sign}{pct:.2f}%", style=colour),
        _num(row.bid),
        _num(row.ask),
        _num(row.spread),
    ]
    if depth:
        cells += [_int(row.bid_size), _int(row.ask_size)]
    cells += [
        _int(row.size),
        _int(row.total_volume),
        f"{row.rate(now):.1f}",
        _age(age),
        Text(sparkline(list(row.trend)), style=colour or "cyan"),
    ]
    stale = age is None or age > STALE_AFTER
    return cells, "dim" if stale else ""


def _table(board: Board, now: float, max_rows: int | None) -> Table:
    rows = list(board.rows.values())
    hidden = 0
    if max_rows is not None and len(rows) > max_rows:
        # only what fits is built: 500 symbols on a 40-line terminal cost 40 rows
        hidden = len(rows) - (max_rows - 1)
        rows = rows[: max_rows - 1]
    depth = any(r.bids or r.asks for r in rows)
    table = Table(expand=False, header_style="bold", pad_edge=False, box=None)
    headers = ["Source"] if board.multi_source else []
    headers += ["Symbol", "Last", "Chg", "Chg%", "Bid", "Ask", "Spread"]
    if depth:
        headers += ["Bid Sz", "Ask Sz"]
    headers += ["Size", "Volume", "Upd/s", "Age", "Trend"]
    for header in headers:
        left = header in ("Source", "Symbol", "Trend")
        table.add_column(header, justify="left" if left else "right")
    for row in rows:
        cells, style = _row_cells(row, now, depth, board.multi_source)
        table.add_row(*cells, style=style)
    if hidden:
        table.caption = f"… and {hidden} more symbols (a taller terminal shows more)"
        table.caption_justify = "left"
    return table


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _figure(value: object, spec: str) -> str:
    """A number as ``spec`` formats it; anything else (a damaged stats file) as safe text."""
    return format(value, spec) if _is_number(value) else shown(value)


def render_status(stats: dict[str, Any] | Sequence[dict[str, Any]]) -> Panel:
    """The connection's health; with several connections (one per provider), two
    lines each, led by the source."""
    many = [stats] if isinstance(stats, dict) else list(stats)
    lines: list[RenderableType] = []
    for one in many:
        lines += _status_lines(one, len(many) > 1)
    return Panel(Group(*lines), title="argus", title_align="left", border_style="blue")


def _status_lines(stats: dict[str, Any], labelled: bool) -> list[RenderableType]:
    state = shown(stats.get("state", "?"))
    p50, p99 = stats.get("latency_p50_ms"), stats.get("latency_p99_ms")
    latency = "—" if p50 is None else f"p50 {_figure(p50, '.1f')} ms  p99 {_figure(p99, '.1f')} ms"
    conn = shown(str(stats.get("connection_id") or "—")[:8])
    uptime = shown(str(stats.get("uptime", "0:00:00")).split(".")[0])
    line = Text.assemble(
        (f"{shown(stats.get('source', ''))} " if labelled else "", "bold cyan"),
        ("● ", STATE_STYLES.get(state, "")),
        (state, STATE_STYLES.get(state, "")),
        "   server ",
        (shown(stats.get("url", "")), "cyan"),
        f"   conn {conn}",
        f"   uptime {uptime}",
    )
    gaps, errors = stats.get("gaps", 0), stats.get("errors", 0)
    second = Text.assemble(
        f"msgs {_figure(stats.get('messages_received', 0), ',')}",
        f"   rate {_figure(stats.get('messages_per_second', 0), ',.1f')}/s",
        f"   latency {latency}",
        f"   reconnects {shown(stats.get('reconnect_count', 0))}",
        ("   gaps ", ""),
        (shown(gaps), "bold yellow" if gaps else ""),
        ("   errors ", ""),
        (shown(errors), "bold red" if errors else ""),
    )
    lines: list[RenderableType] = [line, second]
    if stats.get("last_error") and state != "connected":
        lines.append(plain(f"last error: {stats['last_error']}", "red"))
    publish = stats.get("publish")
    if isinstance(publish, dict):
        lines.append(_publish_line(publish))
    return lines


def _publish_line(publish: dict[str, Any]) -> Text:
    """``--publish``: where to, how, and what was kept or lost."""
    state = shown(publish.get("state", "?"))
    dropped, buffered = publish.get("dropped", 0), publish.get("buffered", 0)
    servers = publish.get("servers")
    where = ",".join(shown(s) for s in servers) if isinstance(servers, list) else "?"
    return Text.assemble(
        "publish ",
        ("● ", STATE_STYLES.get(state, "")),
        (state, STATE_STYLES.get(state, "")),
        "   ",
        (where, "cyan"),
        f"   {shown(publish.get('mode', ''))}",
        f"   published {_figure(publish.get('published', 0), ',')}",
        ("   buffered ", ""),
        (_figure(buffered, ","), "yellow" if buffered else ""),
        ("   dropped ", ""),
        (_figure(dropped, ","), "bold red" if dropped else ""),
    )


def _book(board: Board) -> Panel | None:
    symbol = board.book_symbol
    if symbol is None:
        return None
    row = board.rows[symbol]
    if not row.bids and not row.asks:
        return None
    name = row.symbol
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in ("Bid Sz", "Bid", "Ask", "Ask Sz"):
        table.add_column(header, justify="right")
    for i in range(max(len(row.bids), len(row.asks))):
        bid = row.bids[i] if i < len(row.bids) else None
        ask = row.asks[i] if i < len(row.asks) else None
        table.add_row(
            _int(bid[1]) if bid else "",
            Text(_num(bid[0]), style="green") if bid else "",
            Text(_num(ask[0]), style="red") if ask else "",
            _int(ask[1]) if ask else "",
        )
    return Panel(table, title=plain(f"{name} book"), title_align="left", border_style="dim")


STATUS_LINES = 4  # the status panel: two lines inside a border


def render_board(
    board: Board,
    stats: dict[str, Any] | Sequence[dict[str, Any]],
    now: float,
    height: int | None = None,
) -> RenderableType:
    """The table (cut to ``height`` lines if given), the book panel, the status panel
    (``stats``: one connection's, or one per provider)."""
    many = [stats] if isinstance(stats, dict) else list(stats)
    book = _book(board)
    max_rows = None
    if height is not None:
        book_lines = 0
        if book is not None and board.book_symbol is not None:
            book_lines = len(board.rows[board.book_symbol].asks) + 3
        status = STATUS_LINES + 2 * (len(many) - 1)
        errors = sum(1 for one in many if one.get("last_error"))
        max_rows = max(2, height - 1 - status - book_lines - errors)
    parts: list[RenderableType] = [_table(board, now, max_rows)]
    if book is not None:
        parts.append(book)
    parts.append(render_status(many))
    return Group(*parts)


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
