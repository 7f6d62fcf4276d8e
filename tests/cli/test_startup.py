"""Start-up imports only what the command needs (issue 11): ``argus --version`` answers
before typer loads, ``argus stream --help`` reads a signature, and ``argus stream --json``
streams without rich (no Live, no table). Each run is the real entry point in a fresh
interpreter that lists ``sys.modules`` as it exits (``python -X importtime -m argus_cli
...`` shows the same, with times); the timings are the benchmark's (``startup``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from argus_cli import __version__
from tests.cli.helpers import ThreadedSim, argus_env

pytestmark = pytest.mark.timeout(60)

HEAVY = ("rich", "websockets", "picows", "yaml", "msgspec", "argus_cli.client", "argus_cli.sim")

# ``argus ARGS`` as the console script runs it; the last exit handler writes sys.modules
RUN = """
import atexit, json, sys
report = sys.argv[1]
atexit.register(lambda: open(report, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["argus", *sys.argv[2:]]
from argus_cli.cli.app import main
main()
"""


def imported(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``argus ARGS``: the run, and every module loaded by its end."""
    report = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(report), *args],
        env=argus_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    modules = set(json.loads(report.read_text()))
    assert "argus_cli.cli.app" in modules
    return done, modules


def loaded(modules: set[str], *packages: str) -> list[str]:
    return sorted(m for m in modules for p in packages if m == p or m.startswith(p + "."))


def test_version_imports_nearly_nothing(tmp_path: Path) -> None:
    done, modules = imported(["--version"], tmp_path)
    assert done.returncode == 0 and done.stdout == f"argus {__version__}\n"
    assert loaded(modules, *HEAVY, "typer", "asyncio", "argus_cli.cli.commands") == []


def test_stream_help_loads_the_stream_signature_only(tmp_path: Path) -> None:
    done, modules = imported(["stream", "--help"], tmp_path)
    assert done.returncode == 0 and "--count" in done.stdout and "Exit codes:" in done.stdout
    assert loaded(modules, *HEAVY) == []
    assert "argus_cli.cli.stream" in modules
    # the other commands' modules are not even read
    others = ("serve", "stats", "symbols", "profiles")
    assert loaded(modules, *(f"argus_cli.cli.{name}" for name in others)) == []


def test_stream_json_does_not_load_rich(tmp_path: Path) -> None:
    with ThreadedSim(rate=200.0) as sim:
        args = ["stream", "AAPL", "--url", sim.url, "--json", "--count", "1"]
        done, modules = imported(args, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("\n") == 1 and '"symbol":"AAPL"' in done.stdout
    assert loaded(modules, "rich", "argus_cli.sim", "argus_cli.cli.render") == []
    assert "argus_cli.client" in modules  # it did stream


def test_a_mistyped_command_is_still_suggested(tmp_path: Path) -> None:
    """The commands are known by name before any is loaded."""
    done, modules = imported(["strem"], tmp_path)
    assert done.returncode == 2 and "Did you mean 'stream'?" in done.stderr
    assert "argus_cli.cli.stream" not in modules
