"""``argus stream --alert RULE [--on-alert COMMAND] [--no-bell]``: the command-line side
of alerts (the rules and the crossings are ``argus_cli.alerts``, pure).

- ``plan_alerts`` checks the options when the command starts (a bad rule, a rule
  for a symbol not streamed, a command that cannot run: exit 2, naming it).
- ``Alerting`` is what the stream holds: ``observe(events)`` feeds the book and,
  for each alert, starts ``--on-alert``, rings the bell, flashes the row and keeps
  the alert for the panel; ``close()`` reaps the commands (bounded) and says what
  was skipped or failed.
- ``OnAlert`` runs the command: split with ``shlex`` once at start, executed
  without a shell (``asyncio.create_subprocess_exec``), the alert only in
  ``ARGUS_ALERT_*`` environment variables (market data never reaches the command
  line), stdin ``/dev/null``, stdout discarded, stderr kept (1 KiB) to explain a
  failure, in a session of its own (no controlling terminal: it cannot draw over
  the table or read the keyboard; a timeout or the end of argus stops its whole
  process group). At most one run per rule and source every ``per_rule`` seconds
  (5) and ``max_running`` (4) at once; a run that would break either is skipped,
  counted, said once when it first happens and counted again at exit. A run gets
  ``timeout`` seconds (30). ``ARGUS_API_KEY``, ``ARGUS_API_SECRET`` and
  ``ARGUS_SERVER_API_KEY`` are removed from its environment (keys go only where the
  user sent them).
- ``Bell``: ``\\a`` on standard error when it is a terminal (descriptor 2, past
  rich's ``Live`` redirection), at most once a second, unless ``--no-bell``.
- ``Flash``: the rows to highlight for ``FLASH_SECONDS`` after an alert.
- ``render_alerts``: the panel of the last alerts, newest first, data as inert text.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer

from . import stderr

# Only typer and the standard library's lightest load with this module: ``argus stream
# --help`` reads the option declarations below. asyncio, shlex and rich load when used.
if TYPE_CHECKING:
    import asyncio

    from rich.panel import Panel

    from ..alerts import Alert, AlertBook, AlertRule

__all__ = [
    "FLASH_SECONDS",
    "PANEL_ROWS",
    "AlertOption",
    "AlertPlan",
    "Alerting",
    "Bell",
    "BoardRow",
    "Flash",
    "NoBellOption",
    "OnAlert",
    "OnAlertOption",
    "alert_env",
    "describe",
    "panel_lines",
    "parse_command",
    "plan_alerts",
    "render_alerts",
]

FLASH_SECONDS = 2.0
PANEL_ROWS = 5  # alerts the panel shows
BELL_GAP = 1.0  # seconds between two bells at most
STDERR_KEPT = 1024  # bytes of a command's stderr kept to explain its failure
SECRETS = ("ARGUS_API_KEY", "ARGUS_API_SECRET", "ARGUS_SERVER_API_KEY")

AlertOption = Annotated[
    list[str] | None,
    typer.Option(
        "--alert",
        metavar="RULE",
        help="Alert when a price crosses a level: SYMBOL>LEVEL, SYMBOL<LEVEL (or >=, <=), "
        "or moves by a percentage since the stream started: SYMBOL%>2, SYMBOL%<-2. "
        "Repeatable; PROVIDER:SYMBOL>LEVEL for one provider. Fires once per crossing.",
        show_default=False,
    ),
]
OnAlertOption = Annotated[
    str | None,
    typer.Option(
        "--on-alert",
        metavar="COMMAND",
        help="Run COMMAND (no shell) when an alert fires, the alert in its environment "
        "(docs/ALERTS.md); at most one run per rule every 5 s, 4 at once.",
        show_default=False,
    ),
]
NoBellOption = Annotated[
    bool, typer.Option("--no-bell", help="No terminal bell when an alert fires.")
]


# -- the options, checked at start ---------------------------------------------------


@dataclass(frozen=True)
class AlertPlan:
    """The checked alert options: the rules, the command (split, program resolved),
    whether to ring the bell."""

    rules: tuple[AlertRule, ...]
    command: tuple[str, ...] | None = None
    bell: bool = True


def plan_alerts(
    alert: Sequence[str] | None,
    on_alert: str | None,
    no_bell: bool,
    feeds: Iterable[tuple[str, Sequence[str]]],
) -> AlertPlan | None:
    """The alert options checked against ``feeds`` ((provider, symbols) of each feed);
    None without ``--alert``. A usage error (exit 2) names a bad rule, a rule for no
    streamed symbol, ``--on-alert`` without ``--alert`` or a command that cannot run."""
    from ..alerts import AlertRuleError, parse_rules
    from .options import usage_error

    if not alert:
        if on_alert is not None:
            raise usage_error("--on-alert runs a command when an alert fires: give --alert RULE")
        return None
    try:
        rules = parse_rules(alert)
    except AlertRuleError as exc:
        raise typer.BadParameter(f"{exc.rule!r}: {exc.reason}", param_hint="'--alert'") from None
    streamed = [(provider, set(symbols)) for provider, symbols in feeds]
    for rule in rules:
        if not any(
            rule.symbol in symbols and rule.provider in (None, provider)
            for provider, symbols in streamed
        ):
            where = f" from {rule.provider}" if rule.provider else ""
            raise typer.BadParameter(
                f"{rule.text!r} watches {rule.symbol}{where}, which this stream does not "
                "carry: add it to the symbols",
                param_hint="'--alert'",
            )
    command = tuple(parse_command(on_alert)) if on_alert is not None else None
    return AlertPlan(tuple(rules), command, not no_bell)


def parse_command(command: str) -> list[str]:
    """``--on-alert``'s command split as a POSIX shell would split words (quotes,
    backslashes), nothing expanded; its program found on PATH. BadParameter if not."""
    import shlex
    import shutil

    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise typer.BadParameter(f"{command!r}: {exc}", param_hint="'--on-alert'") from None
    if not argv:
        raise typer.BadParameter("give a command to run", param_hint="'--on-alert'")
    program = shutil.which(argv[0])
    if program is None:
        raise typer.BadParameter(
            f"{argv[0]!r} is not a program found on PATH (the command runs without a "
            "shell: for shell syntax write sh -c '...')",
            param_hint="'--on-alert'",
        )
    return [program, *argv[1:]]


# -- what an alert says ------------------------------------------------------------------


def _price(value: float) -> str:
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.6g}"


def _clock(epoch: float) -> str:
    import datetime as dt

    try:
        return dt.datetime.fromtimestamp(epoch).strftime("%H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return "--:--:--"


def _what(alert: Alert) -> str:
    """``above 230`` / ``up 2.05% (above +2%)``: what happened, without the symbol."""
    side = "above" if alert.rising else "below"
    if alert.percent and alert.change_pct is not None:
        move = "up" if alert.change_pct >= 0 else "down"
        return f"{move} {abs(alert.change_pct):.2f}% ({side} {alert.level:+g}%)"
    return f"{side} {_price(alert.level)}"


def describe(alert: Alert) -> str:
    """One line for standard error: ``alert AAPL>230: AAPL (argus) 230.12, above 230.00
    at 14:03:07`` (local time). Neutralized: safe on a terminal."""
    from .safe_text import shown

    return shown(
        f"alert {alert.rule}: {alert.symbol} ({alert.source}) {_price(alert.price)}, "
        f"{_what(alert)} at {_clock(alert.time)}"
    )


def alert_env(alert: Alert, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of an ``--on-alert`` run: ``base`` (argus's own without its
    keys) and the alert. Text from the market is neutralized (no control characters
    reach a script that echoes it); numbers are Python's shortest round-trip text."""
    import orjson

    from ..sinks.delimited import iso_time
    from .safe_text import neutralize

    env = dict(os.environ if base is None else base)
    for name in SECRETS:
        env.pop(name, None)
    env.update(
        ARGUS_ALERT_RULE=neutralize(alert.rule),
        ARGUS_ALERT_SYMBOL=neutralize(alert.symbol),
        ARGUS_ALERT_SOURCE=neutralize(alert.source),
        ARGUS_ALERT_CONDITION=alert.condition,
        ARGUS_ALERT_PRICE=repr(alert.price),
        ARGUS_ALERT_LEVEL=repr(alert.level),
        ARGUS_ALERT_TIME=str(iso_time(alert.time)),
        ARGUS_ALERT_JSON=orjson.dumps(alert.to_dict()).decode(),
    )
    return env


