"""The real command in subprocesses: serve, stream, stats, pipes, signals and exit codes."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from argus_cli.testing.lines import parse_lines
from argus_cli.testing.procinfo import rss_kib
from tests.cli.helpers import ARGUS, ThreadedSim, argus_env, argus_serve, run_argus, wait_for


def test_serve_then_stream_json(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    with argus_serve(env) as (_, url):
        result = run_argus(["stream", "AAPL", "GOOGL", "--url", url, "--count", "20"], env)
    assert result.returncode == 0, result.stderr
    lines = parse_lines(result.stdout)
    assert len(lines) == 20
    assert {m["symbol"] for m in lines} <= {"AAPL", "GOOGL"}
    assert result.stderr == ""


def test_serve_stops_cleanly_on_sigint_with_1001(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    with argus_serve(env) as (proc, url):
        stream = subprocess.Popen(
            [*ARGUS, "stream", "AAPL", "--url", url, "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert stream.stdout is not None
        json.loads(stream.stdout.readline())
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        stream.send_signal(signal.SIGINT)
        _, err = stream.communicate(timeout=10)
    assert "code 1001" in err  # the stream saw the server go away, said so, kept trying
    assert "Traceback" not in err


def test_pipe_to_head_exits_at_once(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    started = time.monotonic()
    result = subprocess.run(
        f"{sys.executable} -m argus_cli stream --demo AAPL | head -n 3; "
        'echo "status=${PIPESTATUS[0]}"',
        shell=True,
        executable="/bin/bash",
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    elapsed = time.monotonic() - started
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and lines[-1] == "status=0"
    assert all(json.loads(line)["symbol"] == "AAPL" for line in lines[:3])
    assert result.stderr == ""
    assert elapsed < 10


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_close_with_1000_and_exit_quietly(
    tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    env = argus_env(tmp_path)
    with ThreadedSim() as sim:
        proc = subprocess.Popen(
            [*ARGUS, "stream", "AAPL", "--url", sim.url],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        json.loads(proc.stdout.readline())
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == code
        assert err == ""
        wait_for(lambda: sim.client_closes.get(1000, 0) == 1)


def test_exit_4_when_the_key_is_refused(tmp_path: Path) -> None:
    env = argus_env(tmp_path, ARGUS_SERVER_API_KEY="server-key", ARGUS_API_KEY="wrong-key-77")
    with argus_serve(env) as (_, url):
        result = run_argus(["stream", "AAPL", "--url", url, "--count", "1"], env)
        assert result.returncode == 4
        assert "refused the API key" in result.stderr and "wrong-key-77" not in result.stderr
        missing = run_argus(
            ["stream", "AAPL", "--url", url, "--count", "1"],
            {k: v for k, v in env.items() if k != "ARGUS_API_KEY"},
        )
        assert missing.returncode == 4 and "requires an API key" in missing.stderr
        ok = run_argus(
            ["stream", "AAPL", "--url", url, "--count", "1"], {**env, "ARGUS_API_KEY": "server-key"}
        )
        assert ok.returncode == 0 and "server-key" not in ok.stdout + ok.stderr


def test_exit_5_when_nothing_listens(tmp_path: Path, unused_port: int) -> None:
    env = argus_env(tmp_path, ARGUS_RECONNECT_DELAY="0.05")
    result = run_argus(["stream", "AAPL", "--url", f"ws://127.0.0.1:{unused_port}/ws"], env)
    assert result.returncode == 5
    assert "gave up" in result.stderr and "3 consecutive failed attempts" in result.stderr
    assert result.stderr.count("gave up") == 1 and "Traceback" not in result.stderr


def test_exit_1_and_2_and_3(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    assert run_argus(["stream", "--demo", "XYZQ", "--count", "1"], env).returncode == 1
    assert run_argus(["stream", "AAPL", "--types", "nope"], env).returncode == 2
    bad = tmp_path / "broken.yaml"
    bad.write_text("connection: [\n")
    result = run_argus(["stream", "AAPL", "--config", str(bad)], env)
    assert result.returncode == 3 and str(bad) in result.stderr


def test_refuses_to_send_a_key_in_clear_text_to_a_remote_host(tmp_path: Path) -> None:
    env = argus_env(tmp_path, ARGUS_API_KEY="k-secret-1")
    result = run_argus(["stream", "AAPL", "--url", "ws://192.0.2.1:8000/ws", "--count", "1"], env)
    assert result.returncode == 3
    assert "clear text" in result.stderr and "k-secret-1" not in result.stderr


def test_stats_sees_a_running_stream(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    with ThreadedSim() as sim:
        proc = subprocess.Popen(
            [*ARGUS, "stream", "AAPL", "MSFT", "--url", sim.url, "--json"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        state_file = tmp_path / "run" / "argus" / f"stream-{proc.pid}.json"
        try:
            wait_for(state_file.exists)
            assert state_file.stat().st_mode & 0o777 == 0o600
            result = run_argus(["stats", "--json"], env)
            assert result.returncode == 0, result.stderr
            streams = json.loads(result.stdout)
            assert len(streams) == 1
            stream = streams[0]
            assert stream["pid"] == proc.pid and stream["symbols"] == ["AAPL", "MSFT"]
            for key in ("messages_received", "reconnect_count", "state", "uptime", "url"):
                assert key in stream
            table = run_argus(["stats"], env)
            assert str(proc.pid) in table.stdout and "AAPL" in table.stdout
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(10)
        assert not state_file.exists()


def test_stats_ignores_and_removes_dead_streams(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    folder = tmp_path / "run" / "argus"
    folder.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    ghost = folder / f"stream-{dead.pid}.json"
    ghost.write_text(json.dumps({"pid": dead.pid}))
    result = run_argus(["stats", "--json"], env)
    assert json.loads(result.stdout) == [] and not ghost.exists()


def _run_on_pty(args: list[str], env: dict[str, str], ready: Any) -> tuple[str, int]:
    """Run argus on a pseudo-terminal until ``ready(text)``, then Ctrl-C; (screen, exit code)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: argus on the pty
        os.execvpe(ARGUS[0], [*ARGUS, *args], env)
    screen = b""
    deadline = time.monotonic() + 15
    try:
        while time.monotonic() < deadline:
            readable, _, _ = select.select([fd], [], [], 0.2)
            if readable:
                try:
                    screen += os.read(fd, 65536)
                except OSError:
                    break
            if ready(screen.decode(errors="replace")):
                break
        os.kill(pid, signal.SIGINT)
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return screen.decode(errors="replace"), os.waitstatus_to_exitcode(status)


