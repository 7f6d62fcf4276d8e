"""The simulated market: a pure, seedable model of trades, quotes and books.

Each symbol's price follows geometric Brownian motion rounded to the tick
(0.01). Every event is a trade with the quote and a 10-level book right after
it; its ``seq`` grows by one per symbol. The most recent ``ring_size`` events
of each symbol are held for replay on resume (``EventRing``: 44 bytes an
event, as columns of numbers); ``events_after`` hands them out in slices
(``limit``), rebuilt as ``Event``s equal to the ones published.
"""

from __future__ import annotations

import math
import random
import zlib
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import orjson

__all__ = ["DEFAULT_UNIVERSE", "Event", "EventRing", "Market"]

TICK = 0.01
BOOK_LEVELS = 10

# Fifty-five large US listings and a plausible starting price for each.
DEFAULT_UNIVERSE: Mapping[str, float] = {
    "AAPL": 228.0, "MSFT": 425.0, "GOOGL": 172.0, "AMZN": 198.0, "NVDA": 138.0,
    "META": 565.0, "TSLA": 320.0, "BRK.B": 470.0, "JPM": 240.0, "V": 310.0,
    "UNH": 590.0, "XOM": 120.0, "JNJ": 155.0, "WMT": 90.0, "MA": 520.0,
    "PG": 170.0, "AVGO": 165.0, "HD": 410.0, "CVX": 158.0, "ORCL": 190.0,
    "MRK": 99.0, "ABBV": 175.0, "KO": 64.0, "PEP": 158.0, "COST": 915.0,
    "ADBE": 510.0, "CRM": 330.0, "BAC": 46.0, "NFLX": 890.0, "AMD": 138.0,
    "TMO": 520.0, "LIN": 460.0, "MCD": 295.0, "CSCO": 58.0, "ACN": 360.0,
    "ABT": 117.0, "WFC": 75.0, "DIS": 115.0, "INTC": 24.0, "QCOM": 158.0,
    "IBM": 215.0, "TXN": 200.0, "CAT": 390.0, "GE": 180.0, "AMGN": 290.0,
    "INTU": 640.0, "PFE": 26.0, "NKE": 78.0, "BA": 155.0, "GS": 590.0,
    "UBER": 72.0, "PYPL": 86.0, "SBUX": 99.0, "T": 22.5, "VZ": 43.0,
}  # fmt: skip


@dataclass(slots=True)
class Event:
    """One trade plus the quote and book after it. Bodies are encoded once, lazily."""

    symbol: str
    seq: int
    timestamp: float
    price: float
    bid: float
    ask: float
    size: int
    total_volume: int
    _bodies: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    @property
    def bids(self) -> list[list[float]]:
        """Ten levels from the bid down; sizes derived from (symbol, seq), built on demand."""
        return [
            [_ticks(self.bid - i * TICK), _level_size(self.symbol, self.seq, i)]
            for i in range(BOOK_LEVELS)
            if self.bid - i * TICK >= TICK - 1e-9
        ]

    @property
    def asks(self) -> list[list[float]]:
        return [
            [_ticks(self.ask + i * TICK), _level_size(self.symbol, self.seq, i + BOOK_LEVELS)]
            for i in range(BOOK_LEVELS)
        ]

    def body(self, data_type: str) -> bytes:
        """The message of ``data_type`` without ``type`` and ``sub``: ``"symbol":...}``.

        The session prefixes ``{"type":...,"sub":...,`` so one encoding serves
        every subscriber.
        """
        cached = self._bodies.get(data_type)
        if cached is None:
            cached = orjson.dumps(self.message_fields(data_type))[1:]
            self._bodies[data_type] = cached
        return cached

    def message_fields(self, data_type: str) -> dict[str, object]:
        out: dict[str, object] = {"symbol": self.symbol}
        if data_type == "price":
            out.update(price=self.price, bid=self.bid, ask=self.ask)
        elif data_type == "volume":
            out.update(volume=self.size, total_volume=self.total_volume)
        else:
            out.update(bids=self.bids, asks=self.asks)
        out.update(timestamp=self.timestamp, seq=self.seq)
        return out


