"""argus: real-time market data for the terminal, pipelines and Python.

The SDK (see SDK.md) is re-exported here and from ``argus_cli.websocket_client``.
"""

from __future__ import annotations

from .websocket_client import (
    ArgusConnectionError,
    ArgusError,
    AuthenticationError,
    ConfigError,
    ConnectionConfig,
    ConnectionState,
    QuickStartClient,
    ReconnectExhausted,
    SubscriptionConfig,
    SubscriptionError,
    SubscriptionLimitError,
    WebSocketClient,
    WebSocketClientManager,
)

__version__ = "0.1.0"

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
    "__version__",
]
