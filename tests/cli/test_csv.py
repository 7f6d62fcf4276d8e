"""Issue 14, item 10, for ``argus stream``: ``--format csv|tsv``, ``--fields``, ``--time``.

Real sockets against the real simulator; in-process (CliRunner) except where a real
process and a real pipe are the point (the same stream as JSON lines, ``| head``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from argus_cli.cli.app import app
from argus_cli.sim import Simulator
from argus_cli.sinks.delimited import DEFAULT_FIELDS, EVENT_FIELDS
from tests.cli.helpers import ARGUS, ThreadedSim, argus_env

pytestmark = pytest.mark.timeout(60)

runner = CliRunner()


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with ThreadedSim(rate=100.0) as running:
        yield running


def argv(line: str, *more: str) -> list[str]:
    """The arguments of a command line (``more`` after it)."""
    return [*line.split(), *more]


def words(text: str) -> str:
    return " ".join(text.split())


def iso(text: str) -> float:
    parsed = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def test_csv_reads_back_to_the_values_of_the_json_lines_of_the_same_stream(
    sim: Simulator, tmp_path: Path
) -> None:
    """Two real processes on one simulator at once: every event both saw (same type,
    symbol and seq) has the same value in every field, CSV against JSON lines."""
    env = argus_env(tmp_path)
    common = ["stream", "AAPL", "MSFT", "--url", sim.url, "--count", "150"]
    procs = [
        subprocess.Popen(
            [*ARGUS, *common, *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for extra in (["--json"], ["--format", "csv", "--fields", ",".join(EVENT_FIELDS)])
    ]
    (json_out, json_err), (csv_out, csv_err) = (p.communicate(timeout=30) for p in procs)
    assert [p.returncode for p in procs] == [0, 0], json_err + csv_err
    assert csv_err == ""
    lines = [json.loads(line) for line in json_out.splitlines()]
    by_key = {(m["type"], m["symbol"], m["seq"]): m for m in lines}
    rows = list(csv.DictReader(io.StringIO(csv_out)))
    assert len(rows) == 150
    assert csv_out.splitlines()[0] == ",".join(EVENT_FIELDS)
    both = 0
    for row in rows:
        line = by_key.get((row["type"], row["symbol"], int(row["seq"])))
        if line is None:
            continue
        both += 1
        for name in EVENT_FIELDS:
            if name == "received":  # each client's own receive time
                continue
            if name not in line:
                assert row[name] == "", name
            elif isinstance(line[name], str):
                assert row[name] == line[name]
            else:
                assert float(row[name]) == line[name], name
                assert type(json.loads(row[name])) is type(line[name]), name  # 500, not 500.0
    assert both >= 20, both


def test_csv_header_once_default_fields_and_count(sim: Simulator) -> None:
    result = runner.invoke(
        app, ["stream", "AAPL", "GOOGL", "--url", sim.url, "--format", "csv", "--count", "12"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ",".join(DEFAULT_FIELDS)
    assert lines.count(lines[0]) == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 12
    assert {r["type"] for r in rows} <= {"price", "volume"}
    assert all(r["source"] == "argus" and r["symbol"] in ("AAPL", "GOOGL") for r in rows)
    prices = [r for r in rows if r["type"] == "price"]
    assert prices and all(float(r["bid"]) <= float(r["price"]) <= float(r["ask"]) for r in prices)
    assert all(r["price"] == "" for r in rows if r["type"] == "volume")


def test_a_field_with_a_comma_is_quoted(sim: Simulator) -> None:
    """An order book's levels are one cell, JSON text with commas: quoted (RFC 4180)."""
    result = runner.invoke(
        app,
        argv(
            "stream AAPL --types orderbook --format csv --fields symbol,bids,asks --count 2",
            "--url",
            sim.url,
        ),
    )
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[1]
    assert first.startswith('AAPL,"[[') and first.endswith(']]"')
    rows = list(csv.reader(io.StringIO(result.stdout)))[1:]
    assert len(rows) == 2
    for _, bids, asks in rows:
        levels = json.loads(bids), json.loads(asks)
        assert levels[0] and levels[1] and levels[0][0][0] < levels[1][0][0]


