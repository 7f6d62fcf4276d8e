"""Kraken Spot WebSocket v2 (``wss://ws.kraken.com/v2``) as a ``ProviderSession``.

Wire format: RESEARCH.md §3; mapping: PROVIDERS.md "Kraken Spot v2". Pure: frames
in, normalized events and actions out; no I/O, no clock.

Connection. The server's first frame is ``status``: its ``connection_id`` (above
2^63, beyond a seq) becomes ``SessionInfo.connection_id`` as decimal text, nothing
more; a ``system`` other than ``online`` is said on stderr. ``heartbeat`` and
``pong`` print nothing. The server closes a connection idle for about a minute,
so ``on_timer`` sends ``{"method":"ping","req_id":N}`` every ``ping_interval``
seconds (15 by default, at most 30); ``ping(nonce)`` sends the same and its reply
key is resolved by the ``pong`` echoing that ``req_id``.

Subscriptions. price ← ``ticker``, volume ← ``trade``, orderbook ← ``book`` (depth
``book_depth``, one of 10/25/100/500/1000). Kraken takes one channel a request
and answers one ack (or error) per symbol, echoing ``req_id``: each frame carries
a fresh ``req_id`` and a subscribe's reply key ``("subscribed", sub_id)`` resolves,
with the symbols kept, once every symbol of every channel it asked for has been
answered. Kraken subscriptions are per connection and channel, not per argus
subscription: a (channel, pair) another subscription already has (or is asking
for) is not asked again (the request waits on that answer instead); an
unsubscribe stops only what no other subscription holds. An unknown pair
(``Currency pair not supported XBT/USD``, naming it in ``symbol``) is a
``Refusal("invalid_symbol")`` naming it while the other pairs go on; with none
left the reply fails with ``SubscriptionError`` and the refusal drops the
subscription. A restored subscription leaves out the pairs refused before.
"Already subscribed" counts as an ack, as does "Subscription Not Found" for an
unsubscribe. An error without ``req_id`` answers the oldest open frame of that
method (holding its ``symbol`` when it names one).

Ticker. Each ``data`` row is a price line: price ← ``last``, bid ← ``bid``, ask ←
``ask`` (a 0 means no quote and is left out), timestamp ← ``timestamp`` when
present. The default ``event_trigger`` (``trades``) is kept: a price line per
trade, as Coinbase's ticker.

Trades. Each row is a volume line: volume ← ``qty``, timestamp ← ``timestamp``,
seq ← ``trade_id`` (contiguous per pair). A trade id at or below the last printed
for the pair is never printed again. The trade snapshot (the last 50 trades) is
asked for only for a pair whose trades were printed before (``snapshot: true``
after a reconnect: it fills what was missed while away; the pipeline reports the
rest as a gap); a first subscribe starts with live trades (``snapshot: false``, the
channel's default). Snapshot rows are taken in trade-id order.

Books. A ``snapshot`` replaces the pair's book, an ``update`` applies its levels
in order (``qty`` 0 deletes); then each side is truncated to the subscribed depth
and the ``checksum`` is verified: CRC32 of the top 10 asks (best first) then the
top 10 bids (best first), each price then qty as decimal text with '.' removed
and leading zeros stripped. The doc snapshot's 2439117997 only comes out with the
numbers written with the instrument's precisions (``0.566`` → ``5660``,
``18097.1547`` → ``1809715470000``), while the wire writes them shortest (the
research's "as they appear on the wire" does not reproduce it). The research does
not document the ``instrument`` channel, so the precisions are found from the
checksums themselves: every price and qty keeps its exact text from the frame
(orjson gives floats, so the number tokens are read from the raw frame by a
regular expression, checked against the parsed structure; the standard library's
``json`` with text numbers is the fallback), the most decimals a pair's numbers
have needed (trailing zeros aside: ``740.0`` needs none) bound its precisions from
below, and the first snapshot whose checksum matches one candidate (those most
decimals first, then the tokens exactly as on the wire, then every precision up
to 12 decimals) fixes the pair's precisions; a number needing more decimals than
them, or a snapshot that no longer matches them, starts the search again. On a
mismatch nothing more is printed from that book and a ``DecodeError`` says so on
stderr: an update's mismatch unsubscribes and subscribes the pair's book again at
once (at most every 5 s, else at the next timer tick), a snapshot's at the next
timer tick (a resubscribed book still without a snapshot 30 s later is asked
again); the book is shown again from the new snapshot only, never merged. A line is the whole book,
top 10 a side, best first, for every verified snapshot and after an update that
changed those levels. Kraken's own book is kept as sent (the checksum covers it);
where it is crossed the line leaves out the older of the crossing levels (the
newer message wins), so a line never crosses.

Not offered: listing pairs (the research does not describe the ``instrument``
channel; Kraken lists them over REST), update frequencies other than realtime,
price filters.
"""

from __future__ import annotations

import json
import re
import zlib
from bisect import bisect_left, insort
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import orjson

