"""A fake Kraken Spot WebSocket v2 feed (``shared/providers/RESEARCH.md`` §3) on 127.0.0.1.

Real sockets, port 0, path ``/v2``::

    async with FakeKraken(symbols=("BTC/USD", "ETH/USD")) as fake:
        ...  # connect to fake.url, "ws://127.0.0.1:PORT/v2"

What it emulates (RESEARCH.md §3, "Requests and acknowledgements", "Data messages",
"Heartbeat, ping, status and idle timeout", "Errors", and the fake-server checklist):

- first frame ``status`` (``api_version`` v2, a ``connection_id`` above 2^63,
  ``system`` online, ``version`` 2.0.4), and again on ``push_status(system)``;
- ``{"method", "params", "req_id"}`` requests; ``subscribe`` / ``unsubscribe`` on
  ``ticker``, ``trade`` and ``book`` get **one ack per symbol** (``req_id`` echoed):
  ``result`` with the fields of the research's samples, or ``success: false`` with
  ``error``; an unknown pair (``XBT/USD`` included) is
  ``{"error": "Currency pair not supported XBT/USD", ..., "symbol": "XBT/USD"}``
  (no ``result``, no times, as the sample); a ``depth`` outside 10/25/100/500/1000
  is one ``"Subscription depth not supported"`` for the whole request;
- ``ticker``: a snapshot on subscribe (``snapshot`` default true), then an update
  after each trade (``event_trigger`` ``trades``, the default) or on each change of
  the best bid/ask (``bbo``);
- ``trade``: the last 50 trades as a snapshot only when ``snapshot: true`` (the
  default is false), then updates; ``trade_id`` contiguous per pair; ``side`` is
  the taker's;
- ``book``: a snapshot of ``depth`` levels a side, then updates that, applied in
  order with ``qty: 0`` deleting and the book truncated to ``depth``, give the
  fake's book; a level pushed below ``depth`` by a better one gets no delete (the
  client truncates), a level that enters from below is sent. Each message carries
  ``checksum``: CRC32 of the top 10 asks (ascending) then the top 10 bids
  (descending), each price then qty written with the instrument's precision, the
  '.' removed and leading zeros stripped. The research says "as they appear on the
  wire"; the doc snapshot's 2439117997 (and the doc update's 2114181697) only come
  out with the precisions (0.566 → "5660", 740.0 → "74000000000"), so precisions it
  is (``book_checksum``). Numbers are JSON numbers, shortest form (``0.566``,
  ``740.0``) as on the real feed; ``instrument(symbol)`` gives the precisions;
- ``{"channel": "heartbeat"}`` every ``heartbeat_interval`` (about 1 s on the real
  feed) in which nothing else was sent, once the connection has subscribed;
- ``ping`` → ``pong`` with ``req_id``, ``time_in``, ``time_out``;
- a connection that sends nothing for ``idle_timeout`` (about a minute on the
  real feed) is closed; any request keeps it alive, protocol pings do not.

The market runs whether anyone listens or not: one tick every ``interval`` seconds
per pair: one or two trades (one taker order, several fills) and one to three book
changes near the top (the book never crosses; trades do not consume it).

Faults: ``abort_after`` data messages (ticker, trade, book) on each of the first
``aborts`` connections, the TCP connection is dropped (no close frame);
``drop_trades`` (symbol to trade ids): trades that happen but are never sent, in
updates or snapshots; ``corrupt_checksum_after``: the book update after that many
(counted over all connections) carries a wrong checksum, once in the fake's life;
``max_trades`` stops trading per pair (the book goes on); ``paused`` holds the
market until set to False.

UNVERIFIED on the real feed, chosen here: close code of the idle close (1000,
"idle timeout"); no ``instrument`` channel (the research does not describe it);
subscribe ack fields other than the samples' (``trade`` unsubscribe: channel and
symbol; ``book`` unsubscribe: channel, depth and symbol); the error texts for a
repeated subscribe (``resubscribe_error``, "Already subscribed"; None re-acks and
re-sends the snapshot), an unsubscribe of nothing ("Subscription Not Found"), an
unknown channel ("Channel not supported"), an unknown method ("Method not found")
and bad JSON or params ("EGeneral:Invalid arguments"); symbols are case-sensitive;
no symbol limit per connection; the instruments' precisions and prices.
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .base import FakeFeed

__all__ = ["DEPTHS", "INSTRUMENTS", "PATH", "FakeKraken", "Instrument", "book_checksum"]

PATH = "/v2"
DEPTHS = (10, 25, 100, 500, 1000)
CHANNELS = ("ticker", "trade", "book")
SNAPSHOT_TRADES = 50
CHECKSUM_LEVELS = 10
TOP = 15  # book changes happen within this many levels of the top


@dataclass(frozen=True)
class Instrument:
    """A pair's precisions (decimals of price and qty) and where its market starts."""

    price_precision: int
    qty_precision: int
    price: float


