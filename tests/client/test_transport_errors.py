"""Transport errors, from real failures on 127.0.0.1, mapped into argus's tree; the
handshake headers' clear-text key guard; TLS options."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidURI
from websockets.http11 import Request, Response

from argus_cli.client.config import ConnectionConfig
from argus_cli.client.policy import RetryPolicy
from argus_cli.client.transports import WebsocketsTransport
from argus_cli.client.transports.options import handshake_headers, ssl_context
from argus_cli.client.transports.websockets_link import MAX_RETRY_AFTER, map_open_error
from argus_cli.exceptions import (
    ArgusConnectionError,
    ArgusError,
    AuthenticationError,
    ConfigError,
    HandshakeRejected,
    InsecureTransportError,
    TLSVerificationError,
)

KEY = "sk-test-0123456789abcdef"


def refusing(status: int, headers: dict[str, str] | None = None) -> Callable[..., Response]:
    def process_request(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(status, f"refused with {status}\n")
        for name, value in (headers or {}).items():
            response.headers[name] = value
        return response

    return process_request


@asynccontextmanager
async def ws_server(status: int, headers: dict[str, str] | None = None) -> AsyncIterator[int]:
    """A websocket server on 127.0.0.1 that answers every upgrade with ``status``."""

    async def handler(ws: ServerConnection) -> None:  # never reached
        await ws.close()

    async with serve(handler, "127.0.0.1", 0, process_request=refusing(status, headers)) as server:
        yield server.sockets[0].getsockname()[1]


@asynccontextmanager
async def tcp_server(
    on_connect: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def open_error(config: ConnectionConfig) -> ArgusError:
    with pytest.raises(ArgusError) as caught:
        await WebsocketsTransport().open(config, {})
    return caught.value


def config_for(port: int, **options: Any) -> ConnectionConfig:
    return ConnectionConfig(url=f"ws://127.0.0.1:{port}/stream", timeout=5, **options)


# --- real failures through WebsocketsTransport().open --------------------------------------


async def test_a_refused_port_cannot_be_reached(unused_port: int) -> None:
    error = await open_error(config_for(unused_port))
    assert type(error) is ArgusConnectionError
    assert str(error).startswith(f"cannot reach ws://127.0.0.1:{unused_port}/stream")
    assert error.url == f"ws://127.0.0.1:{unused_port}/stream"
    assert RetryPolicy().decide(error).retry is True


async def test_401_without_a_key_says_one_is_required() -> None:
    async with ws_server(401) as port:
        error = await open_error(config_for(port))
    assert isinstance(error, AuthenticationError) and error.status == 401
    assert "requires an API key (HTTP 401)" in str(error)
    assert RetryPolicy().decide(error).retry is False


async def test_401_with_a_key_says_it_was_refused_without_showing_it() -> None:
    async with ws_server(401) as port:
        error = await open_error(config_for(port, api_key=KEY))
    assert isinstance(error, AuthenticationError)
    assert "refused the API key (HTTP 401)" in str(error)
    assert KEY not in str(error) and KEY not in repr(error.args)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0.5", 0.5), ("86400", MAX_RETRY_AFTER), ("-3", 0.0), ("soon", None)],
)
async def test_429_is_rejected_with_its_retry_after(header: str, expected: float | None) -> None:
    async with ws_server(429, {"Retry-After": header}) as port:
        error = await open_error(config_for(port))
    assert type(error) is HandshakeRejected
    assert error.status == 429 and error.retry_after == expected
    assert "unavailable (HTTP 429)" in str(error)
    assert RetryPolicy().decide(error).retry is True


async def test_503_without_retry_after() -> None:
    async with ws_server(503) as port:
        error = await open_error(config_for(port))
    assert type(error) is HandshakeRejected
    assert error.status == 503 and error.retry_after is None


async def test_404_is_rejected_as_a_wrong_url() -> None:
    async with ws_server(404) as port:
        error = await open_error(config_for(port))
    assert type(error) is HandshakeRejected and error.status == 404
    assert "HTTP 404" in str(error) and "check the URL" in str(error)
    assert RetryPolicy().decide(error).retry is False


@pytest.mark.parametrize("framing", ["content-length", "chunked", "until-close"])
async def test_a_401_with_a_body_over_1_mib_is_still_a_refused_key(framing: str) -> None:
    """websockets refuses bodies over 1 MiB and drops the status; argus keeps it."""
    big = b"x" * (1_048_576 + 10)

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = b"HTTP/1.1 401 Unauthorized\r\nRetry-After: 9\r\n"
        if framing == "content-length":
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(big))
        elif framing == "chunked":
            chunk = b"%x\r\n%s\r\n" % (len(big), big)
            writer.write(head + b"Transfer-Encoding: chunked\r\n\r\n" + chunk)
        else:
            writer.write(head + b"\r\n" + big)
        with contextlib.suppress(OSError):
            await writer.drain()
            writer.close()
            await writer.wait_closed()

    async with tcp_server(refuse) as port:
        error = await open_error(config_for(port, api_key=KEY))
    assert isinstance(error, AuthenticationError) and error.status == 401
    assert "refused the API key (HTTP 401)" in str(error)
    assert RetryPolicy().decide(error).retry is False


async def test_an_oversized_101_is_still_an_invalid_response() -> None:
    async def upgrade_with_a_huge_body(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n")
        with contextlib.suppress(OSError):
            await writer.drain()
            await reader.read()
            writer.close()

    async with tcp_server(upgrade_with_a_huge_body) as port:
        error = await open_error(config_for(port))
    assert type(error) is ArgusConnectionError
    assert "did not receive a valid HTTP response" in str(error)


async def test_a_server_that_never_answers_times_out() -> None:
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    async with tcp_server(silent) as port:
        try:
            error = await open_error(ConnectionConfig(url=f"ws://127.0.0.1:{port}/", timeout=0.2))
        finally:
            release.set()
    assert type(error) is ArgusConnectionError
    assert "timed out connecting to" in str(error) and "after 0.2s" in str(error)


async def test_wss_to_a_plain_server_is_a_tls_error() -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async with tcp_server(plain) as port:
        error = await open_error(ConnectionConfig(url=f"wss://127.0.0.1:{port}/", timeout=5))
    assert isinstance(error, TLSVerificationError), error
    assert "TLS failed" in str(error)
    assert RetryPolicy().decide(error).retry is False


def test_an_invalid_uri_is_a_config_error() -> None:
    config = ConnectionConfig(url="ws://127.0.0.1:1/")
    error = map_open_error(InvalidURI("ws://127.0.0.1:1/", "bad"), config)
    assert isinstance(error, ConfigError) and "invalid URL" in str(error)


def test_an_unexpected_exception_is_a_connection_error() -> None:
    config = ConnectionConfig(url="ws://127.0.0.1:1/")
    error = map_open_error(RuntimeError("x" * 1000), config)
    assert type(error) is ArgusConnectionError
    assert "RuntimeError" in str(error) and len(str(error)) < 300


# --- handshake headers and TLS options ------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["ws://example.com/stream", "ws://10.0.0.7:8765/", "ws://localhost.example.com/"]
)
def test_a_key_is_never_sent_in_clear_text_to_a_remote_host(url: str) -> None:
    config = ConnectionConfig(url=url, api_key=KEY)
    with pytest.raises(InsecureTransportError) as caught:
        handshake_headers(config)
    assert KEY not in str(caught.value)
    assert "wss://" in str(caught.value)
    assert RetryPolicy().decide(caught.value).retry is False


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:8765/",
        "ws://127.3.4.5/",
        "ws://localhost:8765/",
        "ws://feed.localhost/",
        "ws://[::1]:8765/",
        "wss://example.com/",
    ],
)
def test_a_key_goes_to_loopback_or_over_tls(url: str) -> None:
    assert handshake_headers(ConnectionConfig(url=url, api_key=KEY)) == {
        "Authorization": f"Bearer {KEY}"
    }


def test_clear_text_to_a_remote_host_when_explicitly_allowed_or_without_a_key() -> None:
    allowed = ConnectionConfig(url="ws://example.com/", api_key=KEY, allow_insecure_key=True)
    assert handshake_headers(allowed) == {"Authorization": f"Bearer {KEY}"}
    assert handshake_headers(ConnectionConfig(url="ws://example.com/")) == {}


def test_ssl_context_with_a_missing_ca_file_names_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-ca.pem")
    with pytest.raises(ConfigError) as caught:
        ssl_context(ConnectionConfig(url="wss://example.com/", ca_file=missing))
    assert "ca_file" in str(caught.value) and missing in str(caught.value)
    assert RetryPolicy().decide(caught.value).retry is False


def test_ssl_context_verifies_by_default_and_is_none_for_ws(tmp_path: Path) -> None:
    import ssl

    context = ssl_context(ConnectionConfig(url="wss://example.com/"))
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    unverified = ssl_context(ConnectionConfig(url="wss://example.com/", insecure_skip_verify=True))
    assert unverified is not None and unverified.verify_mode is ssl.CERT_NONE
    plain = ConnectionConfig(url="ws://127.0.0.1/", ca_file=str(tmp_path / "missing.pem"))
    assert ssl_context(plain) is None


async def test_a_missing_ca_file_fails_open_with_a_config_error(tmp_path: Path) -> None:
    config = ConnectionConfig(url="wss://127.0.0.1:1/", ca_file=str(tmp_path / "missing.pem"))
    error = await open_error(config)
    assert isinstance(error, ConfigError) and "ca_file" in str(error)


async def test_wss_to_a_plain_websocket_server_says_the_tls_handshake_failed() -> None:
    from argus_cli.testing.hostile import HostileServer

    async with HostileServer() as server:
        config = ConnectionConfig(url=server.url.replace("ws://", "wss://"), timeout=5)
        error = await open_error(config)
    assert "TLS handshake" in str(error) and "wss://" in str(error)
    assert "ConnectionResetError" not in str(error).split("(")[0]
