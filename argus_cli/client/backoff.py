"""The reconnect delay schedule: pure, seeded for tests.

First retry after a random delay in ``[0, base]`` (so a fleet of clients cut
off together does not come back together), then exponential growth with
jitter in ``[d/2, d]``, capped. ``reset()`` only once a connection has proven
healthy, so a server that accepts and closes at once never gets a tight loop.
"""

from __future__ import annotations

import random

__all__ = ["MIN_DELAY", "Backoff"]

MIN_DELAY = 0.05  # seconds: the floor of every delay after the first, whatever the config


class Backoff:
    def __init__(
        self,
        base: float,
        cap: float = 30.0,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        self.base = max(base, MIN_DELAY)
        self.cap = max(cap, self.base)
        self.factor = factor
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """The delay before the next attempt; each call is one more attempt."""
        self.attempt += 1
        if self.attempt == 1:
            return self._rng.uniform(0.0, self.base)
        ceiling = min(self.cap, self.base * self.factor ** (self.attempt - 1))
        return max(MIN_DELAY, self._rng.uniform(ceiling / 2, ceiling))

    def ceiling(self) -> float:
        """The largest delay the next call can return (for recovery-time budgets)."""
        if self.attempt == 0:
            return self.base
        return min(self.cap, self.base * self.factor**self.attempt)

    def reset(self) -> None:
        self.attempt = 0
