"""The chaos policy alone: spec parsing, the timed schedule on a fake clock, seeded odds."""

from __future__ import annotations

import ast
import inspect
from http import HTTPStatus

import pytest

from argus_cli.exceptions import ChaosSpecError, ConfigError
from argus_cli.protocol.rules import CloseCode
from argus_cli.sim import chaos as chaos_module
from argus_cli.sim.chaos import (
    FLAP_REASON,
    GARBAGE_FRAMES,
    AbortAll,
    Chaos,
    ChaosAction,
    CloseAll,
    EndStall,
    StartStall,
    parse_duration,
)
from argus_cli.sim.market import Event, Market

T0 = 1000.0  # the fake clock starts far from zero, so an unanchored schedule shows


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def policy(spec: str, clock: FakeClock, seed: int = 1) -> Chaos:
    return Chaos.parse(spec, seed=seed, clock=clock)


def run_schedule(chaos: Chaos, clock: FakeClock, until: float) -> list[tuple[float, ChaosAction]]:
    """What the simulator's timer does: jump to ``next_at()``, take ``due()``, repeat."""
    seen: list[tuple[float, ChaosAction]] = []
    while (at := chaos.next_at()) is not None and at <= until:
        clock.now = at
        seen.extend((at - T0, action) for action in chaos.due())
    return seen


def an_event() -> Event:
    return Market(["AAPL"], seed=1).next_event("AAPL", 0.0)


# --- parsing --------------------------------------------------------------------------


def test_parse_reads_every_mode() -> None:
    chaos = Chaos.parse(
        "reset=500ms, stall=1m:5s,quiet=30:2.5s,flap=10s:2s,accept-close,refuse=503:50%,"
        "garbage=1%,skip-seq=0.1%,dup-seq=0.002,mute=aapl:10s,,"
    )
    assert chaos.reset_every == 0.5
    assert chaos.stall == (60.0, 5.0)
    assert chaos.quiet == (30.0, 2.5)
    assert chaos.flap == (10.0, 2.0)
    assert chaos.accept_close is True
    assert (chaos.refuse_status, chaos.refuse_probability) == (503, 0.5)
    assert chaos.garbage == pytest.approx(0.01)
    assert chaos.skip_seq == pytest.approx(0.001)
    assert chaos.dup_seq == pytest.approx(0.002)
    assert chaos.mute == {"AAPL": 10.0}


def test_parse_defaults() -> None:
    chaos = Chaos.parse("reset,stall,quiet,flap,refuse=429,garbage,skip-seq,dup-seq")
    assert chaos.reset_every == 5.0
    assert chaos.stall == chaos.quiet == (30.0, 5.0)
    assert chaos.flap == (10.0, 2.0)
    assert (chaos.refuse_status, chaos.refuse_probability) == (429, 1.0)
    assert chaos.garbage == pytest.approx(0.01)
    assert chaos.skip_seq == chaos.dup_seq == pytest.approx(0.001)
    assert chaos.accept_close is False and chaos.mute == {}


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("5s", 5.0), ("2m", 120.0), ("1.5", 1.5), (" 3 ", 3.0)]
)
def test_parse_duration_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("explode=1", "'explode'"),
        ("reset=5x", "'5x'"),
        ("reset=0s", "'0s'"),
        ("reset=-1s", "'-1s'"),
        ("stall=5s", "stall takes PERIOD:DURATION"),
        ("quiet=1s:2s:3s", "quiet takes PERIOD:DURATION"),
        ("flap=2s:2s", "flap: the duration must be shorter"),
        ("stall=5s:ten", "'ten'"),
        ("refuse=200", "'200'"),
        ("refuse=abc", "'abc'"),
        ("refuse=", "refuse takes an HTTP status"),
        ("refuse=503:lots", "'lots'"),
        ("garbage=150%", "'150%'"),
        ("skip-seq=-1%", "'-1%'"),
        ("dup-seq=often", "'often'"),
        ("mute=:5s", "mute takes SYMBOL:DURATION"),
        ("mute=AAPL:0ms", "'0ms'"),
    ],
)
def test_spec_errors_name_the_part(spec: str, named: str) -> None:
    with pytest.raises(ChaosSpecError) as caught:
        Chaos.parse(spec)
    assert named in str(caught.value)
    assert isinstance(caught.value, ConfigError)


