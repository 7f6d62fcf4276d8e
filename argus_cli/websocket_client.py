"""The SDK's documented import path (see SDK.md)::

from argus_cli.websocket_client import QuickStartClient, WebSocketClient
"""

from __future__ import annotations

from .client import (
    ConnectionConfig,
    ConnectionState,
    QuickStartClient,
    SubscriptionConfig,
    WebSocketClient,
    WebSocketClientManager,
)
from .exceptions import (
    ArgusConnectionError,
    ArgusError,
    AuthenticationError,
    ConfigError,
    ReconnectExhausted,
    SubscriptionError,
    SubscriptionLimitError,
)

__all__ = [
    "ArgusConnectionError",
    "ArgusError",
    "AuthenticationError",
    "ConfigError",
    "ConnectionConfig",
    "ConnectionState",
    "QuickStartClient",
    "ReconnectExhausted",
    "SubscriptionConfig",
    "SubscriptionError",
    "SubscriptionLimitError",
    "WebSocketClient",
    "WebSocketClientManager",
]
