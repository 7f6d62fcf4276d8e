"""The market model: plausible, consistent, reproducible."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from argus_cli.sim import DEFAULT_UNIVERSE, Market


def test_default_universe_is_large_and_plausible() -> None:
    assert len(DEFAULT_UNIVERSE) >= 50
    assert all(1 < p < 5000 for p in DEFAULT_UNIVERSE.values())
    market = Market()
    assert set(market.symbols) == set(DEFAULT_UNIVERSE)


def test_events_are_consistent() -> None:
    market = Market(["AAPL", "PENNY"], seed=1)
    for i in range(2000):
        event = market.next_event("AAPL", 1.0 + i)
        assert event.seq == i + 1
        assert event.bid < event.ask and event.bid <= event.price <= event.ask
        assert event.bids[0][0] == event.bid and event.asks[0][0] == event.ask
        assert len(event.asks) == 10 and 1 <= len(event.bids) <= 10
        assert all(a[0] < b[0] for a, b in zip(event.asks, event.asks[1:], strict=False))
        assert all(a[0] > b[0] for a, b in zip(event.bids, event.bids[1:], strict=False))
        assert (
            round(event.price * 100) == event.price * 100
            or abs(event.price * 100 - round(event.price * 100)) < 1e-6
        )
        assert event.size > 0
    assert market.states["AAPL"].total_volume == sum(e.size for e in market.states["AAPL"].ring)


def test_same_seed_same_market() -> None:
    a, b = Market(seed=42), Market(seed=42)
    prices_a = [a.next_event("AAPL", 0).price for _ in range(100)]
    prices_b = [b.next_event("AAPL", 0).price for _ in range(100)]
    assert prices_a == prices_b
    c = Market(seed=43)
    assert [c.next_event("AAPL", 0).price for _ in range(100)] != prices_a


@given(st.integers(1, 50), st.integers(0, 60))
def test_events_after_covers_exactly_what_is_missing(ring: int, asked: int) -> None:
    market = Market(["AAPL"], seed=0, ring_size=ring)
    for _ in range(40):
        market.next_event("AAPL", 0)
    events, gap = market.events_after("AAPL", asked)
    covered = [e.seq for e in events]
    if gap:
        covered = list(range(gap[0], gap[1] + 1)) + covered
    assert covered == list(range(asked + 1, 41))
    assert all(e.seq > asked for e in events)


@given(st.integers(1, 50), st.integers(0, 60), st.integers(1, 45))
def test_events_after_in_slices_is_the_same_sequence(ring: int, asked: int, limit: int) -> None:
    market = Market(["AAPL"], seed=0, ring_size=ring)
    for _ in range(40):
        market.next_event("AAPL", 0)
    whole, gap = market.events_after("AAPL", asked)
    first, first_gap = market.events_after("AAPL", asked, limit)
    assert first_gap == gap and first == whole[:limit]
    sliced, seq = list(first), first[-1].seq if first else asked
    while more := market.events_after("AAPL", seq, limit)[0]:
        assert len(more) <= limit
        sliced += more
        seq = more[-1].seq
    assert sliced == whole


def test_volatility_is_per_unit_of_time_not_per_event() -> None:
    """At 5,000 events a second AAPL moves about as much in 20 s as at 5 a second
    (it used to fall from 228 to 150: the step was per event)."""
    from argus_cli.sim.market import Market

    for rate in (5.0, 5000.0):
        market = Market(["AAPL"], seed=7)
        start = market.last_price("AAPL")
        moves = []
        now = 1_000.0
        for _ in range(int(20 * rate)):
            now += 1 / rate
            moves.append(abs(market.next_event("AAPL", now).price / start - 1))
        assert max(moves) < 0.05, (rate, max(moves))  # sigma over 20 s is ~0.8%
