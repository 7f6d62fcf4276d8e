"""The command line under a broken server or broken output: bounded, one clear line, the
documented exit code (real processes and sockets)."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from argus_cli.cli.app import app
from argus_cli.testing.hostile import HostileServer
from tests.cli.helpers import ARGUS, ThreadedSim, argus_env

runner = CliRunner()


@contextmanager
def hostile(**options: object) -> Iterator[HostileServer]:
    """A HostileServer on its own loop in a thread (for CliRunner and subprocess tests)."""
    server = HostileServer(**options)  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.__aexit__(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_duration_bounds_connecting_to_an_unreachable_host(
    unused_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARGUS_MAX_RECONNECT_ATTEMPTS", "50")
    started = time.monotonic()
    url = f"ws://127.0.0.1:{unused_port}/ws"
    result = runner.invoke(app, ["stream", "AAPL", "--url", url, "--duration", "1", "--json"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 5, result.output
    assert "no connection to" in result.stderr and "within --duration 1s" in result.stderr
    assert elapsed < 8  # 50 attempts with backoff would take minutes


def test_duration_bounds_a_subscribe_nobody_answers() -> None:
    with hostile(answer_subscribe=False) as server:
        started = time.monotonic()
        result = runner.invoke(
            app, ["stream", "AAPL", "--url", server.url, "--duration", "0.5", "--json"]
        )
        elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert elapsed < 5  # the reply timeout alone is 10 s


def test_a_full_disk_on_stdout_is_one_line_and_exit_1(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [*ARGUS, "stream", "--demo", "AAPL", "--json", "--count", "5"],
            env=argus_env(tmp_path),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "argus: cannot write to standard output: No space left on device"
    ]


def test_a_closed_stdout_is_one_line_and_exit_1(tmp_path: Path) -> None:
    command = " ".join([*ARGUS, "stream", "--demo", "AAPL", "--json", "--count", "5"])
    result = subprocess.run(
        ["sh", "-c", f"exec {command} >&-"],
        env=argus_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "argus: cannot write to standard output: it is closed"
    ]


@pytest.mark.parametrize("run", range(3))  # the old failure came at random: try it a few times
def test_a_server_that_accepts_then_drops_is_retried_then_exit_5(
    run: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARGUS_MAX_RECONNECT_ATTEMPTS", "3")
    monkeypatch.setenv("ARGUS_RECONNECT_DELAY", "0.05")
    with ThreadedSim(chaos="accept-close", seed=run) as sim:
        result = runner.invoke(app, ["stream", "AAPL", "--url", sim.url, "--json"])
    assert result.exit_code == 5, result.output
    assert "gave up on" in result.stderr and "3 consecutive failed attempts" in result.stderr


def test_prices_at_the_limits_of_a_double_do_not_kill_the_table() -> None:
    from argus_cli.testing.hostile import price

    script = [price("AAPL", i, price=p) for i, p in enumerate([1.7e308, -1.7e308, 5.0], 1)]
    with hostile(script=script) as server:
        result = runner.invoke(
            app,
            ["stream", "AAPL", "--url", server.url, "--format", "table", "--duration", "1"],
        )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "cannot draw" not in result.stderr
    assert "AAPL" in result.stdout


def test_sparkline_and_change_survive_non_finite_arithmetic() -> None:
    from argus_cli.cli.board import Board
    from argus_cli.cli.render import sparkline

    assert len(sparkline([1.7e308, -1.7e308, 5.0])) == 3
    assert sparkline([1.0, float("nan")]) == ""
    board = Board(["AAPL"])
    for p in (1.7e308, -1.7e308):
        board.update({"type": "price", "symbol": "AAPL", "price": p, "bid": p, "ask": p})
    row = board.rows["AAPL"]
    assert row.change is None and row.change_pct is None  # -inf: not shown as a number


def test_a_stderr_nobody_reads_never_freezes_the_stream(tmp_path: Path) -> None:
    """stderr is a pipe already full (64 KiB nobody reads): warnings must not block the
    loop, so --duration still ends the command on time."""
    import fcntl
    import os

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETFL, os.O_NONBLOCK)
    try:
        while True:
            os.write(write_end, b"x" * 4096)
    except BlockingIOError:
        pass  # full
    fcntl.fcntl(write_end, fcntl.F_SETFL, 0)
    bad = [{"type": "price", "sub": "{sub}", "symbol": "AAPL"}] * 50  # a warning each frame
    try:
        with hostile(script=[bad] * 200) as server:
            started = time.monotonic()
            proc = subprocess.run(
                [*ARGUS, "stream", "AAPL", "--url", server.url, "--json", "--duration", "1"],
                env=argus_env(tmp_path),
                stdout=subprocess.DEVNULL,
                stderr=write_end,
                timeout=30,
            )
            elapsed = time.monotonic() - started
    finally:
        os.close(read_end)
        os.close(write_end)
    assert proc.returncode == 0
    assert elapsed < 10  # blocked on stderr, the old code never reached --duration
