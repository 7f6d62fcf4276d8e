"""``make live``: a few seconds from each real provider, where the internet is reachable.

Not part of ``make test`` (that never leaves 127.0.0.1). For each keyless
provider (Coinbase, Binance, Kraken), and for Alpaca's test feed and Finnhub
when their keys are in the environment, it runs the real command::

    argus stream --provider NAME SYMBOL... --json --duration SECONDS

and says per provider: connected, N messages, every line valid (the
normalized-event contract, ``argus_cli.events.check_event``), or why not. A
provider whose host cannot be reached is a clear skip, never a failure: the
exit code is 1 only when a reachable provider misbehaved.

Keys: ``ALPACA_KEY_ID`` + ``ALPACA_SECRET_KEY`` (the ``/v2/test`` feed, symbol
FAKEPACA, streams at any hour), ``FINNHUB_TOKEN``.

    python -m benchmarks.live [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from argus_cli.testing.lines import MalformedLine, parse_lines

__all__ = ["Check", "main"]


@dataclass(frozen=True)
class Check:
    provider: str
    symbols: tuple[str, ...]
    url: str | None = None  # None: the built-in profile's
    env: dict[str, str] = field(default_factory=dict)  # what the run needs (keys)
    needs: tuple[str, ...] = ()  # environment variables without which it is skipped


CHECKS = (
    Check("coinbase", ("BTC-USD", "ETH-USD")),
    Check("binance", ("BTCUSDT", "ETHUSDT")),
    Check("kraken", ("BTC/USD", "ETH/USD")),
    Check(
        "alpaca",
        ("FAKEPACA",),
        url="wss://stream.data.alpaca.markets/v2/test",
        needs=("ALPACA_KEY_ID", "ALPACA_SECRET_KEY"),
    ),
    Check("finnhub", ("BINANCE:BTCUSDT", "AAPL"), needs=("FINNHUB_TOKEN",)),
)
PUBLIC_URLS = {
    "coinbase": "wss://ws-feed.exchange.coinbase.com",
    "binance": "wss://stream.binance.com:9443/ws",
    "kraken": "wss://ws.kraken.com/v2",
    "alpaca": "wss://stream.data.alpaca.markets/v2/test",
    "finnhub": "wss://ws.finnhub.io",
}


def reachable(url: str, timeout: float = 3.0) -> str | None:
    """None when a TCP connection to ``url``'s host and port opens, else the reason."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot reach {host}:{port} ({exc.strerror or exc})"


def run(check: Check, seconds: float) -> tuple[str, bool]:
    """(one line to print, ok)."""
    missing = [name for name in check.needs if not os.environ.get(name)]
    if missing:
        return f"skip  {check.provider}: set {' and '.join(missing)} to check it", True
    url = check.url or PUBLIC_URLS[check.provider]
    reason = reachable(url)
    if reason:
        return f"skip  {check.provider}: no network ({reason})", True
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    if check.provider == "alpaca":
        env.update(ARGUS_API_KEY=os.environ["ALPACA_KEY_ID"])
        env.update(ARGUS_API_SECRET=os.environ["ALPACA_SECRET_KEY"])
    if check.provider == "finnhub":
        env.update(ARGUS_API_KEY=os.environ["FINNHUB_TOKEN"])
    args = [sys.executable, "-m", "argus_cli", "stream", "--provider", check.provider]
    if check.url:
        args += ["--url", check.url]
    args += [*check.symbols, "--json", "--duration", f"{seconds:g}"]
    try:
        done = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    except subprocess.TimeoutExpired:
        return f"FAIL  {check.provider}: did not stop within {seconds + 30:g}s", False
    first_error = next(iter(done.stderr.splitlines()), "")
    if done.returncode != 0:
        return f"FAIL  {check.provider}: exit {done.returncode}: {first_error}", False
    try:
        events = parse_lines(done.stdout)
    except MalformedLine as exc:
        return f"FAIL  {check.provider}: {exc}", False
    if not events:
        return f"FAIL  {check.provider}: connected, but no message in {seconds:g}s", False
    kinds = sorted({e["type"] for e in events})
    return (
        f"ok    {check.provider}: connected, {len(events)} messages ({', '.join(kinds)}), "
        "every line valid",
        True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    options = parser.parse_args(argv)
    ok = True
    for check in CHECKS:
        line, passed = run(check, options.seconds)
        print(line, flush=True)
        ok = ok and passed
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
