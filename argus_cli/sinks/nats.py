"""Publish normalized events to NATS: JetStream where a stream covers them, core NATS elsewhere.

Each event goes out as the JSON that ``argus stream --json`` prints (without
the newline) on its subject (``protocol/subjects.py``). ``write`` never waits
for the broker: events go into a bounded buffer (``buffer_bytes``) that a
background task sends on. While the broker is away (down at start, restarting,
a JetStream leader election of a few seconds) the buffer holds what arrives;
when it is full the oldest events are dropped, counted in ``dropped``, and said
once per outage in the log. nats-py reconnects; the buffer then drains.

JetStream: at every (re)connection the publisher reads which streams exist and
their subjects; an event whose subject one of them covers is published through
JetStream (``publish_async``, up to ``WINDOW`` acknowledgements outstanding),
with ``Nats-Msg-Id`` from ``subjects.msg_id``, so a retried publish, a
reconnect's replay or a second argus ingesting the same feed is stored once.
An event that is not acknowledged (a timeout, no responders during an election,
a dropped connection) goes back to the front of the buffer and is sent again
with the same id. Subjects no stream covers go out on core NATS (at most once;
the id rides along as a header, for consumers that drop copies).

``close`` drains for at most ``drain_timeout`` seconds and counts what could
not be sent in ``dropped``. The SDK never prints: the figures are in
``stats()`` and the CLI says them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.js.errors import APIError, NoStreamResponseError, NotFoundError

from ..client.redact import redact_url
from ..events import Event
from ..protocol import subjects
from .base import encode_each

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.js import JetStreamContext

log = logging.getLogger("argus_cli.sinks")

__all__ = ["DEFAULT_BUFFER_BYTES", "DEFAULT_DRAIN_TIMEOUT", "NatsPublisher"]

DEFAULT_BUFFER_BYTES = 64 * 1024 * 1024  # ~10 s of a 30k msg/s feed at ~200 B a line
DEFAULT_DRAIN_TIMEOUT = 10.0
WINDOW = 4096  # JetStream acknowledgements outstanding
ACK_TIMEOUT = 2.0  # an unacknowledged publish is sent again after this
# While the oldest acknowledgement is this late, nothing new is sent: an election is
# probably under way, and what is sent meanwhile would be stored ahead of the retries.
STALL_PAUSE = 0.5
RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0)
CONNECT_TIMEOUT = 2
RECONNECT_WAIT = 0.5
STREAMS_REFRESH = 30.0  # seconds between re-reads of the streams (a stream made later is found)

FIRST = asyncio.FIRST_COMPLETED
# (subject, payload, Nats-Msg-Id or None)
_Item = tuple[str, bytes, str | None]


class NatsPublisher:
    """A sink that publishes every event it is given to NATS (see the module doc)."""

    def __init__(
        self,
        servers: Sequence[str],
        *,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        drain_timeout: float = DEFAULT_DRAIN_TIMEOUT,
        epoch_of: Callable[[str], str | None] | None = None,
        name: str = "argus publish",
    ) -> None:
        """``epoch_of(source)``: the source's current sequence space (the server's
        ``epoch``), part of every message id, or None."""
        if not servers:
            raise ValueError("give at least one NATS server URL")
        self.servers = list(servers)
        self.buffer_bytes = buffer_bytes
        self.drain_timeout = drain_timeout
        self.epoch_of = epoch_of
        self.name = name
        self.published = 0  # stored (JetStream acknowledged) or handed to core NATS
        self.duplicates = 0  # acknowledged as already stored (a retry or a second publisher)
        self.dropped = 0
        self.unsent_at_close = 0  # part of ``dropped``: still buffered when the drain ran out
        self.state = "connecting"
        self.last_error: str | None = None
        self.streams: dict[str, list[str]] = {}  # stream name -> its subjects
        self._queue: deque[_Item] = deque()
        self._queued_bytes = 0
        self._inflight: deque[tuple[_Item, asyncio.Future[Any], float]] = deque()
        self._subjects: dict[tuple[str, str, str], str] = {}
        self._covered: dict[str, bool] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set when nothing is buffered or unacknowledged
        self._connected = asyncio.Event()
        self._closing = False
        self._outage_said = False
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._task: asyncio.Task[None] | None = None
        self._streams_read = 0.0
        self._state_at_close = ""
        self._streams_known = False

    # -- the sink interface -------------------------------------------------------

    async def open(self) -> None:
        """Start connecting in the background: ingest never waits for the broker."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="argus-nats-publish")

    async def write(self, events: Sequence[Event]) -> None:
        queue, cache, epoch_of = self._queue, self._subjects, self.epoch_of
        added = 0
        # each payload the very line --json prints (without its newline)
        for event, payload in zip(events, encode_each(events), strict=True):
            key = (event["source"], event["type"], event["symbol"])
            subject = cache.get(key)
            if subject is None:
                subject = cache[key] = subjects.subject_for(event)
            mid = subjects.msg_id(event, epoch_of(event["source"]) if epoch_of else None)
            queue.append((subject, payload, mid))
            added += len(payload)
        self._queued_bytes += added
        if self._queued_bytes > self.buffer_bytes:
            self._shed()
        self._wake.set()

    async def close(self) -> None:
        """Send what is buffered (at most ``drain_timeout`` seconds), then disconnect."""
        if self._closing:
            return
        self._closing = True
        self._wake.set()
        task = self._task
        if task is not None:
            deadline = time.monotonic() + self.drain_timeout
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._drained(deadline), max(0.0, self.drain_timeout))
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._state_at_close = self.state
        await self._requeue_inflight()  # acknowledged ones counted as published
        unsent = len(self._queue)
        if unsent:
            self.unsent_at_close = unsent
            self.dropped += unsent
            self._queue.clear()
            self._inflight.clear()
            self._queued_bytes = 0
        nc, self._nc = self._nc, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 2.0)
        self.state = "closed"

    # -- figures --------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        return len(self._queue) + len(self._inflight)

    @property
    def mode(self) -> str:
        """``jetstream`` when a stream covers the subjects published so far, ``core``
        when none does, ``mixed`` for some of each."""
        kinds = set(self._covered.values())
        if len(kinds) == 2:
            return "mixed"
        return "jetstream" if True in kinds else "core"

    def stats(self) -> dict[str, Any]:
        return {
            "servers": [redact_url(s) for s in self.servers],
            "state": self.state,
            "mode": self.mode,
            "streams": sorted(self.streams),
            "published": self.published,
            "duplicates": self.duplicates,
            "buffered": self.buffered,
            "dropped": self.dropped,
            "last_error": self.last_error,
        }

    def drop_reason(self) -> str:
        """Why events were dropped, for the one line the CLI prints."""
        if self._state_at_close not in ("connected", ""):
            reason = "NATS unreachable"
        elif self.unsent_at_close and self.unsent_at_close == self.dropped:
            return f"not sent within the {self.drain_timeout:g} s drain"
        else:
            reason = "NATS slower than the feed"
        return f"{reason}: {self.last_error}" if self.last_error else reason

    # -- internals --------------------------------------------------------------------

    def _shed(self) -> None:
        """Drop the oldest buffered events until the buffer fits again."""
        queue = self._queue
        while self._queued_bytes > self.buffer_bytes and queue:
            _, payload, _ = queue.popleft()
            self._queued_bytes -= len(payload)
            self.dropped += 1
        if not self._outage_said:
            self._outage_said = True
            log.warning(
                "NATS %s: the publish buffer (%d MiB) is full; dropping the oldest events "
                "until the broker takes them again (%s)",
                self.state,
                self.buffer_bytes // (1024 * 1024),
                self.last_error or "it is slower than the feed",
            )

    async def _drained(self, deadline: float) -> None:
        """Return once everything buffered is sent and acknowledged (the caller bounds
        the wait)."""
        while self._queue or self._inflight:
            self._idle.clear()
            self._wake.set()
            await self._idle.wait()
        nc = self._nc
        if nc is not None and nc.is_connected:  # core publishes: on the wire and read
            await nc.flush(timeout=max(1, int(deadline - time.monotonic())))

    async def _on_error(self, exc: Exception) -> None:
        reason = str(exc) or type(exc).__name__
        self.last_error = reason
        if self.state == "connecting" and not self._outage_said:
            log.warning(
                "NATS %s unreachable (%s); buffering and retrying",
                ", ".join(redact_url(s) for s in self.servers),
                reason,
            )
            self._outage_said = True

    async def _on_disconnected(self) -> None:
        if self.state != "closed":
            self.state = "disconnected"
        self._connected.clear()

    async def _on_reconnected(self) -> None:
        self.state = "connected"
        self._outage_said = False
        self._streams_read = 0.0  # read the streams again: the cluster may have changed
        self._connected.set()
        self._wake.set()

    async def _run(self) -> None:
        import nats

        self._nc = nc = await nats.connect(
            self.servers,
            name=self.name,
            connect_timeout=CONNECT_TIMEOUT,
            reconnect_time_wait=RECONNECT_WAIT,
            max_reconnect_attempts=-1,  # nats-py keeps trying; the buffer holds meanwhile
            allow_reconnect=True,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            skip_subject_validation=True,  # argus builds valid subjects
        )
        self._js = nc.jetstream(publish_async_max_pending=WINDOW)
        self.state = "connected"
        self._outage_said = False
        self._connected.set()
        failures = 0
        while True:
            if not nc.is_connected:  # nats-py reconnects (its callbacks set the event)
                await self._requeue_inflight()
                self._connected.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._connected.wait(), RECONNECT_WAIT)
                continue
            if time.monotonic() - self._streams_read > STREAMS_REFRESH:
                await self._read_streams()
            if not self._streams_known:  # never guess core NATS before the streams are read
                await asyncio.sleep(RETRY_DELAYS[0])
                continue
            try:
                progressed = await self._pump(nc)
            except Exception as exc:  # no responders, timeouts, a connection lost mid-send
                self.last_error = str(exc) or type(exc).__name__
                await self._requeue_inflight()
                delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                failures += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._connected.wait(), delay)
                await asyncio.sleep(delay if nc.is_connected else 0)
                continue
            failures = 0
            if not self._queue and not self._inflight:
                self._idle.set()  # for close(): everything sent and acknowledged
            if not progressed:
                self._wake.clear()
                if not self._queue and not self._inflight:
                    await self._wake.wait()

    async def _read_streams(self) -> None:
        """Which streams exist, and which subjects they hold (JetStream may be off)."""
        js = self._js
        assert js is not None
        self._streams_read = time.monotonic()
        try:
            infos = await js.streams_info()
        except Exception as exc:
            if not self._streams_known and isinstance(exc, (NotFoundError, NoRespondersError)):
                infos = []  # JetStream is not enabled on the server: core NATS
            else:  # an election, a timeout: what was known stands (never a silent switch
                # to core NATS, whose messages a leaderless stream would not keep)
                log.debug("cannot read the JetStream streams now (%s)", exc)
                self._streams_read = time.monotonic() - STREAMS_REFRESH + 1.0  # again in 1 s
                return
        self._streams_known = True
        streams = {
            info.config.name: list(info.config.subjects or [])
            for info in infos
            if info.config.name and not info.config.sealed
        }
        # A cluster between leaders may list no streams at all: a stream known before
        # goes only once the server says it is not found.
        for name, patterns in self.streams.items():
            if name not in streams:
                try:
                    await js.stream_info(name)
                except NotFoundError:
                    continue
                except Exception as exc:
                    log.debug("cannot check stream %s now (%s)", name, exc)
                streams[name] = patterns
        if streams != self.streams:
            self.streams = streams
            self._covered.clear()

    def _is_covered(self, subject: str) -> bool:
        covered = self._covered.get(subject)
        if covered is None:
            covered = self._covered[subject] = any(
                subjects.matches(pattern, subject)
                for patterns in self.streams.values()
                for pattern in patterns
            )
        return covered

    async def _pump(self, nc: NATS) -> bool:
        """Send from the buffer and settle acknowledgements; True when anything moved.
        Raises on a failed or late acknowledgement (the caller requeues and waits)."""
        js = self._js
        assert js is not None
        queue, inflight = self._queue, self._inflight
        moved = False
        limit = nc.max_payload
        while queue and len(inflight) < WINDOW and nc.is_connected:
            oldest = inflight[0] if inflight else None
            if oldest and time.monotonic() - oldest[2] > STALL_PAUSE and not oldest[1].done():
                break
            item = queue.popleft()
            subject, payload, mid = item
            self._queued_bytes -= len(payload)
            if len(payload) > limit:  # the server would refuse it: said and counted
                self.dropped += 1
                self.last_error = f"an event on {subject} is over the server's {limit}-byte limit"
                log.error("NATS: %s (dropped)", self.last_error)
                moved = True
                continue
            headers = {"Nats-Msg-Id": mid} if mid else None
            try:
                if self._is_covered(subject):
                    future = await js.publish_async(subject, payload, headers=headers)
                    inflight.append((item, future, time.monotonic()))
                else:  # the id too: a consumer of core NATS drops a second publisher's copy
                    await nc.publish(subject, payload, headers=headers)
                    self.published += 1
            except BaseException:  # not sent: back to the front, in order
                queue.appendleft(item)
                self._queued_bytes += len(payload)
                raise
            moved = True
        while inflight:
            item, future, sent = inflight[0]
            if not future.done():
                stalled = time.monotonic() - sent > STALL_PAUSE
                if moved and queue and len(inflight) < WINDOW and not stalled:
                    return True  # more to send first
                left = ACK_TIMEOUT - (time.monotonic() - sent)
                if left <= 0:
                    raise TimeoutError(f"no JetStream acknowledgement within {ACK_TIMEOUT:g} s")
                # the oldest acknowledgement, or (unless stalled) more to send
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                waited = (future,) if stalled else (future, waiter)
                try:
                    await asyncio.wait(waited, timeout=left, return_when=FIRST)
                finally:
                    waiter.cancel()
                if not future.done():
                    return moved
            inflight.popleft()
            exc = future.exception()
            if exc is None:
                if getattr(future.result(), "duplicate", False):
                    self.duplicates += 1
                else:
                    self.published += 1
            elif _permanent(exc):
                self.dropped += 1
                log.error("NATS refused an event on %s: %s (dropped)", item[0], exc)
            else:
                inflight.appendleft((item, future, sent))
                if isinstance(exc, NoStreamResponse):  # the stream may be gone: look again
                    self._streams_read = 0.0
                raise exc
            moved = True
        return moved

    async def _requeue_inflight(self) -> None:
        """Put every unacknowledged event back at the front, in order (sent again with
        the same id: the stream keeps one copy)."""
        inflight = self._inflight
        settled = []
        while inflight:
            item, future, _ = inflight.pop()
            if future.done() and not future.cancelled() and future.exception() is None:
                if getattr(future.result(), "duplicate", False):
                    self.duplicates += 1
                else:
                    self.published += 1
                continue
            future.cancel()
            settled.append(item)
        for item in settled:  # popped newest first: appendleft restores the order
            self._queue.appendleft(item)
            self._queued_bytes += len(item[1])
        if self._queued_bytes > self.buffer_bytes:
            self._shed()


