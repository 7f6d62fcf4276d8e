"""Binance Spot market streams (``wss://stream.binance.com:9443/ws``) as a ``ProviderSession``.

Wire format: RESEARCH.md §2; mapping: PROVIDERS.md "Binance Spot". Pure: frames
and REST answers in, normalized events and actions out; no I/O, no clock.

Streams. price ← ``<s>@bookTicker`` (real-time best bid/ask; it has neither a
last price nor a time, so its lines carry no ``timestamp``, and carry ``price``
only as the last trade price already seen for the symbol, PROVIDERS.md rule 10)
and ``<s>@ticker`` (``24hrTicker``, once a second: price ← ``c``, bid ← ``b``, ask
← ``a``, timestamp ← ``E``); volume ← ``<s>@trade`` (volume ← ``q``, timestamp ←
``T``, seq ← ``t``; never ``aggTrade``); orderbook ← ``<s>@depth@100ms`` plus a
REST snapshot. Best-bid/ask sizes are left out (the worked example has none).
Stream names are lower case, symbols upper case (``btcusdt`` is ``BTCUSDT``);
events name the payload's ``s``. Combined-stream wrappers ``{"stream","data"}``
are read too (a URL the user gave may ask for them), and a wrapped partial book
``<s>@depthN`` is an ``orderbook`` line of its own (the message is the book; its
symbol comes from the stream name; no time). argus never subscribes ``aggTrade``
or partial books: met on a raw stream they are skipped as unknown.

Subscriptions and pacing. SUBSCRIBE / UNSUBSCRIBE go on the URL as given, with
integer ids; ``{"result":null,"id"}`` answers. Binance disconnects a client that
sends more than 5 messages in a second, and WebSocket pings and pongs count
(RESEARCH.md "Limits"), so nothing is sent from ``subscribe``: every ``on_timer``
(0.25 s) compares the streams the subscriptions need with those asked of the
server and sends one SUBSCRIBE with every missing stream (at most 200 a frame)
and one UNSUBSCRIBE with every stream no longer needed, never more than 3 frames
in any second (2 are left for the client's pings and the pongs to the server's).
A reconnect starts from nothing (``opened``); the client's restored
subscriptions are asked again in one frame. A subscribe request is answered once
each of its streams is acknowledged in a SUBSCRIBE sent after the request was
made (a stream already on is asked again: Binance accepts a repeated stream),
and each symbol is known to exist. ``unsubscribe`` has nothing to wait for: the
subscription stops receiving at once, its streams go at the next tick. Replies
come in the order of the frames; the session keeps the server's streams as the
answered frames left them plus the frames in flight: a refused SUBSCRIBE took no
effect, a refused UNSUBSCRIBE is taken as done (not asked again, forever). At
most 1024 streams a connection (RESEARCH.md): ``max_symbols`` is 256, four
streams a symbol with every type; beyond, the server's refusal is said per symbol.

Unknown symbols. Binance is not known to refuse a well-formed stream of an
unknown symbol (RESEARCH.md "Errors", UNVERIFIED: it most likely answers
``result:null`` and sends nothing), so each new symbol is checked over REST,
``GET /api/v3/exchangeInfo?symbols=[...]`` (one request for a subscription;
HTTP 400 ``-1121 "Invalid symbol."`` names none, so then one request a symbol).
An unknown symbol is a ``Refusal`` (``invalid_symbol``, naming it) while the
rest go on, its streams are unsubscribed, and it is left out silently when the
subscription is restored after a reconnect; with no symbol left the request
fails with ``SubscriptionError`` and the subscription is dropped. A symbol found
unknown stays unknown for the session. When REST does not answer (after 3
tries), the symbols stream unchecked with a ``symbol_check_failed`` warning.
A SUBSCRIBE error (``{"error":{"code","msg"},"id"}``) naming one symbol's
streams refuses that symbol (``invalid_symbol`` for "invalid stream", else
``subscribe_failed``); for several symbols, each is asked again alone to find it.

Trades. One volume line per ``trade``, ``seq`` = ``t`` (contiguous per symbol); an
id at or below the last printed for the symbol is never printed again, across
reconnects (the session lives across connections). The pipeline reports holes.

Books. The documented sync (RESEARCH.md "Sequence and gap detection"): once the
depth stream is acknowledged, or at its first event, ``GET /api/v3/depth?symbol=S
&limit=1000``; events are buffered meanwhile; those with ``u`` <= ``lastUpdateId``
are dropped; a snapshot older than the first buffered event (``U`` >
``lastUpdateId`` + 1) is fetched again; then events apply in order (quantity 0
deletes), an event with ``u`` <= the book's id is ignored, and one with ``U`` >
the book's id + 1 (a missed event) throws the book away and syncs again from a
new snapshot. No line before the book is synced, and none while it resyncs. A
line is the whole book (top 10 a side, never crossed: ``Book``), sent when
synced (timestamp ← ``E`` of the last buffered event applied, none when the
snapshot alone made it) and after each event that changed the top 10
(timestamp ← ``E``). A snapshot that fails (no answer, 5xx, 429, a body that is
not a book, or one older than the stream) is asked again after 0.5 s, then 1 s;
after 3 failures each subscription holding the book gets a ``snapshot_failed``
warning and it is asked every 30 s. HTTP 400 ``-1121`` is an unknown symbol.
``limit=1000`` weighs 50 of the 6,000 a minute Binance grants an IP.

Connection life. Server pings are WebSocket pings (the client library answers
them); there is no application ping. ``serverShutdown`` (raw or
``!serverShutdown``) asks for a reconnect now; a connection is rotated after
23.5 h, before Binance's 24 h cut. Times are epoch milliseconds (microseconds,
from a ``timeUnit=MICROSECOND`` URL, are told apart by size); numbers, decimal
strings on the wire, become JSON numbers.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import orjson

from ..exceptions import (
    ArgusConnectionError,
    DecodeError,
    SubscriptionError,
    UnknownMessageType,
)
from . import values
from .book import Book
from .facts import ProviderFacts
from .rules import DATA_TYPES
from .session import (
    Action,
    Fetch,
    Fetched,
    Handshake,
    Message,
    Received,
    Reconnect,
    Refusal,
    Reply,
    ReplyKey,
    Request,
    Send,
    fan,
)

__all__ = ["FACTS", "STREAMS", "BinanceSession"]

FACTS: Final = ProviderFacts(
    name="binance",
    url="wss://stream.binance.com:9443/ws",
    data_types=DATA_TYPES,
    frequencies=("realtime",),
    filters=False,
    contiguous_trade_ids=True,
    needs_key=False,
    subscribe_within=None,
    client_messages_per_second=5.0,
    max_message_size=4 << 20,  # diff-depth events of a busy book: tens of KB
    rest_url="https://api.binance.com",
    needs_secret=False,
    lists_symbols=True,
    max_symbols=256,  # 1024 streams a connection, up to 4 streams a symbol
    description="Binance Spot public streams: bookTicker/ticker, trades, books synced from REST",
)

STREAMS: Final[Mapping[str, tuple[str, ...]]] = {
    "price": ("bookTicker", "ticker"),
    "volume": ("trade",),
    "orderbook": ("depth@100ms",),
}
DEPTH_STREAM: Final = "@depth@100ms"
TIMER_INTERVAL: Final = 0.25
MESSAGES_PER_SECOND: Final = 3  # of Binance's 5: pings and pongs count too
MAX_PARAMS: Final = 200  # streams in one SUBSCRIBE
MAX_CHECKED: Final = 100  # symbols in one exchangeInfo request
ROTATE_AFTER: Final = 23.5 * 3600  # seconds: before Binance's 24 h cut
DEPTH_LIMIT: Final = 1000
FETCH_ATTEMPTS: Final = 3
RETRY_DELAYS: Final = (0.5, 1.0)
SLOW_RETRY: Final = 30.0
MAX_BUFFERED: Final = 5000  # depth events kept while a snapshot is awaited
_MICROS: Final = 100_000_000_000_000  # a time this large is in microseconds
_SYMBOL: Final = re.compile(r"[^\s@/?&#%\"\\]{1,40}")
_INVALID_CODES: Final = (-1121, -1100)  # REST: "Invalid symbol.", illegal characters


def _time(value: Any, what: str) -> float:
    if type(value) is not int or value < 0:
        raise DecodeError(f"{what} must be epoch milliseconds, not {value!r:.40}")
    return value / 1000 if value < _MICROS else value / 1_000_000


def _update_id(value: Any, what: str) -> int:
    return values.trade_id(value, what, low=0)


def _symbol(msg: Message) -> str:
    symbol = msg.get("s")
    if type(symbol) is not str or not symbol:
        raise DecodeError("s (the symbol) must be a non-empty string")
    return symbol


def _said(error: Any) -> str:
    if type(error) is dict:
        msg = values.text(error.get("msg"))
        code = error.get("code")
        return f"{msg} (code {code})" if code is not None else msg or "error without a message"
    return f"{error!r:.80}"


def _rest_error(answer: Fetched) -> tuple[int | None, str]:
    """Binance's REST ``{"code","msg"}`` of a failed answer, or why there is none."""
    if answer.status == 0:
        return None, answer.error or "no answer"
    try:
        body = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        body = None
    if type(body) is dict and type(body.get("code")) is int:
        return body["code"], f"HTTP {answer.status}: {values.text(body.get('msg'))}"
    return None, f"HTTP {answer.status}"


