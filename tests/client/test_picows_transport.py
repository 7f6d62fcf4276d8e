"""The picows transport behaves as the websockets one: the same real failures mapped to
the same argus errors, the same link behaviour (frames, backpressure, close codes,
keepalive) side by side with websockets, and the client on top of it against the
simulator (contiguous data, reconnects, 1009, pong timeouts, close 1000)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from argus_cli import ConnectionConfig, ConnectionState, SubscriptionConfig, WebSocketClient
from argus_cli.client.policy import RetryPolicy
from argus_cli.client.transports import Link, Transport, WebsocketsTransport, make_transport
from argus_cli.client.transports.websockets_link import MAX_RETRY_AFTER
from argus_cli.exceptions import (
    ArgusConnectionError,
    ArgusError,
    AuthenticationError,
    ConfigError,
    HandshakeRejected,
    NotConnectedError,
    TLSVerificationError,
)
from argus_cli.sim import Simulator
from argus_cli.testing.faultproxy import FaultProxy
from argus_cli.testing.seqcheck import check
from tests.client.helpers import wait_until
from tests.client.test_transport_errors import KEY, config_for, tcp_server, ws_server

picows_link = pytest.importorskip("argus_cli.client.transports.picows_link")
if not picows_link.picows_available():
    pytest.skip("picows is not installed", allow_module_level=True)

PicowsTransport = picows_link.PicowsTransport

pytestmark = pytest.mark.timeout(10)


async def open_error(config: ConnectionConfig) -> ArgusError:
    with pytest.raises(ArgusError) as caught:
        await PicowsTransport().open(config, {})
    return caught.value


# --- the opening handshake: test_transport_errors.py, through PicowsTransport ----------------


def test_the_transport_is_named_picows() -> None:
    assert PicowsTransport.name == "picows"


def test_without_picows_the_transport_is_a_config_error() -> None:
    code = (
        "import sys; sys.modules['picows'] = None\n"
        "from argus_cli.client.transports import picows_link as p\n"
        "from argus_cli.exceptions import ConfigError\n"
        "assert not p.picows_available()\n"
        "try:\n    p.PicowsTransport()\nexcept ConfigError as e:\n    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=10, check=True
    )
    assert done.stdout.strip() == (
        "picows is not installed: pip install picows, or --transport websockets"
    )


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


async def test_403_is_an_authentication_error() -> None:
    async with ws_server(403) as port:
        error = await open_error(config_for(port, api_key=KEY))
    assert isinstance(error, AuthenticationError) and error.status == 403


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


async def test_an_oversized_200_is_a_rejection_not_an_invalid_response() -> None:
    """The one difference: websockets reads a refusal's body and calls a 200 with a body
    over 1 MiB an invalid response; picows stops at the head and reports the status."""

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
    assert type(error) is HandshakeRejected and error.status == 200
    assert "check the URL" in str(error)


async def test_a_malformed_response_is_an_invalid_response() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        with contextlib.suppress(OSError):
            await writer.drain()
            writer.close()

    async with tcp_server(garbage) as port:
        error = await open_error(config_for(port))
    assert type(error) is ArgusConnectionError
    assert "did not receive a valid HTTP response" in str(error)


async def test_a_server_closing_before_its_response_is_an_invalid_response() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async with tcp_server(hang_up) as port:
        error = await open_error(config_for(port))
    assert type(error) is ArgusConnectionError
    assert "did not receive a valid HTTP response" in str(error)
    assert RetryPolicy().decide(error).retry is True


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


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, str]:
    """A server TLS context for 127.0.0.1 from a private CA, and that CA's file."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_context, str(ca_file)


async def test_an_untrusted_certificate_is_a_tls_verification_error(
    tls: tuple[ssl.SSLContext, str],
) -> None:
    """A certificate from an unknown CA is refused, unless that CA is the ca_file."""
    server_context, ca_file = tls

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, ssl=server_context) as server:
        url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        error = await open_error(ConnectionConfig(url=url, timeout=5))
        link = await PicowsTransport().open(ConnectionConfig(url=url, ca_file=ca_file), {})
        await link.close()
    assert isinstance(error, TLSVerificationError)
    assert "not trusted" in str(error) and "give a CA file" in str(error)


