"""Running the real ``argus`` command in subprocesses, and a simulator in a thread."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from argus_cli.sim import Simulator, SimulatorConfig

ARGUS = [sys.executable, "-m", "argus_cli"]


def argus_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES"):
        env.pop(name, None)
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_RUNTIME_DIR=str(tmp_path / "run"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        PYTHONUNBUFFERED="1",
    )
    (tmp_path / "run").mkdir(exist_ok=True, mode=0o700)
    env.update(extra)
    return env


def run_argus(
    args: list[str], env: dict[str, str], timeout: float = 30, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ARGUS, *args], env=env, capture_output=True, text=True, timeout=timeout, **kwargs
    )


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.02)


class ThreadedSim:
    """A simulator on its own event loop in a background thread (for sync tests)."""

    def __init__(self, **options: Any) -> None:
        config: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "symbols": ["AAPL", "GOOGL", "MSFT"],
            "rate": 50.0,
            "seed": 3,
            "api_key": "",
        }
        config.update(options)
        self.sim = Simulator(SimulatorConfig(**config))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Simulator:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(10)
        return self.sim

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextmanager
def argus_serve(env: dict[str, str], *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``argus serve --port 0``; yields the process and the URL it printed."""
    proc = subprocess.Popen(
        [*ARGUS, "serve", "--port", "0", "--rate", "50", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("ws://"), url
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(10)


class Threaded:
    """An async server with ``start()``/``stop()`` (a fake exchange) on its own event
    loop in a background thread, for tests that run the real ``argus`` command."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Any:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def user_profile(env: dict[str, str], name: str, text: str) -> None:
    """Write the user profile ``name`` (it wins over a shipped one of that name)."""
    folder = Path(env["XDG_CONFIG_HOME"]) / "argus" / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)
