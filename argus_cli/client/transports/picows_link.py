"""The picows adapter: the websockets transport's behaviour on a faster library.

picows parses frames in C and calls back once per frame; this module adds what
websockets does for argus and picows leaves to its user:

- backpressure: the complete frames of one socket read go to ``on_frames``
  together, straight from picows' callback (``WSFrame.last_in_buffer`` marks the
  read's last frame); when ``on_frames`` returns an awaitable, reading pauses
  until it completes (frames already read wait, in order, in a queue);
- messages: fragments reassembled, text decoded (invalid UTF-8 closes 1007),
  ``max_message_size`` on the whole message (1009; picows checks each frame);
- keepalive: a ping every ``heartbeat_interval``, no pong within ``timeout``
  closes 1011 "keepalive ping timeout"; ``ping()`` measures a round trip;
- the closing handshake: a server's close echoed, ``close()`` bounded in time;
- the opening handshake: redirects followed as websockets does (no credentials
  to another origin, no TLS downgrade, at most 10), and every failure mapped
  into argus's tree by the websockets adapter's own ``map_open_error`` (picows'
  exceptions are restated as the websockets ones with the same meaning), so both
  transports say the same thing for the same failure.

picows is optional (``pip install picows``); this module imports without it and
``PicowsTransport()`` then raises a ``ConfigError`` saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import time
import urllib.parse
from collections.abc import Awaitable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from websockets.datastructures import Headers
from websockets.exceptions import (
    InvalidHeader,
    InvalidMessage,
    InvalidStatus,
    InvalidUpgrade,
    InvalidURI,
    SecurityError,
)
from websockets.http11 import Response

from ...exceptions import ArgusError, ConfigError, NotConnectedError
from ..config import ConnectionConfig
from ..redact import redact_url
from .base import FrameCallback
from .bursts import Bursts
from .options import ssl_context
from .websockets_link import map_open_error

try:
    import picows
    from picows import WSListener as _ListenerBase

    _MISSING: ImportError | None = None
except ImportError as exc:  # the module still imports: PicowsTransport() says what to do
    _MISSING = exc
    # a stand-in base, so the listener class below can be defined without picows
    _ListenerBase = object  # type: ignore[misc,assignment]

if TYPE_CHECKING:
    from picows import WSFrame, WSTransport

__all__ = ["PICOWS_MISSING", "PicowsLink", "PicowsTransport", "picows_available"]

PICOWS_MISSING = "picows is not installed: pip install picows, or --transport websockets"

MAX_REDIRECTS = 10  # as websockets (WEBSOCKETS_MAX_REDIRECTS)
_REDIRECTS = (300, 301, 302, 303, 307, 308)
_PRIVATE_HEADERS = ("authorization", "cookie", "proxy-authorization")
MAX_QUEUE = 16  # frames held before reading pauses while no receive() runs (websockets)
_MAX_CLOSE_REASON = 123  # bytes: a close frame's payload is at most 125


if TYPE_CHECKING:
    _Adapter = logging.LoggerAdapter[logging.Logger]
else:
    _Adapter = logging.LoggerAdapter


class _QuietLog(_Adapter):
    """picows' log lines, under argus_cli's logger and at DEBUG: websockets tells a
    peer's protocol error (a 1009, a 1002) only by the close code, and so does argus.
    Lines with a traceback keep their level: those are bugs."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not kwargs.get("exc_info"):
            level = min(level, logging.DEBUG)
        super().log(level, msg, *args, **kwargs)


_LOG = _QuietLog(logging.getLogger("argus_cli.client.picows"), {})


def picows_available() -> bool:
    """Whether picows can be imported (``PicowsTransport()`` raises ``ConfigError``
    with ``PICOWS_MISSING`` when it cannot)."""
    return _MISSING is None


