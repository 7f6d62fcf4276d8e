"""``argus serve``: run the market simulator.

Usage errors (exit 2), each naming the value: ``--symbols`` that names no
symbol (``''``, ``,``) or an invalid one; ``--chaos`` that does not parse or
mutes a symbol the simulator does not serve (``mute=XYZQ:5s``); a ``--replay``
file that cannot be read or holds no events; ``--speed`` that is not a
positive number or ``max``; ``--symbols``, ``--speed`` or ``--loop`` that do
not fit (``--symbols`` with ``--replay``: the recording names the symbols;
``--speed``/``--loop`` without it). ``--rate`` and ``--seed`` are ignored with
``--replay``.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Annotated, Any

import typer

from ..client.transports.options import is_loopback
from ..sim import ChaosSpecError, Simulator, SimulatorConfig
from ..sim.recorded import RecordedMarket, RecordingError
from . import exit_codes
from .runtime import Outcome, run_async, setup_logging

SERVE_HELP = """Run the built-in market simulator.

The URL (with the real port) is the first line on stdout; the active chaos modes
are listed on stderr. Clients must send the API key when one is set
[env: ARGUS_SERVER_API_KEY]. Ctrl-C, SIGTERM or SIGHUP stops it (exit 0).

\b
Examples:
  argus serve                                  # ws://127.0.0.1:8000/ws, 55 symbols
  argus serve --port 0 --symbols AAPL,MSFT     # a free port, two symbols
  argus serve --rate 100 --seed 7              # busier, reproducible
  argus serve --chaos reset=5s,garbage=1%      # rehearse faults (see README)
  argus serve --replay ticks.jsonl.zst --loop  # serve a recording, again and again