def test_tsv_and_time_iso(sim: Simulator) -> None:
    started = time.time()
    result = runner.invoke(
        app,
        argv(
            "stream AAPL --format tsv --time iso --count 6",
            "--fields=symbol,price,timestamp,received",
            f"--url={sim.url}",
        ),
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "symbol\tprice\ttimestamp\treceived"
    assert len(lines) == 7
    for line in lines[1:]:
        symbol, _, stamp, received = line.split("\t")
        assert symbol == "AAPL"
        assert stamp.endswith("Z") and len(stamp) == len("2026-11-29T14:03:07.123456Z")
        assert started - 5 < iso(stamp) <= iso(received) + 1
        assert started - 1 < iso(received) < time.time() + 1


def test_fields_and_time_with_json_lines(sim: Simulator) -> None:
    result = runner.invoke(
        app,
        argv(
            "stream AAPL --json --fields symbol,price,received --time iso --count 4",
            "--url",
            sim.url,
        ),
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 4
    for line in lines:
        assert set(line) <= {"symbol", "price", "received"}
        assert line["symbol"] == "AAPL" and line["received"].endswith("Z")
    assert any("price" in line for line in lines)  # volume lines have no price: omitted
    first_price = next(line for line in lines if "price" in line)
    assert list(first_price) == ["symbol", "price", "received"]


def test_pipe_to_head_exits_0(sim: Simulator, tmp_path: Path) -> None:
    result = subprocess.run(
        f"{sys.executable} -m argus_cli stream AAPL --url {sim.url} --format csv | head -2; "
        'echo "status=${PIPESTATUS[0]}"',
        shell=True,
        executable="/bin/bash",
        env=argus_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    lines = result.stdout.splitlines()
    assert lines[0] == ",".join(DEFAULT_FIELDS)
    assert lines[1].startswith("price,argus,AAPL,") or lines[1].startswith("volume,argus,AAPL,")
    assert lines[-1] == "status=0" and len(lines) == 3
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--format", "csv", "--fields", "symbol,prise"],
            "Invalid value for '--fields': unknown field 'prise': the fields are "
            + ", ".join(EVENT_FIELDS),
        ),
        (["--json", "--format", "csv"], "--json and --format csv cannot be used together"),
        (["--json", "--format", "tsv"], "--json and --format tsv cannot be used together"),
        (["--format", "table", "--fields", "symbol"], "--fields and --format table cannot"),
        (["--format", "table", "--time", "iso"], "--time and --format table cannot"),
        (["--format", "none", "--fields", "symbol"], "--fields and --format none cannot"),
        (["--format", "csv", "--time", "local"], "'local' is not one of iso, epoch"),
        (["--format", "xml"], "'xml' is not one of auto, table, jsonl, csv, tsv, none"),
    ],
)
def test_bad_or_conflicting_options_exit_2(args: list[str], said: str) -> None:
    result = runner.invoke(app, ["stream", "AAPL", "--url", "ws://127.0.0.1:1/ws", *args])
    assert result.exit_code == 2, result.output
    assert said in words(result.output)


def test_fields_on_a_terminal_name_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--format auto`` on a terminal is the table: ``--fields`` says how to get lines."""
    from argus_cli.cli import formats

    monkeypatch.setattr(formats.sys.stdout, "isatty", lambda: True, raising=False)
    with pytest.raises(Exception) as caught:
        formats.choose_format(
            json_=False, format_="auto", fields="symbol", time_=None, valid_fields=EVENT_FIELDS
        )
    assert "--fields and the table cannot be used together" in str(caught.value)
    assert "add --json, --format csv or --format tsv" in str(caught.value)


def test_help_lists_the_formats_and_options() -> None:
    result = runner.invoke(app, ["stream", "-h"])
    text: Any = words(result.output)
    assert "csv, tsv" in text and "--fields" in text and "--time" in text
