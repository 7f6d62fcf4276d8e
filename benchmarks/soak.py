"""`make soak`: 60 s of `argus stream` through the fault proxy, then a report.

Resets every ~2.5 s (at least 20), three black-hole stalls, a high message
rate; then: reconnects, messages, lost, duplicated, longest recovery, RSS and
fd growth. Exits 1 if anything was lost or duplicated.

    python -m benchmarks.soak [--seconds 60] [--rate 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from argus_cli.sim import Simulator, SimulatorConfig
from argus_cli.testing.faultproxy import FaultProxy
from argus_cli.testing.procinfo import open_fds as fds
from argus_cli.testing.procinfo import rss_kib
from argus_cli.testing.seqcheck import check

SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM", "V", "WMT"]
HEARTBEAT, TIMEOUT, DELAY = 0.5, 0.5, 0.2


async def soak(seconds: float, rate: float) -> int:
    sim = Simulator(SimulatorConfig(port=0, symbols=SYMBOLS, rate=rate, api_key="", seed=1))
    await sim.start()
    proxy = FaultProxy("127.0.0.1", sim.port)
    await proxy.start()
    out = Path(tempfile.mkdtemp()) / "soak.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    env.update(
        ARGUS_HEARTBEAT_INTERVAL=str(HEARTBEAT),
        ARGUS_TIMEOUT=str(TIMEOUT),
        ARGUS_RECONNECT_DELAY=str(DELAY),
        ARGUS_MAX_RECONNECT_ATTEMPTS="50",
    )
    with out.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "argus_cli",
            "stream",
            *SYMBOLS,
            "--url",
            proxy.url,
            "--json",
            env=env,
            stdout=sink,
            stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(3)
        rss0, fd0 = rss_kib(proc.pid), fds(proc.pid)
        started = time.monotonic()
        faults: list[tuple[str, float]] = []
        stalls_at = {round(seconds * f) for f in (0.25, 0.5, 0.75)}
        next_reset = 2.5
        tick = 0.0
        while tick < seconds:
            await asyncio.sleep(0.5)
            tick = time.monotonic() - started
            if any(abs(tick - s) < 0.25 for s in stalls_at) and not proxy.blackhole:
                proxy.blackhole = True
                faults.append(("stall", time.time()))
                await asyncio.sleep(HEARTBEAT + TIMEOUT + 0.5)
                proxy.blackhole = False
                faults[-1] = ("stall", time.time())  # recovery counts from the stall's end
                stalls_at = {s for s in stalls_at if abs(tick - s) >= 0.25}
                next_reset = tick + 2.5
            elif tick >= next_reset:
                proxy.reset()
                faults.append(("reset", time.time()))
                next_reset += 2.5
        await asyncio.sleep(2)
        rss1, fd1 = rss_kib(proc.pid), fds(proc.pid)
        proc.send_signal(signal.SIGINT)
        _, err = await proc.communicate()
    await proxy.stop()
    await sim.stop()
    messages = [json.loads(line) for line in out.read_text().splitlines()]
    report = check(messages)
    received = sorted(m["received"] for m in messages if m["type"] != "gap")
    recoveries = []
    for kind, at in faults:
        after = next((r for r in received if r > at), None)
        if after is not None:
            recoveries.append((kind, after - at))
    longest = max(recoveries, key=lambda r: r[1]) if recoveries else ("-", 0.0)
    reconnects = err.decode().count("reconnecting in") + err.decode().count("retrying in")
    rows = [
        ("duration", f"{seconds:.0f} s at {rate * len(SYMBOLS):,.0f} events/s x 2 types"),
        (
            "faults",
            f"{sum(k == 'reset' for k, _ in faults)} resets, "
            f"{sum(k == 'stall' for k, _ in faults)} stalls",
        ),
        ("reconnects", str(reconnects)),
        ("messages", f"{report.delivered:,}"),
        ("lost", str(report.lost)),
        ("duplicated", str(report.duplicated + report.out_of_order)),
        ("gaps reported", f"{report.gapped} seq numbers (server ring exceeded)"),
        (
            "longest recovery",
            f"{longest[1]:.3f} s after a {longest[0]} "
            f"(backoff in force <= {DELAY:.2f} s first retry)",
        ),
        ("RSS growth", f"{(rss1 - rss0) / 1024:+.1f} MiB ({rss0 / 1024:.1f} -> {rss1 / 1024:.1f})"),
        ("fd growth", f"{fd1 - fd0:+d} ({fd0} -> {fd1})"),
        ("exit code", str(proc.returncode)),
    ]
    width = max(len(k) for k, _ in rows)
    print("argus soak report")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    ok = report.lost == 0 and report.duplicated == 0 and report.out_of_order == 0
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=300.0, help="events/s per symbol")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(soak(args.seconds, args.rate)))


if __name__ == "__main__":
    main()
