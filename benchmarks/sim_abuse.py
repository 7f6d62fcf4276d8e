"""Abusive clients against the simulator: does a well-behaved client stay served?

Three processes: the simulator (default config: 55 symbols, 5 events/s each,
10,000-event rings, 20,000-message send queues), a well-behaved watcher
subscribed to every symbol's price that records the gaps between the frames it
receives (and any hole in ``seq``), and the abusers:

- ``nonreaders``: ``--conns`` connections that each send ``--subs`` subscribes
  of every symbol and every data type, then never read;
- ``resume``: one client, with the rings full, resumes every symbol and every
  data type from seq 1 and reads everything (it must get each symbol's
  sequence contiguous, then live).

Prints one JSON object: the watcher's longest silence (from its subscription
to the end) and p99 gap between frames, the server's peak RSS, and how the
abusers were closed (as the server counted, and as they saw it: a non-reader
that reads only after the server's 2 s closing handshake sees 1006).

    python -m benchmarks.sim_abuse nonreaders [--conns 50] [--subs 100] [--seconds 20] [--pause 10]
    python -m benchmarks.sim_abuse resume [--seconds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from argus_cli.sim import Simulator, SimulatorConfig
from argus_cli.testing.procinfo import rss_kib

ALL_TYPES = ["price", "volume", "orderbook"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


# --- the simulator process ----------------------------------------------------------------


async def serve(prefill: int) -> None:
    sim = Simulator(SimulatorConfig(port=0, api_key="", seed=1))
    now = time.time()
    for symbol in sim.market.symbols:
        for _ in range(prefill):
            sim.market.next_event(symbol, now)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    async with sim:
        print(sim.url, flush=True)
        await stop.wait()
        closes = {str(int(code)): count for code, count in sim.closes.items()}
    print(json.dumps({"server_closes": closes}), flush=True)


# --- the well-behaved watcher process -----------------------------------------------------


async def watch(url: str, seconds: float) -> None:
    gaps: list[float] = []
    holes = 0
    last_seq: dict[str, int] = {}
    messages = 0
    async with connect(url, compression=None, max_size=None) as ws:
        await ws.send(json.dumps({"op": "list_symbols"}))
        symbols: list[str] = []
        while not symbols:
            msg = json.loads(await ws.recv())
            if isinstance(msg, dict) and msg.get("type") == "symbols":
                symbols = msg["symbols"]
        op = {"op": "subscribe", "id": "w", "symbols": symbols, "data_types": ["price"]}
        await ws.send(json.dumps(op))
        print("ready", flush=True)
        deadline = time.monotonic() + seconds
        last = time.monotonic()  # silences count from here, and up to the deadline
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = await asyncio.wait_for(ws.recv(), left)
            except TimeoutError:
                break
            now = time.monotonic()
            gaps.append(now - last)
            last = now
            parsed = json.loads(frame)
            for msg in parsed if isinstance(parsed, list) else [parsed]:
                if msg.get("type") != "price":
                    continue
                messages += 1
                previous = last_seq.get(msg["symbol"])
                if previous is not None and msg["seq"] != previous + 1:
                    holes += 1
                last_seq[msg["symbol"]] = msg["seq"]
    gaps.append(time.monotonic() - last)
    report = {
        "watcher_messages": messages,
        "watcher_max_gap_ms": round(max(gaps, default=0) * 1000, 1),
        "watcher_p99_gap_ms": round(percentile(gaps, 99) * 1000, 1),
        "watcher_seq_holes": holes,
    }
    print(json.dumps(report), flush=True)


# --- the abusers --------------------------------------------------------------------------


async def nonreader(url: str, symbols: list[str], subs: int) -> ClientConnection:
    ws = await connect(url, compression=None, max_size=None, max_queue=1, ping_interval=None)
    await ws.recv()  # welcome
    assert ws.transport is not None
    ws.transport.pause_reading()
    for i in range(subs):
        op = {"op": "subscribe", "id": f"n{i}", "symbols": symbols, "data_types": ALL_TYPES}
        await ws.send(json.dumps(op))
    return ws


async def drain(ws: ClientConnection) -> int | None:
    """Read up to the close frame (at most 10 s); the close code, None if still open."""
    assert ws.transport is not None
    ws.transport.resume_reading()
    try:
        async with asyncio.timeout(10):
            while True:
                await ws.recv(decode=False)
    except (ConnectionClosed, TimeoutError):
        pass
    return ws.close_code


async def resumer(url: str, symbols: list[str], out: dict[str, Any]) -> None:
    started = time.monotonic()
    async with connect(url, compression=None, max_size=None) as ws:
        op = {
            "op": "subscribe",
            "id": "r",
            "symbols": symbols,
            "data_types": ALL_TYPES,
            "resume": dict.fromkeys(symbols, 1),
        }
        await ws.send(json.dumps(op))
        seqs: dict[tuple[str, str], int] = {}
        bad = 0
        received = 0
        try:
            while True:
                parsed = json.loads(await ws.recv())
                for msg in parsed if isinstance(parsed, list) else [parsed]:
                    kind = msg.get("type")
                    if kind not in ALL_TYPES:
                        continue
                    received += 1
                    key = (msg["symbol"], kind)
                    if msg["seq"] != seqs.get(key, 1) + 1:
                        bad += 1
                    seqs[key] = msg["seq"]
        except (ConnectionClosed, asyncio.CancelledError):
            out["resumer_close_code"] = ws.close_code
            out["resumer_messages"] = received
            out["resumer_out_of_sequence"] = bad
            out["resumer_seconds"] = round(time.monotonic() - started, 2)
            out["resumer_caught_up"] = sum(1 for s in seqs.values() if s > 10_000)
            raise


async def scenario(args: argparse.Namespace) -> dict[str, Any]:
    prefill = 10_000 if args.scenario == "resume" else 0
    command = args.server or [sys.executable, "-m", "benchmarks.sim_abuse", "_serve"]
    server = subprocess.Popen([*command, str(prefill)], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    out: dict[str, Any] = {"scenario": args.scenario, "rss_start_mib": rss_kib(server.pid) // 1024}
    watcher = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.sim_abuse", "_watch", url, str(args.seconds),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert watcher.stdout is not None
    await watcher.stdout.readline()  # ready
    peak = 0
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_kib(server.pid))
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    symbols = list(Simulator(SimulatorConfig(port=0, api_key="")).market.symbols)
    try:
        if args.scenario == "nonreaders":
            conns = await asyncio.gather(
                *(nonreader(url, symbols, args.subs) for _ in range(args.conns))
            )
            await asyncio.sleep(args.pause if args.pause is not None else args.seconds / 2)
            codes = await asyncio.gather(*(drain(ws) for ws in conns))
            out["nonreader_close_codes"] = {str(c): codes.count(c) for c in set(codes)}
        else:
            task = asyncio.create_task(resumer(url, symbols, out))
            await asyncio.sleep(args.seconds - 1)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        line = await watcher.stdout.readline()
        out.update(json.loads(line))
        await watcher.wait()
    finally:
        stop.set()
        await sampler
        out["rss_peak_mib"] = peak // 1024
        server.send_signal(signal.SIGINT)
        try:
            tail, _ = server.communicate(timeout=20)
            for line in tail.splitlines():
                if line.startswith("{"):
                    out.update(json.loads(line))
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return out


def main() -> None:
    if sys.argv[1:2] == ["_serve"]:
        asyncio.run(serve(int(sys.argv[2])))
        return
    if sys.argv[1:2] == ["_watch"]:
        asyncio.run(watch(sys.argv[2], float(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", choices=["nonreaders", "resume"])
    parser.add_argument("--conns", type=int, default=50)
    parser.add_argument("--subs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pause", type=float, help="seconds the non-readers stay paused")
    parser.add_argument(
        "--server", nargs="+", help="command that serves (given the prefill) and prints its URL"
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(scenario(args)), indent=2))


if __name__ == "__main__":
    main()
