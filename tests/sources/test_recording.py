"""Recordings read back: sync and async iterators, filters, cut files, malformed
lines, pacing, and raw frames re-normalized through a provider's adapter."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from argus_cli.compressed import open_lines
from argus_cli.sources.recording import (
    ReadCounts,
    Subscription,
    aiter_recording,
    iter_raw,
    iter_recording,
    pace,
    replay,
    sidecar_path,
)

Event = dict[str, Any]


def make_events(n: int, t0: float = 1_700_000_000.0, step: float = 0.01) -> list[Event]:
    """n events over two symbols (price and volume in turn), a gap notice at n // 2."""
    events: list[Event] = []
    seqs: dict[tuple[str, str], int] = {}
    for i in range(n):
        symbol = ("AAPL", "MSFT")[i % 2]
        kind = ("price", "price", "volume", "volume")[i % 4]
        received = t0 + i * step
        if i == n // 2:
            events.append(
                {
                    "type": "gap",
                    "symbol": symbol,
                    "from_seq": 1000,
                    "to_seq": 1001,
                    "reason": "sequence_jump",
                    "sub": "cli-1",
                    "data_type": "price",
                    "source": "argus",
                    "received": received,
                }
            )
            continue
        seq = seqs[(symbol, kind)] = seqs.get((symbol, kind), 0) + 1
        event: Event = {"type": kind, "sub": f"cli-{1 + i % 2}", "symbol": symbol}
        if kind == "price":
            event.update(price=100.25 + i / 100, bid=100.0, ask=100.5)
        else:
            event.update(volume=100 + i, total_volume=1000 + i)
        event.update(timestamp=received - 0.001, seq=seq, source="argus", received=received)
        events.append(event)
    return events


def lines_of(events: list[Event]) -> bytes:
    return b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in events)


def write(path: Path, events: list[Event], extra: bytes = b"") -> Path:
    writer = open_lines(path)
    writer.write(lines_of(events) + extra)
    writer.close()
    return path


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz", "rec.jsonl.zst"])
def test_reads_back_what_was_written(tmp_path: Path, name: str) -> None:
    events = make_events(500)
    counts = ReadCounts()
    assert list(iter_recording(write(tmp_path / name, events), counts=counts)) == events
    assert counts.events == 500
    assert counts.malformed == 0


def test_several_files_in_order(tmp_path: Path) -> None:
    events = make_events(300)
    a = write(tmp_path / "a.jsonl.zst", events[:100])
    b = write(tmp_path / "b.jsonl.gz", events[100:])
    assert list(iter_recording(a, b)) == events
    assert list(iter_recording(b, a)) == events[100:] + events[:100]


def test_filters(tmp_path: Path) -> None:
    events = make_events(400)
    path = write(tmp_path / "rec.jsonl", events)
    aapl = list(iter_recording(path, symbols=["AAPL"]))
    assert aapl == [e for e in events if e["symbol"] == "AAPL"]
    assert list(iter_recording(path, symbols=["argus:MSFT"])) == [
        e for e in events if e["symbol"] == "MSFT"
    ]
    assert list(iter_recording(path, symbols=["kraken:MSFT"])) == []
    volume = list(iter_recording(path, types=["volume"]))
    assert volume == [e for e in events if e["type"] == "volume"]  # the gap is about price
    price = list(iter_recording(path, types=["price"]))
    assert [e["type"] for e in price].count("gap") == 1
    start, end = events[10]["received"], events[20]["received"]
    assert list(iter_recording(path, start=start, end=end)) == events[10:21]  # inclusive
    both = list(iter_recording(path, symbols=["AAPL"], types=["price"], start=start))
    assert both == [
        e for e in events[10:] if e["symbol"] == "AAPL" and e.get("data_type", e["type"]) == "price"
    ]


