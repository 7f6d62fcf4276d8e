"""``argus serve``: run the market simulator.

Usage errors (exit 2), each naming the value: ``--symbols`` that names no
symbol (``''``, ``,``) or an invalid one; ``--chaos`` that does not parse or
mutes a symbol the simulator does not serve (``mute=XYZQ:5s``).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from ..client.transports.options import is_loopback
from ..sim import ChaosSpecError, Simulator, SimulatorConfig
from . import exit_codes
from .runtime import Outcome, run_async, setup_logging


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port; 0 picks a free one.")
    ] = 8000,
    symbols: Annotated[
        str | None, typer.Option("--symbols", help="Comma list of symbols (default: 55 US stocks).")
    ] = None,
    rate: Annotated[
        float, typer.Option("--rate", min=0.001, help="Events per second per symbol.")
    ] = 5.0,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed for a reproducible market.")
    ] = None,
    chaos: Annotated[
        str | None,
        typer.Option("--chaos", help="Fault injection, e.g. reset=5s,garbage=1% (see README)."),
    ] = None,
    ring_size: Annotated[
        int,
        typer.Option(
            "--ring-size",
            min=0,
            help="Events held per symbol for resume (about 46 bytes each; 0 holds none).",
        ),
    ] = 10_000,
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
    try:
        config = SimulatorConfig(
            host=host,
            port=port,
            symbols=symbol_list,
            rate=rate,
            seed=seed,
            chaos=chaos,
            ring_size=ring_size,
        )
        simulator = Simulator(config)
    except ChaosSpecError as exc:
        raise typer.BadParameter(str(exc), param_hint="--chaos") from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    setup_logging(os.environ.get("ARGUS_LOG_LEVEL", "WARNING"))
    try:
        run_async(_serve(simulator))
    except OSError as exc:
        message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise exit_codes.CommandExit(exit_codes.RUNTIME_FAILURE, message) from None
    raise typer.Exit(exit_codes.OK)


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
    print(
        f"argus: simulating {len(simulator.market.symbols)} symbols at "
        f"{simulator.config.rate:g} events/s each ({auth}); Ctrl-C to stop",
        file=sys.stderr,
    )
    try:
        await outcome.done.wait()
    finally:
        outcome.remove_signals()
        await simulator.stop()
        print("argus: simulator stopped", file=sys.stderr)
