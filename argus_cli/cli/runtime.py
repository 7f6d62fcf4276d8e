"""What stream, probe and symbols share: logging, signals, the demo server, connecting."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TypeVar

from ..client import ConnectionConfig, SubscriptionConfig, WebSocketClient
from ..client.redact import install_log_redaction
from ..exceptions import SubscriptionError
from ..protocol.rules import ErrorCode
from . import exit_codes, stderr
from .safe_text import shown

if TYPE_CHECKING:
    from ..sim import Simulator

__all__ = [
    "Outcome",
    "connect_or_raise",
    "run_async",
    "setup_logging",
    "start_demo",
    "subscribe_all",
]

T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, on uvloop when it is installed (``pip install argus-cli[fast]``)
    unless ``ARGUS_NO_UVLOOP=1``."""
    if not os.environ.get("ARGUS_NO_UVLOOP"):
        try:
            import uvloop
        except ImportError:
            pass
        else:
            # typed when uvloop is installed, Any when it is not: mypy passes both ways
            run: Callable[[Coroutine[Any, Any, T]], T] = uvloop.run
            return run(main)
    return asyncio.run(main)


_TRACEBACKS = logging.Formatter()


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is now (rich Live swaps it while it runs).

    Every line is redacted (registered keys, Authorization values: whichever
    logger, child or library the record came from) and neutralized for the
    terminal (server text carries escape sequences), a traceback line by line."""

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "argus_final", False):
            return  # the error boundary prints the final error once
        try:
            lines = [f"argus: {shown(_message(record))}"]
            if record.exc_info and record.exc_info[0] is not None:
                trace = record.exc_text or _TRACEBACKS.formatException(record.exc_info)
                lines += [shown(line) for line in trace.splitlines()]
            stderr.write("\n".join(lines) + "\n")
        except Exception:  # stderr gone: nothing sensible left to do
            self.handleError(record)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a broken format string: its args are not shown
        return str(record.msg)


def setup_logging(level: str | None = "WARNING") -> None:
    """Log to stderr at ``level`` (``ARGUS_LOG_LEVEL``'s value, as the commands pass
    it: a level argus does not know is a configuration error naming the variable)."""
    from .options import check_log_level

    level = check_log_level(level)
    install_log_redaction()  # records of every logger are redacted where they are made
    root = logging.getLogger("argus_cli")
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        root.addHandler(_StderrHandler())
    root.setLevel(getattr(logging, level.upper(), logging.WARNING))
    root.propagate = False
    logging.getLogger("websockets").setLevel(logging.CRITICAL)


_SIGNALS = [(signal.SIGINT, exit_codes.INTERRUPTED), (signal.SIGTERM, exit_codes.TERMINATED)]
if hasattr(signal, "SIGHUP"):  # not on Windows
    _SIGNALS.append((signal.SIGHUP, exit_codes.HANGUP))


class Outcome:
    """The first reason to stop wins: an exit code and an optional message."""

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.code = exit_codes.OK
        self.message = ""

    def finish(self, code: int, message: str = "") -> None:
        if not self.done.is_set():
            self.code, self.message = code, message
            self.done.set()

    def start_timer(self, duration: float | None) -> None:
        """Finish (exit 0) ``duration`` seconds from now, whatever is going on then:
        connecting, retrying, subscribing or streaming."""
        if duration is not None:
            asyncio.get_running_loop().call_later(duration, self.finish, exit_codes.OK)

    async def first(self, work: Awaitable[T]) -> T | None:
        """``work``'s result, or None (``work`` cancelled) if a reason to stop comes first."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self.done.wait())
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        return None

    def install_signals(self) -> None:
        """Ctrl-C, SIGTERM and SIGHUP (the terminal closed) each end the command the
        same clean way, with their own exit code."""
        loop = asyncio.get_running_loop()
        for signum, code in _SIGNALS:
            with suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
                loop.add_signal_handler(signum, self.finish, code)

    def remove_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for signum, _ in _SIGNALS:
            with suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signum)

    async def hold(
        self, clients: WebSocketClient | list[WebSocketClient], duration: float | None
    ) -> None:
        """Wait for a reason to stop, a client giving up (its failure is raised),
        or ``duration`` seconds."""
        many = clients if isinstance(clients, list) else [clients]
        stopped = [asyncio.ensure_future(c.wait_stopped()) for c in many]
        finished = asyncio.ensure_future(self.done.wait())
        await asyncio.wait(
            {*stopped, finished}, timeout=duration, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in (*stopped, finished):
            waiter.cancel()
        if not self.done.is_set():
            for client in many:
                if client.failure is not None:
                    raise client.failure


async def start_demo() -> Simulator:
    from ..sim import Simulator, SimulatorConfig  # only --demo runs the simulator

    sim = Simulator(SimulatorConfig(host="127.0.0.1", port=0, api_key=""))
    await sim.start()
    return sim


async def connect_or_raise(client: WebSocketClient, outcome: Outcome) -> bool:
    """Connect unless a reason to stop comes first (a signal, ``--duration``); raise the
    client's failure. False if stopped first."""
    connected = await outcome.first(client.connect())
    if connected is None:
        return False
    if not connected:
        assert client.failure is not None
        raise client.failure
    return True


def group_symbols(symbols: list[str], max_subscriptions: int) -> list[list[str]]:
    """One subscription per symbol (so one unknown symbol fails alone) while the limit allows."""
    slots = max(1, min(max_subscriptions, 100))
    if len(symbols) <= slots:
        return [[s] for s in symbols]
    size = -(-len(symbols) // slots)
    return [symbols[i : i + size] for i in range(0, len(symbols), size)]


async def subscribe_all(
    client: WebSocketClient, config: ConnectionConfig, template: SubscriptionConfig
) -> list[str]:
    """Subscribe the symbols, all at once (a venue that paces its requests, Binance,
    then sends them in one frame); print each refusal on stderr. Returns the live
    subscription ids, in the symbols' order."""
    groups = group_symbols(template.symbols, config.max_subscriptions)
    subs = {
        f"cli-{index + 1}": SubscriptionConfig(
            symbols=group,
            data_types=template.data_types,
            update_frequency=template.update_frequency,
            filters=template.filters,
        )
        for index, group in enumerate(groups)
    }
    results = await asyncio.gather(
        *(client.subscribe(sub_id, sub) for sub_id, sub in subs.items()), return_exceptions=True
    )
    live = []
    for (sub_id, sub), result in zip(subs.items(), results, strict=True):
        if isinstance(result, SubscriptionError):
            hint = " (see `argus symbols`)" if result.code == ErrorCode.INVALID_SYMBOL else ""
            stderr.write(
                f"argus: {','.join(sub.symbols)}: refused by the server ({shown(result.code)}): "
                f"{shown(result)}{hint}\n"
            )
            if await _retry_good_symbols(client, sub_id, sub, result):
                live.append(sub_id)
        elif isinstance(result, BaseException):
            raise result
        else:
            live.append(sub_id)
    return live


async def _retry_good_symbols(
    client: WebSocketClient, sub_id: str, sub: SubscriptionConfig, refusal: SubscriptionError
) -> bool:
    """A group refused for an unknown symbol that the refusal names: subscribe the
    group's other symbols again (one bad symbol never takes good ones down). True
    when that subscription is live."""
    if refusal.code != ErrorCode.INVALID_SYMBOL or len(sub.symbols) < 2:
        return False
    said = set(re.split(r"[^A-Za-z0-9.:/_-]+", str(refusal)))
    bad = [s for s in sub.symbols if s in said]
    good = [s for s in sub.symbols if s not in said]
    if not bad or not good:
        return False
    stderr.write(f"argus: subscribing {','.join(good)} again without {','.join(bad)}\n")
    retry = SubscriptionConfig(
        symbols=good,
        data_types=sub.data_types,
        update_frequency=sub.update_frequency,
        filters=sub.filters,
    )
    try:
        await client.subscribe(sub_id, retry)
    except SubscriptionError as again:
        stderr.write(
            f"argus: {','.join(good)}: refused by the server ({shown(again.code)}): "
            f"{shown(again)}\n"
        )
        return False
    return True
