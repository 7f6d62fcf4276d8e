"""Fault injection for the simulator (``argus serve --chaos SPEC``).

A spec is a comma-separated list of modes; durations take ``ms``, ``s`` or
``m`` (bare numbers are seconds), probabilities ``%``:

=======================  ==============================================================
``reset=5s``             every 5 s, abort every connection (TCP reset, no close frame)
``stall=30s:5s``         every 30 s, go silent for 5 s: no data and no pongs
``quiet=30s:5s``         every 30 s, send no data for 5 s but keep answering pings
``flap=10s:2s``          every 10 s, close every connection (1012) and refuse new
                         ones with HTTP 503 for 2 s
``accept-close``         close every connection right after the welcome (1011)
``refuse=429``           refuse every handshake with this HTTP status; ``refuse=503:50%``
                         refuses half of them
``garbage=1%``           before 1% of frames, send a malformed one (invalid JSON,
                         deep nesting, NaN, wrong types, unknown type)
``skip-seq=0.1%``        drop 0.1% of events on the way out (clients see a seq gap)
``dup-seq=0.1%``         send 0.1% of events twice (clients must drop the copy)
``mute=AAPL:10s``        AAPL does not trade for 10 s out of every 20 s
=======================  ==============================================================

Parsing is pure; ``Chaos.run`` drives the timed modes against a ``Simulator``.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..exceptions import ChaosSpecError
from ..protocol.rules import CloseCode
from .market import Event

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["GARBAGE_FRAMES", "Chaos", "ChaosSpecError", "parse_duration"]


GARBAGE_FRAMES: tuple[bytes, ...] = (
    b'{"type": "price", "sub": "x", "symbol": ',  # truncated JSON
    b"[" * 5000 + b"]" * 5000,  # deep nesting
    b'{"type":"price","sub":"x","symbol":"AAPL","price":NaN,"bid":1,"ask":1,"timestamp":1,"seq":1}',
    b'{"type":"price","sub":"x","symbol":"AAPL","price":"abc","bid":1,"ask":1,'
    b'"timestamp":1,"seq":1}',
    b'{"type":"price","sub":"x","symbol":"AAPL","price":1' + b"0" * 5000 + b"}",
    b'{"type":"surprise","payload":1}',
    b'"just a string"',
)

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")


def parse_duration(text: str) -> float:
    match = _DURATION_RE.match(text.strip())
    if not match:
        raise ChaosSpecError(f"invalid duration {text!r}: use e.g. 500ms, 5s or 1m")
    value = float(match.group(1))
    unit = match.group(2) or "s"
    seconds = value / 1000 if unit == "ms" else value * 60 if unit == "m" else value
    if seconds <= 0:
        raise ChaosSpecError(f"duration {text!r} must be above zero")
    return seconds


def _parse_probability(text: str) -> float:
    text = text.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ChaosSpecError(f"invalid probability {text!r}: use e.g. 1% or 0.01") from None
    if not 0 <= value <= 1:
        raise ChaosSpecError(f"probability {text!r} must lie between 0% and 100%")
    return value


def _period_pair(name: str, value: str, default: str) -> tuple[float, float]:
    parts = (value or default).split(":")
    if len(parts) != 2:
        raise ChaosSpecError(f"{name} takes PERIOD:DURATION, e.g. {name}={default}")
    period, duration = parse_duration(parts[0]), parse_duration(parts[1])
    if duration >= period:
        raise ChaosSpecError(f"{name}: the duration must be shorter than the period")
    return period, duration


@dataclass
class Chaos:
    reset_every: float | None = None
    stall: tuple[float, float] | None = None
    quiet: tuple[float, float] | None = None
    flap: tuple[float, float] | None = None
    accept_close: bool = False
    refuse_status: int | None = None
    refuse_probability: float = 1.0
    garbage: float = 0.0
    skip_seq: float = 0.0
    dup_seq: float = 0.0
    mute: dict[str, float] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random, repr=False)
    refusing_until: float = 0.0
    quiet_until: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def parse(cls, spec: str, seed: int | None = None) -> Chaos:
        chaos = cls(rng=random.Random(seed))
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            name, _, value = item.partition("=")
            name = name.strip().lower()
            if name == "reset":
                chaos.reset_every = parse_duration(value or "5s")
            elif name == "stall":
                chaos.stall = _period_pair(name, value, "30s:5s")
            elif name == "quiet":
                chaos.quiet = _period_pair(name, value, "30s:5s")
            elif name == "flap":
                chaos.flap = _period_pair(name, value, "10s:2s")
            elif name == "accept-close":
                chaos.accept_close = True
            elif name == "refuse":
                status, _, prob = value.partition(":")
                if not status.isdigit() or not 400 <= int(status) <= 599:
                    raise ChaosSpecError(f"refuse takes an HTTP status 400-599, not {status!r}")
                chaos.refuse_status = int(status)
                chaos.refuse_probability = _parse_probability(prob) if prob else 1.0
            elif name == "garbage":
                chaos.garbage = _parse_probability(value or "1%")
            elif name == "skip-seq":
                chaos.skip_seq = _parse_probability(value or "0.1%")
            elif name == "dup-seq":
                chaos.dup_seq = _parse_probability(value or "0.1%")
            elif name == "mute":
                symbol, _, duration = value.partition(":")
                if not symbol:
                    raise ChaosSpecError("mute takes SYMBOL:DURATION, e.g. mute=AAPL:10s")
                chaos.mute[symbol.upper()] = parse_duration(duration or "10s")
            else:
                known = "reset, stall, quiet, flap, accept-close, refuse, garbage, skip-seq, "
                raise ChaosSpecError(f"unknown chaos mode {name!r}: expected {known}dup-seq, mute")
        return chaos

    # --- hooks the simulator calls ----------------------------------------------------

    def refusal(self) -> int | None:
        if time.monotonic() < self.refusing_until:
            return 503
        if self.refuse_status is not None and self.rng.random() < self.refuse_probability:
            return self.refuse_status
        return None

    def deliver(self, event: Event) -> bool:
        """False to drop the event on the way out (skip-seq)."""
        return not (self.skip_seq and self.rng.random() < self.skip_seq)

    def duplicate(self) -> bool:
        return bool(self.dup_seq) and self.rng.random() < self.dup_seq

    def muted(self, symbol: str) -> bool:
        duration = self.mute.get(symbol)
        if duration is None:
            return False
        return (time.monotonic() - self.started) % (2 * duration) < duration

    def garbage_frame(self) -> bytes | None:
        if self.garbage and self.rng.random() < self.garbage:
            return self.rng.choice(GARBAGE_FRAMES)
        return None

    def is_quiet(self) -> bool:
        return time.monotonic() < self.quiet_until

    # --- timed modes ------------------------------------------------------------------

    async def run(self, sim: Simulator) -> None:
        tasks = []
        if self.reset_every:
            tasks.append(self._every(self.reset_every, lambda: self._reset(sim)))
        if self.stall:
            period, duration = self.stall
            tasks.append(self._every(period, lambda: self._stall(sim, duration)))
        if self.quiet:
            period, duration = self.quiet
            tasks.append(self._every(period, lambda: self._quiet(duration)))
        if self.flap:
            period, duration = self.flap
            tasks.append(self._every(period, lambda: self._flap(sim, duration)))
        await asyncio.gather(*tasks)

    @staticmethod
    async def _every(period: float, action: Callable[[], object]) -> None:
        while True:
            await asyncio.sleep(period)
            result = action()
            if asyncio.iscoroutine(result):
                await result

    @staticmethod
    def _reset(sim: Simulator) -> None:
        for session in list(sim.sessions):
            transport = session.ws.transport
            if transport is not None:
                transport.abort()

    @staticmethod
    async def _stall(sim: Simulator, duration: float) -> None:
        stalled = [s for s in sim.sessions if s.ws.transport is not None]
        for session in stalled:
            session.paused = True
            session.ws.transport.pause_reading()
        await asyncio.sleep(duration)
        for session in stalled:
            session.paused = False
            session.wake.set()
            if not session.ws.transport.is_closing():
                session.ws.transport.resume_reading()

    def _quiet(self, duration: float) -> None:
        self.quiet_until = time.monotonic() + duration

    def _flap(self, sim: Simulator, duration: float) -> None:
        self.refusing_until = time.monotonic() + duration
        for session in list(sim.sessions):
            session.close(CloseCode.RESTART, "service restart (chaos flap)")
