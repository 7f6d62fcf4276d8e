"""The SDK's documented import path::

    from argus_cli.websocket_client import QuickStartClient, WebSocketClient

It holds the client, its configs and every exception argus raises on purpose.
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
from .exceptions import *  # noqa: F403  (every exception argus raises on purpose)
from .exceptions import __all__ as _exceptions

__all__ = [
    "ConnectionConfig",
    "ConnectionState",
    "QuickStartClient",
    "SubscriptionConfig",
    "WebSocketClient",
    "WebSocketClientManager",
    *_exceptions,
]
