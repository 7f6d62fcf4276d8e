"""The python-websockets adapter: today's transport, and the reference for others.

websockets does the handshake, keepalive pings with a pong timeout, close
codes and the inbound frame limit; this module only maps its exceptions into
argus's tree (``open``) and its close information into one line (``receive``).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Generator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import (
    ConnectionClosed,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    SecurityError,
)
from websockets.http11 import Response
from websockets.streams import StreamReader

from ...exceptions import (
    ArgusConnectionError,
    ArgusError,
    AuthenticationError,
    ConfigError,
    HandshakeRejected,
    NotConnectedError,
    TLSVerificationError,
)
from ..config import ConnectionConfig
from .base import FrameCallback
from .options import ssl_context

__all__ = ["WebsocketsLink", "WebsocketsTransport", "map_open_error"]

MAX_RETRY_AFTER = 300.0  # seconds: a longer Retry-After is taken as this


class WebsocketsLink:
    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._closing = False  # close() was called: frames are read, not delivered

    async def receive(self, on_frames: FrameCallback) -> str:
        ws = self._ws
        try:
            async for frame in ws:
                if self._closing:  # read on towards the server's close frame
                    continue
                pending = on_frames([frame])
                if pending is not None:
                    await pending
        except ConnectionClosed as exc:
            return f"connection closed: {_describe(exc)}"
        except OSError as exc:
            return f"connection lost: {exc}"
        code = ws.close_code
        if code is None:
            return "connection closed: no close frame"
        return f"connection closed: code {code} {ws.close_reason or ''}".strip()

    async def send(self, data: bytes) -> None:
        try:
            await self._ws.send(data, text=True)
        except ConnectionClosed:
            raise NotConnectedError("the connection is closed") from None

    async def close(self, code: int = 1000, reason: str = "", timeout: float | None = None) -> None:
        self._closing = True
        ws = self._ws
        if timeout is None:  # websockets' close_timeout, then it aborts
            await ws.close(code, reason)
            return
        try:
            async with asyncio.timeout(timeout):
                await ws.close(code, reason)
        except TimeoutError:  # the close frame went (or the socket is stuck): drop it
            ws.transport.abort()
            await ws.wait_closed()

    async def ping(self) -> float:
        try:
            waiter = await self._ws.ping()
            return await waiter
        except ConnectionClosed:
            raise NotConnectedError("the connection is closed") from None


class _HeadRecorder:
    """The protocol's reader, keeping the response's status and header lines.

    websockets discards the status of a refusal whose body is over its 1 MiB
    limit (``InvalidMessage`` from a ``SecurityError``); a 401 must still be a
    refused key, so the head is kept aside as it is read.
    """

    MAX_LINES = 130  # the status line + websockets' 128 headers + the blank line

    def __init__(self, reader: StreamReader) -> None:
        self._reader = reader
        self.lines: list[bytes] = []

    def read_line(self, m: int, exc: type[Exception]) -> Generator[None, None, bytes | bytearray]:
        line = yield from self._reader.read_line(m, exc)
        if len(self.lines) < self.MAX_LINES:
            self.lines.append(bytes(line))
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    def refusal(self) -> Response | None:
        """The head read so far as a body-less Response, if it is an HTTP error."""
        if not self.lines:
            return None
        parts = self.lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            return None
        status = int(parts[1])
        if not 400 <= status < 600:
            return None
        headers = Headers()
        for raw in self.lines[1:]:
            name, sep, value = raw.decode("iso-8859-1").partition(":")
            if sep and name.strip():
                headers[name.strip()] = value.strip()
        reason = parts[2].decode("iso-8859-1").strip() if len(parts) > 2 else ""
        return Response(status, reason, headers, b"")


class _Connection(ClientConnection):
    """ClientConnection that still reports the status of an oversized refusal."""

    def __init__(self, protocol: ClientProtocol, **kwargs: Any) -> None:
        super().__init__(protocol, **kwargs)
        self._head = _HeadRecorder(protocol.reader)
        # Nothing has been read yet: restart the parser on the recording reader.
        protocol.reader = self._head  # type: ignore[assignment]
        protocol.parser = protocol.parse()
        next(protocol.parser)

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().handshake(*args, **kwargs)
        except InvalidMessage as exc:
            response = self._head.refusal()
            if isinstance(exc.__cause__, SecurityError) and response is not None:
                raise InvalidStatus(response) from exc
            raise


class WebsocketsTransport:
    name = "websockets"

    async def open(self, config: ConnectionConfig, headers: dict[str, str]) -> WebsocketsLink:
        kwargs: dict[str, Any] = {}
        context = ssl_context(config)
        if context is not None:
            kwargs["ssl"] = context
        try:
            ws = await connect(
                config.url,
                additional_headers=headers or None,
                open_timeout=config.timeout,
                ping_interval=config.heartbeat_interval,
                ping_timeout=config.timeout,
                close_timeout=min(config.timeout, 2.0),
                max_size=config.max_message_size,
                compression=None,
                user_agent_header="argus",
                create_connection=_Connection,
                **kwargs,
            )
        except ArgusError:
            raise
        except Exception as exc:
            raise map_open_error(exc, config) from None
        return WebsocketsLink(ws)


def _describe(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "no close frame (network failure or reset)"
    reason = f" {frame.reason}" if frame.reason else ""
    return f"code {frame.code}{reason}"


def _retry_after(exc: InvalidStatus) -> float | None:
    value = exc.response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return None


def map_open_error(exc: BaseException, config: ConnectionConfig) -> ArgusError:
    """A websockets/ssl/OS exception from the opening handshake, as an argus error."""
    url = config.safe_url
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status in (401, 403):
            if config.api_key:
                message = f"the server refused the API key (HTTP {status}) at {url}"
            else:
                message = (
                    f"the server requires an API key (HTTP {status}) at {url}: "
                    "set ARGUS_API_KEY or api_key in the profile"
                )
            return AuthenticationError(message, url=url, status=status)
        retry_after = _retry_after(exc)
        if status in (408, 429) or status >= 500:
            message = f"the server is unavailable (HTTP {status}) at {url}"
        else:
            message = f"the server answered HTTP {status} at {url}: check the URL and its path"
        return HandshakeRejected(message, url=url, status=status, retry_after=retry_after)
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or "verification failed"
        message = (
            f"TLS certificate of {url} not trusted ({reason}); give a CA file if it is private"
        )
        return TLSVerificationError(message, url=url)
    if isinstance(exc, ssl.SSLError):
        message = f"TLS failed with {url}: {exc.reason or exc}; is it really a wss:// server?"
        return TLSVerificationError(message, url=url)
    if isinstance(exc, InvalidURI):
        return ConfigError(f"invalid URL {url}: {exc}")
    if isinstance(exc, TimeoutError):
        return ArgusConnectionError(
            f"timed out connecting to {url} after {config.timeout:g}s", url=url
        )
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError) and url.startswith("wss:"):
        reason = exc.strerror or type(exc).__name__
        message = f"the TLS handshake with {url} failed ({reason}): is it really a wss:// server?"
        return ArgusConnectionError(message, url=url)
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        return ArgusConnectionError(f"cannot reach {url}: {reason}", url=url)
    message = f"connection to {url} failed: {type(exc).__name__}: {str(exc)[:200]}"
    return ArgusConnectionError(message, url=url)