# -- the command ---------------------------------------------------------------------------


class OnAlert:
    """Runs ``argv`` for alerts, in the background, rate-limited (see the module doc).
    ``fire`` is called from the event loop and never waits."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        per_rule: float = 5.0,
        max_running: int = 4,
        timeout: float = 30.0,
        say: Callable[[str], None] = stderr.write,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not argv:
            raise ValueError("OnAlert needs a command")
        if per_rule < 0 or max_running < 1 or timeout <= 0:
            raise ValueError("per_rule >= 0, max_running >= 1 and timeout > 0, please")
        self.argv = list(argv)
        self.per_rule = per_rule
        self.max_running = max_running
        self.timeout = timeout
        self.say = say
        self.clock = clock
        self.base = {k: v for k, v in os.environ.items() if k not in SECRETS}
        self.last_run: dict[tuple[str, str], float] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.processes: set[asyncio.subprocess.Process] = set()
        self.started = self.skipped = self.failed = 0
        self.closing = False

    @property
    def running(self) -> int:
        return len(self.tasks)

    def fire(self, alert: Alert) -> bool:
        """Start a run for ``alert`` unless the rate limit says no; whether it started."""
        import asyncio

        now = self.clock()
        key = (alert.rule, alert.source)
        last = self.last_run.get(key)
        if (
            self.closing
            or (last is not None and now - last < self.per_rule)
            or len(self.tasks) >= self.max_running
        ):
            self.skipped += 1
            if self.skipped == 1:
                self.say(
                    f"argus: --on-alert: a run for {alert.rule} was skipped (at most one "
                    f"run per rule every {self.per_rule:g}s and {self.max_running} at once); "
                    "skipped runs are counted at exit\n"
                )
            return False
        self.last_run[key] = now
        self.started += 1
        task = asyncio.get_running_loop().create_task(self._run(alert))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    async def _run(self, alert: Alert) -> None:
        import asyncio

        try:
            process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=alert_env(alert, self.base),
                start_new_session=True,
            )
        except OSError as exc:
            self._failed(alert, f"cannot start {self.argv[0]}: {exc.strerror or exc}")
            return
        self.processes.add(process)
        try:
            try:
                kept = await asyncio.wait_for(_read_kept(process), self.timeout)
            except TimeoutError:
                await _stop(process)
                self._failed(alert, f"still running after {self.timeout:g}s: stopped")
                return
            code = await process.wait()
            if code != 0 and not self.closing:
                why = kept.decode("utf-8", "replace").strip().splitlines()
                detail = f": {why[-1]}" if why else ""
                self._failed(alert, f"exited with status {code}{detail}")
        finally:
            self.processes.discard(process)

    def _failed(self, alert: Alert, reason: str) -> None:
        from .safe_text import shown

        self.failed += 1
        if self.failed == 1:  # the first in full; the others are counted at exit
            self.say(f"argus: --on-alert for {alert.rule}: {shown(reason)}\n")

    async def close(self, wait: float = 2.0) -> None:
        """Wait at most ``wait`` seconds for runs to end, stop those still running
        (their process groups: SIGTERM, then SIGKILL), and say what was lost."""
        import asyncio

        self.closing = True
        stopped = 0
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=wait)
            if pending:
                stopped = len(pending)
                await asyncio.gather(*(_stop(p) for p in list(self.processes)))
                _, pending = await asyncio.wait(pending, timeout=1.0)
                for task in pending:
                    task.cancel()
        if stopped:
            self.say(f"argus: --on-alert: {stopped} run(s) still going at exit were stopped\n")
        if self.skipped:
            self.say(f"argus: --on-alert: {self.skipped} run(s) skipped by the rate limit\n")
        if self.failed > 1:
            self.say(f"argus: --on-alert: {self.failed} run(s) failed\n")


async def _read_kept(process: asyncio.subprocess.Process) -> bytes:
    """Read the process's stderr to its end, keeping the first ``STDERR_KEPT`` bytes."""
    assert process.stderr is not None
    kept = bytearray()
    while chunk := await process.stderr.read(4096):
        if len(kept) < STDERR_KEPT:
            kept += chunk[: STDERR_KEPT - len(kept)]
    return bytes(kept)


