"""ConnectionStatus: only the transitions in the table, the connected event, on_change."""

from __future__ import annotations

import itertools
from collections import deque

import pytest

from argus_cli.client.config import ConnectionState
from argus_cli.client.state import TRANSITIONS, ConnectionStatus, IllegalTransition

S = ConnectionState
PAIRS = list(itertools.product(S, S))


def reachable() -> set[ConnectionState]:
    seen = {S.DISCONNECTED}
    queue = deque(seen)
    while queue:
        for nxt in TRANSITIONS[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def test_the_table_covers_every_state_and_never_lists_staying_put() -> None:
    assert set(TRANSITIONS) == set(S)
    assert all(state not in TRANSITIONS[state] for state in S)
    assert reachable() == set(S)
    assert TRANSITIONS[S.ERROR] == {S.CONNECTING}  # disconnect() leaves ERROR visible
    assert all(S.ERROR in TRANSITIONS[state] for state in S if state is not S.ERROR)


def test_the_documented_lifecycle() -> None:
    changes: list[tuple[ConnectionState, ConnectionState]] = []
    status = ConnectionStatus(on_change=lambda a, b: changes.append((a, b)))
    walk = [
        S.CONNECTING,
        S.CONNECTED,
        S.RECONNECTING,  # lost
        S.CONNECTED,  # up again
        S.DISCONNECTED,
        S.CONNECTING,
        S.ERROR,  # fatal
        S.CONNECTING,  # connect() again
    ]
    for state in walk:
        status.to(state)
    assert changes == list(itertools.pairwise([S.DISCONNECTED, *walk]))


@pytest.mark.parametrize(("old", "new"), PAIRS, ids=lambda s: s.value)
async def test_every_pair_of_states(old: ConnectionState, new: ConnectionState) -> None:
    changes: list[tuple[ConnectionState, ConnectionState]] = []
    status = ConnectionStatus(on_change=lambda a, b: changes.append((a, b)))
    status.state = old
    connected = status.connected  # made now, it reflects the current state
    assert connected.is_set() is (old is S.CONNECTED)

    if new is old:
        status.to(new)  # staying put is a no-op
        assert changes == []
    elif new in TRANSITIONS[old]:
        status.to(new)
        assert changes == [(old, new)]
    else:
        with pytest.raises(IllegalTransition, match=f"{old.value} -> {new.value}"):
            status.to(new)
        assert changes == []
    expected = new if new is old or new in TRANSITIONS[old] else old
    assert status.state is expected
    assert connected.is_set() is (expected is S.CONNECTED)
    assert status.connected is connected


async def test_the_event_follows_the_state() -> None:
    status = ConnectionStatus()
    connected = status.connected
    status.to(S.CONNECTING)
    assert not connected.is_set()
    status.to(S.CONNECTED)
    assert connected.is_set()
    status.to(S.CONNECTED)
    assert connected.is_set()
    status.to(S.ERROR)
    assert not connected.is_set()


async def test_a_waiter_wakes_when_connected() -> None:
    status = ConnectionStatus()
    status.to(S.CONNECTING)
    waiter = status.connected.wait()
    status.to(S.CONNECTED)
    assert await waiter is True


def test_starts_disconnected_and_works_without_on_change() -> None:
    assert ConnectionStatus().state is S.DISCONNECTED
    status = ConnectionStatus()
    status.to(S.CONNECTING)
    assert status.state is S.CONNECTING
