"""``argus replay`` and ``argus info`` over recordings written here (real subprocesses)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import orjson
import pytest

from argus_cli.compressed import open_lines
from argus_cli.sources.recording import iter_raw
from tests.cli.helpers import argus_env, run_argus
from tests.sources.test_recording import SUBS, frames, lines_of, make_events, write


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return argus_env(tmp_path)


def test_replay_max_json_prints_the_recorded_lines(tmp_path: Path, env: dict[str, str]) -> None:
    events = make_events(3000)
    a = write(tmp_path / "a.jsonl.zst", events[:1000])
    b = write(tmp_path / "b.jsonl.gz", events[1000:])
    result = run_argus(["replay", str(a), str(b), "--speed", "max", "--json"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.encode() == lines_of(events)  # byte-identical, gap line kept
    assert result.stderr == ""


def test_replay_filters_by_symbol_type_and_time(tmp_path: Path, env: dict[str, str]) -> None:
    events = make_events(400)
    path = write(tmp_path / "rec.jsonl", events)
    start, end = events[100]["received"], events[300]["received"]
    iso = dt.datetime.fromtimestamp(start - 0.001, dt.UTC).isoformat().replace("+00:00", "Z")
    result = run_argus(
        [
            "replay",
            str(path),
            "msft",
            "--types",
            "price",
            "--from",
            iso,
            "--to",
            repr(end),
            "--speed",
            "max",
            "--json",
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    want = [
        e
        for e in events[100:301]
        if e["symbol"] == "MSFT" and e.get("data_type", e["type"]) == "price"
    ]
    assert result.stdout.encode() == lines_of(want)


def test_a_cut_recording_replays_up_to_the_cut(tmp_path: Path, env: dict[str, str]) -> None:
    events = make_events(1000)
    path = tmp_path / "cut.jsonl.zst"
    writer = open_lines(path)
    writer.write(lines_of(events[:600]))
    writer.flush()
    size = path.stat().st_size
    writer.write(lines_of(events[600:]))
    writer.flush()
    whole = path.read_bytes()
    writer.close()
    path.write_bytes(whole[: size + 20])
    result = run_argus(["replay", str(path), "--speed", "max", "--json"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.encode() == lines_of(events[:600])


def test_replay_count_and_table(tmp_path: Path, env: dict[str, str]) -> None:
    events = make_events(100)
    path = write(tmp_path / "rec.jsonl.gz", events)
    result = run_argus(["replay", str(path), "--speed", "max", "--json", "--count", "5"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.encode() == lines_of(events[:5])
    table = run_argus(["replay", str(path), "--speed", "max", "--format", "table"], env)
    assert table.returncode == 0, table.stderr
    assert "AAPL" in table.stdout and "MSFT" in table.stdout and "replay max" in table.stdout


def test_replay_paces_by_received_time(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path / "rec.jsonl", make_events(31, step=0.1))  # 3 s recorded
    started = time.monotonic()
    result = run_argus(["replay", str(path), "--speed", "10", "--json"], env)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 31
    assert 0.3 <= took < 2.9  # 0.3 s of pacing plus start-up, well under the recorded 3 s


def test_replay_raw_renormalizes_through_the_adapter(tmp_path: Path, env: dict[str, str]) -> None:
    write(tmp_path / "cb.jsonl.gz", [])
    write(tmp_path / "cb.frames.jsonl.gz", [SUBS, *frames(4)])
    result = run_argus(
        ["replay", str(tmp_path / "cb.jsonl.gz"), "--raw", "--speed", "max", "--json"], env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.encode() == lines_of(list(iter_raw(tmp_path / "cb.jsonl.gz")))
    assert len(result.stdout.splitlines()) == 4


def test_info_json_counts_exactly(tmp_path: Path, env: dict[str, str]) -> None:
    events = make_events(1001)
    path = write(tmp_path / "rec.jsonl.zst", events, extra=b"junk\n")
    result = run_argus(["info", str(path), "--json"], env)
    assert result.returncode == 0, result.stderr
    info = orjson.loads(result.stdout)
    assert info["messages"] == 1001
    assert info["data_messages"] == 1000
    assert info["malformed_lines"] == 1
    assert info["gaps"] == 1
    assert info["types"] == {"gap": 1, "price": 500, "volume": 500}
    assert info["start"] == events[0]["received"]
    assert info["end"] == events[-1]["received"]
    by_symbol = {s["symbol"]: s for s in info["symbols"]}
    assert set(by_symbol) == {"AAPL", "MSFT"}
    aapl = by_symbol["AAPL"]
    assert aapl["messages"] == sum(
        1 for e in events if e["symbol"] == "AAPL" and e["type"] != "gap"
    )
    assert aapl["seq"]["price"] == {"first": 1, "last": aapl["types"]["price"]}
    assert by_symbol["MSFT"]["gaps"] + aapl["gaps"] == 1
    table = run_argus(["info", str(path)], env)
    assert table.returncode == 0, table.stderr
    assert "AAPL" in table.stdout and "MSFT" in table.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["missing.jsonl.zst"], "no such file"),
        (["{rec}", "--from", "yesterday"], "not a time"),
        (["{rec}", "--speed", "fast"], "not a speed"),
        (["{rec}", "--raw"], "no raw frames"),
        (["{rec}", "--json", "--format", "table"], "--json"),
    ],
)
def test_replay_usage_errors(
    tmp_path: Path, env: dict[str, str], args: list[str], says: str
) -> None:
    rec = write(tmp_path / "rec.jsonl", make_events(3))
    result = run_argus(["replay", *(a.format(rec=rec) for a in args)], env)
    assert result.returncode == 2
    assert says in result.stderr
