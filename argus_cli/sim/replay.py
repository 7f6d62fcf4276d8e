"""Resume replay: a subscription's held events, in slices, then live without a hole.

A ``subscribe`` with ``resume`` answers ``subscribed`` and any ``gap`` notices
at once; the replay then runs as a task of its own, so one big resume never
holds up the event loop (other clients, the market):

- Symbols take turns (round robin), one slice at a time: at most
  ``REPLAY_SLICE`` (100) events of one symbol, fewer when the send queue is
  small, so a slice never needs more than a quarter of the queue.
- A slice goes into the connection's send queue, under its limit, only while
  the replay's messages leave the queue at most half full
  (``REPLAY_SHARE``): the other half stays free for live data and replies, so
  a client that keeps reading is never cut off by its own replay. Between
  slices the task yields to the loop, and waits for the sender while the
  queue is too full.
- A queue that does not move for ``drain_timeout`` seconds (default 5) means
  the client is not reading: close 1013, as for live data. So is a replay
  overtaken by the ring (the events it was about to send were dropped): the
  client reconnects and resumes, and is told of the gap then.
- Live events of a symbol still replaying are not queued: they wait in the
  market's ring, and the replay reads on into them. When a slice reaches the
  newest event, the symbol is attached to the live fan-out in the same step
  (no ``await`` between), so the sequence continues with no hole and no
  duplicate. Each symbol's events thus go out in ``seq`` order: its ``gap``
  notice (sent with ``subscribed``), the replay, then live. (Symbols not being
  replayed, and other subscriptions, are live at once, so their messages may
  come between another symbol's replayed ones; order is per symbol.)
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from ..protocol.rules import CloseCode
from .market import Event

if TYPE_CHECKING:
    from .session import Route, Session

__all__ = ["REPLAY_SHARE", "REPLAY_SLICE", "replay", "replay_slice"]

REPLAY_SLICE = 100  # events of one symbol per slice, at most
REPLAY_SHARE = 0.5  # of the send queue that replayed messages may fill


def replay_slice(send_queue: int, data_types: int) -> int:
    """Events per slice: ``REPLAY_SLICE``, or fewer so a slice fits a quarter queue."""
    return max(1, min(REPLAY_SLICE, send_queue // (4 * data_types)))


async def replay(session: Session, route: Route, slices: dict[str, list[Event]], size: int) -> None:
    """Send ``slices`` (symbol: first events to replay), read on, then go live."""
    market = session.sim.market
    share = max(1, int(session.limit * REPLAY_SHARE))
    per_event = len(route.streams)
    turns = deque(slices)
    while turns:
        symbol = turns.popleft()
        events = slices[symbol]
        if not await session.room_for(len(events) * per_event, share):
            return
        for event in events:
            route.deliver(event)
        more, lost = market.events_after(symbol, events[-1].seq, size)
        if lost is not None:
            session.close(CloseCode.TRY_AGAIN, "slow consumer: resume replay overtaken")
            return
        if more:
            slices[symbol] = more
            turns.append(symbol)
        else:
            del slices[symbol]
            if session.routes.get(route.sub.id) is route:
                session.sim.attach(route, (symbol,))
        await asyncio.sleep(0)
