"""The market board: the latest state of every streamed symbol, and how the table
views it (sort, scroll, pause). Pure, no rendering, no terminal.

Handlers update it at any rate; the renderer reads it at the repaint rate.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SORTS", "Board", "Row", "View"]

TREND_POINTS = 24
TREND_STEP = 0.5  # seconds between trend samples
RATE_WINDOW = 5.0  # seconds of updates behind the updates/s column


@dataclass(slots=True)
class Row:
    symbol: str
    source: str = ""
    first: float | None = None
    last: float | None = None
    high: float | None = None  # the session's highest and lowest last price
    low: float | None = None
    bid: float | None = None
    ask: float | None = None
    size: float | None = None
    total_volume: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    bids: list[list[float]] = field(default_factory=list)
    asks: list[list[float]] = field(default_factory=list)
    updated: float | None = None  # receive time of the last update
    updates: deque[float] = field(default_factory=deque)
    trend: deque[float] = field(default_factory=lambda: deque(maxlen=TREND_POINTS))
    trend_at: float = 0.0
    version: int = 0  # counts the updates that changed the row (the renderer caches by it)

    @property
    def change(self) -> float | None:
        if self.first is None or self.last is None:
            return None
        change = self.last - self.first
        return change if math.isfinite(change) else None

    @property
    def change_pct(self) -> float | None:
        if self.first in (None, 0) or self.last is None:
            return None
        assert self.first is not None
        pct = (self.last - self.first) / self.first * 100
        return pct if math.isfinite(pct) else None

    @property
    def spread(self) -> float | None:
        if self.bid is None or self.ask is None:
            return None
        return self.ask - self.bid

    def rate(self, now: float) -> float:
        updates = self.updates
        while updates and updates[0] < now - RATE_WINDOW:
            updates.popleft()
        return len(updates) / RATE_WINDOW

    def age(self, now: float) -> float | None:
        return None if self.updated is None else max(0.0, now - self.updated)


class Board:
    """One row per symbol; with several sources (``coinbase:BTC-USD kraken:BTC/USD``)
    one row per (source, symbol), and ``multi_source`` is true."""

    def __init__(self, symbols: list[str], sources: list[str] | None = None) -> None:
        sources = sources if sources is not None else [""] * len(symbols)
        self.multi_source = len(set(sources)) > 1
        self.rows: dict[Any, Row] = {
            self._key(source, symbol): Row(symbol, source)
            for symbol, source in zip(symbols, sources, strict=True)
        }
        self.gaps: list[Mapping[str, Any]] = []
        self.book_symbol = next(iter(self.rows)) if len(self.rows) == 1 else None
        # the subscribed data types (``--types``): the table shows only the columns
        # they can fill; None: any (every column)
        self.data_types: frozenset[str] | None = None

    def can_fill(self, column: str) -> bool:
        """Whether the subscribed data types can fill ``column`` (a book fills Bid
        and Ask, only prices fill Last and Chg, only volumes fill Volume)."""
        needs = FILLED_BY.get(column)
        return needs is None or self.data_types is None or bool(needs & self.data_types)

    def ordered(self, view: View | None, now: float) -> list[tuple[Any, Row]]:
        """The rows in ``view``'s order (as given when unsorted); rows without the
        sorted figure last, whichever the direction."""
        rows = list(self.rows.items())
        if view is None or view.sort is None:
            return rows[::-1] if view is not None and view.reverse else rows
        figure = SORT_KEYS[view.sort]
        # a str (Symbol) or a float (the rest): one kind per sort
        known: list[tuple[Any, Any, Row]] = [(figure(row, now), key, row) for key, row in rows]
        present = [k for k in known if k[0] is not None]
        present.sort(key=lambda k: k[0], reverse=view.descending)
        return [(key, row) for _, key, row in present] + [
            (key, row) for value, key, row in known if value is None
        ]

    def _key(self, source: str, symbol: str) -> Any:
        return (source, symbol) if self.multi_source else symbol

    def update(self, msg: Mapping[str, Any]) -> None:
        kind = msg.get("type")
        symbol = msg.get("symbol", "")
        row = self.rows.get((msg.get("source"), symbol) if self.multi_source else symbol)
        if row is None:
            return
        now = msg.get("received") or 0.0
        row.version += 1
        if kind == "price":  # a provider's quote may lack any of price, bid, ask
            price = msg.get("price")
            if price is not None:
                if row.first is None:
                    row.first = price
                row.last = price
                if row.high is None or price > row.high:
                    row.high = price
                if row.low is None or price < row.low:
                    row.low = price
                if now - row.trend_at >= TREND_STEP or not row.trend:
                    row.trend.append(price)
                    row.trend_at = now
                else:
                    row.trend[-1] = price
            if "bid" in msg:
                row.bid = msg["bid"]
            if "ask" in msg:
                row.ask = msg["ask"]
            if "bid_size" in msg:
                row.bid_size = msg["bid_size"]
            if "ask_size" in msg:
                row.ask_size = msg["ask_size"]
            row.updates.append(now)
            row.updated = now
        elif kind == "volume":
            row.size = msg["volume"]
            if "total_volume" in msg:
                row.total_volume = msg["total_volume"]
            row.updated = now
        elif kind == "orderbook":
            row.bids, row.asks = msg["bids"], msg["asks"]
            row.bid_size = row.bids[0][1] if row.bids else None
            row.ask_size = row.asks[0][1] if row.asks else None
            if row.bids:
                row.bid = row.bids[0][0]
            if row.asks:
                row.ask = row.asks[0][0]
            row.updates.append(now)  # a book update counts in Upd/s like a quote
            row.updated = now
        elif kind == "gap":
            self.gaps.append(msg)
            del self.gaps[:-20]

    def update_frame(self, messages: Sequence[Mapping[str, Any]]) -> None:
        for msg in messages:
            self.update(msg)


PRICE, VOLUME, BOOK = frozenset({"price"}), frozenset({"volume"}), frozenset({"orderbook"})
FILLED_BY: dict[str, frozenset[str]] = {
    **dict.fromkeys(("Last", "Chg", "Chg%", "High", "Low", "Trend"), PRICE),
    **dict.fromkeys(("Bid", "Ask", "Spread", "Bid Sz", "Ask Sz"), PRICE | BOOK),
    **dict.fromkeys(("Size", "Volume"), VOLUME),
}
SORT_KEYS: dict[str, Callable[[Row, float], float | str | None]] = {
    "Symbol": lambda row, _: row.symbol,
    "Last": lambda row, _: row.last,
    "Chg%": lambda row, _: row.change_pct,
    "Volume": lambda row, _: row.total_volume,
    "Upd/s": lambda row, now: row.rate(now),
    "Age": lambda row, now: row.age(now),
}
SORTS = tuple(SORT_KEYS)  # the order ``s`` cycles through (after "as given")


@dataclass(slots=True)
class View:
    """How the table shows the board: sort column and direction, scroll offset,
    paused, help shown. Keys change it (``keys.apply``); the renderer reads it and
    tells it the rows' count and how many fit (``fit``).

    ``sort`` None keeps the symbols in the order given; Symbol sorts A to Z, the
    figures largest first (``r`` turns either round)."""

    keys: bool = False  # keys are read: the footer shows them
    sort: str | None = None
    reverse: bool = False
    paused: bool = False
    help: bool = False
    offset: int = 0  # the first row shown
    total: int = 0  # rows, and how many fit, as of the last repaint
    page: int = 0

    @property
    def descending(self) -> bool:
        return (self.sort != "Symbol") != self.reverse

    def cycle(self, step: int, board: Board) -> None:
        """The next (``step`` 1) or previous (-1) sort column the board can fill;
        after the last, the order given."""
        choices: list[str | None] = [None, *(s for s in SORTS if board.can_fill(s))]
        at = choices.index(self.sort) if self.sort in choices else 0
        self.sort = choices[(at + step) % len(choices)]
        self.reverse = False
        self.offset = 0

    def scroll(self, lines: int) -> None:
        self.offset = self.clamped(self.offset + lines)

    def fit(self, total: int, page: int) -> int:
        """Record ``total`` rows of which ``page`` fit; the offset, kept in range."""
        self.total, self.page = total, page
        self.offset = self.clamped(self.offset)
        return self.offset

    def clamped(self, offset: int) -> int:
        return max(0, min(offset, self.total - self.page))
