"""``--provider``, ``PROVIDER:SYMBOL``, the built-in provider profiles and their
settings, through the real ``argus`` command against fake exchanges and the
simulator on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from argus_cli.config import resolve
from argus_cli.exceptions import ProfileError
from argus_cli.protocol.providers import NAMES, facts, split_symbol
from argus_cli.testing.fakes.alpaca import FakeAlpaca
from argus_cli.testing.fakes.binance import FakeBinance
from argus_cli.testing.fakes.coinbase import FakeCoinbase
from argus_cli.testing.fakes.finnhub import FakeFinnhub
from argus_cli.testing.fakes.kraken import FakeKraken
from argus_cli.testing.lines import parse_lines
from tests.cli.helpers import (
    ARGUS,
    Threaded,
    ThreadedSim,
    argus_env,
    run_argus,
    user_profile,
    wait_for,
)


def contiguous_trades(events: list[dict[str, Any]]) -> None:
    """Volume seqs grow by exactly 1 per (source, symbol): no duplicate, no hole."""
    last: dict[tuple[str, str], int] = {}
    for event in events:
        if event["type"] == "volume" and "seq" in event:
            key = (event["source"], event["symbol"])
            if key in last:
                assert event["seq"] == last[key] + 1, (key, last[key], event["seq"])
            last[key] = event["seq"]


# --- settings (pure) ------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in NAMES if n != "argus"])
def test_each_provider_has_a_built_in_profile_with_its_public_url(name: str) -> None:
    settings = resolve(name, env={"ARGUS_API_KEY": "k", "ARGUS_API_SECRET": "s"})
    assert settings.values["connection.provider"] == name
    assert settings.values["connection.url"] == facts(name).url
    assert settings.values["connection.url"].startswith("wss://")  # TLS, verified


def test_a_named_provider_starts_from_its_profile_and_a_flag_url_wins() -> None:
    settings = resolve(None, flags={"connection.provider": "kraken"}, env={})
    assert settings.profile == "kraken"
    assert settings.values["connection.url"] == "wss://ws.kraken.com/v2"
    flagged = resolve(
        None, flags={"connection.provider": "kraken", "connection.url": "ws://127.0.0.1:9/v2"}
    )
    assert flagged.values["connection.url"] == "ws://127.0.0.1:9/v2"
    from_env = resolve(None, env={"ARGUS_PROVIDER": "coinbase"})
    assert from_env.values["connection.url"] == "wss://ws-feed.exchange.coinbase.com"


def test_another_profile_with_a_provider_gets_the_provider_url() -> None:
    """--profile prod --provider kraken must never stream kraken from prod's argus server."""
    settings = resolve("prod", flags={"connection.provider": "kraken"}, env={})
    assert settings.values["connection.url"] == "wss://ws.kraken.com/v2"
    assert settings.origins["connection.url"] == "provider kraken"
    assert settings.values["connection.reconnect_delay"] == 2.0  # prod's policy stays


def test_an_unknown_provider_names_the_known_ones() -> None:
    with pytest.raises(ProfileError, match=r"unknown provider 'nasdaq'.*coinbase, binance"):
        resolve("dev", flags={"connection.provider": "nasdaq"}, env={})


def test_provider_prefixes_are_lower_case_names() -> None:
    assert split_symbol("kraken:BTC/USD") == ("kraken", "BTC/USD")
    assert split_symbol("BINANCE:BTCUSDT") == (None, "BINANCE:BTCUSDT")  # a Finnhub symbol
    assert split_symbol("nasdaq:AAPL") == (None, "nasdaq:AAPL")
    assert split_symbol("AAPL") == (None, "AAPL")


def test_the_secret_is_redacted_like_the_key() -> None:
    settings = resolve(
        "alpaca", env={"ARGUS_API_KEY": "id-123456", "ARGUS_API_SECRET": "sec-98765"}
    )
    rows = {key: shown for key, shown, _ in settings.redacted()}
    assert rows["connection.api_key"] == "***" and rows["connection.api_secret"] == "***"
    config = settings.connection_config()
    assert "sec-98765" not in repr(config) and "id-123456" not in repr(config)


# --- through the command ----------------------------------------------------------------


