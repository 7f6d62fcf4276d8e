"""The fake Alpaca v2 stream itself, over real sockets with a plain websockets client:
the connect/auth flow, the error table (401, 402, 403, 404, 405, 406, 409, 400), the
cumulative subscription ack as the docs' exchange shows it, the data shapes and
timestamps, the test stream and the faults."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from argus_cli.testing.fakes.alpaca import FakeAlpaca, rfc3339_nano
from tests.client.helpers import wait_until

KEY, SECRET = "PKTEST", "s3cr3t"
NANO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")
# RESEARCH.md §5, the docs' exchange (alpaca.jsonl lines 10 to 13)
DOC_SUBSCRIBE = {
    "action": "subscribe",
    "trades": ["AAPL"],
    "quotes": ["AMD", "CLDR"],
    "bars": ["*"],
}
DOC_ACK = [
    {
        "T": "subscription",
        "trades": ["AAPL"],
        "quotes": ["AMD", "CLDR"],
        "bars": ["*"],
        "updatedBars": [],
        "dailyBars": [],
        "statuses": [],
        "lulds": [],
        "corrections": ["AAPL"],
        "cancelErrors": ["AAPL"],
    }
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAlpaca]:
    async with FakeAlpaca(symbols=("AAPL", "AMD", "MSFT"), key=KEY, secret=SECRET) as fake:
        yield fake


async def recv(ws: ClientConnection) -> list[Any]:
    frame = json.loads(await asyncio.wait_for(ws.recv(), 2))
    assert isinstance(frame, list) and frame
    return frame


async def send(ws: ClientConnection, msg: dict[str, Any]) -> None:
    await ws.send(json.dumps(msg))


async def authed(url: str, key: str = KEY, secret: str = SECRET) -> ClientConnection:
    ws = await connect(url)
    assert await recv(ws) == [{"T": "success", "msg": "connected"}]
    await send(ws, {"action": "auth", "key": key, "secret": secret})
    assert await recv(ws) == [{"T": "success", "msg": "authenticated"}]
    return ws


async def until(
    ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool], timeout: float = 2.0
) -> list[dict[str, Any]]:
    """Messages (frames flattened) up to and including the frame that holds the first
    ``wanted`` one."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await recv(ws)
            seen.extend(frame)
            if any(wanted(msg) for msg in frame):
                return seen


async def closed_after(ws: ClientConnection) -> list[Any]:
    """Frames until the server closes; the close code must be a clean close frame."""
    frames = []
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(2):
            while True:
                frames.append(json.loads(await ws.recv()))
    assert ws.close_code == 1008
    return frames


def test_rfc3339_nano_like_go() -> None:
    assert rfc3339_nano(1_614_009_105_335_689_322) == "2021-02-22T15:51:45.335689322Z"
    assert rfc3339_nano(1_614_009_105_335_567_700) == "2021-02-22T15:51:45.3355677Z"
    assert rfc3339_nano(1_721_807_760_000_000_000) == "2024-07-24T07:56:00Z"


async def test_connect_auth_and_the_docs_subscription_exchange(fake: FakeAlpaca) -> None:
    ws = await authed(fake.url)
    await send(ws, DOC_SUBSCRIBE)
    assert await recv(ws) == DOC_ACK
    await send(ws, {"action": "unsubscribe", "bars": ["*"]})
    ack = (await until(ws, lambda m: m["T"] == "subscription"))[-1]
    assert [ack] == [{**DOC_ACK[0], "bars": []}]
    await send(ws, {"action": "unsubscribe", "trades": ["AAPL"]})
    ack = (await until(ws, lambda m: m["T"] == "subscription"))[-1]
    assert ack["trades"] == ack["corrections"] == ack["cancelErrors"] == []
    assert fake.requests[1] == DOC_SUBSCRIBE
    await ws.close()


