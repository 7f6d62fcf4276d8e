"""argus vs cryptofeed: normalized Coinbase trades per second from the same firehose.

    python -m benchmarks.vs_cryptofeed [--count N] [--rounds R] [--quick] [--asyncio]

Each consumer gets its own ``benchmarks/coinbase_firehose.py`` process serving
the same trades (same products, ids, prices, sizes, times; one trade a frame),
pre-framed, as fast as the consumer reads:

- **argus**: the real CLI, ``argus stream --provider coinbase --json --types
  volume --count N BTC-USD ETH-USD SOL-USD``, in a subprocess, stdout a pipe
  this process drains and counts lines of. Per message: WebSocket frame →
  ``orjson`` decode → Coinbase adapter (validation, trade-id dedupe) →
  pipeline (sequence/gap tracking, stamps) → one JSON line written to stdout.
- **cryptofeed** (2.4): ``FeedHandler`` + ``Coinbase`` with a no-op ``TRADES``
  callback, in a subprocess (``--child``). Per message: frame → ``yapic.json``
  decode (floats as ``Decimal``, times as ``datetime``) → a ``Trade`` object
  (``Decimal`` size and price) → the callback. Nothing is written.

cryptofeed 2.4's ``Coinbase`` speaks the Advanced Trade feed (RESEARCH.md §1B:
``market_trades``, no ticker), argus' adapter the Exchange feed (§1A:
``match``/``ticker``), so each firehose speaks its consumer's dialect. Both
subscribe to trades only; argus' ticker+match mix is measured alone, beside.

Patched in the cryptofeed child only, so that it never touches the network:
``Coinbase.http_sync`` (the REST ``/products`` call for its symbol map) answers
a canned three-product listing and refuses anything else; ``Coinbase._address``
returns the firehose's URL; ``cryptofeed.feed.WSAsyncConn`` accepts ``ws://``
(it insists on ``wss://``; TLS would cost cryptofeed alone). The subscribe
carries a dummy key (cryptofeed signs every subscribe and needs one in its
config); logging to ``feedhandler.log`` is off.

Rate: messages after the first, over the wall time from the first message
received to the last (argus: first and last stdout chunk in the reader;
cryptofeed: first and last callback). Start-up is outside the clock. Rounds
alternate argus and cryptofeed; the best of each is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = ["BTC-USD", "ETH-USD", "SOL-USD"]
PRODUCTS_URL = "https://api.coinbase.com/api/v3/brokerage/products"


class Firehose:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.coinbase_firehose", *args],
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"coinbase_firehose did not start: {line!r}")
        self.url = f"ws://127.0.0.1:{line.split()[1]}"

    def __enter__(self) -> Firehose:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# --- argus ----------------------------------------------------------------------------


def argus_rate(trades: int, ticker: bool = False, use_asyncio: bool = False) -> dict[str, Any]:
    """``argus stream --json`` into a pipe read here; lines counted as they arrive."""
    expected = trades * 2 if ticker else trades
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    if use_asyncio:
        env["ARGUS_NO_UVLOOP"] = "1"
    fire_args = ["--dialect", "exchange", "--count", str(trades)] + (["--ticker"] if ticker else [])
    with Firehose(*fire_args) as fire, tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "argus_cli", "stream", "--provider", "coinbase",
             "--url", fire.url, "--json", "--types", "price,volume" if ticker else "volume",
             "--count", str(expected), *PRODUCTS],
            stdout=subprocess.PIPE, stderr=errors, env=env, cwd=ROOT,
        )  # fmt: skip
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        lines = first_lines = 0
        t0 = t1 = 0.0
        deadline = time.monotonic() + 120
        try:
            while lines < expected and time.monotonic() < deadline:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                now = time.perf_counter()
                if not lines:
                    t0 = now
                    first_lines = chunk.count(b"\n")
                lines += chunk.count(b"\n")
                t1 = now
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if lines != expected or proc.returncode != 0:
            errors.seek(0)
            tail = errors.read()[-600:].decode(errors="replace")
            raise RuntimeError(
                f"argus printed {lines} of {expected} lines (exit {proc.returncode}): {tail}"
            )
    return {
        "messages": expected,
        "seconds": round(t1 - t0, 3),
        "rate": (lines - first_lines) / max(1e-9, t1 - t0),
    }


# --- cryptofeed -------------------------------------------------------------------------


def cryptofeed_rate(trades: int, use_asyncio: bool = False) -> dict[str, Any]:
    with Firehose("--dialect", "advanced", "--count", str(trades)) as fire:
        args = ["--child", fire.url, "--count", str(trades)] + (
            ["--asyncio"] if use_asyncio else []
        )
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.vs_cryptofeed", *args],
            capture_output=True, text=True, cwd=ROOT, timeout=150, check=False,
        )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"cryptofeed child failed ({done.returncode}): {done.stderr[-600:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def child(url: str, count: int, use_asyncio: bool) -> None:
    """Runs in its own process: cryptofeed's Coinbase feed against the local firehose."""
    try:
        import cryptofeed.feed  # type: ignore[import-untyped]
        from cryptofeed import FeedHandler
        from cryptofeed.connection import WSAsyncConn  # type: ignore[import-untyped]
        from cryptofeed.defines import TRADES  # type: ignore[import-untyped]
        from cryptofeed.exchanges import Coinbase  # type: ignore[import-untyped]
    except ImportError as exc:
        print(json.dumps({"skipped": f"cryptofeed is not installed ({exc})"}), flush=True)
        return
    import asyncio

    if not url.startswith("ws://127.0.0.1:"):
        raise SystemExit("the cryptofeed child only connects to a loopback firehose")
    listing = {
        "products": [
            {"product_id": p, "base_currency_id": p.split("-")[0],
             "quote_currency_id": p.split("-")[1], "quote_increment": "0.01"}
            for p in PRODUCTS
        ]
    }  # fmt: skip

    class CannedRest:
        """Coinbase.http_sync: the symbol map's REST call, answered without the network."""

        def read(self, address: str, *args: Any, **kwargs: Any) -> Any:
            if address != PRODUCTS_URL:
                raise RuntimeError(f"benchmark: cryptofeed asked for {address}; no network here")
            return listing

    class LoopbackConn(WSAsyncConn):  # type: ignore[misc]
        """WSAsyncConn insists on wss://; the firehose is plain ws:// on loopback."""

        def __init__(self, address: str, conn_id: str, **kwargs: Any) -> None:
            super().__init__(address.replace("ws://", "wss://", 1), conn_id, **kwargs)
            self.address = address

    Coinbase.http_sync = CannedRest()
    Coinbase._address = lambda self: url
    cryptofeed.feed.WSAsyncConn = LoopbackConn

    config = {
        "uvloop": not use_asyncio,
        "log": {"disabled": True},
        "coinbase": {"key_id": "benchmark", "key_secret": "benchmark"},
    }
    state = {"n": 0, "t0": 0.0, "t1": 0.0}
    done = asyncio.Event()

    async def on_trade(trade: Any, receipt_timestamp: float) -> None:
        state["n"] += 1
        if state["n"] == 1:
            state["t0"] = time.perf_counter()
        elif state["n"] == count:
            state["t1"] = time.perf_counter()
            done.set()

    handler = FeedHandler(config=config)  # sets the uvloop policy unless told not to
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    feed = Coinbase(
        symbols=PRODUCTS, channels=[TRADES], callbacks={TRADES: on_trade}, config=config
    )
    handler.add_feed(feed)
    handler.run(start_loop=False, install_signal_handlers=False)
    with contextlib.suppress(TimeoutError):
        loop.run_until_complete(asyncio.wait_for(done.wait(), 120))
    elapsed = state["t1"] - state["t0"]
    result = {
        "messages": state["n"],
        "seconds": round(elapsed, 3),
        "rate": (count - 1) / elapsed if state["n"] == count and elapsed > 0 else 0.0,
        "cryptofeed": cryptofeed_version(),
        "loop": type(loop).__module__.split(".")[0],
    }
    print(json.dumps(result), flush=True)
    os._exit(0 if state["n"] == count else 1)  # skip cryptofeed's reconnecting teardown


