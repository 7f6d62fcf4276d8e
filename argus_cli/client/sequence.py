"""Per-(subscription, symbol, data type) sequence tracking: dedupe, gaps, resume points.

Pure. docs/PROTOCOL.md: ``seq`` grows by exactly one per event of a symbol; a
client drops any message whose ``seq`` is not above the last it holds for
that (symbol, data type), and on a realtime unfiltered subscription counts a
jump as a gap. Overlapping subscriptions each get their own copy, so the key
includes the subscription id.

Held as one ``{symbol: last seq}`` table per (subscription, data type), a
*space*: the receive path looks a space up once per run of events of one
subscription and type, then indexes it by symbol alone.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Key", "SequenceTracker"]

Key = tuple[str, str, str]  # (subscription, symbol, data type)


class SequenceTracker:
    def __init__(self) -> None:
        self.spaces: dict[tuple[str, str], dict[str, int]] = {}  # (sub, type) -> symbol -> seq

    def space(self, sub: str, data_type: str) -> dict[str, int]:
        """The ``{symbol: last seq}`` table of ``sub``'s ``data_type`` events (made if new)."""
        table = self.spaces.get((sub, data_type))
        if table is None:
            table = self.spaces[(sub, data_type)] = {}
        return table

    @property
    def last(self) -> dict[Key, int]:
        """Every last seq held, by (subscription, symbol, data type): a copy."""
        return {
            (sub, symbol, data_type): seq
            for (sub, data_type), table in self.spaces.items()
            for symbol, seq in table.items()
        }

    def drop(self, key: Key) -> int:
        """Forget the last seq held for ``key`` and return it."""
        sub, symbol, data_type = key
        return self.spaces[(sub, data_type)].pop(symbol)

    def observe(self, sub: str, symbol: str, data_type: str, seq: int, track_gaps: bool) -> int:
        """Record ``seq``. Returns -1 for a duplicate (drop it), 0 when in order, else
        the first missing seq of a gap that ends at ``seq - 1``."""
        table = self.space(sub, data_type)
        last = table.get(symbol)
        if last is not None and seq <= last:
            return -1
        table[symbol] = seq
        if last is not None and track_gaps and seq > last + 1:
            return last + 1
        return 0

    def skip_to(self, sub: str | None, symbol: str, to_seq: int) -> None:
        """A server ``gap`` notice covered up to ``to_seq``: do not count it again."""
        for (space_sub, _), table in self.spaces.items():
            last = table.get(symbol)
            if last is not None and (sub is None or space_sub == sub) and last < to_seq:
                table[symbol] = to_seq

    def resume_point(
        self, sub: str, symbols: Iterable[str], data_types: Iterable[str]
    ) -> dict[str, int]:
        """Symbol to the last seq held by every data type of ``sub`` (their minimum)."""
        tables = [t for d in data_types if (t := self.spaces.get((sub, d))) is not None]
        out: dict[str, int] = {}
        for symbol in symbols:
            held = [t[symbol] for t in tables if symbol in t]
            if held:
                out[symbol] = min(held)
        return out

    def forget(self, sub: str) -> None:
        for key in [k for k in self.spaces if k[0] == sub]:
            del self.spaces[key]
