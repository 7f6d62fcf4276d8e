"""A checker over delivered messages: per (sub, symbol, type) seq strictly increasing,
no duplicates, and every missing number covered by a reported gap. Every data and
gap message must also keep the normalized-event contract (``check_event``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..events import check_event
from .lines import MalformedLine


@dataclass
class Report:
    delivered: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    lost: int = 0  # missing numbers no gap covers
    gapped: int = 0  # missing numbers a gap covers
    holes: list[tuple[Any, int, int]] = field(default_factory=list)


def check(messages: Iterable[dict[str, Any]], data_types: Iterable[str] = ()) -> Report:
    report = Report()
    last: dict[tuple[str, str, str], int] = {}
    covered: dict[str, set[int]] = {}
    seen: list[tuple[tuple[str, str, str], int]] = []
    for msg in messages:
        kind = msg.get("type")
        if kind in ("price", "volume", "orderbook", "gap"):
            problems = check_event(msg)
            if problems:
                raise MalformedLine(f"{'; '.join(problems)}: {msg!r:.200}")
        if kind == "gap":
            covered.setdefault(msg["symbol"], set()).update(
                range(msg["from_seq"], msg["to_seq"] + 1)
            )
            continue
        if kind not in ("price", "volume", "orderbook"):
            continue
        report.delivered += 1
        key = (msg["sub"], msg["symbol"], kind)
        seq = msg["seq"]
        previous = last.get(key)
        if previous is not None:
            if seq == previous:
                report.duplicated += 1
                continue
            if seq < previous:
                report.out_of_order += 1
                continue
        if previous is not None and seq > previous + 1:
            seen.append((key, previous + 1))
            seen.append((key, -(seq - 1)))
        last[key] = seq
    pending = iter(seen)
    for (key, low), (_, neg_high) in zip(pending, pending, strict=True):
        high = -neg_high
        holes = [n for n in range(low, high + 1) if n not in covered.get(key[1], set())]
        report.gapped += high - low + 1 - len(holes)
        report.lost += len(holes)
        if holes:
            report.holes.append((key, holes[0], holes[-1]))
    return report
