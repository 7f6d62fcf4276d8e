"""``argus record``, the real command against the simulator and a Coinbase fake:
the lines ``stream --json`` prints, crash safety (SIGKILL, a file-size limit,
SIGTERM), ``--raw`` and ``--rotate``."""

from __future__ import annotations

import gzip
import json
import resource
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from argus_cli.compressed import read_lines
from argus_cli.testing.fakes.coinbase import FakeCoinbase
from argus_cli.testing.lines import parse_lines
from tests.cli.helpers import ARGUS, Threaded, ThreadedSim, argus_env, run_argus, wait_for

DATA = {"price", "volume", "orderbook"}


def recorded(path: Path | str) -> list[dict[str, Any]]:
    """Every line of the recording, each held to the event contract."""
    return parse_lines("".join(line.decode() + "\n" for line in read_lines(path)))


def contiguous(events: list[dict[str, Any]]) -> None:
    last: dict[tuple[str, str], int] = {}
    for e in events:
        if e["type"] in DATA and "seq" in e:
            key = (e["symbol"], e["type"])
            if key in last:
                assert e["seq"] == last[key] + 1, (key, last[key], e["seq"])
            last[key] = e["seq"]


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz", "r.jsonl.zst"])
def test_record_count_is_stream_json_count(tmp_path: Path, name: str) -> None:
    env = argus_env(tmp_path)
    out = tmp_path / name
    with ThreadedSim(rate=200.0) as sim:
        done = run_argus(
            ["record", "AAPL", "MSFT", "--url", sim.url, "--count", "150", "-o", str(out)], env
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""  # no progress line off a terminal
    events = recorded(out)
    assert len([e for e in events if e["type"] in DATA]) == 150
    assert {e["symbol"] for e in events} == {"AAPL", "MSFT"}
    contiguous(events)
    if name.endswith(".gz"):
        gzip.decompress(out.read_bytes())  # a complete gzip file, trailer and all


def _start(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*ARGUS, "record", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.mark.parametrize("name", ["k.jsonl", "k.jsonl.gz", "k.jsonl.zst"])
def test_sigkill_leaves_whole_lines_up_to_the_last_flush(tmp_path: Path, name: str) -> None:
    env = argus_env(tmp_path)
    out = tmp_path / name
    with ThreadedSim(rate=500.0) as sim:
        proc = _start(["AAPL", "MSFT", "--url", sim.url, "-o", str(out)], env)
        try:
            wait_for(lambda: out.exists() and any(True for _ in read_lines(out)), 20)
            first = len(list(read_lines(out)))
            wait_for(lambda: len(list(read_lines(out))) > first, 10)  # a second flush
        finally:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    events = recorded(out)
    assert len(events) > first
    contiguous(events)


@pytest.mark.parametrize("name", ["f.jsonl", "f.jsonl.zst"])
def test_a_file_size_limit_is_a_clean_exit_1_with_earlier_data_intact(
    tmp_path: Path, name: str
) -> None:
    env = argus_env(tmp_path)
    out = tmp_path / name
    # zstd packs these lines ~10x: a smaller limit fills as soon as the plain one
    limit = 20_000 if name.endswith(".zst") else 200_000

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    with ThreadedSim(rate=300.0) as sim:
        proc = _start(
            ["AAPL", "MSFT", "--url", sim.url, "-o", str(out)], env, preexec_fn=small_files
        )
        _, err = proc.communicate(timeout=50)
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "File too large" in lines[0] and str(out) in lines[0], err
    events = recorded(out)
    assert events
    contiguous(events)
    if name.endswith(".jsonl"):  # cut back to its last flush: ends with a whole line
        assert out.read_bytes().endswith(b"\n")


def test_sigterm_closes_the_file_properly(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    out = tmp_path / "t.jsonl.gz"
    with ThreadedSim(rate=200.0) as sim:
        proc = _start(["AAPL", "--url", sim.url, "-o", str(out)], env)
        wait_for(lambda: out.exists() and any(True for _ in read_lines(out)), 20)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 143, err
    text = gzip.decompress(out.read_bytes()).decode()  # complete: trailer written
    assert parse_lines(text)


def test_rotation_by_size_holds_every_line(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    out = tmp_path / "rot.jsonl"
    with ThreadedSim(rate=500.0) as sim:
        args = ["AAPL", "--url", sim.url, "--count", "400", "--rotate", "20KB", "-o", str(out)]
        done = run_argus(["record", *args], env)
    assert done.returncode == 0, done.stderr
    files = sorted(tmp_path.glob("rot-*.jsonl"))
    assert len(files) >= 3, files
    assert not out.exists()

    # name order is start order: the same second gets -2, -3, ...
    def order(p: Path) -> tuple[str, int]:
        stem = p.name.removesuffix(".jsonl")
        parts = stem.split("-")
        return (parts[1], int(parts[2]) if len(parts) > 2 else 1)

    events = [e for f in sorted(files, key=order) for e in recorded(f)]
    assert len([e for e in events if e["type"] in DATA]) == 400
    contiguous(events)
    assert all(f.stat().st_size <= 20_000 for f in files)


def test_raw_keeps_the_coinbase_frames(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    out = tmp_path / "cb.jsonl.zst"
    with Threaded(FakeCoinbase(products=("BTC-USD",))) as fake:
        args = ["--provider", "coinbase", "--url", fake.url, "BTC-USD", "--count", "40"]
        done = run_argus(["record", *args, "--raw", "-o", str(out)], env)
    assert done.returncode == 0, done.stderr
    events = recorded(out)
    assert len([e for e in events if e["type"] in DATA]) == 40
    assert {e["source"] for e in events} == {"coinbase"}
    frames = [json.loads(x) for x in read_lines(tmp_path / "cb.frames.jsonl.zst")]
    assert frames and {f["source"] for f in frames} == {"coinbase"}
    assert all(isinstance(f["received"], float) and isinstance(f["frame"], str) for f in frames)
    assert any('"ticker"' in f["frame"] or '"match"' in f["frame"] for f in frames)


def test_bad_rotate_and_missing_directory(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    done = run_argus(["record", "AAPL", "-o", "x.jsonl", "--rotate", "soon"], env)
    assert done.returncode == 2 and "--rotate" in done.stderr
    with ThreadedSim() as sim:
        out = tmp_path / "no" / "x.jsonl"
        done = run_argus(["record", "AAPL", "--url", sim.url, "-o", str(out)], env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"argus: cannot create {out}: No such file or directory"
    ]


def test_round_trip_record_replay_and_serve_replay(tmp_path: Path) -> None:
    """Issue 12: record from the simulator, then `replay --json` prints the identical
    lines, and `serve --replay` feeds `stream` the recorded prices with contiguous seq."""
    env = argus_env(tmp_path)
    out = tmp_path / "trip.jsonl.zst"
    with ThreadedSim(rate=400.0) as sim:
        made = run_argus(["record", "AAPL", "MSFT", "--url", sim.url, "-o", str(out),
                          "--count", "200"], env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    lines = list(read_lines(out))
    played = run_argus(["replay", str(out), "--speed", "max", "--json"], env)
    assert played.returncode == 0, played.stderr
    assert played.stdout.encode().splitlines() == lines  # byte for byte
    serve = subprocess.Popen(
        [*ARGUS, "serve", "--port", "0", "--replay", str(out), "--speed", "max"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert serve.stdout is not None
        url = serve.stdout.readline().strip()
        assert url.startswith("ws://"), url
        streamed = run_argus(["stream", "AAPL", "MSFT", "--url", url, "--json",
                              "--types", "price", "--count", "40"], env)  # fmt: skip
    finally:
        serve.terminate()
        serve.wait(10)
    assert streamed.returncode == 0, streamed.stderr
    events = parse_lines(streamed.stdout)
    recorded_prices = {
        (e["symbol"], e["price"]) for e in map(json.loads, lines) if e["type"] == "price"
    }
    assert {(e["symbol"], e["price"]) for e in events} <= recorded_prices
    for symbol in ("AAPL", "MSFT"):
        seqs = [e["seq"] for e in events if e["symbol"] == symbol]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # contiguous
