"""The transport interface: open a link, frames in, frames out, close with a code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from ..config import ConnectionConfig

__all__ = ["FrameCallback", "Link", "Transport"]

# Called with the frames received, in order: each call with one or more (a link
# that reads many frames at once hands them over together, e.g. picows, every
# complete frame of one socket read; the list is the callee's to keep). When it
# returns an awaitable, the link reads nothing more until it completes: that is
# how backpressure reaches the socket. An exception it raises ends
# ``Link.receive`` with that exception.
FrameCallback = Callable[[list[str | bytes]], Awaitable[None] | None]


class Link(Protocol):
    """One open connection."""

    async def receive(self, on_frames: FrameCallback) -> str:
        """Deliver frames to ``on_frames`` until the connection ends; return how it
        ended, as one line for ``last_error`` (close code and reason, or the network
        error). Keepalive (pings, pong timeout) runs underneath."""

    async def send(self, data: bytes) -> None:
        """Send one text frame; raise ``NotConnectedError`` if the link is closed."""

    async def close(self, code: int = 1000, reason: str = "", timeout: float | None = None) -> None:
        """Close with ``code``; safe to call twice. From the close frame on, the frames
        still arriving are read but no longer delivered; the server's close frame is
        awaited at most ``timeout`` seconds (None: the link's own bound, websockets'
        ``close_timeout``), then the TCP connection is aborted."""

    async def ping(self) -> float:
        """A WebSocket ping's round trip, in seconds; ``NotConnectedError`` if closed."""


class Transport(Protocol):
    """Opens links. Raises only argus errors (``ArgusConnectionError`` and its
    subclasses, ``ConfigError``), so the retry policy never sees a library's own."""

    name: str

    async def open(self, config: ConnectionConfig, headers: dict[str, str]) -> Link: ...
