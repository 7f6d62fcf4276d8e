"""The provider seam's actions, driven by the real client against a live simulator:
timer actions are performed while connected; ``Reconnect`` opens a new connection
that resumes without loss and is not counted as a failure; a provider bug in the
timer is not a silent stop; ``Fetch`` GETs over real HTTP on 127.0.0.1 and hands
the answer back; a fatal error from the provider stops the client without a
retry; a venue's query-string credentials reach the server and nowhere else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from argus_cli import ConnectionConfig, ConnectionState, SubscriptionConfig, WebSocketClient
from argus_cli.client.transports.options import handshake_headers
from argus_cli.exceptions import AuthenticationError, InsecureTransportError, InternalError
from argus_cli.protocol.argus import ArgusSession
from argus_cli.protocol.codec import encode_ping
from argus_cli.protocol.session import (
    Action,
    Fetch,
    Fetched,
    Handshake,
    Received,
    Reconnect,
    Request,
    Send,
)
from argus_cli.sim import Simulator
from argus_cli.testing.seqcheck import check
from tests.client.helpers import fast_config, wait_until


class PingingSession(ArgusSession):
    """Sends an application ping on every timer tick."""

    timer_interval = 0.05

    def __init__(self) -> None:
        self.ticks = 0

    def on_timer(self, now: float) -> list[Action]:
        self.ticks += 1
        return [Send(encode_ping(1000 + self.ticks))]


class RotatingSession(ArgusSession):
    """Asks for a new connection after every ``every`` data frames (Binance's 24 h
    rotation, a ``serverShutdown`` notice)."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.frames = 0

    def receive(self, frame: str | bytes, now: float) -> Received:
        received = super().receive(frame, now)
        if any(m["type"] == "price" for m in received.events):
            self.frames += 1
            if self.frames % self.every == 0:
                received.add_actions([Reconnect("rotation")])
        return received


class BrokenTimerSession(ArgusSession):
    timer_interval = 0.05

    def on_timer(self, now: float) -> list[Action]:
        raise RuntimeError("timer bug")


async def test_timer_actions_are_performed_while_connected(sim: Simulator) -> None:
    provider = PingingSession()
    client = WebSocketClient(fast_config(sim.url), provider=provider)
    pongs: list[dict[str, Any]] = []
    client.add_message_handler("pong", pongs.append)
    assert await client.connect()
    await wait_until(lambda: len(pongs) >= 3)
    await client.disconnect()
    assert {p["nonce"] for p in pongs} <= {1000 + n for n in range(1, provider.ticks + 1)}
    timers = [t for t in asyncio.all_tasks() if t.get_name() == "argus-provider-timer"]
    assert all(t.done() for t in timers)  # disconnected: the timer stopped with the link


async def test_a_reconnect_action_resumes_without_loss_and_is_no_failure(
    make_sim: Any,
) -> None:
    sim = await make_sim(rate=200.0)
    client = WebSocketClient(fast_config(sim.url), provider=RotatingSession(every=40))
    seen: list[dict[str, Any]] = []
    client.add_frame_handler(seen.extend)
    assert await client.connect()
    await client.subscribe("s", SubscriptionConfig(["AAPL"], ["price"]))
    await wait_until(lambda: client.reconnect_count >= 2, timeout=10)
    await wait_until(lambda: len(seen) >= 150, timeout=10)
    await client.disconnect()
    report = check(seen)
    assert report.lost == 0 and report.duplicated == 0 and report.gapped == 0
    assert client.failure is None


async def test_a_provider_timer_that_raises_is_not_a_silent_stop(sim: Simulator) -> None:
    client = WebSocketClient(fast_config(sim.url), provider=BrokenTimerSession())
    assert await client.connect()
    await asyncio.wait_for(client.wait_stopped(), 10)
    assert client.state is ConnectionState.ERROR
    assert isinstance(client.failure, InternalError) and "timer bug" in str(client.failure)
    await client.disconnect()


# --- Fetch ------------------------------------------------------------------------------


@asynccontextmanager
async def http_server() -> AsyncIterator[str]:
    """HTTP/1.1 on 127.0.0.1: ``/book`` answers JSON, anything else 404."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1]
        if path.startswith(b"/book"):
            status, body = b"200 OK", b'{"lastUpdateId": 7, "path": "%s"}' % path
        else:
            status, body = b"404 Not Found", b'{"code": -1121, "msg": "Invalid symbol."}'
        writer.write(b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


class FetchingSession(ArgusSession):
    """GETs ``urls`` with each subscribe (a REST snapshot beside the stream); each
    answer becomes a price event of that subscription."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.answers: list[Fetched] = []

    def subscribe(self, *args: Any, **kwargs: Any) -> Request:
        request = super().subscribe(*args, **kwargs)
        fetches = [Fetch(url, tag=n) for n, url in enumerate(self.urls)]
        return Request([*request.actions, *fetches], request.reply)

    def fetched(self, answer: Fetched, now: float) -> Received:
        self.answers.append(answer)
        event = {"type": "price", "sub": "rest", "symbol": "AAPL", "price": 100.0 + answer.tag}
        return Received([event])


