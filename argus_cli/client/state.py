"""Connection state: the one place it changes, with every legal transition in a table.

::

    DISCONNECTED ──connect()──► CONNECTING ──up──► CONNECTED ──lost──► RECONNECTING
         ▲                          │                  │  ▲                 │
         └──── disconnect() ◄───────┴──────────────────┘  └──────up─────────┘
    any state but ERROR ──gave up / fatal / internal error──► ERROR ──connect()──► CONNECTING

``CONNECTING`` covers the first connection and its retries; ``RECONNECTING``
every attempt after a connection was lost. ``disconnect()`` leaves ``ERROR`` as
it is, so the reason a client stopped stays visible. A transition outside the
table is a bug in argus and raises ``IllegalTransition``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from .config import ConnectionState

__all__ = ["TRANSITIONS", "ConnectionStatus", "IllegalTransition"]

S = ConnectionState

TRANSITIONS: Mapping[ConnectionState, frozenset[ConnectionState]] = {
    S.DISCONNECTED: frozenset({S.CONNECTING, S.ERROR}),
    S.CONNECTING: frozenset({S.CONNECTED, S.DISCONNECTED, S.ERROR}),
    S.CONNECTED: frozenset({S.RECONNECTING, S.DISCONNECTED, S.ERROR}),
    S.RECONNECTING: frozenset({S.CONNECTED, S.DISCONNECTED, S.ERROR}),
    S.ERROR: frozenset({S.CONNECTING}),
}


class IllegalTransition(RuntimeError):
    """A state change the table does not allow: a bug in argus, never the user's fault."""


class ConnectionStatus:
    """The client's state, and an event set exactly while it is ``CONNECTED``."""

    def __init__(self, on_change: Callable[[ConnectionState, ConnectionState], None] | None = None):
        self.state = S.DISCONNECTED
        self.on_change = on_change
        self._connected: asyncio.Event | None = None

    @property
    def connected(self) -> asyncio.Event:
        """Made on first use, inside the running loop."""
        if self._connected is None:
            self._connected = asyncio.Event()
            if self.state is S.CONNECTED:
                self._connected.set()
        return self._connected

    def to(self, new: ConnectionState) -> None:
        """Move to ``new`` (staying put is a no-op); raise ``IllegalTransition`` if not allowed."""
        old = self.state
        if new is old:
            return
        if new not in TRANSITIONS[old]:
            raise IllegalTransition(f"connection state {old.value} -> {new.value} is not allowed")
        self.state = new
        if self._connected is not None:
            if new is S.CONNECTED:
                self._connected.set()
            else:
                self._connected.clear()
        if self.on_change is not None:
            self.on_change(old, new)
