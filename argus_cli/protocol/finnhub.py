"""Finnhub trades (``wss://ws.finnhub.io?token=KEY``) as a ``ProviderSession``.

Wire format: RESEARCH.md §4; mapping: PROVIDERS.md "Finnhub trades". Pure:
frames in, normalized events and actions out; no I/O, no clock.

Token. ``handshake(api_key)`` puts the token in the URL's query (``token``), as
Finnhub wants; the client appends it and redacts it wherever the URL is shown.
A token Finnhub refuses fails the handshake with HTTP 401: the transport's
``AuthenticationError``, never retried (exit 4). No token: ``ConfigError``.

Subscriptions. ``{"type":"subscribe","symbol":S}``, one symbol a message, never
acknowledged: a subscribe needs no reply (its request has no reply key; the
client returns once the frames are sent). Symbols are shared by the argus
subscriptions of a connection: each is subscribed once, and unsubscribed when
no subscription holds it any more. An event goes to every argus subscription
holding its symbol and type, one copy each (``sub``).

Unknown symbols. Finnhub's answer is UNVERIFIED (RESEARCH.md: silence is
likely): the subscription is kept and that symbol simply carries nothing. Should
an ``error`` message name a subscribed symbol, that symbol is refused
(``Refusal`` ``invalid_symbol``, naming it) while the others go on; with none
left the subscription is dropped; restored after a reconnect, the subscription
leaves it out. ``Subscribing to too many symbols`` is a ``symbol_limit`` refusal
(it names no symbol: the plan's cap, UNVERIFIED); any other ``error`` is said as
it came.

Data. Trades only (``price``, ``volume``; ``orderbook`` is ``NotOffered``).
``{"type":"trade","data":[{"p","s","t","v","c"}]}``: each row is one volume line
(volume ← ``v``, timestamp ← ``t`` in milliseconds) and, for subscriptions
holding price, one price line (price ← ``p``, same timestamp). A row with ``v``
0 is a price update, not a trade (FX and some crypto venues send them): a price
line only. No ``seq``: Finnhub has no trade ids, so neither duplicates nor gaps
can be told. A bad row is a decode error of its own; the other rows count.
``c`` (condition codes) is not read. ``{"type":"ping"}`` needs no answer
(clients in the wild ignore it) and gives nothing; the client times WebSocket
pings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import orjson

from ..exceptions import ConfigError, DecodeError, NotOffered, UnknownMessageType
from . import values
from .facts import ProviderFacts
from .session import Action, Fetched, Handshake, Message, Received, Refusal, Request, Send, fan

__all__ = ["FACTS", "FinnhubSession"]

FACTS: Final = ProviderFacts(
    name="finnhub",
    url="wss://ws.finnhub.io",
    data_types=("price", "volume"),
    frequencies=("realtime",),
    filters=False,
    contiguous_trade_ids=False,
    needs_key=True,
    subscribe_within=None,
    client_messages_per_second=None,  # none documented
    max_message_size=1 << 20,
    max_symbols=None,  # a per-plan cap, UNVERIFIED (2020: 250 on Basic)
    description="Finnhub trades: US stocks, crypto (EXCHANGE:PAIR) and FX; needs a token",
)

DATA_TYPES: Final = FACTS.data_types
TOO_MANY: Final = "subscribing to too many symbols"
TRADES_ONLY: Final = "finnhub streams trades only: --types price,volume"


def _names(symbol: str, text: str) -> bool:
    return re.search(rf"(?<![\w:./-]){re.escape(symbol)}(?![\w:./-])", text) is not None


def _millis(value: Any) -> float:
    if type(value) is int and 0 <= value <= 2**53:
        return value / 1000
    if type(value) is float and math.isfinite(value) and value >= 0:
        return value / 1000
    raise DecodeError(f"t must be epoch milliseconds, not {value!r:.40}")


class FinnhubSession:
    """Speaks Finnhub's trades stream. One instance serves every connection of a
    client: the symbols subscribed live per connection (``opened`` clears them),
    the symbols refused per subscription live on."""

    source = "finnhub"
    timer_interval: float | None = None

    _subs: dict[str, tuple[tuple[str, ...], frozenset[str]]]  # id: symbols, data types
    _holders: dict[tuple[str, str], tuple[str, ...]]  # (symbol, data type): subs
    _live: set[str]  # subscribed on this connection

    def __init__(self) -> None:
        self._refused: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {}
        self._asked: dict[str, tuple[str, ...]] = {}  # id: the symbols as asked
        self._handlers: dict[str, Callable[[Message, Received], None]] = {
            "trade": self._trade,
            "ping": self._ping,
            "error": self._error,
        }
        self.opened()

    def opened(self) -> list[Action]:
        self._subs = {}
        self._holders = {}
        self._live = set()
        return []

    # --- requests ---------------------------------------------------------------------

    def handshake(self, api_key: str | None) -> Handshake:
        """The token, as the query parameter ``token``."""
        if not api_key:
            raise ConfigError("finnhub needs an API token: set ARGUS_API_KEY (the token)")
        return Handshake(query={"token": api_key})

    def subscribe(
        self,
        subscription_id: str,
        symbols: Sequence[str],
        data_types: Sequence[str],
        update_frequency: str,
        filters: Mapping[str, float] | None,
        resume: Mapping[str, int] | None,
    ) -> Request:
        """Subscribe ``symbols`` (``AAPL``, ``BINANCE:BTCUSDT``): one frame per symbol
        not yet subscribed on this connection; no reply to wait for."""
        if any(t not in DATA_TYPES for t in data_types):
            raise NotOffered(TRADES_ONLY)
        FACTS.check_request(symbols, data_types, update_frequency, filters)
        asked = tuple(symbols)
        refused = self._refused.get(subscription_id)
        kept = asked
        if refused is not None and refused[0] == asked:
            kept = tuple(s for s in asked if s not in refused[1]) or asked
        else:
            self._refused.pop(subscription_id, None)
        self._asked[subscription_id] = asked
        self._subs[subscription_id] = (kept, frozenset(data_types))
        self._index()
        actions: list[Action] = []
        for symbol in kept:
            if symbol not in self._live:
                self._live.add(symbol)
                actions.append(Send(orjson.dumps({"type": "subscribe", "symbol": symbol})))
        return Request(actions)

    def unsubscribe(self, subscription_id: str) -> Request:
        """Stop the symbols no other subscription holds."""
        self._refused.pop(subscription_id, None)
        self._asked.pop(subscription_id, None)
        sub = self._subs.pop(subscription_id, None)
        if sub is None:
            return Request([])
        self._index()
        held = {s for symbols, _ in self._subs.values() for s in symbols}
        actions: list[Action] = []
        for symbol in sub[0]:
            if symbol not in held and symbol in self._live:
                self._live.discard(symbol)
                actions.append(Send(orjson.dumps({"type": "unsubscribe", "symbol": symbol})))
        return Request(actions)

    def list_symbols(self) -> Request:
        raise NotOffered("finnhub lists symbols over REST (/stock/symbol), not the stream")

    def ping(self, nonce: int) -> Request | None:
        return None  # its pings need no answer: the client times a WebSocket ping

    def fetched(self, answer: Fetched, now: float) -> Received:
        return Received([])  # never fetches

    def on_timer(self, now: float) -> list[Action]:
        return []

    def _index(self) -> None:
        holders: dict[tuple[str, str], list[str]] = {}
        for sub_id, (symbols, types) in self._subs.items():
            for symbol in symbols:
                for data_type in types:
                    holders.setdefault((symbol, data_type), []).append(sub_id)
        self._holders = {key: tuple(subs) for key, subs in holders.items()}

    # --- frames -----------------------------------------------------------------------

    def receive(self, frame: str | bytes, now: float) -> Received:
        received = Received([])
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            received.add_errors([DecodeError(f"finnhub sent a frame that is not JSON: {exc}")])
            return received
        kind = msg.get("type") if type(msg) is dict else None
        handler = self._handlers.get(kind) if type(kind) is str else None
        if handler is None:
            if type(kind) is str:
                error: DecodeError = UnknownMessageType(f"finnhub message type {kind!r:.40}")
            else:
                error = DecodeError("finnhub sent a message without a string type")
            received.add_errors([error])
            return received
        try:
            handler(msg, received)
        except DecodeError as exc:
            received.add_errors([DecodeError(f"finnhub {kind}: {exc}")])
        return received

    def _trade(self, msg: Message, out: Received) -> None:
        rows = msg.get("data")
        if type(rows) is not list:
            raise DecodeError("data must be a list of trades")
        holders = self._holders
        errors: list[DecodeError] = []
        for row in rows:
            symbol = row.get("s") if type(row) is dict else None
            if type(symbol) is not str or not symbol:
                errors.append(DecodeError("finnhub trade: s (symbol) must be a non-empty string"))
                continue
            volume_subs = holders.get((symbol, "volume"))
            price_subs = holders.get((symbol, "price"))
            if not volume_subs and not price_subs:
                continue
            try:
                last = values.price(row.get("p"), "p")
                size = values.number(row.get("v"), "v")
                stamp = row.get("t")
                timestamp = _millis(stamp) if stamp is not None else None
            except DecodeError as exc:
                errors.append(DecodeError(f"finnhub trade for {symbol!r:.40}: {exc}"))
                continue
            if volume_subs and size:  # v 0: a price update, not a trade
                volume: Message = {"type": "volume", "symbol": symbol, "volume": size}
                if timestamp is not None:
                    volume["timestamp"] = timestamp
                fan(volume, volume_subs, out)
            if price_subs:
                price: Message = {"type": "price", "symbol": symbol, "price": last}
                if timestamp is not None:
                    price["timestamp"] = timestamp
                fan(price, price_subs, out)
        out.add_errors(errors)

    def _ping(self, msg: Message, out: Received) -> None:
        return  # no answer needed; nothing to show

    def _error(self, msg: Message, out: Received) -> None:
        said = values.text(msg.get("msg")) or "error without a message"
        if TOO_MANY in said.lower():
            text = f"finnhub: {said} (the plan's symbol cap: the symbols asked last get no data)"
            out.add_refusal(Refusal("symbol_limit", text))
            return
        named = {s for symbols, _ in self._subs.values() for s in symbols if _names(s, said)}
        if not named:
            out.add_refusal(Refusal("error", f"finnhub: {said}"))
            return
        for sub_id, (symbols, types) in list(self._subs.items()):
            gone = [s for s in symbols if s in named]
            if not gone:
                continue
            asked = self._asked.get(sub_id, symbols)
            before = self._refused.get(sub_id)
            earlier = before[1] if before is not None and before[0] == asked else frozenset()
            self._refused[sub_id] = (asked, earlier | frozenset(gone))
            kept = tuple(s for s in symbols if s not in named)
            which = ", ".join(gone)
            if kept:
                self._subs[sub_id] = (kept, types)
                text = f"{which} refused (finnhub: {said}); the subscription goes on without it"
                out.add_refusal(Refusal("invalid_symbol", text, sub_id))
            else:
                del self._subs[sub_id]
                self._refused.pop(sub_id, None)
                self._asked.pop(sub_id, None)
                text = f"finnhub refused every symbol of subscription {sub_id}: {which}: {said}"
                out.add_refusal(Refusal("invalid_symbol", text, sub_id, drops_subscription=True))
        self._index()