async def test_fetch_answers_come_back_through_the_provider(
    sim: Simulator, unused_port: int
) -> None:
    async with http_server() as base:
        urls = [f"{base}/book?symbol=AAPL", f"{base}/nothing", f"http://127.0.0.1:{unused_port}/"]
        provider = FetchingSession(urls)
        client = WebSocketClient(fast_config(sim.url), provider=provider)
        prices: list[dict[str, Any]] = []
        client.add_message_handler("price", prices.append)
        assert await client.connect()
        await client.subscribe("rest", SubscriptionConfig(["AAPL"], ["volume"]))
        await wait_until(lambda: len(prices) == 3)
        await client.disconnect()
    answers = {a.tag: a for a in provider.answers}
    assert answers[0].status == 200 and b'"/book?symbol=AAPL"' in answers[0].body
    assert answers[1].status == 404 and b"Invalid symbol" in answers[1].body
    assert (
        answers[2].status == 0 and answers[2].error and "GET http://127.0.0.1" in answers[2].error
    )
    assert {p["source"] for p in prices} == {"argus"} and all(p["received"] > 0 for p in prices)
    assert sorted(p["price"] for p in prices) == [100.0, 101.0, 102.0]


async def test_a_fetch_of_a_non_http_url_is_answered_with_the_reason(sim: Simulator) -> None:
    provider = FetchingSession(["file:///etc/passwd"])
    client = WebSocketClient(fast_config(sim.url), provider=provider)
    assert await client.connect()
    await client.subscribe("rest", SubscriptionConfig(["AAPL"], ["volume"]))
    await wait_until(lambda: len(provider.answers) == 1)
    await client.disconnect()
    assert provider.answers[0].status == 0 and provider.answers[0].body == b""
    assert "not an http(s) URL" in (provider.answers[0].error or "")


# --- fatal ------------------------------------------------------------------------------


class RefusedByMessageSession(ArgusSession):
    """The venue refuses the key in a message after the handshake (Alpaca's 402)."""

    welcomes = 0

    def receive(self, frame: str | bytes, now: float) -> Received:
        received = super().receive(frame, now)
        if received.info is not None:
            self.welcomes += 1
            received.set_fatal(AuthenticationError("auth failed (402)", status=402))
        return received


async def test_a_fatal_error_from_the_provider_stops_without_a_retry(sim: Simulator) -> None:
    provider = RefusedByMessageSession()
    client = WebSocketClient(fast_config(sim.url), provider=provider)
    await client.connect()
    await asyncio.wait_for(client.wait_stopped(), 10)
    assert client.state is ConnectionState.ERROR
    assert isinstance(client.failure, AuthenticationError) and client.failure.status == 402
    assert client.reconnect_count == 0
    assert provider.welcomes == 1  # judged by the RetryPolicy: never retried
    await client.disconnect()


# --- handshake credentials --------------------------------------------------------------

TOKEN = "tok-0123456789abcdef"


class QueryTokenSession(ArgusSession):
    def handshake(self, api_key: str | None) -> Handshake:
        return Handshake(query={"token": api_key} if api_key else {})


async def test_a_query_token_reaches_the_server_and_is_never_shown() -> None:
    paths: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        paths.append(ws.request.path)
        await ws.close()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        config = fast_config(f"ws://127.0.0.1:{port}/feed?x=1", api_key=TOKEN)
        client = WebSocketClient(config, provider=QueryTokenSession())
        await client.connect()
        await wait_until(lambda: len(paths) >= 1)
        await client.disconnect()
    assert paths[0] == f"/feed?x=1&token={TOKEN}"
    assert TOKEN not in repr(client) and TOKEN not in str(client.stats_snapshot())
    assert TOKEN not in (client.last_error or "")


def test_query_credentials_are_refused_in_clear_text_to_a_remote_host() -> None:
    config = ConnectionConfig(url="ws://feed.example.com/", api_key=TOKEN)
    with pytest.raises(InsecureTransportError):
        handshake_headers(config, Handshake(query={"token": TOKEN}))
    assert handshake_headers(config, Handshake()) == {}