class _Listener(_ListenerBase):
    """picows' callbacks for one connection, and everything the link keeps."""

    def __init__(self, config: ConnectionConfig) -> None:
        self.transport: WSTransport | None = None
        self.loop = asyncio.get_running_loop()
        self.max_size = config.max_message_size
        self.close_timeout = min(config.timeout, 2.0)
        # receiving
        self.bursts = Bursts(self.loop, self.pause, self.resume, MAX_QUEUE)
        self.paused = False  # reading paused by us
        self.fragments: list[bytes] | None = None
        self.fragments_text = False
        self.fragments_size = 0
        self.failed = False  # we failed or closed the connection: data frames are discarded
        # closing
        self.closing = False  # a close frame was sent or received
        self.disconnected = self.loop.create_future()
        self.abort_handle: asyncio.TimerHandle | None = None
        # pings and writes
        self.pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        self.writable = asyncio.Event()
        self.writable.set()
        self.keepalive: asyncio.Task[None] | None = None

    # --- picows callbacks -----------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind == _TEXT and frame.fin and self.fragments is None and not self.failed:
            # the common case first: a whole text frame
            if frame.payload_size > self.max_size:
                self.failed = True  # picows sent 1009 but goes on parsing: nothing more
            else:
                try:
                    self.bursts.burst.append(frame.get_payload_as_utf8_text())
                except UnicodeDecodeError as exc:
                    self.fail(1007, f"{exc.reason} at position {exc.start}")
        elif kind in (_TEXT, _BINARY):
            if self.failed:
                pass
            elif frame.payload_size > self.max_size:
                self.failed = True  # as above
            elif self.fragments is not None:
                self.fail(1002, "expected a continuation frame")
            elif not frame.fin:
                self.fragments = [frame.get_payload_as_bytes()]
                self.fragments_text = kind == _TEXT
                self.fragments_size = frame.payload_size
            else:
                self.bursts.burst.append(frame.get_payload_as_bytes())
        elif kind == _CONTINUATION:
            self.continuation(frame)
        elif kind == _PONG:
            self.pong(frame.get_payload_as_bytes())
        elif kind == _CLOSE:
            self.bursts.flush()  # what came before the close frame first
            self.closing = True
            if not transport.is_close_frame_sent:  # the server's close: echo it
                code = frame.get_close_code()
                if code == _NO_INFO:
                    transport.send(_CLOSE, b"")
                else:
                    transport.send_close(code, frame.get_close_message())
            self.resume()
            transport.disconnect()
        if frame.last_in_buffer and self.bursts.burst:
            self.bursts.flush()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closing = True
        # picows keeps the error that made it close (a 1009, a 1002) for wait_disconnected():
        # collect it, or asyncio logs "Future exception was never retrieved"
        self.loop.create_task(_collect(transport.wait_disconnected()))
        if not self.disconnected.done():
            self.disconnected.set_result(None)
        if self.abort_handle is not None:
            self.abort_handle.cancel()
        if self.keepalive is not None:
            self.keepalive.cancel()
        for waiter, _ in self.pings.values():
            if not waiter.done():
                waiter.set_exception(NotConnectedError("the connection is closed"))
        self.pings.clear()
        self.writable.set()
        # what was read (up to a buffer picows could not parse) is delivered, then the end
        self.bursts.finish()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # --- receiving ------------------------------------------------------------------------

    def continuation(self, frame: WSFrame) -> None:
        if self.failed:
            return
        parts = self.fragments
        if parts is None:
            self.fail(1002, "unexpected continuation frame")
            return
        size = frame.payload_size
        if self.fragments_size + size > self.max_size:
            self.fail(
                1009,
                f"frame with {size} bytes after reading {self.fragments_size} bytes "
                f"exceeds limit of {self.max_size} bytes",
            )
            return
        parts.append(frame.get_payload_as_bytes())
        self.fragments_size += size
        if not frame.fin:
            return
        self.fragments = None
        payload = b"".join(parts)
        if not self.fragments_text:
            self.bursts.burst.append(payload)
            return
        try:
            text = payload.decode()
        except UnicodeDecodeError as exc:
            self.fail(1007, f"{exc.reason} at position {exc.start}")
        else:
            self.bursts.burst.append(text)

    def ended(self) -> bool:
        """A close frame went or came (picows may send one itself), or the socket closed."""
        transport = self.transport
        return (
            self.closing
            or transport is None
            or transport.is_close_frame_sent
            or transport.is_disconnected
        )

    def pause(self) -> None:
        transport = self.transport
        if self.paused or transport is None or self.ended():
            return
        self.paused = True
        transport.underlying_transport.pause_reading()

    def resume(self) -> None:
        if not self.paused:
            return
        self.paused = False
        transport = self.transport
        if transport is not None and not transport.is_disconnected:
            transport.underlying_transport.resume_reading()

    # --- closing --------------------------------------------------------------------------

    def send_close(self, code: int, reason: str) -> None:
        assert self.transport is not None
        self.closing = True
        raw = reason.encode()[:_MAX_CLOSE_REASON]
        self.transport.send_close(_close_code(code), raw.decode(errors="ignore").encode())
        self.resume()  # the server's answer must be read, whatever on_frames awaits

    def fail(self, code: int, reason: str) -> None:
        """Fail the connection (websockets' ``fail``): a close frame, nothing more
        delivered, the socket aborted if the server does not close within the timeout."""
        self.bursts.flush()  # the frames before the fault are delivered, as websockets does
        self.failed = True
        self.fragments = None
        if not self.ended():
            self.send_close(code, reason)
        self.abort_later()

    def abort_later(self) -> None:
        if self.abort_handle is None and not self.disconnected.done():
            self.abort_handle = self.loop.call_later(self.close_timeout, self.abort)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.disconnect(graceful=False)

    def describe(self) -> str:
        """How the connection ended, worded as ``WebsocketsLink.receive`` words it."""
        handshake = self.transport.close_handshake if self.transport is not None else None
        if handshake is None or (handshake.recv is None and handshake.sent is None):
            return "connection closed: no close frame (network failure or reset)"
        info = handshake.recv or handshake.sent
        assert info is not None
        code = info.code.value or 1005  # an empty close frame: 1005, as websockets says
        reason = info.reason or ""
        if _clean(handshake.recv) and _clean(handshake.sent):  # websockets' normal ending
            return f"connection closed: code {code} {reason}".strip()
        return f"connection closed: code {code}{' ' + reason if reason else ''}"

    # --- pings ----------------------------------------------------------------------------

    def send_ping(self) -> asyncio.Future[float]:
        if self.transport is None or self.ended():
            raise NotConnectedError("the connection is closed")
        payload = os.urandom(4)
        while payload in self.pings:
            payload = os.urandom(4)
        waiter: asyncio.Future[float] = self.loop.create_future()
        self.pings[payload] = (waiter, time.monotonic())
        self.transport.send_ping(payload)
        return waiter

    def pong(self, payload: bytes) -> None:
        """A pong acknowledges its ping and every earlier one (as websockets)."""
        if payload not in self.pings:
            return
        now = time.monotonic()
        for key in list(self.pings):
            waiter, sent = self.pings.pop(key)
            if not waiter.done():
                waiter.set_result(now - sent)
            if key == payload:
                break

    async def run_keepalive(self, interval: float, timeout: float) -> None:
        """websockets' keepalive: ping every ``interval`` (less the last latency),
        and fail the connection with 1011 when no pong comes within ``timeout``."""
        latency = 0.0
        while True:
            await asyncio.sleep(interval - latency)
            try:
                waiter = self.send_ping()
                async with asyncio.timeout(timeout):
                    latency = await waiter
            except NotConnectedError:
                return
            except TimeoutError:
                self.fail(1011, "keepalive ping timeout")
                return