"""


def _port(value: int) -> int:
    if not 0 <= value <= 65535:
        raise typer.BadParameter(f"{value} is not a port: give 0 to 65535", param_hint="'--port'")
    return value


def _at_least(option: str, minimum: float) -> Any:
    def check(value: float) -> float:
        if not value >= minimum:
            raise typer.BadParameter(
                f"{value:g} is too small: give at least {minimum:g}", param_hint=f"'{option}'"
            )
        return value

    return check


def serve(
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to bind.")
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option("--port", metavar="PORT", callback=_port, help="Port; 0 picks a free one."),
    ] = 8000,
    symbols: Annotated[
        str | None,
        typer.Option(
            "--symbols", metavar="SYMBOLS", help="Comma list of symbols (default: 55 US stocks)."
        ),
    ] = None,
    rate: Annotated[
        float,
        typer.Option(
            "--rate",
            metavar="PER_SECOND",
            callback=_at_least("--rate", 0.001),
            help="Events per second per symbol.",
        ),
    ] = 5.0,
    seed: Annotated[
        int | None, typer.Option("--seed", metavar="N", help="Seed for a reproducible market.")
    ] = None,
    chaos: Annotated[
        str | None,
        typer.Option(
            "--chaos",
            metavar="SPEC",
            help="Fault injection, e.g. reset=5s,garbage=1% (see README).",
        ),
    ] = None,
    ring_size: Annotated[
        int,
        typer.Option(
            "--ring-size",
            metavar="N",
            callback=_at_least("--ring-size", 0),
            help="Events held per symbol for resume (about 46 bytes each; 0 holds none).",
        ),
    ] = 10_000,
    replay: Annotated[
        str | None,
        typer.Option(
            "--replay",
            metavar="FILE",
            help="Serve this recording (argus stream --json lines; .zst/.gz) instead of "
            "the market model, from the first subscribe.",
        ),
    ] = None,
    speed: Annotated[
        str | None,
        typer.Option(
            "--speed",
            metavar="N|max",
            help="With --replay: N x the recorded pace (default 1), or max.",
        ),
    ] = None,
    loop: Annotated[
        bool,
        typer.Option("--loop", help="With --replay: start again at the end (seq keeps growing)."),
    ] = False,
) -> None:
    """Run the built-in market simulator (key from ARGUS_SERVER_API_KEY, if set)."""
    symbol_list = None
    if symbols is not None:  # given, even empty: ``--symbols ''`` is refused, not ignored
        from .stream import parse_symbols

        try:
            symbol_list = parse_symbols([symbols])
        except typer.BadParameter as exc:
            raise typer.BadParameter(
                f"{symbols!r}: {exc.message}", param_hint="--symbols"
            ) from None
    if replay is None and (speed is not None or loop):
        raise typer.BadParameter("needs --replay FILE", param_hint="--speed" if speed else "--loop")
    if replay is not None and symbol_list is not None:
        raise typer.BadParameter(
            "--replay serves the recording's symbols: leave --symbols out", param_hint="--symbols"
        )
    replay_speed = parse_speed(speed)
    try:
        config = SimulatorConfig(
            host=host,
            port=port,
            symbols=symbol_list,
            rate=rate,
            seed=seed,
            chaos=chaos,
            ring_size=ring_size,
            replay=replay,
            speed=replay_speed,
            loop=loop,
        )
        simulator = Simulator(config)
    except ChaosSpecError as exc:
        raise typer.BadParameter(str(exc), param_hint="--chaos") from None
    except RecordingError as exc:
        raise typer.BadParameter(str(exc), param_hint="--replay") from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    setup_logging(os.environ.get("ARGUS_LOG_LEVEL", "WARNING"))
    try:
        run_async(_serve(simulator))
    except OSError as exc:
        message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise exit_codes.CommandExit(exit_codes.RUNTIME_FAILURE, message) from None
    raise typer.Exit(exit_codes.OK)


def parse_speed(value: str | None) -> float | None:
    """``--speed``: a positive number (default 1), or ``max`` (``None``: no pacing)."""
    if value is None:
        return 1.0
    if value.strip().lower() == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        speed = math.nan
    if not (speed > 0 and math.isfinite(speed)):
        raise typer.BadParameter(
            f"{value!r} is not a speed: give a positive number or max", param_hint="--speed"
        )
    return speed


def chaos_modes(spec: str | None) -> list[str]:
    """The chaos modes in force, as given (``reset=5s``, ``garbage=1%``)."""
    return [part.strip() for part in (spec or "").split(",") if part.strip()]


async def _serve(simulator: Simulator) -> None:
    outcome = Outcome()
    outcome.install_signals()
    await simulator.start()
    sys.stdout.write(simulator.url + "\n")
    sys.stdout.flush()
    auth = "API key required" if simulator.requires_key else "no API key required"
    if not simulator.requires_key and not is_loopback(simulator.config.host):
        print(
            f"argus: warning: listening on {simulator.config.host} without an API key: anyone "
            "who can reach this port can connect (set ARGUS_SERVER_API_KEY)",
            file=sys.stderr,
        )
    market = simulator.market
    if isinstance(market, RecordedMarket):
        cfg = simulator.config
        pace = "as fast as clients read" if cfg.speed is None else f"at {cfg.speed:g}x speed"
        names = ", ".join(market.symbols[:10]) + (", ..." if len(market.symbols) > 10 else "")
        print(
            f"argus: replaying {market.path} ({len(market)} events, {len(market.symbols)} "
            f"symbols: {names}) "
            f"{pace}{', looping' if cfg.loop else ''}, from the first subscribe ({auth}); "
            "Ctrl-C to stop",
            file=sys.stderr,
        )
    else:
        print(
            f"argus: simulating {len(market.symbols)} symbols at "
            f"{simulator.config.rate:g} events/s each ({auth}); Ctrl-C to stop",
            file=sys.stderr,
        )
    modes = chaos_modes(simulator.config.chaos)
    if modes:
        print(f"argus: chaos: {', '.join(modes)}", file=sys.stderr)
    try:
        await outcome.done.wait()
    finally:
        outcome.remove_signals()
        await simulator.stop()
        print("argus: simulator stopped", file=sys.stderr)
