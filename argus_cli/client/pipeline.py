"""The receive path after decoding: dedupe, gaps, ``source``/``received`` stamps, counters.

Pure: events and the time in, the events to deliver out. The clock is
injected (``now``), so a replay can run it at any speed and tests need no
sleeps. It knows the normalized event contract (``argus_cli.events``) and
nothing of any provider's wire format.

- Data events (``price``, ``volume``, ``orderbook``) of a subscription the
  client no longer holds are late: dropped.
- With a ``seq``: a duplicate (not above the last held for that subscription,
  symbol and type) is dropped and counted; a jump on a gap-tracking
  subscription is reported as a ``gap`` record just before the event. Events
  without ``seq`` (a venue that does not number them) pass unchecked.
- A ``gap`` notice from the server moves the tracker past the hole, so it is
  not reported twice, and is stamped like data.
- Anything else (control messages) passes through untouched, for the handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..protocol.rules import DATA_TYPES
from ..protocol.session import Message
from .metrics import LatencyWindow, RateMeter
from .sequence import SequenceTracker

log = logging.getLogger("argus_cli.client")

__all__ = ["Pipeline"]

_DATA = frozenset(DATA_TYPES)


class Pipeline:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tracker = SequenceTracker()
        self.tracking: dict[str, bool] = {}  # subscription id -> counts seq jumps as gaps
        # counters (read through the client's stats snapshot)
        self.messages = 0  # every event and control message decoded
        self.data_messages = 0
        self.duplicates = 0
        self.gaps = 0
        self.last_message_at: float | None = None
        self.rate = RateMeter()
        self.latency = LatencyWindow()

    # --- subscriptions ------------------------------------------------------------

    def track(self, subscription_id: str, tracks_gaps: bool) -> None:
        self.tracking[subscription_id] = tracks_gaps

    def forget(self, subscription_id: str) -> None:
        self.tracking.pop(subscription_id, None)
        self.tracker.forget(subscription_id)

    def resume_point(
        self, subscription_id: str, symbols: Iterable[str], data_types: Iterable[str]
    ) -> dict[str, int]:
        return self.tracker.resume_point(subscription_id, symbols, data_types)

    # --- the hot path -------------------------------------------------------------

    def process(self, events: list[Message], now: float) -> list[Message]:
        """The events to deliver, in order, stamped; gap records inserted where seq jumped."""
        self.messages += len(events)
        self.last_message_at = now
        out: list[Message] = []
        observe = self.tracker.observe
        tracking = self.tracking
        add_latency = self.latency.add
        source = self.source
        data_count = 0
        for event in events:
            kind = event["type"]
            if kind in _DATA:
                data_count += 1
                sub_id = event.get("sub")
                track = tracking.get(sub_id)  # type: ignore[arg-type]
                if track is None:
                    continue  # a subscription we dropped: late data
                seq = event.get("seq")
                if seq is not None:
                    first_missing = observe(sub_id, event["symbol"], kind, seq, track)  # type: ignore[arg-type]
                    if first_missing < 0:
                        self.duplicates += 1
                        continue
                    if first_missing:
                        self.gaps += 1
                        out.append(self._jump(event, first_missing, seq - 1, now))
                event["source"] = source
                event["received"] = now
                add_latency(now - event["timestamp"])
                out.append(event)
            elif kind == "gap":
                self._notice(event, now)
                out.append(event)
            else:
                out.append(event)
        if data_count:
            self.data_messages += data_count
            self.rate.add(now, data_count)
        return out

    def _jump(self, event: Message, first: int, last: int, now: float) -> Message:
        log.warning("gap: %s %s seq %d..%d missing", event["symbol"], event["type"], first, last)
        return {
            "type": "gap",
            "symbol": event["symbol"],
            "from_seq": first,
            "to_seq": last,
            "reason": "sequence_jump",
            "sub": event["sub"],
            "data_type": event["type"],
            "source": self.source,
            "received": now,
        }

    def _notice(self, gap: Message, now: float) -> None:
        sub_id = gap.get("sub") if isinstance(gap.get("sub"), str) else None
        to_seq = gap.get("to_seq")
        if isinstance(to_seq, int):
            self.tracker.skip_to(sub_id, gap["symbol"], to_seq)
        self.gaps += 1
        gap["source"] = self.source
        gap["received"] = now
        log.warning(
            "gap: %s seq %s..%s no longer held by the server",
            gap["symbol"],
            gap.get("from_seq"),
            to_seq,
        )
