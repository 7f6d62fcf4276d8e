"""The market simulator's WebSocket server: the market driver and the connections.

Usable from Python and tests::

    async with Simulator(SimulatorConfig(port=0, rate=50)) as sim:
        url = sim.url           # ws://127.0.0.1:PORT/ws

Any request path is accepted. Auth (Bearer key, constant-time compare) and the
connection cap are enforced before the upgrade (HTTP 401 / 503); a request
with more than one ``Authorization`` header is refused with HTTP 400.

Fan-out. ``routes`` maps each symbol to the live routes (subscriptions) that
want it, as an insertion-ordered dict used as a set: attaching or detaching a
(route, symbol) pair is O(1), so closing a connection costs what it holds
(subscriptions x symbols), never that times everyone else's. ``publish``
iterates a snapshot of a symbol's routes, because a delivery can close a slow
consumer, which detaches its routes mid-publish. The market yields to the
event loop after every ``PUBLISH_SLICE`` (2,000) route deliveries, so a tick
with a huge fan-out (many subscriptions, or catching up after a stall) never
holds the loop for long. What one connection may hold is bounded in
``session.py`` (send queue) and ``replay.py`` (resume slices).

``epoch`` names this simulator's sequence space (docs/PROTOCOL.md, ``welcome``): the
UTC time the market was made, ISO form, plus 8 random hex digits. It is made
once with the market, so it stays the same on every connection while the seq
counters live, and differs between two ``Simulator`` instances.

``replay=path`` serves a recording instead of the market model
(``recorded.RecordedMarket``): paced by ``speed``, from ``replay_delay`` after
the first subscribe, again from the start with ``loop``; sessions, resume,
conflation and filters work on its events as on the model's.

Config values that name symbols are checked against the market: ``chaos``
muting a symbol the simulator does not serve is a ``ChaosSpecError``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import os
import random
import secrets
import ssl as ssl_module
import time
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, assert_never

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from ..client.redact import install_log_redaction
from ..exceptions import ChaosSpecError
from .chaos import AbortAll, Chaos, ChaosAction, CloseAll, EndStall, StartStall
from .market import Event, Market
from .recorded import RecordedMarket
from .session import Route, Session

log = logging.getLogger("argus_cli.sim")

__all__ = ["PUBLISH_SLICE", "Simulator", "SimulatorConfig"]

PUBLISH_SLICE = 2_000  # route deliveries the market makes before it yields to the loop


@dataclass
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    symbols: Mapping[str, float] | Sequence[str] | None = None
    rate: float = 5.0  # events per second per symbol
    seed: int | None = None
    api_key: str | None = None  # None: read ARGUS_SERVER_API_KEY; "" disables auth
    ring_size: int = 10_000
    max_subscriptions: int = 100
    max_frame: int = 64 * 1024
    send_queue: int = 20_000  # messages; beyond it the client is closed with 1013
    drain_timeout: float = 5.0  # a resume replay waiting on a queue that never moves: 1013
    max_batch: int = 1_000
    max_connections: int = 1_000
    heartbeat_interval: float = 30.0
    ping_timeout: float = 20.0
    control_rate: float = 50.0  # control messages per second, refilled
    control_burst: int = 100
    max_violations: int = 20  # rate-limited messages before close 1008
    max_bad_messages: int = 100  # bad requests before close 1008
    tick: float = 0.005
    chaos: str | None = None
    ssl: ssl_module.SSLContext | None = None  # serve wss:// (used by tests)
    replay: str | Path | None = None  # serve this recording instead of the market model
    speed: float | None = 1.0  # replay pacing: x the recorded pace; None: as fast as possible
    loop: bool = False  # replay: start the recording again at its end
    replay_delay: float = 0.2  # replay: seconds from the first subscribe to the first event

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"rate must be > 0 events per second, not {self.rate}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, not {self.port}")
        if self.send_queue < 1:
            raise ValueError(f"send_queue must be >= 1 message, not {self.send_queue}")
        if self.drain_timeout <= 0:
            raise ValueError(f"drain_timeout must be > 0 seconds, not {self.drain_timeout}")
        if self.speed is not None and not (self.speed > 0 and math.isfinite(self.speed)):
            raise ValueError(f"speed must be > 0 (or None: as fast as possible), not {self.speed}")
        if not self.replay_delay >= 0:
            raise ValueError(f"replay_delay must be >= 0 seconds, not {self.replay_delay}")


def new_epoch() -> str:
    """A fresh name for a sequence space: ``2026-11-29T08:00:00Z-7f3a9c01``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "-" + secrets.token_hex(4)


