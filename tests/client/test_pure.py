"""Backoff schedule, sequence tracker, metrics and redaction: pure, property-tested."""

from __future__ import annotations

import logging
import random

from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from argus_cli.client.backoff import MIN_DELAY, Backoff
from argus_cli.client.metrics import LatencyWindow, RateMeter
from argus_cli.client.redact import RedactingFilter, redact_text, redact_url
from argus_cli.client.sequence import SequenceTracker


@given(st.floats(0, 10), st.floats(0.1, 60), st.integers(0, 2**32))
def test_backoff_first_random_then_grows_capped(base: float, cap: float, seed: int) -> None:
    backoff = Backoff(base, cap=cap, rng=random.Random(seed))
    floor = max(base, MIN_DELAY)
    first = backoff.next_delay()
    assert 0 <= first <= floor
    delays = [backoff.next_delay() for _ in range(30)]
    assert all(MIN_DELAY <= d <= max(cap, floor) for d in delays)
    assert delays[-1] >= min(max(cap, floor), floor * 2**29) / 2  # reached the cap region
    backoff.reset()
    assert backoff.next_delay() <= floor


def test_backoff_never_a_tight_loop_with_zero_delay() -> None:
    backoff = Backoff(0.0, rng=random.Random(1))
    backoff.next_delay()
    assert all(backoff.next_delay() >= MIN_DELAY for _ in range(10))


class TrackerMachine(RuleBasedStateMachine):
    """Against a model: accepted seqs strictly increase; gaps cover every hole."""

    def __init__(self) -> None:
        super().__init__()
        self.tracker = SequenceTracker()
        self.accepted: dict[tuple[str, str], list[int]] = {}
        self.gaps: dict[tuple[str, str], list[tuple[int, int]]] = {}

    @rule(
        symbol=st.sampled_from(["A", "B"]),
        kind=st.sampled_from(["price", "volume"]),
        seq=st.integers(1, 60),
    )
    def observe(self, symbol: str, kind: str, seq: int) -> None:
        key = (symbol, kind)
        result = self.tracker.observe("s", symbol, kind, seq, True)
        held = self.accepted.setdefault(key, [])
        if held and seq <= held[-1]:
            assert result == -1
            return
        assert result != -1
        if result:
            assert held and result == held[-1] + 1 and result < seq
            self.gaps.setdefault(key, []).append((result, seq - 1))
        else:
            assert not held or seq == held[-1] + 1
        held.append(seq)

    @invariant()
    def holes_are_covered(self) -> None:
        for key, held in self.accepted.items():
            covered = set(held)
            for low, high in self.gaps.get(key, []):
                covered.update(range(low, high + 1))
            assert covered == set(range(held[0], held[-1] + 1))

    @invariant()
    def resume_point_is_the_minimum(self) -> None:
        point = self.tracker.resume_point("s", ["A", "B"], ["price", "volume"])
        for symbol in ("A", "B"):
            lasts = [h[-1] for (s, _), h in self.accepted.items() if s == symbol]
            assert point.get(symbol) == (min(lasts) if lasts else None)


TestTracker = TrackerMachine.TestCase


def test_tracker_server_gap_is_not_counted_twice() -> None:
    tracker = SequenceTracker()
    assert tracker.observe("s", "A", "price", 5, True) == 0
    tracker.skip_to("s", "A", 20)
    assert tracker.observe("s", "A", "price", 21, True) == 0
    assert tracker.observe("s", "A", "price", 21, True) == -1


def test_untracked_subscriptions_skip_without_gaps() -> None:
    tracker = SequenceTracker()
    tracker.observe("c", "A", "price", 1, False)
    assert tracker.observe("c", "A", "price", 50, False) == 0


def test_rate_meter_and_latency() -> None:
    meter = RateMeter(window=5)
    for second in range(100, 110):
        meter.add(second + 0.5, 10)
    assert meter.rate(110.2) == 10.0
    window = LatencyWindow(size=100)
    assert window.percentile(50) is None
    for i in range(1, 101):
        window.add(i / 1000)
    assert window.percentile(50) == 0.05 and window.percentile(99) == 0.099


keys = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=40)


@given(keys)
def test_redaction_removes_any_key(key: str) -> None:
    template = "headers: Authorization: Bearer {}\nother {} here"
    # a key that is part of the fixed text (say "Authoriz") cannot be told apart from it
    assume(key not in template.replace("{}", " ") and key not in "> Authorization: Bearer ***")
    text = template.format(key, key)
    assert key not in redact_text(text, (key,))
    record = logging.LogRecord(
        "websockets.client", logging.DEBUG, "", 0, "> Authorization: Bearer %s", (key,), None
    )
    RedactingFilter().filter(record)
    assert key not in record.getMessage()


def test_redact_url() -> None:
    assert (
        redact_url("wss://u:p@host:9/ws?key=abc&x=1") == "wss://host:9/ws?key=%2A%2A%2A&x=%2A%2A%2A"
    )
    assert redact_url("ws://[::1]:8000/ws") == "ws://[::1]:8000/ws"
