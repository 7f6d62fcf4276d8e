"""Many named clients (``WebSocketClientManager``) and the two-line start (``QuickStartClient``).

Both are part of the SDK's public API (``argus_cli.websocket_client``); docs/SDK.md
documents them with runnable examples.
"""

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
    """Several ``WebSocketClient`` objects under names of your choosing.

    The manager creates the clients, finds them by name, collects their
    statistics and closes them together. It does not connect them: call
    ``connect()`` (and ``subscribe()``) on each client it returns. Each client
    keeps its own connection, reconnect loop, subscriptions and handlers::

        manager = WebSocketClientManager()
        client1 = manager.create_client("client1", config1)
        client2 = manager.create_client("client2", config2)
        await client1.connect()
        await client2.connect()
        stats = await manager.get_all_stats()   # {"client1": {...}, "client2": {...}}
        await manager.close_all()

    ``clients`` is the ``{name: WebSocketClient}`` dict it manages, in the order
    the clients were created.
    """

    def __init__(self) -> None:
        """An empty manager."""
        self.clients: dict[str, WebSocketClient] = {}

    def create_client(self, name: str, config: ConnectionConfig) -> WebSocketClient:
        """Make a ``WebSocketClient`` for ``config``, register it as ``name`` and return it.

        The client is not connected yet: call its ``connect()``. Raises
        ``ConfigError`` if a client named ``name`` already exists (remove it
        first with ``remove_client``), or if ``config`` is not a
        ``ConnectionConfig``.
        """
        if name in self.clients:
            raise ConfigError(f"a client named {name!r} already exists")
        client = WebSocketClient(config)
        self.clients[name] = client
        return client

    def get_client(self, name: str) -> WebSocketClient | None:
        """The client registered as ``name``, or None when there is none."""
        return self.clients.get(name)

    async def remove_client(self, name: str) -> None:
        """Disconnect the client registered as ``name`` and forget the name.

        The client is closed with ``disconnect()`` (close code 1000, reconnecting
        stopped); an unknown name does nothing.
        """
        client = self.clients.pop(name, None)
        if client is not None:
            await client.disconnect()

    async def get_all_stats(self) -> dict[str, dict[str, Any]]:
        """Every client's ``get_stats()``, by name: ``{"client1": {...}, "client2": {...}}``.

        Each value has the keys ``WebSocketClient.get_stats`` returns
        (``messages_received``, ``state``, ``reconnect_count``, ...); an empty
        dict when the manager holds no client.
        """
        return {name: await client.get_stats() for name, client in self.clients.items()}

    async def close_all(self) -> None:
        """Disconnect every client (concurrently) and forget them all.

        Afterwards ``clients`` is empty; the client objects themselves stay
        usable (``connect()`` again) by whoever still holds them.
        """
        await asyncio.gather(*(c.disconnect() for c in self.clients.values()))
        self.clients.clear()


_counter = itertools.count(1)


class QuickStartClient:
    """Shortcuts for the common case (docs/SDK.md, "Quick start").

    Both are static methods::

        client = await QuickStartClient.create("ws://localhost:8000/ws")
        if await client.connect():
            sub_id = await QuickStartClient.subscribe_stocks(client, ["AAPL"], print)
    """

    @staticmethod
    async def create(url: str, api_key: str | None = None) -> WebSocketClient:
        """A ``WebSocketClient`` for ``url`` (and ``api_key``), every other setting
        the ``ConnectionConfig`` default. Not connected yet: call ``connect()``.
        Raises ``ConfigError`` for an invalid URL or key."""
        return WebSocketClient(ConnectionConfig(url=url, api_key=api_key))

    @staticmethod
    async def subscribe_stocks(
        client: WebSocketClient, symbols: list[str], handler: Handler
    ) -> str:
        """Subscribe to price updates of ``symbols``, route them to ``handler``; return the id.

        The id is ``stocks-1``, ``stocks-2``, ... (one not in use by ``client``).
        ``handler(data)`` (a plain or coroutine function) sees only this
        subscription's ``price`` events. Subscribing works as
        ``client.subscribe`` does: while connected it waits for the server's
        answer; if that raises (``SubscriptionError``, ``ReplyTimeout``, ...)
        the routing handler is removed and the error propagates.
        """
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