def _stream_symbol(stream: str) -> str:
    return stream.split("@", 1)[0].upper()


# --- bookkeeping -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sub:
    asked: tuple[str, ...]  # as the caller spelled them
    symbols: tuple[str, ...]  # upper case, the ones kept
    types: frozenset[str]


@dataclass(slots=True)
class _Job:
    """A subscribe request until its streams are acknowledged and its symbols checked."""

    sub_id: str
    asked: tuple[str, ...]
    symbols: tuple[str, ...]  # upper case, kept when asked
    pending: set[str]  # streams not yet acknowledged; "" waits for any reply
    refused: dict[str, tuple[str, str]] = field(default_factory=dict)  # symbol: code, why


@dataclass(frozen=True, slots=True)
class _Sent:
    method: str
    streams: tuple[str, ...]


_Update = tuple[int, int, float, list[tuple[float, float]], list[tuple[float, float]]]


@dataclass(slots=True)
class _Depth:
    """One symbol's diff-depth sync on this connection."""

    buffer: deque[_Update] = field(default_factory=lambda: deque(maxlen=MAX_BUFFERED))
    book: Book | None = None
    last: int = 0  # the book's update id
    fetching: bool = False  # a snapshot is asked for, or its retry is due
    failures: int = 0
    warned: bool = False