INSTRUMENTS: Mapping[str, Instrument] = {
    "BTC/USD": Instrument(1, 8, 65000.0),
    "ETH/USD": Instrument(2, 8, 3500.0),
    "MATIC/USD": Instrument(4, 8, 0.5667),  # the docs' book sample
    "ALGO/USD": Instrument(5, 8, 0.1003),  # the docs' ticker sample
}
DEFAULT_INSTRUMENT = Instrument(2, 8, 100.0)


def book_checksum(asks: Iterable[tuple[int, int]], bids: Iterable[tuple[int, int]]) -> int:
    """CRC32 of the top 10 asks (best first) then bids (best first), each ``(price, qty)``
    in integer units of the instrument's precision: the decimal written with that
    precision, '.' removed and leading zeros stripped, is the integer's digits."""
    text = "".join(
        f"{price}{qty}" for side in (asks, bids) for price, qty in list(side)[:CHECKSUM_LEVELS]
    )
    return zlib.crc32(text.encode())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _number(units: int, precision: int) -> float:
    """A JSON number as the feed writes it: the decimal, shortest form (0.566, 740.0)."""
    return units / int(10**precision)


class _Market:
    """One pair: its book (price units to qty units), trades and 24 h ticker."""

    def __init__(
        self,
        symbol: str,
        inst: Instrument,
        index: int,
        first_trade_id: int,
        levels: int,
        rng: random.Random,
    ) -> None:
        self.symbol = symbol
        self.pp, self.qp = inst.price_precision, inst.qty_precision
        self.rng = rng
        self.levels_a_side = levels
        self.center = round(inst.price * 10**self.pp)  # bids <= center < asks
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        price = self.center
        for _ in range(levels):
            price -= rng.randint(1, 2)
            if price <= 0:
                break
            self.bids[price] = self._qty()
        price = self.center
        for _ in range(levels):
            price += rng.randint(1, 2)
            self.asks[price] = self._qty()
        self.trade_id = first_trade_id * (index + 1)  # the trade before the fake started
        self.trades = 0
        self.history: deque[dict[str, Any]] = deque(maxlen=SNAPSHOT_TRADES)
        self.last = self.low = self.high = self.center
        self.volume = 0  # qty units
        self.notional = 0  # price units * qty units
        for _ in range(SNAPSHOT_TRADES):
            self.trade_id -= 1
        for _ in range(SNAPSHOT_TRADES):
            self.trade(_now())
        self.trades = 0

    def _qty(self) -> int:
        return self.rng.randint(10**self.qp // 10_000, 50 * 10**self.qp)

    def best(self, side: dict[int, int], bids: bool, n: int) -> list[tuple[int, int]]:
        prices = sorted(side, reverse=bids)[:n]
        return [(p, side[p]) for p in prices]

    def top(self, depth: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks), best first, ``depth`` a side."""
        return self.best(self.bids, True, depth), self.best(self.asks, False, depth)

    def checksum(self) -> int:
        bids, asks = self.top(CHECKSUM_LEVELS)
        return book_checksum(asks, bids)

    def bbo(self) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        bids, asks = self.top(1)
        return (bids[0] if bids else None), (asks[0] if asks else None)

    def trade(self, time: str) -> dict[str, Any]:
        self.trade_id += 1
        self.trades += 1
        buy = self.rng.random() < 0.5
        bid, ask = self.bbo()
        level = ask if buy else bid
        price = level[0] if level else self.last
        qty = self.rng.randint(10**self.qp // 10_000, 5 * 10**self.qp)
        self.last, self.low, self.high = price, min(self.low, price), max(self.high, price)
        self.volume += qty
        self.notional += price * qty
        row = {
            "symbol": self.symbol,
            "side": "buy" if buy else "sell",
            "price": _number(price, self.pp),
            "qty": _number(qty, self.qp),
            "ord_type": "market" if self.rng.random() < 0.5 else "limit",
            "trade_id": self.trade_id,
            "timestamp": time,
        }
        self.history.append(row)
        return row

    def change(self) -> None:
        for _ in range(self.rng.randint(1, 3)):
            is_bid = self.rng.random() < 0.5
            side = self.bids if is_bid else self.asks
            near = [p for p, _ in self.best(side, is_bid, TOP)]
            roll = self.rng.random()
            if roll < 0.6 and near:
                side[self.rng.choice(near)] = self._qty()
            elif roll < 0.8 and len(near) > 1:
                del side[self.rng.choice(near)]
            else:
                offset = self.rng.randint(0, 20)
                price = self.center - offset if is_bid else self.center + 1 + offset
                if price > 0:
                    side[price] = self._qty()
            self._keep(side, is_bid)

    def _keep(self, side: dict[int, int], is_bid: bool) -> None:
        """The side keeps ``levels`` levels: deep ones come and go as the top changes."""
        while len(side) > self.levels_a_side:
            del side[min(side) if is_bid else max(side)]
        while len(side) < self.levels_a_side:
            deepest = (min(side) if is_bid else max(side)) if side else self.center
            price = deepest - self.rng.randint(1, 2) if is_bid else deepest + self.rng.randint(1, 2)
            if price <= 0:
                return
            side[price] = self._qty()

    def ticker(self, time: str) -> dict[str, Any]:
        bid, ask = self.bbo()
        vwap = self.notional // self.volume if self.volume else self.last
        change = self.last - self.center
        return {
            "symbol": self.symbol,
            "bid": _number(bid[0], self.pp) if bid else 0.0,
            "bid_qty": _number(bid[1], self.qp) if bid else 0.0,
            "ask": _number(ask[0], self.pp) if ask else 0.0,
            "ask_qty": _number(ask[1], self.qp) if ask else 0.0,
            "last": _number(self.last, self.pp),
            "volume": _number(self.volume, self.qp),
            "vwap": _number(vwap, self.pp),
            "low": _number(self.low, self.pp),
            "high": _number(self.high, self.pp),
            "change": _number(change, self.pp),
            "change_pct": round(100 * change / self.center, 2) + 0.0,  # never -0.0
            "timestamp": time,
        }

    def levels(self, levels: Iterable[tuple[int, int]]) -> list[dict[str, float]]:
        return [{"price": _number(p, self.pp), "qty": _number(q, self.qp)} for p, q in levels]


@dataclass
class _BookView:
    """What a subscriber holds: the top ``depth`` levels a side."""

    depth: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)


@dataclass
class _Close:
    code: int
    reason: str


@dataclass(eq=False)
class _Connection:
    ws: ServerConnection
    abort_at: int | None
    ticker: dict[str, str] = field(default_factory=dict)  # symbol: event_trigger
    trade: set[str] = field(default_factory=set)
    book: dict[str, _BookView] = field(default_factory=dict)
    queue: asyncio.Queue[tuple[bytes, bool] | _Close] = field(default_factory=asyncio.Queue)
    data_sent: int = 0
    connection_id: int = 0
    subscribed: bool = False
    last_sent: float = field(default_factory=time.monotonic)
    last_received: float = field(default_factory=time.monotonic)

    def put(self, msg: dict[str, Any], data: bool = True) -> None:
        self.queue.put_nowait((orjson.dumps(msg), data))


class _Refused(Exception):
    pass


@dataclass
class FakeKraken(FakeFeed):
    symbols: Sequence[str] = ("BTC/USD", "ETH/USD")
    instruments: Mapping[str, Instrument] = field(default_factory=lambda: dict(INSTRUMENTS))
    interval: float = 0.01  # seconds between market ticks
    heartbeat_interval: float = 1.0
    idle_timeout: float = 60.0
    book_levels: int = 1000  # levels a side, always (the deepest depth is 1000)
    paused: bool = False
    abort_after: int | None = None
    aborts: int = 1
    drop_trades: Mapping[str, Collection[int]] = field(default_factory=dict)
    corrupt_checksum_after: int | None = None
    max_trades: int | None = None
    resubscribe_error: str | None = "Already subscribed"
    system: str = "online"  # in status; push_status changes it
    first_trade_id: int = 4_665_846
    seed: int = 7
    # what happened, for tests
    connections: int = 0
    aborted: int = 0
    idle_closed: int = 0
    received: list[list[Any]] = field(default_factory=list)  # per connection, decoded
    errors_sent: list[dict[str, Any]] = field(default_factory=list)
    book_updates_sent: int = 0
    corrupted: list[tuple[str, int, int]] = field(default_factory=list)  # symbol, sent, true
    _markets: dict[str, _Market] = field(default_factory=dict)
    _open: set[_Connection] = field(default_factory=set)
    _server: Server | None = None
    _driver: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}{PATH}"

    @property
    def requests(self) -> list[Any]:
        """Every client frame, decoded, over all connections in order of connection."""
        return [frame for frames in self.received for frame in frames]

    def instrument(self, symbol: str) -> Instrument:
        return self.instruments.get(symbol, DEFAULT_INSTRUMENT)

    def last_trade_id(self, symbol: str) -> int:
        return self._markets[symbol].trade_id

    async def start(self) -> None:
        rng = random.Random(self.seed)
        self._markets = {
            s: _Market(s, self.instrument(s), i, self.first_trade_id, self.book_levels, rng)
            for i, s in enumerate(self.symbols)
        }
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=_only_path,
            compression=None,
            max_size=None,
        )
        self._driver = asyncio.create_task(self._drive(), name="fake-kraken-market")

    # --- one connection -----------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        aborting = self.abort_after is not None and index < self.aborts
        conn = _Connection(ws, self.abort_after if aborting else None)
        frames: list[Any] = []
        self.received.append(frames)
        self._open.add(conn)
        conn.connection_id = 2**63 + random.Random(self.seed + index).getrandbits(62)
        conn.put(self._status(conn), data=False)
        tasks = [
            asyncio.create_task(self._write(conn)),
            asyncio.create_task(self._beat(conn)),
            asyncio.create_task(self._idle(conn)),
        ]
        try:
            async for raw in ws:
                conn.last_received = time.monotonic()
                try:
                    frames.append(orjson.loads(raw))
                except orjson.JSONDecodeError:
                    frames.append(raw)
                self._answer(conn, raw, _now())
        except ConnectionClosed:
            pass
        finally:
            self._open.discard(conn)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _write(self, conn: _Connection) -> None:
        """The one writer: messages leave in the order they were made."""
        while True:
            item = await conn.queue.get()
            if isinstance(item, _Close):
                await conn.ws.close(item.code, item.reason)
                return
            payload, counts = item
            try:
                await conn.ws.send(payload, text=True)
            except ConnectionClosed:
                return
            conn.last_sent = time.monotonic()
            if counts:
                conn.data_sent += 1
                if conn.abort_at is not None and conn.data_sent >= conn.abort_at:
                    self.aborted += 1
                    conn.ws.transport.abort()
                    return

    async def _beat(self, conn: _Connection) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            quiet = time.monotonic() - conn.last_sent >= self.heartbeat_interval * 0.9
            if conn.subscribed and quiet and conn.queue.empty():
                conn.put({"channel": "heartbeat"}, data=False)

    async def _idle(self, conn: _Connection) -> None:
        while True:
            left = conn.last_received + self.idle_timeout - time.monotonic()
            if left <= 0:
                self.idle_closed += 1
                conn.queue.put_nowait(_Close(1000, "idle timeout"))
                return
            await asyncio.sleep(left)

    def push_status(self, system: str) -> None:
        """Change ``system`` (online, cancel_only, maintenance, post_only) and push
        ``status`` to every open connection, as the feed does on a change."""
        self.system = system
        for conn in self._open:
            conn.put(self._status(conn), data=False)

    def _status(self, conn: _Connection) -> dict[str, Any]:
        status = {
            "api_version": "v2",
            "connection_id": conn.connection_id,
            "system": self.system,
            "version": "2.0.4",
        }
        return {"channel": "status", "data": [status], "type": "update"}

    def _reply(self, conn: _Connection, msg: dict[str, Any], req_id: Any) -> None:
        if req_id is not None:
            msg["req_id"] = req_id
        if msg.get("success") is False:
            self.errors_sent.append(msg)
        conn.put(msg, data=False)

    def _error(self, conn: _Connection, method: Any, error: str, req_id: Any, time_in: str) -> None:
        msg: dict[str, Any] = {"error": error}
        if method is not None:
            msg["method"] = method
        msg.update(success=False, time_in=time_in, time_out=_now())
        self._reply(conn, msg, req_id)

    def _answer(self, conn: _Connection, raw: str | bytes, time_in: str) -> None:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            msg = None
        if not isinstance(msg, dict):
            self._error(conn, None, "EGeneral:Invalid arguments", None, time_in)
            return
        method, req_id = msg.get("method"), msg.get("req_id")
        if method == "ping":
            pong = {"method": "pong", "req_id": req_id, "time_in": time_in, "time_out": _now()}
            if req_id is None:
                del pong["req_id"]
            conn.put(pong, data=False)
        elif method in ("subscribe", "unsubscribe"):
            try:
                channel, symbols, params = _params(msg.get("params"))
            except _Refused as refused:
                self._error(conn, method, str(refused), req_id, time_in)
                return
            for symbol in symbols:
                if symbol not in self._markets:
                    error = f"Currency pair not supported {symbol}"
                    self._reply(
                        conn,
                        {"error": error, "method": method, "success": False, "symbol": symbol},
                        req_id,
                    )
                elif method == "subscribe":
                    self._subscribe(conn, channel, symbol, params, req_id, time_in)
                else:
                    self._unsubscribe(conn, channel, symbol, req_id, time_in)
        else:
            self._error(conn, method, "Method not found", req_id, time_in)

    def _subscribe(
        self,
        conn: _Connection,
        channel: str,
        symbol: str,
        params: dict[str, Any],
        req_id: Any,
        time_in: str,
    ) -> None:
        held = {"ticker": conn.ticker, "trade": conn.trade, "book": conn.book}[channel]
        if symbol in held and self.resubscribe_error is not None:
            error = {"error": self.resubscribe_error, "method": "subscribe", "success": False}
            self._reply(conn, {**error, "symbol": symbol}, req_id)
            return
        market, now = self._markets[symbol], _now()
        snapshot: bool = params.get("snapshot", channel != "trade")
        result: dict[str, Any] = {"channel": channel}
        if channel == "book":
            result["depth"] = params["depth"]
        result.update(snapshot=snapshot, symbol=symbol)
        ack = {"method": "subscribe", "result": result, "success": True}
        self._reply(conn, {**ack, "time_in": time_in, "time_out": now}, req_id)
        conn.subscribed = True
        if channel == "ticker":
            conn.ticker[symbol] = params.get("event_trigger", "trades")
            if snapshot:
                conn.put({"channel": "ticker", "type": "snapshot", "data": [market.ticker(now)]})
        elif channel == "trade":
            conn.trade.add(symbol)
            dropped = self.drop_trades.get(symbol, ())
            rows = [r for r in market.history if r["trade_id"] not in dropped]
            if snapshot and rows:
                conn.put({"channel": "trade", "type": "snapshot", "data": rows})
        else:
            view = conn.book[symbol] = _BookView(params["depth"])
            bids, asks = market.top(view.depth)
            view.bids, view.asks = dict(bids), dict(asks)
            if snapshot:
                row = {
                    "symbol": symbol,
                    "bids": market.levels(bids),
                    "asks": market.levels(asks),
                    "checksum": market.checksum(),
                    "timestamp": now,
                }
                conn.put({"channel": "book", "type": "snapshot", "data": [row]})

    def _unsubscribe(
        self, conn: _Connection, channel: str, symbol: str, req_id: Any, time_in: str
    ) -> None:
        result: dict[str, Any] = {"channel": channel}
        if channel == "ticker" and symbol in conn.ticker:
            result["event_trigger"] = conn.ticker.pop(symbol)
        elif channel == "trade" and symbol in conn.trade:
            conn.trade.discard(symbol)
        elif channel == "book" and symbol in conn.book:
            result["depth"] = conn.book.pop(symbol).depth
        else:
            error = {"error": "Subscription Not Found", "method": "unsubscribe", "success": False}
            self._reply(conn, {**error, "symbol": symbol}, req_id)
            return
        result["symbol"] = symbol
        ack = {"method": "unsubscribe", "result": result, "success": True}
        self._reply(conn, {**ack, "time_in": time_in, "time_out": _now()}, req_id)

    # --- the market ---------------------------------------------------------------------

    async def _drive(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.paused:
                self._tick()

    def _tick(self) -> None:
        now = _now()
        for symbol, market in self._markets.items():
            rows: list[dict[str, Any]] = []
            for _ in range(self._fills(market)):
                rows.append(market.trade(now))
            dropped = self.drop_trades.get(symbol, ())
            sent = [r for r in rows if r["trade_id"] not in dropped]
            bbo = market.bbo()
            market.change()
            moved = market.bbo() != bbo
            ticker: dict[str, Any] | None = None
            tops: dict[int, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}
            for conn in self._open:
                if symbol in conn.trade and sent:
                    conn.put({"channel": "trade", "type": "update", "data": sent})
                trigger = conn.ticker.get(symbol)
                if (trigger == "bbo" and moved) or (trigger == "trades" and rows):
                    ticker = ticker or market.ticker(now)
                    conn.put({"channel": "ticker", "type": "update", "data": [ticker]})
                view = conn.book.get(symbol)
                if view is not None:
                    if view.depth not in tops:
                        tops[view.depth] = market.top(view.depth)
                    self._book_update(conn, market, view, tops[view.depth], now)

    def _fills(self, market: _Market) -> int:
        """How many trades this tick: one taker order, one or two fills."""
        if self.max_trades is not None and market.trades >= self.max_trades:
            return 0
        fills = market.rng.randint(1, 2)
        if self.max_trades is not None:
            fills = min(fills, self.max_trades - market.trades)
        return fills

    def _book_update(
        self,
        conn: _Connection,
        market: _Market,
        view: _BookView,
        top: tuple[list[tuple[int, int]], list[tuple[int, int]]],
        now: str,
    ) -> None:
        bids = _diff(view.bids, dict(top[0]), market.bids)
        asks = _diff(view.asks, dict(top[1]), market.asks)
        if not bids and not asks:
            return
        view.bids, view.asks = dict(top[0]), dict(top[1])
        checksum = sent = market.checksum()
        if (
            self.corrupt_checksum_after is not None
            and not self.corrupted
            and self.book_updates_sent >= self.corrupt_checksum_after
        ):
            sent = (checksum + 1) & 0xFFFFFFFF
            self.corrupted.append((market.symbol, sent, checksum))
        self.book_updates_sent += 1
        row = {
            "symbol": market.symbol,
            "bids": market.levels(sorted(bids, reverse=True)),
            "asks": market.levels(sorted(asks)),
            "checksum": sent,
            "timestamp": now,
        }
        conn.put({"channel": "book", "type": "update", "data": [row]})


def _diff(
    old: dict[int, int], new: dict[int, int], market: dict[int, int]
) -> list[tuple[int, int]]:
    """Levels that turn ``old`` into ``new`` once the client truncates: deletions of
    levels gone from the market (not of those pushed below the depth), then inserts
    and changes."""
    out = [(p, 0) for p in old if p not in new and p not in market]
    out.extend((p, q) for p, q in new.items() if old.get(p) != q)
    return out


def _params(params: Any) -> tuple[str, list[str], dict[str, Any]]:
    if not isinstance(params, dict):
        raise _Refused("EGeneral:Invalid arguments")
    channel, symbols = params.get("channel"), params.get("symbol")
    if channel not in CHANNELS:
        raise _Refused(f"Channel not supported {channel}")
    if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
        raise _Refused("EGeneral:Invalid arguments")
    if "snapshot" in params and not isinstance(params["snapshot"], bool):
        raise _Refused("EGeneral:Invalid arguments")
    if channel == "book":
        depth = params.get("depth", 10)
        if depth not in DEPTHS or isinstance(depth, bool):
            raise _Refused("Subscription depth not supported")
        params = {**params, "depth": depth}
    if channel == "ticker" and params.get("event_trigger", "trades") not in ("bbo", "trades"):
        raise _Refused("EGeneral:Invalid arguments")
    return channel, list(dict.fromkeys(symbols)), params


async def _only_path(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.split("?")[0] != PATH:
        return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
    return None
