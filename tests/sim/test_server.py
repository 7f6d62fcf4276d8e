"""The simulator against a plain websockets client: every clause of PROTOCOL.md."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from argus_cli.sim import Simulator
from argus_cli.testing.rawclient import RawClient, subscribe_op
from tests.conftest import SimFactory


async def test_welcome_comes_first(sim: Simulator) -> None:
    client = await RawClient.open(sim.url)
    welcome = await client.recv()
    assert welcome["type"] == "welcome"
    assert welcome["protocol"] == 1
    assert len(welcome["connection_id"]) == 36
    assert isinstance(welcome["server_time"], float)
    assert welcome["heartbeat_interval"] == sim.config.heartbeat_interval
    await client.close()


async def test_subscribe_yields_one_message_per_type_per_event(sim: Simulator) -> None:
    client = await RawClient.open(sim.url)
    await client.expect_type("welcome")
    await client.send(
        subscribe_op("s1", ["AAPL", "MSFT"], data_types=["price", "volume", "orderbook"])
    )
    reply = await client.expect_type("subscribed")
    assert reply == {
        "type": "subscribed",
        "id": "s1",
        "symbols": ["AAPL", "MSFT"],
        "data_types": ["price", "volume", "orderbook"],
        "update_frequency": "realtime",
    }
    messages = await client.collect(0.6)
    by_event: dict[tuple[str, int], set[str]] = {}
    for msg in messages:
        assert msg["sub"] == "s1"
        by_event.setdefault((msg["symbol"], msg["seq"]), set()).add(msg["type"])
    complete = [k for k, types in by_event.items() if types == {"price", "volume", "orderbook"}]
    assert len(complete) >= 10
    # per symbol, seq grows by exactly one
    for symbol in ("AAPL", "MSFT"):
        seqs = sorted(
            {m["seq"] for m in messages if m["symbol"] == symbol and m["type"] == "price"}
        )
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    price = next(m for m in messages if m["type"] == "price")
    assert price["bid"] < price["ask"]
    assert price["bid"] <= price["price"] <= price["ask"]
    assert isinstance(price["timestamp"], float)
    book = next(m for m in messages if m["type"] == "orderbook")
    assert 1 <= len(book["bids"]) <= 10 and len(book["asks"]) == 10
    assert book["bids"] == sorted(book["bids"], reverse=True)
    assert book["asks"] == sorted(book["asks"])
    assert book["bids"][0][0] < book["asks"][0][0]
    volume = next(m for m in messages if m["type"] == "volume")
    assert volume["volume"] > 0 and volume["total_volume"] >= volume["volume"]
    await client.close()


async def test_ready_messages_are_batched(make_sim: SimFactory) -> None:
    sim = await make_sim(rate=2000, symbols=["AAPL"])
    client = await RawClient.open(sim.url)
    await client.expect_type("welcome")
    await client.send(subscribe_op("s1", ["AAPL"], data_types=["price", "volume"]))
    await client.collect(0.5)
    assert client.batches > 0


async def test_overlapping_subscriptions_each_get_a_copy(sim: Simulator) -> None:
    client = await RawClient.open(sim.url)
    await client.send(subscribe_op("a", ["AAPL"]))
    await client.send(subscribe_op("b", ["AAPL", "MSFT"]))
    messages = await client.collect(0.5)
    a = {m["seq"] for m in messages if m.get("sub") == "a"}
    b = {m["seq"] for m in messages if m.get("sub") == "b" and m["symbol"] == "AAPL"}
    assert a and b and len(a & b) >= 5


async def test_unsubscribe_stops_the_data(sim: Simulator) -> None:
    client = await RawClient.open(sim.url)
    await client.send(subscribe_op("s1"))
    await client.expect_type("price")
    await client.send({"op": "unsubscribe", "id": "s1"})
    await client.expect_type("unsubscribed")
    after = await client.collect(0.3)
    assert not [m for m in after if m.get("type") == "price"]


async def test_list_symbols_and_ping(sim: Simulator) -> None:
    client = await RawClient.open(sim.url)
    await client.send({"op": "list_symbols"})
    symbols = await client.expect_type("symbols")
    assert symbols["symbols"] == ["AAPL", "GOOGL", "MSFT", "TSLA"]
    await client.send({"op": "ping", "nonce": 42})
    pong = await client.expect_type("pong")
    assert pong["nonce"] == 42 and isinstance(pong["server_time"], float)


@pytest.mark.parametrize(
    ("op", "code"),
    [
        ("not json", "bad_request"),
        ([1, 2], "bad_request"),
        ({"nonce": 1}, "bad_request"),
        ({"op": "dance"}, "unknown_op"),
        (subscribe_op("s1", ["XYZQ"]), "invalid_symbol"),
        (subscribe_op("s1", ["aapl"]), "invalid_symbol"),
        (subscribe_op("s1", data_types=["trades"]), "invalid_data_type"),
        (subscribe_op("s1", data_types=[]), "invalid_data_type"),
        (subscribe_op("s1", update_frequency="2s"), "invalid_frequency"),
        (subscribe_op("s1", filters={"min_volume": 5}), "invalid_filter"),
        (subscribe_op("s1", filters={"min_price": "cheap"}), "invalid_filter"),
        (subscribe_op("bad id!"), "bad_request"),
        (subscribe_op("s1", resume={"AAPL": -1}), "bad_request"),
        ({"op": "unsubscribe", "id": "nope"}, "unknown_subscription"),
    ],
)
async def test_error_codes(sim: Simulator, op: object, code: str) -> None:
    client = await RawClient.open(sim.url)
    await client.send(op if isinstance(op, str) else json.dumps(op))
    error = await client.expect_type("error")
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    if isinstance(op, dict) and op.get("id") == "s1":
        assert error["id"] == "s1"
    # an error never closes the connection by itself
    await client.send({"op": "ping", "nonce": 1})
    assert (await client.expect_type("pong"))["nonce"] == 1


async def test_unknown_symbol_error_names_it_and_refuses_the_whole_subscribe(
    sim: Simulator,
) -> None:
    client = await RawClient.open(sim.url)
    await client.send(subscribe_op("s1", ["AAPL", "XYZQ"]))
    error = await client.expect_type("error")
    assert error["code"] == "invalid_symbol" and "XYZQ" in error["message"]
    later = await client.collect(0.3)
    assert not [m for m in later if m.get("type") == "price"]


async def test_duplicate_id(sim: Simulator) -> None:
    client = await RawClient.open(sim.url)
    await client.send(subscribe_op("s1"))
    await client.expect_type("subscribed")
    await client.send(subscribe_op("s1", ["MSFT"]))
    error = await client.expect_type("error")
    assert error["code"] == "duplicate_id" and error["id"] == "s1"


async def test_subscription_limit(make_sim: SimFactory) -> None:
    sim = await make_sim(max_subscriptions=2)
    client = await RawClient.open(sim.url)
    for i in range(3):
        await client.send(subscribe_op(f"s{i}"))
    error = await client.expect_type("error")
    assert error["code"] == "too_many_subscriptions" and error["id"] == "s2"


async def test_api_key_refused_with_401_before_upgrade(make_sim: SimFactory) -> None:
    sim = await make_sim(api_key="sekret")
    with pytest.raises(InvalidStatus) as info:
        await RawClient.open(sim.url)
    assert info.value.response.status_code == 401
    with pytest.raises(InvalidStatus):
        await RawClient.open(sim.url, additional_headers={"Authorization": "Bearer wrong"})
    client = await RawClient.open(sim.url, additional_headers={"Authorization": "Bearer sekret"})
    assert (await client.recv())["type"] == "welcome"


async def test_api_key_from_environment(
    make_sim: SimFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARGUS_SERVER_API_KEY", "from-env")
    sim = await make_sim(api_key=None)
    with pytest.raises(InvalidStatus):
        await RawClient.open(sim.url)
    client = await RawClient.open(sim.url, additional_headers={"Authorization": "Bearer from-env"})
    assert (await client.recv())["type"] == "welcome"


async def test_resume_replays_exactly_the_missing_events(sim: Simulator) -> None:
    first = await RawClient.open(sim.url)
    await first.send(subscribe_op("s1", ["AAPL"], data_types=["price", "volume"]))
    msgs = await first.collect(0.3)
    last = max(m["seq"] for m in msgs if m.get("type") == "price")
    await first.close()
    await asyncio.sleep(0.3)  # the market moves on while we are away (not synchronisation)
    second = await RawClient.open(sim.url)
    await second.send(
        subscribe_op("s1", ["AAPL"], data_types=["price", "volume"], resume={"AAPL": last})
    )
    await second.expect_type("subscribed")
    after = await second.collect(0.3)
    prices = [m["seq"] for m in after if m.get("type") == "price"]
    volumes = [m["seq"] for m in after if m.get("type") == "volume"]
    assert prices[0] == last + 1
    assert prices == list(range(last + 1, last + 1 + len(prices)))
    assert volumes == list(range(last + 1, last + 1 + len(volumes)))
    assert not [m for m in after if m.get("type") == "gap"]


async def test_resume_beyond_the_ring_sends_a_gap_first(make_sim: SimFactory) -> None:
    sim = await make_sim(ring_size=5, rate=200, symbols=["AAPL"])
    client = await RawClient.open(sim.url)
    await client.send({"op": "ping", "nonce": 0})
    await client.expect_type("pong")
    while sim.market.last_seq("AAPL") < 20:
        await asyncio.sleep(0.01)
    await client.send(subscribe_op("s1", ["AAPL"], resume={"AAPL": 1}))
    await client.expect_type("subscribed")
    gap = await client.recv()
    assert gap["type"] == "gap" and gap["symbol"] == "AAPL"
    assert gap["from_seq"] == 2 and gap["reason"] == "not_in_buffer"
    first = await client.expect_type("price")
    assert first["seq"] == gap["to_seq"] + 1


async def test_conflation_sends_at_most_one_per_period(make_sim: SimFactory) -> None:
    sim = await make_sim(rate=200, symbols=["AAPL", "MSFT"])
    client = await RawClient.open(sim.url)
    await client.send(
        subscribe_op("c", ["AAPL", "MSFT"], data_types=["price", "volume"], update_frequency="1s")
    )
    await client.expect_type("subscribed")
    messages = await client.collect(2.6)
    data = [m for m in messages if m.get("type") in ("price", "volume")]
    for symbol in ("AAPL", "MSFT"):
        for kind in ("price", "volume"):
            count = len([m for m in data if m["symbol"] == symbol and m["type"] == kind])
            assert 1 <= count <= 3  # 2.6 s at one per second
    latest = [m for m in data if m["symbol"] == "AAPL" and m["type"] == "price"][-1]
    assert latest["seq"] > 50  # the latest values, not the first
    # a conflated volume is every trade of its period, summed (total_volume as ever)
    for symbol in ("AAPL", "MSFT"):
        volumes = [m for m in data if m["symbol"] == symbol and m["type"] == "volume"]
        assert volumes[0]["volume"] > 100  # a period's trades, not the last one's size
        for before, after in itertools.pairwise(volumes):
            assert after["volume"] == after["total_volume"] - before["total_volume"]


async def test_price_filters(make_sim: SimFactory) -> None:
    sim = await make_sim(rate=100)
    client = await RawClient.open(sim.url)
    price = sim.market.last_price("AAPL")
    await client.send(
        subscribe_op("in", ["AAPL"], filters={"min_price": price - 1000, "max_price": price + 1000})
    )
    await client.send(subscribe_op("out", ["AAPL"], filters={"min_price": price + 1000}))
    messages = await client.collect(0.5)
    assert [m for m in messages if m.get("sub") == "in"]
    assert not [m for m in messages if m.get("sub") == "out"]


async def test_oversized_client_frame_closes_with_1009(make_sim: SimFactory) -> None:
    sim = await make_sim(max_frame=1024)
    client = await RawClient.open(sim.url)
    await client.send(json.dumps({"op": "ping", "nonce": "x" * 5000}))
    with pytest.raises(ConnectionClosed):
        await client.collect(2)
        await client.ws.recv()
    assert client.ws.close_code == 1009


async def test_slow_consumer_is_closed_with_1013_others_carry_on(make_sim: SimFactory) -> None:
    sim = await make_sim(rate=2000, symbols=["AAPL"], send_queue=5000)
    slow = await RawClient.open(sim.url, max_queue=1)
    fast = await RawClient.open(sim.url)
    slow.ws.transport.pause_reading()  # a client that never reads
    await slow.send(subscribe_op("s", ["AAPL"], data_types=["price", "volume", "orderbook"]))
    await fast.send(subscribe_op("f", ["AAPL"], data_types=["price"]))
    deadline = asyncio.get_running_loop().time() + 15
    while len(sim.sessions) > 1 and asyncio.get_running_loop().time() < deadline:
        await fast.collect(0.1)
    assert len(sim.sessions) == 1
    slow.ws.transport.resume_reading()
    with pytest.raises(ConnectionClosed):
        while True:
            await slow.ws.recv()
    # the close frame sits behind megabytes the client never read, so the client
    # sees 1013 or, once the server gives up on the handshake, a reset (1006)
    assert slow.ws.close_code in (1013, 1006)
    assert sim.closes == {1013: 1}
    assert [m for m in await fast.collect(0.2) if m.get("type") == "price"]


async def test_control_rate_limit_then_policy_close(make_sim: SimFactory) -> None:
    sim = await make_sim(control_rate=1, control_burst=3, max_violations=5)
    client = await RawClient.open(sim.url)
    for i in range(12):
        await client.send({"op": "ping", "nonce": i})
    codes = []
    with pytest.raises(ConnectionClosed):
        while True:
            msg = await client.recv()
            if msg.get("type") == "error":
                codes.append(msg["code"])
    assert codes and set(codes) == {"rate_limited"}
    assert client.ws.close_code == 1008


async def test_heartbeat_when_idle(make_sim: SimFactory) -> None:
    sim = await make_sim(heartbeat_interval=0.2)
    client = await RawClient.open(sim.url)
    beat = await client.expect_type("heartbeat", timeout=3)
    assert isinstance(beat["server_time"], float)


async def test_shutdown_closes_with_1001(make_sim: SimFactory) -> None:
    sim = await make_sim()
    client = await RawClient.open(sim.url)
    await client.expect_type("welcome")
    await sim.stop()
    with pytest.raises(ConnectionClosed):
        await client.ws.recv()
    assert client.ws.close_code == 1001


async def test_connection_cap_answers_503(make_sim: SimFactory) -> None:
    sim = await make_sim(max_connections=1)
    client = await RawClient.open(sim.url)
    await client.expect_type("welcome")
    with pytest.raises(InvalidStatus) as info:
        await RawClient.open(sim.url)
    assert info.value.response.status_code == 503


async def test_an_internal_failure_answers_internal_and_keeps_the_connection(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("bug in the replay ring")

    monkeypatch.setattr(sim.market, "events_after", broken)
    raw = await RawClient.open(sim.url)
    await raw.send(subscribe_op("s1", ["AAPL"], resume={"AAPL": 1}))
    error, before = await raw.expect(lambda m: m.get("type") == "error")
    assert error["code"] == "internal" and "bug" not in error["message"]
    assert error["id"] == "s1"
    assert not [m for m in before if m.get("type") == "subscribed"]  # refused whole
    await raw.send({"op": "ping", "nonce": 7})
    assert (await raw.expect_type("pong"))["nonce"] == 7