def test_live_table_on_a_real_terminal(tmp_path: Path) -> None:
    env = argus_env(tmp_path, COLUMNS="150", LINES="30", TERM="xterm-256color")
    with ThreadedSim() as sim:
        text, code = _run_on_pty(
            ["stream", "AAPL", "GOOGL", "--url", sim.url],
            env,
            lambda t: "connected" in t and "GOOGL" in t and t.count("AAPL") >= 2,
        )
        plain, plain_code = _run_on_pty(
            ["stream", "AAPL", "--url", sim.url, "--no-color"],
            env,
            lambda t: "connected" in t and t.count("AAPL") >= 2,
        )
    for expected in ("Symbol", "Last", "Bid", "Ask", "AAPL", "GOOGL", "connected", "latency"):
        assert expected in text, expected
    assert "Traceback" not in text and code == 130
    assert "\x1b[32m" in text or "\x1b[31m" in text or "\x1b[1;32m" in text  # colours on
    assert "AAPL" in plain and plain_code == 130
    assert not re.search(r"\x1b\[[0-9;]*3[0-7]m", plain)  # no colours with --no-color


def test_stats_watch_keeps_the_table_live(tmp_path: Path) -> None:
    env = argus_env(tmp_path, COLUMNS="150", LINES="30", TERM="xterm-256color")
    with ThreadedSim() as sim:
        stream = subprocess.Popen(
            [*ARGUS, "stream", "AAPL", "--url", sim.url, "--json"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_for((tmp_path / "run" / "argus" / f"stream-{stream.pid}.json").exists)
            text, code = _run_on_pty(
                ["stats", "--watch"], env, lambda t: t.count(str(stream.pid)) >= 2
            )
        finally:
            stream.send_signal(signal.SIGINT)
            stream.wait(10)
    assert text.count(str(stream.pid)) >= 2  # repainted
    assert "connected" in text and code == 0


def test_stdout_nobody_reads_never_freezes_or_grows(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    with ThreadedSim(rate=2000, symbols=["AAPL", "MSFT"]) as sim:
        proc = subprocess.Popen(
            [
                *ARGUS,
                "stream",
                "AAPL",
                "MSFT",
                "--url",
                sim.url,
                "--types",
                "price,volume,orderbook",
            ],
            env=env,
            stdout=subprocess.PIPE,  # never read: the pipe fills within milliseconds
            stderr=subprocess.PIPE,
        )
        try:
            state_file = tmp_path / "run" / "argus" / f"stream-{proc.pid}.json"
            wait_for(state_file.exists)

            def paused() -> bool:  # the pipe and the queue are full: reading paused
                return bool(json.loads(state_file.read_text()).get("backpressure_pauses"))

            wait_for(paused, 20)
            first = rss_kib(proc.pid)
            time.sleep(2.0)  # a window to watch memory in (observing, not syncing)
            second = rss_kib(proc.pid)
            # the event loop still runs: stats keep being published
            stats = json.loads(state_file.read_text())
            assert stats["queue_depth"] <= stats["queue_capacity"] + 1000
            assert stats["backpressure_pauses"] >= 1
            assert second - first < 20 * 1024, (first, second)
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
            assert proc.returncode == 143
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_serve_warns_when_open_to_the_network_without_a_key(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    with argus_serve(env, "--host", "0.0.0.0") as (proc, url):
        assert url.startswith("ws://0.0.0.0:")
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        assert proc.stderr is not None
        err = proc.stderr.read()
    assert "without an API key" in err and proc.returncode == 0