async def _collect(disconnected: Awaitable[None]) -> None:
    with contextlib.suppress(Exception):
        await disconnected


def _clean(info: Any) -> bool:
    return info is not None and info.code.value in (0, 1000, 1001, 1005)  # 0: empty, 1005


class PicowsLink:
    def __init__(self, listener: _Listener) -> None:
        self._listener = listener

    async def receive(self, on_frames: FrameCallback) -> str:
        state = self._listener
        return await state.bursts.receive(on_frames, state.describe)

    async def send(self, data: bytes) -> None:
        state = self._listener
        transport = state.transport
        if transport is None or state.ended():
            raise NotConnectedError("the connection is closed")
        transport.send(_TEXT, data)
        if not state.writable.is_set():
            await state.writable.wait()
            if transport.is_disconnected:
                raise NotConnectedError("the connection is closed")

    async def close(self, code: int = 1000, reason: str = "", timeout: float | None = None) -> None:
        state = self._listener
        state.failed = True  # read on towards the server's close frame, deliver nothing more
        state.fragments = None
        state.bursts.drop()
        if state.disconnected.done():
            return
        if not state.ended():
            state.send_close(code, reason)
        state.resume()
        try:
            async with asyncio.timeout(state.close_timeout if timeout is None else timeout):
                await asyncio.shield(state.disconnected)
        except TimeoutError:
            state.abort()
            await asyncio.shield(state.disconnected)

    async def ping(self) -> float:
        return await self._listener.send_ping()


