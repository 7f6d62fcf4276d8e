"""A local order book: levels by price, top 10 a side, never crossed. Pure.

Adapters keep one per symbol: a snapshot makes it, updates ``apply`` absolute
sizes (0 removes), ``view()`` is the whole book as an ``orderbook`` line shows
it. A quote that reaches the other side removes the levels it crossed (the
newer message wins), so a book never crosses.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable

from ..events import MAX_BOOK_LEVELS

__all__ = ["Book", "Side"]


class Side:
    """One side of a book. Levels are kept by sort key (``sign`` x price, best first)."""

    __slots__ = ("keys", "sign", "sizes")

    def __init__(self, sign: int, levels: Iterable[tuple[float, float]]) -> None:
        self.sign = sign
        self.sizes: dict[float, float] = {}
        for price, size in levels:
            if size > 0:
                self.sizes[sign * price] = size
            else:
                self.sizes.pop(sign * price, None)
        self.keys = sorted(self.sizes)

    def set(self, price: float, size: float) -> None:
        key = self.sign * price
        if size > 0:
            if key not in self.sizes:
                insort(self.keys, key)
            self.sizes[key] = size
        elif self.sizes.pop(key, None) is not None:
            del self.keys[bisect_left(self.keys, key)]

    def cut_through(self, price: float) -> None:
        """Remove the levels a quote at ``price`` on the other side has crossed."""
        end = bisect_right(self.keys, self.sign * price)
        for key in self.keys[:end]:
            del self.sizes[key]
        del self.keys[:end]

    def top(self) -> list[list[float]]:
        sign, sizes = self.sign, self.sizes
        return [[sign * key, sizes[key]] for key in self.keys[:MAX_BOOK_LEVELS]]


class Book:
    __slots__ = ("asks", "bids", "shown")

    def __init__(self, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> None:
        self.bids = Side(-1, bids)
        self.asks = Side(1, asks)
        if self.asks.keys:  # a crossed snapshot keeps its asks
            self.bids.cut_through(self.asks.keys[0])
        self.shown = self.view()

    def apply(self, buy: bool, price: float, size: float) -> None:
        side, other = (self.bids, self.asks) if buy else (self.asks, self.bids)
        side.set(price, size)
        if size > 0:
            other.cut_through(price)

    def view(self) -> tuple[list[list[float]], list[list[float]]]:
        return self.bids.top(), self.asks.top()