def cryptofeed_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("cryptofeed")
    except Exception:
        return None


# --- side by side ----------------------------------------------------------------------


def compare(trades: int, rounds: int = 2, use_asyncio: bool = False) -> dict[str, Any]:
    """Rounds alternate argus and cryptofeed on the same trade count; best of each."""
    out: dict[str, Any] = {"trades": trades, "rounds": rounds}
    version = cryptofeed_version()
    argus_runs: list[float] = []
    cf_runs: list[float] = []
    for _ in range(rounds):
        argus_runs.append(argus_rate(trades, use_asyncio=use_asyncio)["rate"])
        if version is not None:
            cf_runs.append(cryptofeed_rate(trades, use_asyncio=use_asyncio)["rate"])
    out["argus_trades"] = round(max(argus_runs))
    out["argus_runs"] = [round(r) for r in argus_runs]
    if version is None:
        out["cryptofeed"] = "skipped: not installed (pip install -e '.[bench]')"
    else:
        out["cryptofeed_trades"] = round(max(cf_runs))
        out["cryptofeed_runs"] = [round(r) for r in cf_runs]
        out["ratio"] = round(max(argus_runs) / max(cf_runs), 2)
        out["cryptofeed_version"] = version
    out["argus_ticker_match_mix"] = round(
        argus_rate(trades // 2, ticker=True, use_asyncio=use_asyncio)["rate"]
    )
    out["loop"] = "asyncio" if use_asyncio else "uvloop" if _has_uvloop() else "asyncio"
    return out


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=None, help="trades per consumer and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="20,000 trades, one round")
    parser.add_argument("--asyncio", action="store_true", help="both on asyncio, not uvloop")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.count, args.asyncio)
        return
    count = args.count or (20_000 if args.quick else 100_000)
    rounds = 1 if args.quick else args.rounds
    result = compare(count, rounds, args.asyncio)
    print(json.dumps(result, indent=2))
    if "ratio" in result:
        print(
            f"argus {result['argus_trades']:,} trades/s, cryptofeed "
            f"{result['cryptofeed_trades']:,} trades/s: argus/cryptofeed = {result['ratio']}x "
            f"({result['loop']})"
        )


if __name__ == "__main__":
    main()
