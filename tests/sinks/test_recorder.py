"""Recorder: the JSON lines stream prints, compressed by name, flushed by a timer,
rotated by size or time, the raw sidecar, and write errors as one-line SinkErrors."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from argus_cli.compressed import read_lines
from argus_cli.exceptions import SinkError
from argus_cli.sinks.recorder import Recorder, rotated_name, sidecar_name, split_name


def event(seq: int, symbol: str = "AAPL") -> Any:
    return {
        "type": "price",
        "sub": "s1",
        "symbol": symbol,
        "price": 100.0 + seq,
        "bid": 99.0,
        "ask": 101.0,
        "timestamp": 1764000000.0 + seq,
        "seq": seq,
        "source": "argus",
        "received": 1764000000.5 + seq,
    }


def test_names() -> None:
    assert split_name("a/out.jsonl.zst") == ("a/out", ".jsonl.zst")
    assert split_name("out.gz") == ("out", ".gz")
    assert split_name("out") == ("out", "")
    assert split_name("out.jsonl") == ("out", ".jsonl")
    assert sidecar_name("d/out.jsonl.zst") == "d/out.frames.jsonl.zst"
    assert sidecar_name("out.jsonl") == "out.frames.jsonl"
    assert rotated_name("d/x.jsonl.gz", 1795965180.0) == "d/x-20261129T151300Z.jsonl.gz"


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz", "r.jsonl.zst"])
async def test_lines_are_what_stream_prints(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    recorder = Recorder(path)
    await recorder.open()
    events = [event(i) for i in range(1, 101)]
    for i in range(0, 100, 10):
        await recorder.write(events[i : i + 10])
    await recorder.close()
    await recorder.close()  # twice is fine
    expected = [orjson.dumps(e) for e in events]
    assert list(read_lines(path)) == expected
    assert recorder.messages == 100
    assert recorder.bytes == sum(len(x) + 1 for x in expected)
    assert recorder.files == [str(path)]


@pytest.mark.parametrize("name", ["t.jsonl", "t.jsonl.gz", "t.jsonl.zst"])
async def test_the_timer_flushes_without_close(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    recorder = Recorder(path, flush_interval=0.1)
    await recorder.open()
    await recorder.write([event(1), event(2)])
    for _ in range(50):
        await asyncio.sleep(0.05)
        if len(list(read_lines(path))) == 2:
            break
    assert [json.loads(x)["seq"] for x in read_lines(path)] == [1, 2]
    await recorder.close()


async def test_rotation_by_size_never_splits_a_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl.zst"
    recorder = Recorder(path, rotate_bytes=2000)
    await recorder.open()
    for i in range(1, 201):
        await recorder.write([event(i)])
        if i % 50 == 0:
            await asyncio.sleep(0.01)  # several batches
    await recorder.close()
    files = recorder.files
    assert len(files) > 5
    assert all(Path(f).name.startswith("s-") and f.endswith(".jsonl.zst") for f in files)
    seqs = [json.loads(x)["seq"] for f in files for x in read_lines(f)]
    assert seqs == list(range(1, 201))
    for f in files:
        assert sum(len(x) + 1 for x in read_lines(f)) <= 2000


async def test_rotation_by_time(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "t.jsonl", rotate_seconds=0.2, flush_interval=0.05)
    await recorder.open()
    for i in range(1, 4):
        await recorder.write([event(i)])
        await asyncio.sleep(0.3)
    await recorder.close()
    assert len(recorder.files) == 3
    assert len(set(recorder.files)) == 3  # same second: -2, -3
    seqs = [json.loads(x)["seq"] for f in recorder.files for x in read_lines(f)]
    assert seqs == [1, 2, 3]


async def test_raw_frames_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "raw.jsonl.gz"
    recorder = Recorder(path, raw=True)
    await recorder.open()
    recorder.keep_frame("coinbase", '{"type":"ticker"}', 1.5)
    recorder.keep_frame("coinbase", b"\x00\x01", 2.5)
    recorder.keep_frame("coinbase", "bad \udc80", 3.5)
    await recorder.write([event(1)])
    await recorder.close()
    frames = [json.loads(x) for x in read_lines(sidecar_name(path))]
    assert frames[0] == {"received": 1.5, "source": "coinbase", "frame": '{"type":"ticker"}'}
    assert base64.b64decode(frames[1]["frame_b64"]) == b"\x00\x01"
    assert frames[1]["received"] == 2.5
    assert base64.b64decode(frames[2]["frame_b64"]) == "bad \udc80".encode("utf-8", "surrogatepass")
    assert recorder.frames == 3


async def test_a_missing_directory_fails_at_open(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "nope" / "x.jsonl")
    with pytest.raises(SinkError, match=r"cannot create .*No such file or directory"):
        await recorder.open()


async def test_a_removed_file_stops_with_one_line(tmp_path: Path) -> None:
    errors: list[SinkError] = []
    path = tmp_path / "gone.jsonl"
    recorder = Recorder(path, flush_interval=0.05, on_error=errors.append)
    await recorder.open()
    await recorder.write([event(1)])
    os.unlink(path)
    for _ in range(100):
        await asyncio.sleep(0.02)
        if errors:
            break
    assert errors and "was removed" in str(errors[0]) and "\n" not in str(errors[0])
    with pytest.raises(SinkError):
        await recorder.write([event(2)])
    await recorder.close()  # already told: no second raise


async def test_a_write_error_raises_at_write_or_close(tmp_path: Path) -> None:
    """/dev/full: ENOSPC on every write."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    recorder = Recorder("/dev/full", flush_interval=0.05)
    recorder._files.check_there = lambda: None  # type: ignore[method-assign]
    await recorder.open()
    await recorder.write([event(1)])
    with pytest.raises(SinkError, match="No space left on device"):
        for i in range(100):
            await asyncio.sleep(0.02)
            await recorder.write([event(i)])
    await recorder.close()


async def test_backpressure_waits_for_the_writer(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "b.jsonl.zst", high_water=1000)
    await recorder.open()
    for i in range(2000):
        await recorder.write([event(i)])
        assert recorder.queued <= 1000 + 400
    await recorder.close()
    assert sum(1 for _ in read_lines(tmp_path / "b.jsonl.zst")) == 2000
