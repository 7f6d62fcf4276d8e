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


# --- --raw: the sidecar, its subscriptions line, replay --raw -------------------------

# The sidecar's first line for `record --provider coinbase BTC-USD ETH-USD`: one
# subscription a symbol, as `stream` makes them (runtime.subscribe_all), every key.
COINBASE_HEADER = {
    "subscriptions": [
        {
            "source": "coinbase",
            "id": f"cli-{n}",
            "symbols": [symbol],
            "data_types": ["price", "volume"],
            "update_frequency": "realtime",
            "filters": None,
        }
        for n, symbol in enumerate(("BTC-USD", "ETH-USD"), 1)
    ]
}


def record_coinbase(
    env: dict[str, str], out: Path, products: tuple[str, ...], trades: int, *args: str
) -> int:
    """``argus record --raw`` of a Coinbase fake that trades ``trades`` times a product
    once subscribed, then only beats: all of it, exactly (``--count``). The number of
    data lines: a ticker and a last_match a product on subscribing, then a match and
    a ticker a trade."""
    count = len(products) * 2 * (1 + trades)
    with Threaded(FakeCoinbase(products=products, paused=True, max_trades=trades)) as fake:
        proc = _start(
            ["--provider", "coinbase", "--url", fake.url, *products, "--count", str(count),
             "--raw", "-o", str(out), *args],
            env,
        )  # fmt: skip
        try:  # the market waits for every subscription, so nothing is missed
            wait_for(lambda: bool(fake.received) and len(fake.received[0]) == len(products))
            fake.paused = False
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 0, err
    return count


def replay_raw(env: dict[str, str], *files: Path) -> list[bytes]:
    done = run_argus(["replay", *map(str, files), "--raw", "--speed", "max", "--json"], env)
    assert done.returncode == 0, done.stderr
    return done.stdout.encode().splitlines()


@pytest.fixture(scope="module")
def coinbase_raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """One ``--raw`` recording of two Coinbase products (recording, data lines)."""
    folder = tmp_path_factory.mktemp("raw")
    out = folder / "cb.jsonl.zst"
    return out, record_coinbase(argus_env(folder), out, ("BTC-USD", "ETH-USD"), 10)


def test_raw_round_trip_renormalizes_the_identical_lines(
    tmp_path: Path, coinbase_raw: tuple[Path, int]
) -> None:
    """Issue 12: `record --raw` from a provider fake, then `replay --raw --json` runs the
    frames through the Coinbase adapter again and prints the recording's lines, byte
    for byte: `received` too, which replay does not stamp anew but takes from each
    frame's recorded receive time (the time the live client stamped it with)."""
    out, count = coinbase_raw
    lines = list(read_lines(out))
    events = recorded(out)
    assert len([e for e in events if e["type"] in DATA]) == count
    assert {(e["sub"], e["symbol"]) for e in events} == {("cli-1", "BTC-USD"), ("cli-2", "ETH-USD")}
    sidecar = out.with_name("cb.frames.jsonl.zst")
    header, *frames = [json.loads(x) for x in read_lines(sidecar)]
    assert header == COINBASE_HEADER
    assert frames and all(set(f) == {"received", "source", "frame"} for f in frames)
    assert all(f["source"] == "coinbase" and isinstance(f["received"], float) for f in frames)
    assert any('"match"' in f["frame"] for f in frames)
    assert replay_raw(argus_env(tmp_path), out) == lines
    assert replay_raw(argus_env(tmp_path), sidecar) == lines


def test_the_sidecar_replays_alone(tmp_path: Path, coinbase_raw: tuple[Path, int]) -> None:
    """Without the normalized recording beside it, the subscriptions line is all that
    says what the session subscribed to: no line, no events."""
    out, _ = coinbase_raw
    alone = tmp_path / "cb.frames.jsonl.zst"
    alone.write_bytes(out.with_name("cb.frames.jsonl.zst").read_bytes())
    assert replay_raw(argus_env(tmp_path), alone) == list(read_lines(out))


