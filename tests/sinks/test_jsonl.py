"""JsonLinesSink: one line per event, a closed reader, a full disk, closing twice."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pytest

from argus_cli.exceptions import SinkError
from argus_cli.sinks import JsonLinesSink, OutputClosed
from tests.cli.helpers import ThreadedSim, argus_env

EVENTS: list[Any] = [
    {
        "type": "price",
        "sub": "s1",
        "symbol": "AAPL",
        "price": 189.12,
        "bid": 189.11,
        "ask": 189.13,
        "timestamp": 1764000000.123456,
        "seq": 1234,
        "source": "argus",
        "received": 1764000000.2,
    },
    {
        "type": "orderbook",
        "sub": "s1",
        "symbol": "AAPL",
        "bids": [[189.11, 500], [189.1, 1200]],
        "asks": [[189.13, 400]],
        "timestamp": 1764000000.123456,
        "seq": 1234,
        "source": "argus",
        "received": 1764000000.2,
    },
    {
        "type": "gap",
        "symbol": "AAPL",
        "from_seq": 1235,
        "to_seq": None,
        "reason": "server_restart",
        "source": "argus",
        "received": 1764000000.3,
    },
]


@pytest.fixture
def closed_pipe() -> Iterator[BinaryIO]:
    """The write end of a real pipe whose reader is gone."""
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    stream = os.fdopen(write_fd, "wb")
    yield stream
    with contextlib.suppress(OSError):
        stream.close()


async def test_one_line_per_event_each_parsing_back_equal() -> None:
    buffer = io.BytesIO()
    sink = JsonLinesSink(buffer, name="buffer")
    await sink.open()  # not a pipe: written directly
    await sink.write(EVENTS[:1])
    await sink.write(EVENTS[1:])
    await sink.close()
    data = buffer.getvalue()
    assert data.endswith(b"\n")
    lines = data.split(b"\n")[:-1]
    assert [orjson.loads(line) for line in lines] == EVENTS
    assert sink.lines == 3


async def test_to_a_pipe_whose_reader_went_away_raises_output_closed(
    closed_pipe: BinaryIO,
) -> None:
    sink = JsonLinesSink(closed_pipe, name="standard output")
    await sink.open()
    assert sink._transport is not None  # a pipe: the non-blocking transport
    with pytest.raises(OutputClosed) as caught:
        for _ in range(2):  # the EPIPE of the first write is noticed by the second at the latest
            await sink.write(EVENTS)
    assert caught.value.sink == "standard output"
    assert isinstance(caught.value, SinkError)
    await sink.close()
    await sink.close()


async def test_the_first_write_to_a_closed_pipe_already_raises(closed_pipe: BinaryIO) -> None:
    sink = JsonLinesSink(closed_pipe, name="standard output")
    await sink.open()
    try:
        with pytest.raises(OutputClosed):
            await sink.write(EVENTS)
    finally:
        await sink.close()


async def test_a_full_device_raises_sink_error_naming_the_sink_and_reason() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    stream = open("/dev/full", "wb")  # noqa: SIM115 - closed below, ignoring its own ENOSPC
    try:
        sink = JsonLinesSink(stream, name="recording.jsonl")
        await sink.open()
        assert sink._transport is None  # a character device: written directly
        with pytest.raises(SinkError) as caught:
            await sink.write(EVENTS)
        assert not isinstance(caught.value, OutputClosed)
        assert caught.value.sink == "recording.jsonl"
        assert "recording.jsonl" in str(caught.value)
        assert os.strerror(28) in str(caught.value)  # ENOSPC: No space left on device
        await sink.close()
        await sink.close()
    finally:
        with contextlib.suppress(OSError):
            stream.close()


async def test_a_live_pipe_gets_every_line_and_close_twice_is_safe() -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)  # a missing line fails the test rather than hanging it
    stream = os.fdopen(write_fd, "wb")
    try:
        sink = JsonLinesSink(stream, name="pipe")
        await sink.open()
        assert sink._transport is not None
        await sink.write(EVENTS)
        await sink.close()
        await sink.close()
        data = os.read(read_fd, 1 << 20)
        assert [orjson.loads(line) for line in data.splitlines()] == EVENTS
        assert data.endswith(b"\n")
        stream.write(b"x")  # the sink closed its duplicate descriptor, not the caller's
        stream.flush()
        assert os.read(read_fd, 10) == b"x"
    finally:
        os.close(read_fd)
        with contextlib.suppress(OSError):
            stream.close()


async def test_close_before_open_and_twice_is_safe() -> None:
    sink = JsonLinesSink(io.BytesIO())
    await sink.close()
    await sink.close()


def test_every_line_reaches_a_reader_that_starts_late(tmp_path: Path) -> None:
    """``--count`` lines all arrive when the reader is slower than argus: the lines
    still queued for the pipe at exit are handed over, not dropped with the loop."""
    count = 1000  # ~230 KB: more than the pipe holds, less than the sink buffers
    with ThreadedSim(rate=2000.0) as sim:
        args = [sys.executable, "-m", "argus_cli", "stream", "AAPL", "MSFT", "--json"]
        proc = subprocess.Popen(
            [*args, "--url", sim.url, "--count", str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=argus_env(tmp_path),
        )
        time.sleep(1.5)  # the scenario: a reader that starts after argus is done (< STALL)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == count
    assert all(orjson.loads(line)["type"] in ("price", "volume") for line in lines)