@pytest.mark.parametrize("name", ["cut.jsonl.gz", "cut.jsonl.zst", "cut.jsonl"])
def test_a_cut_file_reads_up_to_the_cut(tmp_path: Path, name: str) -> None:
    events = make_events(2000)
    path = tmp_path / name
    writer = open_lines(path)
    writer.write(lines_of(events[:1000]))
    writer.flush()
    flushed = path.stat().st_size
    writer.write(lines_of(events[1000:]))
    writer.flush()
    whole = path.read_bytes()
    writer.close()
    path.write_bytes(whole[: flushed + (len(whole) - flushed) // 2])  # killed mid-write
    got = list(iter_recording(path))
    assert len(got) >= 1000
    assert got == events[: len(got)]
    assert len(got) < 2000


def test_malformed_lines_are_skipped_counted_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events = make_events(10)
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        lines_of(events[:3])
        + b"not json\n"
        + lines_of(events[3:6])
        + b"[1, 2]\n\n"
        + b'{"no": "type"}\n'
        + lines_of(events[6:])
    )
    counts = ReadCounts()
    with caplog.at_level(logging.WARNING, logger="argus_cli.sources"):
        assert list(iter_recording(path, counts=counts)) == events
    assert counts.malformed == 3
    assert counts.events == 10
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1
    assert f"{path}:4:" in said[0]


def test_async_iterator_gives_the_same(tmp_path: Path) -> None:
    events = make_events(10_000)
    path = write(tmp_path / "rec.jsonl.zst", events)

    async def collect() -> list[Event]:
        return [e async for e in aiter_recording(path, types=["price", "volume"])]

    assert asyncio.run(collect()) == events


def test_pace_is_the_recorded_offset_scaled() -> None:
    assert pace(100.0, 100.0, 1.0, 5.0) == 5.0
    assert pace(100.0, 110.0, 10.0, 5.0) == 6.0
    assert pace(100.0, 101.0, 0.5, 5.0) == 7.0
    assert pace(100.0, 200.0, None, 5.0) == 5.0  # max: everything due at once


def test_replay_at_max_speed_gives_everything_in_batches(tmp_path: Path) -> None:
    events = make_events(9000)
    path = write(tmp_path / "rec.jsonl.gz", events)

    async def collect() -> list[list[Event]]:
        return [batch async for batch in replay([path], None)]

    batches = asyncio.run(collect())
    assert len(batches) > 1
    assert all(batches)
    assert [e for batch in batches for e in batch] == events


def test_replay_keeps_the_recorded_pacing_scaled(tmp_path: Path) -> None:
    events = make_events(41, step=0.05)  # 2 s recorded
    path = write(tmp_path / "rec.jsonl", events)

    async def collect() -> list[tuple[float, list[Event]]]:
        return [(time.monotonic(), batch) async for batch in replay([path], 10.0)]

    started = time.monotonic()
    timed = asyncio.run(collect())
    took = time.monotonic() - started
    assert [e for _, batch in timed for e in batch] == events
    assert 0.19 <= took < 1.5  # 0.2 s expected
    # each batch is out no earlier than its first event is due
    for at, batch in timed:
        due = started + (batch[0]["received"] - events[0]["received"]) / 10
        assert at >= due - 0.02


def test_replay_refuses_a_speed_of_zero(tmp_path: Path) -> None:
    async def first() -> None:
        async for _ in replay([tmp_path / "x.jsonl"], 0.0):
            pass

    with pytest.raises(ValueError, match="speed"):
        asyncio.run(first())


# --- raw ---------------------------------------------------------------------------

TICKER = (
    '{"type":"ticker","sequence":%d,"product_id":"ETH-USD","price":"%s","best_bid":"1285.04",'
    '"best_bid_size":"0.4","best_ask":"1285.27","best_ask_size":"1.5","side":"buy",'
    '"time":"2022-10-19T23:28:22.061769Z","trade_id":%d,"last_size":"11.4"}'
)
SUBS = {
    "subscriptions": [
        {"source": "coinbase", "id": "cli-1", "symbols": ["ETH-USD"], "data_types": ["price"]}
    ]
}


def frames(n: int) -> list[Event]:
    ack = '{"type":"subscriptions","channels":[{"name":"ticker","product_ids":["ETH-USD"]}]}'
    out: list[Event] = [{"received": 1000.0, "source": "coinbase", "frame": ack}]
    for i in range(n):
        frame = TICKER % (100 + i, 1285 + i, 500 + i)
        out.append({"received": 1000.5 + i, "source": "coinbase", "frame": frame})
    return out


def test_raw_frames_are_renormalized_with_the_recorded_times(tmp_path: Path) -> None:
    write(tmp_path / "cb.frames.jsonl.gz", [SUBS, *frames(5)])
    write(tmp_path / "cb.jsonl.gz", [])
    assert sidecar_path(tmp_path / "cb.jsonl.gz") == tmp_path / "cb.frames.jsonl.gz"
    got = list(iter_raw(tmp_path / "cb.jsonl.gz"))
    assert [e["price"] for e in got] == [1285.0, 1286.0, 1287.0, 1288.0, 1289.0]
    assert [e["received"] for e in got] == [1000.5, 1001.5, 1002.5, 1003.5, 1004.5]
    assert {(e["type"], e["sub"], e["source"], e["symbol"]) for e in got} == {
        ("price", "cli-1", "coinbase", "ETH-USD")
    }
    assert list(iter_raw(tmp_path / "cb.frames.jsonl.gz", start=1002.0, end=1003.5)) == got[2:4]


def test_raw_without_a_subscriptions_line_takes_them_from_the_recording(tmp_path: Path) -> None:
    normalized = [
        {"type": "price", "sub": "cli-7", "symbol": "ETH-USD", "price": 1.0, "source": "coinbase"}
    ]
    write(tmp_path / "cb.jsonl.zst", normalized)
    write(tmp_path / "cb.frames.jsonl.zst", frames(3), extra=b"garbage\n")
    counts = ReadCounts()
    got = list(iter_raw(tmp_path / "cb.jsonl.zst", counts=counts))
    assert [e["sub"] for e in got] == ["cli-7"] * 3
    assert counts.malformed == 1


def test_raw_binary_frames_and_no_sidecar(tmp_path: Path) -> None:
    import base64

    binary = [
        {
            "received": f["received"],
            "source": "coinbase",
            "frame_b64": base64.b64encode(f["frame"].encode()).decode(),
        }
        for f in frames(2)
    ]
    write(tmp_path / "b.frames.jsonl", [SUBS, *binary])
    assert len(list(iter_raw(tmp_path / "b.jsonl"))) == 2
    with pytest.raises(FileNotFoundError, match="no raw frames"):
        sidecar_path(tmp_path / "none.jsonl.zst")


@pytest.mark.parametrize(
    "sub",
    [
        Subscription("coinbase", ("BTC-USD", "ETH-USD"), ("price", "volume"), "cli-3"),
        Subscription("argus", ("AAPL",), ("orderbook",), "cli-1", "1s", {"min_price": 10.5}),
    ],
)
def test_a_subscription_reads_back_as_written(sub: Subscription) -> None:
    """The recorder writes ``to_json`` items, every key; the reader's ``from_json``
    gives the same subscription back (through JSON, as on disk)."""
    item = orjson.loads(orjson.dumps(sub.to_json()))
    assert set(item) == {"source", "id", "symbols", "data_types", "update_frequency", "filters"}
    assert Subscription.from_json(item, 9) == sub