class BinanceSession:
    """Speaks Binance Spot market streams. One instance serves every connection of
    a client: subscriptions, books and pacing live per connection (``opened``
    clears them); the last printed trade id per symbol and what REST said about
    each symbol live on."""

    source = "binance"
    timer_interval: float | None = TIMER_INTERVAL

    _subs: dict[str, _Sub]
    _holders: dict[tuple[str, str], tuple[str, ...]]  # (symbol, data type): subs
    _wanted: dict[str, str]  # stream: symbol, every stream the subscriptions need
    _base: set[str]  # streams on the server once every answered frame took effect
    _server: set[str]  # and once the frames still unanswered take effect too
    _inflight: dict[int, _Sent]
    _jobs: dict[str, _Job]
    _solo: set[str]  # symbols asked alone, after a refused SUBSCRIBE of several
    _sent_at: deque[float]
    _checking: set[str]
    _unchecked: set[str]
    _retries: list[tuple[float, tuple[Any, ...]]]
    _depth: dict[str, _Depth]
    _born: float | None
    _leaving: bool
    _dirty: bool

    def __init__(self, rest_url: str | None = None) -> None:
        self.rest_url = (rest_url or FACTS.rest_url or "").rstrip("/")
        self.rotate_after = ROTATE_AFTER
        self.resyncs = 0  # books thrown away after a missed depth event
        self._last_trade: dict[str, int] = {}
        self._last_price: dict[str, float] = {}
        self._refused: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {}
        self._valid: set[str] = set()
        self._invalid: dict[str, str] = {}  # symbol: what Binance said
        self._ids = itertools.count(1)
        self._gen = 0
        self._handlers: dict[str, Callable[[Message, Received], None]] = {
            "trade": self._trade,
            "24hrTicker": self._ticker,
            "depthUpdate": self._depth_update,
            "serverShutdown": self._shutdown,
        }
        self.opened()

    def opened(self) -> list[Action]:
        self._gen += 1
        self._subs = {}
        self._holders = {}
        self._wanted = {}
        self._base = set()
        self._server = set()
        self._inflight = {}
        self._jobs = {}
        self._solo = set()
        self._sent_at = deque()
        self._checking = set()
        self._unchecked = set()
        self._retries = []
        self._depth = {}
        self._born = None
        self._leaving = False
        self._dirty = False
        return []

    # --- requests ---------------------------------------------------------------------

    def subscribe(
        self,
        subscription_id: str,
        symbols: Sequence[str],
        data_types: Sequence[str],
        update_frequency: str,
        filters: Mapping[str, float] | None,
        resume: Mapping[str, int] | None,
    ) -> Request:
        """Subscribe ``symbols`` (``BTCUSDT``; lower case is upper-cased). Nothing is
        sent here: the next ``on_timer`` asks for every stream missing. ``resume``
        is not needed: trade ids say what was printed."""
        FACTS.check_request(symbols, data_types, update_frequency, filters)
        asked = tuple(dict.fromkeys(symbols))
        before = self._refused.get(subscription_id)
        leave_out = before[1] if before is not None and before[0] == asked else frozenset()
        if not leave_out:
            self._refused.pop(subscription_id, None)
        kept: list[str] = []
        refused: dict[str, tuple[str, str]] = {}
        for name in asked:
            symbol = name.upper()
            if symbol in leave_out or symbol in kept:
                continue
            if not _SYMBOL.fullmatch(symbol):
                refused[symbol] = ("invalid_symbol", "not a Binance symbol")
            elif symbol in self._invalid:
                refused[symbol] = ("invalid_symbol", self._invalid[symbol])
            else:
                kept.append(symbol)
        types = frozenset(data_types)
        self._subs[subscription_id] = _Sub(asked, tuple(kept), types)
        self._index()
        streams = {s for s in _streams(kept, types)}
        self._jobs[subscription_id] = _Job(
            subscription_id, asked, tuple(kept), streams or {""}, refused
        )
        self._dirty = True
        unknown_yet = [
            s
            for s in kept
            if s not in self._valid and s not in self._unchecked and s not in self._checking
        ]
        checks = [
            self._check(tuple(unknown_yet[i : i + MAX_CHECKED]), 0)
            for i in range(0, len(unknown_yet), MAX_CHECKED)
        ]
        return Request(checks, ("subscribed", subscription_id))

    def unsubscribe(self, subscription_id: str) -> Request:
        """Forget the subscription now; the next ``on_timer`` unsubscribes the streams
        no other subscription holds (Binance's streams are per connection)."""
        self._refused.pop(subscription_id, None)
        if self._subs.pop(subscription_id, None) is None:
            return Request([])
        job = self._jobs.get(subscription_id)
        if job is not None:
            job.pending = {""}  # answered by the next reply: nothing more to ask
        self._index()
        self._dirty = True
        return Request([])

    def list_symbols(self) -> Request:
        """The symbols Binance trades now: ``GET /api/v3/exchangeInfo``, status TRADING."""
        key: ReplyKey = ("symbols", next(self._ids))
        return Request([Fetch(f"{self.rest_url}/api/v3/exchangeInfo", key)], key)

    def ping(self, nonce: int) -> Request | None:
        return None  # no application ping: the client times a WebSocket ping

    def handshake(self, api_key: str | None) -> Handshake:
        return Handshake()  # public market streams: no key is ever sent

    def on_timer(self, now: float) -> list[Action]:
        """Paced requests, due REST retries, and the 24 h rotation."""
        if self._born is None:
            self._born = now
        elif now - self._born >= self.rotate_after and not self._leaving:
            self._leaving = True
            return [Reconnect("binance ends connections after 24 h: rotating early")]
        actions: list[Action] = []
        if self._retries:
            due = [r for r in self._retries if r[0] <= now]
            if due:
                self._retries = [r for r in self._retries if r[0] > now]
                for _, what in due:
                    actions.extend(self._retry(what))
        if self._dirty:
            actions.extend(self._pace(now))
        return actions

    # --- pacing -----------------------------------------------------------------------

    def _pace(self, now: float) -> list[Action]:
        sent = self._sent_at
        while sent and sent[0] <= now - 1.0:
            sent.popleft()
        budget = MESSAGES_PER_SECOND - len(sent)
        if budget <= 0:
            return []
        frames = self._plan()
        if len(frames) <= budget:
            self._dirty = False
        actions: list[Action] = []
        for method, streams in frames[:budget]:
            request_id = next(self._ids)
            self._inflight[request_id] = _Sent(method, streams)
            if method == "SUBSCRIBE":
                self._server.update(streams)
            elif method == "UNSUBSCRIBE":
                self._server.difference_update(streams)
            frame: dict[str, Any] = {"method": method}
            if streams:
                frame["params"] = list(streams)
            frame["id"] = request_id
            sent.append(now)
            actions.append(Send(orjson.dumps(frame)))
        return actions

    def _plan(self) -> list[tuple[str, tuple[str, ...]]]:
        """The frames that would bring the server to what the subscriptions need."""
        asking: set[str] = set()
        for sent in self._inflight.values():
            if sent.method == "SUBSCRIBE":
                asking.update(sent.streams)
        add = {s: None for s in self._wanted if s not in self._server}
        wait_any = False
        for job in self._jobs.values():
            for stream in job.pending:
                if not stream:
                    wait_any = True
                elif stream not in asking and stream in self._wanted:
                    add[stream] = None
        shared: list[str] = []
        alone: dict[str, list[str]] = {}
        for stream in add:
            symbol = self._wanted[stream]
            if symbol in self._solo:
                alone.setdefault(symbol, []).append(stream)
            else:
                shared.append(stream)
        frames = [
            ("SUBSCRIBE", tuple(shared[i : i + MAX_PARAMS]))
            for i in range(0, len(shared), MAX_PARAMS)
        ]
        frames += [("SUBSCRIBE", tuple(streams)) for streams in alone.values()]
        drop = sorted(s for s in self._server if s not in self._wanted)
        frames += [
            ("UNSUBSCRIBE", tuple(drop[i : i + MAX_PARAMS]))
            for i in range(0, len(drop), MAX_PARAMS)
        ]
        if wait_any and not frames and not self._inflight:
            frames.append(("LIST_SUBSCRIPTIONS", ()))  # a round trip answers the request
        return frames

    def _index(self) -> None:
        holders: dict[tuple[str, str], list[str]] = {}
        wanted: dict[str, str] = {}
        for sub_id, sub in self._subs.items():
            for symbol in sub.symbols:
                for data_type in DATA_TYPES:
                    if data_type in sub.types:
                        holders.setdefault((symbol, data_type), []).append(sub_id)
                        lower = symbol.lower()
                        for suffix in STREAMS[data_type]:
                            wanted[f"{lower}@{suffix}"] = symbol
        self._holders = {key: tuple(subs) for key, subs in holders.items()}
        self._wanted = wanted
        for symbol in [s for s in self._depth if (s, "orderbook") not in self._holders]:
            del self._depth[symbol]

    # --- REST -------------------------------------------------------------------------

    def _check(self, symbols: tuple[str, ...], attempt: int) -> Fetch:
        self._checking.update(symbols)
        if len(symbols) == 1:
            query = f"symbol={quote(symbols[0], safe='')}"
        else:
            query = f"symbols={quote(orjson.dumps(list(symbols)).decode(), safe='')}"
        url = f"{self.rest_url}/api/v3/exchangeInfo?{query}"
        return Fetch(url, ("check", self._gen, symbols, attempt))

    def _snapshot_fetch(self, symbol: str) -> Fetch:
        url = f"{self.rest_url}/api/v3/depth?symbol={quote(symbol, safe='')}&limit={DEPTH_LIMIT}"
        return Fetch(url, ("depth", self._gen, symbol))

    def _retry(self, what: tuple[Any, ...]) -> list[Action]:
        if what[0] == "check":
            symbols = tuple(s for s in what[1] if s not in self._valid and s not in self._invalid)
            return [self._check(symbols, what[2])] if symbols else []
        depth = self._depth.get(what[1])
        if depth is None or depth.book is not None:
            return []
        return [self._snapshot_fetch(what[1])]

    def fetched(self, answer: Fetched, now: float) -> Received:
        out = Received([])
        tag = answer.tag
        if type(tag) is not tuple or not tag:
            return out
        if tag[0] == "symbols":
            self._listed(tag, answer, out)
        elif tag[1] != self._gen:
            return out  # asked on an earlier connection
        elif tag[0] == "check":
            self._checked(tag[2], tag[3], answer, now, out)
        elif tag[0] == "depth":
            self._snapshot(tag[2], answer, now, out)
        if self._jobs:
            self._settle(out)
        return out

    def _listed(self, key: ReplyKey, answer: Fetched, out: Received) -> None:
        where = f"{self.rest_url}/api/v3/exchangeInfo"
        if answer.status != 200:
            why = _rest_error(answer)[1]
            error = ArgusConnectionError(f"binance symbols: GET {where}: {why}", url=where)
            out.add_reply(Reply(key, error=error))
            return
        try:
            infos = _infos(answer.body)
        except DecodeError as exc:
            out.add_reply(Reply(key, error=DecodeError(f"binance symbols: {exc}")))
            return
        trading = [s for s, status in infos if status == "TRADING"]
        out.add_reply(Reply(key, trading))

    def _checked(
        self, symbols: tuple[str, ...], attempt: int, answer: Fetched, now: float, out: Received
    ) -> None:
        self._checking.difference_update(symbols)
        if answer.status == 200:
            try:
                listed = {s for s, _ in _infos(answer.body)}
            except DecodeError as exc:
                out.add_errors([DecodeError(f"binance exchangeInfo: {exc}")])
            else:
                for symbol in symbols:
                    if symbol in listed:
                        if symbol not in self._invalid:  # unless its stream was refused
                            self._valid.add(symbol)
                    else:
                        self._reject(symbol, "invalid_symbol", "not in exchangeInfo", out)
                return
        code, why = _rest_error(answer)
        if answer.status == 400 and code in _INVALID_CODES:
            if len(symbols) == 1:
                self._reject(symbols[0], "invalid_symbol", why, out)
            else:  # names none: one request a symbol finds it
                out.add_actions([self._check((s,), attempt) for s in symbols])
            return
        if attempt + 1 < FETCH_ATTEMPTS:
            self._checking.update(symbols)
            self._retries.append((now + RETRY_DELAYS[attempt], ("check", symbols, attempt + 1)))
            return
        self._unchecked.update(symbols)
        for sub_id, sub in self._subs.items():
            mine = [s for s in symbols if s in sub.symbols]
            if mine:
                text = (
                    f"could not check {', '.join(mine)} over REST ({why}): "
                    "streaming unchecked (an unknown symbol sends nothing)"
                )
                out.add_refusal(Refusal("symbol_check_failed", text, sub_id))

    def _snapshot(self, symbol: str, answer: Fetched, now: float, out: Received) -> None:
        depth = self._depth.get(symbol)
        if depth is None or depth.book is not None:
            return  # no longer held, or synced meanwhile
        depth.fetching = False
        if answer.status == 200:
            try:
                snapshot = _snapshot_of(answer.body)
            except DecodeError as exc:
                out.add_errors([DecodeError(f"binance depth snapshot of {symbol}: {exc}")])
                self._failed(symbol, depth, f"a bad snapshot: {exc}", now, out)
            else:
                self._sync(symbol, depth, *snapshot, now, out)
            return
        code, why = _rest_error(answer)
        if answer.status == 400 and code in _INVALID_CODES:
            self._reject(symbol, "invalid_symbol", why, out)
            return
        self._failed(symbol, depth, why, now, out)

    def _failed(self, symbol: str, depth: _Depth, why: str, now: float, out: Received) -> None:
        """No usable snapshot: ask again after a while; warn once after a few tries."""
        depth.failures += 1
        depth.fetching = True  # until the retry
        index = depth.failures - 1
        delay = RETRY_DELAYS[index] if index < len(RETRY_DELAYS) else SLOW_RETRY
        self._retries.append((now + delay, ("depth", symbol)))
        if depth.failures >= FETCH_ATTEMPTS and not depth.warned:
            depth.warned = True
            text = (
                f"{symbol} book: no usable REST snapshot after {depth.failures} tries ({why}); "
                f"no book until one comes (asked every {SLOW_RETRY:g} s)"
            )
            for sub_id in self._holders.get((symbol, "orderbook"), ()):
                out.add_refusal(Refusal("snapshot_failed", text, sub_id))

    def _sync(
        self,
        symbol: str,
        depth: _Depth,
        last_id: int,
        bids: list[tuple[float, float]],
        asks: list[tuple[float, float]],
        now: float,
        out: Received,
    ) -> None:
        buffer = depth.buffer
        while buffer and buffer[0][1] <= last_id:
            buffer.popleft()
        if buffer and buffer[0][0] > last_id + 1:  # older than the stream: ask again
            self._failed(symbol, depth, "the snapshot is older than the stream", now, out)
            return
        book = Book(bids, asks)
        timestamp: float | None = None
        while buffer:
            first, last, when, bid_levels, ask_levels = buffer.popleft()
            if first > last_id + 1:  # missed one while buffering: from it, sync again
                buffer.appendleft((first, last, when, bid_levels, ask_levels))
                self.resyncs += 1
                depth.fetching = True
                out.add_actions([self._snapshot_fetch(symbol)])
                return
            if last <= last_id:
                continue  # older than the book
            for price, size in bid_levels:
                book.apply(True, price, size)
            for price, size in ask_levels:
                book.apply(False, price, size)
            last_id, timestamp = last, when
        depth.book, depth.last, depth.failures = book, last_id, 0
        book.shown = book.view()
        subs = self._holders.get((symbol, "orderbook"))
        if subs:
            self._show(symbol, book.shown, timestamp, subs, out)

    # --- frames -----------------------------------------------------------------------

    def receive(self, frame: str | bytes, now: float) -> Received:
        received = Received([])
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            received.add_errors([DecodeError(f"binance sent a frame that is not JSON: {exc}")])
            return received
        if type(msg) is not dict:
            received.add_errors([DecodeError("binance sent a frame that is not a JSON object")])
            return received
        data = msg
        stream: str | None = None
        if "data" in msg:
            data, stream = msg["data"], msg.get("stream")
            if type(data) is not dict or type(stream) is not str:
                received.add_errors([DecodeError("binance stream wrapper without stream/data")])
                return received
        kind = data.get("e")
        try:
            if kind is not None:
                handler = self._handlers.get(kind) if type(kind) is str else None
                if handler is None:
                    raise UnknownMessageType(f"binance event type {kind!r:.40}")
                handler(data, received)
            elif "u" in data and "s" in data:
                self._book_ticker(data, received)
            elif "lastUpdateId" in data:
                self._partial(data, stream, received)
            elif "id" in data and ("result" in data or "error" in data):
                self._reply(data, received)
            elif "code" in data and "msg" in data:
                said = _said(data)
                received.add_refusal(Refusal("error", f"binance: {said}"))
            else:
                raise DecodeError("binance sent a message of no known shape")
        except DecodeError as exc:
            received.events.clear()
            if isinstance(exc, UnknownMessageType):
                received.add_errors([exc])
            else:
                symbol = data.get("s")
                where = f" for {symbol!r:.40}" if type(symbol) is str else ""
                what = kind if type(kind) is str else "message"
                received.add_errors([DecodeError(f"binance {what}{where}: {exc}")])
        return received

    def _trade(self, msg: Message, out: Received) -> None:
        symbol = _symbol(msg)
        if (symbol, "price") in self._holders:
            self._last_price[symbol] = values.price(msg.get("p"), "p")
        subs = self._holders.get((symbol, "volume"))
        if not subs:
            return
        trade_id = values.trade_id(msg.get("t"), "t")
        event: Message = {
            "type": "volume",
            "symbol": symbol,
            "volume": values.number(msg.get("q"), "q"),
        }
        if msg.get("T") is not None:
            event["timestamp"] = _time(msg["T"], "T")
        event["seq"] = trade_id
        last = self._last_trade.get(symbol)
        if last is not None and trade_id <= last:
            return  # printed already: never twice
        self._last_trade[symbol] = trade_id
        fan(event, subs, out)

    def _book_ticker(self, msg: Message, out: Received) -> None:
        symbol = _symbol(msg)
        subs = self._holders.get((symbol, "price"))
        if not subs:
            return
        event: Message = {"type": "price", "symbol": symbol}
        last = self._last_price.get(symbol)
        if last is not None:
            event["price"] = last
        self._quotes(msg, event)
        if len(event) > 2:
            fan(event, subs, out)

    def _ticker(self, msg: Message, out: Received) -> None:
        symbol = _symbol(msg)
        subs = self._holders.get((symbol, "price"))
        if not subs:
            return
        event: Message = {"type": "price", "symbol": symbol}
        price = values.number(msg.get("c"), "c")
        if price:  # 0: no trade in the window
            event["price"] = self._last_price[symbol] = price
        self._quotes(msg, event)
        if msg.get("E") is not None:
            event["timestamp"] = _time(msg["E"], "E")
        if "price" in event or "bid" in event or "ask" in event:
            fan(event, subs, out)

    @staticmethod
    def _quotes(msg: Message, event: Message) -> None:
        bid = values.number(msg.get("b"), "b")
        if bid:  # 0: no quote on that side
            event["bid"] = bid
        ask = values.number(msg.get("a"), "a")
        if ask:
            event["ask"] = ask

    def _depth_update(self, msg: Message, out: Received) -> None:
        symbol = _symbol(msg)
        subs = self._holders.get((symbol, "orderbook"))
        if not subs:
            return
        first = _update_id(msg.get("U"), "U")
        last = _update_id(msg.get("u"), "u")
        if last < first:
            raise DecodeError(f"u {last} is below U {first}")
        when = _time(msg.get("E"), "E")
        bids = values.levels(msg.get("b"), "b")
        asks = values.levels(msg.get("a"), "a")
        depth = self._depth.get(symbol)
        if depth is None:
            depth = self._depth[symbol] = _Depth()
        book = depth.book
        if book is None:  # not synced: buffer, and ask for the snapshot
            depth.buffer.append((first, last, when, bids, asks))
            if not depth.fetching:
                depth.fetching = True
                out.add_actions([self._snapshot_fetch(symbol)])
            return
        if last <= depth.last:
            return  # older than the book
        if first > depth.last + 1:  # missed an event: the book is wrong, sync again
            self.resyncs += 1
            depth.book = None
            depth.buffer.clear()
            depth.buffer.append((first, last, when, bids, asks))
            if not depth.fetching:
                depth.fetching = True
                out.add_actions([self._snapshot_fetch(symbol)])
            return
        for price, size in bids:
            book.apply(True, price, size)
        for price, size in asks:
            book.apply(False, price, size)
        depth.last = last
        view = book.view()
        if view != book.shown:
            book.shown = view
            self._show(symbol, view, when, subs, out)

    def _partial(self, msg: Message, stream: str | None, out: Received) -> None:
        if stream is None or "@depth" not in stream:
            raise UnknownMessageType("binance partial book without its stream name")
        symbol = _stream_symbol(stream)
        _update_id(msg.get("lastUpdateId"), "lastUpdateId")
        book = Book(values.levels(msg.get("bids"), "bids"), values.levels(msg.get("asks"), "asks"))
        subs = self._holders.get((symbol, "orderbook"))
        if subs:
            self._show(symbol, book.shown, None, subs, out)

    def _show(
        self,
        symbol: str,
        view: tuple[list[list[float]], list[list[float]]],
        timestamp: float | None,
        subs: tuple[str, ...],
        out: Received,
    ) -> None:
        event: Message = {"type": "orderbook", "symbol": symbol, "bids": view[0], "asks": view[1]}
        if timestamp is not None:
            event["timestamp"] = timestamp
        fan(event, subs, out)

    def _shutdown(self, msg: Message, out: Received) -> None:
        if not self._leaving:
            self._leaving = True
            out.add_actions([Reconnect("binance serverShutdown: the server is going away")])

    # --- replies ----------------------------------------------------------------------

    def _reply(self, msg: Message, out: Received) -> None:
        request_id = msg.get("id")
        sent = self._inflight.pop(request_id, None) if type(request_id) is int else None
        error = msg.get("error")
        if sent is None:
            if error is not None:
                out.add_refusal(Refusal("error", f"binance: {_said(error)}"))
            return  # a reply to nothing of ours
        if sent.method == "SUBSCRIBE" and error is None:
            self._base.update(sent.streams)
        elif sent.method == "UNSUBSCRIBE":  # refused or not: not asked again
            self._base.difference_update(sent.streams)
        self._server = self._replayed()
        for job in self._jobs.values():
            job.pending.discard("")  # a round trip after the request
        if sent.method != "SUBSCRIBE":
            if error is not None:
                text = f"binance refused {sent.method}: {_said(error)}"
                out.add_refusal(Refusal("error", text))
        elif error is None:
            streams = set(sent.streams)
            for job in self._jobs.values():
                job.pending -= streams
            self._start_books(sent.streams, out)
        else:
            said = _said(error)
            self._dirty = True
            symbols = list(dict.fromkeys(_stream_symbol(s) for s in sent.streams))
            if len(symbols) == 1:
                code = "invalid_symbol" if "invalid stream" in said.lower() else "subscribe_failed"
                self._reject(symbols[0], code, said, out)
            else:  # which one? each alone finds it
                self._solo.update(symbols)
        if self._jobs:
            self._settle(out)

    def _replayed(self) -> set[str]:
        """The server's streams once the frames not yet answered take effect, in order."""
        server = set(self._base)
        for sent in self._inflight.values():
            if sent.method == "SUBSCRIBE":
                server.update(sent.streams)
            elif sent.method == "UNSUBSCRIBE":
                server.difference_update(sent.streams)
        return server

    def _start_books(self, streams: Iterable[str], out: Received) -> None:
        """A depth stream is on: fetch its snapshot now (a quiet book may not change soon)."""
        for stream in streams:
            if not stream.endswith(DEPTH_STREAM):
                continue
            symbol = self._wanted.get(stream)
            if symbol is None or (symbol, "orderbook") not in self._holders:
                continue
            depth = self._depth.get(symbol)
            if depth is None:
                depth = self._depth[symbol] = _Depth()
            if depth.book is None and not depth.fetching:
                depth.fetching = True
                out.add_actions([self._snapshot_fetch(symbol)])

    def _reject(self, symbol: str, code: str, why: str, out: Received) -> None:
        """``symbol`` cannot be had: out of every subscription, said to each."""
        if code == "invalid_symbol":
            self._invalid[symbol] = why
            self._valid.discard(symbol)
        self._checking.discard(symbol)
        changed = False
        for sub_id, sub in list(self._subs.items()):
            if symbol not in sub.symbols:
                continue
            changed = True
            kept = tuple(s for s in sub.symbols if s != symbol)
            self._subs[sub_id] = _Sub(sub.asked, kept, sub.types)
            self._remember(sub_id, sub.asked, (symbol,))
            job = self._jobs.get(sub_id)
            if job is not None:  # said when the request is answered
                job.refused[symbol] = (code, why)
                job.pending -= set(_streams((symbol,), sub.types))
                continue
            if kept:
                text = f"{symbol} refused (binance: {why}); the subscription goes on without it"
                out.add_refusal(Refusal(code, text, sub_id))
            else:
                text = f"binance refused every symbol of subscription {sub_id}: {symbol}: {why}"
                out.add_refusal(Refusal(code, text, sub_id, drops_subscription=True))
                del self._subs[sub_id]
                self._refused.pop(sub_id, None)
        if changed:
            self._index()
            self._dirty = True

    def _remember(self, sub_id: str, asked: tuple[str, ...], symbols: Iterable[str]) -> None:
        before = self._refused.get(sub_id)
        earlier = before[1] if before is not None and before[0] == asked else frozenset()
        self._refused[sub_id] = (asked, earlier | frozenset(symbols))

    def _settle(self, out: Received) -> None:
        """Answer each subscribe request whose streams are on and symbols checked."""
        for sub_id, job in list(self._jobs.items()):
            if job.pending:
                continue
            if any(
                s not in self._valid and s not in self._unchecked and s not in job.refused
                for s in job.symbols
            ):
                continue
            del self._jobs[sub_id]
            key: ReplyKey = ("subscribed", sub_id)
            sub = self._subs.get(sub_id)
            if sub is None:  # unsubscribed meanwhile
                out.add_reply(Reply(key, []))
                continue
            kept = [name for name in job.asked if name.upper() in sub.symbols]
            if kept or not job.refused:
                out.add_reply(Reply(key, kept))
                if job.refused:
                    self._remember(sub_id, job.asked, job.refused)
                for symbol, (code, why) in job.refused.items():
                    text = f"{symbol} refused (binance: {why}); the subscription goes on without it"
                    out.add_refusal(Refusal(code, text, sub_id))
                self._show_books(sub_id, sub, out)
                continue
            codes = {code for code, _ in job.refused.values()}
            code = codes.pop() if len(codes) == 1 else "subscribe_failed"
            why = "; ".join(f"{s}: {said}" for s, (_, said) in job.refused.items())
            text = f"binance refused every symbol of subscription {sub_id}: {why}"
            out.add_refusal(Refusal(code, text, sub_id, awaited_by=key, drops_subscription=True))
            error = SubscriptionError(text, code=code, subscription_id=sub_id)
            out.add_reply(Reply(key, error=error))
            del self._subs[sub_id]
            self._refused.pop(sub_id, None)
            self._index()
            self._dirty = True

    def _show_books(self, sub_id: str, sub: _Sub, out: Received) -> None:
        """A new subscription to a book already synced sees it now, not at its next change."""
        if "orderbook" not in sub.types:
            return
        for symbol in sub.symbols:
            depth = self._depth.get(symbol)
            if depth is not None and depth.book is not None:
                self._show(symbol, depth.book.shown, None, (sub_id,), out)