from ..events import MAX_BOOK_LEVELS
from ..exceptions import (
    ConfigError,
    DecodeError,
    NotOffered,
    SubscriptionError,
    UnknownMessageType,
)
from . import values
from .facts import ProviderFacts
from .rules import DATA_TYPES
from .session import (
    Action,
    Fetched,
    Handshake,
    Message,
    Received,
    Refusal,
    Reply,
    ReplyKey,
    Request,
    Send,
    SessionInfo,
    fan,
)
from .values import parse_time

__all__ = [
    "CHANNELS",
    "DEPTHS",
    "FACTS",
    "KrakenSession",
    "book_checksum",
    "checksum_digits",
]

FACTS: Final = ProviderFacts(
    name="kraken",
    url="wss://ws.kraken.com/v2",
    data_types=DATA_TYPES,
    frequencies=("realtime",),
    filters=False,
    contiguous_trade_ids=True,
    needs_key=False,
    subscribe_within=None,  # no deadline; an idle connection closes after about a minute
    client_messages_per_second=None,  # "dynamic" (UNVERIFIED figure)
    max_message_size=1 << 20,  # a depth-1000 snapshot is about 100 KB
    lists_symbols=False,
    max_symbols=None,  # UNVERIFIED
    description="Kraken Spot v2: ticker, trades and CRC32-checked books; no key",
)

CHANNELS: Final[Mapping[str, str]] = {"price": "ticker", "volume": "trade", "orderbook": "book"}
DATA_TYPE: Final[Mapping[str, str]] = {channel: kind for kind, channel in CHANNELS.items()}
DEPTHS: Final = (10, 25, 100, 500, 1000)
CHECKSUM_LEVELS: Final = 10
MAX_DECIMALS: Final = 12  # the precisions tried when looking for a pair's
WIRE: Final = (-1, -1)  # "precisions" meaning: the tokens exactly as sent
PING_INTERVAL: Final = 15.0
RESYNC_SPACING: Final = 5.0  # seconds between two immediate resubscribes of one book
STUCK_AFTER: Final = 30.0  # a resubscribed book still without a snapshot: ask again

Precision = tuple[int, int]  # decimals of price, of qty (WIRE: as sent)

_TOKENS_STR = re.compile(r'"(price|qty)"\s*:\s*(-?[0-9][0-9.eE+-]*)')
_TOKENS_BYTES = re.compile(rb'"(price|qty)"\s*:\s*(-?[0-9][0-9.eE+-]*)')
_CONNECTION_ID = re.compile(rb'"connection_id"\s*:\s*([0-9]+)')


# --- checksums ----------------------------------------------------------------------------


def checksum_digits(token: str, decimals: int) -> str | None:
    """``token`` (a plain decimal) written with ``decimals`` decimals (-1: as it is),
    '.' removed and leading zeros stripped; None when it needs more decimals than that
    (``5.0`` is ``5`` with no decimal: the wire writes an integral float so)."""
    whole, _, fraction = token.partition(".")
    if decimals >= 0:
        if len(fraction) > decimals:
            if fraction[decimals:].strip("0"):
                return None
            fraction = fraction[:decimals]
        else:
            fraction += "0" * (decimals - len(fraction))
    return (whole + fraction).lstrip("0")


def book_checksum(
    asks: Sequence[tuple[str, str]], bids: Sequence[tuple[str, str]], precision: Precision
) -> int | None:
    """Kraken's CRC32 of the top 10 asks then bids (each best first, ``(price, qty)``
    decimal text); None when a number has more decimals than ``precision`` allows."""
    parts = []
    for side in (asks, bids):
        for price, qty in side[:CHECKSUM_LEVELS]:
            p, q = checksum_digits(price, precision[0]), checksum_digits(qty, precision[1])
            if p is None or q is None:
                return None
            parts.append(p + q)
    return zlib.crc32("".join(parts).encode())


def _plain(token: str) -> str:
    """A JSON number token as plain decimal text (``1e-05`` → ``0.00001``)."""
    if "e" in token or "E" in token:
        try:
            return format(Decimal(token), "f")
        except InvalidOperation:
            raise DecodeError(f"{token!r:.40} is not a number") from None
    return token


def _decimals(token: str) -> int:
    """The decimals ``token`` needs (its trailing zeros say nothing of the precision)."""
    return len(token.partition(".")[2].rstrip("0"))


def _candidates(price: int, qty: int) -> Iterator[Precision]:
    """The precisions to try, most likely first: the most decimals seen, the wire's
    own text, then every larger precision, fewest decimals first."""
    top_p, top_q = max(price, MAX_DECIMALS), max(qty, MAX_DECIMALS)
    yield price, qty
    yield WIRE
    rest = [(p, q) for p in range(price, top_p + 1) for q in range(qty, top_q + 1)]
    rest.sort(key=lambda pq: (pq[0] + pq[1], pq))
    yield from rest[1:]  # the first is (price, qty)


@dataclass(slots=True)
class _Precisions:
    """What a pair's checksums have shown of its precisions (kept for the session's life)."""

    price: int = 0  # the most decimals seen in a price token
    qty: int = 0
    found: Precision | None = None

    def fits(self, precision: Precision) -> bool:
        return precision == WIRE or (precision[0] >= self.price and precision[1] >= self.qty)


