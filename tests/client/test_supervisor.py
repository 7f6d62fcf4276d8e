"""No silent death: an unexpected exception anywhere in the receive path ends in ERROR,
logged and kept; a raising handler is counted, a raising sink stops the stream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest
from typer.testing import CliRunner

from argus_cli import ConnectionState, SubscriptionConfig, WebSocketClient
from argus_cli.cli.app import app
from argus_cli.events import Event
from argus_cli.exceptions import (
    ConfigError,
    InternalError,
    SinkError,
)
from argus_cli.protocol import argus as argus_provider
from argus_cli.protocol.argus import ArgusSession
from argus_cli.protocol.codec import decode_data, decode_frame
from argus_cli.protocol.typed import decode_frames
from argus_cli.sim import Simulator
from tests.cli.helpers import ThreadedSim
from tests.client.helpers import fast_config


def break_the_decoder_after(frames: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every decoding path of the argus provider raises after ``frames`` calls (the
    typed lane decodes a read's frames in one call)."""
    calls = 0

    def counted(decode: Any) -> Any:
        def broken(data: str | bytes) -> Any:
            nonlocal calls
            calls += 1
            if calls > frames:
                raise RuntimeError("decoder bug")
            return decode(data)

        return broken

    monkeypatch.setattr(argus_provider, "decode_data", counted(decode_data))
    monkeypatch.setattr(argus_provider, "decode_frame", counted(decode_frame))
    monkeypatch.setattr(ArgusSession, "decode_typed", staticmethod(counted(decode_frames)))


async def test_a_decoder_that_raises_ends_in_error_kept_and_logged(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    break_the_decoder_after(5, monkeypatch)
    client = WebSocketClient(fast_config(sim.url))
    assert await client.connect()
    await client.subscribe("s", SubscriptionConfig(["AAPL"], ["price"]))
    with caplog.at_level(logging.ERROR, logger="argus_cli"):
        await asyncio.wait_for(client.wait_stopped(), 10)
    assert client.state is ConnectionState.ERROR
    assert isinstance(client.failure, InternalError)
    assert isinstance(client.failure.__cause__, RuntimeError)
    assert "decoder bug" in str(client.last_error)
    stats = await client.get_stats()
    assert stats["state"] == "error" and "decoder bug" in stats["last_error"]
    assert any(r.exc_info and "decoder bug" in str(r.exc_info[1]) for r in caplog.records)
    await client.disconnect()
    assert client.state is ConnectionState.ERROR  # the reason stays visible


async def test_an_event_without_the_fields_the_pipeline_reads_is_not_a_silent_stop(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_symbol(data: str | bytes) -> Any:
        messages = decode_data(data)
        for msg in messages or ():
            del msg["symbol"]
        return messages

    monkeypatch.setattr(argus_provider, "decode_data", no_symbol)
    monkeypatch.setattr(ArgusSession, "decode_typed", staticmethod(lambda frames: None))
    client = WebSocketClient(fast_config(sim.url))
    assert await client.connect()
    await client.subscribe("s", SubscriptionConfig(["AAPL"], ["price"]))
    await asyncio.wait_for(client.wait_stopped(), 10)
    assert isinstance(client.failure, InternalError) and "KeyError" in str(client.failure)
    await client.disconnect()


async def test_a_raising_handler_is_counted_and_the_stream_goes_on(sim: Simulator) -> None:
    client = WebSocketClient(fast_config(sim.url))
    seen: list[dict[str, Any]] = []
    enough = asyncio.Event()

    def bad(_: dict[str, Any]) -> None:
        raise ValueError("handler bug")

    def good(msg: dict[str, Any]) -> None:
        seen.append(msg)
        if len(seen) >= 10:
            enough.set()

    client.add_message_handler("price", bad)
    client.add_message_handler("price", good)
    assert await client.connect()
    await client.subscribe("s", SubscriptionConfig(["AAPL"], ["price"]))
    await asyncio.wait_for(enough.wait(), 10)
    stats = await client.get_stats()
    assert stats["handler_errors"] >= 10 and stats["state"] == "connected"
    assert client.failure is None
    await client.disconnect()


class FailingSink:
    def __init__(self, after: int) -> None:
        self.after = after
        self.writes = 0

    async def open(self) -> None:
        pass

    async def write(self, events: Sequence[Event]) -> None:
        self.writes += 1
        if self.writes > self.after:
            raise OSError(28, "No space left on device")

    async def close(self) -> None:
        pass


async def test_a_failing_sink_stops_the_stream_with_a_clear_error(sim: Simulator) -> None:
    client = WebSocketClient(fast_config(sim.url))
    sink = FailingSink(after=3)
    client.add_sink(sink)
    assert await client.connect()
    await client.subscribe("s", SubscriptionConfig(["AAPL"], ["price"]))
    await asyncio.wait_for(client.wait_stopped(), 10)
    assert client.state is ConnectionState.ERROR
    assert isinstance(client.failure, SinkError)
    assert "FailingSink" in str(client.failure) and "No space left" in str(client.failure)
    assert sink.writes == 4  # nothing more was given to it after it failed
    assert (await client.get_stats())["handler_errors"] == 0  # not counted like a handler
    await client.disconnect()


async def test_a_missing_ca_file_is_a_config_error_not_retried(unused_port: int) -> None:
    client = WebSocketClient(
        fast_config(f"wss://127.0.0.1:{unused_port}/ws", ca_file="/nonexistent/ca.pem")
    )
    assert not await client.connect()
    assert isinstance(client.failure, ConfigError) and "ca_file" in str(client.failure)


runner = CliRunner()


def test_stream_never_exits_0_after_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    break_the_decoder_after(5, monkeypatch)
    with ThreadedSim() as sim:
        result = runner.invoke(app, ["stream", "AAPL", "--url", sim.url, "--json", "--count", "50"])
    assert result.exit_code == 1, result.output
    assert "internal error" in result.stderr and "decoder bug" in result.stderr
    assert "ARGUS_DEBUG=1" in result.stderr
    assert len(result.stdout.splitlines()) < 50
