"""Alpaca Market Data v2 (``wss://stream.data.alpaca.markets/v2/iex``) as a ``ProviderSession``.

Wire format: RESEARCH.md §5; mapping: PROVIDERS.md "Alpaca Market Data v2".
Pure: frames in, normalized events and actions out; no I/O, no clock.

Frames. Every server frame is a JSON array of messages, each typed by ``T``; a
bare object is read as an array of one (the docs print single messages so). A
bad message is a decode error of its own: the others of its frame still count.

Connection and key. The server opens with ``success``/``connected``; the
session answers with ``{"action":"auth","key","secret"}``, the key id and
secret given to its constructor: never in a header or the URL (``handshake``
is empty). Until ``success``/``authenticated`` every subscribe and unsubscribe
frame is held, then sent in the order made (before auth Alpaca would answer
401). A missing key id or secret is a ``ConfigError`` when a connection opens.

Subscriptions. Channels: price ← ``quotes`` and ``trades``, volume ← ``trades``.
Alpaca's subscriptions are additive per connection; each subscribe or
unsubscribe is answered, in order, by the full ``subscription`` set or by an
error, so each request's reply key is answered by the message that answers its
frame (an unsubscribe stops only what no other argus subscription holds). A
subscribe resolves with the symbols the ack lists in every channel asked; a
symbol it leaves out is a ``Refusal`` (``invalid_symbol``, naming it) while the
others go on; with none left the reply fails with ``SubscriptionError`` and the
subscription is dropped. ``400 invalid syntax`` (Alpaca's answer to a symbol of
a format it rejects, too) names no symbol: a frame of several symbols is asked
again one symbol a frame, to find it. ``405 symbol limit exceeded`` (the free
plan: 30 symbols over trades and quotes; Alpaca keeps the previous set), ``409
insufficient subscription`` and ``410`` refuse that frame's symbols. A
subscription restored after a reconnect leaves out the symbols already refused.
An event goes to every argus subscription holding its symbol and type, one copy
each (``sub``); data that arrives after an unsubscribe is dropped.

Data. ``q`` → price: bid ← ``bp``, ask ← ``ap`` (0, no quote on that side, is
left out; a quote with neither gives no line), bid_size ← ``bs``, ask_size ←
``as``, timestamp ← ``t``. ``t`` → volume: volume ← ``s``, timestamp ← ``t``, no
``seq`` (``i`` is not contiguous: trades of several exchanges interleave); and,
for subscriptions holding price, a price line: price ← ``p`` (the last trade
price), same timestamp. Bars (``b``, ``d``, ``u``), statuses, LULDs and the
``corrections`` / ``cancelErrors`` Alpaca adds to every trades subscription
give nothing: a printed volume line is never taken back. Times are RFC 3339
with nanoseconds, cut to the microsecond.

Errors (``[{"T":"error","code","msg"}]``). ``402 auth failed``:
``AuthenticationError`` (status 402), never retried (exit 4); the message says
the key id and secret were refused, never shows them. ``409`` in answer to auth
(the plan lacks this feed, e.g. sip on the free plan): ``AuthenticationError``
(status 409) too, as no retry can help. ``406 connection limit exceeded`` (one
connection per key and feed) and ``404 auth timeout`` end the connection and
are retried: Alpaca may count a connection that just dropped for a moment; if
it persists the client gives up after ``max_reconnect_attempts`` (exit 5) with
the limit named. Any other error is a ``Refusal`` naming code and message
(401, 403, 407, 500).

No keepalive is documented (the client times WebSocket pings), no sequence
numbers and no replay: trades missed while reconnecting cannot be told.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from ..exceptions import (
    ArgusConnectionError,
    AuthenticationError,
    ConfigError,
    DecodeError,
    NotOffered,
    SubscriptionError,
    UnknownMessageType,
)
from . import values
from .facts import ProviderFacts
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

__all__ = ["FACTS", "AlpacaSession"]

FACTS: Final = ProviderFacts(
    name="alpaca",
    url="wss://stream.data.alpaca.markets/v2/iex",
    data_types=("price", "volume"),
    frequencies=("realtime",),
    filters=False,
    contiguous_trade_ids=False,
    needs_key=True,
    subscribe_within=10.0,  # auth within 10 s, or 404 auth timeout
    client_messages_per_second=None,  # none documented
    max_message_size=1 << 20,
    needs_secret=True,
    max_symbols=30,  # the free (IEX) plan, trades and quotes together
    description="Alpaca Market Data v2, US stocks (IEX feed): quotes and trades; key id + secret",
)

DATA_TYPES: Final = FACTS.data_types
MISSING_KEY: Final = (
    "alpaca needs a key id and a secret: set ARGUS_API_KEY (key id) and ARGUS_API_SECRET"
)
KEY_REFUSED: Final = (
    "alpaca refused the key id and secret (402 auth failed): check ARGUS_API_KEY (key id) "
    "and ARGUS_API_SECRET"
)
# what each refusal of a subscribe frame is called, by Alpaca's error code
_FRAME_CODES: Final[Mapping[int, str]] = {
    400: "invalid_symbol",
    401: "subscribe_failed",
    405: "symbol_limit",
    409: "insufficient_subscription",
    410: "not_offered",
}
_HINTS: Final[Mapping[int, str]] = {
    405: " (the free IEX plan allows 30 symbols over trades and quotes)",
    406: " (one connection per key and feed: another one is open with this key id)",
    409: " (the plan does not include this feed: the free plan has iex, not sip)",
}
# well-formed messages that give no line (bars, statuses, LULDs, corrections, cancels)
_SILENT: Final = frozenset({"b", "d", "u", "s", "l", "c", "x"})


def _channels(types: frozenset[str]) -> tuple[str, ...]:
    """Alpaca channels for argus data types: price ← quotes + trades, volume ← trades."""
    return ("trades", "quotes") if "price" in types else ("trades",)


@dataclass(frozen=True, slots=True)
class _Sub:
    symbols: tuple[str, ...]
    types: frozenset[str]


@dataclass(slots=True)
class _Job:
    """One subscribe request, until the server has answered every frame sent for it."""

    sub_id: str
    asked: tuple[str, ...]
    channels: tuple[str, ...]
    open: int = 0
    accepted: set[str] = field(default_factory=set)
    refused: dict[str, tuple[str, str]] = field(default_factory=dict)  # symbol: code, why


@dataclass(frozen=True, slots=True)
class _Sent:
    """A subscribe (``job``) or unsubscribe frame the server has yet to answer."""

    key: ReplyKey
    symbols: tuple[str, ...] = ()
    job: _Job | None = None


class AlpacaSession:
    """Speaks Alpaca's stock stream. One instance serves every connection of a client:
    subscriptions, held frames and pending requests live per connection (``opened``
    clears them); the symbols refused per subscription live on."""

    source = "alpaca"
    timer_interval: float | None = None

    _subs: dict[str, _Sub]
    _holders: dict[tuple[str, str], tuple[str, ...]]  # (symbol, data type): subs
    _sent: deque[_Sent]
    _held: list[Action]  # frames made before ``authenticated``
    _authenticated: bool

    def __init__(self, key_id: str | None, secret: str | None) -> None:
        self._key_id = key_id
        self._secret = secret
        self._refused: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {}
        self._handlers: dict[str, Callable[[Message, Received], None]] = {
            "q": self._quote,
            "t": self._trade,
            "success": self._success,
            "subscription": self._subscription,
            "error": self._error,
        }
        self.opened()

    def __repr__(self) -> str:  # never the key id or the secret
        return f"AlpacaSession(key_id={'***' if self._key_id else None})"

    def opened(self) -> list[Action]:
        self._subs = {}
        self._holders = {}
        self._sent = deque()
        self._held = []
        self._authenticated = False
        return []  # auth answers ``connected``

    # --- requests ---------------------------------------------------------------------

    def handshake(self, api_key: str | None) -> Handshake:
        """Nothing in the handshake: the key id and secret travel in the auth message
        (named as ``secrets``: redacted, and never sent in clear text to a remote host)."""
        if not self._key_id or not self._secret:
            raise ConfigError(MISSING_KEY)
        return Handshake(secrets=(self._key_id, self._secret))

    def subscribe(
        self,
        subscription_id: str,
        symbols: Sequence[str],
        data_types: Sequence[str],
        update_frequency: str,
        filters: Mapping[str, float] | None,
        resume: Mapping[str, int] | None,
    ) -> Request:
        """Subscribe ``symbols`` (tickers such as ``AAPL``). ``resume`` is not used:
        Alpaca has no replay. ``NotOffered`` for what Alpaca cannot do."""
        if "orderbook" in data_types:
            raise NotOffered(
                "alpaca has no order books for stocks (quotes are top of book): "
                "--types price,volume"
            )
        FACTS.check_request(symbols, data_types, update_frequency, filters)
        asked = tuple(symbols)
        refused = self._refused.get(subscription_id)
        kept = asked
        if refused is not None and refused[0] == asked:
            kept = tuple(s for s in asked if s not in refused[1]) or asked
        else:
            self._refused.pop(subscription_id, None)
        types = frozenset(data_types)
        self._subs[subscription_id] = _Sub(kept, types)
        self._index()
        job = _Job(subscription_id, asked, _channels(types))
        return Request(self._out(self._send(job, kept)), ("subscribed", subscription_id))

    def unsubscribe(self, subscription_id: str) -> Request:
        """Stop what no other subscription holds (Alpaca's subscriptions are shared)."""
        self._refused.pop(subscription_id, None)
        sub = self._subs.pop(subscription_id, None)
        if sub is None:
            return Request([])
        self._index()
        frame: dict[str, Any] = {"action": "unsubscribe"}
        for channel in _channels(sub.types):
            gone = [s for s in sub.symbols if not self._held_in(s, channel)]
            if gone:
                frame[channel] = gone
        if len(frame) == 1:
            return Request([])
        key = ("unsubscribed", subscription_id)
        self._sent.append(_Sent(key))
        return Request(self._out(Send(orjson.dumps(frame))), key)

    def list_symbols(self) -> Request:
        raise NotOffered("alpaca lists its assets over REST (GET /v2/assets), not the stream")

    def ping(self, nonce: int) -> Request | None:
        return None  # no application ping: the client times a WebSocket ping

    def fetched(self, answer: Fetched, now: float) -> Received:
        return Received([])  # never fetches

    def on_timer(self, now: float) -> list[Action]:
        return []

    def _send(self, job: _Job, symbols: tuple[str, ...]) -> Send:
        self._sent.append(_Sent(("subscribed", job.sub_id), symbols, job))
        job.open += 1
        frame: dict[str, Any] = {"action": "subscribe"}
        for channel in job.channels:
            frame[channel] = list(symbols)
        return Send(orjson.dumps(frame))

    def _out(self, send: Send) -> list[Action]:
        """``send`` now, or once authenticated (held, in order)."""
        if self._authenticated:
            return [send]
        self._held.append(send)
        return []

    def _index(self) -> None:
        holders: dict[tuple[str, str], list[str]] = {}
        for sub_id, sub in self._subs.items():
            for symbol in sub.symbols:
                for data_type in sub.types:
                    holders.setdefault((symbol, data_type), []).append(sub_id)
        self._holders = {key: tuple(subs) for key, subs in holders.items()}

    def _held_in(self, symbol: str, channel: str) -> bool:
        return any(
            symbol in s.symbols and channel in _channels(s.types) for s in self._subs.values()
        )

    def _drop(self, sub_id: str) -> None:
        if self._subs.pop(sub_id, None) is not None:
            self._index()

    # --- frames -----------------------------------------------------------------------

    def receive(self, frame: str | bytes, now: float) -> Received:
        received = Received([])
        try:
            msgs = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            received.add_errors([DecodeError(f"alpaca sent a frame that is not JSON: {exc}")])
            return received
        if type(msgs) is dict:
            msgs = [msgs]
        elif type(msgs) is not list:
            received.add_errors([DecodeError("alpaca sent a frame that is not a JSON array")])
            return received
        handlers = self._handlers
        for msg in msgs:
            kind = msg.get("T") if type(msg) is dict else None
            if type(kind) is not str:
                received.add_errors([DecodeError("alpaca sent a message without a string T")])
                continue
            handler = handlers.get(kind)
            if handler is None:
                if kind not in _SILENT:
                    unknown = UnknownMessageType(f"alpaca message type {kind!r:.40}")
                    received.add_errors([unknown])
                continue
            try:
                handler(msg, received)
            except DecodeError as exc:
                symbol = msg.get("S")
                where = f" for {symbol!r:.40}" if type(symbol) is str else ""
                received.add_errors([DecodeError(f"alpaca {kind}{where}: {exc}")])
        return received

    def _quote(self, msg: Message, out: Received) -> None:
        symbol = _symbol(msg)
        subs = self._holders.get((symbol, "price"))
        if not subs:
            return
        event: Message = {"type": "price", "symbol": symbol}
        for price_key, size_key, side in (("bp", "bs", "bid"), ("ap", "as", "ask")):
            quote = msg.get(price_key)
            if quote is not None and (value := values.number(quote, price_key)):
                event[side] = value  # 0: no quote on that side
                if msg.get(size_key) is not None:
                    event[f"{side}_size"] = values.number(msg[size_key], size_key)
        if len(event) == 2:
            return  # no quote on either side
        if msg.get("t") is not None:
            event["timestamp"] = parse_time(msg["t"])
        fan(event, subs, out)

    def _trade(self, msg: Message, out: Received) -> None:
        symbol = _symbol(msg)
        volume_subs = self._holders.get((symbol, "volume"))
        price_subs = self._holders.get((symbol, "price"))
        if not volume_subs and not price_subs:
            return
        timestamp = parse_time(msg["t"]) if msg.get("t") is not None else None
        # both decoded before either is shown: a bad trade gives no line at all
        size = values.number(msg.get("s"), "s") if volume_subs else 0.0
        last = values.price(msg.get("p"), "p") if price_subs else 0.0
        if volume_subs:
            volume: Message = {"type": "volume", "symbol": symbol, "volume": size}
            if timestamp is not None:
                volume["timestamp"] = timestamp
            fan(volume, volume_subs, out)
        if price_subs:
            price: Message = {"type": "price", "symbol": symbol, "price": last}
            if timestamp is not None:
                price["timestamp"] = timestamp
            fan(price, price_subs, out)

    # --- control ----------------------------------------------------------------------

    def _success(self, msg: Message, out: Received) -> None:
        said = msg.get("msg")
        if said == "connected":
            if not self._key_id or not self._secret:  # handshake() says so before connecting
                out.set_fatal(ConfigError(MISSING_KEY))
                return
            auth = {"action": "auth", "key": self._key_id, "secret": self._secret}
            out.add_actions([Send(orjson.dumps(auth))])
        elif said == "authenticated" and not self._authenticated:
            self._authenticated = True
            held, self._held = self._held, []
            out.add_actions(held)

    def _subscription(self, msg: Message, out: Received) -> None:
        listed: dict[str, list[Any]] = {}
        for channel in ("trades", "quotes"):
            symbols = msg.get(channel, [])
            if type(symbols) is not list:
                raise DecodeError(f"subscription {channel} must be a list of symbols")
            listed[channel] = symbols
        if not self._sent:
            return  # nothing of ours waits on it
        sent = self._sent.popleft()
        job = sent.job
        if job is None:
            out.add_reply(Reply(sent.key))
            return
        wildcard = [c for c in job.channels if "*" in listed[c]]
        for symbol in sent.symbols:
            if all(c in wildcard or symbol in listed[c] for c in job.channels):
                job.accepted.add(symbol)
            else:
                why = "alpaca's subscription ack leaves it out (not a symbol of this feed?)"
                job.refused[symbol] = ("invalid_symbol", why)
        self._answered(job, out)

    def _error(self, msg: Message, out: Received) -> None:
        code = msg.get("code")
        code = code if type(code) is int else 0
        said = f"{code} {values.text(msg.get('msg')) or 'error'}{_HINTS.get(code, '')}"
        if code == 402:
            out.set_fatal(AuthenticationError(KEY_REFUSED, status=402))
            return
        if not self._authenticated and code == 409:
            text = f"alpaca refused this feed for the key id: {said}"
            out.set_fatal(AuthenticationError(text, status=409))
            return
        if code in (404, 406):  # retried: the supervisor says why
            out.set_fatal(ArgusConnectionError(f"alpaca ended the connection: {said}"))
            return
        if not (self._authenticated and self._sent and code in _FRAME_CODES):
            out.add_refusal(Refusal(str(code) if code else "error", f"alpaca: {said}"))
            return
        sent = self._sent.popleft()
        job = sent.job
        if job is None:
            sub_id = sent.key[1]
            text = f"alpaca refused the unsubscribe of {sub_id}: {said}"
            out.add_refusal(Refusal(str(code), text, sub_id, awaited_by=sent.key))
            error = SubscriptionError(text, code=str(code), subscription_id=sub_id)
            out.add_reply(Reply(sent.key, error=error))
            return
        symbols = sent.symbols
        if code == 400 and len(symbols) > 1:
            if job.sub_id in self._subs:  # one frame a symbol finds which
                out.add_actions([self._send(job, (s,)) for s in symbols])
        else:
            for symbol in symbols:
                job.refused[symbol] = (_FRAME_CODES[code], said)
        self._answered(job, out)

    def _answered(self, job: _Job, out: Received) -> None:
        """One frame of ``job`` was answered; when it was the last, settle the request."""
        job.open -= 1
        if job.open:
            return
        key: ReplyKey = ("subscribed", job.sub_id)
        sub = self._subs.get(job.sub_id)
        kept = tuple(s for s in job.asked if s in job.accepted)
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
            for symbol, (code, said) in job.refused.items():
                text = f"{symbol} refused ({said}); the subscription goes on without it"
                out.add_refusal(Refusal(code, text, job.sub_id))
            return
        codes = {code for code, _ in job.refused.values()}
        code = codes.pop() if len(codes) == 1 else "subscribe_failed"
        by_reason: dict[str, list[str]] = {}
        for symbol, (_, said) in job.refused.items():
            by_reason.setdefault(said, []).append(symbol)
        why = "; ".join(f"{', '.join(symbols)}: {said}" for said, symbols in by_reason.items())
        text = f"alpaca refused every symbol of subscription {job.sub_id}: {why}"
        out.add_refusal(Refusal(code, text, job.sub_id, awaited_by=key, drops_subscription=True))
        out.add_reply(
            Reply(key, error=SubscriptionError(text, code=code, subscription_id=job.sub_id))
        )
        self._drop(job.sub_id)
        self._refused.pop(job.sub_id, None)


def _symbol(msg: Message) -> str:
    symbol = msg.get("S")
    if type(symbol) is not str or not symbol:
        raise DecodeError("S (symbol) must be a non-empty string")
    return symbol
