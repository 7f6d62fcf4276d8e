"""Many named clients (``WebSocketClientManager``) and the two-line start (``QuickStartClient``)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from ..exceptions import ConfigError
from ..protocol.codec import Message
from .config import ConnectionConfig, SubscriptionConfig
from .connection import Handler, WebSocketClient

__all__ = ["QuickStartClient", "WebSocketClientManager"]


class WebSocketClientManager:
    def __init__(self) -> None:
        self.clients: dict[str, WebSocketClient] = {}

    def create_client(self, name: str, config: ConnectionConfig) -> WebSocketClient:
        if name in self.clients:
            raise ConfigError(f"a client named {name!r} already exists")
        client = WebSocketClient(config)
        self.clients[name] = client
        return client

    def get_client(self, name: str) -> WebSocketClient | None:
        return self.clients.get(name)

    async def remove_client(self, name: str) -> None:
        client = self.clients.pop(name, None)
        if client is not None:
            await client.disconnect()

    async def get_all_stats(self) -> dict[str, dict[str, Any]]:
        return {name: await client.get_stats() for name, client in self.clients.items()}

    async def close_all(self) -> None:
        await asyncio.gather(*(c.disconnect() for c in self.clients.values()))
        self.clients.clear()


_counter = itertools.count(1)


class QuickStartClient:
    """Shortcuts for the common case; see SDK.md "Quick start"."""

    @staticmethod
    async def create(url: str, api_key: str | None = None) -> WebSocketClient:
        return WebSocketClient(ConnectionConfig(url=url, api_key=api_key))

    @staticmethod
    async def subscribe_stocks(
        client: WebSocketClient, symbols: list[str], handler: Handler
    ) -> str:
        """Subscribe to price updates of ``symbols``, route them to ``handler``; return the id."""
        sub_id = f"stocks-{next(_counter)}"
        while sub_id in client.subscriptions:
            sub_id = f"stocks-{next(_counter)}"

        def route(data: Message) -> Any:
            if data.get("sub") == sub_id:
                return handler(data)
            return None

        client.add_message_handler("price", route)
        try:
            await client.subscribe(
                sub_id, SubscriptionConfig(symbols=symbols, data_types=["price"])
            )
        except BaseException:
            client.remove_message_handler("price", route)
            raise
        return sub_id