async def test_data_shapes_times_and_ids_not_contiguous(fake: FakeAlpaca) -> None:
    fake.bar_interval = 0.05
    ws = await authed(fake.url)
    await send(ws, {"action": "subscribe", "trades": ["AAPL"], "quotes": ["AMD"], "bars": ["*"]})
    seen = await until(ws, lambda m: m["T"] == "b")
    seen += await until(ws, lambda m: m["T"] == "t")
    seen += await until(ws, lambda m: m["T"] == "t")
    trades = [m for m in seen if m["T"] == "t"]
    quotes = [m for m in seen if m["T"] == "q"]
    bars = [m for m in seen if m["T"] == "b"]
    assert list(trades[0]) == ["T", "i", "S", "x", "p", "s", "t", "c", "z"]
    assert list(quotes[0]) == ["T", "S", "bx", "bp", "bs", "ax", "ap", "as", "t", "c", "z"]
    assert list(bars[0]) == ["T", "S", "o", "h", "l", "c", "v", "t", "n", "vw"]
    assert {m["S"] for m in trades} == {"AAPL"} and {m["S"] for m in quotes} == {"AMD"}
    assert all(NANO.fullmatch(m["t"]) for m in [*trades, *quotes, *bars])
    assert all(isinstance(m["i"], int) and isinstance(m["s"], int) for m in trades)
    assert all(q["bp"] < q["ap"] for q in quotes)
    ids = [m["i"] for m in trades]
    assert all(b - a >= 2 for a, b in itertools.pairwise(ids))
    await ws.close()


async def test_wrong_keys_402_then_close(fake: FakeAlpaca) -> None:
    ws = await connect(fake.url)
    assert await recv(ws) == [{"T": "success", "msg": "connected"}]
    await send(ws, {"action": "auth", "key": KEY, "secret": "wrong"})
    frames = await closed_after(ws)
    assert frames == [[{"T": "error", "code": 402, "msg": "auth failed"}]]
    assert fake.errors_sent == [{"T": "error", "code": 402, "msg": "auth failed"}]


async def test_401_before_auth_403_twice_and_400_syntax(fake: FakeAlpaca) -> None:
    ws = await connect(fake.url)
    await recv(ws)
    await send(ws, {"action": "subscribe", "trades": ["AAPL"]})
    assert await recv(ws) == [{"T": "error", "code": 401, "msg": "not authenticated"}]
    await send(ws, {"action": "auth", "key": KEY, "secret": SECRET})
    assert await recv(ws) == [{"T": "success", "msg": "authenticated"}]
    await send(ws, {"action": "auth", "key": KEY, "secret": SECRET})
    assert await recv(ws) == [{"T": "error", "code": 403, "msg": "already authenticated"}]
    invalid = [{"T": "error", "code": 400, "msg": "invalid syntax"}]
    for bad in ("{not json", json.dumps({"action": "dance"}), json.dumps({"trades": "AAPL"})):
        await ws.send(bad)
        assert await recv(ws) == invalid
    await send(ws, {"action": "subscribe", "trades": ["aapl"]})
    assert await recv(ws) == invalid
    await ws.close()


async def test_auth_timeout_404_then_close() -> None:
    async with FakeAlpaca(auth_timeout=0.05) as fake:
        ws = await connect(fake.url)
        frames = await closed_after(ws)
        assert frames == [
            [{"T": "success", "msg": "connected"}],
            [{"T": "error", "code": 404, "msg": "auth timeout"}],
        ]


async def test_header_auth_and_oauth_token() -> None:
    async with FakeAlpaca(key=KEY, secret=SECRET, tokens={"tok"}, max_connections=None) as fake:
        headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
        async with connect(fake.url, additional_headers=headers) as ws:
            assert await recv(ws) == [{"T": "success", "msg": "connected"}]
            assert await recv(ws) == [{"T": "success", "msg": "authenticated"}]
        ws = await authed(fake.url, key="oauth", secret="tok")
        await ws.close()


async def test_405_symbol_limit_keeps_the_previous_set() -> None:
    async with FakeAlpaca(key=KEY, secret=SECRET, symbol_limit=3) as fake:
        ws = await authed(fake.url)
        await send(ws, {"action": "subscribe", "trades": ["AAPL", "AMD"], "quotes": ["AMD"]})
        assert (await recv(ws))[0]["trades"] == ["AAPL", "AMD"]
        await send(ws, {"action": "subscribe", "quotes": ["IBM", "VOO"]})
        error = (await until(ws, lambda m: m["T"] == "error"))[-1]
        assert error == {"T": "error", "code": 405, "msg": "symbol limit exceeded"}
        await send(ws, {"action": "subscribe", "trades": ["*"]})
        assert (await until(ws, lambda m: m["T"] == "error"))[-1]["code"] == 405
        many = [f"S{i}" for i in range(50)]
        await send(ws, {"action": "subscribe", "bars": many})
        ack = (await until(ws, lambda m: m["T"] == "subscription"))[-1]
        assert ack["trades"] == ["AAPL", "AMD"] and ack["quotes"] == ["AMD"]
        assert ack["bars"] == many
        await ws.close()


