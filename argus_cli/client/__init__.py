"""The asyncio client: connection loop, reconnect policy, subscriptions, resume, stats."""

from __future__ import annotations

from .config import ConnectionConfig, ConnectionState, SubscriptionConfig
from .connection import WebSocketClient
from .manager import QuickStartClient, WebSocketClientManager

__all__ = [
    "ConnectionConfig",
    "ConnectionState",
    "QuickStartClient",
    "SubscriptionConfig",
    "WebSocketClient",
    "WebSocketClientManager",
]
