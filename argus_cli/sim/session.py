"""One client connection to the simulator: its subscriptions and its bounded send queue."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
)
from .market import Event

if TYPE_CHECKING:
    from .server import Simulator

log = logging.getLogger("argus_cli.sim")

__all__ = ["Route", "Session"]

MAX_FRAME_BYTES = 256 * 1024  # a batch frame stops growing past this
CLOSE_TIMEOUT = 2.0  # seconds for a closing handshake we started


@dataclass(eq=False, slots=True)
class Route:
    """A subscription as the market sees it: where each event of its symbols goes."""

    session: Session
    sub: Subscribe
    prefixes: dict[str, bytes]
    pending: dict[str, Event] = field(default_factory=dict)  # conflation: latest per symbol

    def passes(self, price: float) -> bool:
        sub = self.sub
        return (sub.min_price is None or price >= sub.min_price) and (
            sub.max_price is None or price <= sub.max_price
        )

    def deliver(self, event: Event) -> None:
        if not self.passes(event.price):
            return
        enqueue = self.session.enqueue
        for data_type, prefix in self.prefixes.items():
            enqueue(prefix + event.body(data_type))


class Session:
    def __init__(self, sim: Simulator, ws: ServerConnection) -> None:
        self.sim = sim
        self.ws = ws
        self.config = sim.config
        self.connection_id = str(ws.id)
        self.routes: dict[str, Route] = {}
        self.queue: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.paused = False  # chaos stall: neither sending nor reading
        self.last_send = time.monotonic()
        self.tokens = float(self.config.control_burst)
        self.refilled = time.monotonic()
        self.violations = 0
        self.bad_messages = 0
        self.flushers: dict[str, asyncio.Task[None]] = {}

    # --- outgoing ---------------------------------------------------------------------

    def enqueue(self, frame: bytes) -> None:
        if self.closed:
            return
        queue = self.queue
        if len(queue) >= self.config.send_queue:
            self.close(CloseCode.TRY_AGAIN, "slow consumer: send queue full")
            return
        queue.append(frame)
        if not self.wake.is_set():
            self.wake.set()

    def send_message(self, message: dict[str, Any]) -> None:
        self.enqueue(encode_message(message))

    async def sender(self) -> None:
        queue, ws, wake = self.queue, self.ws, self.wake
        chaos = self.sim.chaos
        while not (self.closed and not queue):
            if self.paused or (chaos is not None and chaos.is_quiet()):
                await asyncio.sleep(0.02)
                continue
            if not queue:
                wake.clear()
                await wake.wait()
                continue
            if len(queue) == 1:
                frame = queue.popleft()
            else:
                items = [queue.popleft()]
                size = len(items[0])
                while queue and len(items) < self.config.max_batch and size < MAX_FRAME_BYTES:
                    item = queue.popleft()
                    items.append(item)
                    size += len(item) + 1
                frame = b"[" + b",".join(items) + b"]"
            if chaos is not None:
                garbage = chaos.garbage_frame()
                if garbage is not None:
                    await ws.send(garbage, text=True)
            await ws.send(frame, text=True)
            self.last_send = time.monotonic()

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
            self.enqueue(
                encode_error(OpError(ErrorCode.RATE_LIMITED, "too many messages; slow down"))
            )
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
        prefixes = {
            t: b'{"type":"' + t.encode() + b'","sub":' + sub_json + b"," for t in sub.data_types
        }
        route = Route(self, sub, prefixes)
        market = self.sim.market
        # everything that can fail happens before the reply: refused whole, or started whole
        replays = {symbol: market.events_after(symbol, seq) for symbol, seq in sub.resume.items()}
        self.send_message(
            {
                "type": "subscribed",
                "id": sub.id,
                "symbols": list(sub.symbols),
                "data_types": list(sub.data_types),
                "update_frequency": sub.update_frequency,
            }
        )
        for symbol, (events, gap) in replays.items():
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
            for event in events:
                route.deliver(event)
        self.routes[sub.id] = route
        self.sim.attach(route)
        period = rules.FREQUENCY_SECONDS.get(sub.update_frequency)
        if period is not None:
            self.flushers[sub.id] = self.sim.spawn(self._flush_conflated(route, period))

    async def _flush_conflated(self, route: Route, period: float) -> None:
        while not self.closed and route.sub.id in self.routes:
            await asyncio.sleep(period)
            pending, route.pending = route.pending, {}
            for event in pending.values():
                route.deliver(event)

    def unsubscribe(self, request: Unsubscribe) -> None:
        route = self.routes.pop(request.id, None)
        if route is None:
            msg = f"no subscription with id {request.id}"
            self.reply_error(OpError(ErrorCode.UNKNOWN_SUBSCRIPTION, msg, request.id))
            return
        self.sim.detach_route(route)
        flusher = self.flushers.pop(request.id, None)
        if flusher is not None:
            flusher.cancel()
        self.send_message({"type": "unsubscribed", "id": request.id})

    async def run(self) -> None:
        self.send_message(
            {
                "type": "welcome",
                "protocol": rules.PROTOCOL_VERSION,
                "connection_id": self.connection_id,
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
        except ConnectionClosed:
            pass
        finally:
            received = self.ws.protocol.close_rcvd
            if received is not None and self.ws.protocol.close_rcvd_then_sent:
                peer = self.sim.client_closes  # closes the client started, by code
                peer[received.code] = peer.get(received.code, 0) + 1
            self.closed = True
            self.sim.detach(self)
            for task in (sender, beats, *self.flushers.values()):
                task.cancel()
            await asyncio.gather(sender, beats, *self.flushers.values(), return_exceptions=True)