def test_unknown_mode_lists_the_known_ones() -> None:
    with pytest.raises(ChaosSpecError, match="unknown chaos mode 'resets'") as caught:
        Chaos.parse("reset=1s,resets=2s")
    for mode in ("reset", "stall", "quiet", "flap", "accept-close", "refuse", "mute"):
        assert mode in str(caught.value)


# --- the timed schedule ---------------------------------------------------------------


def test_no_timed_modes_no_timer() -> None:
    clock = FakeClock()
    chaos = policy("garbage=1%,quiet=30s:5s,mute=AAPL:1s", clock)
    assert chaos.next_at() is None  # quiet and mute are answered, not scheduled
    clock.now += 1e6
    assert chaos.due() == ()


def test_reset_aborts_every_period() -> None:
    clock = FakeClock()
    chaos = policy("reset=2s", clock)
    assert chaos.next_at() == T0 + 2
    clock.now = T0 + 1.999
    assert chaos.due() == ()
    clock.now = T0 + 2
    assert chaos.due() == (AbortAll(),)
    assert chaos.due() == ()  # each action is handed out once
    assert chaos.next_at() == T0 + 4
    clock.now = T0 + 4.5
    assert chaos.due() == (AbortAll(),)


def test_stall_starts_every_period_and_ends_after_its_duration() -> None:
    clock = FakeClock()
    chaos = policy("stall=10s:3s", clock)
    assert run_schedule(chaos, clock, T0 + 25) == [
        (10, StartStall()),
        (13, EndStall()),
        (20, StartStall()),
        (23, EndStall()),
    ]
    assert chaos.next_at() == T0 + 30


def test_flap_closes_with_1012_and_refuses_with_503_for_its_duration() -> None:
    clock = FakeClock()
    chaos = policy("flap=10s:2s", clock)
    assert run_schedule(chaos, clock, T0 + 20) == [
        (10, CloseAll(CloseCode.RESTART, FLAP_REASON)),
        (20, CloseAll(CloseCode.RESTART, FLAP_REASON)),
    ]
    refusals = {}
    for t in (0, 9.99, 10, 11.99, 12, 19.99, 21, 22):
        clock.now = T0 + t
        refusals[t] = chaos.refusal()
    assert refusals == {
        0: None,
        9.99: None,
        10: HTTPStatus.SERVICE_UNAVAILABLE,
        11.99: HTTPStatus.SERVICE_UNAVAILABLE,
        12: None,
        19.99: None,
        21: HTTPStatus.SERVICE_UNAVAILABLE,
        22: None,
    }


def test_quiet_windows() -> None:
    clock = FakeClock()
    chaos = policy("quiet=30s:5s", clock)
    quiet = {}
    for t in (0, 4, 29.99, 30, 34.99, 35, 59, 60, 64.99, 65):
        clock.now = T0 + t
        quiet[t] = chaos.is_quiet()
    assert [t for t, is_quiet in quiet.items() if is_quiet] == [30, 34.99, 60, 64.99]


def test_modes_interleave_in_time_order() -> None:
    clock = FakeClock()
    chaos = policy("flap=4s:1s,stall=3s:1s,reset=2s", clock)
    close = CloseAll(CloseCode.RESTART, FLAP_REASON)
    assert run_schedule(chaos, clock, T0 + 8) == [
        (2, AbortAll()),
        (3, StartStall()),
        (4, AbortAll()),  # same time: reset, then stall, then flap
        (4, EndStall()),
        (4, close),
        (6, AbortAll()),
        (6, StartStall()),
        (7, EndStall()),
        (8, AbortAll()),
        (8, close),
    ]