# --- the local book ------------------------------------------------------------------------


class _Level:
    __slots__ = ("digits", "price", "qty", "qty_text", "stamp")

    def __init__(self, qty: float, price: str, qty_text: str, stamp: int) -> None:
        self.qty = qty
        self.price = price  # exact text, for the checksum
        self.qty_text = qty_text
        self.stamp = stamp  # when it was set: the newer of two crossing levels wins
        self.digits: str | None = None  # its checksum text, for the book's precision


class _Side:
    """Levels by sort key (``sign`` x price, best first)."""

    __slots__ = ("keys", "levels", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.levels: dict[float, _Level] = {}
        self.keys: list[float] = []

    def set(self, price: float, qty: float, price_text: str, qty_text: str, stamp: int) -> None:
        key = self.sign * price
        if qty > 0:
            if key not in self.levels:
                insort(self.keys, key)
            self.levels[key] = _Level(qty, price_text, qty_text, stamp)
        elif self.levels.pop(key, None) is not None:
            del self.keys[bisect_left(self.keys, key)]

    def truncate(self, depth: int) -> None:
        if len(self.keys) > depth:
            for key in self.keys[depth:]:
                del self.levels[key]
            del self.keys[depth:]


LevelText = tuple[float, float, str, str]  # price, qty, their exact text


class _Book:
    """One pair's book as Kraken keeps it: ``depth`` levels a side, crossed or not."""

    __slots__ = ("asks", "bids", "depth", "precision", "shown", "stamp")

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids = _Side(-1)
        self.asks = _Side(1)
        self.stamp = 0
        self.precision: Precision | None = None  # that of the levels' cached digits
        self.shown: tuple[list[list[float]], list[list[float]]] | None = None

    def apply(self, bids: list[LevelText], asks: list[LevelText]) -> None:
        stamp = self.stamp
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, qty, price_text, qty_text in levels:
                stamp += 1
                side.set(price, qty, price_text, qty_text, stamp)
        self.stamp = stamp
        self.bids.truncate(self.depth)
        self.asks.truncate(self.depth)

    def checksum(self, precision: Precision) -> int | None:
        if precision != self.precision:
            for side in (self.bids, self.asks):
                for level in side.levels.values():
                    level.digits = None
            self.precision = precision
        parts = []
        for side in (self.asks, self.bids):
            levels = side.levels
            for key in side.keys[:CHECKSUM_LEVELS]:
                level = levels[key]
                digits = level.digits
                if digits is None:
                    p = checksum_digits(level.price, precision[0])
                    q = checksum_digits(level.qty_text, precision[1])
                    if p is None or q is None:
                        return None
                    digits = level.digits = p + q
                parts.append(digits)
        return zlib.crc32("".join(parts).encode())

    def view(self) -> tuple[list[list[float]], list[list[float]]]:
        """Top 10 a side, best first; of two crossing levels the older is left out."""
        bid_keys, ask_keys = self.bids.keys, self.asks.keys
        bid_levels, ask_levels = self.bids.levels, self.asks.levels
        i = j = 0
        while i < len(bid_keys) and j < len(ask_keys) and -bid_keys[i] >= ask_keys[j]:
            if bid_levels[bid_keys[i]].stamp > ask_levels[ask_keys[j]].stamp:
                j += 1
            else:
                i += 1
        bids = [[-key, bid_levels[key].qty] for key in bid_keys[i : i + MAX_BOOK_LEVELS]]
        asks = [[key, ask_levels[key].qty] for key in ask_keys[j : j + MAX_BOOK_LEVELS]]
        return bids, asks


# --- subscriptions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sub:
    symbols: tuple[str, ...]
    types: frozenset[str]


Outcome = tuple[str, str] | None  # None: acknowledged; else (code, what Kraken said)


@dataclass(eq=False, slots=True)
class _Job:
    """One subscribe or unsubscribe request, until every (channel, pair) is answered."""

    method: str
    sub_id: str
    sub: _Sub
    asked: tuple[str, ...] = ()
    open: int = 0
    outcomes: dict[tuple[str, str], Outcome] = field(default_factory=dict)

    @property
    def key(self) -> ReplyKey:
        return ("subscribed" if self.method == "subscribe" else "unsubscribed", self.sub_id)


@dataclass(eq=False, slots=True)
class _Frame:
    """A request frame sent, until every pair in it is answered."""

    req_id: int
    method: str
    channel: str
    pending: set[str]
    waiters: dict[str, list[_Job]] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class _Wire:
    """A (channel, pair) Kraken streams on this connection: ``frame`` is the subscribe
    still unanswered, None once acknowledged."""

    frame: _Frame | None


class _Num(str):
    """A number's exact text (the standard library's parser, for the fallback)."""

    __slots__ = ()


class KrakenSession:
    """Speaks Kraken's Spot v2 feed. One instance serves every connection of a client:
    subscriptions, books and open requests live per connection (``opened`` clears
    them); the last printed trade id and the precisions found per pair live on."""

    source = "kraken"

    _subs: dict[str, _Sub]
    _holders: dict[tuple[str, str], tuple[str, ...]]  # (pair, data type): subs
    _books: dict[str, _Book]
    _wire: dict[tuple[str, str], _Wire]  # (channel, pair)
    _frames: dict[int, _Frame]  # by req_id, oldest first
    _pings: dict[int, ReplyKey]
    _resync_due: set[str]
    _resynced_at: dict[str, float]

    def __init__(self, book_depth: int = 10, *, ping_interval: float = PING_INTERVAL) -> None:
        if type(book_depth) is not int or book_depth not in DEPTHS:
            raise ConfigError(
                f"kraken book depth must be one of {', '.join(map(str, DEPTHS))}, "
                f"not {book_depth!r}"
            )
        if not 0 < ping_interval <= 30:
            raise ConfigError("kraken needs a ping at least every 30 s: 0 < ping_interval <= 30")
        self.book_depth = book_depth
        self.timer_interval: float | None = ping_interval
        self._next_id = 0
        self._last_trade: dict[str, int] = {}
        self._precisions: dict[str, _Precisions] = {}
        self._refused: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {}
        self._channels: dict[str, Callable[[Message, Received, str | bytes, float], None]] = {
            "ticker": self._ticker,
            "trade": self._trade,
            "book": self._book,
            "heartbeat": _nothing,
            "status": self._status,
        }
        self.opened()

    def opened(self) -> list[Action]:
        self._subs = {}
        self._holders = {}
        self._books = {}
        self._wire = {}
        self._frames = {}
        self._pings = {}
        self._resync_due = set()
        self._resynced_at = {}
        return []

    # --- requests -------------------------------------------------------------------------

    def subscribe(
        self,
        subscription_id: str,
        symbols: Sequence[str],
        data_types: Sequence[str],
        update_frequency: str,
        filters: Mapping[str, float] | None,
        resume: Mapping[str, int] | None,
    ) -> Request:
        """Subscribe ``symbols`` (Kraken pairs, ``BTC/USD``). ``resume`` is not needed:
        trade ids say what was printed."""
        FACTS.check_request(symbols, data_types, update_frequency, filters)
        asked = tuple(dict.fromkeys(symbols))
        refused = self._refused.get(subscription_id)
        pairs = asked
        if refused is not None and refused[0] == asked:
            pairs = tuple(s for s in asked if s not in refused[1]) or asked
        else:
            self._refused.pop(subscription_id, None)
        self._drop(subscription_id)
        sub = self._subs[subscription_id] = _Sub(pairs, frozenset(data_types))
        self._index()
        job = _Job("subscribe", subscription_id, sub, asked)
        actions: list[Action] = []
        for channel in _channels(sub):
            fresh = []
            for symbol in pairs:
                wire = self._wire.get((channel, symbol))
                if wire is None:
                    fresh.append(symbol)
                elif wire.frame is None:
                    job.outcomes[(channel, symbol)] = None  # streaming already
                else:
                    wire.frame.waiters.setdefault(symbol, []).append(job)
                    job.open += 1
            if not fresh:
                continue
            if channel == "trade":  # the snapshot only fills what a reconnect missed
                again = [s for s in fresh if s in self._last_trade]
                first = [s for s in fresh if s not in self._last_trade]
                if again:
                    actions.append(self._send("subscribe", channel, again, job, snapshot=True))
                if first:
                    actions.append(self._send("subscribe", channel, first, job))
            else:
                actions.append(self._send("subscribe", channel, fresh, job))
        if not job.open:
            return Request(actions)  # every pair streams already: nothing to wait for
        return Request(actions, job.key)

    def unsubscribe(self, subscription_id: str) -> Request:
        """Stop what no other subscription holds."""
        sub = self._drop(subscription_id)
        self._refused.pop(subscription_id, None)
        if sub is None:
            return Request([])
        job = _Job("unsubscribe", subscription_id, sub)
        actions: list[Action] = []
        for channel in _channels(sub):
            kind = DATA_TYPE[channel]
            gone = [
                s
                for s in sub.symbols
                if (s, kind) not in self._holders and (channel, s) in self._wire
            ]
            if gone:
                actions.append(self._send("unsubscribe", channel, gone, job))
        if not actions:
            return Request([])
        return Request(actions, job.key)

    def list_symbols(self) -> Request:
        raise NotOffered(
            "kraken lists its pairs over REST (GET /0/public/AssetPairs), not on this feed; "
            "it offers price, volume and orderbook streams"
        )

    def ping(self, nonce: int) -> Request | None:
        req_id = self._req_id()
        key: ReplyKey = ("pong", nonce)
        if len(self._pings) >= 64:  # pongs that never came: the client timed them out
            del self._pings[next(iter(self._pings))]
        self._pings[req_id] = key
        return Request([Send(orjson.dumps({"method": "ping", "req_id": req_id}))], key)

    def handshake(self, api_key: str | None) -> Handshake:
        return Handshake()  # public channels: no key is ever sent

    def fetched(self, answer: Fetched, now: float) -> Received:
        return Received([])  # never fetches

    def on_timer(self, now: float) -> list[Action]:
        """The keepalive ping, and the resubscribes that had to wait."""
        actions: list[Action] = [Send(orjson.dumps({"method": "ping", "req_id": self._req_id()}))]
        due, self._resync_due = self._resync_due, set()
        for symbol, then in self._resynced_at.items():
            if symbol not in self._books and now - then >= STUCK_AFTER:
                due.add(symbol)  # no snapshot came after the last resubscribe
        for symbol in sorted(due):
            actions.extend(self._resync(symbol, now))
        return actions

    def _req_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _send(
        self,
        method: str,
        channel: str,
        symbols: list[str],
        job: _Job | None,
        snapshot: bool | None = None,
    ) -> Send:
        req_id = self._req_id()
        frame = _Frame(req_id, method, channel, set(symbols))
        self._frames[req_id] = frame
        for symbol in symbols:
            if job is not None:
                frame.waiters[symbol] = [job]
                job.open += 1
            if method == "subscribe":
                self._wire[(channel, symbol)] = _Wire(frame)
            else:
                self._wire.pop((channel, symbol), None)
        params: dict[str, Any] = {"channel": channel, "symbol": symbols}
        if channel == "book" and method == "subscribe":
            params["depth"] = self.book_depth
        if snapshot is not None:
            params["snapshot"] = snapshot
        return Send(orjson.dumps({"method": method, "params": params, "req_id": req_id}))

    def _resync(self, symbol: str, now: float) -> list[Action]:
        """Unsubscribe and subscribe a book again, for a fresh snapshot."""
        if (symbol, "orderbook") not in self._holders:
            return []
        wire = self._wire.get(("book", symbol))
        if wire is None or wire.frame is not None:
            return []  # not streaming, or a subscribe (and its snapshot) is on its way
        self._resynced_at[symbol] = now
        self._books.pop(symbol, None)
        return [
            self._send("unsubscribe", "book", [symbol], None),
            self._send("subscribe", "book", [symbol], None),
        ]

    def _index(self) -> None:
        holders: dict[tuple[str, str], list[str]] = {}
        for sub_id, sub in self._subs.items():
            for symbol in sub.symbols:
                for data_type in sub.types:
                    holders.setdefault((symbol, data_type), []).append(sub_id)
        self._holders = {key: tuple(subs) for key, subs in holders.items()}
        for symbol in [s for s in self._books if (s, "orderbook") not in self._holders]:
            del self._books[symbol]

    def _drop(self, sub_id: str) -> _Sub | None:
        sub = self._subs.pop(sub_id, None)
        if sub is not None:
            self._index()
        return sub

    # --- frames ---------------------------------------------------------------------------

    def receive(self, frame: str | bytes, now: float) -> Received:
        received = Received([])
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            received.add_errors([DecodeError(f"kraken sent a frame that is not JSON: {exc}")])
            return received
        if type(msg) is not dict:
            received.add_errors([DecodeError("kraken sent a message that is not an object")])
            return received
        channel = msg.get("channel")
        try:
            if channel is not None:
                if type(channel) is not str:
                    raise DecodeError("channel must be a string")
                handler = self._channels.get(channel)
                if handler is None:
                    raise UnknownMessageType(f"kraken channel {channel!r:.40}")
                handler(msg, received, frame, now)
            elif msg.get("success") is False:
                self._failed(msg, received)
            else:
                method = msg.get("method")
                if method in ("subscribe", "unsubscribe"):
                    self._acknowledged(msg, received)
                elif method == "pong":
                    self._pong(msg, received)
                elif type(method) is str:
                    raise UnknownMessageType(f"kraken method {method!r:.40}")
                else:
                    raise DecodeError("a message needs a string channel or method")
        except UnknownMessageType as exc:
            received.add_errors([exc])
        except DecodeError as exc:
            where = f" {channel}" if type(channel) is str else ""
            received.add_errors([DecodeError(f"kraken{where}: {exc}")])
        return received

    def _ticker(self, msg: Message, out: Received, frame: str | bytes, now: float) -> None:
        events = []
        for row in _rows(msg):
            event: Message = {"type": "price", "symbol": _symbol(row)}
            for name, key in (("last", "price"), ("bid", "bid"), ("ask", "ask")):
                value = row.get(name)
                if value is not None:
                    number = values.number(value, name)
                    if number:  # 0: no quote
                        event[key] = number
            if row.get("timestamp") is not None:
                event["timestamp"] = parse_time(row["timestamp"])
            if len(event) > 2 + ("timestamp" in event):
                events.append(event)
        for event in events:
            subs = self._holders.get((event["symbol"], "price"))
            if subs:
                fan(event, subs, out)

    def _trade(self, msg: Message, out: Received, frame: str | bytes, now: float) -> None:
        trades = []
        for row in _rows(msg):
            event: Message = {
                "type": "volume",
                "symbol": _symbol(row),
                "volume": values.number(row.get("qty"), "qty"),
            }
            if row.get("timestamp") is not None:
                event["timestamp"] = parse_time(row["timestamp"])
            event["seq"] = values.trade_id(row.get("trade_id"), "trade_id")
            trades.append(event)
        if msg.get("type") == "snapshot":
            trades.sort(key=lambda e: e["seq"])
        last_trade = self._last_trade
        for event in trades:
            symbol = event["symbol"]
            subs = self._holders.get((symbol, "volume"))
            if not subs:
                continue
            last = last_trade.get(symbol)
            if last is not None and event["seq"] <= last:
                continue  # printed already: never twice
            last_trade[symbol] = event["seq"]
            fan(event, subs, out)

    def _status(self, msg: Message, out: Received, frame: str | bytes, now: float) -> None:
        for row in _rows(msg):
            if "connection_id" in row:
                out.set_info(SessionInfo(connection_id=_connection_id(row, frame)))
            system = row.get("system")
            if system is not None and system != "online":
                said = f"kraken system status: {system!s:.40} (not online)"
                out.add_refusal(Refusal("status", said))

    def _book(self, msg: Message, out: Received, frame: str | bytes, now: float) -> None:
        kind = msg.get("type")
        if kind not in ("snapshot", "update"):
            raise DecodeError(f"type must be snapshot or update, not {kind!r:.40}")
        rows = _rows(msg)
        texts = _level_texts(frame, rows)
        parsed = [_book_row(row, text) for row, text in zip(rows, texts, strict=True)]
        for symbol, bids, asks, checksum, timestamp in parsed:
            subs = self._holders.get((symbol, "orderbook"))
            if not subs:
                continue
            book = _Book(self.book_depth) if kind == "snapshot" else self._books.get(symbol)
            if book is None:
                continue  # none before the snapshot
            precisions = self._precisions.get(symbol)
            if precisions is None:
                precisions = self._precisions[symbol] = _Precisions()
            for levels in (bids, asks):
                for _, _, price_text, qty_text in levels:
                    precisions.price = max(precisions.price, _decimals(price_text))
                    precisions.qty = max(precisions.qty, _decimals(qty_text))
            book.apply(bids, asks)
            if not self._verified(book, precisions, checksum, kind == "snapshot"):
                self._mismatch(symbol, kind, checksum, out, now)
                continue
            if kind == "snapshot":
                self._books[symbol] = book
            view = book.view()
            if kind == "update" and view == book.shown:
                continue
            book.shown = view
            event: Message = {"type": "orderbook", "symbol": symbol, "bids": view[0]}
            event["asks"] = view[1]
            if timestamp is not None:
                event["timestamp"] = timestamp
            fan(event, subs, out)

    @staticmethod
    def _verified(book: _Book, precisions: _Precisions, checksum: int, snapshot: bool) -> bool:
        found = precisions.found
        if found is not None and precisions.fits(found):
            if book.checksum(found) == checksum:
                return True
            if not snapshot:
                return False  # the pair's precisions are known: a true mismatch
        for precision in _candidates(precisions.price, precisions.qty):
            if book.checksum(precision) == checksum:
                precisions.found = precision
                return True
        return False

    def _mismatch(self, symbol: str, kind: str, checksum: int, out: Received, now: float) -> None:
        self._books.pop(symbol, None)
        then = self._resynced_at.get(symbol)
        if kind == "update" and (then is None or now - then >= RESYNC_SPACING):
            out.add_actions(self._resync(symbol, now))
        else:
            self._resync_due.add(symbol)
        out.add_errors(
            [
                DecodeError(
                    f"kraken book {symbol}: the {kind}'s checksum {checksum} does not match "
                    f"the local book; not shown until a new snapshot (subscribing again)"
                )
            ]
        )

    def _pong(self, msg: Message, out: Received) -> None:
        req_id = msg.get("req_id")
        key = self._pings.pop(req_id, None) if type(req_id) is int else None
        if key is not None:
            out.add_reply(Reply(key))

    # --- acknowledgements -----------------------------------------------------------------

    def _acknowledged(self, msg: Message, out: Received) -> None:
        result = msg.get("result")
        if type(result) is not dict:
            raise DecodeError("an acknowledgement needs a result object")
        channel, symbol = result.get("channel"), result.get("symbol")
        if type(channel) is not str or type(symbol) is not str:
            raise DecodeError("an acknowledgement's result needs a channel and a symbol")
        frame = self._frame_for(msg.get("req_id"), msg["method"], channel, symbol)
        if frame is not None and frame.channel == channel:
            self._answer(frame, symbol, None, out)

    def _failed(self, msg: Message, out: Received) -> None:
        method = msg.get("method")
        said = values.text(msg.get("error")) or "error without a message"
        symbol = msg.get("symbol") if type(msg.get("symbol")) is str else None
        frame = None
        if method in ("subscribe", "unsubscribe"):
            frame = self._frame_for(msg.get("req_id"), method, None, symbol)
        if frame is None:
            what = method if type(method) is str else "request"
            out.add_refusal(Refusal("error", f"kraken {what!s:.40} failed: {said}"))
            return
        lowered = said.lower()
        outcome: Outcome = (
            "invalid_symbol" if "pair not supported" in lowered else f"{frame.method}_failed",
            said,
        )
        if (frame.method == "subscribe" and "already subscribed" in lowered) or (
            frame.method == "unsubscribe" and "not found" in lowered
        ):
            outcome = None  # what was asked holds already
        targets = [symbol] if symbol is not None else sorted(frame.pending)
        for target in targets:
            self._answer(frame, target, outcome, out)

    def _frame_for(
        self, req_id: Any, method: str, channel: str | None, symbol: str | None
    ) -> _Frame | None:
        if type(req_id) is int:
            frame = self._frames.get(req_id)
            return frame if frame is not None and frame.method == method else None
        for frame in self._frames.values():  # no req_id echoed: the oldest that fits
            if (
                frame.method == method
                and (channel is None or frame.channel == channel)
                and (symbol is None or symbol in frame.pending)
            ):
                return frame
        return None

    def _answer(self, frame: _Frame, symbol: str, outcome: Outcome, out: Received) -> None:
        if symbol not in frame.pending:
            return  # answered already, or never asked
        frame.pending.discard(symbol)
        if not frame.pending:
            del self._frames[frame.req_id]
        wire = self._wire.get((frame.channel, symbol))
        if frame.method == "subscribe" and wire is not None and wire.frame is frame:
            if outcome is None:
                wire.frame = None
            else:
                del self._wire[(frame.channel, symbol)]
        waiters = frame.waiters.pop(symbol, [])
        if not waiters and outcome is not None:  # our own resubscribe of a book
            said = f"kraken {frame.method} {frame.channel} {symbol} failed: {outcome[1]}"
            out.add_refusal(Refusal(outcome[0], said))
        for job in waiters:
            job.outcomes[(frame.channel, symbol)] = outcome
            job.open -= 1
            if not job.open:
                if job.method == "subscribe":
                    self._subscribed(job, out)
                else:
                    self._unsubscribed(job, out)

    def _subscribed(self, job: _Job, out: Received) -> None:
        """Every pair of ``job`` is answered: settle the request."""
        key = job.key
        sub = job.sub
        failed: dict[str, list[tuple[str, str, str]]] = {}  # pair: (channel, code, said)
        for (channel, symbol), outcome in job.outcomes.items():
            if outcome is not None:
                failed.setdefault(symbol, []).append((channel, *outcome))
        kept = [
            s
            for s in sub.symbols
            if any(job.outcomes.get((c, s), "") is None for c in _channels(sub))
        ]
        if self._subs.get(job.sub_id) is not sub or not failed:
            out.add_reply(Reply(key, kept))  # unsubscribed meanwhile, or all went well
            return
        if kept:
            out.add_reply(Reply(key, kept))
            gone = frozenset(s for s in sub.symbols if s not in kept)
            if gone:
                before = self._refused.get(job.sub_id)
                earlier = (
                    before[1] if before is not None and before[0] == job.asked else frozenset()
                )
                self._refused[job.sub_id] = (job.asked, earlier | gone)
                self._subs[job.sub_id] = _Sub(tuple(kept), sub.types)
                self._index()
            for symbol, failures in failed.items():
                channel, code, said = failures[0]
                if symbol in gone:
                    text = f"{symbol} refused ({said}); the subscription goes on without it"
                else:
                    names = ", ".join(f[0] for f in failures)
                    text = f"{symbol} refused on {names} ({said}); its other data goes on"
                out.add_refusal(Refusal(code, text, job.sub_id))
            return
        codes = {code for failures in failed.values() for _, code, _ in failures}
        code = codes.pop() if len(codes) == 1 else "subscribe_failed"
        why = "; ".join(f"{s}: {failures[0][2]}" for s, failures in failed.items())
        text = f"kraken refused every symbol of subscription {job.sub_id}: {why}"
        out.add_refusal(Refusal(code, text, job.sub_id, awaited_by=key, drops_subscription=True))
        out.add_reply(
            Reply(key, error=SubscriptionError(text, code=code, subscription_id=job.sub_id))
        )
        self._drop(job.sub_id)
        self._refused.pop(job.sub_id, None)

    def _unsubscribed(self, job: _Job, out: Received) -> None:
        key = job.key
        failed = [(pair, o) for pair, o in job.outcomes.items() if o is not None]
        if not failed:
            out.add_reply(Reply(key))
            return
        why = "; ".join(f"{c} {s}: {o[1]}" for (c, s), o in failed)
        text = f"unsubscribe of {job.sub_id} refused: {why}"
        out.add_refusal(Refusal("error", text, job.sub_id, awaited_by=key))
        out.add_reply(
            Reply(key, error=SubscriptionError(text, code="error", subscription_id=job.sub_id))
        )


# --- decoding helpers ----------------------------------------------------------------------


def _nothing(msg: Message, out: Received, frame: str | bytes, now: float) -> None:
    """``heartbeat``: the connection is alive; nothing to print."""


def _channels(sub: _Sub) -> tuple[str, ...]:
    return tuple(CHANNELS[t] for t in DATA_TYPES if t in sub.types)


def _rows(msg: Message) -> list[dict[str, Any]]:
    data = msg.get("data")
    if type(data) is not list or not all(type(row) is dict for row in data):
        raise DecodeError("data must be a list of objects")
    return data


def _symbol(row: Mapping[str, Any]) -> str:
    symbol = row.get("symbol")
    if type(symbol) is not str or not symbol:
        raise DecodeError("symbol must be a non-empty string")
    return symbol


def _connection_id(row: Mapping[str, Any], frame: str | bytes) -> str | None:
    value = row.get("connection_id")
    if type(value) is int:
        return str(value)
    if type(value) is str:
        return value
    if type(value) is float:  # beyond 2^64 orjson gives a float: take the text
        raw = frame.encode() if isinstance(frame, str) else frame
        match = _CONNECTION_ID.search(raw)
        return match.group(1).decode() if match else None
    return None


SideTexts = list[tuple[str | None, str | None] | None]
RowTexts = dict[str, SideTexts]


def _walk(rows: list[dict[str, Any]], token: Callable[[str, Any], str | None]) -> list[RowTexts]:
    """The exact text of each level's price and qty, walking the levels in document
    order (``token(name, value)`` gives the next one)."""
    out = []
    for row in rows:
        texts: RowTexts = {}
        for key, side in row.items():
            if key not in ("bids", "asks") or type(side) is not list:
                continue
            pairs: SideTexts = []
            for level in side:
                if type(level) is not dict:
                    pairs.append(None)
                    continue
                price = qty = None
                for name, value in level.items():
                    if name == "price":
                        price = token(name, value)
                    elif name == "qty":
                        qty = token(name, value)
                pairs.append((price, qty))
            texts[key] = pairs
        out.append(texts)
    return out


class _Mismatch(Exception):
    pass


def _level_texts(frame: str | bytes, rows: list[dict[str, Any]]) -> list[RowTexts]:
    """Each level's numbers as written in ``frame``: the tokens a regular expression
    finds, when they line up with the parsed levels; else the standard library's
    parser with text numbers (a frame with other ``price``/``qty`` keys, say)."""
    if isinstance(frame, str):
        found: list[tuple[str, str]] = _TOKENS_STR.findall(frame)
    else:
        found = [(n.decode(), t.decode()) for n, t in _TOKENS_BYTES.findall(frame)]
    tokens = iter(found)

    def next_token(name: str, value: Any) -> str | None:
        if type(value) not in (int, float):
            return None  # not a number: the level's check says so
        got = next(tokens, None)
        if got is None or got[0] != name:
            raise _Mismatch
        return got[1]

    try:
        texts = _walk(rows, next_token)
        if next(tokens, None) is None:
            return texts
    except _Mismatch:
        pass
    try:
        exact = json.loads(frame, parse_float=_Num, parse_int=_Num)
    except ValueError as exc:
        raise DecodeError(f"the frame does not parse as JSON: {exc}") from None
    data = exact.get("data") if type(exact) is dict else None
    if type(data) is not list or len(data) != len(rows) or not all(type(r) is dict for r in data):
        raise DecodeError("the frame's levels could not be read exactly")
    return _walk(data, lambda _, value: str(value) if isinstance(value, _Num) else None)


def _levels(value: Any, texts: SideTexts | None, what: str) -> list[LevelText]:
    if type(value) is not list:
        raise DecodeError(f"{what} must be a list of {{price, qty}}")
    if texts is None or len(texts) != len(value):
        raise DecodeError(f"{what} levels could not be read exactly")
    out = []
    for level, text in zip(value, texts, strict=True):
        if type(level) is not dict or text is None:
            raise DecodeError(f"a {what} level must be {{price, qty}}, not {level!r:.60}")
        price = values.price(level.get("price"), f"{what} price")
        qty = values.number(level.get("qty"), f"{what} qty")
        price_text, qty_text = text
        if price_text is None or qty_text is None:
            raise DecodeError(f"{what} levels could not be read exactly")
        out.append((price, qty, _plain(price_text), _plain(qty_text)))
    return out


def _book_row(
    row: dict[str, Any], texts: RowTexts
) -> tuple[str, list[LevelText], list[LevelText], int, float | None]:
    symbol = _symbol(row)
    bids = _levels(row.get("bids", []), texts.get("bids", []), "bids")
    asks = _levels(row.get("asks", []), texts.get("asks", []), "asks")
    checksum = row.get("checksum")
    if type(checksum) is not int or not 0 <= checksum <= 0xFFFFFFFF:
        raise DecodeError(f"checksum must be an unsigned 32-bit integer, not {checksum!r:.40}")
    timestamp = parse_time(row["timestamp"]) if row.get("timestamp") is not None else None
    return symbol, bids, asks, checksum, timestamp
