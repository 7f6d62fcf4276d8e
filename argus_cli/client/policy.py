"""The retry policy: which failures end the stream and which are tried again. Pure.

Decided from argus's own exceptions (each transport maps its library's errors
into them), so the policy is the same whatever carries the frames:

- fatal, never retried: a refused key (``AuthenticationError``, HTTP 401/403),
  a certificate that fails verification (``TLSVerificationError``), a key that
  would travel in clear text (``InsecureTransportError``), a configuration
  problem (``ConfigError``: a missing ``ca_file``, an invalid URL), and any other
  HTTP status the server answers the upgrade with, except
- retried: HTTP 408, 429 and 5xx (waiting at least ``Retry-After`` when the
  server gives one), network errors, timeouts and resets.

A provider with other rules passes its own ``RetryPolicy``: for instance
``RetryPolicy(fatal_statuses=frozenset({401, 402, 403}))``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import (
    ArgusConnectionError,
    ArgusError,
    AuthenticationError,
    ConfigError,
    HandshakeRejected,
    InsecureTransportError,
    TLSVerificationError,
)

__all__ = ["Decision", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class Decision:
    retry: bool
    wait_at_least: float | None = None  # seconds (Retry-After)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    fatal_statuses: frozenset[int] = frozenset({401, 403})
    retry_statuses: frozenset[int] = frozenset({408, 429})
    retry_server_errors: bool = True  # HTTP 5xx

    def decide(self, error: ArgusError) -> Decision:
        if isinstance(
            error, AuthenticationError | TLSVerificationError | InsecureTransportError | ConfigError
        ):
            return Decision(retry=False)
        if isinstance(error, HandshakeRejected):
            status = error.status
            if status in self.fatal_statuses:
                return Decision(retry=False)
            if status in self.retry_statuses or (self.retry_server_errors and status >= 500):
                return Decision(retry=True, wait_at_least=error.retry_after)
            return Decision(retry=False)
        return Decision(retry=isinstance(error, ArgusConnectionError))