def test_stream_provider_coinbase_against_a_fake(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    with Threaded(FakeCoinbase(products=("BTC-USD", "ETH-USD"))) as fake:
        args = ["stream", "--provider", "coinbase", "--url", fake.url, "btc-usd", "ETH-USD"]
        result = run_argus([*args, "--json", "--count", "60"], env)
    assert result.returncode == 0, result.stderr
    events = parse_lines(result.stdout)
    assert len(events) >= 60
    assert {e["source"] for e in events} == {"coinbase"}
    assert {e["symbol"] for e in events} <= {"BTC-USD", "ETH-USD"}
    assert {"price", "volume"} <= {e["type"] for e in events}
    contiguous_trades(events)
    assert not [e for e in events if e["type"] == "gap"]


def test_an_unknown_product_is_named_and_the_others_stream(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    with Threaded(FakeCoinbase(products=("BTC-USD",))) as fake:
        args = ["stream", "--provider", "coinbase", "--url", fake.url, "BTC-USD", "NOPE-USD"]
        result = run_argus([*args, "--json", "--count", "20"], env)
    assert result.returncode == 0, result.stderr
    assert "NOPE-USD" in result.stderr
    assert {e["symbol"] for e in parse_lines(result.stdout)} == {"BTC-USD"}


def test_only_unknown_products_exit_1(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    with Threaded(FakeCoinbase(products=("BTC-USD",))) as fake:
        args = ["stream", "--provider", "coinbase", "--url", fake.url, "NOPE-USD", "--json"]
        result = run_argus([*args, "--duration", "10"], env)
    assert result.returncode == 1, result.stderr
    assert "NOPE-USD" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_several_providers_in_one_run_one_json_stream(tmp_path: Path) -> None:
    """``AAPL coinbase:BTC-USD``: AAPL from the profile's provider (argus), BTC-USD from
    coinbase, each over its own connection; the user profiles point them at 127.0.0.1."""
    env = argus_env(tmp_path)
    with ThreadedSim() as sim, Threaded(FakeCoinbase(products=("BTC-USD",))) as fake:
        user_profile(env, "dev", f"connection:\n  url: {sim.url}\n")
        user_profile(env, "coinbase", f"connection:\n  provider: coinbase\n  url: {fake.url}\n")
        result = run_argus(["stream", "AAPL", "coinbase:BTC-USD", "--json", "--count", "200"], env)
    assert result.returncode == 0, result.stderr
    events = parse_lines(result.stdout)
    by_source: dict[str, set[str]] = defaultdict(set)
    for event in events:
        by_source[event["source"]].add(event["symbol"])
    assert by_source == {"argus": {"AAPL"}, "coinbase": {"BTC-USD"}}
    contiguous_trades(events)


def test_url_with_several_providers_is_a_usage_error(tmp_path: Path) -> None:
    result = run_argus(
        ["stream", "--url", "ws://127.0.0.1:9/ws", "AAPL", "kraken:BTC/USD", "--json"],
        argus_env(tmp_path),
    )
    assert result.returncode == 2
    assert "--url" in result.stderr and "several providers" in result.stderr


def test_symbols_of_a_provider_that_cannot_list_them(tmp_path: Path) -> None:
    result = run_argus(["symbols", "--provider", "coinbase"], argus_env(tmp_path))
    assert result.returncode == 2
    assert "coinbase does not list its symbols" in result.stderr


def test_profiles_lists_the_providers(tmp_path: Path) -> None:
    env = argus_env(tmp_path, COLUMNS="200")
    result = run_argus(["profiles"], env)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:-1]}
    for name in NAMES:
        if name != "argus":
            assert rows[name] == name
    assert rows["dev"] == "argus"
    shown = run_argus(["profiles", "show", "coinbase"], env)
    assert "connection.provider" in shown.stdout and "coinbase" in shown.stdout


# --- keyed providers through the command -----------------------------------------------

ALPACA_KEY, ALPACA_SECRET = "PKCLITESTKEY01", "cli-test-secret-0123456789"


def test_stream_provider_alpaca_with_key_id_and_secret(tmp_path: Path) -> None:
    env = argus_env(tmp_path, ARGUS_API_KEY=ALPACA_KEY, ARGUS_API_SECRET=ALPACA_SECRET)
    with Threaded(
        FakeAlpaca(symbols=("AAPL", "MSFT"), key=ALPACA_KEY, secret=ALPACA_SECRET)
    ) as fake:
        args = ["stream", "--provider", "alpaca", "--url", fake.url, "AAPL", "msft"]
        result = run_argus([*args, "--json", "--count", "30"], env)
    assert result.returncode == 0, result.stderr
    events = parse_lines(result.stdout)
    assert {e["source"] for e in events} == {"alpaca"}
    assert {e["symbol"] for e in events} <= {"AAPL", "MSFT"}
    assert all("seq" not in e for e in events)  # Alpaca trade ids are not contiguous
    assert ALPACA_SECRET not in result.stderr and ALPACA_KEY not in result.stderr


def test_alpaca_refused_key_exits_4_at_once(tmp_path: Path) -> None:
    env = argus_env(tmp_path, ARGUS_API_KEY=ALPACA_KEY, ARGUS_API_SECRET="wrong-secret-000")
    with Threaded(FakeAlpaca(key=ALPACA_KEY, secret=ALPACA_SECRET)) as fake:
        args = ["stream", "--provider", "alpaca", "--url", fake.url, "AAPL", "--json"]
        result = run_argus(args, env)
        connections = fake.connections
    assert result.returncode == 4, result.stderr
    assert "402" in result.stderr and "Traceback" not in result.stderr
    assert "wrong-secret-000" not in result.stderr and ALPACA_KEY not in result.stderr
    assert connections == 1  # never retried


def test_alpaca_without_a_secret_says_what_to_set(tmp_path: Path) -> None:
    env = argus_env(tmp_path, ARGUS_API_KEY=ALPACA_KEY)
    result = run_argus(["stream", "--provider", "alpaca", "AAPL", "--json"], env)
    assert result.returncode == 3, result.stderr
    assert "ARGUS_API_SECRET" in result.stderr and "Traceback" not in result.stderr


def test_stream_provider_finnhub_with_its_token(tmp_path: Path) -> None:
    token = "fh-cli-token-0123456789"
    env = argus_env(tmp_path, ARGUS_API_KEY=token)
    with Threaded(FakeFinnhub(symbols=("AAPL", "BINANCE:BTCUSDT"), tokens=(token,))) as fake:
        args = ["stream", "--provider", "finnhub", "--url", fake.url, "AAPL", "BINANCE:BTCUSDT"]
        result = run_argus([*args, "--json", "--count", "30"], env)
    assert result.returncode == 0, result.stderr
    events = parse_lines(result.stdout)
    assert {e["source"] for e in events} == {"finnhub"}
    assert {e["symbol"] for e in events} <= {"AAPL", "BINANCE:BTCUSDT"}
    assert "volume" in {e["type"] for e in events}
    assert token not in result.stderr


def test_finnhub_refused_token_exits_4(tmp_path: Path) -> None:
    env = argus_env(tmp_path, ARGUS_API_KEY="not-the-token-000")
    with Threaded(FakeFinnhub(tokens=("the-token",))) as fake:
        result = run_argus(["stream", "--provider", "finnhub", "--url", fake.url, "AAPL"], env)
    assert result.returncode == 4, result.stderr
    assert "not-the-token-000" not in result.stderr


def test_finnhub_books_are_refused_naming_what_it_offers(tmp_path: Path) -> None:
    env = argus_env(tmp_path, ARGUS_API_KEY="tok")
    args = ["stream", "--provider", "finnhub", "AAPL", "--types", "orderbook", "--json"]
    result = run_argus(args, env)
    assert result.returncode == 2
    assert "finnhub does not offer orderbook" in result.stderr


# --- Binance and Kraken through the command: holes, drops, books ------------------------


def stream_when_subscribed(
    args: list[str], env: dict[str, str], fake: Any, subscribed: Any, seconds: float = 4.0
) -> tuple[list[dict[str, Any]], str]:
    """Run ``argus stream ... --json`` against a paused fake; unpause it once the
    command has subscribed (``subscribed()``), so every trade happens in view."""
    proc = subprocess.Popen(
        [*ARGUS, "stream", *args, "--json", "--duration", str(seconds)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(subscribed, timeout=20)
        fake.paused = False
        out, err = proc.communicate(timeout=seconds + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    return parse_lines(out), err


def trade_holes(events: list[dict[str, Any]], source: str) -> dict[str, set[int]]:
    """Trade ids missing between the first and last volume line of each symbol."""
    seen: dict[str, set[int]] = defaultdict(set)
    for event in events:
        if event["type"] == "volume" and event["source"] == source:
            assert event["seq"] not in seen[event["symbol"]], "a trade printed twice"
            seen[event["symbol"]].add(event["seq"])
    return {s: set(range(min(ids), max(ids) + 1)) - ids for s, ids in seen.items()}


def gap_ids(events: list[dict[str, Any]]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = defaultdict(set)
    for event in events:
        if event["type"] == "gap":
            out[event["symbol"]].update(range(event["from_seq"], event["to_seq"] + 1))
    return out


def test_binance_trades_books_and_a_hole_through_the_command(tmp_path: Path) -> None:
    fake_binance = FakeBinance(symbols=("BTCUSDT", "ETHUSDT"), paused=True)
    with Threaded(fake_binance) as fake:
        hole = {fake.last_trade_id("BTCUSDT") + 5, fake.last_trade_id("BTCUSDT") + 6}
        fake.drop_trades = {"BTCUSDT": hole}
        args = ["--provider", "binance", "--url", fake.url, "--rest-url", fake.rest_url]
        args += ["btcusdt", "ETHUSDT", "--types", "price,volume,orderbook"]

        def subscribed() -> bool:
            frames = [str(f) for frames in fake.received for f in frames]
            depth = sum("depth" in r for r in fake.rest_requests)
            trades = {s for s in ("btcusdt@trade", "ethusdt@trade") if any(s in f for f in frames)}
            return depth >= 2 and len(trades) == 2

        events, _ = stream_when_subscribed(args, argus_env(tmp_path), fake, subscribed)
    assert {e["source"] for e in events} == {"binance"}
    kinds = {e["type"] for e in events}
    assert {"price", "volume", "orderbook", "gap"} <= kinds
    assert trade_holes(events, "binance") == {"BTCUSDT": hole, "ETHUSDT": set()}
    assert gap_ids(events) == {"BTCUSDT": hole}  # the gap line is in trade-id space
    assert all(e["timestamp"] > 1e9 for e in events if e["type"] == "volume")


def test_binance_unknown_symbol_is_named_and_the_others_stream(tmp_path: Path) -> None:
    with Threaded(FakeBinance(symbols=("BTCUSDT",))) as fake:
        args = ["stream", "--provider", "binance", "--url", fake.url, "--rest-url", fake.rest_url]
        result = run_argus(
            [*args, "BTCUSDT", "NOPEUSDT", "--json", "--count", "30"], argus_env(tmp_path)
        )
    assert result.returncode == 0, result.stderr
    assert "NOPEUSDT" in result.stderr
    assert {e["symbol"] for e in parse_lines(result.stdout)} == {"BTCUSDT"}


def test_kraken_books_survive_a_corrupted_checksum_and_trades_a_drop(tmp_path: Path) -> None:
    fake_kraken = FakeKraken(paused=True, corrupt_checksum_after=20, abort_after=150)
    with Threaded(fake_kraken) as fake:
        args = ["--provider", "kraken", "--url", fake.url, "BTC/USD", "eth/usd"]
        args += ["--types", "price,volume,orderbook"]

        def subscribed() -> bool:
            channels = {str(f.get("params", {}).get("channel")) for f in fake.requests}
            return {"ticker", "trade", "book"} <= channels

        events, err = stream_when_subscribed(args, argus_env(tmp_path), fake, subscribed)
        corrupted, aborted = fake.corrupted, fake.aborted
    assert corrupted and aborted == 1  # both faults happened while argus watched
    assert "checksum" in err
    assert {e["source"] for e in events} == {"kraken"}
    books = [e for e in events if e["type"] == "orderbook"]
    assert {b["symbol"] for b in books} == {"BTC/USD", "ETH/USD"}  # check_event: never crossed
    holes = trade_holes(events, "kraken")
    assert all(not ids or ids <= gap_ids(events)[s] for s, ids in holes.items())


def test_kraken_xbt_is_refused_by_name(tmp_path: Path) -> None:
    with Threaded(FakeKraken()) as fake:
        args = ["stream", "--provider", "kraken", "--url", fake.url, "BTC/USD", "XBT/USD"]
        result = run_argus([*args, "--json", "--count", "20"], argus_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "XBT/USD" in result.stderr
    assert {e["symbol"] for e in parse_lines(result.stdout)} == {"BTC/USD"}


def test_symbols_of_binance_come_from_its_rest_api(tmp_path: Path) -> None:
    with Threaded(FakeBinance(symbols=("BTCUSDT", "ETHUSDT"))) as fake:
        args = ["symbols", "--provider", "binance", "--url", fake.url, "--rest-url", fake.rest_url]
        listed = run_argus(args, argus_env(tmp_path))
        as_json = run_argus([*args, "--json"], argus_env(tmp_path))
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) == {"BTCUSDT", "ETHUSDT"}
    assert set(json.loads(as_json.stdout)) == {"BTCUSDT", "ETHUSDT"}


def test_the_key_is_not_sent_to_a_shipped_example_host(tmp_path: Path) -> None:
    env = argus_env(tmp_path, ARGUS_API_KEY="sk-live-0123456789")
    result = run_argus(["stream", "-p", "hft", "AAPL", "--json"], env, timeout=20)
    assert result.returncode == 3, result.stderr
    assert "example server" in result.stderr and "--url" in result.stderr
    assert "sk-live-0123456789" not in result.stderr and "Traceback" not in result.stderr
