"""Shared by the NATS tests: the real ``argus`` command run as a process beside a
real nats-server, and what a JetStream stream holds."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats

from tests.cli.helpers import ARGUS

DATA = ("price", "volume", "orderbook")


class Argus:
    """``argus ARGS...`` as an asyncio subprocess whose stdout lines are collected."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self.env = env
        self.lines: list[bytes] = []
        self.stderr = b""
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> Argus:
        self.proc = await asyncio.create_subprocess_exec(
            *ARGUS,
            *self.args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.lines.append(line.rstrip(b"\n"))

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    def send(self, signum: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signum)

    async def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None and self.proc.stderr is not None
        err, code = await asyncio.wait_for(
            asyncio.gather(self.proc.stderr.read(), self.proc.wait()), timeout
        )
        self.stderr = err
        assert self._reader is not None
        await asyncio.wait_for(self._reader, 5)
        return code

    async def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc is not None and self.proc.returncode is None:
            self.send(signum)
        return await self.wait(timeout)


async def run(args: list[str], env: dict[str, str], timeout: float = 30.0) -> Argus:
    """Run ``argus ARGS`` to its end."""
    argus = await Argus(args, env).start()
    await argus.wait(timeout)
    return argus


async def until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> None:
    """Poll ``condition`` (sync or async) until true, failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or condition}")
        await asyncio.sleep(0.02)


async def stored(url: str | list[str], stream: str = "ARGUS") -> list[tuple[bytes, dict[str, str]]]:
    """Every message of ``stream``, in order: (payload, headers)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out: list[tuple[bytes, dict[str, str]]] = []
        if info.state.messages == 0:
            return out
        sub = await js.subscribe("argus.>", stream=stream, ordered_consumer=True)
        try:
            while len(out) < info.state.messages:
                msg = await sub.next_msg(timeout=5)
                out.append((msg.data, dict(msg.headers or {})))
        finally:
            await sub.unsubscribe()
        return out
    finally:
        await nc.close()


async def stream_count(url: str | list[str], stream: str = "ARGUS") -> int:
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    finally:
        await nc.close()


def exactly_once(events: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(events, lost, duplicated) over the sequenced data events, per (symbol, type):
    lost = holes between the first and last seq, duplicated = seqs seen twice."""
    seen: dict[tuple[str, str], Counter[int]] = {}
    for e in events:
        if e["type"] in DATA and "seq" in e:
            seen.setdefault((e["symbol"], e["type"]), Counter())[e["seq"]] += 1
    lost = dup = total = 0
    for counts in seen.values():
        total += sum(counts.values())
        dup += sum(n - 1 for n in counts.values() if n > 1)
        lost += (max(counts) - min(counts) + 1) - len(counts)
    return total, lost, dup


def drain_config(tmp_path: Path, seconds: float) -> str:
    path = tmp_path / "publish.yaml"
    path.write_text(f"publish:\n  drain_timeout: {seconds}\n")
    return str(path)