def test_a_clock_jump_skips_past_cycles_but_never_leaves_a_stall_open() -> None:
    clock = FakeClock()
    chaos = policy("stall=4s:2s,reset=1s", clock)
    clock.now = T0 + 5
    assert chaos.due() == (StartStall(), AbortAll())  # the stall at 4 s, one reset (at 5 s)
    clock.now = T0 + 100.5  # a suspended machine: 95 s late
    # the open stall ends (6 s), then only the latest cycles: reset and stall at 100 s
    assert chaos.due() == (EndStall(), AbortAll(), StartStall())
    assert chaos.next_at() == T0 + 101


def test_start_reanchors_the_schedule_and_mute() -> None:
    clock = FakeClock()
    chaos = policy("reset=2s,mute=AAPL:10s", clock)
    clock.now = T0 + 15
    assert not chaos.muted("AAPL")
    chaos.start()
    assert chaos.next_at() == T0 + 17
    assert chaos.muted("AAPL")
    clock.now = T0 + 16.5
    assert chaos.due() == ()


def test_mute_alternates_for_one_symbol_only() -> None:
    clock = FakeClock()
    chaos = policy("mute=aapl:10s", clock)
    muted = {}
    for t in (0, 9.99, 10, 19.99, 20, 29.99, 30):
        clock.now = T0 + t
        muted[t] = chaos.muted("AAPL")
        assert not chaos.muted("MSFT")
    assert [t for t, is_muted in muted.items() if is_muted] == [0, 9.99, 20, 29.99]


# --- the odds, from a seeded RNG --------------------------------------------------------


def decisions(chaos: Chaos, event: Event, n: int) -> list[tuple[bool, bool, bytes | None]]:
    return [(chaos.deliver(event), chaos.duplicate(), chaos.garbage_frame()) for _ in range(n)]


def test_the_same_seed_gives_the_same_decisions() -> None:
    spec, event = "skip-seq=30%,dup-seq=30%,garbage=30%", an_event()
    first = decisions(Chaos.parse(spec, seed=42), event, 200)
    assert first == decisions(Chaos.parse(spec, seed=42), event, 200)
    assert first != decisions(Chaos.parse(spec, seed=43), event, 200)


def test_rates_follow_the_probabilities() -> None:
    chaos, event, n = Chaos.parse("skip-seq=10%,dup-seq=5%,garbage=2%", seed=7), an_event(), 20_000
    dropped = sum(not chaos.deliver(event) for _ in range(n)) / n
    doubled = sum(chaos.duplicate() for _ in range(n)) / n
    frames = [chaos.garbage_frame() for _ in range(n)]
    garbage = [frame for frame in frames if frame is not None]
    assert 0.09 < dropped < 0.11
    assert 0.04 < doubled < 0.06
    assert 0.015 < len(garbage) / n < 0.025
    assert set(garbage) == set(GARBAGE_FRAMES)  # every kind of malformed frame turns up


def test_without_those_modes_nothing_is_dropped_doubled_or_garbled() -> None:
    chaos, event = Chaos.parse("reset=1s", seed=1), an_event()
    assert all(d == (True, False, None) for d in decisions(chaos, event, 1000))
    assert chaos.refusal() is None


def test_refusals_follow_status_and_probability() -> None:
    always = Chaos.parse("refuse=429", seed=3)
    assert {always.refusal() for _ in range(100)} == {429}
    half = Chaos.parse("refuse=503:50%", seed=3)
    answers = [half.refusal() for _ in range(4000)]
    assert set(answers) == {503, None}
    assert 0.45 < answers.count(503) / len(answers) < 0.55
    never = Chaos.parse("refuse=503:0%", seed=3)
    assert {never.refusal() for _ in range(100)} == {None}


# --- the layering ---------------------------------------------------------------------


def test_chaos_is_pure() -> None:
    tree = ast.parse(inspect.getsource(chaos_module))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert "..exceptions" in imported  # the walk does see the imports
    forbidden = {"asyncio", "socket", "websockets", ".server", ".session"}
    assert not imported & forbidden, imported & forbidden
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert "TYPE_CHECKING" not in names
