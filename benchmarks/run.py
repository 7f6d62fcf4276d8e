"""`make bench`: every figure measured side by side in one run, on loopback.

Prints one table, writes benchmarks/results/latest.json. Each benchmark is
bounded in time. Ratios compare with the baseline measured in the same run,
so a noisy shared machine moves both sides together.

    python -m benchmarks.run [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import websockets
from rich.console import Console
from websockets.asyncio.client import connect

from argus_cli import ConnectionConfig, SubscriptionConfig, WebSocketClient
from argus_cli.cli.board import Board
from argus_cli.cli.render import render_board
from argus_cli.testing.procinfo import rss_kib
from benchmarks.nats_bench import measure as nats_measure
from benchmarks.picows_probe import picows_latency, picows_rate
from benchmarks.vs_cryptofeed import compare as cryptofeed_compare

ROOT = Path(__file__).resolve().parent.parent

SENDER = [sys.executable, str(ROOT / "benchmarks" / "sender.py")]
SUBSCRIBE = b'{"op":"subscribe","id":"cli-1","symbols":["AAPL"],"data_types":["price"]}'
RESULTS: dict[str, Any] = {}
CLOSED_SLOW: list[int] = []


class Sender:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*SENDER, *args], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.url = f"ws://127.0.0.1:{line.split()[1]}/ws"

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def wall(
    argv: list[str],
    *,
    stdout: Any = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    stdin_data: bytes | None = None,
    limit: float = 300,
    check: bool = True,
) -> float:
    """Wall seconds of running ``argv`` to its exit (stderr discarded).

    Waits in one blocking ``waitpid`` (a timer kills the process after ``limit``):
    ``subprocess.run(timeout=...)`` polls the child with sleeps of up to 50 ms, which
    rounded every whole-process figure up to the next 50 ms step."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    killer = threading.Timer(limit, proc.kill)
    killer.start()
    try:
        if stdin_data is not None:
            proc.communicate(stdin_data)  # no timeout: no polling either
        code = proc.wait()
    finally:
        killer.cancel()
    took = time.perf_counter() - started
    if check and code != 0:
        raise subprocess.CalledProcessError(code, argv)
    return took


# --- ingest -------------------------------------------------------------------------------


