"""A recorded market: the simulator serves a recording instead of its model.

A recording is a file of JSON lines as ``argus stream --json`` prints them
(plain, ``.zst`` or ``.gz``; ``compressed.read_lines``). It becomes a stream of
simulator ``Event``s, served over the wire protocol like the live market:

- Lines of one symbol that share a ``(seq, timestamp)`` (its ``price``,
  ``volume`` and ``orderbook`` messages of one event) make one event. A line
  of a type the event already has (a second subscription's copy) adds
  nothing; any other line starts a new event. Events keep the order of their
  first line.
- ``gap`` lines, other types, malformed lines and lines with unusable numbers
  are skipped. The server numbers each symbol's events itself, 1, 2, 3, ...:
  contiguous, whatever the recording's ``seq`` were (a recording with a gap
  plays without it). ``timestamp`` is the recorded one.
- Fields a line lacks are carried from the symbol's last event: a price line
  without ``bid``/``ask`` keeps the last quote (the price itself before any);
  an event without a ``price`` line keeps the last price (or takes the book's
  best bid/ask, or their middle, when there was none); without a ``volume``
  line its ``volume`` is 0 and ``total_volume`` unchanged; a ``volume`` line
  without ``total_volume`` adds to the running total. The book is the
  recorded one, carried from the symbol's last ``orderbook`` line; a symbol
  whose recording has no book gets the simulator's book derived from its quote.
- Pacing follows ``received`` (else ``timestamp``), scaled by ``speed``
  (``None``: as fast as the clients take it). With ``loop`` the recording
  starts again at its end: ``seq`` keeps growing and ``total_volume`` goes on
  from where the pass before ended (by the recorded volumes).

The ring holds the newest ``ring_size`` events of each symbol as the event
objects themselves (a recording's numbers need not fit the model's integer
columns, and its book is kept), about 0.5 KB an event.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..compressed import read_lines
from .market import Event

__all__ = ["RecordedEvent", "RecordedMarket", "RecordingError", "Tick", "read_ticks"]

DATA_TYPES = ("price", "volume", "orderbook")
OPEN_WINDOW = 256  # events still open to more lines, at most (a bound on memory)

Book = list[list[float]]


class RecordingError(ValueError):
    """The recording cannot be served (missing, unreadable, or holds no events)."""


@dataclass(slots=True)
class RecordedEvent(Event):
    """An ``Event`` with the recorded book (``None``: derived from the quote)."""

    book: tuple[Book, Book] | None = None

    @property
    def bids(self) -> Book:
        if self.book is not None:
            return self.book[0]
        return super(RecordedEvent, self).bids

    @property
    def asks(self) -> Book:
        if self.book is not None:
            return self.book[1]
        return super(RecordedEvent, self).asks


class Tick:
    """One recorded event before numbering: what its lines said, nothing invented."""

    __slots__ = (
        "ask",
        "asks",
        "bid",
        "bids",
        "key",
        "price",
        "received",
        "size",
        "symbol",
        "timestamp",
        "total_volume",
        "types",
    )

    def __init__(self, symbol: str, key: tuple[Any, float], received: float | None) -> None:
        self.symbol = symbol
        self.key = key
        self.timestamp = key[1]
        self.received = received
        self.types: set[str] = set()
        self.price: float | None = None
        self.bid: float | None = None
        self.ask: float | None = None
        self.size: float | None = None
        self.total_volume: float | None = None
        self.bids: Book | None = None
        self.asks: Book | None = None

    @property
    def at(self) -> float:
        """The time the pacing goes by."""
        return self.timestamp if self.received is None else self.received


def _number(value: object) -> float | None:
    if type(value) not in (int, float) or not math.isfinite(value):  # type: ignore[arg-type]
        return None
    return value  # type: ignore[return-value]


def _levels(value: object) -> Book | None:
    if not isinstance(value, list):
        return None
    out: Book = []
    for level in value:
        if not (isinstance(level, list) and len(level) == 2):
            return None
        price, size = _number(level[0]), _number(level[1])
        if price is None or size is None:
            return None
        out.append([price, size])
    return out


def _merge(tick: Tick, kind: str, line: dict[str, Any]) -> bool:
    """Take the line's fields into the tick; False (tick unchanged) if they are unusable."""
    if kind == "price":
        price = _number(line.get("price"))
        if price is None:
            return False
        tick.price = price
        tick.bid = _number(line.get("bid"))
        tick.ask = _number(line.get("ask"))
    elif kind == "volume":
        size = _number(line.get("volume"))
        if size is None:
            return False
        tick.size = size
        tick.total_volume = _number(line.get("total_volume"))
    else:
        bids, asks = _levels(line.get("bids")), _levels(line.get("asks"))
        if bids is None or asks is None:
            return False
        tick.bids, tick.asks = bids, asks
    tick.types.add(kind)
    return True


def read_ticks(path: str | Path) -> Iterator[Tick]:
    """The recording's events, in the order of their first line."""
    open_ticks: deque[Tick] = deque()
    current: dict[str, Tick] = {}
    for raw in read_lines(path):
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if type(line) is not dict:
            continue
        kind, symbol = line.get("type"), line.get("symbol")
        if kind not in DATA_TYPES or type(symbol) is not str or not symbol:
            continue
        timestamp = _number(line.get("timestamp"))
        if timestamp is None:
            continue
        seq = line.get("seq")
        key = (seq if type(seq) is int else None, timestamp)
        tick = current.get(symbol)
        if tick is not None and tick.key == key and kind in tick.types:
            continue  # another subscription's copy of a message already taken
        if tick is None or tick.key != key:
            tick = Tick(symbol, key, _number(line.get("received")))
            if not _merge(tick, kind, line):
                continue
            current[symbol] = tick
            open_ticks.append(tick)
        else:
            _merge(tick, kind, line)
        while open_ticks and (
            len(open_ticks) > OPEN_WINDOW or current.get(open_ticks[0].symbol) is not open_ticks[0]
        ):
            done = open_ticks.popleft()
            if current.get(done.symbol) is done:
                del current[done.symbol]
            yield done
    yield from open_ticks