def test_every_rotated_sidecar_starts_with_the_subscriptions(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    count = record_coinbase(env, tmp_path / "rot.jsonl.gz", ("BTC-USD",), 40, "--rotate", "4KB")

    def order(p: Path) -> tuple[str, int]:
        parts = p.name.split(".")[0].split("-")
        return (parts[1], int(parts[2]) if len(parts) > 2 else 1)

    files = sorted(tmp_path.glob("rot-*.gz"), key=order)
    mains = [f for f in files if ".frames." not in f.name]
    sidecars = [f for f in files if ".frames." in f.name]
    assert len(mains) >= 3 and [f.name.replace(".frames", "") for f in sidecars] == [
        f.name for f in mains
    ]
    header = {"subscriptions": COINBASE_HEADER["subscriptions"][:1]}
    for sidecar in sidecars:
        assert json.loads(next(iter(read_lines(sidecar)))) == header, sidecar
    lines = [line for main in mains for line in read_lines(main)]
    assert len(lines) == count
    (tmp_path / "alone").mkdir()
    alone = [tmp_path / "alone" / sidecar.name for sidecar in sidecars]
    for sidecar, moved in zip(sidecars, alone, strict=True):  # no normalized file beside
        sidecar.rename(moved)
    # replay --raw re-runs each file with a fresh session, as if it were the only one
    assert replay_raw(env, *alone) == lines


def test_a_reconnect_writes_the_subscriptions_again(tmp_path: Path) -> None:
    """The connection is dropped after 10 data messages: the sidecar names the restored
    subscription again just before the new connection's first frame, and the replay
    gives the recording's lines, its gap lines included (every 5th match is never
    sent, so there are gaps however quickly the client comes back)."""
    env = argus_env(tmp_path)
    out = tmp_path / "re.jsonl"
    dropped = {"BTC-USD": range(1000, 9000, 5)}
    with Threaded(FakeCoinbase(products=("BTC-USD",), abort_after=10, drop_trades=dropped)) as fake:
        args = ["--provider", "coinbase", "--url", fake.url, "BTC-USD", "--count", "30"]
        done = run_argus(["record", *args, "--raw", "-o", str(out)], env)
        assert fake.connections == 2
    assert done.returncode == 0, done.stderr
    lines = list(read_lines(out))
    assert any(json.loads(x)["type"] == "gap" for x in lines)
    items = [json.loads(x) for x in read_lines(tmp_path / "re.frames.jsonl")]
    header = {"subscriptions": COINBASE_HEADER["subscriptions"][:1]}
    heads = [n for n, item in enumerate(items) if "subscriptions" in item]
    acks = [n for n, item in enumerate(items) if '"type":"subscriptions"' in item.get("frame", "")]
    assert heads == [0, acks[1] - 1] and len(acks) == 2
    assert all(items[n] == header for n in heads)
    replayed = replay_raw(env, out)
    # frames read after the 30th message (before the connection closed) may add lines
    assert replayed[: len(lines)] == lines
    last = json.loads(lines[-1])["received"]
    assert all(json.loads(x)["received"] >= last for x in replayed[len(lines) :])


def test_raw_round_trip_from_the_simulator_across_resets(tmp_path: Path) -> None:
    """The argus protocol, its connection reset every 250 ms (the client resumes): the
    subscriptions line comes again right before each new connection's welcome, the
    protocol's own messages (welcome, subscribed) are not events, and replay --raw
    prints the recording's lines."""
    env = argus_env(tmp_path)
    out = tmp_path / "sim.jsonl"
    with ThreadedSim(rate=300.0, chaos="reset=250ms") as sim:
        args = ["AAPL", "MSFT", "--url", sim.url, "--count", "600", "--raw", "-o", str(out)]
        done = run_argus(["record", *args], env)
    assert done.returncode == 0, done.stderr
    items = [json.loads(x) for x in read_lines(tmp_path / "sim.frames.jsonl")]
    heads = [n for n, item in enumerate(items) if "subscriptions" in item]
    assert heads[0] == 0 and len(heads) >= 2, heads
    welcomes = [n for n, item in enumerate(items) if '"type":"welcome"' in item.get("frame", "")]
    assert [n - 1 for n in welcomes[1:]] == heads[1:]
    assert all([s["id"] for s in items[n]["subscriptions"]] == ["cli-1", "cli-2"] for n in heads)
    lines = list(read_lines(out))
    replayed = replay_raw(env, tmp_path / "sim.frames.jsonl")
    assert replayed[: len(lines)] == lines
    last = json.loads(lines[-1])["received"]
    assert all(json.loads(x)["received"] >= last for x in replayed[len(lines) :])


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