def _ticks(value: float) -> float:
    return round(round(value / TICK) * TICK, 2)


def _level_size(symbol: str, seq: int, level: int) -> int:
    """A size of 100 to 5,000 shares: a cheap, stable hash of (symbol, seq, level)."""
    x = (zlib.crc32(symbol.encode()) + seq * 0x9E3779B1 + level * 0x85EBCA77) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    return (x % 50 + 1) * 100


class EventRing:
    """The newest ``capacity`` events of one symbol, held as columns of numbers.

    An event costs 44 bytes: timestamp, price, bid and ask as doubles, the
    trade size as a 32-bit and the running volume as a 64-bit integer. Its
    ``seq`` is its place: seq ``s`` sits at index ``(s - 1) % capacity`` (a
    symbol's every event is appended, in ``seq`` order from 1). The columns
    grow with the events held, up to ``capacity``, then wrap. ``event(seq)``
    rebuilds an ``Event`` equal, field for field, to the one published, and
    the book is derived from (symbol, seq, bid, ask): a replayed event encodes
    to the very bytes sent live.
    """

    __slots__ = (
        "asks",
        "bids",
        "capacity",
        "newest",
        "prices",
        "sizes",
        "symbol",
        "timestamps",
        "volumes",
    )

    def __init__(self, symbol: str, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"ring_size must be >= 0 events, not {capacity}")
        self.symbol = symbol
        self.capacity = capacity
        self.newest = 0  # seq of the newest event appended; 0 before the first
        self.timestamps = array("d")
        self.prices = array("d")
        self.bids = array("d")
        self.asks = array("d")
        self.sizes = array("I")
        self.volumes = array("q")

    def __len__(self) -> int:
        return min(self.newest, self.capacity)

    @property
    def oldest(self) -> int:
        """The seq of the oldest event held (``newest + 1`` when none is)."""
        return self.newest - len(self) + 1

    def append(self, event: Event) -> None:
        if event.seq != self.newest + 1:
            raise ValueError(f"{self.symbol}: seq {event.seq} after {self.newest}")
        self.newest = event.seq
        if not self.capacity:
            return
        if len(self.prices) < self.capacity:
            self.timestamps.append(event.timestamp)
            self.prices.append(event.price)
            self.bids.append(event.bid)
            self.asks.append(event.ask)
            self.sizes.append(event.size)
            self.volumes.append(event.total_volume)
            return
        i = (event.seq - 1) % self.capacity
        self.timestamps[i] = event.timestamp
        self.prices[i] = event.price
        self.bids[i] = event.bid
        self.asks[i] = event.ask
        self.sizes[i] = event.size
        self.volumes[i] = event.total_volume

    def event(self, seq: int) -> Event:
        """The held event ``seq``, rebuilt (``IndexError`` if it is not held)."""
        if not self.oldest <= seq <= self.newest:
            raise IndexError(f"{self.symbol}: seq {seq} is not held")
        i = (seq - 1) % self.capacity
        return Event(
            symbol=self.symbol,
            seq=seq,
            timestamp=self.timestamps[i],
            price=self.prices[i],
            bid=self.bids[i],
            ask=self.asks[i],
            size=self.sizes[i],
            total_volume=self.volumes[i],
        )

    def events(self, first: int, last: int) -> list[Event]:
        """The held events ``first`` to ``last``, oldest first (none if ``last < first``)."""
        if last < first:
            return []
        if not self.oldest <= first <= last <= self.newest:
            raise IndexError(f"{self.symbol}: seq {first}..{last} is not all held")
        symbol, capacity = self.symbol, self.capacity
        timestamps, prices, bids, asks = self.timestamps, self.prices, self.bids, self.asks
        sizes, volumes = self.sizes, self.volumes
        out = []
        for seq in range(first, last + 1):
            i = (seq - 1) % capacity
            out.append(
                Event(symbol, seq, timestamps[i], prices[i], bids[i], asks[i], sizes[i], volumes[i])
            )
        return out

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events(self.oldest, self.newest))


