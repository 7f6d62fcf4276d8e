"""``WebSocketClient``: the connection loop, subscriptions, resume, dispatch and stats.

Data flows one way: socket -> ``decode_frame`` -> sequence tracking (dedupe,
gaps) -> bounded ``MessageBuffer`` -> handlers. The reader never runs user
code, so a slow handler or a full stdout pipe pauses reading (TCP
backpressure) instead of freezing keepalive or growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..exceptions import (
    ArgusError,
    ConfigError,
    NotConnectedError,
    ReconnectExhausted,
    ReplyTimeout,
    SubscriptionError,
    SubscriptionLimitError,
)
from ..protocol import codec, rules
from ..protocol.codec import Message, UnknownMessageType
from .backoff import Backoff
from .buffer import MessageBuffer
from .config import ConnectionConfig, ConnectionState, SubscriptionConfig
from .dispatch import Dispatcher, FrameHandler, Handler
from .metrics import LatencyWindow, RateMeter
from .redact import install_log_redaction
from .replies import PendingReplies
from .sequence import SequenceTracker
from .transport import classify, describe_close, describe_close_ws, open_connection

log = logging.getLogger("argus_cli.client")

__all__ = ["FrameHandler", "Handler", "WebSocketClient"]


DATA_TYPES = frozenset(rules.DATA_TYPES)
HEALTHY_AFTER = 2.0  # seconds up (or a first data message) before backoff resets


class WebSocketClient:
    """A market-data connection that stays up, restores subscriptions and loses nothing."""

    def __init__(self, config: ConnectionConfig, *, source: str = "argus") -> None:
        if not isinstance(config, ConnectionConfig):
            raise ConfigError("WebSocketClient needs a ConnectionConfig")
        self.config = config
        self.source = source
        self.failure: ArgusError | None = None
        install_log_redaction(config.api_key)
        self._state = ConnectionState.DISCONNECTED
        self._subs: dict[str, SubscriptionConfig] = {}
        self._tracking: dict[str, bool] = {}  # sub id -> counts seq gaps (hot-path cache)
        self._dispatch = Dispatcher()
        self._tracker = SequenceTracker()
        self._replies = PendingReplies()
        self._ws: ClientConnection | None = None
        self._buffer: MessageBuffer[Message] | None = None
        self._connected: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._dispatch_task: asyncio.Task[None] | None = None
        self._closing = False
        self._nonce = 0
        # stats
        self.messages_received = 0
        self.messages_sent = 0
        self.reconnect_count = 0
        self.errors = 0
        self.gaps = 0
        self.duplicates = 0
        self.decode_errors = 0
        self.unknown_messages = 0
        self.connection_id: str | None = None
        self.last_error: str | None = None
        self._connected_at: float | None = None
        self._last_message_at: float | None = None
        self._healthy = False
        self._rate = RateMeter()
        self._latency = LatencyWindow()

    def __repr__(self) -> str:
        return f"<WebSocketClient {self.config.safe_url} {self._state.value}>"

    # --- public API (SDK.md) ----------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def subscriptions(self) -> dict[str, SubscriptionConfig]:
        return dict(self._subs)

    async def connect(self) -> bool:
        """Connect (retrying up to ``max_reconnect_attempts``); True once connected."""
        self._ensure_loop_objects()
        assert self._connected is not None
        if self._runner is None or self._runner.done():
            self._closing = False
            self.failure = None
            self._runner = asyncio.create_task(self._run(), name="argus-connection")
        if self._dispatch_task is None or self._dispatch_task.done():
            assert self._buffer is not None
            self._dispatch_task = asyncio.create_task(
                self._dispatch.run(self._buffer), name="argus-dispatch"
            )
        return await self._until_connected() is True

    async def disconnect(self) -> None:
        """Close with code 1000, stop reconnecting and cancel background tasks."""
        self._closing = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(1000, "client disconnect")
        for task in (self._runner, self._dispatch_task):
            if task is not None and not task.done():
                task.cancel()
        for task in (self._runner, self._dispatch_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._runner = self._dispatch_task = None
        self._replies.fail_all(NotConnectedError("client disconnected"))
        if self._buffer is not None:
            self._buffer.clear()
        if self._connected is not None:
            self._connected.clear()
        self._connected_at = None
        if self._state is not ConnectionState.ERROR:
            self._state = ConnectionState.DISCONNECTED

    async def wait_for_connection(self, timeout: float | None = None) -> None:
        """Return once connected; raise the failure if the client gave up."""
        self._ensure_loop_objects()
        assert self._connected is not None
        if self._connected.is_set():
            return
        if self._runner is None:
            raise self.failure or NotConnectedError("call connect() first")
        outcome = await self._until_connected(timeout)
        if outcome is None:
            raise ReplyTimeout(f"not connected within {timeout}s")
        if outcome is False:
            raise self.failure or NotConnectedError("the client stopped")

    async def _until_connected(self, timeout: float | None = None) -> bool | None:
        """True once connected, False if the connection loop ended first, None on timeout."""
        assert self._connected is not None and self._runner is not None
        if self._connected.is_set():
            return True
        waiter = asyncio.ensure_future(self._connected.wait())
        done, _ = await asyncio.wait(
            {waiter, self._runner}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter in done:
            return True
        waiter.cancel()
        return False if done else None

    async def wait_stopped(self) -> None:
        """Return once the connection loop has ended: disconnected, or given up (``failure``)."""
        runner = self._runner
        if runner is not None and not runner.done():
            await asyncio.shield(runner)

    async def subscribe(self, subscription_id: str, config: SubscriptionConfig) -> None:
        """Subscribe; remembered and restored (with resume) after every reconnect.

        While connected, waits for the server's reply and raises
        ``SubscriptionError`` if it refuses. While (re)connecting, the
        subscription is sent as soon as the connection is up.
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
                f"at most {self.config.max_subscriptions} subscriptions (max_subscriptions)"
            )
        self._subs[subscription_id] = config
        self._tracking[subscription_id] = config.tracks_gaps
        if self._ws is None or self._state is not ConnectionState.CONNECTED:
            return
        try:
            await self._request(("subscribed", subscription_id), self._encode_sub(subscription_id))
        except SubscriptionError:
            self._forget(subscription_id)
            raise
        except ReplyTimeout:
            self._forget(subscription_id)
            with contextlib.suppress(Exception):
                await self._send(codec.encode_unsubscribe(subscription_id))
            raise

    async def unsubscribe(self, subscription_id: str) -> None:
        if subscription_id not in self._subs:
            raise SubscriptionError(
                f"no subscription with id {subscription_id}",
                code="unknown_subscription",
                subscription_id=subscription_id,
            )
        self._forget(subscription_id)
        if self._ws is not None and self._state is ConnectionState.CONNECTED:
            with contextlib.suppress(SubscriptionError):
                key = ("unsubscribed", subscription_id)
                await self._request(key, codec.encode_unsubscribe(subscription_id))

    def add_message_handler(self, data_type: str, handler: Handler) -> None:
        """Call ``handler(data)`` for every message of ``data_type`` ("debug": every one)."""
        if not callable(handler):
            raise ConfigError("handler must be callable")
        self._dispatch.add(data_type, handler)

    def remove_message_handler(self, data_type: str, handler: Handler) -> None:
        self._dispatch.remove(data_type, handler)

    def add_frame_handler(self, handler: FrameHandler) -> None:
        """Call ``handler(messages)`` once per frame with its data and gap messages, in order.

        The fast path for consumers that write in bulk (the CLI's JSON lines).
        """
        if not callable(handler):
            raise ConfigError("handler must be callable")
        self._dispatch.add_frame(handler)

    def remove_frame_handler(self, handler: FrameHandler) -> None:
        self._dispatch.remove_frame(handler)

    async def list_symbols(self) -> list[str]:
        reply = await self._request(("symbols", None), codec.encode_list_symbols())
        return list(reply["symbols"])

    async def ping(self) -> float:
        """Application-level round trip to the server, in seconds."""
        self._nonce += 1
        nonce = self._nonce
        started = time.perf_counter()
        await self._request(("pong", nonce), codec.encode_ping(nonce))
        return time.perf_counter() - started

    async def get_stats(self) -> dict[str, Any]:
        return self.stats_snapshot()

    def stats_snapshot(self) -> dict[str, Any]:
        now = time.time()
        p50 = self._latency.percentile(50)
        p99 = self._latency.percentile(99)
        uptime = timedelta(seconds=now - self._connected_at) if self._connected_at else timedelta()
        buffer = self._buffer
        return {
            "messages_received": self.messages_received,
            "messages_sent": self.messages_sent,
            "reconnect_count": self.reconnect_count,
            "errors": self.errors + self._dispatch.failures,
            "state": self._state.value,
            "connection_id": self.connection_id,
            "subscriptions_count": len(self._subs),
            "uptime": str(uptime),
            "uptime_seconds": round(uptime.total_seconds(), 3),
            "url": self.config.safe_url,
            "messages_per_second": round(self._rate.rate(now), 1),
            "latency_p50_ms": None if p50 is None else round(p50 * 1000, 3),
            "latency_p99_ms": None if p99 is None else round(p99 * 1000, 3),
            "gaps": self.gaps,
            "duplicates_dropped": self.duplicates,
            "decode_errors": self.decode_errors,
            "handler_errors": self._dispatch.failures,
            "unknown_messages": self.unknown_messages,
            "last_message_age": (
                None if self._last_message_at is None else round(now - self._last_message_at, 3)
            ),
            "last_error": self.last_error,
            "queue_depth": buffer.depth if buffer else 0,
            "queue_capacity": self.config.queue_size,
            "backpressure_pauses": buffer.pauses if buffer else 0,
        }

    # --- the connection loop ----------------------------------------------------------

    def _ensure_loop_objects(self) -> None:
        if self._connected is None:
            self._connected = asyncio.Event()
        if self._buffer is None:
            self._buffer = MessageBuffer(self.config.queue_size)

    def _give_up(self, error: ArgusError) -> None:
        self.failure = error
        self.last_error = str(error)
        self._state = ConnectionState.ERROR
        log.error("%s", error, extra={"argus_final": True})

    async def _run(self) -> None:
        config = self.config
        backoff = Backoff(config.reconnect_delay, cap=config.max_backoff)
        limit = max(1, config.max_reconnect_attempts)
        failures = 0
        ever_connected = False
        while not self._closing:
            self._state = (
                ConnectionState.RECONNECTING if ever_connected else ConnectionState.CONNECTING
            )
            retry_after: float | None = None
            try:
                ws = await open_connection(config)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure = classify(exc, config)
                self.last_error = str(failure.error)
                if failure.fatal:
                    self._give_up(failure.error)
                    return
                retry_after = failure.retry_after
                failures += 1
            else:
                if ever_connected:
                    self.reconnect_count += 1
                ever_connected = True
                healthy = await self._session(ws)
                if self._closing:
                    return
                if healthy:
                    failures = 0
                    backoff.reset()
                else:
                    failures += 1  # accepted, then lost before it was any use
            if failures >= limit:
                message = (
                    f"gave up on {config.safe_url} after {failures} consecutive failed "
                    f"attempt{'s' if failures != 1 else ''}: {self.last_error}"
                )
                self._give_up(ReconnectExhausted(message, url=config.safe_url, attempts=failures))
                return
            delay = backoff.next_delay()
            if retry_after is not None:
                delay = max(delay, retry_after)
            if failures:
                log.warning(
                    "%s; retrying in %.1fs (failure %d of %d)",
                    self.last_error,
                    delay,
                    failures,
                    limit,
                )
            else:
                log.warning("%s; reconnecting in %.1fs", self.last_error, delay)
            self._state = ConnectionState.RECONNECTING
            await asyncio.sleep(delay)

    async def _session(self, ws: ClientConnection) -> bool:
        """Serve one connection until it closes; True if it became healthy."""
        assert self._connected is not None and self._buffer is not None
        self._ws = ws
        self._healthy = False
        self._connected_at = time.time()
        opened = time.monotonic()
        try:
            restored: set[str] = set()
            while pending := [s for s in self._subs if s not in restored]:
                for sub_id in pending:  # subscribe() may add more meanwhile: loop until none
                    if sub_id in self._subs:
                        await self._send(self._encode_sub(sub_id, resume=True))
                    restored.add(sub_id)
            self._state = ConnectionState.CONNECTED
            self._connected.set()
            log.info("connected to %s", self.config.safe_url)
            buffer = self._buffer
            ingest = self._ingest
            async for frame in ws:
                batch = ingest(frame)
                if batch and not buffer.offer(batch):
                    await buffer.put(batch)  # full: stop reading until there is room
        except ConnectionClosed as exc:
            self.last_error = f"connection closed: {describe_close(exc)}"
        except OSError as exc:
            self.last_error = f"connection lost: {exc}"
        else:
            self.last_error = f"connection closed: {describe_close_ws(ws)}"
        finally:
            self._ws = None
            self._connected.clear()
            self._connected_at = None
            if time.monotonic() - opened >= HEALTHY_AFTER:
                self._healthy = True  # up long enough; a data message also counts (_ingest)
        return self._healthy

    # --- receiving --------------------------------------------------------------------

    def _ingest(self, frame: str | bytes) -> list[Message] | None:
        """Decode, sequence-check and stamp one frame; returns what to dispatch."""
        messages, errors = codec.decode_frame(frame)
        now = time.time()
        if errors:
            for error in errors:
                if isinstance(error, UnknownMessageType):
                    self.unknown_messages += 1
                    log.debug("skipped: %s", error)
                else:
                    self.decode_errors += 1
                    self.errors += 1
                    log.warning("skipped a bad frame from %s: %s", self.config.safe_url, error)
        if not messages:
            return None
        self.messages_received += len(messages)
        self._last_message_at = now
        out: list[Message] = []
        observe = self._tracker.observe
        tracking = self._tracking
        latency = self._latency
        source = self.source
        data_count = 0
        for msg in messages:
            kind = msg["type"]
            if kind in DATA_TYPES:
                data_count += 1
                sub_id = msg["sub"]
                track = tracking.get(sub_id)
                if track is None:
                    continue  # a subscription we dropped: late data
                seq = msg["seq"]
                first_missing = observe(sub_id, msg["symbol"], kind, seq, track)
                if first_missing < 0:
                    self.duplicates += 1
                    continue
                msg["source"] = source
                msg["received"] = now
                if first_missing:
                    self.gaps += 1
                    out.append(self._gap_record(msg, first_missing, seq - 1, now))
                latency.add(now - msg["timestamp"])
                out.append(msg)
            else:
                self._on_control(msg, now, out)
        if data_count:
            self._healthy = True
            self._rate.add(now, data_count)
        return out

    def _gap_record(self, msg: Message, first: int, last: int, now: float) -> Message:
        log.warning("gap: %s %s seq %d..%d missing", msg["symbol"], msg["type"], first, last)
        return {
            "type": "gap",
            "symbol": msg["symbol"],
            "from_seq": first,
            "to_seq": last,
            "reason": "sequence_jump",
            "sub": msg["sub"],
            "data_type": msg["type"],
            "source": self.source,
            "received": now,
        }

    def _on_control(self, msg: Message, now: float, out: list[Message]) -> None:
        kind = msg["type"]
        if kind == "welcome":
            self.connection_id = msg["connection_id"]
        elif kind == "gap":
            sub_id = msg.get("sub") if isinstance(msg.get("sub"), str) else None
            self._tracker.skip_to(sub_id, msg["symbol"], msg["to_seq"])
            self.gaps += 1
            msg["source"] = self.source
            msg["received"] = now
            log.warning(
                "gap: %s seq %d..%d no longer held by the server",
                msg["symbol"],
                msg["from_seq"],
                msg["to_seq"],
            )
        elif kind == "error":
            self._on_error(msg)
        elif kind in ("subscribed", "unsubscribed"):
            self._replies.resolve((kind, msg["id"]), msg)
        elif kind == "symbols":
            self._replies.resolve(("symbols", None), msg)
        elif kind == "pong":
            self._replies.resolve(("pong", msg.get("nonce")), msg)
        out.append(msg)

    def _on_error(self, msg: Message) -> None:
        self.errors += 1
        sub_id = msg.get("id")
        text = f"server error {msg['code']}: {msg['message']}"
        self.last_error = text
        awaited = sub_id is not None and self._replies.waiting(("subscribed", sub_id))
        where = ""
        if sub_id:
            sub = self._subs.get(sub_id)
            symbols = f" {','.join(sub.symbols)}" if sub else ""
            where = f" (subscription {sub_id}{symbols})"
        # the caller of subscribe() gets the exception; anything else is said here
        log.log(logging.INFO if awaited else logging.WARNING, "%s%s", text, where)
        if sub_id is None:
            return
        error = SubscriptionError(msg["message"], code=msg["code"], subscription_id=sub_id)
        if not self._replies.fail(("subscribed", sub_id), error) and (
            msg["code"] not in ("unknown_subscription", "duplicate_id", "rate_limited")
            and sub_id in self._subs
        ):
            self._forget(sub_id)  # restored after a reconnect, then refused: dropped, loudly
        self._replies.fail(("unsubscribed", sub_id), error)

    def _forget(self, sub_id: str) -> None:
        self._subs.pop(sub_id, None)
        self._tracking.pop(sub_id, None)
        self._tracker.forget(sub_id)

    # --- sending ----------------------------------------------------------------------

    def _encode_sub(self, sub_id: str, resume: bool = False) -> bytes:
        sub = self._subs[sub_id]
        point = None
        if resume and sub.update_frequency == "realtime":
            point = self._tracker.resume_point(sub_id, sub.symbols, sub.data_types) or None
        return codec.encode_subscribe(
            sub_id, sub.symbols, sub.data_types, sub.update_frequency, sub.filters, point
        )

    async def _send(self, data: bytes) -> None:
        ws = self._ws
        if ws is None:
            raise NotConnectedError(f"not connected to {self.config.safe_url}")
        await ws.send(data, text=True)
        self.messages_sent += 1
        log.debug("sent %s", data[:200])

    async def _request(self, key: tuple[str, Any], data: bytes) -> Message:
        if self._ws is None:
            raise NotConnectedError(f"not connected to {self.config.safe_url}")
        future = self._replies.expect(key)
        try:
            await self._send(data)
            return await asyncio.wait_for(future, self.config.timeout)
        except TimeoutError:
            raise ReplyTimeout(
                f"no reply to {key[0]} within {self.config.timeout:g}s from {self.config.safe_url}"
            ) from None
        except ConnectionClosed:
            raise NotConnectedError(f"connection to {self.config.safe_url} closed") from None
        finally:
            self._replies.done_with(key, future)