async def bare(url: str, count: int, batch: int) -> float:
    frames = -(-count // batch)
    async with connect(url, compression=None, max_size=None) as ws:
        await ws.send(SUBSCRIBE, text=True)
        await ws.recv()  # welcome
        await ws.recv()  # subscribed
        got = 0
        await ws.recv()
        started = time.perf_counter()
        got = 1
        while got < frames:
            await ws.recv()
            got += 1
        return (count - batch) / (time.perf_counter() - started)


async def sdk(url: str, count: int, transport: str = "auto") -> float:
    config = ConnectionConfig(url=url, max_reconnect_attempts=1, transport=transport)
    client = WebSocketClient(config)
    done = asyncio.Event()
    state = {"n": 0, "t0": 0.0}

    def on_price(_: dict[str, Any]) -> None:
        state["n"] += 1
        if state["n"] == 1:
            state["t0"] = time.perf_counter()
        elif state["n"] == count:
            done.set()

    client.add_message_handler("price", on_price)
    await client.connect()
    await client.subscribe("cli-1", SubscriptionConfig(["AAPL"], ["price"]))
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.perf_counter() - state["t0"]
    await client.disconnect()
    return (count - 1) / elapsed


def cli_seconds(url: str, count: int, transport: str = "auto") -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    return wall(
        [sys.executable, "-m", "argus_cli", "stream", "AAPL", "--url", url, "--json",
         "--types", "price", "--count", str(count), "--transport", transport],
        env=env,
    )  # fmt: skip


def cli_rate(count: int, batch: int, transport: str = "auto", rounds: int = 3) -> float:
    """Messages per second of the whole process less its start-up: the median of
    ``rounds`` runs (one run of a second or so moves by 30% with a hiccup)."""
    with Sender("--count", "1", "--batch", "1") as one:
        startup = min(cli_seconds(one.url, 1, transport) for _ in range(2))
    rates = []
    for _ in range(rounds):
        with Sender("--count", str(count), "--batch", str(batch)) as sender:
            total = cli_seconds(sender.url, count, transport)
        rates.append((count - 1) / max(1e-6, total - startup))
    return statistics.median(rates)


def websocat_rate(count: int, batch: int) -> float | None:
    binary = shutil.which("websocat") or str(Path(sys.executable).parent / "websocat")
    if not os.path.exists(binary):
        return None

    def run(url: str) -> float:
        return wall([binary, "-n", "--text", url], stdin_data=SUBSCRIBE + b"\n", check=False)

    with Sender("--count", "1", "--batch", "1") as one:
        startup = min(run(one.url) for _ in range(2))
    with Sender("--count", str(count), "--batch", str(batch)) as sender:
        total = run(sender.url)
    return (count - 1) / max(1e-6, total - startup)


def median_of(run: Callable[[str], Awaitable[float]], count: int, batch: int) -> float:
    """The median rate of three runs, each against a fresh sender."""
    rates = []
    for _ in range(3):
        with Sender("--count", str(count), "--batch", str(batch)) as s:
            rates.append(asyncio.run(run(s.url)))  # type: ignore[arg-type]
    return statistics.median(rates)


def ingest(count: int) -> None:
    """argus (SDK and CLI, the default transport and websockets forced) beside a bare
    websockets loop on the same frames; picows' own bare loop as a reference."""
    for batch in (1, 100):
        n = count if batch == 1 else count * 5
        base = median_of(lambda url, n=n, batch=batch: bare(url, n, batch), n, batch)
        sdk_rate = median_of(lambda url, n=n: sdk(url, n), n, batch)
        cli = cli_rate(n, batch)
        row: dict[str, Any] = {
            "messages": n,
            "bare_websockets": round(base),
            "sdk_noop": round(sdk_rate),
            "sdk_ratio": round(sdk_rate / base, 2),
            "cli_jsonl": round(cli),
            "cli_ratio": round(cli / base, 2),
        }
        if batch == 1:
            sdk_ws = median_of(lambda url, n=n: sdk(url, n, "websockets"), n, batch)
            cli_ws = cli_rate(n, batch, "websockets")
            with Sender("--count", str(n), "--batch", "1") as s:
                picows_bare = asyncio.run(picows_rate(s.url, n))
            ws_cat = websocat_rate(n, batch)
            row.update(
                sdk_websockets=round(sdk_ws),
                sdk_websockets_ratio=round(sdk_ws / base, 2),
                cli_websockets=round(cli_ws),
                cli_websockets_ratio=round(cli_ws / base, 2),
                websocat=None if ws_cat is None else round(ws_cat),
                websocat_ratio=None if ws_cat is None else round(ws_cat / base, 2),
                picows_bare=None if picows_bare is None else round(picows_bare),
                picows_bare_ratio=None if picows_bare is None else round(picows_bare / base, 2),
            )
        RESULTS[f"ingest_batch{batch}"] = row


# --- latency ------------------------------------------------------------------------------


async def latency_run(url: str, seconds: float, table: bool) -> dict[str, float]:
    client = WebSocketClient(ConnectionConfig(url=url, max_reconnect_attempts=1))
    samples: list[float] = []
    board = Board(["AAPL"])

    def on_price(msg: dict[str, Any]) -> None:
        samples.append(time.time() - msg["timestamp"])
        if table:
            board.update(msg)

    client.add_message_handler("price", on_price)
    await client.connect()
    await client.subscribe("cli-1", SubscriptionConfig(["AAPL"], ["price"]))
    painter = None
    if table:
        console = Console(file=open(os.devnull, "w"), width=160, force_terminal=True)  # noqa: SIM115

        async def paint() -> None:
            while True:
                console.print(render_board(board, client.stats_snapshot(), time.time(), 50))
                await asyncio.sleep(0.25)

        painter = asyncio.create_task(paint())
    await asyncio.sleep(seconds + 0.5)
    if painter:
        painter.cancel()
    await client.disconnect()
    samples = samples[len(samples) // 10 :]  # drop the warm-up
    return {
        "p50_ms": round(percentile(samples, 50) * 1000, 3),
        "p99_ms": round(percentile(samples, 99) * 1000, 3),
        "p999_ms": round(percentile(samples, 99.9) * 1000, 3),
        "max_ms": round(max(samples) * 1000, 3),
        "samples": len(samples),
    }


def latency(seconds: float) -> None:
    for rate in (10_000, 50_000):
        args = ("--mode", "paced", "--rate", str(rate), "--seconds", str(seconds + 1))
        for table in (False, True):
            with Sender(*args) as s:
                result = asyncio.run(latency_run(s.url, seconds, table))
            RESULTS[f"latency_{rate // 1000}k{'_table' if table else ''}"] = result
        with Sender(*args) as s:  # the floor: the same sender, a bare picows loop
            floor = asyncio.run(picows_latency(s.url, seconds))
        if floor is not None:
            RESULTS[f"latency_{rate // 1000}k_picows_bare"] = floor


# --- simulator fan-out --------------------------------------------------------------------


async def count_messages(url: str, seconds: float, symbols: list[str]) -> int:
    async with connect(url, compression=None, max_size=None) as ws:
        op = {"op": "subscribe", "id": "b", "symbols": symbols, "data_types": ["price"]}
        await ws.send(json.dumps(op))
        got = 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            try:
                frame = await asyncio.wait_for(ws.recv(), deadline - time.perf_counter())
            except TimeoutError:
                break
            except websockets.ConnectionClosed:
                CLOSED_SLOW.append(1)  # the server cut a receiver that fell behind (1013)
                break
            got += frame.count('"seq"')
        return got


def simulator(seconds: float) -> None:
    symbols = [f"S{i:02d}" for i in range(10)]
    out: dict[str, Any] = {}

    loop_proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "sendloop.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert loop_proc.stdout is not None
    try:
        port = loop_proc.stdout.readline().split()[1]
        got = asyncio.run(count_messages(f"ws://127.0.0.1:{port}/ws", seconds, symbols))
    finally:
        loop_proc.terminate()
        loop_proc.wait(10)
    out["bare_send_loop_1_client"] = round(got / seconds)
    for clients in (1, 10, 50):
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / "simserver.py"), "10000", ",".join(symbols)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()

        async def many(url: str = url, clients: int = clients) -> int:
            counts = await asyncio.gather(
                *(count_messages(url, seconds, symbols) for _ in range(clients))
            )
            return sum(counts)

        CLOSED_SLOW.clear()
        try:
            total = asyncio.run(many())
        finally:
            proc.terminate()
            proc.wait(10)
        out[f"sim_{clients}_clients_closed_1013"] = len(CLOSED_SLOW)
        out[f"sim_{clients}_clients"] = round(total / seconds)
    out["sim_1_client_ratio"] = round(out["sim_1_clients"] / out["bare_send_loop_1_client"], 2)
    RESULTS["simulator"] = out


# --- the terminal table -------------------------------------------------------------------


async def table_run(url: str, seconds: float, symbols: int) -> dict[str, float]:
    names = [f"S{i:03d}" for i in range(symbols)]
    client = WebSocketClient(ConnectionConfig(url=url, max_reconnect_attempts=1))
    board = Board(names)
    client.add_frame_handler(board.update_frame)
    await client.connect()
    await client.subscribe("cli-1", SubscriptionConfig(names, ["price"]))
    console = Console(file=open(os.devnull, "w"), width=200, force_terminal=True)  # noqa: SIM115
    repaints, lags = 0, []
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    interval = 0.25
    while time.perf_counter() - started < seconds:
        tick = time.perf_counter()
        console.print(render_board(board, client.stats_snapshot(), time.time(), 50))
        newest = max((r.updated or 0) for r in board.rows.values())
        if newest:
            lags.append(time.time() - newest)
        repaints += 1
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - tick)))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    stats = client.stats_snapshot()
    await client.disconnect()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "symbols": symbols,
        "messages_per_second": round(stats["messages_received"] / wall),
        "cpu_cores": round(cpu / wall, 2),
        "repaints_per_second": round(repaints / wall, 2),
        "target_repaints_per_second": 1 / interval,
        "lag_p99_ms": round(percentile(lags, 99) * 1000, 1) if lags else None,
        "repaint_interval_ms": interval * 1000,
    }


