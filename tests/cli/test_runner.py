"""Parsing and JSON paths through typer's CliRunner (in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from argus_cli import __version__
from argus_cli.cli.app import app
from argus_cli.testing.lines import parse_lines
from tests.cli.helpers import ThreadedSim

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"argus {__version__}"


def test_help_lists_commands_and_exit_codes() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("stream", "stats", "serve", "symbols", "profiles"):
        assert command in result.stdout
    stream_help = runner.invoke(app, ["stream", "--help"])
    assert "130 interrupted" in " ".join(stream_help.stdout.split())
    for option in ("--profile", "--types", "--frequency", "--count", "--duration", "--demo"):
        assert option in stream_help.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["stream"],
        ["stream", "AAPL", "--types", "trades"],
        ["stream", "AAPL", "--format", "xml"],
        ["stream", "AAPL", "--frequency", "2s"],
        ["stream", "AAPL", "--count", "0"],
        ["stream", "AAPL", "--min-price", "10", "--max-price", "5"],
        ["stream", "AA PL!"],
        ["stream", "AAPL", "--bogus"],
        ["serve", "--chaos", "explode=1"],
        ["serve", "--port", "70000"],
        ["stats", "AAPL"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output


def test_invalid_config_exits_3_naming_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("connection:\n  timeout: soon\n  speed: 11\n")
    result = runner.invoke(app, ["stream", "AAPL", "--config", str(bad)])
    assert result.exit_code == 3
    assert str(bad) in result.stderr
    assert "connection.timeout" in result.stderr and "connection.speed" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_profile_exits_3() -> None:
    result = runner.invoke(app, ["stream", "AAPL", "--profile", "nope"])
    assert result.exit_code == 3 and "unknown profile" in result.stderr


def test_stream_json_lines_and_count() -> None:
    with ThreadedSim() as sim:
        result = runner.invoke(
            app, ["stream", "AAPL", "msft", "--url", sim.url, "--json", "--count", "10"]
        )
    assert result.exit_code == 0, result.stderr
    lines = parse_lines(result.stdout)
    assert len(lines) == 10
    for msg in lines:
        assert msg["type"] in ("price", "volume")
        assert msg["symbol"] in ("AAPL", "MSFT")
        assert msg["source"] == "argus" and isinstance(msg["received"], float)
        assert {"sub", "timestamp", "seq"} <= set(msg)


def test_stream_types_frequency_and_filters() -> None:
    with ThreadedSim(rate=100) as sim:
        result = runner.invoke(
            app,
            ["stream", "AAPL", "--url", sim.url, "--types", "orderbook", "--count", "3"],
        )
        assert result.exit_code == 0, result.stderr
        assert {m["type"] for m in parse_lines(result.stdout)} == {"orderbook"}
        result = runner.invoke(
            app,
            ["stream", "AAPL", "--url", sim.url, "--frequency", "1s", "--duration", "1.5"],
        )
        assert result.exit_code == 0, result.stderr
        prices = parse_lines(result.stdout)
        assert 1 <= len([m for m in prices if m["type"] == "price"]) <= 2
        result = runner.invoke(
            app,
            ["stream", "AAPL", "--url", sim.url, "--min-price", "1000000", "--duration", "0.5"],
        )
        assert result.exit_code == 0 and result.stdout == ""


def test_unknown_symbol_is_reported_and_others_continue() -> None:
    with ThreadedSim() as sim:
        result = runner.invoke(app, ["stream", "XYZQ", "AAPL", "--url", sim.url, "--count", "2"])
        assert result.exit_code == 0
        assert "XYZQ" in result.stderr and "unknown symbol" in result.stderr
        assert all(m["symbol"] == "AAPL" for m in parse_lines(result.stdout))
        only_bad = runner.invoke(app, ["stream", "XYZQ", "--url", sim.url, "--count", "2"])
        assert only_bad.exit_code == 1
        assert "no subscription left" in only_bad.stderr and only_bad.stdout == ""


def test_symbols_command() -> None:
    with ThreadedSim() as sim:
        result = runner.invoke(app, ["symbols", "--url", sim.url])
        assert result.exit_code == 0 and result.stdout.split() == ["AAPL", "GOOGL", "MSFT"]
        as_json = runner.invoke(app, ["symbols", "--url", sim.url, "--json"])
        assert json.loads(as_json.stdout) == ["AAPL", "GOOGL", "MSFT"]


def test_profiles_list_and_show_redacts_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["profiles"])
    assert result.exit_code == 0
    for name in ("dev", "prod", "hft"):
        assert name in result.stdout
    monkeypatch.setenv("ARGUS_API_KEY", "topsecret-value-42")
    shown = runner.invoke(app, ["profiles", "show", "prod", "--url", "wss://u:pw@h/ws?t=9"])
    assert shown.exit_code == 0
    assert "topsecret-value-42" not in shown.output and "pw" not in shown.output
    assert "***" in shown.stdout and "env ARGUS_API_KEY" in shown.stdout
    assert "flag" in shown.stdout and "profile prod" in shown.stdout


def test_stats_with_no_running_streams() -> None:
    result = runner.invoke(app, ["stats", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 0 and "no running streams" in result.stderr


def test_probe() -> None:
    with ThreadedSim() as sim:
        result = runner.invoke(
            app, ["stats", "--probe", "AAPL", "--url", sim.url, "--duration", "1", "--json"]
        )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["connect_ms"] > 0 and report["ping_ms"] > 0
    assert report["messages_received"] > 10 and report["symbols"] == ["AAPL"]
    assert report["state"] == "connected"


def test_gap_lines_reach_the_json_output() -> None:
    with ThreadedSim(chaos="skip-seq=10%", rate=200, seed=5) as sim:
        result = runner.invoke(app, ["stream", "AAPL", "--url", sim.url, "--count", "300"])
    assert result.exit_code == 0, result.stderr
    lines = parse_lines(result.stdout)
    gaps = [m for m in lines if m["type"] == "gap"]
    assert gaps and all(g["source"] == "argus" and g["from_seq"] <= g["to_seq"] for g in gaps)
    assert len([m for m in lines if m["type"] != "gap"]) == 300  # gap lines are extra


def test_format_jsonl_is_json() -> None:
    with ThreadedSim() as sim:
        result = runner.invoke(
            app, ["stream", "AAPL", "--url", sim.url, "--format", "jsonl", "--count", "2"]
        )
    assert result.exit_code == 0
    assert [m["symbol"] for m in parse_lines(result.stdout)] == ["AAPL", "AAPL"]