# --- redirects: followed as websockets follows them -------------------------------------------


@pytest.mark.parametrize(("target", "keeps_key"), [("/feed", True), ("localhost", False)])
async def test_a_redirect_is_followed_without_the_key_to_another_origin(
    target: str, keeps_key: bool
) -> None:
    """/stream redirects to /feed on the same server (the same origin) or to the same
    server named localhost (another origin: the Authorization header is dropped)."""
    seen: list[dict[str, str]] = []
    port = 0

    def route(connection: ServerConnection, request: Any) -> Any:
        if request.path == "/stream":
            response = connection.respond(302, "moved\n")
            location = target if target.startswith("/") else f"ws://{target}:{port}/feed"
            response.headers["Location"] = location
            return response
        seen.append({k.lower(): v for k, v in request.headers.raw_items()})
        return None

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, process_request=route) as server:
        port = server.sockets[0].getsockname()[1]
        config = config_for(port, api_key=KEY)
        link = await PicowsTransport().open(config, {"Authorization": f"Bearer {KEY}"})
        await link.close()
    assert len(seen) == 1 and seen[0]["user-agent"] == "argus"
    assert ("authorization" in seen[0]) is keeps_key


async def test_a_redirect_from_wss_to_ws_is_refused(tls: tuple[ssl.SSLContext, str]) -> None:
    server_context, ca_file = tls

    def redirect(connection: ServerConnection, request: Any) -> Any:
        response = connection.respond(302, "moved\n")
        response.headers["Location"] = "ws://127.0.0.1:1/plain"
        return response

    async def handler(ws: ServerConnection) -> None:  # never reached
        await ws.close()

    async with serve(
        handler, "127.0.0.1", 0, ssl=server_context, process_request=redirect
    ) as server:
        url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        error = await open_error(ConnectionConfig(url=url, ca_file=ca_file, timeout=5))
    assert type(error) is ArgusConnectionError
    assert "cannot follow redirect to non-secure URI ws://127.0.0.1:1/plain" in str(error)


# --- links side by side: websockets (the reference) and picows --------------------------------


@pytest.fixture(params=["websockets", "picows"])
def transport(request: pytest.FixtureRequest) -> Transport:
    return WebsocketsTransport() if request.param == "websockets" else PicowsTransport()


