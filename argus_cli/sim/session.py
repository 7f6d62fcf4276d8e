"""One client connection to the simulator: its subscriptions and its bounded send queue.

Limits, per connection (what one client can make the server hold or do):

- The send queue is counted in messages and holds at most ``send_queue``
  (default 20,000). A message that would pass it closes the connection with
  1013 (slow consumer) and drops the queue; other connections carry on.
- Data waits in the queue unencoded: one entry per (subscription, event)
  names the event and the subscription's ``{"type":..,"sub":..,`` prefixes,
  and counts one message per data type. The sender encodes when it builds a
  frame (each event's body once, shared by every subscriber). So a full queue
  costs about 64 bytes an entry plus the events it names, at most
  ``send_queue`` entries whatever the subscriptions ask for, and a client that
  never reads costs no encoding at all. A live event is one object shared by
  every queue holding it; a replayed one is rebuilt from the market's ring
  (which holds events as numbers, ``market.EventRing``) for this queue. An
  event object is about 300 bytes, 450 with its price message encoded: at
  most about 10 MB for a full queue at the default, freed as it is sent.
- A frame holds at most ``max_batch`` messages (default 1,000) and about
  ``MAX_FRAME_BYTES`` (256 KiB), so building one is bounded work; websockets
  then holds at most its write buffer (32 KiB) plus the frame being written.
- Per event, a connection costs one queue entry per subscription on that
  symbol: at most ``max_subscriptions`` (100). Incoming messages are handled
  one per loop turn, so a burst of subscribes from many connections
  interleaves with everything else instead of running as one long step.
- A ``resume`` replays in slices that share this queue (``replay.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ..protocol import rules
from ..protocol.rules import CloseCode, ErrorCode
from ..protocol.server_codec import (
    ListSymbols,
    OpError,
    Ping,
    Request,
    Subscribe,
    Unsubscribe,
    decode_op,
    encode_error,
    encode_message,
    peek_id,
)
from .market import Event
from .replay import replay, replay_slice

if TYPE_CHECKING:
    from .server import Simulator

log = logging.getLogger("argus_cli.sim")

__all__ = ["Route", "Session"]

MAX_FRAME_BYTES = 256 * 1024  # a batch frame stops growing past this
CLOSE_TIMEOUT = 2.0  # seconds for a closing handshake we started

Streams: TypeAlias = tuple[tuple[bytes, str], ...]  # (message prefix, data type), per type
Entry: TypeAlias = bytes | tuple[Streams, Event]  # one encoded message, or an event's messages


@dataclass(eq=False, slots=True)
class Route:
    """A subscription as the market sees it: where each event of its symbols goes."""

    session: Session
    sub: Subscribe
    streams: Streams
    pending: dict[str, Event] = field(default_factory=dict)  # conflation: latest per symbol
    traded: dict[str, int] = field(default_factory=dict)  # conflation: the period's trade sizes

    def passes(self, price: float) -> bool:
        sub = self.sub
        return (sub.min_price is None or price >= sub.min_price) and (
            sub.max_price is None or price <= sub.max_price
        )

    def deliver(self, event: Event) -> None:
        if self.sub.filtered and not self.passes(event.price):
            return
        self.session.push(self.streams, event)


class Session:
    def __init__(self, sim: Simulator, ws: ServerConnection) -> None:
        self.sim = sim
        self.ws = ws
        self.config = sim.config
        self.connection_id = str(ws.id)
        self.routes: dict[str, Route] = {}
        self.queue: deque[Entry] = deque()
        self.queued = 0  # messages in the queue: an event entry counts one per data type
        self.limit = self.config.send_queue
        self.wake = asyncio.Event()  # set when the queue gets something
        self.drained = asyncio.Event()  # set each time a frame has left the queue
        self.closed = False
        self.paused = False  # chaos stall: neither sending nor reading
        self.last_send = time.monotonic()
        self.tokens = float(self.config.control_burst)
        self.refilled = time.monotonic()
        self.violations = 0
        self.bad_messages = 0
        self.tasks: dict[str, asyncio.Task[None]] = {}  # per subscription: conflation or replay

    # --- outgoing ---------------------------------------------------------------------

    def enqueue(self, frame: bytes) -> None:
        """Queue one encoded message (a reply or a notice)."""
        if self.closed:
            return
        if self.queued >= self.limit:
            self.close(CloseCode.TRY_AGAIN, "slow consumer: send queue full")
            return
        self.queue.append(frame)
        self.queued += 1
        if not self.wake.is_set():
            self.wake.set()

    def push(self, streams: Streams, event: Event) -> None:
        """Queue an event's messages, one per stream, unencoded (the hot path)."""
        if self.closed:
            return
        queued = self.queued + len(streams)
        if queued > self.limit:
            self.close(CloseCode.TRY_AGAIN, "slow consumer: send queue full")
            return
        self.queue.append((streams, event))
        self.queued = queued
        if not self.wake.is_set():
            self.wake.set()

    def send_message(self, message: dict[str, Any]) -> None:
        self.enqueue(encode_message(message))

    def next_frame(self) -> bytes:
        """Take up to ``max_batch`` messages (about ``MAX_FRAME_BYTES``) off the queue,
        encoded: a lone message as it is, several as a JSON array."""
        queue = self.queue
        limit = self.config.max_batch
        pieces = [b"["]
        count = size = 0
        while queue and count < limit and size < MAX_FRAME_BYTES:
            item = queue[0]
            if isinstance(item, bytes):
                queue.popleft()
                if count:
                    pieces.append(b",")
                pieces.append(item)
                size += len(item) + 1
                count += 1
                continue
            streams, event = item
            room = limit - count
            if len(streams) > room:  # split the entry: the batch limit is exact
                queue[0] = (streams[room:], event)
                streams = streams[:room]
            else:
                queue.popleft()
            for prefix, data_type in streams:
                body = event.body(data_type)
                if count:
                    pieces.append(b",")
                pieces.append(prefix)
                pieces.append(body)
                size += len(prefix) + len(body) + 1
                count += 1
        self.queued -= count
        if count == 1:
            return b"".join(pieces[1:])
        pieces.append(b"]")
        return b"".join(pieces)

    def sending_paused(self) -> bool:
        """True while chaos holds the sender (a stall, or a quiet window)."""
        chaos = self.sim.chaos
        return self.paused or (chaos is not None and chaos.is_quiet())

    async def sender(self) -> None:
        queue, ws, wake = self.queue, self.ws, self.wake
        chaos = self.sim.chaos
        while not (self.closed and not queue):
            if self.sending_paused():
                await asyncio.sleep(0.02)
                continue
            if not queue:
                wake.clear()
                await wake.wait()
                continue
            frame = self.next_frame()
            if chaos is not None:
                garbage = chaos.garbage_frame()
                if garbage is not None:
                    await ws.send(garbage, text=True)
            await ws.send(frame, text=True)
            self.last_send = time.monotonic()
            self.drained.set()

    async def room_for(self, count: int, share: int) -> bool:
        """Wait until ``count`` more messages keep the queue within ``share`` messages.

        An empty queue always has room. A queue that does not move for
        ``drain_timeout`` seconds (chaos pauses aside) belongs to a slow
        consumer: the connection is closed with 1013. False once closing.
        """
        while not self.closed and self.queued and self.queued + count > share:
            self.drained.clear()
            try:
                async with asyncio.timeout(self.config.drain_timeout):
                    await self.drained.wait()
            except TimeoutError:
                if not self.sending_paused():
                    self.close(CloseCode.TRY_AGAIN, "slow consumer: send queue not draining")
        return not self.closed

    async def heartbeats(self) -> None:
        interval = self.config.heartbeat_interval
        while not self.closed:
            await asyncio.sleep(interval / 2)
            if not self.queue and time.monotonic() - self.last_send >= interval:
                self.send_message({"type": "heartbeat", "server_time": round(time.time(), 6)})

    def abort(self) -> None:
        """Drop the TCP connection at once: no close frame (chaos reset)."""
        transport = self.ws.transport
        if transport is not None:
            transport.abort()

    def stall(self) -> bool:
        """Stop sending and reading (so pongs stop too); False if there is no transport."""
        transport = self.ws.transport
        if transport is None:
            return False
        self.paused = True
        transport.pause_reading()
        return True

    def unstall(self) -> None:
        """Undo ``stall``."""
        self.paused = False
        self.wake.set()
        transport = self.ws.transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def close(self, code: int, reason: str, *, flush: bool = False) -> None:
        """Stop delivering and close the connection (in the background).

        ``flush`` first sends what is queued (the errors that explain a policy
        close); a slow consumer's queue is dropped instead.
        """
        if self.closed:
            return
        self.closed = True
        if not flush:
            self.queue.clear()
            self.queued = 0
        self.wake.set()
        self.sim.detach(self)
        self.sim.closes[code] = self.sim.closes.get(code, 0) + 1
        log.info("closing %s: %d %s", self.connection_id, code, reason)
        self.sim.spawn(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        # A peer that does not read never completes the closing handshake, and
        # websockets then waits on the full write buffer: bound it, then abort.
        try:
            deadline = time.monotonic() + CLOSE_TIMEOUT
            while self.queue and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.wait_for(self.ws.close(code, reason), CLOSE_TIMEOUT)
        except (TimeoutError, ConnectionClosed, OSError):
            pass
        finally:
            if self.ws.transport is not None and not self.ws.transport.is_closing():
                self.ws.transport.abort()

    # --- incoming ---------------------------------------------------------------------

    def _allow(self) -> bool:
        now = time.monotonic()
        cfg = self.config
        self.tokens = min(cfg.control_burst, self.tokens + (now - self.refilled) * cfg.control_rate)
        self.refilled = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def handle(self, data: str | bytes) -> None:
        if not self._allow():
            self.violations += 1
            if self.violations > self.config.max_violations:
                self.close(CloseCode.POLICY, "control message rate limit exceeded", flush=True)
                return
            error = OpError(ErrorCode.RATE_LIMITED, "too many messages; slow down", peek_id(data))
            self.enqueue(encode_error(error))
            return
        request = decode_op(data, self.sim.market.states)
        try:
            self._serve(request)
        except Exception:  # a bug of ours must not cost the client its connection
            log.exception("internal error handling a message on %s", self.connection_id)
            sub_id = getattr(request, "id", None)
            self.enqueue(encode_error(OpError(ErrorCode.INTERNAL, "internal server error", sub_id)))

    def _serve(self, request: Request | OpError) -> None:
        if isinstance(request, OpError):
            self.reply_error(request)
        elif isinstance(request, Subscribe):
            self.subscribe(request)
        elif isinstance(request, Unsubscribe):
            self.unsubscribe(request)
        elif isinstance(request, ListSymbols):
            self.send_message({"type": "symbols", "symbols": list(self.sim.market.symbols)})
        elif isinstance(request, Ping):
            self.send_message(
                {"type": "pong", "nonce": request.nonce, "server_time": round(time.time(), 6)}
            )

    def reply_error(self, error: OpError) -> None:
        if error.code in (ErrorCode.BAD_REQUEST, ErrorCode.UNKNOWN_OP):
            self.bad_messages += 1
            if self.bad_messages > self.config.max_bad_messages:
                self.close(CloseCode.POLICY, "too many bad messages", flush=True)
                return
        self.enqueue(encode_error(error))

    def subscribe(self, sub: Subscribe) -> None:
        if sub.id in self.routes:
            self.reply_error(
                OpError(ErrorCode.DUPLICATE_ID, f"subscription id in use: {sub.id}", sub.id)
            )
            return
        if len(self.routes) >= self.config.max_subscriptions:
            limit = self.config.max_subscriptions
            msg = f"at most {limit} subscriptions per connection"
            self.reply_error(OpError(ErrorCode.TOO_MANY_SUBSCRIPTIONS, msg, sub.id))
            return
        sub_json = orjson.dumps(sub.id)
        streams = tuple(
            (b'{"type":"' + t.encode() + b'","sub":' + sub_json + b",", t) for t in sub.data_types
        )
        route = Route(self, sub, streams)
        market = self.sim.market
        # everything that can fail happens before the reply: refused whole, or started whole
        size = replay_slice(self.limit, len(streams))
        plan = {
            symbol: market.events_after(symbol, seq, size) for symbol, seq in sub.resume.items()
        }
        self.send_message(
            {
                "type": "subscribed",
                "id": sub.id,
                "symbols": list(sub.symbols),
                "data_types": list(sub.data_types),
                "update_frequency": sub.update_frequency,
            }
        )
        slices: dict[str, list[Event]] = {}
        for symbol, (events, gap) in plan.items():
            if gap is not None:
                self.send_message(
                    {
                        "type": "gap",
                        "symbol": symbol,
                        "from_seq": gap[0],
                        "to_seq": gap[1],
                        "reason": "not_in_buffer",
                        "sub": sub.id,
                    }
                )
            if events:
                slices[symbol] = events
        self.routes[sub.id] = route
        # a symbol with events to replay goes live once its replay has caught up
        self.sim.attach(route, [s for s in sub.symbols if s not in slices])
        if slices:
            self.tasks[sub.id] = self.sim.spawn(replay(self, route, slices, size))
        period = rules.FREQUENCY_SECONDS.get(sub.update_frequency)
        if period is not None:
            self.tasks[sub.id] = self.sim.spawn(self._flush_conflated(route, period))

    async def _flush_conflated(self, route: Route, period: float) -> None:
        while not self.closed and route.sub.id in self.routes:
            await asyncio.sleep(period)
            pending, route.pending = route.pending, {}
            traded, route.traded = route.traded, {}
            for symbol, event in pending.items():
                size = traded.get(symbol, event.size)
                if size != event.size:  # volume: every trade of the period, summed
                    event = dataclasses.replace(event, size=size, _bodies={})
                route.deliver(event)

    def unsubscribe(self, request: Unsubscribe) -> None:
        route = self.routes.pop(request.id, None)
        if route is None:
            msg = f"no subscription with id {request.id}"
            self.reply_error(OpError(ErrorCode.UNKNOWN_SUBSCRIPTION, msg, request.id))
            return
        self.sim.detach_route(route)
        task = self.tasks.pop(request.id, None)
        if task is not None:
            task.cancel()
        self.send_message({"type": "unsubscribed", "id": request.id})

    async def run(self) -> None:
        self.send_message(
            {
                "type": "welcome",
                "protocol": rules.PROTOCOL_VERSION,
                "connection_id": self.connection_id,
                "epoch": self.sim.epoch,
                "server_time": round(time.time(), 6),
                "heartbeat_interval": self.config.heartbeat_interval,
            }
        )
        chaos = self.sim.chaos
        if chaos is not None and chaos.accept_close:
            self.close(CloseCode.INTERNAL, "closed after handshake (chaos accept-close)")
        sender = asyncio.create_task(self.sender())
        beats = asyncio.create_task(self.heartbeats())
        try:
            async for data in self.ws:
                if self.closed:  # closing: ignore the rest, let the close finish
                    continue
                self.handle(data)
                # websockets hands over queued messages without suspending: yield, so
                # a burst of subscribes is one message per connection per loop turn
                await asyncio.sleep(0)
        except ConnectionClosed:
            pass
        finally:
            received = self.ws.protocol.close_rcvd
            if received is not None and self.ws.protocol.close_rcvd_then_sent:
                peer = self.sim.client_closes  # closes the client started, by code
                peer[received.code] = peer.get(received.code, 0) + 1
            self.closed = True
            self.sim.detach(self)
            tasks = (sender, beats, *self.tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
