"""Rolling message rate and latency percentiles for ``get_stats()``. Pure."""

from __future__ import annotations

import math
from collections import deque

__all__ = ["LatencyWindow", "RateMeter"]


class RateMeter:
    """Events per second over the last ``window`` seconds, in one-second buckets."""

    def __init__(self, window: int = 5) -> None:
        self.window = window
        self._buckets: deque[list[int]] = deque()  # [second, count]

    def add(self, now: float, count: int = 1) -> None:
        second = int(now)
        buckets = self._buckets
        if buckets and buckets[-1][0] == second:
            buckets[-1][1] += count
        else:
            buckets.append([second, count])
            while buckets and buckets[0][0] <= second - self.window - 1:
                buckets.popleft()

    def rate(self, now: float) -> float:
        """Mean rate over the complete seconds of the window (the current one excluded)."""
        current = int(now)
        if not self._buckets:
            return 0.0
        span = min(self.window, current - self._buckets[0][0])
        if span <= 0:
            return 0.0
        total = sum(c for s, c in self._buckets if current - span <= s < current)
        return total / span


class LatencyWindow:
    """The most recent ``size`` latency samples, in seconds."""

    def __init__(self, size: int = 4096) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self.add = self._samples.append  # ``add(seconds)``: the bound append, no extra call

    def __len__(self) -> int:
        return len(self._samples)

    def percentile(self, p: float) -> float | None:
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        index = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
        return ordered[index]
