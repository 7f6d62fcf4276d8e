"""argus: real-time market data for the terminal, pipelines and Python.

The SDK (see the README) is re-exported here and from ``argus_cli.websocket_client``.
The client classes load on first use (``argus --version`` or ``argus stream --help``
should not pay for the asyncio client); the exceptions are plain and loaded here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import exceptions
from .exceptions import *  # noqa: F403  (every exception argus raises on purpose)

if TYPE_CHECKING:  # what the lazy names are, for type checkers
    from .websocket_client import (
        ConnectionConfig,
        ConnectionState,
        QuickStartClient,
        SubscriptionConfig,
        WebSocketClient,
        WebSocketClientManager,
    )

__version__ = "0.1.0"  # the one version source: pyproject.toml reads it (hatch)

__all__ = [  # websocket_client.__all__ and the version (tests pin both lists)
    "ConnectionConfig",
    "ConnectionState",
    "QuickStartClient",
    "SubscriptionConfig",
    "WebSocketClient",
    "WebSocketClientManager",
    *exceptions.__all__,
    "__version__",
]
_CLIENT = frozenset(__all__) - {*exceptions.__all__, "__version__"}  # loaded on first use


def __getattr__(name: str) -> Any:
    if name in _CLIENT:
        from . import websocket_client

        value = getattr(websocket_client, name)
        globals()[name] = value  # once: later lookups do not come back here
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