def table(seconds: float) -> None:
    args = ("--mode", "paced", "--rate", "50000", "--seconds", str(seconds + 2), "--symbols", "500")
    with Sender(*args) as s:
        RESULTS["table_500_symbols"] = asyncio.run(table_run(s.url, seconds, 500))


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) ``pid`` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stream_cpu(url: str, symbols: list[str], seconds: float, size: tuple[int, int] | None) -> float:
    """Cores `argus stream` uses on ``seconds`` of the stream (after 3 s to settle): on a
    pty of ``size`` (columns, lines), the real table and its painter, or with --json."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import threading

    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_") and k != "NO_COLOR"}
    argv = [*argus_command(), "stream", *symbols, "--url", url]
    proc = None
    if size is None:
        proc = subprocess.Popen([*argv, "--json"], env=env, stdout=subprocess.DEVNULL)
        pid = proc.pid
    else:
        columns, lines = size
        env.update(TERM="xterm-256color", COLUMNS=str(columns), LINES=str(lines))
        pid, fd = pty.fork()
        if pid == 0:  # the child: argus on a terminal of that size
            winsize = struct.pack("HHHH", lines, columns, 0, 0)
            fcntl.ioctl(0, termios.TIOCSWINSZ, winsize)
            os.execvpe(argv[0], argv, env)

        def drain() -> None:  # the terminal reads everything argus paints
            while True:
                if select.select([fd], [], [], 0.2)[0]:
                    try:
                        if not os.read(fd, 65536):
                            return
                    except OSError:
                        return

        threading.Thread(target=drain, daemon=True).start()
    time.sleep(3)
    cpu, wall = process_cpu(pid), time.monotonic()
    time.sleep(seconds)
    cores = (process_cpu(pid) - cpu) / (time.monotonic() - wall)
    gone = proc.poll() is not None if proc is not None else os.waitpid(pid, os.WNOHANG)[0] != 0
    if gone:
        raise RuntimeError(f"argus stream ended before the measurement: {argv}")
    os.kill(pid, signal.SIGINT)
    if proc is not None:
        proc.wait(10)
    else:
        os.waitpid(pid, 0)
        os.close(fd)
    return cores


def table_cost(seconds: float) -> None:
    """The issue's figure: 55 symbols at 5 events/s each from the simulator, the same
    stream as a table (80 and 160 columns) and as JSON lines; CPU of the process."""
    symbols = [f"S{i:02d}" for i in range(55)]
    sim = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "simserver.py"), "5", ",".join(symbols)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert sim.stdout is not None
    try:
        url = sim.stdout.readline().strip()
        json_cores = stream_cpu(url, symbols, seconds, None)
        out: dict[str, Any] = {"symbols": 55, "events_per_second_per_symbol": 5}
        out["json_cpu_pct"] = round(json_cores * 100, 1)
        for columns, lines in ((80, 24), (160, 70)):
            cores = stream_cpu(url, symbols, seconds, (columns, lines))
            out[f"table_{columns}x{lines}_cpu_pct"] = round(cores * 100, 1)
            out[f"table_{columns}x{lines}_vs_json"] = round(cores / max(json_cores, 1e-6), 2)
    finally:
        sim.terminate()
        sim.wait(10)
    RESULTS["table_cost_55_symbols"] = out


# --- memory -------------------------------------------------------------------------------


def memory(seconds: float) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    out: dict[str, Any] = {}
    for label, blocked in (("devnull", False), ("stdout_blocked", True)):
        args = ("--mode", "paced", "--rate", "20000", "--seconds", str(seconds + 5))
        with Sender(*args) as s:
            stdout: Any = subprocess.PIPE if blocked else subprocess.DEVNULL
            proc = subprocess.Popen(
                [sys.executable, "-m", "argus_cli", "stream", "AAPL", "--url", s.url, "--json"],
                stdout=stdout, env=env,
            )  # fmt: skip
            try:
                time.sleep(2)
                start = rss_kib(proc.pid)
                peak = start
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    time.sleep(1)
                    peak = max(peak, rss_kib(proc.pid))
                end = rss_kib(proc.pid)
            finally:
                proc.terminate()
                proc.wait(10)
        out[label] = {
            "seconds": seconds,
            "rss_start_mib": round(start / 1024, 1),
            "rss_end_mib": round(end / 1024, 1),
            "growth_mib": round((end - start) / 1024, 1),
            "peak_mib": round(peak / 1024, 1),
        }
    RESULTS["memory"] = out


# --- simulator resume ring ----------------------------------------------------------------

# In a fresh process: RSS before and after filling every symbol's ring, the price message
# encoded per event as a subscriber would have it (argv: ring_size, "price" or "-").
RING_PROBE = """
import gc, sys
from argus_cli.sim import Simulator, SimulatorConfig
from argus_cli.testing.procinfo import rss_kib
size, body = int(sys.argv[1]), sys.argv[2]
market = Simulator(SimulatorConfig(ring_size=size, seed=1, api_key="")).market
for n in range(size + 1):
    if n == 1:
        gc.collect()
        before = rss_kib()
    for symbol in market.symbols:
        event = market.next_event(symbol, 1e9 + n)
        if body != "-":
            event.body(body)
