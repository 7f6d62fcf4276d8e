"""A fake Coinbase Exchange feed (``shared/providers/RESEARCH.md`` §1A) on 127.0.0.1.

Real sockets, port 0::

    async with FakeCoinbase(products=("BTC-USD", "ETH-USD")) as fake:
        client = WebSocketClient(ConnectionConfig(url=fake.url), provider=CoinbaseSession())

What it emulates (RESEARCH.md §1A and its fake-server checklist):

- a client that has not subscribed within ``subscribe_within`` seconds is
  disconnected; every subscribe and unsubscribe is answered by the cumulative
  ``subscriptions`` list, or by ``error`` "Failed to subscribe" / "Failed to
  unsubscribe": a subscribe naming a product it does not list is ignored as a
  whole (``invalid_product_reason``, "X is not a valid product" by default;
  the 2017 form "Invalid product ID provided" names none); ``level2``,
  ``level3`` and ``full`` need authentication; "No channels provided"; a
  channel without products;
- product ids at the root apply to every channel, a channel object's
  ``product_ids`` add to them;
- on subscribe, at once: one ``ticker`` per product, ``last_match`` first on
  ``matches``, a ``snapshot`` (the whole book) on ``level2_batch``;
- a market per product, one tick every ``interval`` seconds: a trade
  (``match`` and ``ticker``) with contiguous ``trade_id`` and an ``l2update``
  of absolute sizes (``"0"`` removes); a per-product ``sequence`` that jumps
  (it is shared with channels not served); ``heartbeat`` (``last_trade_id``)
  per subscribed product every ``heartbeat_interval`` (1 s on the real feed).
  The market runs whether anyone listens or not, so trades missed during a
  reconnect are really missed.

Faults: ``abort_after`` data messages on each of the first ``aborts``
connections, the TCP connection is dropped (no close frame); ``drop_trades``
(product to trade ids) are trades that happen but whose ``match`` is never sent,
the loss the docs warn of; ``max_trades`` stops trading (heartbeats go on);
``paused`` holds the market until set to False.

UNVERIFIED on the real feed, chosen here: the close code for a late subscribe
(1008), the error text for an unknown channel or message type.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from .base import FakeFeed

__all__ = ["AUTH_REASON", "ClientRequest", "FakeCoinbase", "Refused", "read_request"]

AUTH_REASON = (
    "level2, level3, and full channels now require authentication. "
    "https://docs.cloud.coinbase.com/exchange/docs/websocket-auth"
)
PRIVATE_CHANNELS = frozenset({"level2", "level3", "full", "user", "balance"})
PUBLIC_CHANNELS = frozenset(
    {"ticker", "ticker_batch", "matches", "level2_batch", "heartbeat", "status"}
)
BOOK_DEPTH = 15  # levels a side at the start; updates reach 20 deep


class Refused(Exception):
    """A request the feed answers with ``error``."""

    def __init__(self, message: str, reason: str) -> None:
        self.message = message
        self.reason = reason
        super().__init__(f"{message}: {reason}")

    def frame(self) -> dict[str, Any]:
        return {"type": "error", "message": self.message, "reason": self.reason}


@dataclass(frozen=True)
class ClientRequest:
    """A subscribe or unsubscribe: channel to product ids (on unsubscribe, none: all)."""

    kind: str
    channels: Mapping[str, tuple[str, ...]]


def read_request(
    raw: str | bytes,
    products: Collection[str],
    invalid_product_reason: str = "{product} is not a valid product",
) -> ClientRequest:
    """What a client frame asks, as the feed reads it; ``Refused`` as the feed refuses."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Refused("Failed to parse", "Malformed JSON") from None
    kind = msg.get("type") if isinstance(msg, dict) else None
    if kind not in ("subscribe", "unsubscribe"):
        raise Refused("Failed to parse", f"Unknown message type {kind!r}")
    verb = f"Failed to {kind}"
    root = _product_ids(msg.get("product_ids", []), verb)
    channels = msg.get("channels")
    if not isinstance(channels, list) or not channels:
        raise Refused(verb, "No channels provided")
    wanted: dict[str, list[str]] = {}
    for channel in channels:
        if isinstance(channel, str):
            name, extra = channel, []
        elif isinstance(channel, dict) and isinstance(channel.get("name"), str):
            name, extra = channel["name"], _product_ids(channel.get("product_ids", []), verb)
        else:
            raise Refused(verb, f"Invalid channel {channel!r:.60}")
        if name in PRIVATE_CHANNELS:
            raise Refused(verb, AUTH_REASON)
        if name not in PUBLIC_CHANNELS:
            raise Refused(verb, f"{name} is not a valid channel")
        held = wanted.setdefault(name, [])
        held.extend(p for p in [*root, *extra] if p not in held)
    if kind == "subscribe":
        for name, ids in wanted.items():
            if not ids and name != "status":
                raise Refused(
                    verb, f"You need to specify at least one product ID for channel {name}"
                )
            for product in ids:
                if product not in products:
                    raise Refused(verb, invalid_product_reason.format(product=product))
    return ClientRequest(kind, {name: tuple(ids) for name, ids in wanted.items()})


