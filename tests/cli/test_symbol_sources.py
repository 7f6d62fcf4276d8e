"""Symbols from watchlists (``@NAME``), files (``@FILE``) and standard input (``-``),
``argus watchlists``, and a refused group whose good symbols are subscribed again."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import ThreadedSim, argus_env, run_argus, user_profile


def symbols_of(stdout: str) -> set[str]:
    return {json.loads(line)["symbol"] for line in stdout.splitlines()}


def write_watchlists(env: dict[str, str], text: str) -> Path:
    path = Path(env["XDG_CONFIG_HOME"]) / "argus" / "watchlists.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_watchlists_files_and_stdin_name_the_symbols(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    write_watchlists(env, "tech: [AAPL, MSFT]\n")
    user_profile(env, "mine", "watchlists:\n  duo: [GOOGL, AMZN]\n")
    listing = tmp_path / "list.txt"
    listing.write_text("# my symbols\nNVDA, TSLA\n")
    with ThreadedSim(rate=1000.0, symbols=["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "TSLA"]) as sim:
        base = ["stream", "--url", sim.url, "--json", "--types", "price"]
        tech = run_argus([*base[:1], "@tech", *base[1:], "--count", "150"], env)
        assert tech.returncode == 0, tech.stderr
        assert symbols_of(tech.stdout) == {"AAPL", "MSFT"}
        duo = run_argus([*base[:1], "@duo", "-p", "mine", *base[1:], "--count", "150"], env)
        assert duo.returncode == 0, duo.stderr
        assert symbols_of(duo.stdout) == {"GOOGL", "AMZN"}
        filed = run_argus([*base[:1], f"@{listing}", *base[1:], "--count", "150"], env)
        assert filed.returncode == 0, filed.stderr
        assert symbols_of(filed.stdout) == {"NVDA", "TSLA"}
        piped = run_argus([*base[:1], "-", *base[1:], "--count", "150"], env, input="AAPL\nNVDA\n")
        assert piped.returncode == 0, piped.stderr
        assert symbols_of(piped.stdout) == {"AAPL", "NVDA"}
    missing = run_argus(["stream", "@nope", "--json"], env)
    assert missing.returncode == 2
    assert "no watchlist 'nope'" in missing.stderr and "tech" in missing.stderr
    listed = run_argus(["watchlists", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    assert {w["name"]: w["symbols"] for w in json.loads(listed.stdout)} == {
        "tech": ["AAPL", "MSFT"]
    }
    write_watchlists(env, "tech: [AAPL, 'BAD SYMBOL']\n")
    broken = run_argus(["watchlists"], env)
    assert broken.returncode == 3 and "watchlists.tech" in broken.stderr, broken.stderr


def test_a_refused_group_subscribes_its_good_symbols_again(tmp_path: Path) -> None:
    env = argus_env(tmp_path)
    user_profile(env, "two", "connection:\n  max_subscriptions: 2\n")
    with ThreadedSim(rate=1000.0) as sim:
        done = run_argus(
            ["stream", "AAPL", "MSFT", "ZZZZ", "GOOGL", "-p", "two", "--url", sim.url,
             "--json", "--types", "price", "--count", "400"],
            env,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "subscribing GOOGL again without ZZZZ" in done.stderr
    assert symbols_of(done.stdout) == {"AAPL", "MSFT", "GOOGL"}
