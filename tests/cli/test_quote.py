"""Issue 14, item 9: ``argus quote SYMBOL...``: one row per symbol, then exit.

Real sockets against the real simulator; in-process (CliRunner) for options and
output, a real process for the pipe and the wall-clock time a user sees."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from argus_cli.cli.app import app
from argus_cli.cli.quote import QUOTE_DEFAULT_FIELDS, QUOTE_FIELDS, QuoteBook, render_quotes
from argus_cli.sim import Simulator
from tests.cli.helpers import ARGUS, ThreadedSim, argus_env

pytestmark = pytest.mark.timeout(60)

runner = CliRunner()


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    # MSFT does not trade for the first 10 minutes: a symbol that never answers
    with ThreadedSim(rate=20.0, chaos="mute=MSFT:600s") as running:
        yield running


def argv(line: str, *more: str) -> list[str]:
    """The arguments of a command line (``more`` after it)."""
    return [*line.split(), *more]


def words(text: str) -> str:
    return " ".join(text.split())


def test_two_symbols_two_rows_then_exit_0_promptly(sim: Simulator) -> None:
    started = time.monotonic()
    result = runner.invoke(app, ["quote", "AAPL", "GOOGL", "--url", sim.url])
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["symbol"] for r in rows] == ["AAPL", "GOOGL"]  # the order given
    for row in rows:
        assert list(row) == [name for name in QUOTE_FIELDS if name in row]
        assert row["source"] == "argus"
        assert row["bid"] <= row["price"] <= row["ask"]
        assert row["total_volume"] >= row["volume"] > 0
        assert row["seq"] >= 1 and row["received"] >= row["timestamp"] - 1
        assert "change" not in row
    assert elapsed < 1.0, elapsed  # 20 events/s: the first price comes within ~0.05 s


def test_piped_a_real_process_prints_json_lines_and_ends_well_under_2s(
    sim: Simulator, tmp_path: Path
) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [*ARGUS, "quote", "aapl,googl", "--url", sim.url],
        env=argus_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert [json.loads(line)["symbol"] for line in result.stdout.splitlines()] == [
        "AAPL",
        "GOOGL",
    ]
    assert elapsed < 2.0, elapsed  # interpreter start included


def test_csv_default_fields_and_fields_with_iso_time(sim: Simulator) -> None:
    result = runner.invoke(app, ["quote", "AAPL", "GOOGL", "--url", sim.url, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == list(QUOTE_DEFAULT_FIELDS)
    assert [r[0] for r in rows[1:]] == ["AAPL", "GOOGL"]
    assert all(float(r[3]) <= float(r[2]) <= float(r[4]) for r in rows[1:])

    result = runner.invoke(
        app,
        argv(
            "quote AAPL --format tsv --fields symbol,price,timestamp --time iso", "--url", sim.url
        ),
    )
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    assert header == "symbol\tprice\ttimestamp"
    symbol, price, stamp = row.split("\t")
    assert symbol == "AAPL" and float(price) > 0
    assert stamp.endswith("Z") and stamp[10] == "T" and len(stamp) == 27


def test_json_fields(sim: Simulator) -> None:
    result = runner.invoke(app, ["quote", "GOOGL", "--url", sim.url, "--fields", "price,symbol"])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    assert list(json.loads(line)) == ["price", "symbol"]


def test_a_symbol_that_never_answers_exits_1_after_the_rows_that_came(sim: Simulator) -> None:
    started = time.monotonic()
    result = runner.invoke(app, ["quote", "AAPL", "MSFT", "--url", sim.url, "--timeout", "0.5"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert [json.loads(line)["symbol"] for line in result.stdout.splitlines()] == ["AAPL"]
    assert "argus: no price for MSFT within --timeout 0.5s" in result.stderr
    assert 0.5 <= elapsed < 1.5, elapsed


def test_a_refused_symbol_is_given_up_on_at_once(sim: Simulator) -> None:
    started = time.monotonic()
    result = runner.invoke(app, ["quote", "AAPL", "XYZQ", "--url", sim.url])
    elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert [json.loads(line)["symbol"] for line in result.stdout.splitlines()] == ["AAPL"]
    assert "XYZQ: refused by the server (invalid_symbol)" in result.stderr
    assert "argus: no price for XYZQ: refused by the server" in result.stderr
    assert elapsed < 1.5, elapsed  # not the 10 s --timeout


def test_no_connection_within_the_timeout_exits_5(unused_port: int) -> None:
    url = f"ws://127.0.0.1:{unused_port}/ws"
    result = runner.invoke(app, ["quote", "AAPL", "--url", url, "--timeout", "0.3"])
    assert result.exit_code == 5, result.output
    assert result.stdout == ""
    assert url in result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--json", "--format", "csv"], "--json and --format csv cannot be used together"),
        (["--format", "table", "--fields", "price"], "--fields and --format table cannot"),
        (["--fields", "bids"], "unknown field 'bids': the fields are " + ", ".join(QUOTE_FIELDS)),
        (["--format", "none"], "'none' is not one of auto, table, jsonl, csv, tsv"),
        (["--timeout", "0"], "0 is too short"),
        (["--demo", "--url", "ws://127.0.0.1:1/ws"], "--demo and --url cannot be used together"),
        (["--demo", "--provider", "kraken"], "--demo and --provider cannot be used together"),
    ],
)
def test_bad_or_conflicting_options_exit_2(args: list[str], said: str) -> None:
    result = runner.invoke(app, ["quote", "AAPL", *args])
    assert result.exit_code == 2, result.output
    assert said in words(result.output)


def test_demo_needs_no_server() -> None:
    result = runner.invoke(app, ["quote", "--demo", "AAPL", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].startswith("AAPL,argus,")


def test_the_book_keeps_the_latest_values_and_orders_rows_as_given() -> None:
    book = QuoteBook([("argus", "MSFT"), ("argus", "AAPL")])
    book.update(
        [
            {"type": "volume", "symbol": "AAPL", "source": "argus", "volume": 5, "seq": 1},
            {"type": "price", "symbol": "AAPL", "source": "argus", "bid": 1.0, "seq": 2},
            {"type": "price", "symbol": "AAPL", "source": "argus", "price": 1.5, "seq": 3},
            {"type": "price", "symbol": "TSLA", "source": "argus", "price": 9.0},
            {"type": "price", "symbol": "MSFT", "source": "kraken", "price": 9.0},
        ]
    )
    assert book.pending() == [("argus", "MSFT")]
    assert book.rows() == [
        {"symbol": "AAPL", "source": "argus", "price": 1.5, "bid": 1.0, "volume": 5, "seq": 3}
    ]


def test_the_table_shows_last_bid_ask_volume_and_time() -> None:
    from rich.console import Console

    rows = [
        {"symbol": "AAPL", "source": "argus", "price": 1234.5, "bid": 1234.25, "ask": 1234.75}
        | {"total_volume": 12345, "timestamp": 1764000000.123456},
        {"symbol": "SHIB-USD", "source": "coinbase", "price": 0.00001234, "bid": 0.5},
    ]
    console = Console(width=80, record=True)
    console.print(render_quotes(rows))
    text = console.export_text()
    assert "Source" in text and "Time (UTC)" in text
    assert "1,234.50" in text and "12,345" in text and "16:00:00.123" in text
    assert "0.00001234" in text and " 0.50 " in text and "…" not in text


def test_symbols_from_a_file(sim: Simulator, tmp_path: Path) -> None:
    """The symbol sources `stream` takes (here ``@FILE``) work for quote too."""
    listing = tmp_path / "mine.txt"
    listing.write_text("GOOGL\naapl\n")
    result = runner.invoke(app, ["quote", f"@{listing}", "--url", sim.url, "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert [line.split(",")[0] for line in result.stdout.splitlines()[1:]] == ["GOOGL", "AAPL"]