def _product_ids(value: Any, verb: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise Refused(verb, "product_ids must be a list of strings")
    return list(value)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _cents(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


class _Market:
    """One product: its last trade, its book (price in cents: size string)."""

    def __init__(self, product: str, index: int, first_trade_id: int, rng: random.Random) -> None:
        self.product = product
        self.rng = rng
        self.center = 100_000 * (index + 1)
        self.trade_id = first_trade_id * (index + 1)  # the trade before the fake started
        self.trades = 0
        self.sequence = 50_000 * (index + 1)
        self.price = self.center
        self.size = self._size()
        self.bids = {self.center - i: self._size() for i in range(1, BOOK_DEPTH + 1)}
        self.asks = {self.center + i: self._size() for i in range(1, BOOK_DEPTH + 1)}

    def _size(self) -> str:
        return f"{self.rng.randint(1, 500_000_000) / 1e8:.8f}"

    def _sequence(self) -> int:
        self.sequence += self.rng.randint(1, 4)  # other channels take numbers too
        return self.sequence

    def trade(self) -> None:
        self.trade_id += 1
        self.trades += 1
        if self.rng.random() < 0.5:
            self.price = min(self.asks, default=self.price)
        else:
            self.price = max(self.bids, default=self.price)
        self.size = self._size()

    def change(self) -> list[list[str]]:
        changes = []
        for _ in range(self.rng.randint(1, 3)):
            buy = self.rng.random() < 0.5
            price = self.center - self.rng.randint(1, 20) * (1 if buy else -1)
            size = "0" if self.rng.random() < 0.25 else self._size()
            side = self.bids if buy else self.asks
            if size == "0":
                side.pop(price, None)
            else:
                side[price] = size
            changes.append(["buy" if buy else "sell", _cents(price), size])
        return changes

    def match(self, kind: str, time: str) -> dict[str, Any]:
        return {
            "type": kind,
            "trade_id": self.trade_id,
            "maker_order_id": "ac928c66-ca53-498f-9c13-a110027a60e8",
            "taker_order_id": "132fb6ae-456b-4654-b4e0-d681ac05cea1",
            "side": "sell" if self.price in self.bids else "buy",
            "size": self.size,
            "price": _cents(self.price),
            "product_id": self.product,
            "sequence": self._sequence(),
            "time": time,
        }

    def ticker(self, time: str) -> dict[str, Any]:
        bid, ask = max(self.bids, default=None), min(self.asks, default=None)
        msg: dict[str, Any] = {
            "type": "ticker",
            "sequence": self._sequence(),
            "product_id": self.product,
            "price": _cents(self.price),
            "open_24h": _cents(self.center),
            "volume_24h": "1234.56789000",
            "low_24h": _cents(self.center - 500),
            "high_24h": _cents(self.center + 500),
            "volume_30d": "98765.43210000",
            "side": "buy",
            "time": time,
            "trade_id": self.trade_id,
            "last_size": self.size,
        }
        if bid is not None:
            msg.update(best_bid=_cents(bid), best_bid_size=self.bids[bid])
        if ask is not None:
            msg.update(best_ask=_cents(ask), best_ask_size=self.asks[ask])
        return msg

    def snapshot(self) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "product_id": self.product,
            "bids": [[_cents(p), self.bids[p]] for p in sorted(self.bids, reverse=True)],
            "asks": [[_cents(p), self.asks[p]] for p in sorted(self.asks)],
        }

    def heartbeat(self, time: str) -> dict[str, Any]:
        return {
            "type": "heartbeat",
            "sequence": self._sequence(),
            "last_trade_id": self.trade_id,
            "product_id": self.product,
            "time": time,
        }


@dataclass(eq=False)
class _Connection:
    ws: ServerConnection
    abort_at: int | None
    channels: dict[str, list[str]] = field(default_factory=dict)
    queue: asyncio.Queue[tuple[bytes, bool]] = field(default_factory=asyncio.Queue)
    data_sent: int = 0
    subscribed: bool = False

    def wants(self, channel: str, product: str) -> bool:
        return product in self.channels.get(channel, ())

    def put(self, msg: dict[str, Any], data: bool = True) -> None:
        self.queue.put_nowait((orjson.dumps(msg), data))


@dataclass
class FakeCoinbase(FakeFeed):
    products: Sequence[str] = ("BTC-USD", "ETH-USD", "SOL-USD")
    interval: float = 0.01  # seconds between market ticks
    heartbeat_interval: float = 0.05
    subscribe_within: float = 5.0
    paused: bool = False
    abort_after: int | None = None
    aborts: int = 1
    drop_trades: Mapping[str, Collection[int]] = field(default_factory=dict)
    max_trades: int | None = None
    invalid_product_reason: str = "{product} is not a valid product"
    first_trade_id: int = 1000
    seed: int = 7
    # what happened, for tests
    connections: int = 0
    aborted: int = 0
    received: list[list[Any]] = field(default_factory=list)  # per connection, decoded
    errors_sent: list[dict[str, Any]] = field(default_factory=list)
    _markets: dict[str, _Market] = field(default_factory=dict)
    _open: set[_Connection] = field(default_factory=set)
    _server: Server | None = None
    _driver: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}"

    def last_trade_id(self, product: str) -> int:
        return self._markets[product].trade_id

    async def start(self) -> None:
        rng = random.Random(self.seed)
        self._markets = {
            p: _Market(p, i, self.first_trade_id, rng) for i, p in enumerate(self.products)
        }
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None, max_size=None)
        self._driver = asyncio.create_task(self._drive(), name="fake-coinbase-market")

    # --- one connection -----------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        aborting = self.abort_after is not None and index < self.aborts
        conn = _Connection(ws, self.abort_after if aborting else None)
        frames: list[Any] = []
        self.received.append(frames)
        self._open.add(conn)
        tasks = [
            asyncio.create_task(self._write(conn)),
            asyncio.create_task(self._beat(conn)),
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
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _write(self, conn: _Connection) -> None:
        """The one writer: messages leave in the order they were made."""
        while True:
            data, counts = await conn.queue.get()
            try:
                await conn.ws.send(data, text=True)
            except ConnectionClosed:
                return
            if counts:
                conn.data_sent += 1
                if conn.abort_at is not None and conn.data_sent >= conn.abort_at:
                    self.aborted += 1
                    conn.ws.transport.abort()
                    return

    async def _beat(self, conn: _Connection) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            time = _now()
            for product in conn.channels.get("heartbeat", ()):
                conn.put(self._markets[product].heartbeat(time), data=False)

    async def _deadline(self, conn: _Connection) -> None:
        await asyncio.sleep(self.subscribe_within)
        if not conn.subscribed:
            await conn.ws.close(1008, "no subscribe within 5 s")

    def _answer(self, conn: _Connection, raw: str | bytes) -> None:
        try:
            request = read_request(raw, self._markets, self.invalid_product_reason)
        except Refused as refused:
            self.errors_sent.append(refused.frame())
            conn.put(refused.frame(), data=False)
            return
        added: list[tuple[str, str]] = []
        for name, ids in request.channels.items():
            held = conn.channels.setdefault(name, [])
            if request.kind == "subscribe":
                added.extend((name, p) for p in ids if p not in held)
                held.extend(p for p in ids if p not in held)
            else:
                held[:] = [p for p in held if ids and p not in ids]
            if not held:
                del conn.channels[name]
        conn.subscribed = conn.subscribed or request.kind == "subscribe"
        listing = [{"name": n, "product_ids": list(ps)} for n, ps in conn.channels.items()]
        conn.put({"type": "subscriptions", "channels": listing}, data=False)
        time = _now()
        for name, product in added:
            market = self._markets[product]
            if name in ("ticker", "ticker_batch"):
                conn.put(market.ticker(time))
            elif name == "matches":
                conn.put(market.match("last_match", time))
            elif name == "level2_batch":
                conn.put(market.snapshot())

    # --- the market ---------------------------------------------------------------------

    async def _drive(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.paused:
                self._tick()

    def _tick(self) -> None:
        time = _now()
        for product, market in self._markets.items():
            if self.max_trades is None or market.trades < self.max_trades:
                market.trade()
                dropped = market.trade_id in self.drop_trades.get(product, ())
                match, ticker = market.match("match", time), market.ticker(time)
                for conn in self._open:
                    if conn.wants("matches", product) and not dropped:
                        conn.put(match)
                    if conn.wants("ticker", product):
                        conn.put(ticker)
            update = {
                "type": "l2update",
                "product_id": product,
                "changes": market.change(),
                "time": time,
            }
            for conn in self._open:
                if conn.wants("level2_batch", product):
                    conn.put(update)