def _streams(symbols: Iterable[str], types: frozenset[str]) -> list[str]:
    return [
        f"{symbol.lower()}@{suffix}"
        for symbol in symbols
        for data_type in DATA_TYPES
        if data_type in types
        for suffix in STREAMS[data_type]
    ]


def _infos(body: bytes) -> list[tuple[str, str]]:
    """(symbol, status) of an exchangeInfo answer."""
    try:
        info = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"exchangeInfo is not JSON: {exc}") from None
    symbols = info.get("symbols") if type(info) is dict else None
    if type(symbols) is not list:
        raise DecodeError("exchangeInfo needs a list of symbols")
    out = []
    for item in symbols:
        if type(item) is not dict or type(item.get("symbol")) is not str:
            raise DecodeError(f"an exchangeInfo symbol needs a name, not {item!r:.60}")
        out.append((item["symbol"], values.text(item.get("status"))))
    return out


def _snapshot_of(body: bytes) -> tuple[int, list[tuple[float, float]], list[tuple[float, float]]]:
    try:
        snapshot = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if type(snapshot) is not dict:
        raise DecodeError("not a JSON object")
    return (
        _update_id(snapshot.get("lastUpdateId"), "lastUpdateId"),
        values.levels(snapshot.get("bids"), "bids"),
        values.levels(snapshot.get("asks"), "asks"),
    )