class PicowsTransport:
    name = "picows"

    def __init__(self) -> None:
        if _MISSING is not None:
            raise ConfigError(PICOWS_MISSING)

    async def open(self, config: ConnectionConfig, headers: dict[str, str]) -> PicowsLink:
        context = ssl_context(config)  # a bad ca_file is a ConfigError, raised as is
        try:
            async with asyncio.timeout(config.timeout):
                listener = await _connect(config, context, headers)
        except ArgusError:
            raise
        except Exception as exc:
            error = _as_websockets_error(exc)
            raise map_open_error(error, config) from None
        if not listener.disconnected.done():
            listener.keepalive = asyncio.create_task(
                listener.run_keepalive(config.heartbeat_interval, config.timeout),
                name="argus-picows-keepalive",
            )
        return PicowsLink(listener)


async def _connect(
    config: ConnectionConfig, context: ssl.SSLContext | None, headers: dict[str, str]
) -> _Listener:
    """ws_connect, following redirects as websockets does."""
    url = config.url
    extra = {**headers, "User-Agent": "argus"}
    for _ in range(MAX_REDIRECTS):
        try:
            return await _connect_once(config, url, context, extra)
        except picows.WSInvalidStatusError as exc:
            location = _redirect(exc)
            if location is None:
                raise
            new_url = urllib.parse.urljoin(url, location)
        old, new = urllib.parse.urlsplit(url), urllib.parse.urlsplit(new_url)
        if old.scheme == "wss" and new.scheme != "wss":
            raise SecurityError(f"cannot follow redirect to non-secure URI {new_url}")
        if (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port):
            # no credentials to another origin
            extra = {k: v for k, v in extra.items() if k.lower() not in _PRIVATE_HEADERS}
        context = ssl_context(replace(config, url=new_url)) if new.scheme == "wss" else None
        url = new_url
    raise SecurityError(f"more than {MAX_REDIRECTS} redirects")


async def _connect_once(
    config: ConnectionConfig, url: str, context: ssl.SSLContext | None, extra: dict[str, str]
) -> _Listener:
    listener = _Listener(config)
    await picows.ws_connect(
        lambda *_: listener,
        url,
        ssl_context=context,
        extra_headers=extra,
        websocket_handshake_timeout=config.timeout,
        enable_auto_ping=False,  # keepalive is ours: websockets' timing and close code
        enable_auto_pong=True,
        max_frame_size=config.max_message_size,
        max_redirects=0,  # followed by _connect, with websockets' rules
        # asyncio's own sockets and TLS, as websockets: the same errors, and no log noise
        # (aiofastnet 1.2 reports a reset TLS handshake to the loop with a broken traceback)
        use_aiofastnet=False,
        logger_name=_LOG,
    )
    if listener.transport is None:  # the server closed the connection before its response
        raise InvalidMessage("did not receive a valid HTTP response")
    return listener


def _redirect(exc: Any) -> str | None:
    response = exc.response
    if response is None or int(response.status) not in _REDIRECTS:
        return None
    location: str | None = response.headers.get("Location")
    return location


def _as_websockets_error(exc: BaseException) -> BaseException:
    """picows' handshake exceptions as the websockets ones ``map_open_error`` reads."""
    if _MISSING is not None:
        return exc
    if isinstance(exc, picows.WSInvalidURL):
        reason = str(exc).rpartition("isn't a valid URL: ")[2]
        return InvalidURI(redact_url(exc.url), reason)
    if isinstance(exc, picows.WSHandshakeError):
        response = exc.response
        if isinstance(exc, picows.WSInvalidStatusError) and response is not None:
            kept = Headers()
            retry_after = response.headers.get("Retry-After")
            if retry_after is not None:
                kept["Retry-After"] = retry_after
            status = int(response.status)
            return InvalidStatus(Response(status, response.status.phrase, kept, b""))
        if isinstance(exc, picows.WSInvalidUpgradeError):
            return InvalidUpgrade(exc.name, exc.value)
        if isinstance(exc, picows.WSInvalidHeaderError):
            return InvalidHeader(exc.name, exc.value)
        if isinstance(exc, picows.WSInvalidMessageError):
            return InvalidMessage("did not receive a valid HTTP response")
    return exc


def _close_code(code: int) -> Any:
    return picows.WSCloseCode(code)


if _MISSING is None:
    _TEXT = picows.WSMsgType.TEXT
    _BINARY = picows.WSMsgType.BINARY
    _CONTINUATION = picows.WSMsgType.CONTINUATION
    _PONG = picows.WSMsgType.PONG
    _CLOSE = picows.WSMsgType.CLOSE
    _NO_INFO = picows.WSCloseCode.NO_INFO
