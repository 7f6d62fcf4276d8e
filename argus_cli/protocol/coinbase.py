"""Coinbase Exchange (``wss://ws-feed.exchange.coinbase.com``) as a ``ProviderSession``.

Wire format: RESEARCH.md §1A; mapping: PROVIDERS.md "Coinbase Exchange". Pure:
frames in, normalized events and actions out; no I/O, no clock.

Subscriptions. Coinbase has no subscription ids: a connection's subscriptions
accumulate, and each ``subscribe`` / ``unsubscribe`` is answered, in order, by
the cumulative ``subscriptions`` list or by an ``error`` "Failed to ...". The
session keeps the frames it asked the client to send in a queue and answers
each request's reply key from the message that answers its frame. Channels:
price ← ``ticker``, volume ← ``matches``, orderbook ← ``level2_batch``, plus
``heartbeat`` (trades missed in quiet periods). An event goes to every argus
subscription holding its product and type, one copy each (``sub``).

Invalid products. One unknown product makes Coinbase ignore the whole
subscribe, with ``error`` "Failed to subscribe" ("X is not a valid product";
older servers: "Invalid product ID provided", naming none). The session sends
the subscribe again without the named product (when none is named, one frame
per product, to find it). Once every frame is answered the request's reply
resolves with the products kept, and each refused product is a ``Refusal``
(``invalid_symbol``, naming it; the subscription stays). With no product left
the reply fails with ``SubscriptionError`` and the ``Refusal`` drops the
subscription. Restored after a reconnect, a subscription leaves out the
products already refused.

Trades. ``last_match`` / ``match`` are volume lines with ``seq`` = ``trade_id``
(contiguous per product); an id at or below the last printed for the product
is never printed again (``last_match`` after a reconnect). A ``heartbeat``
whose ``last_trade_id`` is beyond the last printed trade is a ``gap`` notice
(``reason`` "heartbeat") for each subscription that has seen trades of that
product on this connection; the pipeline reports jumps between trades itself.

Books. ``snapshot`` replaces a product's book, ``l2update`` applies absolute
sizes (0 removes). A line is the whole book, top 10 a side, best first, sent
for every snapshot and after an update that changed those levels; none before
the snapshot. A quote that reaches the other side removes the levels it
crossed (the newer message wins), so a book never crosses.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from ..exceptions import (
    DecodeError,
    EncodeError,
    SubscriptionError,
    UnknownMessageType,
)
from . import values
from .book import Book
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
    fan,
)
from .values import parse_time

__all__ = ["CHANNELS", "FACTS", "CoinbaseSession", "ProviderFacts", "parse_time"]


FACTS: Final = ProviderFacts(
    name="coinbase",
    url="wss://ws-feed.exchange.coinbase.com",
    data_types=DATA_TYPES,
    frequencies=("realtime",),
    filters=False,
    contiguous_trade_ids=True,
    needs_key=False,
    subscribe_within=5.0,
    client_messages_per_second=100.0,
    # A level2 snapshot is the whole book: megabytes for a liquid product
    # (UNVERIFIED exact size), beyond the client's default of 1 MiB.
    max_message_size=16 << 20,
)

CHANNELS: Final[Mapping[str, str]] = {
    "price": "ticker",
    "volume": "matches",
    "orderbook": "level2_batch",
}
HEARTBEAT: Final = "heartbeat"


def _changes(value: Any) -> list[tuple[bool, float, float]]:
    if type(value) is not list:
        raise DecodeError("changes must be a list of [side, price, size]")
    out = []
    for change in value:
        if type(change) is not list or len(change) != 3 or change[0] not in ("buy", "sell"):
            raise DecodeError(f"a change must be [buy|sell, price, size], not {change!r:.60}")
        price = values.price(change[1], "price")
        out.append((change[0] == "buy", price, values.number(change[2], "size")))
    return out


def _names(product: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(product)}(?![\w-])", text) is not None


# --- subscriptions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sub:
    products: tuple[str, ...]
    types: frozenset[str]


@dataclass(slots=True)
class _Job:
    """One subscribe request, until the server has answered every frame sent for it."""

    sub_id: str
    asked: tuple[str, ...]
    channels: tuple[str, ...]
    open: int = 0
    accepted: set[str] = field(default_factory=set)
    refused: dict[str, tuple[str, str]] = field(default_factory=dict)  # product: code, why


@dataclass(frozen=True, slots=True)
class _Sent:
    """A subscribe (``job``) or unsubscribe frame the server has yet to answer."""

    key: ReplyKey
    products: tuple[str, ...] = ()
    job: _Job | None = None


class CoinbaseSession:
    """Speaks the Coinbase Exchange feed. One instance serves every connection of a
    client: books and pending requests live per connection (``opened`` clears
    them), the last printed trade id per product lives on."""

    source = "coinbase"
    timer_interval: float | None = None

    _subs: dict[str, _Sub]
    _holders: dict[tuple[str, str], tuple[str, ...]]  # (product, data type): subs
    _books: dict[str, Book]
    _sent: deque[_Sent]
    _caught_up: set[tuple[str, str]]  # (sub, product) saw a trade on this connection

    def __init__(self) -> None:
        self._last_trade: dict[str, int] = {}
        self._refused: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {}
        self._handlers: dict[str, Callable[[Message, Received], None]] = {
            "ticker": self._ticker,
            "match": self._match,
            "last_match": self._match,
            "snapshot": self._snapshot,
            "l2update": self._l2update,
            "heartbeat": self._heartbeat,
            "subscriptions": self._subscriptions,
            "error": self._error,
        }
        self.opened()

    def opened(self) -> list[Action]:
        self._subs = {}
        self._holders = {}
        self._books = {}
        self._sent = deque()
        self._caught_up = set()
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
        """Subscribe ``symbols`` (Coinbase product ids). ``resume`` is not needed: trade
        ids say what was printed. ``ConfigError`` for what Coinbase cannot do."""
        FACTS.check_request(symbols, data_types, update_frequency, filters)
        asked = tuple(symbols)
        refused = self._refused.get(subscription_id)
        products = asked
        if refused is not None and refused[0] == asked:
            products = tuple(p for p in asked if p not in refused[1]) or asked
        else:
            self._refused.pop(subscription_id, None)
        types = frozenset(data_types)
        sub = self._subs[subscription_id] = _Sub(products, types)
        self._index()
        job = _Job(subscription_id, asked, _channels(sub))
        return Request([self._send(job, products)], ("subscribed", subscription_id))

    def unsubscribe(self, subscription_id: str) -> Request:
        """Stop what no other subscription holds (Coinbase subscriptions are shared)."""
        sub = self._drop(subscription_id)
        self._refused.pop(subscription_id, None)
        if sub is None:
            return Request([])
        held = {c: [p for p in sub.products if not self._held(p, c)] for c in _channels(sub)}
        channels = [{"name": c, "product_ids": ps} for c, ps in held.items() if ps]
        if not channels:
            return Request([])
        key = ("unsubscribed", subscription_id)
        self._sent.append(_Sent(key))
        frame = orjson.dumps({"type": "unsubscribe", "channels": channels})
        return Request([Send(frame)], key)

    def list_symbols(self) -> Request:
        raise EncodeError("coinbase lists its products over REST (GET /products), not the feed")

    def ping(self, nonce: int) -> Request | None:
        return None  # no application ping: the client times a WebSocket ping

    def handshake(self, api_key: str | None) -> Handshake:
        return Handshake()  # a public feed: no key is ever sent

    def fetched(self, answer: Fetched, now: float) -> Received:
        return Received([])  # never fetches

    def on_timer(self, now: float) -> list[Action]:
        return []

    def _send(self, job: _Job, products: tuple[str, ...]) -> Send:
        self._sent.append(_Sent(("subscribed", job.sub_id), products, job))
        job.open += 1
        frame = {"type": "subscribe", "product_ids": list(products), "channels": list(job.channels)}
        return Send(orjson.dumps(frame))

    def _index(self) -> None:
        holders: dict[tuple[str, str], list[str]] = {}
        for sub_id, sub in self._subs.items():
            for product in sub.products:
                for data_type in sub.types:
                    holders.setdefault((product, data_type), []).append(sub_id)
        self._holders = {key: tuple(subs) for key, subs in holders.items()}
        for product in [p for p in self._books if (p, "orderbook") not in self._holders]:
            del self._books[product]

    def _held(self, product: str, channel: str) -> bool:
        return any(product in s.products and channel in _channels(s) for s in self._subs.values())

    def _drop(self, sub_id: str) -> _Sub | None:
        sub = self._subs.pop(sub_id, None)
        if sub is not None:
            self._index()
            self._caught_up = {k for k in self._caught_up if k[0] != sub_id}
        return sub

    # --- frames -----------------------------------------------------------------------

    def receive(self, frame: str | bytes, now: float) -> Received:
        received = Received([])
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            received.add_errors([DecodeError(f"coinbase sent a frame that is not JSON: {exc}")])
            return received
        kind = msg.get("type") if type(msg) is dict else None
        handler = self._handlers.get(kind) if type(kind) is str else None
        if handler is None:
            if type(kind) is str:
                error: DecodeError = UnknownMessageType(f"coinbase message type {kind!r:.40}")
            else:
                error = DecodeError("coinbase sent a message without a string type")
            received.add_errors([error])
            return received
        try:
            handler(msg, received)
        except DecodeError as exc:
            received.events.clear()
            product = msg.get("product_id")
            where = f" for {product!r:.40}" if type(product) is str else ""
            received.add_errors([DecodeError(f"coinbase {kind}{where}: {exc}")])
        return received

    def _ticker(self, msg: Message, out: Received) -> None:
        product = _product(msg)
        event: Message = {
            "type": "price",
            "symbol": product,
            "price": values.price(msg.get("price"), "price"),
        }
        for name, key in (("best_bid", "bid"), ("best_ask", "ask")):
            if msg.get(name) is not None:
                quote = values.number(msg[name], name)
                if quote:  # 0: no quote on that side
                    event[key] = quote
        if msg.get("time") is not None:
            event["timestamp"] = parse_time(msg["time"])
        subs = self._holders.get((product, "price"))
        if subs:
            fan(event, subs, out)

    def _match(self, msg: Message, out: Received) -> None:
        product = _product(msg)
        trade_id = values.trade_id(msg.get("trade_id"), "trade_id")
        event: Message = {
            "type": "volume",
            "symbol": product,
            "volume": values.number(msg.get("size"), "size"),
        }
        if msg.get("time") is not None:
            event["timestamp"] = parse_time(msg["time"])
        event["seq"] = trade_id
        subs = self._holders.get((product, "volume"))
        if not subs:
            return
        if len(subs) > 1 or (subs[0], product) not in self._caught_up:
            self._caught_up.update((sub_id, product) for sub_id in subs)
        last = self._last_trade.get(product)
        if last is not None and trade_id <= last:
            return  # printed already: never twice
        self._last_trade[product] = trade_id
        fan(event, subs, out)

    def _heartbeat(self, msg: Message, out: Received) -> None:
        product = _product(msg)
        newest = values.trade_id(msg.get("last_trade_id"), "last_trade_id", low=0)
        last = self._last_trade.get(product)
        if last is None or newest <= last:
            return
        subs = self._holders.get((product, "volume"), ())
        behind = [s for s in subs if (s, product) in self._caught_up]
        if not behind:
            return
        self._last_trade[product] = newest
        for sub_id in behind:
            out.events.append(
                {
                    "type": "gap",
                    "sub": sub_id,
                    "symbol": product,
                    "from_seq": last + 1,
                    "to_seq": newest,
                    "reason": "heartbeat",
                    "data_type": "volume",
                }
            )

    def _snapshot(self, msg: Message, out: Received) -> None:
        product = _product(msg)
        book = Book(values.levels(msg.get("bids"), "bids"), values.levels(msg.get("asks"), "asks"))
        timestamp = parse_time(msg["time"]) if msg.get("time") is not None else None
        subs = self._holders.get((product, "orderbook"))
        if subs:
            self._books[product] = book
            self._show(product, book.shown, timestamp, subs, out)

    def _l2update(self, msg: Message, out: Received) -> None:
        product = _product(msg)
        changes = _changes(msg.get("changes"))
        timestamp = parse_time(msg["time"]) if msg.get("time") is not None else None
        book = self._books.get(product)
        subs = self._holders.get((product, "orderbook"))
        if book is None or not subs:
            return  # none before the snapshot
        for buy, price, size in changes:
            book.apply(buy, price, size)
        view = book.view()
        if view != book.shown:
            book.shown = view
            self._show(product, view, timestamp, subs, out)

    def _show(
        self,
        product: str,
        view: tuple[list[list[float]], list[list[float]]],
        timestamp: float | None,
        subs: tuple[str, ...],
        out: Received,
    ) -> None:
        event: Message = {"type": "orderbook", "symbol": product, "bids": view[0], "asks": view[1]}
        if timestamp is not None:
            event["timestamp"] = timestamp
        fan(event, subs, out)

    # --- control ----------------------------------------------------------------------

    def _subscriptions(self, msg: Message, out: Received) -> None:
        if type(msg.get("channels")) is not list:
            raise DecodeError("subscriptions needs a list of channels")
        if not self._sent:
            return  # nothing of ours waits on it
        sent = self._sent.popleft()
        job = sent.job
        if job is None:
            out.add_reply(Reply(sent.key, msg))
            return
        job.accepted.update(sent.products)
        self._answered(job, out)

    def _error(self, msg: Message, out: Received) -> None:
        message, reason = values.text(msg.get("message")), values.text(msg.get("reason"))
        said = f"{message}: {reason}" if reason else message or "error without a message"
        if not (message.lower().startswith("failed to") and self._sent):
            out.add_refusal(Refusal("error", said))
            return
        sent = self._sent.popleft()
        job = sent.job
        if job is None:
            sub_id = sent.key[1]
            text = f"unsubscribe of {sub_id} refused: {said}"
            out.add_refusal(Refusal("error", text, sub_id, awaited_by=sent.key))
            error = SubscriptionError(text, code="error", subscription_id=sub_id)
            out.add_reply(Reply(sent.key, error=error))
            return
        products = sent.products
        alive = job.sub_id in self._subs  # else unsubscribed meanwhile: ask nothing more
        if "product" in said.lower():
            named = [p for p in products if _names(p, said)]
            if named or len(products) == 1:
                for product in named or products:
                    job.refused[product] = ("invalid_symbol", said)
                rest = tuple(p for p in products if p not in named)
                if named and rest and alive:
                    out.add_actions([self._send(job, rest)])  # the rest, without it
            elif alive:  # none named: one frame each finds which
                out.add_actions([self._send(job, (p,)) for p in products])
        else:
            for product in products:
                job.refused[product] = ("subscribe_failed", said)
        self._answered(job, out)

    def _answered(self, job: _Job, out: Received) -> None:
        """One frame of ``job`` was answered; when it was the last, settle the request."""
        job.open -= 1
        if job.open:
            return
        key: ReplyKey = ("subscribed", job.sub_id)
        sub = self._subs.get(job.sub_id)
        kept = tuple(p for p in job.asked if p in job.accepted)
        if sub is None or not job.refused:
            out.add_reply(Reply(key, list(kept)))
            return
        if kept:
            out.add_reply(Reply(key, list(kept)))
            before = self._refused.get(job.sub_id)
            earlier = before[1] if before is not None and before[0] == job.asked else frozenset()
            self._refused[job.sub_id] = (job.asked, earlier | frozenset(job.refused))
            self._subs[job.sub_id] = _Sub(kept, sub.types)
            self._index()
            for product, (code, said) in job.refused.items():
                text = f"{product} refused ({said}); the subscription goes on without it"
                out.add_refusal(Refusal(code, text, job.sub_id))
            return
        codes = {code for code, _ in job.refused.values()}
        code = codes.pop() if len(codes) == 1 else "subscribe_failed"
        why = "; ".join(f"{p}: {said}" for p, (_, said) in job.refused.items())
        text = f"coinbase refused every symbol of subscription {job.sub_id}: {why}"
        out.add_refusal(Refusal(code, text, job.sub_id, awaited_by=key, drops_subscription=True))
        out.add_reply(
            Reply(key, error=SubscriptionError(text, code=code, subscription_id=job.sub_id))
        )
        self._drop(job.sub_id)
        self._refused.pop(job.sub_id, None)


def _channels(sub: _Sub) -> tuple[str, ...]:
    return (*(CHANNELS[t] for t in DATA_TYPES if t in sub.types), HEARTBEAT)


def _product(msg: Message) -> str:
    product = msg.get("product_id")
    if type(product) is not str or not product:
        raise DecodeError("product_id must be a non-empty string")
    return product
