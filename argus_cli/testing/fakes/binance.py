"""A fake Binance Spot market-stream server (``shared/providers/RESEARCH.md`` §2) on 127.0.0.1.

Real sockets, port 0, WebSocket and REST on the same port::

    async with FakeBinance(symbols=("BTCUSDT", "ETHUSDT")) as fake:
        fake.url       # ws://127.0.0.1:PORT/ws   (SUBSCRIBE here, or /ws/<stream>)
        fake.base_url  # ws://127.0.0.1:PORT      (/stream?streams=a/b is combined)
        fake.rest_url  # http://127.0.0.1:PORT    (GET /api/v3/depth, /api/v3/exchangeInfo)

What it emulates (RESEARCH.md §2 "Endpoints", "Live subscribe", "Data messages",
"Keepalive, lifetime and server shutdown", "Limits", "Errors", "Sequence"):

- ``/ws`` (raw), ``/ws/<stream>`` (raw, one stream), ``/stream`` and
  ``/stream?streams=a/b`` (combined: ``{"stream":name,"data":payload}``);
  ``timeUnit=MICROSECOND`` makes event times microseconds (default milliseconds);
- ``SUBSCRIBE`` / ``UNSUBSCRIBE`` -> ``{"result":null,"id":N}``,
  ``LIST_SUBSCRIPTIONS`` -> ``{"result":[names],"id":N}`` (URL streams included),
  ``SET_PROPERTY`` / ``GET_PROPERTY`` ``combined``; errors as
  ``{"error":{"code","msg"},"id"}`` with the documented codes and texts (0 Unknown
  property, 1 expected Boolean, 2 invalid request variants, 3 Invalid JSON) and the
  captured ``{"code":2,"msg":"Invalid request: invalid stream"}`` for a malformed
  stream name (upper case included: stream names are lower case);
- a market per symbol ticking every ``interval``: ``<s>@trade`` (contiguous ``t``),
  ``<s>@aggTrade`` (contiguous ``a``, ``f``/``l`` the trades it aggregates),
  ``<s>@bookTicker`` when the best bid/ask changes (``u`` = the book's update id, so
  it jumps), ``<s>@ticker`` (``24hrTicker``) every ``slow_interval``, ``<s>@depth``
  (every ``slow_interval``) and ``<s>@depth@100ms`` (every ``fast_interval``)
  ``depthUpdate`` with ``U`` = previous ``u`` + 1 and absolute quantities (zero
  removes the level), ``<s>@depth5|10|20[@100ms]`` partial books. Every book change
  takes one update id, so ``GET /api/v3/depth`` (``lastUpdateId`` = the book's id
  now) followed by the documented sync procedure gives the fake's book exactly.
  Numbers are strings with 8 decimals, as in the capture. Other well-formed streams
  of the research's table (``miniTicker``, ``kline_1m``, ``avgPrice``, ...) are
  accepted and listed but carry nothing;
- the server pings every ``ping_interval`` (20 s) and drops a client whose pong is
  late by ``ping_timeout`` (60 s): websockets' keepalive, close 1011; only a pong
  echoing the ping's payload answers it, unsolicited pongs do not;
- more than ``max_messages_per_second`` (5) incoming frames within any one second,
  text, ping and pong frames alike, closes the connection 1008 "Too many requests";
- ``serverShutdown`` (raw, or ``!serverShutdown`` on combined connections) on
  ``await fake.server_shutdown()`` or after ``shutdown_after`` data messages on
  each of the first ``shutdowns`` connections, then close 1001 after
  ``shutdown_grace`` seconds; connections close 1001 after ``lifetime`` (24 h);
- at most ``max_streams`` (1024) streams per connection;
- REST: ``GET /api/v3/depth?symbol=S&limit=N`` (default 100, at most 5000),
  ``{"code":-1121,"msg":"Invalid symbol."}`` with HTTP 400 for an unknown symbol;
  ``GET /api/v3/exchangeInfo`` (minimal: ``symbols`` with status and assets);
  ``/api/v3/ping`` and ``/api/v3/time``.

Faults: ``abort_after`` data messages on each of the first ``aborts`` connections
the TCP connection is dropped (no close frame); ``drop_trades`` (symbol to trade
ids) are trades that happen but whose ``@trade`` is never sent, ``drop_agg_trades``
the same for ``@aggTrade`` ids; ``depth_gap_after``: once in the fake's life, the
``depthUpdate`` after that many on one connection's stream is withheld (recorded in
``depth_gaps``), so the client must resync from REST; ``max_trades`` stops trading
per symbol (the book keeps changing); ``paused`` freezes the market (the periodic
``24hrTicker`` and partial books go on, as on a quiet market).

Recorded: ``paths`` (request path and query per WebSocket connection), ``received``
(decoded frames per connection; the frame over the limit is not among them),
``errors_sent``, ``rest_requests``, ``pings_sent``, ``rate_limited``, ``aborted``,
``shutdowns_sent``, ``depth_gaps``; ``open_connections``, ``last_trade_id(s)``,
``update_id(s)`` and ``book(s)`` read the fake's state.

UNVERIFIED on the real server, chosen here: the rate-limit close (1008 "Too many
requests", from a third party) and its window (a sliding second); an upper-case
stream name ("invalid stream"); the line and column in the serde-style error texts
(computed from the request text here); the close codes
for a missed pong (1011), the lifetime and ``serverShutdown`` (1001); a well-formed
stream with an unknown symbol (``unknown_symbol="silent"``: ``result:null`` and no
data, the research's guess; ``"error"`` answers "invalid stream"); an invalid stream
in the URL (HTTP 400 with the "invalid stream" JSON); ``/ws/a/b`` (refused: only
``/ws/<stream>`` is documented); the "too many streams" error text; the reply ``id``
(``null``) when the request's id is invalid or the JSON unreadable; REST errors other
than -1121 (-1102 missing symbol, -1100 bad limit); a lower-case REST symbol (-1121);
the periods, which default 10x faster than the real 100 ms / 1000 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.typing import DataLike

from .base import FakeFeed

__all__ = ["METHODS", "FakeBinance", "Stream", "parse_stream"]

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_KLINES = "1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M"
_STREAM = re.compile(
    r"([a-z0-9]+)@(trade|aggTrade|bookTicker|ticker|miniTicker|avgPrice|blockTrade"
    rf"|referencePrice|kline_(?:{_KLINES})|depth(?:5|10|20)?(?:@100ms)?)"
)
_ID = re.compile(r"[A-Za-z0-9]{1,36}")
_E8 = 100_000_000  # prices and quantities are integers of 1e-8
_TICK = 1_000_000  # 0.01
BOOK_LEVELS = 25  # a side at the start; changes reach 40 ticks from the centre
QUOTES = ("USDT", "USDC", "FDUSD", "BTC", "ETH", "BNB")


@dataclass(frozen=True)
class Stream:
    """A stream name as the server reads it: ``btcusdt@depth5@100ms`` is
    ``Stream("btcusdt@depth5@100ms", "BTCUSDT", "depth5@100ms")``."""

    name: str
    symbol: str
    suffix: str


def parse_stream(name: object) -> Stream | None:
    """The stream a name asks for, or None when the server calls it invalid."""
    if not isinstance(name, str):
        return None
    match = _STREAM.fullmatch(name)
    if match is None:
        return None
    return Stream(name, match[1].upper(), match[2])


class _Refused(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def _dec(units: int) -> str:
    return f"{units // _E8}.{units % _E8:08d}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Market:
    """One symbol: its book (price: quantity, in 1e-8), trades, 24 h statistics."""

    def __init__(self, symbol: str, index: int, first_trade_id: int, rng: random.Random) -> None:
        self.symbol = symbol
        self.rng = rng
        self.center = 100_000 * (index + 1) * _TICK
        self.update_id = 1_000_000 * (index + 1)
        self.log: list[tuple[int, bool, int, int]] = []  # (update id, bid?, price, qty)
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        for i in range(1, BOOK_LEVELS + 1):
            self.bids[self.center - i * _TICK] = self._qty()
            self.asks[self.center + i * _TICK] = self._qty()
        self.trade_id = first_trade_id * (index + 1)  # the last trade before the fake started
        self.agg_id = self.trade_id // 2
        self.trades = 0
        self.first_id = self.trade_id - 99  # 100 trades in the 24 h window already
        self.last_price, self.last_qty = self.center, self._qty()
        self.high = self.low = self.center
        self.volume = 100 * _E8
        self.quote = self.volume // _E8 * self.center
        self.bbo: tuple[int, int, int, int] | None = None

    def _qty(self) -> int:
        return self.rng.randint(1, 500_000_000)

    def set_level(self, bid: bool, price: int, qty: int) -> None:
        side = self.bids if bid else self.asks
        if qty:
            side[price] = qty
        else:
            side.pop(price, None)
        self.update_id += 1
        self.log.append((self.update_id, bid, price, qty))

    def trade(self) -> tuple[bool, int, list[tuple[int, int]]] | None:
        """A taker order against the best level: (buyer is maker, price, [(id, qty)])."""
        sell = self.rng.random() < 0.5
        side = self.bids if sell else self.asks
        if not side:
            return None
        price = max(side) if sell else min(side)
        left = side[price]
        fills: list[tuple[int, int]] = []
        for _ in range(self.rng.randint(1, 3)):
            qty = min(left, self.rng.randint(1, max(1, side[price] // 2)))
            self.trade_id += 1
            fills.append((self.trade_id, qty))
            left -= qty
            if not left:
                break
        self.set_level(sell, price, left)
        self.trades += len(fills)
        total = sum(q for _, q in fills)
        self.last_price, self.last_qty = price, fills[-1][1]
        self.high, self.low = max(self.high, price), min(self.low, price)
        self.volume += total
        self.quote += total * price // _E8
        return sell, price, fills

    def wander(self) -> None:
        for _ in range(self.rng.randint(1, 3)):
            bid = self.rng.random() < 0.5
            price = self.center + self.rng.randint(1, 40) * _TICK * (-1 if bid else 1)
            qty = 0 if self.rng.random() < 0.25 else self._qty()
            self.set_level(bid, price, qty)

    def levels(self, limit: int) -> tuple[list[list[str]], list[list[str]]]:
        bids = sorted(self.bids, reverse=True)[:limit]
        asks = sorted(self.asks)[:limit]
        return (
            [[_dec(p), _dec(self.bids[p])] for p in bids],
            [[_dec(p), _dec(self.asks[p])] for p in asks],
        )

    def book(self, limit: int) -> dict[str, Any]:
        bids, asks = self.levels(limit)
        return {"lastUpdateId": self.update_id, "bids": bids, "asks": asks}

    def diff(self, since: int, now_ms: int) -> dict[str, Any] | None:
        """The ``depthUpdate`` of every change after update id ``since``."""
        if self.update_id <= since:
            return None
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for uid, bid, price, qty in self.log:
            if uid > since:
                (bids if bid else asks)[price] = qty
        return {
            "e": "depthUpdate",
            "E": now_ms,
            "s": self.symbol,
            "U": since + 1,
            "u": self.update_id,
            "b": [[_dec(p), _dec(bids[p])] for p in sorted(bids, reverse=True)],
            "a": [[_dec(p), _dec(asks[p])] for p in sorted(asks)],
        }

    def forget(self, upto: int) -> None:
        self.log = [entry for entry in self.log if entry[0] > upto]

    def book_ticker(self) -> dict[str, Any] | None:
        if not self.bids or not self.asks:
            return None
        bid, ask = max(self.bids), min(self.asks)
        bbo = (bid, self.bids[bid], ask, self.asks[ask])
        if bbo == self.bbo:
            return None
        self.bbo = bbo
        return {
            "u": self.update_id,
            "s": self.symbol,
            "b": _dec(bid),
            "B": _dec(bbo[1]),
            "a": _dec(ask),
            "A": _dec(bbo[3]),
        }

    def ticker(self, now_ms: int) -> dict[str, Any]:
        bid = max(self.bids, default=0)
        ask = min(self.asks, default=0)
        change = self.last_price - self.center
        return {
            "e": "24hrTicker",
            "E": now_ms,
            "s": self.symbol,
            "p": ("-" if change < 0 else "") + _dec(abs(change)),
            "P": f"{change * 100 / self.center:.2f}",
            "w": _dec(self.quote * _E8 // self.volume),
            "x": _dec(self.center),
            "c": _dec(self.last_price),
            "Q": _dec(self.last_qty),
            "b": _dec(bid),
            "B": _dec(self.bids.get(bid, 0)),
            "a": _dec(ask),
            "A": _dec(self.asks.get(ask, 0)),
            "o": _dec(self.center),
            "h": _dec(self.high),
            "l": _dec(self.low),
            "v": _dec(self.volume),
            "q": _dec(self.quote),
            "O": now_ms - 86_400_000,
            "C": now_ms,
            "F": self.first_id,
            "L": self.trade_id,
            "n": self.trade_id - self.first_id + 1,
        }


_TIME_FIELDS = ("E", "T", "O", "C")


@dataclass(eq=False)
class _Client:
    ws: ServerConnection
    combined: bool
    micro: bool
    abort_at: int | None
    shutdown_at: int | None
    streams: dict[str, Stream] = field(default_factory=dict)
    queue: asyncio.Queue[tuple[bytes, str]] = field(default_factory=asyncio.Queue)
    data_sent: int = 0
    depth_sent: dict[str, int] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def encode(self, stream: str, payload: dict[str, Any]) -> bytes:
        if self.micro:
            payload = {k: v * 1000 if k in _TIME_FIELDS else v for k, v in payload.items()}
        data = orjson.dumps(payload)
        if self.combined:
            data = b'{"stream":' + orjson.dumps(stream) + b',"data":' + data + b"}"
        return data

    def put(self, stream: str, payload: dict[str, Any]) -> None:
        self.queue.put_nowait((self.encode(stream, payload), "data"))

    def reply(self, msg: dict[str, Any]) -> None:
        self.queue.put_nowait((orjson.dumps(msg), "reply"))


class _LimitedConnection(ServerConnection):
    """Counts incoming frames (text, binary, ping, pong) and pings sent, for the fake."""

    fake: FakeBinance

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: deque[float] = deque()
        self.flooded = False

    def process_event(self, event: Any) -> None:
        if self.request is not None and isinstance(event, Frame):
            if self.flooded:
                return
            counted = event.opcode in (Opcode.PING, Opcode.PONG) or (
                event.fin and event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)
            )
            limit = self.fake.max_messages_per_second
            if counted and limit is not None:
                now = self.loop.time()
                self.arrivals.append(now)
                while self.arrivals[0] <= now - 1.0:
                    self.arrivals.popleft()
                if len(self.arrivals) > limit:
                    self.flooded = True
                    self.fake.rate_limited += 1
                    self.fake._spawn(self.close(1008, "Too many requests"))
                    return
        super().process_event(event)

    async def ping(self, data: DataLike | None = None) -> Awaitable[float]:
        waiter = await super().ping(data)
        self.fake.pings_sent += 1
        return waiter


@dataclass
class FakeBinance(FakeFeed):
    symbols: Sequence[str] = ("BTCUSDT", "ETHUSDT", "BNBBTC")
    interval: float = 0.01  # seconds between market ticks
    fast_interval: float = 0.01  # the @100ms streams (real: 0.1 s)
    slow_interval: float = 0.1  # @depth, @depthN, @ticker (real: 1 s)
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 60.0
    lifetime: float = 86_400.0
    max_messages_per_second: int | None = 5
    max_streams: int = 1024
    unknown_symbol: Literal["silent", "error"] = "silent"
    paused: bool = False
    abort_after: int | None = None
    aborts: int = 1
    shutdown_after: int | None = None
    shutdowns: int = 1
    shutdown_grace: float = 0.0
    drop_trades: Mapping[str, Collection[int]] = field(default_factory=dict)
    drop_agg_trades: Mapping[str, Collection[int]] = field(default_factory=dict)
    depth_gap_after: int | None = None
    max_trades: int | None = None
    first_trade_id: int = 10_000
    seed: int = 7
    # what happened, for tests
    connections: int = 0
    aborted: int = 0
    rate_limited: int = 0
    pings_sent: int = 0
    shutdowns_sent: int = 0
    paths: list[str] = field(default_factory=list)  # per connection: path and query
    received: list[list[Any]] = field(default_factory=list)  # per connection, decoded
    errors_sent: list[dict[str, Any]] = field(default_factory=list)
    rest_requests: list[str] = field(default_factory=list)
    depth_gaps: list[tuple[str, int, int]] = field(default_factory=list)  # stream, U, u
    _markets: dict[str, _Market] = field(default_factory=dict)
    _open: set[_Client] = field(default_factory=set)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _cursors: dict[tuple[str, bool], int] = field(default_factory=dict)
    _server: Server | None = None

    # --- addresses and state -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/ws"

    @property
    def rest_url(self) -> str:
        return "http" + self.base_url[2:]

    @property
    def open_connections(self) -> int:
        """WebSocket connections open now."""
        return len(self._open)

    def last_trade_id(self, symbol: str) -> int:
        return self._markets[symbol].trade_id

    def update_id(self, symbol: str) -> int:
        return self._markets[symbol].update_id

    def book(self, symbol: str) -> dict[str, Any]:
        """The whole book now, as ``/api/v3/depth`` would give it."""
        return self._markets[symbol].book(10_000)

    # --- life ----------------------------------------------------------------------------

    async def start(self) -> None:
        rng = random.Random(self.seed)
        self._markets = {
            s: _Market(s, i, self.first_trade_id, rng) for i, s in enumerate(self.symbols)
        }
        for market in self._markets.values():
            market.book_ticker()  # the BBO before the fake started is not news
            for fast in (True, False):
                self._cursors[market.symbol, fast] = market.update_id

        class Connection(_LimitedConnection):  # one class per fake: it knows its fake
            pass

        Connection.fake = self
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            create_connection=Connection,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            compression=None,
        )
        self._spawn(self._every(self.interval, self._tick))
        self._spawn(self._every(self.fast_interval, lambda: self._depth(fast=True)))
        self._spawn(self._every(self.slow_interval, lambda: self._depth(fast=False)))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def server_shutdown(self) -> None:
        """Send ``serverShutdown`` on every open connection, then close each after
        ``shutdown_grace``; returns once the event is queued everywhere."""
        for conn in list(self._open):
            conn.queue.put_nowait((b"", "shutdown"))

    # --- HTTP: REST and the WebSocket paths ----------------------------------------------

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        query = parse_qs(url.query, keep_blank_values=True)
        if url.path.startswith("/api/"):
            self.rest_requests.append(request.path)
            status, body = self._rest(url.path, {k: v[-1] for k, v in query.items()})
            return _json_response(status, body)
        try:
            self._url_streams(request.path)
        except _Refused as refused:
            return _json_response(400, {"code": refused.code, "msg": refused.msg})
        except LookupError:
            return _json_response(404, {"code": -1, "msg": "Not found."})
        return None

    def _url_streams(self, path: str) -> tuple[list[Stream], bool, bool]:
        """(streams, combined, microseconds) of a WebSocket path; LookupError if none."""
        url = urlsplit(path)
        query = parse_qs(url.query, keep_blank_values=True)
        unit = query.get("timeUnit", ["MILLISECOND"])[-1].upper()
        if unit not in ("MILLISECOND", "MICROSECOND"):
            raise _Refused(2, "Invalid request: invalid timeUnit")
        if url.path in ("/ws", "/ws/"):
            names, combined = [], False
        elif url.path.startswith("/ws/"):
            names, combined = [url.path[4:]], False
        elif url.path in ("/stream", "/stream/"):
            raw = query.get("streams", [""])[-1]
            names, combined = ([n for n in raw.split("/") if n] if raw else []), True
        else:
            raise LookupError(url.path)
        return self._check_streams(names), combined, unit == "MICROSECOND"

    def _check_streams(self, names: object) -> list[Stream]:
        if not isinstance(names, list):
            raise _Refused(2, "Invalid request: invalid stream")
        streams = []
        for name in names:
            stream = parse_stream(name)
            if stream is None or (
                self.unknown_symbol == "error" and stream.symbol not in self._markets
            ):
                raise _Refused(2, "Invalid request: invalid stream")
            streams.append(stream)
        if len(streams) > self.max_streams:
            raise _Refused(2, "Invalid request: too many streams")
        return streams

    def _rest(self, path: str, query: Mapping[str, str]) -> tuple[int, Any]:
        if path == "/api/v3/ping":
            return 200, {}
        if path == "/api/v3/time":
            return 200, {"serverTime": _now_ms()}
        if path == "/api/v3/exchangeInfo":
            wanted = list(self._markets)
            if "symbol" in query:
                wanted = [query["symbol"]]
            elif "symbols" in query:
                try:
                    wanted = orjson.loads(query["symbols"])
                except orjson.JSONDecodeError:
                    wanted = [""]
            if any(s not in self._markets for s in wanted):
                return 400, {"code": -1121, "msg": "Invalid symbol."}
            return 200, {
                "timezone": "UTC",
                "serverTime": _now_ms(),
                "rateLimits": [],
                "exchangeFilters": [],
                "symbols": [_symbol_info(s) for s in wanted],
            }
        if path == "/api/v3/depth":
            symbol = query.get("symbol", "")
            if not symbol:
                msg = "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
                return 400, {"code": -1102, "msg": msg}
            limit = query.get("limit", "100")
            if not re.fullmatch(r"[0-9]{1,20}", limit) or int(limit) < 1:
                msg = (
                    "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."
                )
                return 400, {"code": -1100, "msg": msg}
            if symbol not in self._markets:
                return 400, {"code": -1121, "msg": "Invalid symbol."}
            return 200, self._markets[symbol].book(min(int(limit), 5000))
        return 404, {"code": -1, "msg": "Not found."}

    # --- one connection ------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        index = self.connections
        self.connections += 1
        self.paths.append(ws.request.path)
        frames: list[Any] = []
        self.received.append(frames)
        streams, combined, micro = self._url_streams(ws.request.path)
        conn = _Client(
            ws,
            combined,
            micro,
            self.abort_after if index < self.aborts else None,
            self.shutdown_after if index < self.shutdowns else None,
            {s.name: s for s in streams},
        )
        self._open.add(conn)
        conn.tasks += [
            asyncio.create_task(self._write(conn)),
            asyncio.create_task(self._close_later(conn, self.lifetime, "connection lifetime")),
        ]
        try:
            async for raw in ws:
                try:
                    frames.append(orjson.loads(raw))
                except orjson.JSONDecodeError:
                    frames.append(raw)
                self._answer(conn, raw)
        except ConnectionClosed:
            pass
        finally:
            self._open.discard(conn)
            for task in conn.tasks:
                task.cancel()
            await asyncio.gather(*conn.tasks, return_exceptions=True)

    async def _write(self, conn: _Client) -> None:
        """The one writer: messages leave in the order they were made."""
        while True:
            data, kind = await conn.queue.get()
            if kind == "shutdown":
                await self._shutdown(conn)
                continue
            try:
                await conn.ws.send(data, text=True)
            except ConnectionClosed:
                return
            if kind != "data":
                continue
            conn.data_sent += 1
            if conn.abort_at is not None and conn.data_sent >= conn.abort_at:
                self.aborted += 1
                conn.ws.transport.abort()
                return
            if conn.shutdown_at is not None and conn.data_sent >= conn.shutdown_at:
                conn.shutdown_at = None
                await self._shutdown(conn)

    async def _shutdown(self, conn: _Client) -> None:
        self.shutdowns_sent += 1
        event = {"e": "serverShutdown", "E": _now_ms()}
        data = conn.encode("!serverShutdown", event)
        with contextlib.suppress(ConnectionClosed):
            await conn.ws.send(data, text=True)
        conn.tasks.append(
            asyncio.create_task(self._close_later(conn, self.shutdown_grace, "server shutdown"))
        )

    async def _close_later(self, conn: _Client, delay: float, reason: str) -> None:
        await asyncio.sleep(delay)
        await conn.ws.close(1001, reason)

    def _answer(self, conn: _Client, raw: str | bytes) -> None:
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        req_id: Any = None
        try:
            try:
                msg = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise _Refused(
                    3, f"Invalid JSON: expected value at line {exc.lineno} column {exc.colno}"
                ) from None
            if not isinstance(msg, dict):
                raise _Refused(2, f"Invalid request: missing field `method` at {_end(text)}")
            req_id = msg.get("id")
            if not _valid_id(req_id):
                req_id = None
                raise _Refused(2, "Invalid request: request ID must be an unsigned integer")
            method = msg.get("method")
            if "method" not in msg:
                raise _Refused(2, f"Invalid request: missing field `method` at {_end(text)}")
            if method not in METHODS:
                expected = ", ".join(f"`{m}`" for m in METHODS)
                raise _Refused(
                    2,
                    f"Invalid request: unknown variant `{method}`, expected one of {expected}"
                    f" at {_after(text, method)}",
                )
            result = self._method(conn, method, msg.get("params", []))
        except _Refused as refused:
            error = {"error": {"code": refused.code, "msg": refused.msg}, "id": req_id}
            self.errors_sent.append(error)
            conn.reply(error)
            return
        conn.reply({"result": result, "id": req_id})

    def _method(self, conn: _Client, method: str, params: Any) -> Any:
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            streams = self._check_streams(params)
            if method == "UNSUBSCRIBE":
                for stream in streams:
                    conn.streams.pop(stream.name, None)
                return None
            if len({*conn.streams, *(s.name for s in streams)}) > self.max_streams:
                raise _Refused(2, "Invalid request: too many streams")
            for stream in streams:
                conn.streams.setdefault(stream.name, stream)
            return None
        if not isinstance(params, list):
            raise _Refused(2, "Invalid request: invalid params")
        if method == "LIST_SUBSCRIPTIONS":
            if params:
                raise _Refused(2, "Invalid request: too many parameters")
            return list(conn.streams)
        if len(params) > (2 if method == "SET_PROPERTY" else 1):
            raise _Refused(2, "Invalid request: too many parameters")
        if not params or not isinstance(params[0], str):
            raise _Refused(2, "Invalid request: property name must be a string")
        if params[0] != "combined":
            raise _Refused(0, "Unknown property")
        if method == "GET_PROPERTY":
            return conn.combined
        if len(params) < 2 or not isinstance(params[1], bool):
            raise _Refused(1, "Invalid value type: expected Boolean")
        conn.combined = params[1]
        return None

    # --- the market ----------------------------------------------------------------------

    async def _every(self, period: float, step: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(period)
            step()

    def _publish(self, symbol: str, suffix: str, payload: dict[str, Any]) -> None:
        for conn in self._open:
            for stream in conn.streams.values():
                if stream.symbol != symbol or stream.suffix != suffix:
                    continue
                if payload.get("e") == "depthUpdate" and self._withhold(conn, stream, payload):
                    continue
                conn.put(stream.name, payload)

    def _withhold(self, conn: _Client, stream: Stream, payload: dict[str, Any]) -> bool:
        sent = conn.depth_sent[stream.name] = conn.depth_sent.get(stream.name, 0) + 1
        if self.depth_gap_after is None or self.depth_gaps or sent != self.depth_gap_after + 1:
            return False
        self.depth_gaps.append((stream.name, payload["U"], payload["u"]))
        return True

    def _tick(self) -> None:
        if self.paused:
            return
        now = _now_ms()
        for symbol, market in self._markets.items():
            if self.max_trades is None or market.trades < self.max_trades:
                fill = market.trade()
                if fill is not None:
                    self._trades(market, now, *fill)
            market.wander()
            ticker = market.book_ticker()
            if ticker is not None:
                self._publish(symbol, "bookTicker", ticker)

    def _trades(
        self, market: _Market, now: int, sell: bool, price: int, fills: list[tuple[int, int]]
    ) -> None:
        symbol, dropped = market.symbol, self.drop_trades.get(market.symbol, ())
        for trade_id, qty in fills:
            if trade_id not in dropped:
                trade = {
                    "e": "trade",
                    "E": now,
                    "s": symbol,
                    "t": trade_id,
                    "p": _dec(price),
                    "q": _dec(qty),
                    "T": now,
                    "m": sell,
                    "M": True,
                }
                self._publish(symbol, "trade", trade)
        market.agg_id += 1
        if market.agg_id not in self.drop_agg_trades.get(symbol, ()):
            agg = {
                "e": "aggTrade",
                "E": now,
                "s": symbol,
                "a": market.agg_id,
                "p": _dec(price),
                "q": _dec(sum(q for _, q in fills)),
                "f": fills[0][0],
                "l": fills[-1][0],
                "T": now,
                "m": sell,
                "M": True,
            }
            self._publish(symbol, "aggTrade", agg)

    def _depth(self, fast: bool) -> None:
        now = _now_ms()
        tail = "@100ms" if fast else ""
        for symbol, market in self._markets.items():
            diff = market.diff(self._cursors[symbol, fast], now)
            if diff is not None:
                self._cursors[symbol, fast] = market.update_id
                self._publish(symbol, "depth" + tail, diff)
                market.forget(min(self._cursors[symbol, True], self._cursors[symbol, False]))
            for levels in (5, 10, 20):
                self._publish(symbol, f"depth{levels}{tail}", market.book(levels))
            if not fast:
                self._publish(symbol, "ticker", market.ticker(now))


def _valid_id(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _end(text: str) -> str:
    """Where serde stops reading a whole JSON text: its last character."""
    lines = text.rstrip().split("\n")
    return f"line {len(lines)} column {len(lines[-1])}"


def _after(text: str, value: object) -> str:
    """Where serde stops after reading the ``method`` value."""
    token = orjson.dumps(value).decode()
    key = text.find('"method"')
    at = text.find(token, max(key, 0))
    end = at + len(token) if at >= 0 else len(text)
    before = text[:end].split("\n")
    return f"line {len(before)} column {len(before[-1])}"


def _symbol_info(symbol: str) -> dict[str, Any]:
    quote = next((q for q in QUOTES if symbol.endswith(q) and symbol != q), symbol[-4:])
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": symbol[: -len(quote)],
        "quoteAsset": quote,
    }


def _json_response(status: int, body: Any) -> Response:
    data = orjson.dumps(body)
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(data))),
            ("Content-Type", "application/json;charset=UTF-8"),
        ]
    )
    return Response(status, HTTPStatus(status).phrase, headers, data)
