"""The provider seam: a pure session that speaks one venue's dialect.

A provider session turns what the client wants (subscribe, unsubscribe, list
symbols, ping) into *actions* (frames to send), and every frame the server
sends into normalized *events* plus everything else the client must act on:
replies to its requests, refusals, decode errors, more actions. It performs no
I/O and reads no clock (``now`` is passed in), so each provider is tested from
bytes and sample files alone.

The argus protocol (``protocol.argus.ArgusSession``) is the first provider; a
new venue is a new module beside it implementing ``ProviderSession``. A session
may also offer ``decode_typed(frames)``: a fast lane that turns a read's frames
into typed data events (``protocol.typed``) when they hold nothing else, or
answers None (the argus protocol has one; the venues' adapters do not).

Events are plain dicts shaped as ``argus_cli.events`` describes: ``price``,
``volume``, ``orderbook`` (each with ``sub``, ``symbol``, ``timestamp`` and,
where the venue numbers its events, ``seq``), ``gap`` notices, and control
messages the handlers may also see (their ``type`` is the provider's own). The
pipeline dedupes and stamps the data events; it needs nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..exceptions import ArgusError, DecodeError

__all__ = [
    "Action",
    "Fetch",
    "Fetched",
    "Handshake",
    "Message",
    "ProviderSession",
    "Received",
    "Reconnect",
    "Refusal",
    "Reply",
    "ReplyKey",
    "Request",
    "Send",
    "SessionInfo",
    "fan",
]

Message = dict[str, Any]
ReplyKey = tuple[str, Any]  # opaque to the client: made and matched by the session


@dataclass(frozen=True, slots=True)
class Handshake:
    """Where a venue's credentials travel: as headers, as query parameters of the
    URL (Finnhub's token), in a message after connecting (``secrets``: Alpaca's
    auth), or nowhere (a public feed). The client refuses to send any of them
    over clear text to a remote host, and redacts them all."""

    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    # Credentials the session sends in a message once connected (Alpaca's auth):
    # the client redacts them and applies the same clear-text rule.
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``data`` to the server as one text frame."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Close this connection and open a new one soon (not counted as a failure)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Fetch:
    """GET ``url`` (HTTP or HTTPS, e.g. a REST book snapshot) beside the stream.

    The client performs it without pausing the stream and hands the answer back
    through ``ProviderSession.fetched`` with the same ``tag`` (any hashable value
    the session chose). A Fetch still running when the connection ends is
    cancelled and never answered: the session starts afresh in ``opened()``.
    """

    url: str
    tag: Any


@dataclass(frozen=True, slots=True)
class Fetched:
    """The answer to a ``Fetch``: the HTTP status and body, or why there is none."""

    tag: Any
    status: int  # 0 when no HTTP answer came (``error`` says why)
    body: bytes = b""
    error: str | None = None


Action = Send | Reconnect | Fetch


@dataclass(frozen=True, slots=True)
class Request:
    """What to do for a client request, and the reply that will answer it (if any)."""

    actions: Sequence[Action]
    reply: ReplyKey | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to the request waiting on ``key``: a value, or an error to raise.

    The value's shape is part of the interface: ``list_symbols`` answers with a
    list of symbol strings; the other requests' values are not read."""

    key: ReplyKey
    value: Any = None
    error: ArgusError | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """The server refused something (an error message).

    ``awaited_by`` is the reply key a request would be waiting on; when nobody
    waits and ``drops_subscription`` is true, the subscription (restored after a
    reconnect, say) is gone and the client forgets it, loudly.
    """

    code: str
    message: str
    subscription_id: str | None = None
    awaited_by: ReplyKey | None = None
    drops_subscription: bool = False


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What the server said about this connection when it opened."""

    connection_id: str | None = None
    epoch: str | None = None


class Received:
    """Everything one frame gave. The common case fills ``events`` only.

    ``has_control`` says whether anything beyond events is set (replies,
    refusals, errors, actions, session info or a fatal error); the client looks no further
    when it is false. Made once per frame, so kept to one attribute write on
    the common path (the other fields are class-level defaults)."""

    replies: Sequence[Reply] = ()
    refusals: Sequence[Refusal] = ()
    errors: Sequence[DecodeError] = ()
    actions: Sequence[Action] = ()
    info: SessionInfo | None = None
    fatal: ArgusError | None = None
    has_control = False

    def __init__(self, events: list[Message]) -> None:
        self.events = events

    def add_reply(self, reply: Reply) -> None:
        self.replies = [*self.replies, reply]
        self.has_control = True

    def add_refusal(self, refusal: Refusal) -> None:
        self.refusals = [*self.refusals, refusal]
        self.has_control = True

    def add_errors(self, errors: Sequence[DecodeError]) -> None:
        if errors:
            self.errors = [*self.errors, *errors]
            self.has_control = True

    def add_actions(self, actions: Sequence[Action]) -> None:
        if actions:
            self.actions = [*self.actions, *actions]
            self.has_control = True

    def set_fatal(self, error: ArgusError) -> None:
        """End this connection; the client's ``RetryPolicy`` then judges ``error`` as
        it would a failed open (an ``AuthenticationError`` stops the client: e.g.
        a key refused after the handshake, by a message)."""
        self.fatal = error
        self.has_control = True

    def set_info(self, info: SessionInfo) -> None:
        self.info = info
        self.has_control = True


class ProviderSession(Protocol):
    """One connection's worth of a venue's protocol. Pure: no I/O, no clock."""

    @property
    def source(self) -> str:
        """The provider's name, stamped on every event as ``source``."""

    def handshake(self, api_key: str | None) -> Handshake:
        """The credentials the opening handshake carries (``api_key`` from the config)."""

    @property
    def timer_interval(self) -> float | None:
        """How often ``on_timer`` wants calling (seconds), or None for never."""

    def opened(self) -> list[Action]:
        """A new connection is up (before any subscription is restored)."""

    def subscribe(
        self,
        subscription_id: str,
        symbols: Sequence[str],
        data_types: Sequence[str],
        update_frequency: str,
        filters: Mapping[str, float] | None,
        resume: Mapping[str, int] | None,
    ) -> Request: ...

    def unsubscribe(self, subscription_id: str) -> Request: ...

    def list_symbols(self) -> Request: ...

    def ping(self, nonce: int) -> Request | None:
        """An application-level ping, or None when the venue has none (the client
        then times a WebSocket ping instead)."""

    def receive(self, frame: str | bytes, now: float) -> Received: ...

    def fetched(self, answer: Fetched, now: float) -> Received:
        """The answer to a ``Fetch`` this connection's session asked for."""

    def on_timer(self, now: float) -> list[Action]: ...


def fan(event: Message, subs: Sequence[str], out: Received) -> None:
    """Give ``event`` to every subscription in ``subs``: one copy each, ``sub`` set
    (book levels copied too: a handler may change its own, and an adapter may keep
    the lists it built). A lone holder of a non-book event gets the event itself."""
    if len(subs) == 1 and event["type"] != "orderbook":
        event["sub"] = subs[0]
        out.events.append(event)
        return
    for sub_id in subs:
        copy = dict(event, sub=sub_id)
        if event["type"] == "orderbook":
            copy["bids"] = [level[:] for level in event["bids"]]
            copy["asks"] = [level[:] for level in event["asks"]]
        out.events.append(copy)