NoStreamResponse = NoStreamResponseError
_RETRIED_CODES = frozenset({408, 500, 503})


def _permanent(exc: BaseException) -> bool:
    """A refusal sending again cannot mend (a message over the size limit, a bad
    header); elections, timeouts and lost connections are retried."""
    if isinstance(exc, APIError):
        return exc.code not in _RETRIED_CODES
    return not isinstance(exc, (NatsError, TimeoutError, OSError, asyncio.CancelledError))


# -- the stream argus publishes into (``argus nats init``) ------------------------------

STREAM_NAME = "ARGUS"
STREAM_SUBJECTS = (f"{subjects.PREFIX}.>",)
DEFAULT_MAX_AGE = 24 * 3600.0  # seconds a message is kept
DEFAULT_MAX_BYTES = 1024**3  # the stream's size limit; the oldest go first
DUPLICATE_WINDOW = 120.0  # seconds a Nats-Msg-Id is remembered (JetStream's default)


async def ensure_stream(
    servers: Sequence[str],
    *,
    name: str = STREAM_NAME,
    max_age: float = DEFAULT_MAX_AGE,
    max_bytes: int = DEFAULT_MAX_BYTES,
    replicas: int = 1,
    timeout: float = 10.0,
) -> tuple[str, dict[str, Any]]:
    """Create the stream on ``argus.>`` (file storage, oldest discarded at the limits,
    ``DUPLICATE_WINDOW`` de-duplication), or bring an existing one to these limits.
    Returns ("created" | "updated" | "unchanged", the stream's settings)."""
    import nats
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    nc = await asyncio.wait_for(
        nats.connect(list(servers), connect_timeout=CONNECT_TIMEOUT, error_cb=_quiet),
        timeout,
    )
    try:
        js = nc.jetstream(timeout=timeout)
        config = StreamConfig(
            name=name,
            subjects=list(STREAM_SUBJECTS),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=max_age,
            max_bytes=max_bytes,
            num_replicas=replicas,
            duplicate_window=DUPLICATE_WINDOW,
            description="argus normalized market events (argus stream --publish)",
        )
        try:
            info = await js.stream_info(name)
        except NotFoundError:
            info = await js.add_stream(config)
            outcome = "created"
        else:
            current = info.config
            same = (
                current.max_age == max_age
                and current.max_bytes == max_bytes
                and current.num_replicas == replicas
                and list(current.subjects or []) == list(STREAM_SUBJECTS)
            )
            if same:
                outcome = "unchanged"
            else:
                info = await js.update_stream(config)
                outcome = "updated"
        settings = {
            "name": info.config.name,
            "subjects": list(info.config.subjects or []),
            "max_age": info.config.max_age,
            "max_bytes": info.config.max_bytes,
            "replicas": info.config.num_replicas,
            "duplicate_window": info.config.duplicate_window,
            "messages": info.state.messages,
        }
        return outcome, settings
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), 2.0)


async def _quiet(exc: Exception) -> None:
    """nats-py's default error callback prints a traceback per failed attempt."""
    log.debug("NATS: %s", exc)