def _signal(process: asyncio.subprocess.Process, number: int) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, number)  # its own session: the group is its pid


async def _stop(process: asyncio.subprocess.Process, grace: float = 0.5) -> None:
    """End ``process`` and what it started: SIGTERM, ``grace`` seconds, SIGKILL; reaped."""
    import asyncio
    import signal

    _signal(process, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        _signal(process, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 1.0)


# -- the terminal side ---------------------------------------------------------------------


def _bell_to_terminal(text: str) -> None:
    """Straight to descriptor 2: rich's ``Live`` replaces ``sys.stderr`` with a proxy
    that holds text until a newline, and a bell has none."""
    with contextlib.suppress(OSError):
        os.write(2, text.encode())


class Bell:
    """``\\a`` on standard error when it is a terminal, at most once per ``gap`` seconds."""

    def __init__(
        self,
        enabled: bool = True,
        *,
        terminal: bool | None = None,
        write: Callable[[str], None] = _bell_to_terminal,
        gap: float = BELL_GAP,
    ) -> None:
        if terminal is None:
            try:
                terminal = os.isatty(2)
            except OSError:
                terminal = False
        self.enabled = enabled and terminal
        self.write = write
        self.gap = gap
        self.rung_at: float | None = None

    def ring(self, now: float) -> bool:
        """Ring unless disabled or rung less than ``gap`` seconds ago; whether it rang."""
        if not self.enabled or (self.rung_at is not None and now - self.rung_at < self.gap):
            return False
        self.rung_at = now
        self.write("\a")
        return True


class BoardRow(Protocol):
    """What ``Flash`` reads of a table row (``board.Row``)."""

    symbol: str
    source: str


class Flash:
    """The rows to highlight: each (source, symbol) for ``seconds`` after its last alert."""

    def __init__(self, seconds: float = FLASH_SECONDS) -> None:
        self.seconds = seconds
        self.until: dict[tuple[str, str], float] = {}
        self.by_symbol: dict[str, float] = {}

    def fired(self, alert: Alert, now: float) -> None:
        until = now + self.seconds
        self.until[(alert.source, alert.symbol)] = until
        self.by_symbol[alert.symbol] = until

    def flashing(self, symbol: str, now: float, source: str | None = None) -> bool:
        """Whether the row of ``symbol`` (from ``source``; any source if None) flashes."""
        if not self.by_symbol:
            return False
        if source is None:
            return now < self.by_symbol.get(symbol, 0.0)
        return now < self.until.get((source, symbol), 0.0)


def panel_lines(recent: Sequence[Alert], limit: int = PANEL_ROWS) -> int:
    """The lines ``render_alerts`` takes (0 when nothing fired: no panel)."""
    return min(len(recent), limit) + 2 if recent else 0


def render_alerts(
    recent: Sequence[Alert], limit: int = PANEL_ROWS, total: int | None = None
) -> Panel:
    """The last ``limit`` of ``recent`` (given in the order they fired), newest first:
    local time, rule, symbol and source, price, what happened. Data is inert text."""
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from .safe_text import plain

    table = Table(box=None, show_header=False, pad_edge=False, expand=False)
    for justify in ("left", "left", "left", "right", "left"):
        table.add_column(justify=justify)
    for alert in list(recent)[-limit:][::-1]:
        style = "green" if alert.rising else "red"
        table.add_row(
            Text(_clock(alert.time), style="dim"),
            plain(alert.rule, "bold"),
            plain(f"{alert.symbol} ({alert.source})"),
            Text(_price(alert.price), style=style),
            Text(("▲ " if alert.rising else "▼ ") + _what(alert), style=style),
        )
    count = total if total is not None else len(recent)
    return Panel(
        table,
        title=f"alerts ({count} fired)",
        title_align="left",
        border_style="yellow",
    )


# -- all of it, for the stream ---------------------------------------------------------------


class Alerting:
    """What ``argus stream`` holds when ``--alert`` is given: the book, the command,
    the bell, the flashing rows and the recent alerts."""

    def __init__(
        self,
        book: AlertBook,
        *,
        on_alert: OnAlert | None = None,
        bell: Bell | None = None,
        keep: int = 50,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.book = book
        self.on_alert = on_alert
        self.bell = bell
        self.flash = Flash()
        self.recent: deque[Alert] = deque(maxlen=keep)
        self.clock = clock

    @classmethod
    def start(cls, plan: AlertPlan) -> Alerting:
        """The alerting ``plan`` asks for (call it inside the event loop)."""
        from ..alerts import AlertBook

        command = OnAlert(plan.command) if plan.command else None
        return cls(AlertBook(plan.rules), on_alert=command, bell=Bell(plan.bell))

    def observe(self, events: Iterable[Mapping[str, Any]]) -> list[Alert]:
        """The alerts ``events`` fire; for each, the command, the bell, the flash."""
        alerts = self.book.observe_all(events)
        if alerts:
            now = self.clock()
            for alert in alerts:
                self.recent.append(alert)
                self.flash.fired(alert, now)
                if self.on_alert is not None:
                    self.on_alert.fire(alert)
            if self.bell is not None:
                self.bell.ring(now)
        return alerts

    def flashing(self, symbol: str, now: float, source: str | None = None) -> bool:
        return self.flash.flashing(symbol, now, source)

    def row_flashing(self, row: BoardRow, now: float) -> bool:
        """For the table: whether ``row`` (a ``board.Row``) flashes at ``now``."""
        return self.flash.flashing(row.symbol, now, row.source or None)

    def panel(self, limit: int = PANEL_ROWS) -> Panel | None:
        """The alert panel, or None while nothing has fired."""
        if not self.recent:
            return None
        return render_alerts(self.recent, limit, self.book.fired)

    def panel_lines(self, limit: int = PANEL_ROWS) -> int:
        return panel_lines(self.recent, limit)

    @staticmethod
    def say(alerts: Iterable[Alert]) -> None:
        """The alerts as lines on standard error (where stdout has fixed columns)."""
        text = "".join(f"argus: {describe(alert)}\n" for alert in alerts)
        if text:
            stderr.write(text)

    async def close(self) -> None:
        if self.on_alert is not None:
            await self.on_alert.close()
