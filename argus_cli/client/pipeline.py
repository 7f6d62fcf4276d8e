"""The receive path after decoding: dedupe, gaps, ``source``/``received`` stamps, counters.

Pure: events and the time in, the events to deliver out. The clock is
injected (``now``), so a replay can run it at any speed and tests need no
sleeps. It knows the normalized event contract (``argus_cli.events``) and
nothing of any provider's wire format.

- Data events (``price``, ``volume``, ``orderbook``) of a subscription the
  client no longer holds are late: dropped. Events (and gap notices) for a
  symbol the subscription does not hold are *foreign*: dropped and counted, so
  a hostile server can neither print data nobody asked for nor grow the
  sequence tracker without bound.
- With a ``seq``: a duplicate (not above the last held for that subscription,
  symbol and type) is dropped and counted; a jump on a gap-tracking
  subscription is reported as a ``gap`` record just before the event. Events
  without ``seq`` (a venue that does not number them) pass unchecked.
- A ``gap`` notice from the server moves the tracker past the hole, so it is
  not reported twice, and is stamped like data.
- Anything else (control messages) passes through untouched, for the handlers.

Counter restarts (docs/PROTOCOL.md "Sequence numbers"): when the server's ``epoch``
changes (``new_epoch``), or, for a server without one, when the first event of
a resumed symbol has a ``seq`` not above the resume point the client sent
(``expect_resume``), the old sequence space is gone: what is held for it is
dropped, a ``gap`` record with ``reason`` ``server_restart`` (``to_seq`` null)
is reported, and the new numbering is accepted. Fresh data is never discarded
as duplicates of a server that no longer exists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any

from ..protocol.rules import DATA_TYPES
from ..protocol.session import Message
from ..protocol.typed import Gap, TypedEvent
from .logbudget import LogBudget
from .metrics import LatencyWindow, RateMeter
from .sequence import Key, SequenceTracker

log = logging.getLogger("argus_cli.client")

__all__ = ["Pipeline"]

_DATA = frozenset(DATA_TYPES)
JUMP = "sequence_jump"


class _Anything:
    """Holds every symbol: a subscription tracked without naming its symbols."""

    def __contains__(self, item: object) -> bool:
        return True


_ANY = _Anything()


class Pipeline:
    def __init__(self, source: str, warnings: LogBudget | None = None) -> None:
        self.source = source
        self.warnings = warnings if warnings is not None else LogBudget(log)
        self.tracker = SequenceTracker()
        # subscription id -> (counts seq jumps as gaps, the symbols it holds)
        self.tracking: dict[str, tuple[bool, Container[str]]] = {}
        self.resumed: dict[tuple[str, str], int] = {}  # (sub, symbol) -> resume point sent
        self.epoch: str | None = None
        # counters (read through the client's stats snapshot)
        self.messages = 0  # every event and control message decoded
        self.data_messages = 0
        self.duplicates = 0
        self.gaps = 0
        self.foreign = 0  # events for a symbol the subscription does not hold
        self.restarts = 0  # sequence spaces found restarted
        self.last_message_at: float | None = None
        self.rate = RateMeter()
        self.latency = LatencyWindow()

    # --- subscriptions ------------------------------------------------------------

    def track(
        self, subscription_id: str, tracks_gaps: bool, symbols: Iterable[str] | None = None
    ) -> None:
        """Deliver the subscription's events; only ``symbols``' when given."""
        allowed: Container[str] = _ANY if symbols is None else frozenset(symbols)
        self.tracking[subscription_id] = (tracks_gaps, allowed)

    def forget(self, subscription_id: str) -> None:
        self.tracking.pop(subscription_id, None)
        self.tracker.forget(subscription_id)
        for key in [k for k in self.resumed if k[0] == subscription_id]:
            del self.resumed[key]

    def expect_resume(self, subscription_id: str, points: Mapping[str, int]) -> None:
        """A resubscribe asked to resume from ``points``: check the first event of each."""
        for symbol, point in points.items():
            self.resumed[(subscription_id, symbol)] = point

    def new_epoch(self, epoch: str | None, now: float) -> list[Message]:
        """The server named its sequence space. A change from the last one means every
        counter restarted: returns the ``server_restart`` gap records to deliver."""
        previous, self.epoch = self.epoch, epoch
        if epoch is None:
            return []
        self.resumed.clear()  # the epoch decides; no guessing from resume points
        if previous is None or previous == epoch:
            return []
        return self._restart(lambda key: True, now)

    def _restart(self, matches: Callable[[Key], bool], now: float) -> list[Message]:
        records = []
        for key in sorted(k for k in self.tracker.last if matches(k)):
            sub_id, symbol, data_type = key
            last = self.tracker.drop(key)
            records.append(
                {
                    "type": "gap",
                    "symbol": symbol,
                    "from_seq": last + 1,
                    "to_seq": None,
                    "reason": "server_restart",
                    "sub": sub_id,
                    "data_type": data_type,
                    "source": self.source,
                    "received": now,
                }
            )
        if records:
            self.restarts += 1
            self.gaps += len(records)
            self.warnings.warning(
                now,
                "the server restarted its sequence numbers: %s",
                ", ".join(sorted({f"{r['symbol']} from seq {r['from_seq']}" for r in records})),
            )
        return records

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
        resumed = self.resumed
        for event in events:
            kind = event["type"]
            if kind in _DATA:
                data_count += 1
                sub_id = event.get("sub")
                held = tracking.get(sub_id)  # type: ignore[arg-type]
                if held is None:
                    continue  # a subscription we dropped: late data
                track, symbols = held
                symbol = event["symbol"]
                if symbol not in symbols:
                    self.foreign += 1
                    continue
                seq = event.get("seq")
                if seq is not None:
                    if resumed:
                        out.extend(self._check_resume(sub_id, symbol, seq, now))  # type: ignore[arg-type]
                    first_missing = observe(sub_id, symbol, kind, seq, track)  # type: ignore[arg-type]
                    if first_missing < 0:
                        self.duplicates += 1
                        continue
                    if first_missing:
                        self.gaps += 1
                        out.append(self._jump(event, first_missing, seq - 1, now))
                event["source"] = source
                event["received"] = now
                timestamp = event.get("timestamp")
                if timestamp is not None:
                    add_latency(now - timestamp)
                out.append(event)
            elif kind == "gap":
                if self._notice(event, now):
                    out.append(event)
            else:
                out.append(event)
        if data_count:
            self.data_messages += data_count
            self.rate.add(now, data_count)
        return out

    def process_typed(self, frames: list[Any], now: float) -> tuple[list[TypedEvent], list[int]]:
        """``process`` for the argus protocol's typed data events (``protocol.typed``),
        given per frame (a struct, or a list of them): the events to deliver, and
        where each frame's end in that list. The same rules, the same counters."""
        out: list[TypedEvent] = []
        append = out.append
        ends: list[int] = []
        tracking = self.tracking
        space = self.tracker.space
        resumed = self.resumed
        add_latency = self.latency.add
        source = self.source
        count = foreign = duplicates = 0
        # looked up once per run of events of one subscription and type
        run_sub: str | None = None
        run_kind = ""
        held: tuple[bool, Container[str]] | None = None
        track = False
        symbols: Container[str] = ()
        last: dict[str, int] = {}
        for got in frames:
            if type(got) is not list:
                got = (got,)
            count += len(got)
            for event in got:
                sub_id = event.sub
                kind = event.kind
                if sub_id != run_sub or kind != run_kind:
                    run_sub, run_kind = sub_id, kind
                    held = tracking.get(sub_id)
                    if held is not None:
                        track, symbols = held
                        last = space(sub_id, kind)
                if held is None:
                    continue  # a subscription we dropped: late data
                symbol = event.symbol
                if symbol not in symbols:
                    foreign += 1
                    continue
                seq = event.seq
                if resumed:
                    for record in self._check_resume(sub_id, symbol, seq, now):
                        append(Gap(**{k: v for k, v in record.items() if k != "type"}))
                    last = space(sub_id, kind)  # a restart may have dropped what it held
                previous = last.get(symbol)  # SequenceTracker.observe, inlined: the hot path
                if previous is not None:
                    if seq <= previous:
                        duplicates += 1
                        continue
                    if seq > previous + 1 and track:
                        self.gaps += 1
                        first = previous + 1
                        self._warn_jump(symbol, kind, first, seq - 1, now)
                        append(Gap(symbol, first, seq - 1, JUMP, sub_id, kind, source, now))
                last[symbol] = seq
                event.source = source
                event.received = now
                add_latency(now - event.timestamp)
                append(event)
            ends.append(len(out))
        self.messages += count
        self.last_message_at = now
        self.foreign += foreign
        self.duplicates += duplicates
        if count:
            self.data_messages += count
            self.rate.add(now, count)
        return out, ends

    def _warn_jump(self, symbol: str, data_type: str, first: int, last: int, now: float) -> None:
        if first == last:
            self.warnings.warning(now, "gap: %s %s seq %d missing", symbol, data_type, first)
        else:
            self.warnings.warning(
                now, "gap: %s %s seq %d..%d missing", symbol, data_type, first, last
            )

    def _jump(self, event: Message, first: int, last: int, now: float) -> Message:
        self._warn_jump(event["symbol"], event["type"], first, last, now)
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

    def _check_resume(self, sub_id: str, symbol: str, seq: int, now: float) -> list[Message]:
        """The first event of a resumed symbol: at or below the point sent, the server
        cannot have known it (a restart without an epoch)."""
        point = self.resumed.pop((sub_id, symbol), None)
        if point is None or seq > point:
            return []
        return self._restart(lambda key: key[0] == sub_id and key[1] == symbol, now)

    def _notice(self, gap: Message, now: float) -> bool:
        """A server gap notice: True to deliver it, False for a foreign symbol."""
        sub_id = gap.get("sub") if isinstance(gap.get("sub"), str) else None
        symbol = gap["symbol"]
        held = [self.tracking.get(sub_id)] if sub_id is not None else self.tracking.values()
        if not any(h is not None and symbol in h[1] for h in held):
            self.foreign += 1
            return False
        to_seq = gap.get("to_seq")
        if isinstance(to_seq, int):
            self.tracker.skip_to(sub_id, gap["symbol"], to_seq)
        self.gaps += 1
        gap["source"] = self.source
        gap["received"] = now
        from_seq = gap.get("from_seq")
        span = f"{from_seq}" if from_seq == to_seq else f"{from_seq}..{to_seq if to_seq else ''}"
        self.warnings.warning(
            now,
            "gap: %s seq %s missing (%s)",
            gap["symbol"],
            span,
            gap.get("reason", "reported by the server"),
        )
        return True
