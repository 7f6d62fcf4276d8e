"""``WebSocketClient``: the SDK's connection, composed from the seams.

Data flows one way::

    Link (transport) -> ProviderSession.receive (pure) -> Pipeline.process (pure)
        -> bounded MessageBuffer -> Dispatcher: handlers, frame handlers, sinks

The reader never runs user code, so a slow handler or sink pauses reading (TCP
backpressure) instead of freezing keepalive or growing memory. The
``Supervisor`` runs the reconnect loop; ``ConnectionStatus`` is the one place
the state changes. This class holds the subscriptions, the requests waiting for
replies and the stats, and wires the rest together; it knows no wire format.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from ..exceptions import (
    ArgusError,
    ConfigError,
    NotConnectedError,
    ReplyTimeout,
    SubscriptionError,
    SubscriptionLimitError,
    UnknownMessageType,
)
from ..protocol import rules
from ..protocol.providers import make_session
from ..protocol.session import (
    Action,
    Fetch,
    Fetched,
    Message,
    ProviderSession,
    Received,
    Reconnect,
    Refusal,
    ReplyKey,
    Request,
    Send,
)
from ..sinks.base import Sink
from .buffer import MessageBuffer
from .config import ConnectionConfig, ConnectionState, SubscriptionConfig
from .delivery import Delivery
from .dispatch import Dispatcher, FrameHandler, Handler
from .http import http_get
from .logbudget import LogBudget
from .pipeline import Pipeline
from .policy import RetryPolicy
from .redact import install_log_redaction, redact_text, register_secret
from .replies import PendingReplies
from .state import ConnectionStatus
from .supervisor import HEALTHY_AFTER, Served, Supervisor, internal_error
from .transports import Link, Transport, make_transport
from .transports.options import handshake_headers, with_query

log = logging.getLogger("argus_cli.client")

__all__ = ["FrameHandler", "Handler", "WebSocketClient"]

S = ConnectionState

# How long disconnect() waits for the server's close frame before it drops the TCP
# connection: behind a firehose the answer queues after everything already sent,
# and nothing of that is wanted any more. A server that answers in time still sees
# a clean 1000 (and it has the close frame, with its code, either way).
CLOSE_WAIT = 0.25


class WebSocketClient:
    """A market-data connection that stays up, restores subscriptions and loses nothing.

    ``provider`` speaks the venue's dialect (by default a session for
    ``config.provider``: the argus protocol unless the config names a venue),
    ``transport`` carries the frames (by default ``config.transport``: picows
    where it is installed, else python-websockets) and
    ``retry_policy`` decides which failures are fatal.
    """

    def __init__(
        self,
        config: ConnectionConfig,
        *,
        source: str | None = None,
        provider: ProviderSession | None = None,
        transport: Transport | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        if not isinstance(config, ConnectionConfig):
            raise ConfigError("WebSocketClient needs a ConnectionConfig")
        self.config = config
        install_log_redaction(config.api_key)
        register_secret(config.api_secret)
        if provider is None:  # the config's provider (argus by default)
            provider = make_session(
                config.provider,
                api_key=config.api_key,
                api_secret=config.api_secret,
                rest_url=config.rest_url,
            )
        self.provider: ProviderSession = provider
        self.source = source if source is not None else self.provider.source
        if transport is None:  # the config's: picows where installed, else websockets
            transport = make_transport(config.transport)
        self.transport: Transport = transport
        self.retry_policy = retry_policy if retry_policy is not None else RetryPolicy()
        self.failure: ArgusError | None = None
        self._status = ConnectionStatus()
        self._subs: dict[str, SubscriptionConfig] = {}
        self._dispatch = Dispatcher()
        self._warnings = LogBudget(log)
        self._pipeline = Pipeline(self.source, self._warnings)
        self._replies = PendingReplies()
        self._link: Link | None = None
        self._buffer: MessageBuffer | None = None
        # the provider's typed fast lane (the argus protocol's data frames), if it has one
        self._decode_typed: Callable[[list[str | bytes]], list[Any] | None] | None = getattr(
            self.provider, "decode_typed", None
        )
        self._supervisor: Supervisor | None = None
        self._runner: asyncio.Task[None] | None = None
        self._dispatch_task: asyncio.Task[None] | None = None
        self._nonce = 0
        self._fetches: set[asyncio.Task[None]] = set()  # this connection's Fetch actions
        self._fatal: ArgusError | None = None  # the provider ended this connection for good
        self._session_data = 0  # data messages when the current session opened
        # stats
        self.messages_sent = 0
        self.errors = 0
        self.decode_errors = 0
        self.unknown_messages = 0
        self.connection_id: str | None = None
        self.last_error: str | None = None
        self._connected_at: float | None = None
        # Called with each frame as received (text or bytes) and its receive time, before
        # decoding, when set: what ``argus record --raw`` keeps. Keep it cheap (the hot path).
        self.raw_frame: Callable[[str | bytes, float], None] | None = None

    def __repr__(self) -> str:
        return f"<WebSocketClient {self.config.safe_url} {self.state.value}>"

    # --- public API (docs/SDK.md) ----------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._status.state

    @property
    def subscriptions(self) -> dict[str, SubscriptionConfig]:
        return dict(self._subs)

    @property
    def epoch(self) -> str | None:
        """The server's name for its current sequence space (docs/PROTOCOL.md ``welcome``),
        when it gives one: with ``seq``, what identifies an event (NATS message ids)."""
        return self._pipeline.epoch

    @property
    def reconnect_count(self) -> int:
        return 0 if self._supervisor is None else self._supervisor.reconnect_count

    @property
    def messages_received(self) -> int:
        return self._pipeline.messages

    @property
    def gaps(self) -> int:
        return self._pipeline.gaps

    @property
    def duplicates(self) -> int:
        return self._pipeline.duplicates

    async def connect(self) -> bool:
        """Connect (retrying up to ``max_reconnect_attempts``); True once connected."""
        if self._buffer is None:
            self._buffer = MessageBuffer(self.config.queue_size)
        if self._runner is None or self._runner.done():
            self.failure = None
            self._status.to(S.CONNECTING)
            self._supervisor = self._make_supervisor(self._supervisor)
            self._runner = asyncio.create_task(self._supervisor.run(), name="argus-connection")
        if self._dispatch_task is None or self._dispatch_task.done():
            self._dispatch_task = asyncio.create_task(
                self._dispatch.run(self._buffer), name="argus-dispatch"
            )
            self._dispatch_task.add_done_callback(self._background_ended)
        return await self._until_connected() is True

    async def disconnect(self) -> None:
        """Close with code 1000, stop reconnecting and cancel background tasks.

        Delivery stops first: no handler or sink is called once this starts (so
        they never see a later message after dropped ones). What is buffered is
        dropped and frames still arriving are read past, not delivered; the
        server's answer to the close frame is awaited at most ``CLOSE_WAIT``
        seconds, then the socket is dropped."""
        if self._supervisor is not None:
            self._supervisor.closing = True
        dispatch = self._dispatch_task
        if dispatch is not None and dispatch is not asyncio.current_task():
            dispatch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await dispatch
        if self._buffer is not None:
            self._buffer.clear()
        link = self._link
        if link is not None:
            with contextlib.suppress(Exception):
                await link.close(rules.CloseCode.NORMAL, "client disconnect", timeout=CLOSE_WAIT)
        await self._stop_tasks()
        self._replies.fail_all(NotConnectedError("client disconnected"))
        if self._buffer is not None:
            self._buffer.clear()
        self._connected_at = None
        if self.state is not S.ERROR:
            self._status.to(S.DISCONNECTED)

    async def wait_for_connection(self, timeout: float | None = None) -> None:
        """Return once connected; raise the failure if the client gave up."""
        if self._status.connected.is_set():
            return
        if self._runner is None:
            raise self.failure or NotConnectedError("call connect() first")
        outcome = await self._until_connected(timeout)
        if outcome is None:
            raise ReplyTimeout(f"not connected within {timeout}s")
        if outcome is False:
            raise self.failure or NotConnectedError("the client stopped")

    async def wait_stopped(self) -> None:
        """Return once the connection loop has ended: disconnected, or given up (``failure``)."""
        runner = self._runner
        if runner is not None and not runner.done():
            await asyncio.wait({runner})

    async def subscribe(self, subscription_id: str, config: SubscriptionConfig) -> None:
        """Subscribe; remembered and restored (with resume) after every reconnect.

        While connected, waits for the server's reply and raises
        ``SubscriptionError`` if it refuses. While (re)connecting, or if the
        connection drops before the reply, the subscription is sent as soon as
        the connection is up.
        """
        if not isinstance(config, SubscriptionConfig):
            raise ConfigError("subscribe() needs a SubscriptionConfig")
        reason = rules.check_subscription_id(subscription_id)
        if reason:
            raise ConfigError(reason)
        if subscription_id in self._subs:
            raise ConfigError(f"subscription id already in use: {subscription_id}")
        if len(self._subs) >= self.config.max_subscriptions:
            raise SubscriptionLimitError(
                f"at most {self.config.max_subscriptions} subscriptions (max_subscriptions)",
                subscription_id=subscription_id,
            )
        self._subs[subscription_id] = config
        self._pipeline.track(subscription_id, config.tracks_gaps, config.symbols)
        if self._link is None or self.state is not S.CONNECTED:
            return
        try:
            request = self._subscribe_request(subscription_id)
        except ArgusError:  # the provider cannot serve it (e.g. a frequency it lacks)
            self._forget(subscription_id)
            raise
        try:
            await self._request(request)
        except SubscriptionError:
            self._forget(subscription_id)
            raise
        except ReplyTimeout:
            self._forget(subscription_id)
            with contextlib.suppress(ArgusError):
                await self._perform(self.provider.unsubscribe(subscription_id).actions)
            raise
        except NotConnectedError:
            pass  # the connection dropped: restored on the next one

    async def unsubscribe(self, subscription_id: str) -> None:
        if subscription_id not in self._subs:
            raise SubscriptionError(
                f"no subscription with id {subscription_id}",
                code="unknown_subscription",
                subscription_id=subscription_id,
            )
        self._forget(subscription_id)
        if self._link is not None and self.state is S.CONNECTED:
            with contextlib.suppress(SubscriptionError, NotConnectedError):
                await self._request(self.provider.unsubscribe(subscription_id))

    def add_message_handler(self, data_type: str, handler: Handler) -> None:
        """Call ``handler(data)`` for every message of ``data_type`` ("debug": every one)."""
        if not callable(handler):
            raise ConfigError("handler must be callable")
        self._dispatch.add(data_type, handler)

    def remove_message_handler(self, data_type: str, handler: Handler) -> None:
        self._dispatch.remove(data_type, handler)

    def add_frame_handler(self, handler: FrameHandler) -> None:
        """Call ``handler(messages)`` once per frame with its data and gap messages, in order."""
        if not callable(handler):
            raise ConfigError("handler must be callable")
        self._dispatch.add_frame(handler)

    def remove_frame_handler(self, handler: FrameHandler) -> None:
        self._dispatch.remove_frame(handler)

    def add_sink(self, sink: Sink) -> None:
        """Give each frame's data and gap events to ``sink`` (see ``argus_cli.sinks``).

        The owner opens and closes the sink. If it raises, the stream stops
        with a ``SinkError`` in ``failure`` (state ``ERROR``)."""
        self._dispatch.add_sink(sink)

    def remove_sink(self, sink: Sink) -> None:
        self._dispatch.remove_sink(sink)

    async def list_symbols(self) -> list[str]:
        symbols = await self._request(self.provider.list_symbols())
        return list(symbols)

    async def ping(self) -> float:
        """Round trip to the server, in seconds: the provider's application ping, or a
        WebSocket ping where the venue has none."""
        self._nonce += 1
        request = self.provider.ping(self._nonce)
        started = time.perf_counter()
        if request is None:
            link = self._link
            if link is None:
                raise NotConnectedError(f"not connected to {self.config.safe_url}")
            return await asyncio.wait_for(link.ping(), self.config.timeout)
        await self._request(request)
        return time.perf_counter() - started

    async def get_stats(self) -> dict[str, Any]:
        return self.stats_snapshot()

    def stats_snapshot(self) -> dict[str, Any]:
        now = time.time()
        pipeline = self._pipeline
        p50 = pipeline.latency.percentile(50)
        p99 = pipeline.latency.percentile(99)
        uptime = timedelta(seconds=now - self._connected_at) if self._connected_at else timedelta()
        buffer = self._buffer
        last = pipeline.last_message_at
        return {
            "messages_received": pipeline.messages,
            "messages_sent": self.messages_sent,
            "reconnect_count": self.reconnect_count,
            "errors": self.errors + self._dispatch.failures,
            "state": self.state.value,
            "connection_id": self.connection_id,
            "subscriptions_count": len(self._subs),
            "uptime": str(uptime),
            "uptime_seconds": round(uptime.total_seconds(), 3),
            "url": self.config.safe_url,
            "source": self.source,
            "messages_per_second": round(pipeline.rate.rate(now), 1),
            "latency_p50_ms": None if p50 is None else round(p50 * 1000, 3),
            "latency_p99_ms": None if p99 is None else round(p99 * 1000, 3),
            "gaps": pipeline.gaps,
            "duplicates_dropped": pipeline.duplicates,
            "foreign_dropped": pipeline.foreign,
            "decode_errors": self.decode_errors,
            "handler_errors": self._dispatch.failures,
            "unknown_messages": self.unknown_messages,
            "last_message_age": None if last is None else round(now - last, 3),
            "last_error": self.last_error,
            "queue_depth": buffer.depth if buffer else 0,
            "queue_capacity": self.config.queue_size,
            "backpressure_pauses": buffer.pauses if buffer else 0,
        }

    # --- lifecycle ----------------------------------------------------------------------

    def _make_supervisor(self, previous: Supervisor | None) -> Supervisor:
        supervisor = Supervisor(
            self.config,
            self.retry_policy,
            self._status,
            open_link=self._open_link,
            serve=self._serve,
            on_error=self._set_last_error,
            give_up=self._fail,
        )
        if previous is not None:
            supervisor.reconnect_count = previous.reconnect_count
        return supervisor

    async def _until_connected(self, timeout: float | None = None) -> bool | None:
        """True once connected, False if the connection loop ended first, None on timeout."""
        assert self._runner is not None
        connected = self._status.connected
        if connected.is_set():
            return True
        waiter = asyncio.ensure_future(connected.wait())
        done, _ = await asyncio.wait(
            {waiter, self._runner}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter in done:
            return True
        waiter.cancel()
        return False if done else None

    def _set_last_error(self, text: str) -> None:
        self.last_error = redact_text(text)

    def _fail(self, error: ArgusError) -> None:
        """Stop for good: state ERROR, ``failure`` kept and logged, background work ended."""
        if self.failure is None:
            self.failure = error
            self.last_error = redact_text(str(error))
            log.error("%s", error, extra={"argus_final": True})
        if self._supervisor is not None:
            self._supervisor.closing = True
        self._status.to(S.ERROR)
        current = asyncio.current_task()
        for task in (self._runner, self._dispatch_task):
            if task is not None and task is not current and not task.done():
                task.cancel()

    def _background_ended(self, task: asyncio.Task[None]) -> None:
        """Delivery or the provider's timer ended on its own: a sink failed, or a bug."""
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            return
        if isinstance(error, ArgusError):
            self._fail(error)
        else:
            self._fail(internal_error(error, task.get_name()))

    async def _stop_tasks(self) -> None:
        tasks = [t for t in (self._runner, self._dispatch_task) if t is not None]
        for task in tasks:
            if not task.done():
                task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._runner = self._dispatch_task = None

    # --- one connection -----------------------------------------------------------------

    async def _open_link(self) -> Link:
        handshake = self.provider.handshake(self.config.api_key)
        for secret in handshake.secrets:
            register_secret(secret)
        config = self.config
        if handshake.query:  # e.g. Finnhub's token: in the URL, redacted wherever shown
            config = replace(config, url=with_query(config.url, handshake.query))
        return await self.transport.open(config, handshake_headers(config, handshake))

    async def _serve(self, link: Link) -> Served:
        """Restore subscriptions, then read until the link ends."""
        self._link = link
        self._connected_at = time.time()
        opened = time.monotonic()
        self._session_data = self._pipeline.data_messages
        self._fatal = None
        reason = "connection closed"
        ticker: asyncio.Task[None] | None = None
        try:
            await self._perform(self.provider.opened())
            restored: set[str] = set()
            while pending := [s for s in self._subs if s not in restored]:
                for sub_id in pending:  # subscribe() may add more meanwhile: loop until none
                    if sub_id in self._subs:
                        point = self._resume_point(sub_id)
                        try:
                            request = self._subscribe_request(sub_id, point)
                        except ArgusError as exc:  # made while disconnected, not servable
                            self._warnings.warning(time.time(), "subscription %s: %s", sub_id, exc)
                            self._forget(sub_id)
                            continue
                        if point:
                            self._pipeline.expect_resume(sub_id, point)
                        await self._perform(request.actions)
                    restored.add(sub_id)
            self._status.to(S.CONNECTED)
            log.info("connected to %s", self.config.safe_url)
            interval = self.provider.timer_interval
            if interval:
                ticker = asyncio.create_task(self._tick(interval), name="argus-provider-timer")
                ticker.add_done_callback(self._background_ended)
            reason = redact_text(await link.receive(self._on_frames))
        except NotConnectedError as exc:
            reason = redact_text(f"connection lost: {exc}")
        finally:
            background = {*self._fetches, *([ticker] if ticker is not None else [])}
            for task in background:
                task.cancel()
            if background:
                await asyncio.wait(background)  # gone with the link (never raise)
            self._fetches.clear()
            self._link = None
            self._connected_at = None
            self._replies.fail_all(NotConnectedError(f"connection to {self.config.safe_url} lost"))
        healthy = (
            self._pipeline.data_messages > self._session_data
            or time.monotonic() - opened >= HEALTHY_AFTER
        )
        if self._fatal is not None:
            return Served(healthy, redact_text(str(self._fatal)), self._fatal)
        return Served(healthy, reason)

    async def _tick(self, interval: float) -> None:
        """Call the provider's ``on_timer`` every ``interval`` seconds while connected
        (application pings, book resyncs) and do what it asks."""
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(NotConnectedError):
                await self._perform(self.provider.on_timer(time.time()))

    # --- receiving ----------------------------------------------------------------------

    def _on_frames(self, frames: list[str | bytes]) -> Awaitable[None] | None:
        """Decode (provider), check and stamp (pipeline), queue (buffer). The hot path.

        The frames of one read share its receive time. Where the provider has a
        typed fast lane (the argus protocol) and every frame is plain data, the
        whole read goes through it as one delivery; otherwise frame by frame."""
        now = time.time()
        raw = self.raw_frame
        if raw is not None:
            for frame in frames:
                raw(frame, now)
        decode = self._decode_typed
        if decode is not None:
            decoded = decode(frames)
            if decoded is not None:
                pipeline = self._pipeline
                gaps = pipeline.gaps  # every gap record the lane makes is counted there
                events, ends = pipeline.process_typed(decoded, now)
                if not events:
                    return None
                buffer = self._buffer
                assert buffer is not None
                return buffer.submit(Delivery(None, events, ends, pipeline.gaps - gaps))
        return self._each_frame(frames, 0, now)

    def _each_frame(
        self, frames: list[str | bytes], start: int, now: float
    ) -> Awaitable[None] | None:
        """The general path: each frame through ``provider.receive``, the read's events
        handed over as one delivery. A frame whose control part must be awaited (a
        request to send, a close) hands over what came before it, and the frames after
        it wait until that is done, in order."""
        receive = self.provider.receive
        gathered: list[Message] = []
        ends: list[int] = []
        for index in range(start, len(frames)):
            pending = self._take(receive(frames[index], now), now, gathered, ends)
            if pending is not None:
                handed = self._hand_over(gathered, ends)
                if handed is not None:
                    pending = _in_order(pending, handed)
                if index + 1 == len(frames):
                    return pending
                return self._then_frames(pending, frames, index + 1, now)
        return self._hand_over(gathered, ends)

    def _take(
        self, received: Received, now: float, gathered: list[Message], ends: list[int]
    ) -> Awaitable[None] | None:
        """Act on what the provider made of one frame (or a Fetch's answer): its control
        part now (the awaitable, if it must be awaited), its events onto ``gathered``,
        the frame's end onto ``ends``."""
        pending: Awaitable[None] | None = None
        restart: list[Message] = []
        if received.has_control:
            pending = self._on_control(received, now)
            if received.info is not None:
                restart = self._pipeline.new_epoch(received.info.epoch, now)
        if received.events or restart:
            gathered += restart
            gathered += self._pipeline.process(received.events, now)
            if len(gathered) > (ends[-1] if ends else 0):
                ends.append(len(gathered))
        return pending

    def _hand_over(self, messages: list[Message], ends: list[int] | None) -> Awaitable[None] | None:
        if not messages:
            return None
        buffer = self._buffer
        assert buffer is not None
        return buffer.submit(Delivery(messages, None, ends))

    async def _then_frames(
        self, pending: Awaitable[None], frames: list[str | bytes], start: int, now: float
    ) -> None:
        await pending
        more = self._each_frame(frames, start, now)
        if more is not None:
            await more

    def _accept(self, received: Received, now: float) -> Awaitable[None] | None:
        """Act on what the provider made of a Fetch's answer."""
        gathered: list[Message] = []
        ends: list[int] = []
        pending = self._take(received, now, gathered, ends)
        handed = self._hand_over(gathered, ends)
        if handed is None:
            return pending
        return handed if pending is None else _in_order(pending, handed)

    def _on_control(self, received: Received, now: float) -> Awaitable[None] | None:
        bad = []
        for error in received.errors:
            if isinstance(error, UnknownMessageType):
                self.unknown_messages += 1
                log.debug("skipped: %s", error)
            else:
                bad.append(error)
        if bad:  # one line a frame, whatever it held, within the warnings budget
            self.decode_errors += len(bad)
            self.errors += len(bad)
            more = f" (and {len(bad) - 1} more in that frame)" if len(bad) > 1 else ""
            self._warnings.warning(
                now, "skipped a bad message from %s: %s%s", self.config.safe_url, bad[0], more
            )
        if received.info is not None:
            self.connection_id = received.info.connection_id
        for refusal in received.refusals:
            self._on_refusal(refusal, now)
        for reply in received.replies:
            if reply.error is not None:
                self._replies.fail(reply.key, _redacted(reply.error))
            else:
                self._replies.resolve(reply.key, reply.value)
        if received.fatal is not None and self._fatal is None:
            self._fatal = received.fatal
            link = self._link
            if link is not None:  # the supervisor judges the error once the link ends
                return link.close(rules.CloseCode.NORMAL, "closing")
        if received.actions:
            return self._perform(received.actions)
        return None

    def _on_refusal(self, refusal: Refusal, now: float) -> None:
        self.errors += 1
        text = redact_text(f"server error {refusal.code}: {refusal.message}")
        self.last_error = text
        sub_id = refusal.subscription_id
        awaited = refusal.awaited_by is not None and self._replies.waiting(refusal.awaited_by)
        where = ""
        if sub_id:
            sub = self._subs.get(sub_id)
            symbols = f" {','.join(sub.symbols)}" if sub else ""
            where = f" (subscription {sub_id}{symbols})"
        # the caller of subscribe() gets the exception; anything else is said here
        if awaited:
            log.info("%s%s", text, where)
        else:
            self._warnings.warning(now, "%s%s", text, where)
        if sub_id is not None and not awaited and refusal.drops_subscription:
            self._forget(sub_id)  # restored after a reconnect, then refused: dropped, loudly

    def _forget(self, sub_id: str) -> None:
        self._subs.pop(sub_id, None)
        self._pipeline.forget(sub_id)

    # --- sending ------------------------------------------------------------------------

    def _resume_point(self, sub_id: str) -> dict[str, int] | None:
        """Where a realtime subscription resumes after a reconnect (None: nothing held)."""
        sub = self._subs[sub_id]
        if sub.update_frequency != "realtime":
            return None
        return self._pipeline.resume_point(sub_id, sub.symbols, sub.data_types) or None

    def _subscribe_request(self, sub_id: str, resume: dict[str, int] | None = None) -> Request:
        sub = self._subs[sub_id]
        return self.provider.subscribe(
            sub_id, sub.symbols, sub.data_types, sub.update_frequency, sub.filters, resume
        )

    async def _perform(self, actions: Sequence[Action]) -> None:
        for action in actions:
            link = self._link
            if link is None:
                raise NotConnectedError(f"not connected to {self.config.safe_url}")
            if isinstance(action, Send):
                await link.send(action.data)
                self.messages_sent += 1
                log.debug("sent %s", action.data[:200])
            elif isinstance(action, Fetch):
                task = asyncio.create_task(self._fetch(action), name="argus-fetch")
                self._fetches.add(task)
                task.add_done_callback(self._fetch_ended)
            elif isinstance(action, Reconnect):
                log.info("reconnecting to %s: %s", self.config.safe_url, action.reason)
                await link.close(rules.CloseCode.NORMAL, action.reason[:120])

    async def _fetch(self, fetch: Fetch) -> None:
        answer: Fetched = await http_get(fetch, self.config)
        if answer.error is not None:
            log.info("%s", answer.error)
        pending = self._accept(self.provider.fetched(answer, time.time()), time.time())
        if pending is not None:
            await pending

    def _fetch_ended(self, task: asyncio.Task[None]) -> None:
        self._fetches.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, NotConnectedError):
            return  # the answer came as the connection went: the next one fetches again
        if error is not None:
            self._background_ended(task)

    async def _request(self, request: Request) -> Any:
        if self._link is None:
            raise NotConnectedError(f"not connected to {self.config.safe_url}")
        key: ReplyKey | None = request.reply
        if key is None:
            await self._perform(request.actions)
            return None
        future = self._replies.expect(key)
        try:
            await self._perform(request.actions)
            return await asyncio.wait_for(future, self.config.timeout)
        except TimeoutError:
            raise ReplyTimeout(
                f"no reply to {key[0]} within {self.config.timeout:g}s from {self.config.safe_url}"
            ) from None
        finally:
            self._replies.done_with(key, future)
            if future.done() and not future.cancelled():
                # failed by the connection's end while the request was still being
                # sent: the send's own error is what the caller sees
                future.exception()


def _redacted(error: ArgusError) -> ArgusError:
    """A server-made error with any key it echoed replaced (it reaches SDK callers)."""
    if isinstance(error, SubscriptionError):
        text = redact_text(str(error))
        return SubscriptionError(text, code=error.code, subscription_id=error.subscription_id)
    return error


async def _in_order(first: Awaitable[None] | None, second: Awaitable[None]) -> None:
    if first is not None:
        await first
    await second
