"""A fake Finnhub trades WebSocket (``shared/providers/RESEARCH.md`` §4) on 127.0.0.1.

Real sockets, port 0; the client adds the token to the query, as on
``wss://ws.finnhub.io?token=KEY``::

    async with FakeFinnhub(symbols=("AAPL", "BINANCE:BTCUSDT")) as fake:
        ws = await connect(f"{fake.url}?token={fake.token}")

What it emulates (RESEARCH.md §4 and its fake-server checklist):

- the token is a query parameter; a missing or wrong one is refused at the
  handshake with HTTP 401 (§4 "Endpoint and auth", finnhubio/Finnhub-API#465);
- ``{"type":"subscribe","symbol":S}`` / ``{"type":"unsubscribe","symbol":S}``, one
  symbol per message, never acknowledged; a subscription beyond ``max_symbols``
  is answered ``{"msg":"Subscribing to too many symbols","type":"error"}`` and not
  made;
- a market per symbol, one trade every ``interval`` seconds; each tick's trades of
  a connection's symbols arrive batched in one
  ``{"data":[{"c","p","s","t","v"},...],"type":"trade"}``: ``p`` and ``v`` JSON
  numbers, ``t`` epoch milliseconds, ``c`` a list of string condition codes for
  plain (stock) symbols and ``null`` for ``EXCHANGE:PAIR`` ones; ``OANDA:`` (FX)
  rows are price updates with ``v`` 0. No trade ids: there are none;
- ``{"type":"ping"}`` after ``ping_interval`` seconds with nothing sent (it is sent
  "while no data is flowing"); no reply is needed.

Faults: ``abort_after`` trade messages on each of the first ``aborts``
connections, the TCP connection is dropped (no close frame); ``max_trades`` stops
trading per symbol (pings go on); ``paused`` holds the market until set to False.

Recorded: ``paths`` (path and query of every WebSocket request, refused ones
included), ``refused`` (HTTP status per refused handshake), ``received`` (decoded
frames per connection), ``errors_sent``, ``pings_sent``, ``aborted``;
``open_connections`` counts the connections open now.

UNVERIFIED on the real service, chosen here: the 401 body (``Unauthorized``,
plain text); crypto and FX rows with ``"c": null`` (the research shows rows with
``null`` and rows without ``c``); the condition codes drawn; one batch per tick for
all of a connection's symbols; the path (``/`` only, else 404); the ping period
(``ping_interval``, 1 s of silence here); the symbol cap (``max_symbols`` 250, the
2020 Basic plan figure the research cites); an unknown symbol (silent by default:
no error, no data; ``unknown_symbol_error``, a format string with ``{symbol}``,
sends ``{"msg":...,"type":"error"}`` instead); malformed or unknown client messages
(ignored); "one connection per API key" (``connections_per_key``, unlimited by
default; beyond it the handshake is refused with HTTP 429); no WebSocket ping
frames from the server; close codes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .base import FakeFeed

__all__ = ["TOO_MANY_SYMBOLS", "FakeFinnhub"]

TOO_MANY_SYMBOLS = "Subscribing to too many symbols"
_CONDITIONS = ("1", "8", "12", "24")


class _Market:
    """One symbol's last price, in hundred-thousandths, and its trade count."""

    def __init__(self, symbol: str, index: int, rng: random.Random) -> None:
        self.symbol = symbol
        self.rng = rng
        self.fx = symbol.startswith("OANDA:")
        self.crypto = ":" in symbol and not self.fx
        self.price = 100_000 if self.fx else 10_000_000 * (index + 1)
        self.trades = 0

    def trade(self, now_ms: int) -> dict[str, Any]:
        self.trades += 1
        step = 1 if self.fx else 1_000
        self.price = max(step, self.price + self.rng.randint(-3, 3) * step)
        if self.fx:
            volume: float = 0
        elif self.crypto:
            volume = self.rng.randint(1, 5_000_000) / 1e6
        else:
            volume = self.rng.randint(1, 500)
        conditions = (
            None
            if ":" in self.symbol
            else [c for c in _CONDITIONS if self.rng.random() < 0.5] or ["1"]
        )
        return {
            "c": conditions,
            "p": self.price / 100_000,
            "s": self.symbol,
            "t": now_ms,
            "v": volume,
        }


@dataclass(eq=False)
class _Connection:
    ws: ServerConnection
    token: str
    abort_at: int | None
    symbols: list[str] = field(default_factory=list)
    queue: asyncio.Queue[tuple[bytes, bool]] = field(default_factory=asyncio.Queue)
    data_sent: int = 0
    last_sent: float = 0.0

    def put(self, msg: dict[str, Any], data: bool = True) -> None:
        self.queue.put_nowait((orjson.dumps(msg), data))


