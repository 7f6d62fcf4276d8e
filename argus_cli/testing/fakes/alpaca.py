"""A fake Alpaca Market Data v2 stream (``shared/providers/RESEARCH.md`` §5) on 127.0.0.1.

Real sockets, port 0, JSON text frames::

    async with FakeAlpaca(symbols=("AAPL", "MSFT"), key="k", secret="s") as fake:
        ...  # connect to fake.url, "ws://127.0.0.1:PORT/v2/iex"; fake.test_url is /v2/test

What it emulates (RESEARCH.md §5, "Endpoints", "Connection and auth flow",
"Subscribe, unsubscribe and acknowledgement", "Data messages", "Errors", "Plan
limits", and the fake-server checklist):

- paths ``/v2/iex``, ``/v2/sip``, ``/v2/delayed_sip`` (the ``symbols`` market) and
  ``/v2/test`` (one symbol, ``FAKEPACA``, any hour); any other path is a 404;
- every server frame is a JSON array; control messages one per array, data several
  per array (one frame per market tick);
- on connect ``[{"T":"success","msg":"connected"}]``; auth within ``auth_timeout``
  (10 s) by ``{"action":"auth","key","secret"}`` or by the handshake headers
  ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` (then ``authenticated`` follows
  ``connected`` at once); ``key`` ``access_token`` or ``oauth`` with a secret in
  ``tokens`` is accepted too; → ``[{"T":"success","msg":"authenticated"}]``;
- errors ``[{"T":"error","code":N,"msg":...}]`` with the research's table: 400
  invalid syntax (bad JSON, unknown action, a channel value that is not a list of
  symbols, a symbol of the wrong format), 401 not authenticated (subscribe before
  auth), 402 auth failed then close, 403 already authenticated, 404 auth timeout
  then close, 405 symbol limit exceeded (more than ``symbol_limit`` symbols in
  trades and quotes together; the subscription is rejected and the previous set
  kept; bars do not count), 406 connection limit exceeded then close (more than
  ``max_connections`` authenticated connections per key per endpoint), 409
  insufficient subscription then close (a feed not in ``entitled_feeds``, e.g. sip
  on the free plan);
- ``subscribe`` / ``unsubscribe`` with ``trades``, ``quotes``, ``bars``,
  ``updatedBars``, ``dailyBars``, ``statuses``, ``lulds``, ``corrections``,
  ``cancelErrors``; additive; ``*`` is the wildcard; trades bring ``corrections``
  and ``cancelErrors`` along; each is acked by the full ``subscription`` set (all
  nine lists; on ``/v2/test`` only ``trades``, ``quotes``, ``bars``, as the
  research's test-stream session shows);
- data for trades ``T:"t"`` (``i`` grows by 2 to 40: never contiguous), quotes
  ``T:"q"`` and minute-style bars ``T:"b"`` (with ``n`` and ``vw``); times are
  RFC 3339 with nanoseconds as Go writes them (trailing zeros cut, no fraction when
  zero: ``2021-02-22T15:51:45.3355677Z``, ``2024-07-24T07:56:00Z``); numbers too
  (``136``, not ``136.0``).

The market runs whether anyone listens or not: one tick every ``interval`` seconds
per symbol: a quote, a trade (until ``max_trades``) and, every ``bar_interval``
seconds with trades in it, a bar.

Faults: ``abort_after`` data messages on each of the first ``aborts``
authenticated connections, the TCP connection is dropped (no close frame, the
frame cut where the count is reached); ``paused`` holds the market; ``max_trades``
stops trading per symbol (quotes go on).

UNVERIFIED on the real feed, chosen here: close code 1008 (reason: the error's
msg) after 402, 404, 406 and 409; 406 and 409 sent in answer to a good auth
instead of ``authenticated``; a bad header auth answered by 402 after
``connected``; no keepalive of the fake's own beyond websockets' ping frames;
MessagePack is not spoken (``Content-Type: application/msgpack`` is ignored and a
binary frame is 400); symbols must match ``[A-Z][A-Z0-9.]{0,20}`` or ``*``
(lower case is 400); ``*`` exceeds any finite symbol limit; unknown keys in a
subscribe are ignored; no data for the channels other than trades, quotes, bars;
bars every ``bar_interval`` (1 s, not a minute) stamped with the period's whole
second; exchange codes (``V`` for IEX) and conditions.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .base import FakeFeed

__all__ = ["CHANNELS", "ERRORS", "FEEDS", "TEST_SYMBOL", "FakeAlpaca", "rfc3339_nano"]

FEEDS = ("iex", "sip", "delayed_sip", "test")
TEST_SYMBOL = "FAKEPACA"
CHANNELS = (
    "trades",
    "quotes",
    "bars",
    "updatedBars",
    "dailyBars",
    "statuses",
    "lulds",
    "corrections",
    "cancelErrors",
)
TEST_CHANNELS = ("trades", "quotes", "bars")
WITH_TRADES = ("corrections", "cancelErrors")
ERRORS = {
    400: "invalid syntax",
    401: "not authenticated",
    402: "auth failed",
    403: "already authenticated",
    404: "auth timeout",
    405: "symbol limit exceeded",
    406: "connection limit exceeded",
    407: "slow client",
    409: "insufficient subscription",
    410: "invalid subscribe action for this feed",
    500: "internal error",
}
SYMBOL = re.compile(r"\*|[A-Z][A-Z0-9.]{0,20}")
CLOSE_CODE = 1008


def rfc3339_nano(ns: int) -> str:
    """Epoch nanoseconds as Go's RFC3339Nano: trailing zeros cut, no fraction when zero."""
    seconds, frac = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{frac:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


def _num(value: float) -> float | int:
    """A number as Go's encoder writes a float64: 136, not 136.0."""
    return int(value) if float(value).is_integer() else value


def _cents(cents: int) -> float | int:
    return _num(cents / 100)


class _Stock:
    """One symbol: its quote, trades and the bar being built."""

    def __init__(
        self, symbol: str, index: int, first_trade_id: int, test: bool, rng: random.Random
    ) -> None:
        self.symbol = symbol
        self.rng = rng
        self.venue = ("O", "R") if test else ("V", "V")  # bid and ask exchanges
        self.tape = "A" if test else "C"
        self.bid = 10_000 * (index + 1) + rng.randint(0, 9_999)
        self.ask = self.bid + rng.randint(1, 4)
        self.trade_id = first_trade_id * (index + 1)
        self.trades = 0
        self._bar: list[int] = []  # prices in cents, this period
        self._bar_size = 0
        self._bar_notional = 0
        self._bar_start_ns = time.time_ns()

    def quote(self) -> dict[str, Any]:
        self.bid = max(1, self.bid + self.rng.randint(-2, 2))
        self.ask = self.bid + self.rng.randint(1, 4)
        return {
            "T": "q",
            "S": self.symbol,
            "bx": self.venue[0],
            "bp": _cents(self.bid),
            "bs": self.rng.randint(1, 10),
            "ax": self.venue[1],
            "ap": _cents(self.ask),
            "as": self.rng.randint(1, 10),
            "t": rfc3339_nano(time.time_ns()),
            "c": ["R"],
            "z": self.tape,
        }

    def trade(self) -> dict[str, Any]:
        self.trade_id += self.rng.randint(2, 40)  # ids of one feed, never contiguous
        self.trades += 1
        price = self.ask if self.rng.random() < 0.5 else self.bid
        size = self.rng.randint(1, 300)
        self._bar.append(price)
        self._bar_size += size
        self._bar_notional += price * size
        return {
            "T": "t",
            "i": self.trade_id,
            "S": self.symbol,
            "x": self.venue[1],
            "p": _cents(price),
            "s": size,
            "t": rfc3339_nano(time.time_ns()),
            "c": ["@", "I"] if size < 100 else ["@"],
            "z": self.tape,
        }

    def bar(self, every: float) -> dict[str, Any] | None:
        now = time.time_ns()
        if now - self._bar_start_ns < every * 1e9:
            return None
        start, self._bar_start_ns = self._bar_start_ns, now
        prices, size, notional = self._bar, self._bar_size, self._bar_notional
        self._bar, self._bar_size, self._bar_notional = [], 0, 0
        if not prices:
            return None
        return {
            "T": "b",
            "S": self.symbol,
            "o": _cents(prices[0]),
            "h": _cents(max(prices)),
            "l": _cents(min(prices)),
            "c": _cents(prices[-1]),
            "v": size,
            "t": rfc3339_nano(start // 1_000_000_000 * 1_000_000_000),
            "n": len(prices),
            "vw": _num(round(notional / size / 100, 4)),
        }


@dataclass
class _Close:
    code: int
    reason: str


@dataclass(eq=False)
class _Connection:
    ws: ServerConnection
    feed: str
    abort_at: int | None = None
    authenticated: bool = False
    slot: str | None = None  # the key holding a connection slot
    channels: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in CHANNELS})
    queue: asyncio.Queue[tuple[list[dict[str, Any]], bool] | _Close] = field(
        default_factory=asyncio.Queue
    )
    data_sent: int = 0

    def put(self, msgs: list[dict[str, Any]], data: bool = True) -> None:
        self.queue.put_nowait((msgs, data))

    def wants(self, channel: str, symbol: str) -> bool:
        held = self.channels[channel]
        return symbol in held or "*" in held


