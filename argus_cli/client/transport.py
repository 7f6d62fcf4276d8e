"""Opening a WebSocket with the right options, and classifying what went wrong.

websockets does the handshake, keepalive pings and close codes; argus decides
which failures are fatal (bad key, bad certificate, a URL the server does
not serve) and which are retried (network errors, resets, 5xx, 429).
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from ..exceptions import (
    ArgusConnectionError,
    AuthenticationError,
    HandshakeRejected,
    InsecureTransportError,
    TLSVerificationError,
)
from .config import ConnectionConfig

log = logging.getLogger("argus_cli.client")

__all__ = [
    "Failure",
    "classify",
    "describe_close",
    "describe_close_ws",
    "is_loopback",
    "open_connection",
]


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ssl_context(config: ConnectionConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.ca_file)
    if config.insecure_skip_verify:
        log.warning(
            "TLS certificate verification is OFF for %s: anyone on the path can read "
            "and alter this stream. Use ca_file for a private CA instead.",
            config.safe_url,
        )
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def open_connection(config: ConnectionConfig) -> ClientConnection:
    """Connect, or raise (see ``classify`` for what the exceptions mean)."""
    parts = urlsplit(config.url)
    if (
        config.api_key
        and parts.scheme == "ws"
        and not is_loopback(parts.hostname)
        and not config.allow_insecure_key
    ):
        raise InsecureTransportError(
            f"refusing to send the API key in clear text to {config.safe_url}: "
            "use wss://, or allow it explicitly (allow_insecure_key / --allow-insecure-key)",
            url=config.safe_url,
        )
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else None
    kwargs: dict[str, Any] = {}
    if parts.scheme == "wss":
        kwargs["ssl"] = _ssl_context(config)
    return await connect(
        config.url,
        additional_headers=headers,
        open_timeout=config.timeout,
        ping_interval=config.heartbeat_interval,
        ping_timeout=config.timeout,
        close_timeout=min(config.timeout, 2.0),
        max_size=config.max_message_size,
        compression=None,
        user_agent_header="argus",
        **kwargs,
    )


@dataclass(frozen=True)
class Failure:
    error: ArgusConnectionError
    fatal: bool
    retry_after: float | None = None


def _retry_after(exc: InvalidStatus) -> float | None:
    value = exc.response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), 300.0)
    except ValueError:
        return None


def classify(exc: BaseException, config: ConnectionConfig) -> Failure:
    """Turn a connect-time exception into an argus error, fatal or retryable."""
    url = config.safe_url
    if isinstance(exc, ArgusConnectionError):
        return Failure(exc, fatal=True)
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
            return Failure(AuthenticationError(message, url=url, status=status), fatal=True)
        retry_after = _retry_after(exc)
        if status in (408, 429) or status >= 500:
            message = f"the server is unavailable (HTTP {status}) at {url}"
            error = HandshakeRejected(message, url=url, status=status, retry_after=retry_after)
            return Failure(error, fatal=False, retry_after=retry_after)
        message = f"the server answered HTTP {status} at {url}: check the URL and its path"
        return Failure(HandshakeRejected(message, url=url, status=status), fatal=True)
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or "verification failed"
        message = (
            f"TLS certificate of {url} not trusted ({reason}); give a CA file if it is private"
        )
        return Failure(TLSVerificationError(message, url=url), fatal=True)
    if isinstance(exc, ssl.SSLError):
        message = f"TLS failed with {url}: {exc.reason or exc}; is it really a wss:// server?"
        return Failure(TLSVerificationError(message, url=url), fatal=True)
    if isinstance(exc, InvalidURI):
        return Failure(ArgusConnectionError(f"invalid URL {url}", url=url), fatal=True)
    if isinstance(exc, TimeoutError):
        message = f"timed out connecting to {url} after {config.timeout:g}s"
        return Failure(ArgusConnectionError(message, url=url), fatal=False)
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        message = f"cannot reach {url}: {reason}"
        return Failure(ArgusConnectionError(message, url=url), fatal=False)
    message = f"connection to {url} failed: {type(exc).__name__}: {str(exc)[:200]}"
    return Failure(ArgusConnectionError(message, url=url), fatal=False)


def describe_close(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "no close frame (network failure or reset)"
    reason = f" {frame.reason}" if frame.reason else ""
    return f"code {frame.code}{reason}"


def describe_close_ws(ws: ClientConnection) -> str:
    code = ws.close_code
    return "no close frame" if code is None else f"code {code} {ws.close_reason or ''}".strip()