@dataclass
class FakeFinnhub(FakeFeed):
    symbols: Sequence[str] = ("AAPL", "MSFT", "TSLA", "BINANCE:BTCUSDT", "OANDA:EUR_USD")
    tokens: Collection[str] = ("test-token",)
    interval: float = 0.01  # seconds between market ticks
    ping_interval: float = 1.0  # seconds of silence before {"type":"ping"}
    max_symbols: int = 250
    connections_per_key: int | None = None
    unknown_symbol_error: str | None = None
    paused: bool = False
    abort_after: int | None = None
    aborts: int = 1
    max_trades: int | None = None
    seed: int = 7
    # what happened, for tests
    connections: int = 0
    aborted: int = 0
    pings_sent: int = 0
    paths: list[str] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    received: list[list[Any]] = field(default_factory=list)  # per connection, decoded
    errors_sent: list[dict[str, Any]] = field(default_factory=list)
    _markets: dict[str, _Market] = field(default_factory=dict)
    _open: set[_Connection] = field(default_factory=set)
    _server: Server | None = None
    _driver: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT``, the fake's ``wss://ws.finnhub.io``: add ``?token=``."""
        assert self._server is not None, "start the fake first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}"

    @property
    def open_connections(self) -> int:
        """WebSocket connections open now."""
        return len(self._open)

    @property
    def token(self) -> str:
        """A token the fake accepts."""
        return next(iter(self.tokens))

    async def start(self) -> None:
        rng = random.Random(self.seed)
        self._markets = {s: _Market(s, i, rng) for i, s in enumerate(self.symbols)}
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            ping_interval=None,
            compression=None,
        )
        self._driver = asyncio.create_task(self._drive(), name="fake-finnhub-market")

    # --- one connection ------------------------------------------------------------------

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        self.paths.append(request.path)
        url = urlsplit(request.path)
        token = parse_qs(url.query).get("token", [""])[-1]
        status: HTTPStatus | None = None
        if url.path not in ("", "/"):
            status = HTTPStatus.NOT_FOUND
        elif token not in self.tokens:
            status = HTTPStatus.UNAUTHORIZED
        elif self.connections_per_key is not None and (
            sum(conn.token == token for conn in self._open) >= self.connections_per_key
        ):
            status = HTTPStatus.TOO_MANY_REQUESTS
        if status is None:
            return None
        self.refused.append(status.value)
        return ws.respond(status, f"{status.phrase}\n")

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        index = self.connections
        self.connections += 1
        aborting = self.abort_after is not None and index < self.aborts
        token = parse_qs(urlsplit(ws.request.path).query).get("token", [""])[-1]
        conn = _Connection(ws, token, self.abort_after if aborting else None)
        conn.last_sent = asyncio.get_running_loop().time()
        frames: list[Any] = []
        self.received.append(frames)
        self._open.add(conn)
        tasks = [asyncio.create_task(self._write(conn)), asyncio.create_task(self._ping(conn))]
        try:
            async for raw in ws:
                try:
                    msg = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    frames.append(raw)
                    continue
                frames.append(msg)
                self._answer(conn, msg)
        except ConnectionClosed:
            pass
        finally:
            self._open.discard(conn)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _write(self, conn: _Connection) -> None:
        """The one writer: messages leave in the order they were made."""
        loop = asyncio.get_running_loop()
        while True:
            data, counts = await conn.queue.get()
            try:
                await conn.ws.send(data, text=True)
            except ConnectionClosed:
                return
            conn.last_sent = loop.time()
            if counts:
                conn.data_sent += 1
                if conn.abort_at is not None and conn.data_sent >= conn.abort_at:
                    self.aborted += 1
                    conn.ws.transport.abort()
                    return

    async def _ping(self, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.0, conn.last_sent + self.ping_interval - loop.time()))
            if loop.time() - conn.last_sent >= self.ping_interval and conn.queue.empty():
                self.pings_sent += 1
                conn.put({"type": "ping"}, data=False)
                conn.last_sent = loop.time()

    def _answer(self, conn: _Connection, msg: Any) -> None:
        if not isinstance(msg, dict) or not isinstance(msg.get("symbol"), str):
            return
        symbol, kind = msg["symbol"], msg.get("type")
        if kind == "unsubscribe":
            if symbol in conn.symbols:
                conn.symbols.remove(symbol)
        elif kind == "subscribe" and symbol not in conn.symbols:
            if len(conn.symbols) >= self.max_symbols:
                self._error(conn, TOO_MANY_SYMBOLS)
                return
            conn.symbols.append(symbol)
            if symbol not in self._markets and self.unknown_symbol_error is not None:
                self._error(conn, self.unknown_symbol_error.format(symbol=symbol))

    def _error(self, conn: _Connection, text: str) -> None:
        error = {"msg": text, "type": "error"}
        self.errors_sent.append(error)
        conn.put(error, data=False)

    # --- the market ----------------------------------------------------------------------

    async def _drive(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self.paused:
                continue
            now_ms = time.time_ns() // 1_000_000
            rows = {
                symbol: market.trade(now_ms)
                for symbol, market in self._markets.items()
                if self.max_trades is None or market.trades < self.max_trades
            }
            for conn in self._open:
                batch = [rows[s] for s in conn.symbols if s in rows]
                if batch:
                    conn.put({"data": batch, "type": "trade"})
