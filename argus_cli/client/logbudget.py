"""Warnings about what a server sends, rate-limited: a flood of bad messages or gaps
must not become a flood of stderr lines (600 KB in was once 300,000 lines out).

Pure apart from the logger: the time is passed in. A token bucket allows
``burst`` lines at once and ``rate`` a second after that; what it holds back is
counted and said with the next line that goes out ("... and 1234 more like it").
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["LogBudget"]


class LogBudget:
    def __init__(self, logger: logging.Logger, rate: float = 5.0, burst: int = 20) -> None:
        self.logger = logger
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.updated: float | None = None
        self.suppressed = 0  # held back since the last line that went out
        self.total_suppressed = 0

    def warning(self, now: float, message: str, *args: Any) -> bool:
        """Log ``message % args`` at WARNING if the budget allows; True when it did."""
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            self.suppressed += 1
            self.total_suppressed += 1
            return False
        self.tokens -= 1.0
        if self.suppressed:
            message = f"{message} (and {self.suppressed} more warnings held back)"
            self.suppressed = 0
        self.logger.warning(message, *args)
        return True
