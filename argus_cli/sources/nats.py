"""Consume argus events from NATS: the broker as a source, with the client's API.

``BrokerClient`` has the surface of ``WebSocketClient`` that programs use
(``connect``, ``subscribe``, ``add_message_handler``, ``add_sink``,
``get_stats``, ``disconnect``, ``state``), so the same handlers, the
``argus stream`` table and JSON lines work on events that another argus
published (``argus stream --publish``). Each event arrives as it was published:
every field kept (``source`` stays the venue), except ``received`` (this
consumer's receive time) and ``sub`` (this consumer's subscription id).

Where a JetStream stream holds the subjects, each subscription reads through an
ordered consumer: from now on (live), or from ``since`` (epoch seconds), then on
live through the same consumer, so there is no seam to lose or repeat events
at. nats-py resets an ordered consumer that misses heartbeats; a consumer can
still fall silent after a stream leader is lost, so a watchdog looks at a
consumer quiet for ``SILENT_AFTER`` seconds (one whose handlers are merely slow
is left alone): the server's count of messages it has not delivered
(``num_pending``), or, when the consumer is gone or its node does not answer,
whether its subjects grew; then re-creates it from the next sequence after the
last one handed over. Stream sequences already delivered are never delivered
again; a failed re-creation is tried again on the next round.

Without a stream, subscriptions are core NATS (live only; at most once), and
the ``Nats-Msg-Id`` of recent events (the publisher's, epoch included) is
remembered so that two redundant publishers do not show each event twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import orjson

from ..client.buffer import MessageBuffer
from ..client.config import ConnectionState
from ..client.delivery import Delivery
from ..client.dispatch import Dispatcher, Handler
from ..client.metrics import LatencyWindow, RateMeter
from ..client.redact import redact_url
from ..exceptions import ArgusConnectionError, NotOffered, SinkError
from ..protocol import rules, subjects
from ..sinks.base import Sink

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription
    from nats.js import JetStreamContext
    from nats.js.api import ConsumerConfig

    from ..client.config import SubscriptionConfig

log = logging.getLogger("argus_cli.sources")

__all__ = ["BrokerClient", "BrokerConfig"]

WATCH_EVERY = 1.0  # seconds between watchdog checks
SILENT_AFTER = 2.0  # a consumer this long without a message is checked against the stream
RECENT_IDS = 200_000  # message ids remembered for de-duplication on core NATS
_LOADS = orjson.loads


@dataclass(frozen=True)
class BrokerConfig:
    """Where and what to consume: ``servers`` (``nats://host:port``), the ``source``
    (venue) of the subscribed symbols, and ``since`` (epoch seconds) to replay from."""

    servers: tuple[str, ...]
    source: str = "argus"
    since: float | None = None
    timeout: float = 10.0  # seconds to reach a server at connect
    max_subscriptions: int = 100
    queue_size: int = 10_000  # events held for the handlers before reading pauses

    def __post_init__(self) -> None:
        if not self.servers:
            raise ValueError("give at least one NATS server URL")
        for server in self.servers:
            if not server.startswith(("nats://", "tls://", "ws://", "wss://")):
                raise ValueError(f"{redact_url(server)!r} is not a nats:// URL")

    @property
    def safe_url(self) -> str:
        return ",".join(redact_url(s) for s in self.servers)


@dataclass
class _Consumer:
    """One subscription's reader: its subjects and where it is in the stream."""

    sub_id: str
    filters: list[str]
    stream: str | None
    nats_sub: Subscription | None = None
    last_seq: int = 0  # the last stream sequence handed to the handlers
    last_at: float = field(default_factory=time.monotonic)
    recreated: int = 0
    busy: bool = False  # an event waits for room in the buffer: slow, not dead
    config: ConsumerConfig | None = None  # the one nats-py keeps (and resets from)


class BrokerClient:
    """Consume the events ``argus stream --publish`` put on NATS (see the module doc)."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.source = config.source
        self.connection_id = str(uuid.uuid4())
        self.last_error: str | None = None
        self.failure: BaseException | None = None
        self.errors = 0
        self.decode_errors = 0
        self.duplicates = 0
        self.gaps = 0
        self.messages = 0
        self.reconnect_count = 0
        self.mode = "core"
        self.epoch: str | None = None
        self._state = ConnectionState.DISCONNECTED
        self._subs: dict[str, SubscriptionConfig] = {}
        self._consumers: dict[str, _Consumer] = {}
        self._dispatch = Dispatcher()
        self._buffer = MessageBuffer(config.queue_size)
        self._rate = RateMeter()
        self._latency = LatencyWindow()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._streams: dict[str, list[str]] = {}
        self._connected_at: float | None = None
        self._connected = asyncio.Event()
        self._stopped = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def __repr__(self) -> str:
        return f"<BrokerClient {self.config.safe_url} {self._state.value}>"

    # -- the client API ---------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def subscriptions(self) -> dict[str, SubscriptionConfig]:
        return dict(self._subs)

    def add_message_handler(self, data_type: str, handler: Handler) -> None:
        self._dispatch.add(data_type, handler)

    def remove_message_handler(self, data_type: str, handler: Handler) -> None:
        self._dispatch.remove(data_type, handler)

    def add_sink(self, sink: Sink) -> None:
        self._dispatch.add_sink(sink)

    def remove_sink(self, sink: Sink) -> None:
        self._dispatch.remove_sink(sink)

    async def connect(self) -> bool:
        """Reach a server within ``timeout``; False (the reason in ``last_error`` and
        ``failure``) when none answers. Once connected, nats-py reconnects on its own."""
        import nats

        if self._nc is not None and self._nc.is_connected:
            return True
        self._state = ConnectionState.CONNECTING
        self._stopped.clear()
        refused: list[str] = []

        async def on_error(exc: Exception) -> None:
            reason = str(exc) or type(exc).__name__
            self.last_error = reason
            if self._connected_at is None:
                refused.append(reason)

        try:
            nc = await asyncio.wait_for(
                nats.connect(
                    list(self.config.servers),
                    name="argus consume",
                    connect_timeout=max(1, round(self.config.timeout)),
                    reconnect_time_wait=0.5,
                    max_reconnect_attempts=-1,
                    error_cb=on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                ),
                self.config.timeout,
            )
        except (TimeoutError, OSError, Exception) as exc:
            reason = refused[-1] if refused else (str(exc) or type(exc).__name__)
            self.last_error = reason
            self.failure = ArgusConnectionError(
                f"cannot reach NATS at {self.config.safe_url}: {reason}"
            )
            self._state = ConnectionState.ERROR
            self._stopped.set()
            return False
        self._nc = nc
        self._js = nc.jetstream()
        self._connected_at = time.time()
        self._state = ConnectionState.CONNECTED
        self._connected.set()
        await self._read_streams()
        self._tasks = [
            asyncio.create_task(self._deliver(), name="argus-broker-deliver"),
            asyncio.create_task(self._watch(), name="argus-broker-watch"),
        ]
        return True

    async def wait_for_connection(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def subscribe(self, subscription_id: str, config: SubscriptionConfig) -> None:
        """Read ``config``'s symbols and types (and their gap lines) from the broker."""
        if config.update_frequency != "realtime" or config.filters:
            raise NotOffered(
                "the broker carries what was published: update frequencies and price "
                "filters are not offered with --from (set them on the publishing side)"
            )
        if len(self._subs) >= self.config.max_subscriptions and subscription_id not in self._subs:
            raise NotOffered(f"at most {self.config.max_subscriptions} subscriptions")
        for symbol in config.symbols:
            reason = rules.check_symbol(symbol, venue=True)
            if reason:
                raise NotOffered(reason)
        types = [*config.data_types, "gap"]
        filters = [
            subjects.filter_subject(self.source, kind, symbol)
            for symbol in config.symbols
            for kind in types
        ]
        stream = self._stream_for(filters)
        if self.config.since is not None and stream is None:
            raise NotOffered(
                f"--since reads from JetStream, and no stream on {self.config.safe_url} holds "
                f"{filters[0]} (create one with `argus nats init`)"
            )
        if subscription_id in self._consumers:
            await self.unsubscribe(subscription_id)
        consumer = _Consumer(subscription_id, filters, stream)
        await self._start(consumer, None)
        self._consumers[subscription_id] = consumer
        self._subs[subscription_id] = config

    async def unsubscribe(self, subscription_id: str) -> None:
        consumer = self._consumers.pop(subscription_id, None)
        self._subs.pop(subscription_id, None)
        if consumer is not None and consumer.nats_sub is not None:
            with contextlib.suppress(Exception):
                await consumer.nats_sub.unsubscribe()

    async def disconnect(self) -> None:
        """Stop delivering, unsubscribe and close; safe to call twice."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        for sub_id in list(self._consumers):
            await self.unsubscribe(sub_id)
        nc, self._nc = self._nc, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 2.0)
        if self._state is not ConnectionState.ERROR:
            self._state = ConnectionState.DISCONNECTED
        self._connected.clear()
        self._stopped.set()

    def stats_snapshot(self) -> dict[str, Any]:
        now = time.time()
        p50, p99 = self._latency.percentile(50), self._latency.percentile(99)
        since = self._connected_at
        uptime = timedelta(seconds=now - since) if since else timedelta()
        return {
            "messages_received": self.messages,
            "messages_sent": 0,
            "reconnect_count": self.reconnect_count,
            "errors": self.errors + self._dispatch.failures + self.decode_errors,
            "state": self._state.value,
            "connection_id": self.connection_id,
            "subscriptions_count": len(self._subs),
            "uptime": str(uptime),
            "uptime_seconds": round(uptime.total_seconds(), 3),
            "url": self.config.safe_url,
            "source": self.source,
            "mode": self.mode,
            "messages_per_second": round(self._rate.rate(now), 1),
            # from the publisher's receive time to this consumer's
            "latency_p50_ms": None if p50 is None else round(p50 * 1000, 3),
            "latency_p99_ms": None if p99 is None else round(p99 * 1000, 3),
            "gaps": self.gaps,
            "duplicates_dropped": self.duplicates,
            "decode_errors": self.decode_errors,
            "handler_errors": self._dispatch.failures,
            "consumers_recreated": sum(c.recreated for c in self._consumers.values()),
            "last_error": self.last_error,
            "queue_depth": self._buffer.depth,
            "queue_capacity": self._buffer.capacity,
            "backpressure_pauses": self._buffer.pauses,
        }

    async def get_stats(self) -> dict[str, Any]:
        return self.stats_snapshot()

    # -- internals --------------------------------------------------------------------

    async def _on_disconnected(self) -> None:
        if self._state is ConnectionState.CONNECTED:
            self._state = ConnectionState.RECONNECTING
            self._connected.clear()

    async def _on_reconnected(self) -> None:
        self.reconnect_count += 1
        self._connected_at = time.time()
        self._state = ConnectionState.CONNECTED
        self._connected.set()

    async def _read_streams(self) -> None:
        js = self._js
        assert js is not None
        try:
            infos = await js.streams_info()
        except Exception as exc:  # JetStream off: core NATS only
            log.debug("no JetStream streams read (%s)", exc)
            infos = []
        self._streams = {
            info.config.name: list(info.config.subjects or []) for info in infos if info.config.name
        }

    def _stream_for(self, filters: list[str]) -> str | None:
        """The stream holding every one of ``filters``' subjects, if one does."""
        for name, patterns in self._streams.items():
            if all(any(subjects.matches(p, f) for p in patterns) for f in filters):
                return name
        return None

    async def _start(self, consumer: _Consumer, start_seq: int | None) -> None:
        """Subscribe ``consumer``: JetStream ordered from ``start_seq``, ``since`` or
        now; or core NATS."""
        nc, js = self._nc, self._js
        assert nc is not None and js is not None
        callback = self._make_callback(consumer)
        if consumer.stream is None:
            self.mode = "core"
            subs = [await nc.subscribe(f, cb=callback) for f in consumer.filters]
            consumer.nats_sub = _Many(subs)  # type: ignore[assignment]
            # a PING/PONG round trip: the server has the subscriptions once subscribe()
            # returns (core NATS keeps nothing for a subscriber that is not there yet)
            await nc.flush(timeout=max(1, round(self.config.timeout)))
            return
        from nats.js.api import ConsumerConfig, DeliverPolicy

        self.mode = "jetstream"
        config = ConsumerConfig(filter_subjects=list(consumer.filters))
        if start_seq is not None:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = start_seq
        elif self.config.since is not None:
            config.deliver_policy = DeliverPolicy.BY_START_TIME
            config.opt_start_time = dt.datetime.fromtimestamp(self.config.since, dt.UTC)
        else:  # live: after the stream's last message now (known, so a re-creation resumes)
            info = await js.stream_info(consumer.stream)
            consumer.last_seq = info.state.last_seq
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = info.state.last_seq + 1
        consumer.config = config
        consumer.nats_sub = await js.subscribe(
            consumer.filters[0],
            stream=consumer.stream,
            cb=callback,
            ordered_consumer=True,
            config=config,
            idle_heartbeat=1.0,
        )
        consumer.last_at = time.monotonic()

    def _make_callback(self, consumer: _Consumer) -> Callable[[Msg], Any]:
        sub_id = consumer.sub_id
        buffer, rate, latency = self._buffer, self._rate, self._latency
        recent = self._recent
        jetstream = consumer.stream is not None

        async def on_msg(msg: Msg) -> None:
            if jetstream:
                try:
                    seq = msg.metadata.sequence.stream
                except Exception:  # not a JetStream message (a status)
                    return
                if seq <= consumer.last_seq:
                    self.duplicates += 1
                    return
                config = consumer.config
                if config is not None and config.opt_start_time is not None:
                    # nats-py resets an ordered consumer by sequence, from this config:
                    # a start time left beside it is refused by the server
                    config.opt_start_time = None
            else:
                seq = 0
            consumer.last_at = time.monotonic()
            try:
                event = _LOADS(msg.data)
                kind = event["type"]
                if not isinstance(event["symbol"], str):
                    raise TypeError("symbol")
            except Exception:
                self.decode_errors += 1
                if self.decode_errors == 1:
                    log.warning("a message on %s is not an argus event; skipped", msg.subject)
                return
            if not jetstream:  # the publisher's id (with its epoch): the same event twice
                mid = (msg.headers or {}).get("Nats-Msg-Id")
                if mid is not None:
                    if mid in recent:
                        self.duplicates += 1
                        return
                    recent[mid] = None
                    if len(recent) > RECENT_IDS:
                        recent.popitem(last=False)
            now = time.time()
            published = event.get("received")
            if type(published) is float:
                latency.add(now - published)
            event["sub"] = sub_id
            event["received"] = now
            if kind == "gap":
                self.gaps += 1
            self.messages += 1
            rate.add(now)
            consumer.busy = True
            try:
                await buffer.put(Delivery([event]))
            finally:
                consumer.busy = False
            if seq:  # only once handed over: a re-creation starts after what was delivered
                consumer.last_seq = seq
            consumer.last_at = time.monotonic()

        return on_msg

    async def _deliver(self) -> None:
        """Run handlers and sinks off the NATS reader (a failing sink stops the client)."""
        try:
            await self._dispatch.run(self._buffer)
        except SinkError as exc:
            self.failure = exc
            self.last_error = str(exc)
            self._state = ConnectionState.ERROR
            self._stopped.set()

    async def _watch(self) -> None:
        """Re-create a JetStream consumer that fell silent while its subjects grew."""
        while True:
            await asyncio.sleep(WATCH_EVERY)
            if self._nc is None or not self._nc.is_connected:
                continue
            for consumer in list(self._consumers.values()):
                if consumer.stream is None:
                    continue
                if consumer.busy or time.monotonic() - consumer.last_at < SILENT_AFTER:
                    continue
                try:
                    behind = await self._behind(consumer)
                    if behind:
                        await self._recreate(consumer)
                    else:
                        consumer.last_at = time.monotonic()
                except Exception as exc:  # an election under way: look again next time
                    self.last_error = f"the consumer for {consumer.sub_id}: {exc}"
                    log.debug("cannot check or re-create %s: %s", consumer.sub_id, exc)

    async def _behind(self, consumer: _Consumer) -> bool:
        """True when the server holds messages for the consumer that it has not
        delivered (``num_pending``), or when the consumer is gone altogether (its
        node lost); a quiet subject, or a ``--since`` with nothing after it, is not."""
        from nats.js.errors import NotFoundError

        sub = consumer.nats_sub
        if sub is None:
            return True
        try:
            info = await sub.consumer_info()  # type: ignore[attr-defined]
        except NotFoundError:
            return True
        except Exception:  # its node does not answer: did its subjects grow meanwhile?
            return await self._subjects_grew(consumer)
        return bool(info.num_pending)

    async def _subjects_grew(self, consumer: _Consumer) -> bool:
        """The stream holds a message on the consumer's subjects after the last one
        it delivered."""
        from nats.js.errors import NotFoundError

        js = self._js
        assert js is not None and consumer.stream is not None
        for subject in consumer.filters:
            try:
                last = await js.get_last_msg(consumer.stream, subject)
            except NotFoundError:  # nothing on that subject
                continue
            if last.seq is not None and last.seq > consumer.last_seq:
                return True
        return False

    async def _recreate(self, consumer: _Consumer) -> None:
        old = consumer.nats_sub
        if old is not None:
            with contextlib.suppress(Exception):
                await old.unsubscribe()
        consumer.recreated += 1
        log.warning(
            "the NATS consumer for %s fell silent while its stream grew; re-created from "
            "stream sequence %d",
            consumer.sub_id,
            consumer.last_seq + 1,
        )
        # after what was delivered (a live start counts the stream's end then as
        # delivered); a --since start that delivered nothing yet starts from its time
        resume = consumer.last_seq or self.config.since is None
        await self._start(consumer, consumer.last_seq + 1 if resume else None)


class _Many:
    """Several core subscriptions unsubscribed as one."""

    def __init__(self, subs: Sequence[Subscription]) -> None:
        self.subs = list(subs)

    async def unsubscribe(self) -> None:
        for sub in self.subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