gc.collect()
print(len(market.symbols), before, rss_kib())
"""


def ring_memory(ring_size: int) -> None:
    """Simulator RSS per held resume event: 55 symbols x ``ring_size`` (issue 11: <= 150 B)."""
    out: dict[str, Any] = {"ring_size": ring_size}
    for label, body in (("bytes_per_event", "-"), ("bytes_per_event_price_sent", "price")):
        probe = [sys.executable, "-c", RING_PROBE, str(ring_size), body]
        line = subprocess.run(
            probe, capture_output=True, text=True, check=True, timeout=300, cwd=ROOT
        )
        symbols, before, after = map(int, line.stdout.split())
        out["symbols"] = symbols
        out[label] = round((after - before) * 1024 / (symbols * ring_size))
        out[f"{label}_rss_mib"] = round(after / 1024, 1)
    RESULTS["sim_ring_memory"] = out


# --- argus vs cryptofeed (Coinbase) -------------------------------------------------------


def vs_cryptofeed(quick: bool) -> None:
    """Coinbase trades/s: `argus stream --json` vs cryptofeed, same firehose (vs_cryptofeed.py)."""
    RESULTS["vs_cryptofeed"] = cryptofeed_compare(20_000 if quick else 100_000, 1 if quick else 3)


# --- start-up and prompt exit --------------------------------------------------------------

ARGUS_SCRIPT = Path(sys.executable).parent / "argus"  # the installed command, as users run it


def argus_command() -> list[str]:
    return [str(ARGUS_SCRIPT)] if ARGUS_SCRIPT.exists() else [sys.executable, "-m", "argus_cli"]


def median_wall(argv: list[str], runs: int) -> float:
    """Median wall seconds of ``argv`` (output discarded) over ``runs`` runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    return statistics.median([wall(argv, env=env, limit=60) for _ in range(runs)])


