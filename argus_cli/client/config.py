"""The SDK's configuration objects: validated when made, never showing the key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from ..exceptions import ConfigError
from ..protocol import rules
from ..protocol.providers import DEFAULT as DEFAULT_PROVIDER
from ..protocol.providers import NAMES as PROVIDERS
from .redact import redact_url

__all__ = ["ConnectionConfig", "ConnectionState", "SubscriptionConfig"]

TRANSPORTS = ("auto", "picows", "websockets")  # auto: picows where installed

EXPECTS = "expects"
"""Field metadata key: how a profile error describes the value a field expects,
where the description its type gives ("a string", "a number", ...) says too little."""


class ConnectionState(Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    ERROR = "error"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_url(url: Any) -> str | None:
    """None when ``url`` is a usable ws:// or wss:// URL, else the reason."""
    if not isinstance(url, str) or not url.strip():
        return "url is empty: expected ws://host[:port]/path or wss://..."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"url {redact_url(url)!r} is not valid: {exc}"
    if parts.scheme not in ("ws", "wss"):
        return f"url {redact_url(url)!r} must start with ws:// or wss://"
    if not parts.hostname:
        return f"url {redact_url(url)!r} has no host"
    if port == 0:
        return f"url {redact_url(url)!r} has port 0"
    return None


def check_rest_url(url: Any) -> str | None:
    """None when ``url`` is a usable http:// or https:// base URL, else the reason."""
    if not isinstance(url, str) or not url.strip():
        return "rest_url is empty: expected http(s)://host[:port]"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (validates the port)
    except ValueError as exc:
        return f"rest_url {redact_url(url)!r} is not valid: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"rest_url {redact_url(url)!r} must be http(s)://host[:port]"
    return None