class _Held:
    """One symbol's numbering, last values and ring of recent events."""

    __slots__ = ("base_volume", "book", "last", "rebase", "ring", "seq")

    def __init__(self, ring_size: int) -> None:
        self.seq = 0
        self.last: RecordedEvent | None = None
        self.book: tuple[Book, Book] | None = None
        self.base_volume: float = 0  # added to recorded total_volume (0 in the first pass)
        self.rebase = False  # a new pass: continue the total from the last one
        self.ring: list[RecordedEvent] = []


class RecordedMarket:
    """The simulator's market interface (``symbols``, ``states``, ``events_after``,
    ``last_seq``, ``last_event``) over a recording; ``event`` numbers the next tick."""

    def __init__(self, path: str | Path, *, ring_size: int = 10_000) -> None:
        if ring_size < 0:
            raise ValueError(f"ring_size must be >= 0 events, not {ring_size}")
        self.path = Path(path)
        try:
            counts: dict[str, int] = {}
            first_at: float | None = None
            for tick in read_ticks(self.path):
                counts[tick.symbol] = counts.get(tick.symbol, 0) + 1
                if first_at is None:
                    first_at = tick.at
        except OSError as exc:
            raise RecordingError(f"cannot read {path}: {exc.strerror or exc}") from None
        if not counts:
            raise RecordingError(f"{path}: no price, volume or orderbook events to serve")
        self.ring_size = ring_size
        self.counts = counts  # events per symbol in one pass
        self.states = {symbol: _Held(ring_size) for symbol in sorted(counts)}
        self.symbols = tuple(self.states)
        self.passes = 0  # passes over the recording begun

    def __len__(self) -> int:
        """Events in one pass of the recording."""
        return sum(self.counts.values())

    def ticks(self) -> Iterator[Tick]:
        """One pass over the recording (call again to loop)."""
        if self.passes:
            for state in self.states.values():
                state.rebase = state.last is not None
        self.passes += 1
        return read_ticks(self.path)

    def last_seq(self, symbol: str) -> int:
        return self.states[symbol].seq

    def last_price(self, symbol: str) -> float | None:
        last = self.states[symbol].last
        return None if last is None else last.price

    def last_event(self, symbol: str) -> Event | None:
        return self.states[symbol].last

    def event(self, tick: Tick) -> RecordedEvent:
        """The next event of the tick's symbol: numbered, gaps filled from the last one."""
        state = self.states[tick.symbol]
        last = state.last
        if tick.bids is not None and tick.asks is not None:
            state.book = (tick.bids, tick.asks)
        book_bid = state.book[0][0][0] if state.book and state.book[0] else None
        book_ask = state.book[1][0][0] if state.book and state.book[1] else None
        price = tick.price
        if price is None:
            if last is not None:
                price = last.price
            elif book_bid is not None and book_ask is not None:
                price = round((book_bid + book_ask) / 2, 10)
            else:
                price = book_bid if book_bid is not None else (book_ask or 0.0)
        bid = tick.bid
        if bid is None:
            bid = book_bid if tick.price is None and book_bid is not None else None
        if bid is None:
            bid = last.bid if last is not None else price
        ask = tick.ask
        if ask is None:
            ask = book_ask if tick.price is None and book_ask is not None else None
        if ask is None:
            ask = last.ask if last is not None else price
        size = tick.size if tick.size is not None else 0
        if tick.total_volume is not None:
            if state.rebase and last is not None:  # the pass's first total follows the last
                state.base_volume = last.total_volume - (tick.total_volume - size)
                state.rebase = False
            total = state.base_volume + tick.total_volume
        else:
            total = (last.total_volume if last is not None else 0) + size
        state.seq += 1
        event = RecordedEvent(
            symbol=tick.symbol,
            seq=state.seq,
            timestamp=tick.timestamp,
            price=price,
            bid=bid,
            ask=ask,
            size=size,  # type: ignore[arg-type]  # a recording's sizes may be fractional
            total_volume=total,  # type: ignore[arg-type]
            book=state.book,
        )
        state.last = event
        if self.ring_size:
            if len(state.ring) < self.ring_size:
                state.ring.append(event)
            else:
                state.ring[(event.seq - 1) % self.ring_size] = event
        return event

    def events_after(
        self, symbol: str, seq: int, limit: int | None = None
    ) -> tuple[list[Event], tuple[int, int] | None]:
        """Held events with a higher ``seq`` (at most ``limit``, oldest first), and the
        range asked for but no longer held (as ``Market.events_after``)."""
        state = self.states[symbol]
        if seq >= state.seq:
            return [], None
        oldest = state.seq - len(state.ring) + 1
        gap = (seq + 1, oldest - 1) if seq + 1 < oldest else None
        first = max(seq + 1, oldest)
        last = state.seq if limit is None else min(state.seq, first + limit - 1)
        ring, size = state.ring, self.ring_size
        return [ring[(s - 1) % size] for s in range(first, last + 1)], gap
