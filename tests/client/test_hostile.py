"""A hostile or broken server never fools, freezes or silences the client (over real
sockets, against argus_cli.testing.hostile.HostileServer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from argus_cli import SubscriptionConfig, WebSocketClient
from argus_cli.client.logbudget import LogBudget
from argus_cli.testing.hostile import HostileServer, book, gap, price
from tests.client.helpers import fast_config


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def stream(
    server: HostileServer, symbols: list[str], wanted: Callable[[list[dict[str, Any]]], bool]
) -> tuple[WebSocketClient, list[dict[str, Any]]]:
    client = WebSocketClient(fast_config(server.url))
    seen: list[dict[str, Any]] = []
    client.add_frame_handler(seen.extend)
    assert await client.connect()
    await client.subscribe("s", SubscriptionConfig(symbols, ["price", "volume", "orderbook"]))
    await until(lambda: wanted(seen))
    return client, seen


def data(seen: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(m["symbol"], m["seq"]) for m in seen if m["type"] != "gap"]


async def test_out_of_range_numbers_are_malformed_counted_and_the_stream_goes_on() -> None:
    script = [
        price("AAPL", 1),
        '{"type":"price","sub":"{sub}","symbol":"AAPL","price":1,"bid":1,"ask":1,'
        '"timestamp":1' + "0" * 400 + ',"seq":2}',
        price("AAPL", 2, timestamp=float("inf")),  # json writes Infinity: not JSON
        price("AAPL", 2**63),
        price("AAPL", 2),
        [price("AAPL", 2**64), price("AAPL", 3)],  # a bad element does not sink the batch
    ]
    async with HostileServer(script=script) as server:
        client, seen = await stream(server, ["AAPL"], lambda s: len(s) >= 3)
        stats = await client.get_stats()
        await client.disconnect()
    assert data(seen) == [("AAPL", 1), ("AAPL", 2), ("AAPL", 3)]
    assert stats["decode_errors"] == 4 and stats["state"] == "connected"
    assert client.failure is None


async def test_a_book_beyond_ten_levels_is_refused_not_rendered() -> None:
    script = [book("AAPL", 1, levels=15_000), book("AAPL", 2, levels=10)]
    async with HostileServer(script=script) as server:
        client, seen = await stream(server, ["AAPL"], lambda s: len(s) >= 1)
        stats = await client.get_stats()
        await client.disconnect()
    assert data(seen) == [("AAPL", 2)] and len(seen[0]["bids"]) == 10
    assert stats["decode_errors"] == 1


async def test_foreign_symbols_are_dropped_counted_and_do_not_grow_the_tracker() -> None:
    foreign = [price(f"X{i}", 1) for i in range(2000)]
    script = [*foreign, gap("NOPE", 1, 5), price("AAPL", 1)]
    async with HostileServer(script=script) as server:
        client, seen = await stream(server, ["AAPL"], lambda s: len(s) >= 1)
        stats = await client.get_stats()
        tracked = len(client._pipeline.tracker.last)
        await client.disconnect()
    assert data(seen) == [("AAPL", 1)] and not [m for m in seen if m["type"] == "gap"]
    assert stats["foreign_dropped"] == 2001 and tracked == 1


def restart_after_first_connection(
    first: list[Any], second: list[Any], epochs: tuple[str | None, str | None]
) -> Callable[[HostileServer], None]:
    """Connection 1 plays ``first`` then drops; connection 2 (a restarted server) ``second``."""

    def on_connect(server: HostileServer) -> None:
        again = len(server.ops) > 1
        server.script = second if again else first
        server.epoch = epochs[1] if again else epochs[0]
        server.close_after_script = None if again else (1012, "restart")

    return on_connect


async def test_a_new_epoch_is_a_restart_not_a_day_of_duplicates() -> None:
    first = [price("AAPL", seq) for seq in range(100, 106)]
    second = [price("AAPL", seq) for seq in range(1, 4)]
    server = HostileServer(on_connect=restart_after_first_connection(first, second, ("e1", "e2")))
    async with server:
        client, seen = await stream(server, ["AAPL"], lambda s: len(data(s)) >= 9)
        await client.disconnect()
    assert data(seen) == [("AAPL", s) for s in [*range(100, 106), 1, 2, 3]]
    (restart,) = [m for m in seen if m["type"] == "gap"]
    assert restart["reason"] == "server_restart" and restart["from_seq"] == 106
    assert restart["to_seq"] is None and restart["source"] == "argus"
    assert server.ops[1][0]["resume"] == {"AAPL": 105}


async def test_a_server_without_epoch_restarting_is_seen_from_the_resume_point() -> None:
    first = [price("AAPL", seq) for seq in range(100, 106)]
    second = [price("AAPL", seq) for seq in range(1, 4)]
    server = HostileServer(on_connect=restart_after_first_connection(first, second, (None, None)))
    async with server:
        client, seen = await stream(server, ["AAPL"], lambda s: len(data(s)) >= 9)
        await client.disconnect()
    assert data(seen)[-3:] == [("AAPL", 1), ("AAPL", 2), ("AAPL", 3)]
    assert [m["reason"] for m in seen if m["type"] == "gap"] == ["server_restart"]


async def test_the_same_epoch_keeps_dropping_replayed_duplicates() -> None:
    first = [price("AAPL", seq) for seq in range(1, 6)]
    second = [price("AAPL", seq) for seq in range(4, 9)]  # replays 4, 5 again
    server = HostileServer(on_connect=restart_after_first_connection(first, second, ("e", "e")))
    async with server:
        client, seen = await stream(server, ["AAPL"], lambda s: len(data(s)) >= 8)
        stats = await client.get_stats()
        await client.disconnect()
    assert data(seen) == [("AAPL", s) for s in range(1, 9)]
    assert stats["duplicates_dropped"] == 2 and stats["gaps"] == 0


async def test_a_flood_of_bad_messages_and_gaps_is_a_trickle_of_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad_batch = [{"type": "price", "sub": "{sub}", "symbol": "AAPL"}] * 5000
    notices = [gap("AAPL", 10 * i + 2, 10 * i + 3) for i in range(2000)]
    script = [bad_batch, *[bad_batch[:1]] * 300, notices, price("AAPL", 1)]
    with caplog.at_level(logging.WARNING, logger="argus_cli"):
        async with HostileServer(script=script) as server:
            client, _ = await stream(server, ["AAPL"], lambda s: bool(data(s)))
            stats = await client.get_stats()
            held_back = client._warnings.total_suppressed
            await client.disconnect()
    assert stats["decode_errors"] == 5300 and stats["gaps"] == 2000
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert 1 <= len(warnings) <= 40  # a burst of 20, then 5 a second
    assert held_back >= 2300 - 40  # one warning a frame, and a gap notice each
    assert "and 4999 more in that frame" in warnings[0].getMessage()


def test_the_warning_budget_allows_a_burst_then_a_rate_and_says_what_it_held() -> None:
    logger = logging.getLogger("test.budget")
    budget = LogBudget(logger, rate=2.0, burst=3)
    sent = [budget.warning(100.0, "x") for _ in range(10)]
    assert sent == [True] * 3 + [False] * 7 and budget.suppressed == 7
    assert not budget.warning(100.4, "x")  # 0.8 of a token
    assert budget.warning(100.5, "x") and budget.suppressed == 0  # one token back
    assert budget.total_suppressed == 8