def connection_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, reason) for every invalid ConnectionConfig value; empty when all are valid.

    Shared by ``ConnectionConfig`` and the profile loader, which names the file key.
    """
    out: list[tuple[str, str]] = []
    reason = check_url(values.get("url"))
    if reason:
        out.append(("url", reason))
    for name in ("api_key", "api_secret"):
        secret = values.get(name)
        if secret is not None and (
            not isinstance(secret, str) or not secret or any(c in secret for c in "\r\n\0")
        ):
            out.append((name, f"{name} must be a non-empty string without line breaks"))
    provider = values.get("provider", DEFAULT_PROVIDER)
    if provider not in PROVIDERS:
        out.append(("provider", f"unknown provider {provider!r}: expected {', '.join(PROVIDERS)}"))
    transport = values.get("transport", "auto")
    if transport not in ("auto", "picows", "websockets"):
        out.append(
            ("transport", f"unknown transport {transport!r}: expected auto, picows or websockets")
        )
    rest_url = values.get("rest_url")
    if rest_url is not None:
        reason = check_rest_url(rest_url)
        if reason:
            out.append(("rest_url", reason))
    attempts = values.get("max_reconnect_attempts", 0)
    if not _is_int(attempts) or attempts < 0:
        out.append(("max_reconnect_attempts", "max_reconnect_attempts must be an integer >= 0"))
    for name, floor, strict in (
        ("reconnect_delay", ">= 0", False),
        ("heartbeat_interval", "> 0", True),
        ("timeout", "> 0", True),
        ("max_backoff", "> 0", True),
    ):
        value = values.get(name, 1)
        if not rules.is_number(value) or (value <= 0 if strict else value < 0):
            out.append((name, f"{name} must be a number {floor}, not {value!r}"))
    for name in ("max_subscriptions", "max_message_size", "queue_size"):
        value = values.get(name, 1)
        if not _is_int(value) or value < 1:
            out.append((name, f"{name} must be an integer >= 1, not {value!r}"))
    ca_file = values.get("ca_file")
    if ca_file is not None and not isinstance(ca_file, str):
        out.append(("ca_file", "ca_file must be a path"))
    return out


@dataclass(frozen=True, repr=False)
class ConnectionConfig:
    """How to reach a server and how hard to try. See docs/SDK.md.

    Each field is also a ``connection.*`` profile key: the profile schema and its
    defaults are derived from these fields (see ``argus_cli.config``).
    """

    url: str = field(metadata={EXPECTS: "a ws:// or wss:// URL"})
    api_key: str | None = None
    # Beyond docs/SDK.md: the provider (PROVIDERS.md) and what some venues need.
    provider: str = field(
        default=DEFAULT_PROVIDER, metadata={EXPECTS: f"one of {', '.join(PROVIDERS)}"}
    )
    api_secret: str | None = None  # Alpaca's secret key (api_key is its key id)
    transport: str = field(default="auto", metadata={EXPECTS: "auto, picows or websockets"})
    rest_url: str | None = field(default=None, metadata={EXPECTS: "an http(s):// URL"})
    max_reconnect_attempts: int = 5
    reconnect_delay: float = 1.0
    heartbeat_interval: float = 30
    timeout: float = 10
    max_subscriptions: int = 100
    # Beyond docs/SDK.md: limits and transport security.
    max_message_size: int = 1 << 20
    max_backoff: float = 30.0
    queue_size: int = 10_000
    ca_file: str | None = field(default=None, metadata={EXPECTS: "a file path"})
    insecure_skip_verify: bool = False
    allow_insecure_key: bool = False

    def __post_init__(self) -> None:
        problems = connection_problems(vars(self))
        if problems:
            reasons = "; ".join(reason for _, reason in problems)
            raise ConfigError(f"invalid ConnectionConfig: {reasons}")

    @property
    def safe_url(self) -> str:
        """The URL with any credentials or query values redacted."""
        return redact_url(self.url)

    def __repr__(self) -> str:
        key = "'***'" if self.api_key else "None"
        secret = ", api_secret='***'" if self.api_secret else ""
        provider = f", provider={self.provider!r}" if self.provider != DEFAULT_PROVIDER else ""
        return (
            f"ConnectionConfig(url={self.safe_url!r}, api_key={key}{secret}{provider}, "
            f"max_reconnect_attempts={self.max_reconnect_attempts}, "
            f"reconnect_delay={self.reconnect_delay}, "
            f"heartbeat_interval={self.heartbeat_interval}, timeout={self.timeout}, "
            f"max_subscriptions={self.max_subscriptions})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class SubscriptionConfig:
    """What to subscribe to. See docs/SDK.md and docs/PROTOCOL.md (subscribe).

    Every field but ``symbols`` is also a ``subscription.*`` profile key.
    """

    symbols: list[str]
    data_types: list[str] = field(metadata={EXPECTS: f"a list of {', '.join(rules.DATA_TYPES)}"})
    update_frequency: str = field(
        default="realtime", metadata={EXPECTS: f"one of {', '.join(rules.FREQUENCIES)}"}
    )
    filters: dict[str, Any] | None = field(
        default=None, metadata={EXPECTS: "a mapping of min_price / max_price"}
    )

    def __post_init__(self) -> None:
        if isinstance(self.symbols, str):
            raise ConfigError("symbols must be a list of symbols, not a single string")
        if isinstance(self.data_types, str):
            raise ConfigError("data_types must be a list, not a single string")
        # Frozen: keep private copies of the caller's lists through object.__setattr__.
        object.__setattr__(self, "symbols", list(self.symbols))
        object.__setattr__(self, "data_types", list(self.data_types))
        if self.filters is not None:
            object.__setattr__(self, "filters", dict(self.filters))
        for reason in (
            rules.check_symbols(self.symbols, venue=True),  # the argus codec checks its own
            rules.check_data_types(self.data_types),
            rules.check_frequency(self.update_frequency),
            rules.check_filters(self.filters),
        ):
            if reason:
                raise ConfigError(f"invalid SubscriptionConfig: {reason}")
        if len(set(self.symbols)) != len(self.symbols):
            raise ConfigError("invalid SubscriptionConfig: symbols are repeated")

    @property
    def tracks_gaps(self) -> bool:
        """Realtime and unfiltered: every seq is expected, so a jump is a gap."""
        return self.update_frequency == "realtime" and not self.filters
