"""Every exception argus raises on purpose.

The tree::

    ArgusError
    ├── ConfigError                 a config object or profile file is invalid
    │   ├── ProfileError            a profile file: names the file, holds every problem
    │   ├── ChaosSpecError          an ``argus serve --chaos`` spec is invalid
    │   ├── AlertRuleError          an ``--alert`` rule cannot be read (names the rule)
    │   └── NotOffered              the provider does not offer it (a data type, a symbol list)
    ├── ProtocolError               a message breaks the wire protocol
    │   ├── DecodeError             a received frame cannot be decoded (remote fault)
    │   │   └── UnknownMessageType  a well-formed message of an unknown type (skipped)
    │   └── EncodeError             an outgoing op is invalid (local fault)
    ├── ArgusConnectionError        the connection could not be made or kept
    │   ├── AuthenticationError     the server refused the API key (HTTP 401/403): fatal
    │   ├── TLSVerificationError    the server's certificate failed verification: fatal
    │   ├── HandshakeRejected       the server answered the upgrade with another HTTP status
    │   ├── InsecureTransportError  an API key would travel over plain ws:// to a remote host
    │   └── ReconnectExhausted      max_reconnect_attempts consecutive failures
    ├── SubscriptionError           the server refused a subscription (carries code and id)
    │   └── SubscriptionLimitError  more than max_subscriptions (refused locally)
    ├── SinkError                   a sink (JSON lines, a recording, ...) could not take data
    ├── NotConnectedError           an operation needs a live connection
    ├── ReplyTimeout                the server did not answer a request within ``timeout``
    └── InternalError               a bug inside argus: the stream stopped (state ERROR)

Messages never contain the API key; URLs in messages are redacted.
"""

from __future__ import annotations

__all__ = [
    "AlertRuleError",
    "ArgusConnectionError",
    "ArgusError",
    "AuthenticationError",
    "ChaosSpecError",
    "ConfigError",
    "DecodeError",
    "EncodeError",
    "HandshakeRejected",
    "InsecureTransportError",
    "InternalError",
    "NotConnectedError",
    "NotOffered",
    "ProfileError",
    "ProtocolError",
    "ReconnectExhausted",
    "ReplyTimeout",
    "SinkError",
    "SubscriptionError",
    "SubscriptionLimitError",
    "TLSVerificationError",
    "UnknownMessageType",
]


class ArgusError(Exception):
    """Base class of every argus error."""


class ConfigError(ArgusError, ValueError):
    """A configuration value is invalid."""


class ProfileError(ConfigError):
    """A profile or config file is invalid. ``problems`` lists each one."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration in {source}:\n{lines}")


class ChaosSpecError(ConfigError):
    """The ``--chaos`` spec is not valid; the message names the part."""


class AlertRuleError(ConfigError):
    """An alert rule cannot be read: ``rule`` (as given) and ``reason`` say why."""

    def __init__(self, rule: str, reason: str) -> None:
        self.rule = rule
        self.reason = reason
        super().__init__(f"alert rule {rule!r}: {reason}")


class NotOffered(ConfigError):
    """The provider does not offer what was asked: a data type (Finnhub has no
    books), price filters, a frequency, listing its symbols. Says what it offers."""


class ProtocolError(ArgusError):
    """A message breaks the argus wire protocol."""


class DecodeError(ProtocolError):
    """A frame received from the peer could not be decoded."""


class UnknownMessageType(DecodeError):
    """A well-formed message of a type this client does not know (skipped, not an error)."""


class EncodeError(ProtocolError, ValueError):
    """An outgoing message is invalid; nothing was sent."""


class ArgusConnectionError(ArgusError):
    """The connection could not be made or kept. ``url`` is redacted."""

    def __init__(self, message: str, *, url: str = "") -> None:
        self.url = url
        super().__init__(message)


class AuthenticationError(ArgusConnectionError):
    """The server refused the API key (HTTP 401 or 403). Never retried."""

    def __init__(self, message: str, *, url: str = "", status: int = 401) -> None:
        self.status = status
        super().__init__(message, url=url)


class TLSVerificationError(ArgusConnectionError):
    """The server's TLS certificate failed verification. Never retried."""


class HandshakeRejected(ArgusConnectionError):
    """The server answered the WebSocket upgrade with an HTTP error status."""

    def __init__(
        self, message: str, *, url: str = "", status: int = 0, retry_after: float | None = None
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(message, url=url)


class InsecureTransportError(ArgusConnectionError):
    """An API key would be sent in clear text to a non-loopback host."""


class ReconnectExhausted(ArgusConnectionError):
    """``max_reconnect_attempts`` consecutive attempts failed."""

    def __init__(self, message: str, *, url: str = "", attempts: int = 0) -> None:
        self.attempts = attempts
        super().__init__(message, url=url)


class SubscriptionError(ArgusError):
    """The server refused a subscription. ``code`` is the protocol error code."""

    def __init__(self, message: str, *, code: str = "", subscription_id: str | None = None) -> None:
        self.code = code
        self.subscription_id = subscription_id
        super().__init__(message)


class SubscriptionLimitError(SubscriptionError, ValueError):
    """Subscribing would exceed ``max_subscriptions`` (refused before anything is sent)."""

    def __init__(self, message: str, *, subscription_id: str | None = None) -> None:
        super().__init__(message, code="too_many_subscriptions", subscription_id=subscription_id)


class SinkError(ArgusError):
    """A sink could not take data (standard output closed or full, a disk error, ...).

    Unlike a handler that raises (logged and counted), a failing sink stops the
    stream: data it should have kept would otherwise be lost silently.
    """

    def __init__(self, message: str, *, sink: str = "") -> None:
        self.sink = sink
        super().__init__(message)


class InternalError(ArgusError):
    """An unexpected exception inside argus (a bug). The stream stopped in state ERROR;
    ``__cause__`` holds the original exception."""


class NotConnectedError(ArgusError):
    """The operation needs a live connection."""


class ReplyTimeout(ArgusError, TimeoutError):
    """The server did not answer within the configured timeout."""