class _Refused(Exception):
    def __init__(self, code: int, close: bool = False) -> None:
        self.code = code
        self.close = close
        super().__init__(f"{code} {ERRORS[code]}")


@dataclass
class FakeAlpaca(FakeFeed):
    symbols: Sequence[str] = ("AAPL", "MSFT", "AMD")
    key: str = "fake-key-id"
    secret: str = "fake-secret-key"  # noqa: S105 (a fake's own test credential)
    tokens: Collection[str] = ()  # accepted with key "access_token" or "oauth"
    entitled_feeds: Collection[str] = ("iex", "delayed_sip", "test")
    auth_timeout: float = 10.0
    symbol_limit: int | None = 30
    max_connections: int | None = 1  # per key per endpoint
    interval: float = 0.01  # seconds between market ticks
    bar_interval: float = 1.0
    paused: bool = False
    abort_after: int | None = None
    aborts: int = 1
    max_trades: int | None = None
    first_trade_id: int = 96_921
    seed: int = 7
    # what happened, for tests
    connections: int = 0
    aborted: int = 0
    received: list[list[Any]] = field(default_factory=list)  # per connection, decoded
    errors_sent: list[dict[str, Any]] = field(default_factory=list)
    _markets: dict[str, dict[str, _Stock]] = field(default_factory=dict)  # by feed kind
    _open: set[_Connection] = field(default_factory=set)
    _slots: dict[tuple[str, str], int] = field(default_factory=dict)  # (key, feed): count
    _authenticated: int = 0
    _server: Server | None = None
    _driver: asyncio.Task[None] | None = None

    def url_for(self, feed: str) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}/v2/{feed}"

    @property
    def url(self) -> str:
        return self.url_for("iex")

    @property
    def test_url(self) -> str:
        return self.url_for("test")

    @property
    def open_connections(self) -> int:
        return len(self._open)

    @property
    def requests(self) -> list[Any]:
        """Every client frame, decoded, over all connections in order of connection."""
        return [frame for frames in self.received for frame in frames]

    def last_trade_id(self, symbol: str) -> int:
        market = self._markets["test" if symbol == TEST_SYMBOL else "stocks"]
        return market[symbol].trade_id

    async def start(self) -> None:
        rng = random.Random(self.seed)
        self._markets = {
            "stocks": {
                s: _Stock(s, i, self.first_trade_id, False, rng) for i, s in enumerate(self.symbols)
            },
            "test": {TEST_SYMBOL: _Stock(TEST_SYMBOL, 0, self.first_trade_id, True, rng)},
        }
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=_only_feeds, max_size=None
        )
        self._driver = asyncio.create_task(self._drive(), name="fake-alpaca-market")

    # --- one connection -----------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.connections += 1
        conn = _Connection(ws, ws.request.path.split("?")[0].removeprefix("/v2/"))
        frames: list[Any] = []
        self.received.append(frames)
        self._open.add(conn)
        conn.put([{"T": "success", "msg": "connected"}], data=False)
        header_key = ws.request.headers.get("APCA-API-KEY-ID")
        if header_key is not None:
            header_secret = ws.request.headers.get("APCA-API-SECRET-KEY", "")
            self._auth(conn, {"action": "auth", "key": header_key, "secret": header_secret})
        tasks = [
            asyncio.create_task(self._write(conn)),
            asyncio.create_task(self._deadline(conn)),
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
            if conn.slot is not None:
                self._slots[(conn.slot, conn.feed)] -= 1
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _write(self, conn: _Connection) -> None:
        """The one writer: frames leave in the order they were made."""
        while True:
            item = await conn.queue.get()
            if isinstance(item, _Close):
                await conn.ws.close(item.code, item.reason)
                return
            msgs, data = item
            abort = False
            if data and conn.abort_at is not None:
                left = conn.abort_at - conn.data_sent
                abort = len(msgs) >= left
                msgs = msgs[:left]
            try:
                await conn.ws.send(orjson.dumps(msgs), text=True)
            except ConnectionClosed:
                return
            if data:
                conn.data_sent += len(msgs)
            if abort:
                self.aborted += 1
                conn.ws.transport.abort()
                return

    async def _deadline(self, conn: _Connection) -> None:
        await asyncio.sleep(self.auth_timeout)
        if not conn.authenticated:
            self._refuse(conn, _Refused(404, close=True))

    def _refuse(self, conn: _Connection, refused: _Refused) -> None:
        error = {"T": "error", "code": refused.code, "msg": ERRORS[refused.code]}
        self.errors_sent.append(error)
        conn.put([error], data=False)
        if refused.close:
            conn.queue.put_nowait(_Close(CLOSE_CODE, ERRORS[refused.code]))

    def _answer(self, conn: _Connection, raw: str | bytes) -> None:
        try:
            if isinstance(raw, bytes):
                raise _Refused(400)  # MessagePack is not spoken
            try:
                msg = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise _Refused(400) from None
            action = msg.get("action") if isinstance(msg, dict) else None
            if action == "auth":
                self._auth(conn, msg)
            elif action in ("subscribe", "unsubscribe"):
                if not conn.authenticated:
                    raise _Refused(401)
                self._subscribe(conn, action, msg)
            else:
                raise _Refused(400)
        except _Refused as refused:
            self._refuse(conn, refused)

    def _auth(self, conn: _Connection, msg: dict[str, Any]) -> None:
        try:
            if conn.authenticated:
                raise _Refused(403)
            key, secret = msg.get("key"), msg.get("secret")
            if not isinstance(key, str) or not isinstance(secret, str):
                raise _Refused(400)
            good = (key, secret) == (self.key, self.secret) or (
                key in ("access_token", "oauth") and secret in self.tokens
            )
            if not good:
                raise _Refused(402, close=True)
            if conn.feed not in self.entitled_feeds:
                raise _Refused(409, close=True)
            held = self._slots.get((key, conn.feed), 0)
            if self.max_connections is not None and held >= self.max_connections:
                raise _Refused(406, close=True)
        except _Refused as refused:
            self._refuse(conn, refused)
            return
        self._slots[(key, conn.feed)] = held + 1
        conn.slot, conn.authenticated = key, True
        if self.abort_after is not None and self._authenticated < self.aborts:
            conn.abort_at = self.abort_after
        self._authenticated += 1
        conn.put([{"T": "success", "msg": "authenticated"}], data=False)

    def _subscribe(self, conn: _Connection, action: str, msg: dict[str, Any]) -> None:
        asked: dict[str, list[str]] = {}
        for channel in CHANNELS:
            symbols = msg.get(channel, [])
            if not isinstance(symbols, list) or not all(
                isinstance(s, str) and SYMBOL.fullmatch(s) for s in symbols
            ):
                raise _Refused(400)
            asked[channel] = symbols
        for follower in WITH_TRADES:
            asked[follower] = [*asked[follower], *asked["trades"]]
        held = {c: list(s) for c, s in conn.channels.items()}
        for channel, symbols in asked.items():
            if action == "subscribe":
                held[channel].extend(s for s in dict.fromkeys(symbols) if s not in held[channel])
            else:
                held[channel] = [s for s in held[channel] if s not in symbols]
        if self.symbol_limit is not None:
            counted = {*held["trades"], *held["quotes"]}
            if "*" in counted or len(counted) > self.symbol_limit:
                raise _Refused(405)
        conn.channels = held
        shown = TEST_CHANNELS if conn.feed == "test" else CHANNELS
        conn.put([{"T": "subscription", **{c: held[c] for c in shown}}], data=False)

    # --- the market ---------------------------------------------------------------------

    async def _drive(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.paused:
                self._tick()

    def _tick(self) -> None:
        for kind, market in self._markets.items():
            made: list[tuple[str, str, dict[str, Any]]] = []  # channel, symbol, message
            for symbol, stock in market.items():
                made.append(("quotes", symbol, stock.quote()))
                if self.max_trades is None or stock.trades < self.max_trades:
                    made.append(("trades", symbol, stock.trade()))
                bar = stock.bar(self.bar_interval)
                if bar is not None:
                    made.append(("bars", symbol, bar))
            for conn in self._open:
                if conn.authenticated and (conn.feed == "test") == (kind == "test"):
                    msgs = [m for channel, s, m in made if conn.wants(channel, s)]
                    if msgs:
                        conn.put(msgs)


async def _only_feeds(connection: ServerConnection, request: Request) -> Response | None:
    path = request.path.split("?")[0]
    if not path.startswith("/v2/") or path.removeprefix("/v2/") not in FEEDS:
        return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
    return None
