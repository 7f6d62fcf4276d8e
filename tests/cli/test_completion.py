"""Shell completion: ``argus completion SHELL`` prints the script; the shell's calls
back complete commands, options, profiles and ``@watchlists``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import argus_env, run_argus


def complete(env: dict[str, str], words: str) -> list[str]:
    parts = words.split(" ")
    done = run_argus(
        [],
        {**env, "_ARGUS_COMPLETE": "complete_bash", "COMP_WORDS": words,
         "COMP_CWORD": str(len(parts) - 1)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_calls_argus_back(tmp_path: Path, shell: str) -> None:
    done = run_argus(["completion", shell], argus_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "_ARGUS_COMPLETE" in done.stdout and "argus" in done.stdout


def test_commands_options_profiles_and_watchlists_complete(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    lists = Path(env["XDG_CONFIG_HOME"]) / "argus" / "watchlists.yaml"
    lists.parent.mkdir(parents=True, exist_ok=True)
    lists.write_text("tech: [AAPL, MSFT]\ntea: [TEA]\n")
    assert {"stream", "stats"} <= set(complete(env, "argus st"))
    assert "--profile" in complete(env, "argus stream --pro")
    assert set(complete(env, "argus stream -p c")) == {"coinbase"}
    assert set(complete(env, "argus stream @te")) == {"@tech", "@tea"}
    unknown = run_argus(["completion", "tcsh"], env)
    assert unknown.returncode == 2 and "tcsh" in unknown.stderr
