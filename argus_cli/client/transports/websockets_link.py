"""The python-websockets adapter: today's transport, and the reference for others.

websockets does the handshake, keepalive pings with a pong timeout, close
codes and the inbound frame limit; this module maps its exceptions into
argus's tree (``open``) and its close information into one line (``receive``),
and takes data frames as websockets parses them, a read's worth at a time
(``_Connection``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Generator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    SecurityError,
)
from websockets.frames import CloseCode, Frame, Opcode
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
from .bursts import Bursts
from .options import ssl_context

__all__ = ["WebsocketsLink", "WebsocketsTransport", "map_open_error"]

MAX_RETRY_AFTER = 300.0  # seconds: a longer Retry-After is taken as this
MAX_QUEUE = 16  # messages held before reading pauses while no receive() runs (websockets')
_DATA = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.CONT})
_Buffer = bytes | bytearray | memoryview


class WebsocketsLink:
    def __init__(self, ws: _Connection) -> None:
        self._ws = ws

    async def receive(self, on_frames: FrameCallback) -> str:
        ws = self._ws
        return await ws.bursts.receive(on_frames, ws.describe)

    async def send(self, data: bytes) -> None:
        try:
            await self._ws.send(data, text=True)
        except ConnectionClosed:
            raise NotConnectedError("the connection is closed") from None

    async def close(self, code: int = 1000, reason: str = "", timeout: float | None = None) -> None:
        ws = self._ws
        ws.delivering = False  # read on towards the server's close frame, deliver nothing
        ws.bursts.drop()
        ws.resume_reading()  # the server's answer must be read, whatever on_frames awaits
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
        self._reader = self.reader = reader
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
    """websockets' ClientConnection, with two changes:

    - the status of an oversized refusal is still reported (``_HeadRecorder``);
    - data frames go to ``bursts`` as websockets parses them (``process_event``,
      the method websockets' own subclasses extend), every message of one read
      handed over together at the end of ``data_received``, instead of one
      ``recv()`` a message: websockets' per-message queue and ``recv`` machinery
      were half its cost per frame. Everything else is websockets' own: the
      frame parser and its limits (``max_size`` across fragments), keepalive,
      the closing handshake, close codes. As its ``recv`` does, a text message
      that is not UTF-8 fails the connection with 1007.
    """

    def __init__(self, protocol: ClientProtocol, **kwargs: Any) -> None:
        super().__init__(protocol, **kwargs)
        self._head = _HeadRecorder(protocol.reader)
        # Nothing has been read yet: restart the parser on the recording reader.
        protocol.reader = self._head  # type: ignore[assignment]
        protocol.parser = protocol.parse()
        next(protocol.parser)
        self.bursts = Bursts(self.loop, self.pause_reading, self.resume_reading, MAX_QUEUE)
        self.delivering = True  # False once closing or failed: data is read past
        self._parts: list[_Buffer] | None = None  # a fragmented message so far
        self._parts_text = False
        self._paused = False
        self._failing: asyncio.Task[None] | None = None

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().handshake(*args, **kwargs)
        except InvalidMessage as exc:
            response = self._head.refusal()
            if isinstance(exc.__cause__, SecurityError) and response is not None:
                raise InvalidStatus(response) from exc
            raise
        # the head is read: frames are parsed from the reader itself (the parser looks
        # ``protocol.reader`` up for every frame; the recorder only delegated to it)
        self.protocol.reader = self._head.reader

    # --- receiving ------------------------------------------------------------------------

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame) and event.opcode in _DATA:
            self._take(event)
        else:
            super().process_event(event)  # the handshake's response, pongs

    def _take(self, frame: Frame) -> None:
        if not self.delivering:
            return
        data: _Buffer
        opcode = frame.opcode
        if opcode is Opcode.CONT:
            parts = self._parts
            if parts is None:  # websockets' parser refuses a stray one before this
                return
            parts.append(frame.data)
            if not frame.fin:
                return
            self._parts = None
            data, text = b"".join(parts), self._parts_text
        elif not frame.fin:
            self._parts, self._parts_text = [frame.data], opcode is Opcode.TEXT
            return
        else:
            data, text = frame.data, opcode is Opcode.TEXT
        if not text:
            self.bursts.burst.append(bytes(data))
            return
        try:
            self.bursts.burst.append(str(data, "utf-8"))
        except UnicodeDecodeError as exc:
            self._invalid_data(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.bursts.flush()

    def eof_received(self) -> None:
        super().eof_received()
        self.bursts.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.bursts.finish()

    def pause_reading(self) -> None:
        if not self._paused and not self.transport.is_closing():
            self._paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    def _invalid_data(self, exc: UnicodeDecodeError) -> None:
        """websockets' ``recv`` on a text message that is not UTF-8: close 1007."""
        self.bursts.flush()  # the messages before it are delivered
        self.delivering = False
        self.set_connection_exc(exc)
        self._failing = self.loop.create_task(
            self._fail_1007(f"{exc.reason} at position {exc.start}")
        )

    async def _fail_1007(self, reason: str) -> None:
        with contextlib.suppress(ConnectionClosed):  # raised once the connection is closed
            async with self.send_context():
                self.protocol.fail(CloseCode.INVALID_DATA, reason)

    def describe(self) -> str:
        """How the connection ended, in one line (``Link.receive``'s answer)."""
        closed = self.protocol.close_exc
        if isinstance(closed, ConnectionClosedOK):
            code = self.close_code
            if code is None:
                return "connection closed: no close frame"
            return f"connection closed: code {code} {self.close_reason or ''}".strip()
        return f"connection closed: {_describe(closed)}"


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
        assert isinstance(ws, _Connection)
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