def startup(runs: int) -> None:
    """Whole-process wall time, median of ``runs``, beside ``python -c pass`` (issue 11:
    ``--version`` and ``stream --help`` <= 0.15 s, ``stream --json --count 1`` against a
    local simulator <= 0.35 s)."""
    argus = argus_command()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "simserver.py"), "1000", "AAPL"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        url = proc.stdout.readline().strip()
        one = [*argus, "stream", "AAPL", "--url", url, "--json", "--count", "1"]
        out = {
            "python_c_pass_s": median_wall([sys.executable, "-c", "pass"], runs),
            "version_s": median_wall([*argus, "--version"], runs),
            "stream_help_s": median_wall([*argus, "stream", "--help"], runs),
            "stream_json_count_1_s": median_wall(one, runs),
        }
    finally:
        proc.terminate()
        proc.wait(10)
    RESULTS["startup"] = {k: round(v, 3) for k, v in out.items()}


def prompt_exit(runs: int, count: int = 20_000) -> None:
    """From the ``count``-th line on stdout to the exit of ``argus stream --json --count``
    against a firehose that keeps sending (issue 11: <= 0.2 s; it was ~2 s, the close
    handshake waiting behind the queued data), per transport, median and worst of ``runs``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    out: dict[str, Any] = {"count": count}
    for transport in ("picows", "websockets"):
        if transport == "picows" and importlib.util.find_spec("picows") is None:
            continue
        took = []
        for _ in range(runs):
            # paced far above what the client takes: the socket stays full to the end
            with Sender("--mode", "paced", "--rate", "500000", "--seconds", "60") as sender:
                argv = [*argus_command(), "stream", "AAPL", "--url", sender.url, "--json",
                        "--types", "price", "--count", str(count), "--transport", transport]  # fmt: skip
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)
                assert proc.stdout is not None
                for _ in range(count):
                    proc.stdout.readline()
                last_line = time.perf_counter()
                killer = threading.Timer(60, proc.kill)  # a bound without wait()'s polling
                killer.start()
                try:
                    proc.wait()
                finally:
                    killer.cancel()
                took.append(time.perf_counter() - last_line)
        out[f"{transport}_s"] = round(statistics.median(took), 3)
        out[f"{transport}_worst_s"] = round(max(took), 3)
    RESULTS["prompt_exit"] = out


# --- replay ------------------------------------------------------------------------------


def replay_rate(lines: int) -> None:
    """``argus replay --speed max --json`` lines per second (whole process, output to
    /dev/null) on a ``lines``-line .zst recording, beside reading the same file with
    ``zstandard`` and counting its lines in Python (issue 12: >= 300k lines/s)."""
    import tempfile

    import orjson
    import zstandard

    from argus_cli.compressed import open_lines

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl.zst"
        writer = open_lines(path)
        t0 = 1_700_000_000.0
        for start in range(0, lines, 10_000):
            chunk = []
            for i in range(start, min(start + 10_000, lines)):
                symbol = ("AAPL", "MSFT", "GOOGL")[i % 3]
                chunk.append(orjson.dumps(
                    {"type": "price", "sub": "cli-1", "symbol": symbol, "price": 100 + i % 977 / 100,
                     "bid": 99.99, "ask": 100.01, "timestamp": t0 + i / 1000, "seq": i // 3 + 1,
                     "source": "argus", "received": t0 + i / 1000 + 0.0004},
                    option=orjson.OPT_APPEND_NEWLINE,
                ))  # fmt: skip
            writer.write(b"".join(chunk))
        writer.close()

        def count_lines() -> int:
            total = 0
            with open(path, "rb") as raw:
                reader = zstandard.ZstdDecompressor().stream_reader(raw)
                while chunk := reader.read(1 << 16):
                    total += chunk.count(b"\n")
            return total

        started = time.perf_counter()
        assert count_lines() == lines
        baseline = time.perf_counter() - started
        argv = [*argus_command(), "replay", str(path), "--speed", "max", "--json"]
        took = median_wall(argv, 3)
        tiny = Path(tmp) / "tiny.jsonl"
        tiny.write_bytes(orjson.dumps({"type": "price", "symbol": "AAPL", "received": t0}) + b"\n")
        start_up = median_wall([*argus_command(), "replay", str(tiny), "--speed", "max"], 3)
    RESULTS["replay"] = {
        "lines": lines,
        "replay_max_json_lines_per_s": round(lines / took),
        "replay_s": round(took, 3),
        "replay_start_up_s": round(start_up, 3),
        "replay_net_lines_per_s": round(lines / max(took - start_up, 1e-6)),
        "zstandard_count_lines_per_s": round(lines / baseline),
        "ratio": round(baseline / took, 3),
    }


# --- record ------------------------------------------------------------------------------


def record_rate(count: int, rounds: int) -> None:
    """``argus record -o X.jsonl`` and ``-o X.jsonl.zst`` messages per second beside
    ``argus stream --json > /dev/null``, on the same firehose (a fresh blast sender per
    leg: ``count`` price messages, one a frame), the legs taken in turn ``rounds``
    times, median of each (issue 12: record >= 0.9x stream plain, >= 0.7x zstd). Each
    leg is its whole process less its start-up (the same command with ``--count 1``)."""
    import tempfile

    from argus_cli.compressed import read_lines

    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    argus = argus_command()

    def leg(name: str, tmp: Path) -> tuple[list[str], Path | None]:
        if name == "stream_json":
            return ["stream", "--json"], None
        out = tmp / ("rec.jsonl" if name == "record_plain" else "rec.jsonl.zst")
        return ["record", "-o", str(out)], out

    def seconds(name: str, tmp: Path, n: int) -> float:
        command, out = leg(name, tmp)
        with Sender("--count", str(n), "--batch", "1") as sender:
            argv = [*argus, command[0], "AAPL", "--url", sender.url, "--types", "price",
                    "--count", str(n), *command[1:]]  # fmt: skip
            took = wall(argv, env=env)
        if out is not None:  # every message is in the file, or the figure means nothing
            assert sum(1 for _ in read_lines(out)) == n, out
            sizes[name] = out.stat().st_size
        return took

    names = ("stream_json", "record_plain", "record_zst")
    rates: dict[str, list[float]] = {name: [] for name in names}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        start_up = {name: min(seconds(name, tmp, 1) for _ in range(2)) for name in names}
        for _ in range(rounds):
            for name in names:
                took = seconds(name, tmp, count)
                rates[name].append((count - 1) / max(1e-6, took - start_up[name]))
    rate = {name: statistics.median(values) for name, values in rates.items()}
    RESULTS["record"] = {
        "messages": count,
        "rounds": rounds,
        "stream_json_per_s": round(rate["stream_json"]),
        "record_plain_per_s": round(rate["record_plain"]),
        "record_zst_per_s": round(rate["record_zst"]),
        "plain_ratio": round(rate["record_plain"] / rate["stream_json"], 2),
        "zst_ratio": round(rate["record_zst"] / rate["stream_json"], 2),
        "start_up_s": {name: round(value, 3) for name, value in start_up.items()},
        "plain_bytes_per_message": round(sizes["record_plain"] / count, 1),
        "zst_bytes_per_message": round(sizes["record_zst"] / count, 1),
        "all_rates_per_s": {name: [round(v) for v in values] for name, values in rates.items()},
    }


# --- report -------------------------------------------------------------------------------


def report() -> str:
    lines = ["| benchmark | figure |", "|---|---|"]
    for name, values in RESULTS.items():
        if isinstance(values, dict):
            flat = ", ".join(f"{k}={v}" for k, v in values.items() if not isinstance(v, dict))
            if flat:
                lines.append(f"| {name} | {flat} |")
            for sub, inner in values.items():
                if isinstance(inner, dict):
                    text = ", ".join(f"{k}={v}" for k, v in inner.items())
                    lines.append(f"| {name}.{sub} | {text} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke test)")
    args = parser.parse_args()
    quick = args.quick
    began = time.perf_counter()
    steps = [
        ("ingest", lambda: ingest(50_000 if quick else 200_000)),
        ("latency", lambda: latency(2 if quick else 8)),
        ("simulator", lambda: simulator(2 if quick else 5)),
        ("table", lambda: table(3 if quick else 10)),
        ("table_cost", lambda: table_cost(3 if quick else 10)),
        ("memory", lambda: memory(5 if quick else 60)),
        ("sim_ring_memory", lambda: ring_memory(2_000 if quick else 10_000)),
        ("startup", lambda: startup(10)),
        ("prompt_exit", lambda: prompt_exit(1 if quick else 3)),
        ("vs_cryptofeed", lambda: vs_cryptofeed(quick)),
        ("replay", lambda: replay_rate(50_000 if quick else 200_000)),
        ("record", lambda: record_rate(100_000 if quick else 300_000, 1 if quick else 3)),
        ("nats", lambda: RESULTS.update(nats=nats_measure(quick))),
    ]
    for name, step in steps:
        print(f"bench: {name}...", file=sys.stderr, flush=True)
        step()
    RESULTS["machine"] = {
        "python": platform.python_version(),
        "websockets": websockets.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "seconds": round(time.perf_counter() - began),
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(RESULTS, indent=2) + "\n")
    print(report())


if __name__ == "__main__":
    main()
