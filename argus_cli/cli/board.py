"""The market board: the latest state of every streamed symbol. Pure, no rendering.

Handlers update it at any rate; the renderer reads it at the repaint rate.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Board", "Row"]

TREND_POINTS = 24
TREND_STEP = 0.5  # seconds between trend samples
RATE_WINDOW = 5.0  # seconds of updates behind the updates/s column


@dataclass(slots=True)
class Row:
    symbol: str
    source: str = ""
    first: float | None = None
    last: float | None = None
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
            row.updated = now
        elif kind == "gap":
            self.gaps.append(msg)
            del self.gaps[:-20]

    def update_frame(self, messages: Sequence[Mapping[str, Any]]) -> None:
        for msg in messages:
            self.update(msg)