FIRST_STEP = 0.2  # seconds a first event stands for (5 events a second, the default rate)
MAX_STEP = 60.0  # a quiet symbol's next step counts at most a minute


class _SymbolState:
    __slots__ = ("last_time", "price", "ring", "seq", "symbol", "total_volume")

    def __init__(self, symbol: str, price: float, ring_size: int) -> None:
        self.symbol = symbol
        self.price = price
        self.seq = 0
        self.total_volume = 0
        self.last_time: float | None = None
        self.ring = EventRing(symbol, ring_size)


class Market:
    """The market model. ``next_event`` advances one symbol by one event.

    Prices follow a geometric random walk whose ``volatility`` is per square root
    of a second of the events' own clock (``now``), not per event: a symbol moves
    as much in a minute at 5 events a second as at 5,000 (each event's step is
    scaled by the time since the previous one, at most ``MAX_STEP`` seconds)."""

    def __init__(
        self,
        symbols: Mapping[str, float] | Sequence[str] | None = None,
        *,
        seed: int | None = None,
        ring_size: int = 10_000,
        volatility: float = 0.0018,  # per sqrt(second): ~0.8% in 20 s, ~7% a day's hour
    ) -> None:
        if symbols is None:
            symbols = DEFAULT_UNIVERSE
        if not isinstance(symbols, Mapping):
            rng = random.Random(seed)
            symbols = {s: DEFAULT_UNIVERSE.get(s) or _ticks(rng.uniform(20, 500)) for s in symbols}
        if not symbols:
            raise ValueError("the market needs at least one symbol")
        self._rng = random.Random(seed)
        self.volatility = volatility
        self.states = {s: _SymbolState(s, _ticks(p), ring_size) for s, p in symbols.items()}
        self.symbols = tuple(sorted(self.states))

    def last_price(self, symbol: str) -> float:
        return self.states[symbol].price

    def last_seq(self, symbol: str) -> int:
        return self.states[symbol].seq

    def last_event(self, symbol: str) -> Event | None:
        ring = self.states[symbol].ring
        return ring.event(ring.newest) if len(ring) else None

    def next_event(self, symbol: str, now: float) -> Event:
        state = self.states[symbol]
        rng = self._rng
        last, state.last_time = state.last_time, now
        step = FIRST_STEP if last is None else min(MAX_STEP, max(0.0, now - last))
        sigma = self.volatility * math.sqrt(step)
        shock = rng.gauss(0.0, sigma)
        price = max(TICK, _ticks(state.price * math.exp(shock - sigma**2 / 2)))
        half_spread = TICK * (1 + (price > 100) + rng.randrange(2))
        bid = max(TICK, _ticks(price - half_spread))
        ask = _ticks(max(price, bid) + half_spread)
        size = (
            rng.choice((1, 1, 1, 2, 2, 3, 5, 10)) * 100
            if rng.random() < 0.9
            else rng.randint(1, 99)
        )
        state.price = price
        state.seq += 1
        state.total_volume += size
        event = Event(
            symbol=symbol,
            seq=state.seq,
            timestamp=round(now, 6),
            price=price,
            bid=bid,
            ask=ask,
            size=size,
            total_volume=state.total_volume,
        )
        state.ring.append(event)
        return event

    def events_after(
        self, symbol: str, seq: int, limit: int | None = None
    ) -> tuple[list[Event], tuple[int, int] | None]:
        """Held events with a higher ``seq`` (at most ``limit``, oldest first), and the
        range asked for but no longer held."""
        state = self.states[symbol]
        if seq >= state.seq:
            return [], None
        ring = state.ring
        oldest = ring.oldest
        gap = (seq + 1, oldest - 1) if seq + 1 < oldest else None
        first = max(seq + 1, oldest)
        last = ring.newest if limit is None else min(ring.newest, first + limit - 1)
        return ring.events(first, last), gap