@asynccontextmanager
async def frames_server(
    play: Callable[[ServerConnection], Awaitable[None]],
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A websockets server on 127.0.0.1 running ``play`` on each connection; ``seen``
    keeps the last connection's close code and reason and the frames it received."""
    seen: dict[str, Any] = {"received": [], "closed": asyncio.Event()}

    async def handler(ws: ServerConnection) -> None:
        try:
            await play(ws)
            async for message in ws:
                seen["received"].append(message)
        except Exception:  # the client's doing, checked by the test
            pass
        finally:
            await ws.wait_closed()
            seen["code"], seen["reason"] = ws.close_code, ws.close_reason
            seen["closed"].set()

    async with serve(handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/", seen


def link_config(url: str, **options: Any) -> ConnectionConfig:
    values: dict[str, Any] = {"heartbeat_interval": 5, "timeout": 1}
    values.update(options)
    return ConnectionConfig(url=url, **values)


async def receive_all(link: Link, timeout: float = 1.5) -> tuple[list[str | bytes], str]:
    frames: list[str | bytes] = []
    line = await asyncio.wait_for(link.receive(frames.extend), timeout)
    return frames, line


async def test_frames_in_order_text_as_str_binary_as_bytes_fragments_joined(
    transport: Transport,
) -> None:
    async def play(ws: ServerConnection) -> None:
        await ws.send("one")
        await ws.send(b"\x00\x01")
        await ws.send(["fr", "ag", "ment"])  # one text message in three frames
        await ws.send([b"a", b"b"])
        await ws.send("é" * 3)
        await ws.close(4000, "the end")

    async with frames_server(play) as (url, _):
        link = await transport.open(link_config(url), {})
        frames, line = await receive_all(link)
    assert frames == ["one", b"\x00\x01", "fragment", b"ab", "ééé"]
    assert line == "connection closed: code 4000 the end"


async def test_frames_sent_before_receive_starts_are_kept(transport: Transport) -> None:
    sent = asyncio.Event()

    async def play(ws: ServerConnection) -> None:
        for n in range(40):  # more than the queue's high-water mark: reading pauses
            await ws.send(str(n))
        sent.set()
        await ws.close()

    async with frames_server(play) as (url, _):
        link = await transport.open(link_config(url), {})
        await asyncio.wait_for(sent.wait(), 1)
        frames, line = await receive_all(link)
    assert frames == [str(n) for n in range(40)]
    assert line == "connection closed: code 1000"


async def test_receive_stops_reading_while_on_frames_awaits(transport: Transport) -> None:
    sent = asyncio.Event()
    gate = asyncio.Event()
    calls: list[list[str | bytes]] = []

    async def play(ws: ServerConnection) -> None:
        for n in range(300):
            await ws.send(str(n))
        sent.set()
        await ws.close()

    async def wait_for_the_gate() -> None:
        await gate.wait()

    def on_frames(frames: list[str | bytes]) -> Awaitable[None] | None:
        calls.append(frames)
        return wait_for_the_gate() if "10" in frames else None

    async with frames_server(play) as (url, _):
        link = await transport.open(link_config(url), {})
        receiving = asyncio.create_task(link.receive(on_frames))
        await asyncio.wait_for(sent.wait(), 1)
        await wait_until(lambda: any("10" in frames for frames in calls), 1)
        assert "10" in calls[-1]  # nothing more while the awaitable runs
        if isinstance(link, picows_link.PicowsLink):
            reading = link._listener.transport.underlying_transport
            assert not reading.is_reading()  # the socket itself is paused
        gate.set()
        line = await asyncio.wait_for(receiving, 1.5)
    assert [frame for frames in calls for frame in frames] == [str(n) for n in range(300)]
    assert line == "connection closed: code 1000"


async def test_an_exception_from_on_frames_ends_receive(transport: Transport) -> None:
    async def play(ws: ServerConnection) -> None:
        await ws.send("boom")
        await ws.send("after")

    def on_frames(frames: list[str | bytes]) -> None:
        raise ValueError(f"cannot take {frames[0]!r}")

    async with frames_server(play) as (url, seen):
        link = await transport.open(link_config(url), {})
        with pytest.raises(ValueError, match="cannot take 'boom'"):
            await asyncio.wait_for(link.receive(on_frames), 1)
        await link.close()
        await asyncio.wait_for(seen["closed"].wait(), 1)
    assert seen["code"] == 1000


async def test_close_sends_its_code_and_reason_and_is_safe_twice(transport: Transport) -> None:
    async def play(ws: ServerConnection) -> None:
        await ws.send("hello")

    async with frames_server(play) as (url, seen):
        link = await transport.open(link_config(url), {})
        got: list[str | bytes] = []
        receiving = asyncio.create_task(link.receive(got.extend))
        await wait_until(lambda: got == ["hello"], 1)
        await link.send(b'{"op":"x"}')
        await asyncio.wait_for(link.close(1000, "client disconnect"), 1)
        await asyncio.wait_for(link.close(1000, "again"), 1)
        line = await asyncio.wait_for(receiving, 1)
        await asyncio.wait_for(seen["closed"].wait(), 1)
    assert seen["received"] == ['{"op":"x"}']  # bytes go as a text frame
    assert (seen["code"], seen["reason"]) == (1000, "client disconnect")
    assert line == "connection closed: code 1000 client disconnect"
    with pytest.raises(NotConnectedError):
        await link.send(b"late")
    with pytest.raises(NotConnectedError):
        await link.ping()


async def test_ping_measures_a_round_trip(transport: Transport) -> None:
    async def play(ws: ServerConnection) -> None:
        pass

    async with frames_server(play) as (url, _):
        link = await transport.open(link_config(url), {})
        receiving = asyncio.create_task(link.receive(lambda frames: None))
        rtts = [await asyncio.wait_for(link.ping(), 1) for _ in range(3)]
        await link.close()
        await asyncio.wait_for(receiving, 1)
    assert all(0 < rtt < 1 for rtt in rtts)


async def test_a_reset_is_a_connection_closed_without_a_close_frame(transport: Transport) -> None:
    async def play(ws: ServerConnection) -> None:
        await ws.send("last")
        ws.transport.abort()

    async with frames_server(play) as (url, _):
        link = await transport.open(link_config(url), {})
        frames, line = await receive_all(link)
    assert frames == ["last"]
    assert line == "connection closed: no close frame (network failure or reset)"


async def test_a_frame_over_max_message_size_closes_1009(transport: Transport) -> None:
    async def play(ws: ServerConnection) -> None:
        await ws.send("small")
        await ws.send("x" * 2000)
        await ws.send("never delivered")

    async with frames_server(play) as (url, seen):
        link = await transport.open(link_config(url, max_message_size=1024), {})
        frames, line = await receive_all(link)
        await asyncio.wait_for(seen["closed"].wait(), 1)
    assert frames == ["small"]
    assert line.startswith("connection closed: code 1009 ")
    assert seen["code"] == 1009


async def test_a_fragmented_message_over_max_message_size_closes_1009(
    transport: Transport,
) -> None:
    async def play(ws: ServerConnection) -> None:
        await ws.send(["y" * 600, "y" * 600])  # each frame fits, the message does not

    async with frames_server(play) as (url, seen):
        link = await transport.open(link_config(url, max_message_size=1024), {})
        frames, line = await receive_all(link)
        await asyncio.wait_for(seen["closed"].wait(), 1)
    assert frames == []
    assert line.startswith("connection closed: code 1009 ")
    assert seen["code"] == 1009


async def test_invalid_utf8_in_a_text_frame_closes_1007(transport: Transport) -> None:
    async def play(ws: ServerConnection) -> None:
        await ws.send(b"\xff\xfe", text=True)

    async with frames_server(play) as (url, seen):
        link = await transport.open(link_config(url), {})
        frames, line = await receive_all(link)
        await asyncio.wait_for(seen["closed"].wait(), 1)
    assert frames == []
    assert line == "connection closed: code 1007 invalid start byte at position 0"
    assert seen["code"] == 1007


@asynccontextmanager
async def mute_server(reply: bytes = b"") -> AsyncIterator[str]:
    """A raw WebSocket server: completes the handshake, sends ``reply`` (raw frames) once
    the client sent something, and never answers anything else (no pong, no close)."""
    writers: list[asyncio.StreamWriter] = []
    served: list[asyncio.Event] = []

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        served.append(done := asyncio.Event())
        try:
            await speak(reader, writer)
        finally:
            writer.close()
            done.set()

    async def speak(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        accept = base64.b64encode(hashlib.sha1(key + guid).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        pending = reply
        with contextlib.suppress(OSError):
            while await reader.read(65536):  # until the client's EOF
                writer.write(pending)
                pending = b""

    async with tcp_server(serve_one) as port:
        yield f"ws://127.0.0.1:{port}/"
        for writer in writers:
            writer.close()
        for done in served:
            await asyncio.wait_for(done.wait(), 1)


async def test_no_pong_within_timeout_closes_1011(transport: Transport) -> None:
    async with mute_server() as url:
        link = await transport.open(link_config(url, heartbeat_interval=0.1, timeout=0.2), {})
        started = time.monotonic()
        _, line = await receive_all(link)
    assert line == "connection closed: code 1011 keepalive ping timeout"
    assert time.monotonic() - started < 0.1 + 0.2 + 0.2 + 0.6  # ping, pong wait, close wait, slack


async def test_close_is_bounded_when_the_server_never_answers(transport: Transport) -> None:
    async with mute_server() as url:
        link = await transport.open(link_config(url, timeout=0.3), {})
        receiving = asyncio.create_task(link.receive(lambda frames: None))
        started = time.monotonic()
        await link.close(1000, "bye")
        took = time.monotonic() - started
        await asyncio.wait_for(link.close(), 0.5)
        line = await asyncio.wait_for(receiving, 0.5)
    assert 0.25 <= took < 0.9  # min(timeout, 2 s), then the socket is dropped
    assert line == "connection closed: code 1000 bye"


async def test_an_empty_close_frame_is_code_1005(transport: Transport) -> None:
    async with mute_server(reply=b"\x81\x02hi\x88\x00") as url:
        # websockets waits for the server to close the socket and enforces its close
        # timeout only on its next send (here a keepalive ping); picows closes at once
        config = link_config(url, heartbeat_interval=0.1, timeout=0.3)
        link = await transport.open(config, {})
        await link.send(b"go")
        frames, line = await receive_all(link)
    assert frames == ["hi"]
    assert line == "connection closed: code 1005"


# --- the client on picows, against the simulator ----------------------------------------------


def client_config(url: str, **options: Any) -> ConnectionConfig:
    values: dict[str, Any] = {
        "max_reconnect_attempts": 10,
        "reconnect_delay": 0.05,
        "heartbeat_interval": 0.2,
        "timeout": 0.2,
    }
    values.update(options)
    return ConnectionConfig(url=url, **values)


class Recorder:
    def __init__(self, url: str, **options: Any) -> None:
        self.client = WebSocketClient(client_config(url, **options), transport=PicowsTransport())
        self.messages: list[dict[str, Any]] = []
        for kind in ("price", "volume", "gap"):
            self.client.add_message_handler(kind, self.messages.append)

    async def start(self) -> None:
        assert await self.client.connect()
        await self.client.subscribe("s", SubscriptionConfig(["AAPL", "MSFT"], ["price", "volume"]))
        await self.more(10)

    async def more(self, count: int) -> None:
        target = len(self.messages) + count
        await wait_until(lambda: len(self.messages) >= target, 1.5)

    async def reconnected(self, before: int) -> None:
        await wait_until(lambda: self.client.reconnect_count > before, 1.5)
        await wait_until(lambda: self.client.state is ConnectionState.CONNECTED, 1.5)

    def assert_exact(self) -> None:
        report = check(self.messages)
        assert report.duplicated == 0 and report.out_of_order == 0, report
        assert report.lost == 0 and report.gapped == 0, report.holes
        assert report.delivered > 0


@pytest.fixture
async def proxy(sim: Simulator) -> AsyncIterator[FaultProxy]:
    fault_proxy = FaultProxy("127.0.0.1", sim.port)
    await fault_proxy.start()
    yield fault_proxy
    await fault_proxy.stop()


async def test_the_client_streams_contiguous_data(make_sim: Any) -> None:
    sim = await make_sim(rate=400)
    rec = Recorder(sim.url)
    await rec.start()
    await rec.more(100)
    assert (await rec.client.ping()) > 0
    await rec.client.disconnect()
    rec.assert_exact()
    seqs = [m["seq"] for m in rec.messages if m["symbol"] == "AAPL" and m["type"] == "price"]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert rec.client.reconnect_count == 0


async def test_resets_and_cuts_reconnect_losing_nothing(proxy: FaultProxy) -> None:
    rec = Recorder(proxy.url)
    await rec.start()
    for fault in (proxy.reset, proxy.cut_next_server_chunk, proxy.reset):
        before = rec.client.reconnect_count
        fault()
        await rec.reconnected(before)
        await rec.more(10)
    await rec.client.disconnect()
    rec.assert_exact()
    assert proxy.resets == 2 and proxy.cuts == 1
    assert rec.client.reconnect_count == 3 and rec.client.decode_errors == 0


async def test_a_black_hole_is_detected_by_the_missing_pong(proxy: FaultProxy) -> None:
    rec = Recorder(proxy.url)
    await rec.start()
    before = rec.client.reconnect_count
    proxy.blackhole = True
    started = time.monotonic()
    await wait_until(lambda: rec.client.state is not ConnectionState.CONNECTED, 1.5)
    detected = time.monotonic() - started
    proxy.blackhole = False
    await rec.reconnected(before)
    await rec.more(10)
    await rec.client.disconnect()
    assert detected <= 0.2 + 0.2 + 0.2 + 0.6, detected  # ping, pong wait, close wait, slack
    assert proxy.held_chunks > 0
    rec.assert_exact()


async def test_an_oversized_frame_closes_with_1009_and_the_client_reconnects() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.send('{"type":"welcome","protocol":1,"connection_id":"x"}')
        await ws.send('{"type":"heartbeat","pad":"' + "x" * 5000 + '"}')
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"ws://127.0.0.1:{port}/ws"
        config = client_config(url, max_message_size=1024, max_reconnect_attempts=2)
        client = WebSocketClient(config, transport=PicowsTransport())
        await client.connect()
        await asyncio.wait_for(client.wait_stopped(), 1.5)
    assert connections == 2  # closed on the big frame, tried again, gave up
    assert "1009" in str(client.failure)


async def test_disconnect_closes_with_1000() -> None:
    closed: list[tuple[int | None, str | None]] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.send('{"type":"welcome","protocol":1,"connection_id":"x"}')
        await ws.wait_closed()
        closed.append((ws.close_code, ws.close_reason))

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        config = client_config(f"ws://127.0.0.1:{port}/ws", heartbeat_interval=5, timeout=1)
        client = WebSocketClient(config, transport=PicowsTransport())
        assert await client.connect()
        await client.disconnect()
        await wait_until(lambda: bool(closed), 1)
    assert closed == [(1000, "client disconnect")]
    assert client.state is ConnectionState.DISCONNECTED


async def test_a_stuck_handler_pauses_reading_and_loses_nothing(make_sim: Any) -> None:
    """The handler blocks until the buffer is full and reading paused, then catches up."""
    sim = await make_sim(rate=1000, symbols=["AAPL"])
    config = client_config(sim.url, queue_size=20, heartbeat_interval=5, timeout=5)
    client = WebSocketClient(config, transport=PicowsTransport())
    seen: list[dict[str, Any]] = []
    gate = asyncio.Event()

    async def stuck(msg: dict[str, Any]) -> None:
        seen.append(msg)
        await gate.wait()

    client.add_message_handler("price", stuck)
    client.add_message_handler("gap", seen.append)
    assert await client.connect()
    await client.subscribe("s", SubscriptionConfig(["AAPL"], ["price", "volume"]))
    await wait_until(lambda: client.stats_snapshot()["backpressure_pauses"] > 0, 1.5)
    gate.set()
    await wait_until(lambda: len(seen) >= 150, 1.5)
    await client.disconnect()
    report = check(seen)
    assert report.duplicated == 0 and report.lost == 0 and report.gapped == 0, report.holes


# --- choosing the transport -------------------------------------------------------------


def test_auto_is_picows_where_installed_and_websockets_on_request() -> None:
    assert make_transport("auto").name == "picows"  # this file runs only where it is
    assert make_transport("websockets").name == "websockets"
    with pytest.raises(ConfigError, match="unknown transport 'quic'"):
        make_transport("quic")


def test_the_config_names_the_transport_and_refuses_others() -> None:
    forced = WebSocketClient(ConnectionConfig(url="ws://127.0.0.1:9/ws", transport="websockets"))
    assert forced.transport.name == "websockets"
    with pytest.raises(ConfigError, match="unknown transport 'tcp'"):
        ConnectionConfig(url="ws://127.0.0.1:9/ws", transport="tcp")