class Simulator:
    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config = config or SimulatorConfig()
        key = config.api_key
        if key is None:
            key = os.environ.get("ARGUS_SERVER_API_KEY") or None
        self._expected_auth = f"Bearer {key}".encode() if key else None
        if key:  # websockets logs handshake headers at DEBUG: never the server's key
            install_log_redaction(key)
        self.market: Market | RecordedMarket
        if config.replay is not None:
            self.market = RecordedMarket(config.replay, ring_size=config.ring_size)
        else:
            self.market = Market(config.symbols, seed=config.seed, ring_size=config.ring_size)
        self.subscribed = asyncio.Event()  # set at the first subscribe: a replay starts then
        self.epoch = new_epoch()
        self.chaos = Chaos.parse(config.chaos, seed=config.seed) if config.chaos else None
        if self.chaos is not None:
            unknown = sorted(set(self.chaos.mute) - set(self.market.symbols))
            if unknown:
                raise ChaosSpecError(
                    f"mute={unknown[0]}: {unknown[0]} is not a symbol this simulator serves"
                )
        self.sessions: set[Session] = set()
        self.stalled: list[Session] = []  # chaos stall: the sessions to resume
        self.routes: dict[str, dict[Route, None]] = {}  # symbol -> live routes, as an ordered set
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._driver: asyncio.Task[None] | None = None
        self.port = config.port
        self.events_published = 0
        self.closes: dict[int, int] = {}  # close codes the server initiated, counted
        self.client_closes: dict[int, int] = {}  # close codes clients sent, counted

    # --- lifecycle --------------------------------------------------------------------

    @property
    def requires_key(self) -> bool:
        return self._expected_auth is not None

    @property
    def url(self) -> str:
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        scheme = "wss" if self.config.ssl is not None else "ws"
        return f"{scheme}://{host}:{self.port}/ws"

    async def start(self) -> None:
        cfg = self.config
        self._server = await serve(
            self._handle,
            cfg.host,
            cfg.port,
            process_request=self._process_request,
            max_size=cfg.max_frame,
            ping_interval=cfg.heartbeat_interval,
            ping_timeout=cfg.ping_timeout,
            close_timeout=2,
            compression=None,
            server_header="argus-sim",
            ssl=cfg.ssl,
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        self._driver = asyncio.create_task(self._drive())
        if self.chaos is not None:
            self.chaos.start()
            self.spawn(self._run_chaos(self.chaos))
        log.info("simulator listening on %s", self.url)

    async def stop(self) -> None:
        """Close every connection with 1001 (going away) and stop the market."""
        if self._driver is not None:
            self._driver.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._driver is not None:
            await asyncio.gather(self._driver, return_exceptions=True)

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- connections ------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self._expected_auth is not None:
            values = request.headers.get_all("Authorization")
            if len(values) > 1:
                return connection.respond(
                    HTTPStatus.BAD_REQUEST, "more than one Authorization header\n"
                )
            given = (values[0] if values else "").encode()
            if not hmac.compare_digest(given, self._expected_auth):
                response = connection.respond(
                    HTTPStatus.UNAUTHORIZED, "missing or invalid API key\n"
                )
                response.headers["WWW-Authenticate"] = 'Bearer realm="argus"'
                return response
        if self.chaos is not None:
            refused = self.chaos.refusal()
            if refused is not None:
                response = connection.respond(refused, f"refused by chaos mode ({refused})\n")
                if refused in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE):
                    response.headers["Retry-After"] = "1"
                return response
        if len(self.sessions) >= self.config.max_connections:
            response = connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too many connections\n")
            response.headers["Retry-After"] = "1"
            return response
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        session = Session(self, ws)
        self.sessions.add(session)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)

    def attach(self, route: Route, symbols: Iterable[str] | None = None) -> None:
        """Start live delivery of ``symbols`` (default: all the route's) to the route."""
        self.subscribed.set()
        for symbol in route.sub.symbols if symbols is None else symbols:
            self.routes.setdefault(symbol, {})[route] = None

    def detach_route(self, route: Route) -> None:
        """Stop live delivery to the route: O(1) per symbol."""
        for symbol in route.sub.symbols:
            routes = self.routes.get(symbol)
            if routes:
                routes.pop(route, None)

    def detach(self, session: Session) -> None:
        for route in list(session.routes.values()):
            self.detach_route(route)
        session.routes.clear()

    # --- chaos: the policy decides, the simulator acts -----------------------------------

    async def _run_chaos(self, chaos: Chaos) -> None:
        while (at := chaos.next_at()) is not None:
            await asyncio.sleep(max(0.0, at - chaos.clock()))
            for action in chaos.due():
                self.perform(action)

    def perform(self, action: ChaosAction) -> None:
        """Do a timed chaos action to the connections alive now."""
        if isinstance(action, AbortAll):
            for session in list(self.sessions):
                session.abort()
        elif isinstance(action, CloseAll):
            for session in list(self.sessions):
                session.close(action.code, action.reason)
        elif isinstance(action, StartStall):
            self.stalled = [session for session in self.sessions if session.stall()]
        elif isinstance(action, EndStall):
            stalled, self.stalled = self.stalled, []
            for session in stalled:
                session.unstall()
        else:
            assert_never(action)

    # --- the market -------------------------------------------------------------------

    def publish(self, event: Event) -> int:
        """Fan the event out to its symbol's routes; return how many routes that was."""
        self.events_published += 1
        routes = self.routes.get(event.symbol)
        if not routes:
            return 0
        copies = 1
        if self.chaos is not None:
            if not self.chaos.deliver(event):
                return 0
            copies += self.chaos.duplicate()
        # a snapshot: a delivery can close a slow consumer, which detaches its routes
        snapshot = tuple(routes)
        for route in snapshot:
            if route.sub.update_frequency == "realtime":
                for _ in range(copies):
                    route.deliver(event)
            else:
                route.pending[event.symbol] = event
                traded = route.traded
                traded[event.symbol] = traded.get(event.symbol, 0) + event.size
        return len(snapshot)

    async def _drive(self) -> None:
        if isinstance(self.market, RecordedMarket):
            await self._drive_recorded(self.market)
            return
        loop = asyncio.get_running_loop()
        cfg = self.config
        market = self.market
        rng = random.Random(cfg.seed)
        symbols = market.symbols
        owed = {s: rng.random() for s in symbols}
        last = loop.time()
        burst_cap = max(1.0, cfg.rate)  # never more than a second's worth at once
        while True:
            await asyncio.sleep(cfg.tick)
            now = loop.time()
            elapsed, last = now - last, now
            wall = time.time()
            chaos = self.chaos
            work = 0
            for symbol in symbols:
                due = min(burst_cap, owed[symbol] + cfg.rate * elapsed * rng.uniform(0.5, 1.5))
                count = int(due)
                owed[symbol] = due - count
                if count and chaos is not None and chaos.muted(symbol):
                    continue
                for _ in range(count):
                    work += 1 + self.publish(market.next_event(symbol, wall))
                    if work >= PUBLISH_SLICE:  # a long fan-out lets the loop breathe
                        work = 0
                        await asyncio.sleep(0)

    async def _drive_recorded(self, market: RecordedMarket) -> None:
        """Publish the recording's events at its pace (by ``received``, x ``speed``),
        from ``replay_delay`` after the first subscribe; again from the start with ``loop``."""
        await self.subscribed.wait()
        # a client's several subscribes, sent together, all see the first event
        await asyncio.sleep(self.config.replay_delay)
        loop = asyncio.get_running_loop()
        speed = self.config.speed
        while True:
            start: float | None = None  # loop time of the pass's first event
            first_at = 0.0
            work = 0
            for tick in market.ticks():
                if start is None:
                    start, first_at = loop.time(), tick.at
                elif speed is not None:
                    delay = start + max(0.0, tick.at - first_at) / speed - loop.time()
                    if delay > 0:
                        work = 0
                        await asyncio.sleep(delay)
                chaos = self.chaos
                if chaos is not None and chaos.muted(tick.symbol):
                    continue
                work += 1 + self.publish(market.event(tick))
                if work >= PUBLISH_SLICE:  # a long fan-out lets the loop breathe
                    work = 0
                    await asyncio.sleep(0)
            if not self.config.loop:
                log.info("replay of %s finished", market.path)
                return
            await asyncio.sleep(0)
