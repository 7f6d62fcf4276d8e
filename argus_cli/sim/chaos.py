"""Fault injection for the simulator (``argus serve --chaos SPEC``): a pure policy.

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

``Chaos`` does no I/O: it reads an injected clock and a seeded RNG and answers
the simulator's questions (refuse this handshake? drop this event? is it quiet?).
What must be done *to the connections alive at a moment* (abort them, close
them, stall them) it hands out as action values from ``due()``; the simulator
sleeps until ``next_at()`` and performs them. Every timed mode runs on one
schedule anchored at ``start()``: cycle ``k`` of a ``PERIOD:DURATION`` mode
begins at ``k * PERIOD`` (k >= 1) and its window ends ``DURATION`` later.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from ..exceptions import ChaosSpecError
from ..protocol.rules import CloseCode
from .market import Event

__all__ = [
    "GARBAGE_FRAMES",
    "AbortAll",
    "Chaos",
    "ChaosAction",
    "ChaosSpecError",
    "CloseAll",
    "EndStall",
    "StartStall",
    "parse_duration",
]


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

FLAP_REASON = "service restart (chaos flap)"

# --- the actions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AbortAll:
    """Abort every connection: a TCP reset, no close frame (``reset``)."""


@dataclass(frozen=True, slots=True)
class CloseAll:
    """Close every connection with this code (``flap``: 1012)."""

    code: CloseCode
    reason: str


@dataclass(frozen=True, slots=True)
class StartStall:
    """Stop reading from and sending to every connection alive now (``stall``)."""


@dataclass(frozen=True, slots=True)
class EndStall:
    """Resume the connections the last ``StartStall`` stalled."""


ChaosAction = AbortAll | CloseAll | StartStall | EndStall


@dataclass(slots=True)
class _Track:
    """One timed mode's place in its schedule: the next step of cycle ``cycle``."""

    period: float
    steps: tuple[tuple[float, tuple[ChaosAction, ...]], ...]  # (offset in the cycle, actions)
    cycle: int = 1
    step: int = 0

    def next_at(self, started: float) -> float:
        return started + self.cycle * self.period + self.steps[self.step][0]

    def advance(self) -> None:
        self.step += 1
        if self.step == len(self.steps):
            self.step = 0
            self.cycle += 1


# --- parsing --------------------------------------------------------------------------

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")
_MODES = "reset, stall, quiet, flap, accept-close, refuse, garbage, skip-seq, dup-seq, mute"


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


# --- the policy -----------------------------------------------------------------------


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
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    started: float = field(init=False)
    _tracks: list[_Track] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.start()

    @classmethod
    def parse(
        cls, spec: str, seed: int | None = None, clock: Callable[[], float] = time.monotonic
    ) -> Chaos:
        chaos = cls(rng=random.Random(seed), clock=clock)
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
                raise ChaosSpecError(f"unknown chaos mode {name!r}: expected {_MODES}")
        chaos.start()
        return chaos

    def start(self) -> None:
        """Anchor the schedule at the clock's now; (re)build it from the modes."""
        self.started = self.clock()
        tracks = []
        if self.reset_every:
            tracks.append(_Track(self.reset_every, ((0.0, (AbortAll(),)),)))
        if self.stall:
            period, duration = self.stall
            tracks.append(_Track(period, ((0.0, (StartStall(),)), (duration, (EndStall(),)))))
        if self.flap:
            tracks.append(
                _Track(self.flap[0], ((0.0, (CloseAll(CloseCode.RESTART, FLAP_REASON),)),))
            )
        self._tracks = tracks

    # --- the timed modes: what to do to the live connections, and when ----------------

    def next_at(self) -> float | None:
        """The clock time of the next timed action; None without timed modes."""
        return min((t.next_at(self.started) for t in self._tracks), default=None)

    def due(self) -> tuple[ChaosAction, ...]:
        """The actions whose time has come since the last call, in time order.

        Cycles that began and ended wholly in the past (a blocked loop, a
        suspended machine) are skipped: repeating them would change nothing.
        """
        now = self.clock()
        found: list[tuple[float, int, ChaosAction]] = []
        for index, track in enumerate(self._tracks):
            while (at := track.next_at(self.started)) <= now:
                if track.step == 0:
                    latest = int((now - self.started) // track.period)
                    if latest > track.cycle:
                        track.cycle = latest
                        continue
                found.extend((at, index, action) for action in track.steps[track.step][1])
                track.advance()
        found.sort(key=lambda item: (item[0], item[1]))
        return tuple(action for _, _, action in found)

    def _in_window(self, period: float, duration: float) -> bool:
        elapsed = self.clock() - self.started
        return elapsed >= period and elapsed % period < duration

    # --- the questions the simulator asks -----------------------------------------------

    def refusal(self) -> int | None:
        """The HTTP status to refuse this handshake with, or None to accept it."""
        if self.flap is not None and self._in_window(*self.flap):
            return HTTPStatus.SERVICE_UNAVAILABLE
        if self.refuse_status is not None and self.rng.random() < self.refuse_probability:
            return self.refuse_status
        return None

    def is_quiet(self) -> bool:
        """True while no data may be sent (pings are still answered)."""
        return self.quiet is not None and self._in_window(*self.quiet)

    def deliver(self, event: Event) -> bool:
        """False to drop the event on the way out (skip-seq)."""
        return not (self.skip_seq and self.rng.random() < self.skip_seq)

    def duplicate(self) -> bool:
        """True to send the event twice (dup-seq)."""
        return bool(self.dup_seq) and self.rng.random() < self.dup_seq

    def muted(self, symbol: str) -> bool:
        """True while the symbol does not trade (mute)."""
        duration = self.mute.get(symbol)
        if duration is None:
            return False
        return (self.clock() - self.started) % (2 * duration) < duration

    def garbage_frame(self) -> bytes | None:
        """A malformed frame to send before the next one, or None (garbage)."""
        if self.garbage and self.rng.random() < self.garbage:
            return self.rng.choice(GARBAGE_FRAMES)
        return None
