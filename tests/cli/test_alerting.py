"""The command-line side of alerts: the options, --on-alert's runs, the bell, the
flashing rows and the alert panel (argus_cli.cli.alerting)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console, RenderableType
from typer.testing import CliRunner

from argus_cli.alerts import Alert, AlertBook, parse_rule, parse_rules
from argus_cli.cli.alerting import (
    Alerting,
    AlertOption,
    AlertPlan,
    Bell,
    Flash,
    NoBellOption,
    OnAlert,
    OnAlertOption,
    alert_env,
    describe,
    panel_lines,
    parse_command,
    plan_alerts,
    render_alerts,
)

PY = sys.executable
FEEDS = [("argus", ["AAPL", "TSLA", "NVDA"]), ("coinbase", ["BTC-USD"])]


def alert(rule: str = "AAPL>230", **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "rule": rule,
        "symbol": "AAPL",
        "source": "argus",
        "condition": ">",
        "level": 230.0,
        "price": 230.5,
        "basis": "last",
        "received": 1_700_000_000.5,
        "timestamp": 1_700_000_000.25,
        "seq": 42,
    }
    values.update(fields)
    return Alert(**values)


def text_of(renderable: RenderableType, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    output = console.file.getvalue()
    assert isinstance(output, str)
    return output


def writer(path: Path, *names: str) -> str:
    """A command that appends the named environment variables, tab-separated, to ``path``."""
    code = (
        "import os, sys; "
        "open(sys.argv[1], 'a').write('\\t'.join(os.environ.get(n, '<unset>') "
        "for n in sys.argv[2:]) + '\\n')"
    )
    return shlex.join([PY, "-c", code, str(path), *names])


async def finished(on_alert: OnAlert, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while on_alert.running:
        assert time.monotonic() < deadline, "the command did not finish"
        await asyncio.sleep(0.01)


# -- the options ---------------------------------------------------------------------------


def test_no_alert_means_no_plan_and_on_alert_needs_alert() -> None:
    assert plan_alerts(None, None, False, FEEDS) is None
    assert plan_alerts([], None, True, FEEDS) is None
    with pytest.raises(Exception, match="give --alert RULE") as caught:
        plan_alerts(None, "true", False, FEEDS)
    assert getattr(caught.value, "exit_code", None) == 2


def test_a_good_plan() -> None:
    plan = plan_alerts(
        ["aapl>230", "coinbase:BTC-USD>100000", "NVDA%>2", "AAPL > 230"],
        f"{PY} -c pass",
        True,
        FEEDS,
    )
    assert plan is not None
    assert [r.text for r in plan.rules] == ["AAPL>230", "coinbase:BTC-USD>100000", "NVDA%>2"]
    assert plan.command == (PY, "-c", "pass") and plan.bell is False


@pytest.mark.parametrize(
    ("rules", "says"),
    [
        (["AAPL=230"], "'AAPL=230': = is not a comparison"),
        (["AAPL>1", "TSLA>x"], "'TSLA>x': 'x' is not a number"),
        (["MSFT>1"], "'MSFT>1' watches MSFT, which this stream does not carry"),
        (["kraken:BTC-USD>1"], "watches BTC-USD from kraken, which this stream does not"),
    ],
)
def test_bad_rules_are_usage_errors_naming_the_rule(rules: list[str], says: str) -> None:
    with pytest.raises(typer.BadParameter) as caught:
        plan_alerts(rules, None, False, FEEDS)
    assert says in str(caught.value)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("", "give a command"),
        ("notify 'unclosed", "No closing quotation"),
        ("no-such-program-argus-test --x", "'no-such-program-argus-test' is not a program"),
    ],
)
def test_bad_commands_are_usage_errors(command: str, says: str) -> None:
    with pytest.raises(typer.BadParameter) as caught:
        parse_command(command)
    assert says in str(caught.value)


def test_the_command_is_split_like_words_and_nothing_expanded() -> None:
    argv = parse_command(f"{PY} -c 'print(1)' \"$HOME\" $(touch x) ';' `id`")
    assert argv == [PY, "-c", "print(1)", "$HOME", "$(touch", "x)", ";", "`id`"]


def test_the_options_in_a_command_exit_2_with_the_rule_named() -> None:
    app = typer.Typer()

    @app.command()
    def watch(
        alert: AlertOption = None, on_alert: OnAlertOption = None, no_bell: NoBellOption = False
    ) -> None:
        plan = plan_alerts(alert, on_alert, no_bell, FEEDS)
        assert plan is not None
        typer.echo(" ".join(r.text for r in plan.rules) + f" bell={plan.bell}")

    runner = CliRunner()
    ok = runner.invoke(app, ["--alert", "aapl>230", "--alert", "NVDA%<-2", "--no-bell"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip() == "AAPL>230 NVDA%<-2 bell=False"
    bad = runner.invoke(app, ["--alert", "AAPL>>230"])
    assert bad.exit_code == 2
    assert "'AAPL>>230'" in bad.output and "not a comparison" in bad.output
    help_text = " ".join(runner.invoke(app, ["--help"]).output.split())
    assert "--alert RULE" in help_text and "--on-alert COMMAND" in help_text


# -- --on-alert ----------------------------------------------------------------------------


async def test_on_alert_runs_the_command_with_the_alert_in_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARGUS_API_KEY", "sekrit-key")
    monkeypatch.setenv("ARGUS_API_SECRET", "sekrit-secret")
    out = tmp_path / "out.tsv"
    names = [
        "ARGUS_ALERT_RULE",
        "ARGUS_ALERT_SYMBOL",
        "ARGUS_ALERT_SOURCE",
        "ARGUS_ALERT_CONDITION",
        "ARGUS_ALERT_PRICE",
        "ARGUS_ALERT_LEVEL",
        "ARGUS_ALERT_TIME",
        "ARGUS_ALERT_JSON",
        "ARGUS_API_KEY",
        "ARGUS_API_SECRET",
    ]
    said: list[str] = []
    on_alert = OnAlert(parse_command(writer(out, *names)), say=said.append)
    assert on_alert.fire(alert())
    await finished(on_alert)
    await on_alert.close()
    values = dict(zip(names, out.read_text().rstrip("\n").split("\t"), strict=True))
    assert values["ARGUS_ALERT_RULE"] == "AAPL>230"
    assert values["ARGUS_ALERT_SYMBOL"] == "AAPL"
    assert values["ARGUS_ALERT_SOURCE"] == "argus"
    assert values["ARGUS_ALERT_CONDITION"] == ">"
    assert values["ARGUS_ALERT_PRICE"] == "230.5"
    assert values["ARGUS_ALERT_LEVEL"] == "230.0"
    assert values["ARGUS_ALERT_TIME"] == "2023-11-14T22:13:20.250000Z"
    assert json.loads(values["ARGUS_ALERT_JSON"]) == alert().to_dict()
    assert values["ARGUS_API_KEY"] == values["ARGUS_API_SECRET"] == "<unset>"
    assert said == [] and on_alert.started == 1 and on_alert.failed == 0


async def test_market_data_never_reaches_a_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.tsv"
    nasty = "$(touch pwned1);touch pwned2`touch pwned3`|touch pwned4&&x\x1b]0;t\x07"
    on_alert = OnAlert(
        parse_command(writer(out, "ARGUS_ALERT_SYMBOL", "ARGUS_ALERT_SOURCE") + " $(touch pwned5)")
    )
    on_alert.fire(alert(symbol=nasty, source="x; touch pwned6"))
    await finished(on_alert)
    await on_alert.close()
    # the two words of "$(touch pwned5)" arrived as literal arguments (names looked up)
    symbol, source, *literal = out.read_text().rstrip("\n").split("\t")
    assert literal == ["<unset>", "<unset>"]
    assert symbol == "$(touch pwned1);touch pwned2`touch pwned3`|touch pwned4&&x\\x1b]0;t\\x07"
    assert source == "x; touch pwned6"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv"]


async def test_one_run_per_rule_and_source_per_interval_and_skips_said_once(
    tmp_path: Path,
) -> None:
    now = [100.0]
    said: list[str] = []
    out = tmp_path / "out.tsv"
    on_alert = OnAlert(
        parse_command(writer(out, "ARGUS_ALERT_RULE", "ARGUS_ALERT_SOURCE")),
        per_rule=5.0,
        say=said.append,
        clock=lambda: now[0],
    )
    assert on_alert.fire(alert())
    assert not on_alert.fire(alert())  # the same rule 0 s later
    assert on_alert.fire(alert(source="coinbase"))  # the same rule, another source
    assert on_alert.fire(alert("TSLA<300", symbol="TSLA", condition="<"))
    now[0] += 4.9
    assert not on_alert.fire(alert())
    now[0] += 0.1
    await finished(on_alert)
    assert on_alert.fire(alert())
    await finished(on_alert)
    await on_alert.close()
    lines = sorted(out.read_text().splitlines())
    assert lines == ["AAPL>230\targus", "AAPL>230\targus", "AAPL>230\tcoinbase", "TSLA<300\targus"]
    assert on_alert.skipped == 2
    assert len([s for s in said if "skipped (at most one run per rule every 5s" in s]) == 1
    assert said[-1] == "argus: --on-alert: 2 run(s) skipped by the rate limit\n"


async def test_at_most_max_running_at_once_and_close_stops_the_rest() -> None:
    said: list[str] = []
    on_alert = OnAlert(
        parse_command(f"{PY} -c 'import time; time.sleep(30)'"), max_running=2, say=said.append
    )
    assert on_alert.fire(alert("A>1"))
    assert on_alert.fire(alert("B>1"))
    assert not on_alert.fire(alert("C>1"))
    assert on_alert.running == 2
    while len(on_alert.processes) < 2:
        await asyncio.sleep(0.01)
    processes = list(on_alert.processes)
    started = time.monotonic()
    await on_alert.close(wait=0.1)
    assert time.monotonic() - started < 3
    assert all(p.returncode is not None for p in processes)  # stopped and reaped
    assert on_alert.running == 0
    assert "argus: --on-alert: 2 run(s) still going at exit were stopped\n" in said
    assert not any("exited with status" in s for s in said)  # stopping is not a failure
    assert not on_alert.fire(alert("D>1"))  # closed: nothing new starts


async def test_a_failing_command_is_said_once_with_its_stderr() -> None:
    said: list[str] = []
    code = "import sys; sys.stderr.write('no route\\x1b[2J\\n'); sys.exit(3)"
    on_alert = OnAlert([PY, "-c", code], per_rule=0, say=said.append)
    on_alert.fire(alert())
    await finished(on_alert)
    on_alert.fire(alert())
    await finished(on_alert)
    await on_alert.close()
    assert said[0] == "argus: --on-alert for AAPL>230: exited with status 3: no route\\x1b[2J\n"
    assert said[1:] == ["argus: --on-alert: 2 run(s) failed\n"]


async def test_a_command_that_runs_too_long_is_stopped() -> None:
    said: list[str] = []
    on_alert = OnAlert([PY, "-c", "import time; time.sleep(30)"], timeout=0.2, say=said.append)
    on_alert.fire(alert())
    await finished(on_alert, timeout=3)
    await on_alert.close()
    assert said == ["argus: --on-alert for AAPL>230: still running after 0.2s: stopped\n"]


async def test_a_program_that_cannot_start_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    said: list[str] = []
    gone = tmp_path / "gone"
    on_alert = OnAlert([str(gone)], say=said.append)
    on_alert.fire(alert())
    await finished(on_alert)
    await on_alert.close()
    assert said and f"cannot start {gone}" in said[0]


def test_alert_env_neutralizes_text_and_drops_keys() -> None:
    env = alert_env(
        alert(symbol="A\nB", source="s\u202e"), {"PATH": "/bin", "ARGUS_SERVER_API_KEY": "k"}
    )
    assert env["PATH"] == "/bin" and "ARGUS_SERVER_API_KEY" not in env
    assert env["ARGUS_ALERT_SYMBOL"] == "A\\nB" and env["ARGUS_ALERT_SOURCE"] == "s\\u202e"
    assert "\n" not in env["ARGUS_ALERT_JSON"]


# -- bell, flash, panel --------------------------------------------------------------------


def test_the_bell_rings_on_a_terminal_at_most_once_a_second() -> None:
    rung: list[str] = []
    bell = Bell(terminal=True, write=rung.append)
    assert bell.ring(10.0) and not bell.ring(10.5) and bell.ring(11.0)
    assert rung == ["\a", "\a"]
    assert not Bell(False, terminal=True, write=rung.append).ring(20.0)
    assert not Bell(terminal=False, write=rung.append).ring(20.0)
    assert rung == ["\a", "\a"]


def test_the_bell_goes_to_descriptor_2_past_any_sys_stderr_proxy(
    capfd: pytest.CaptureFixture[str],
) -> None:
    bell = Bell(terminal=True)  # the default writer: os.write(2, ...) (rich Live swaps sys.stderr)
    assert bell.ring(1.0)
    assert capfd.readouterr().err == "\a"


def test_rows_flash_for_two_seconds() -> None:
    flash = Flash()
    assert not flash.flashing("AAPL", 0.0)
    flash.fired(alert(), 100.0)
    assert flash.flashing("AAPL", 101.9)
    assert flash.flashing("AAPL", 101.0, source="argus")
    assert not flash.flashing("AAPL", 101.0, source="coinbase")
    assert not flash.flashing("AAPL", 102.0)
    assert not flash.flashing("TSLA", 101.0)


def test_the_table_asks_by_row() -> None:
    from argus_cli.cli.board import Row

    alerting = Alerting(AlertBook([]))
    alerting.flash.fired(alert(), 10.0)
    assert alerting.row_flashing(Row("AAPL", "argus"), 11.0)
    assert alerting.row_flashing(Row("AAPL"), 11.0)  # a board without sources
    assert not alerting.row_flashing(Row("AAPL", "kraken"), 11.0)


def test_the_panel_lists_the_last_alerts_newest_first_as_inert_text() -> None:
    recent = [
        alert("AAPL>230"),
        alert("TSLA<300", symbol="TSLA", condition="<", level=300.0, price=299.5),
        alert(
            "NVDA%>2",
            symbol="[red]NV\x1b[2JDA",
            percent=True,
            level=2.0,
            price=102.5,
            reference=100.0,
            change_pct=2.5,
        ),
    ]
    text = text_of(render_alerts(recent))
    lines = [line for line in text.splitlines() if "fired" not in line and "─" not in line]
    assert ["NVDA%>2" in lines[0], "TSLA<300" in lines[1], "AAPL>230" in lines[2]] == [True] * 3
    assert "alerts (3 fired)" in text
    assert "[red]NV\\x1b[2JDA (argus)" in text and "\x1b" not in text
    assert "▲ up 2.50% (above +2%)" in text
    assert "▼ below 300.00" in text and "299.50" in text
    assert "▲ above 230.00" in text
    assert panel_lines(recent) == 5
    assert panel_lines([]) == 0
    assert len(text.splitlines()) == 5
    many = [alert(f"AAPL>{n}", level=float(n)) for n in range(9)]
    shown = text_of(render_alerts(many, limit=3, total=120))
    assert "alerts (120 fired)" in shown and "AAPL>8" in shown and "AAPL>5" not in shown


def test_describe_is_one_safe_line() -> None:
    line = describe(alert(symbol="AA\nPL"))
    assert line.startswith("alert AAPL>230: AA\\nPL (argus) 230.50, above 230.00 at ")
    assert "\n" not in line
    assert "0.000123" in describe(alert(price=0.000123456, level=0.0001))


async def test_alerting_ties_the_book_to_the_bell_the_flash_and_the_panel() -> None:
    rung: list[str] = []
    alerting = Alerting(
        AlertBook(parse_rules(["AAPL>230"])),
        bell=Bell(terminal=True, write=rung.append),
        clock=lambda: 50.0,
    )
    assert alerting.panel() is None and alerting.panel_lines() == 0
    frame: list[dict[str, Any]] = [
        {"type": "price", "symbol": "AAPL", "source": "argus", "price": 229.0, "received": 1.0},
        {"type": "volume", "symbol": "AAPL", "source": "argus", "volume": 3, "received": 1.0},
        {"type": "price", "symbol": "AAPL", "source": "argus", "price": 231.0, "received": 2.0},
    ]
    [fired] = alerting.observe(frame)
    assert fired.price == 231.0
    assert rung == ["\a"]
    assert alerting.flashing("AAPL", 51.0) and not alerting.flashing("AAPL", 53.0)
    panel = alerting.panel()
    assert panel is not None and "AAPL>230" in text_of(panel)
    assert alerting.panel_lines() == 3
    await alerting.close()


def test_alerting_from_a_plan() -> None:
    plan = AlertPlan((parse_rule("AAPL>1"),), None, bell=False)
    alerting = Alerting.start(plan)
    assert alerting.on_alert is None and alerting.bell is not None and not alerting.bell.enabled
    assert [r.text for r in alerting.book.rules] == ["AAPL>1"]


def test_alerts_said_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    Alerting.say([alert(), alert("TSLA<300", symbol="TSLA", condition="<", level=300.0)])
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("argus: alert AAPL>230: AAPL (argus) 230.50, above 230.00 at ")
    assert err[1].startswith("argus: alert TSLA<300: TSLA (argus) 230.50, below 300.00 at ")
    assert os.environ.get("ARGUS_ALERT_RULE") is None
