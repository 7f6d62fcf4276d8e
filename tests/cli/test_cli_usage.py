"""Issue 14, items 3, 5 and the command-line parts of 6: conflicting options, bad values
echoed with a hint, environment values, help (``-h``, examples, plain metavars, one env
wording), hints that point to the fix, a closed stdout, SIGHUP, ``stats --watch`` piped
and the chaos banner. In-process (CliRunner) except where a real process is the point."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from argus_cli.cli import stats as stats_module
from argus_cli.cli.app import app
from argus_cli.cli.options import check_url
from argus_cli.cli.serve import chaos_modes
from tests.cli.helpers import ARGUS, ThreadedSim, argus_env, wait_for

pytestmark = pytest.mark.timeout(60)

runner = CliRunner()


def words(text: str) -> str:
    """``text`` with its line wrapping undone."""
    return " ".join(text.split())


# --- item 3: conflicting options, bad values, environment values --------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["stream", "AAPL", "--json", "--format", "table"], "--json and --format table"),
        (["stream", "AAPL", "--demo", "--url", "ws://127.0.0.1:1/ws"], "--demo and --url"),
        (["stream", "AAPL", "--demo", "--profile", "prod"], "--demo and --profile prod"),
        (["stream", "AAPL", "--demo", "-p", "dev"], "--demo and --profile dev"),
        (["stream", "AAPL", "--demo", "--provider", "kraken"], "--demo and --provider"),
        (["stream", "kraken:BTC/USD", "--demo"], "--demo and PROVIDER:SYMBOL"),
        (["stats", "--url", "ws://127.0.0.1:1/ws"], "--url is only used with --probe"),
        (["stats", "--provider", "kraken"], "--provider is only used with --probe"),
        (["stats", "--transport", "picows"], "--transport is only used with --probe"),
        (["stats", "--duration", "3"], "--duration is only used with --probe"),
        (["stats", "-p", "dev"], "--profile is only used with --probe"),
        (["stats", "--probe", "--watch"], "--probe and --watch"),
    ],
)
def test_conflicting_options_exit_2_naming_the_pair(args: list[str], named: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert named in words(result.output)


def test_a_profile_from_the_environment_does_not_conflict_with_demo() -> None:
    result = runner.invoke(
        app, ["stream", "AAPL", "--demo", "--json", "--count", "1"], env={"ARGUS_PROFILE": "dev"}
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["symbol"] == "AAPL"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ws://127.0.0.1:99999/ws", "'ws://127.0.0.1:99999/ws': the port must be a number"),
        ("ws://host:port/ws", "'ws://host:port/ws': the port must be a number"),
        ("http://localhost:8000/ws", "did you mean ws://localhost:8000/ws?"),
        ("https://example.org/feed", "did you mean wss://example.org/feed?"),
        ("wss:/x", "'wss:/x' has no host: did you mean wss://x?"),
        ("ws:localhost:8000/ws", "did you mean ws://localhost:8000/ws?"),
        ("localhost:8000", "did you mean ws://localhost:8000?"),
        ("ftp://host/x", "'ftp://host/x' must start with ws:// or wss://"),
        ("ws:///ws", "'ws:///ws' has no host"),
    ],
)
def test_a_bad_url_is_a_usage_error_echoing_the_input(url: str, shown: str) -> None:
    result = runner.invoke(app, ["stream", "AAPL", "--url", url])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--url'" in result.output
    assert shown in words(result.output)


@pytest.mark.parametrize("url", ["ws://localhost:8000/ws", "wss://a.example:443/x?y=1", None])
def test_good_urls_pass_unchanged(url: str | None) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["stream", "AAPL", "--provider", "nasdaq"], "'nasdaq' is not one of argus, coinbase"),
        (["stream", "AAPL", "--transport", "tcp"], "'tcp' is not one of auto, picows, websockets"),
        (["stream", "AAPL", "--format", "xml"], "'xml' is not one of auto, table, jsonl"),
        (["stream", "AAPL", "--count", "0"], "0 is not a count"),
        (["stream", "AAPL", "--duration", "0"], "give at least 0.001 seconds"),
        (["stats", "--probe", "--duration", "0.01"], "give at least 0.1 seconds"),
        (["serve", "--port", "70000"], "70000 is not a port"),
        (["serve", "--rate", "0"], "give at least 0.001"),
        (["serve", "--ring-size", "-1"], "give at least 0"),
        (["symbols", "--url", "http://localhost:8000/ws"], "did you mean ws://"),
        (["profiles", "show", "dev", "--url", "wss:/x"], "did you mean wss://x?"),
    ],
)
def test_bad_values_are_usage_errors_echoing_the_input(args: list[str], shown: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert shown in words(result.output)


def test_a_bad_log_level_in_the_environment_exits_3_naming_it() -> None:
    result = runner.invoke(
        app, ["stream", "AAPL", "--demo", "--json", "--count", "1"], env={"ARGUS_LOG_LEVEL": "LOUD"}
    )
    assert result.exit_code == 3, result.output
    out = words(result.output)
    assert "invalid configuration in the environment" in out
    assert "ARGUS_LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL" in out
    assert "'LOUD'" in out


def test_environment_problems_say_they_came_from_the_environment() -> None:
    result = runner.invoke(app, ["stream", "AAPL", "--json"], env={"ARGUS_TIMEOUT": "soon"})
    assert result.exit_code == 3
    assert "ARGUS_TIMEOUT: expected a number, got 'soon' (from the environment)" in result.output
    result = runner.invoke(app, ["stream", "AAPL", "--json"], env={"ARGUS_URL": "http://x"})
    assert result.exit_code == 3
    assert "(from the environment: ARGUS_URL)" in result.output
    # one problem a line, not one line with a literal \n in it
    assert "\\n" not in result.output and "\n  - connection.url" in result.output


# --- item 5: help -------------------------------------------------------------------

COMMANDS = [["stream"], ["stats"], ["serve"], ["symbols"], ["profiles"], ["profiles", "show"]]


@pytest.mark.parametrize("command", [[], *COMMANDS])
def test_dash_h_is_help(command: list[str]) -> None:
    short = runner.invoke(app, [*command, "-h"])
    long = runner.invoke(app, [*command, "--help"])
    assert short.exit_code == 0 and long.exit_code == 0
    assert short.stdout == long.stdout and "Usage:" in short.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_examples_and_plain_usage(command: list[str]) -> None:
    text = runner.invoke(app, [*command, "--help"]).stdout
    assert "Examples:" in text
    assert f"argus {' '.join(command)}" in text  # the examples run this command
    for internal in ("<str>", "<list", "<int", "<float", "range>", "x>=", "env var"):
        assert internal not in text, (command, internal)
    assert "{" not in text.splitlines()[0]  # the usage line
    # every environment variable named in one wording
    assert text.count("[env:") == text.count("ARGUS_") - text.count("ARGUS_TIMEOUT=")


def test_usage_lines_name_arguments_as_users_write_them() -> None:
    stream_help = runner.invoke(app, ["stream", "--help"]).stdout
    assert "Usage: argus stream [OPTIONS] SYMBOL..." in stream_help.replace("root", "argus")
    assert "--duration SECONDS" in stream_help and "--count N" in stream_help
    assert "[OPTIONS] [SYMBOL...]" in runner.invoke(app, ["stats", "--help"]).stdout
    assert "show [OPTIONS] NAME" in runner.invoke(app, ["profiles", "show", "-h"]).stdout
    missing = runner.invoke(app, ["stream"])
    assert missing.exit_code == 2 and "Missing argument 'SYMBOL'" in missing.output


def test_help_lists_the_hangup_exit_code() -> None:
    for command in ([], ["stream"]):
        assert "129 hung up (SIGHUP" in words(runner.invoke(app, [*command, "-h"]).stdout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_no_server_hint_points_to_serve_and_demo() -> None:
    url = f"ws://127.0.0.1:{_free_port()}/ws"
    env = {"ARGUS_MAX_RECONNECT_ATTEMPTS": "1", "ARGUS_RECONNECT_DELAY": "0.01"}
    result = runner.invoke(app, ["stream", "AAPL", "--url", url, "--json"], env=env)
    assert result.exit_code == 5, result.output
    assert "is a server running? try `argus serve` (in another terminal) or `--demo`" in (
        result.output
    )


def test_an_unknown_symbol_points_to_argus_symbols() -> None:
    # --count 100 (~0.5 s of AAPL at this rate): the refusal, answered with the
    # subscribe, is said long before; with --count 1 the stream could end first
    with ThreadedSim(rate=100.0) as sim:
        result = runner.invoke(
            app, ["stream", "AAPL", "XYZQ", "--url", sim.url, "--json", "--count", "100"]
        )
    assert result.exit_code == 0, result.output
    assert "XYZQ: refused by the server (invalid_symbol)" in result.output
    assert "(see `argus symbols`)" in result.output


# --- item 6: a closed stdout, SIGHUP, stats --watch piped, the chaos banner -----------


def _closed_reader(args: list[str], tmp_path: Path, timeout: float = 20) -> tuple[int, str]:
    """Run ``argus ARGS`` with stdout a pipe nobody reads (its reader closed first):
    every write fails as it does once ``head -1`` has gone."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.Popen(
            [*ARGUS, *args],
            env=argus_env(tmp_path),
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write)
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


