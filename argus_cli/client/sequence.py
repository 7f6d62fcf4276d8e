"""Per-(subscription, symbol, data type) sequence tracking: dedupe, gaps, resume points.

Pure. docs/PROTOCOL.md: ``seq`` grows by exactly one per event of a symbol; a
client drops any message whose ``seq`` is not above the last it holds for
that (symbol, data type), and on a realtime unfiltered subscription counts a
jump as a gap. Overlapping subscriptions each get their own copy, so the key
includes the subscription id.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["SequenceTracker"]

Key = tuple[str, str, str]


class SequenceTracker:
    def __init__(self) -> None:
        self.last: dict[Key, int] = {}

    def observe(self, sub: str, symbol: str, data_type: str, seq: int, track_gaps: bool) -> int:
        """Record ``seq``. Returns -1 for a duplicate (drop it), 0 when in order, else
        the first missing seq of a gap that ends at ``seq - 1``."""
        key = (sub, symbol, data_type)
        last = self.last.get(key)
        if last is not None and seq <= last:
            return -1
        self.last[key] = seq
        if last is not None and track_gaps and seq > last + 1:
            return last + 1
        return 0

    def skip_to(self, sub: str | None, symbol: str, to_seq: int) -> None:
        """A server ``gap`` notice covered up to ``to_seq``: do not count it again."""
        for key, last in list(self.last.items()):
            if key[1] == symbol and (sub is None or key[0] == sub) and last < to_seq:
                self.last[key] = to_seq

    def resume_point(
        self, sub: str, symbols: Iterable[str], data_types: Iterable[str]
    ) -> dict[str, int]:
        """Symbol to the last seq held by every data type of ``sub`` (their minimum)."""
        types = list(data_types)
        out: dict[str, int] = {}
        for symbol in symbols:
            held = [self.last[k] for t in types if (k := (sub, symbol, t)) in self.last]
            if held:
                out[symbol] = min(held)
        return out

    def forget(self, sub: str) -> None:
        for key in [k for k in self.last if k[0] == sub]:
            del self.last[key]