async def test_406_second_connection_per_key_until_the_first_leaves(fake: FakeAlpaca) -> None:
    first = await authed(fake.url)
    second = await connect(fake.url)
    await recv(second)
    await send(second, {"action": "auth", "key": KEY, "secret": SECRET})
    frames = await closed_after(second)
    assert frames == [[{"T": "error", "code": 406, "msg": "connection limit exceeded"}]]
    other_endpoint = await authed(fake.test_url)  # the limit is per endpoint
    await other_endpoint.close()
    await first.close()
    await wait_until(lambda: fake.open_connections == 0)
    third = await authed(fake.url)
    await third.close()


async def test_409_feed_not_in_the_plan() -> None:
    async with FakeAlpaca(key=KEY, secret=SECRET) as fake:
        ws = await connect(fake.url_for("sip"))
        await recv(ws)
        await send(ws, {"action": "auth", "key": KEY, "secret": SECRET})
        frames = await closed_after(ws)
        assert frames == [[{"T": "error", "code": 409, "msg": "insufficient subscription"}]]
    async with FakeAlpaca(key=KEY, secret=SECRET, entitled_feeds={"sip"}) as fake:
        ws = await authed(fake.url_for("sip"))
        await ws.close()
        with pytest.raises(InvalidStatus):
            await connect(fake.url_for("nope"))


async def test_test_stream_fakepaca_and_its_short_ack(fake: FakeAlpaca) -> None:
    ws = await authed(fake.test_url)
    await send(ws, {"action": "subscribe", "bars": ["FAKEPACA"], "quotes": ["FAKEPACA"]})
    assert await recv(ws) == [
        {"T": "subscription", "trades": [], "quotes": ["FAKEPACA"], "bars": ["FAKEPACA"]}
    ]
    quote = (await until(ws, lambda m: m["T"] == "q"))[-1]
    assert quote["S"] == "FAKEPACA" and (quote["bx"], quote["ax"], quote["z"]) == ("O", "R", "A")
    await ws.close()


async def test_abort_after_drops_the_first_connection_mid_frame() -> None:
    async with FakeAlpaca(key=KEY, secret=SECRET, abort_after=5) as fake:
        ws = await authed(fake.url)
        await send(ws, {"action": "subscribe", "trades": ["AAPL", "MSFT", "AMD"]})
        await recv(ws)
        data: list[Any] = []
        with pytest.raises(ConnectionClosedError) as closed:
            async with asyncio.timeout(2):
                while True:
                    data.extend(json.loads(await ws.recv()))
        assert len(data) == 5 and closed.value.rcvd is None and fake.aborted == 1
        await wait_until(lambda: fake.open_connections == 0)
        ws = await authed(fake.url)  # the slot is free again; this one is not aborted
        await send(ws, {"action": "subscribe", "trades": ["AAPL", "MSFT", "AMD"]})
        assert len(await until(ws, lambda m: m["T"] == "t" and m["S"] == "AAPL")) >= 1
        await until(ws, lambda m: m["T"] == "t" and m["S"] == "MSFT")
        await ws.close()
        assert fake.aborted == 1 and fake.connections == 2


async def test_paused_then_max_trades_while_quotes_go_on() -> None:
    async with FakeAlpaca(key=KEY, secret=SECRET, paused=True, max_trades=3) as fake:
        ws = await authed(fake.url)
        await send(ws, {"action": "subscribe", "trades": ["AAPL"], "quotes": ["AAPL"]})
        await recv(ws)
        fake.paused = False
        seen = await until(ws, lambda m: m["T"] == "q")
        while len([m for m in seen if m["T"] == "q"]) < 20:
            seen += await until(ws, lambda m: m["T"] == "q")
        trades = [m for m in seen if m["T"] == "t"]
        assert len(trades) == 3 and trades[-1]["i"] == fake.last_trade_id("AAPL")
        await ws.close()
