"""The reconnect loop: attempts, backoff, health, giving up, and the catch-all.

One attempt opens a link and serves it until it ends. A failed open is judged
by the ``RetryPolicy`` (fatal: stop at once; else retry after the backoff, or
``Retry-After`` if longer). A served link that ended before it was healthy
(a first data message, or ``HEALTHY_AFTER`` seconds up) counts as a failure
too, so a server that accepts and drops at once never gets a tight loop;
a healthy one resets the count and the backoff. After
``max_reconnect_attempts`` consecutive failures the client gives up
(``ReconnectExhausted``).

Anything unexpected raised inside (a decoder bug, a provider message of a shape
no one planned for) ends in ``InternalError`` with the original as its cause:
state ``ERROR``, the error logged and kept, never a silent stop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..exceptions import ArgusError, InternalError, ReconnectExhausted
from .backoff import Backoff
from .config import ConnectionConfig, ConnectionState
from .policy import RetryPolicy
from .state import ConnectionStatus
from .transports.base import Link

log = logging.getLogger("argus_cli.client")

__all__ = ["HEALTHY_AFTER", "Served", "Supervisor", "internal_error"]

HEALTHY_AFTER = 2.0  # seconds up (or a first data message) before backoff resets


def internal_error(exc: BaseException, where: str) -> InternalError:
    """``exc`` (a bug in argus) as the ``InternalError`` that stops the client, logged
    once with its traceback (the CLI's error boundary prints the line itself)."""
    error = InternalError(f"internal error: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    log.error("%s stopped on an %s", where, error, exc_info=exc, extra={"argus_final": True})
    return error


@dataclass(frozen=True, slots=True)
class Served:
    """How one connection ended."""

    healthy: bool
    reason: str  # one line, kept as ``last_error``
    error: ArgusError | None = None  # the provider ended it (a key refused by a message)


class Supervisor:
    def __init__(
        self,
        config: ConnectionConfig,
        policy: RetryPolicy,
        status: ConnectionStatus,
        open_link: Callable[[], Awaitable[Link]],
        serve: Callable[[Link], Awaitable[Served]],
        on_error: Callable[[str], None],
        give_up: Callable[[ArgusError], None],
    ) -> None:
        self.config = config
        self.policy = policy
        self.status = status
        self.open_link = open_link
        self.serve = serve
        self.on_error = on_error
        self.give_up = give_up
        self.closing = False
        self.reconnect_count = 0
        self.backoff = Backoff(config.reconnect_delay, cap=config.max_backoff)

    async def run(self) -> None:
        """Connect, serve and reconnect until closed or given up; never raise but cancel."""
        try:
            await self._loop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.give_up(internal_error(exc, "the stream"))

    async def _loop(self) -> None:
        config = self.config
        limit = max(1, config.max_reconnect_attempts)
        failures = 0
        ever_connected = False
        last_error = ""
        lost_at: float | None = None  # when the last working connection was lost
        attempts = 0  # since then
        while not self.closing:
            wait_at_least: float | None = None
            try:
                link = await self.open_link()
            except ArgusError as error:
                attempts += 1
                last_error = str(error)
                self.on_error(last_error)
                decision = self.policy.decide(error)
                if not decision.retry:
                    self.give_up(error)
                    return
                wait_at_least = decision.wait_at_least
                failures += 1
            else:
                if ever_connected:
                    self.reconnect_count += 1
                if lost_at is not None:  # the other half of "reconnecting in ..."
                    log.warning(
                        "reconnected after %.1fs (attempt %d)",
                        time.monotonic() - lost_at,
                        attempts + 1,
                    )
                lost_at, attempts = None, 0
                ever_connected = True
                served = await self.serve(link)
                if self.closing:
                    return
                self.status.to(ConnectionState.RECONNECTING)
                lost_at = time.monotonic()
                last_error = served.reason
                self.on_error(last_error)
                if served.error is not None:
                    decision = self.policy.decide(served.error)
                    if not decision.retry:
                        self.give_up(served.error)
                        return
                    wait_at_least = decision.wait_at_least
                if served.healthy:
                    failures = 0
                    self.backoff.reset()
                else:
                    failures += 1  # accepted, then lost before it was any use
            if failures >= limit:
                message = (
                    f"gave up on {config.safe_url} after {failures} consecutive failed "
                    f"attempt{'s' if failures != 1 else ''}: {last_error}"
                )
                self.give_up(ReconnectExhausted(message, url=config.safe_url, attempts=failures))
                return
            delay = self.backoff.next_delay()
            if wait_at_least is not None:
                delay = max(delay, wait_at_least)
            if failures:
                log.warning(
                    "%s; retrying in %.1fs (failure %d of %d)", last_error, delay, failures, limit
                )
            else:
                log.warning("%s; reconnecting in %.1fs", last_error, delay)
            if ever_connected:
                self.status.to(ConnectionState.RECONNECTING)
            await asyncio.sleep(delay)