@pytest.mark.parametrize("args", [["profiles"], ["stats", "--watch", "--json"]])
def test_a_reader_that_goes_away_ends_quietly_with_0(args: list[str], tmp_path: Path) -> None:
    code, err = _closed_reader(args, tmp_path)
    assert (code, err) == (0, "")


def test_sighup_ends_a_stream_cleanly_with_129(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    with ThreadedSim() as sim:
        proc = subprocess.Popen(
            [*ARGUS, "stream", "AAPL", "--url", sim.url, "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            json.loads(proc.stdout.readline())
            state_file = tmp_path / "run" / "argus" / f"stream-{proc.pid}.json"
            wait_for(state_file.exists)
            proc.send_signal(signal.SIGHUP)
            _, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 129
        assert err == ""
        assert not state_file.exists()
        wait_for(lambda: sim.client_closes.get(1000, 0) == 1)


STREAMS = [{"pid": 4242, "symbols": ["AAPL"], "state": "connected", "profile": "dev"}]


def _watch(monkeypatch: pytest.MonkeyPatch, args: list[str], refreshes: int) -> Any:
    """``argus stats ARGS`` with one fake running stream, stopped (as by Ctrl-C) after
    ``refreshes`` refreshes."""
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) >= refreshes:
            raise KeyboardInterrupt

    monkeypatch.setattr(stats_module.statefile, "read_all", lambda: STREAMS)
    monkeypatch.setattr(stats_module.time, "sleep", sleep)
    return runner.invoke(app, ["stats", *args])


def test_stats_watch_json_prints_one_object_per_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    result = _watch(monkeypatch, ["--watch", "--json"], refreshes=3)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        refresh = json.loads(line)
        assert refresh["streams"] == STREAMS and refresh["time"].endswith("+00:00")


def test_stats_watch_piped_prints_each_refresh_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    result = _watch(monkeypatch, ["--watch"], refreshes=2)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("running streams: 1") == 2
    assert result.stdout.count("4242") == 2
    assert "\x1b" not in result.stdout  # plain text: no screen updates


def test_chaos_modes_are_listed_as_given() -> None:
    assert chaos_modes("reset=5s, garbage=1%,,skip-seq=0.1%") == [
        "reset=5s",
        "garbage=1%",
        "skip-seq=0.1%",
    ]
    assert chaos_modes(None) == [] and chaos_modes("") == []


def test_serve_prints_its_chaos_modes_in_the_banner(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*ARGUS, "serve", "--port", "0", "--chaos", "garbage=1%,skip-seq=0.1%"],
        env=argus_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline() for _ in range(2)]
        proc.send_signal(signal.SIGHUP)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert lines[0].startswith("argus: simulating 55 symbols")
    assert lines[1] == "argus: chaos: garbage=1%, skip-seq=0.1%\n"
    assert proc.returncode == 0
