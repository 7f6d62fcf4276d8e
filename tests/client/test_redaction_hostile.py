"""A server that echoes the key back gets it printed, logged or stored nowhere.

The key is random each run (``secrets.token_urlsafe``). The hostile server
(``argus_cli.testing.hostile``, real sockets) echoes it in error messages and
close reasons; argus must keep it out of every log record (whichever logger
made it), stderr, the stats file, ``argus stats --json`` and the stored error
strings. Credentials in a URL are refused before anything is sent.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from argus_cli import ConnectionConfig, SubscriptionConfig, WebSocketClient
from argus_cli.cli import statefile
from argus_cli.cli.app import app
from argus_cli.client.redact import install_log_redaction, redact_text
from argus_cli.config import user_profiles_dir
from argus_cli.exceptions import ConfigError
from argus_cli.testing.hostile import HostileServer, price
from tests.cli.helpers import ARGUS, argus_env, wait_for
from tests.cli.test_terminal_injection import ThreadedHostile

runner = CliRunner()


def new_key() -> str:
    return f"k-{secrets.token_urlsafe(18)}"


def echoes(key: str) -> list[dict[str, Any]]:
    """Error frames a careless server sends: the key in several shapes."""
    return [
        {"type": "error", "code": "internal", "message": f"key {key} is not valid"},
        {"type": "error", "code": "internal", "message": f"got Authorization: Bearer {key}"},
    ]


class Capture(logging.Handler):
    """Every record of the process, formatted (traceback included), at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    saved = root.level, logging.getLogger("websockets").level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("websockets").setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        logging.getLogger("websockets").setLevel(saved[1])


# --- logs: every logger, children included -------------------------------------------------


def test_records_of_child_loggers_are_redacted(capture: Capture) -> None:
    key = new_key()
    WebSocketClient(ConnectionConfig(url="ws://127.0.0.1:1/ws", api_key=key))
    for name in ("argus_cli.client.something", "websockets.client.child", "argus_cli.sim.x"):
        logging.getLogger(name).warning("echo %s", key)
        logging.getLogger(name).info("> Authorization: Bearer %s", "unregistered-token")
    logging.getLogger("myapp").error("the app logged %s", key)
    try:
        raise ValueError(f"an exception carrying {key}")
    except ValueError:
        logging.getLogger("myapp.worker").exception("failed")
    text = capture.text
    assert "echo ***" in text and "Traceback" in text and "carrying ***" in text
    assert key not in text and "unregistered-token" not in text


def test_only_argus_and_websockets_records_lose_bearer_patterns(capture: Capture) -> None:
    install_log_redaction()
    logging.getLogger("myapp").warning("calling the other api with Bearer app-token-1")
    logging.getLogger("websockets.client").warning("Bearer ws-token-2")
    assert "app-token-1" in capture.text  # the application's own logs are its business
    assert "ws-token-2" not in capture.text


async def test_a_server_echoing_the_key_never_gets_it_logged(capture: Capture) -> None:
    key = new_key()
    close = (1008, f"bad key {key}")  # no data: not healthy, so the client gives up at once
    async with HostileServer(script=echoes(key), close_after_script=close) as server:
        client = WebSocketClient(
            ConnectionConfig(
                url=server.url, api_key=key, max_reconnect_attempts=1, reconnect_delay=0.01
            )
        )
        assert await client.connect()
        await client.subscribe("s", SubscriptionConfig(["AAPL"], ["price"]))
        await client.wait_stopped()
        await client.disconnect()
    assert any(("Authorization", f"Bearer {key}") == h for h in server.headers[0])  # it was sent
    assert "key *** is not valid" in capture.text and "code 1008" in capture.text
    assert key not in capture.text


async def test_stored_error_strings_never_hold_the_key() -> None:
    key = new_key()
    close = (1008, f"bad key {key}")  # no data: not healthy, so the client gives up at once
    async with HostileServer(script=echoes(key), close_after_script=close) as server:
        client = WebSocketClient(
            ConnectionConfig(
                url=server.url, api_key=key, max_reconnect_attempts=1, reconnect_delay=0.01
            )
        )
        assert await client.connect()
        await client.subscribe("s", SubscriptionConfig(["AAPL"], ["price"]))
        seen = [client.last_error]
        await client.wait_stopped()
        await client.disconnect()
    assert client.failure is not None
    seen += [client.last_error, json.dumps(client.stats_snapshot()), str(client.failure)]
    seen.append("".join(traceback.format_exception(client.failure)))
    assert "***" in " ".join(map(str, seen))
    assert all(key not in str(text) for text in seen)


def test_redact_text_covers_registered_keys_and_patterns() -> None:
    key = new_key()
    assert key in redact_text(f"x {key}")
    install_log_redaction(key)
    assert redact_text(f"x {key} y") == "x *** y"
    assert redact_text("Bearer abc.def", ()) == "Bearer ***"
    assert redact_text("k=other-secret", ("other-secret", None, "")) == "k=***"


# --- the command: stderr, the stats file, argus stats --json ---------------------------------


def test_the_cli_never_prints_an_echoed_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key()
    monkeypatch.setenv("ARGUS_API_KEY", key)
    monkeypatch.setenv("ARGUS_MAX_RECONNECT_ATTEMPTS", "1")
    close = (1008, f"key {key} refused")
    with ThreadedHostile(script=echoes(key), close_after_script=close) as server:
        result = runner.invoke(app, ["stream", "AAPL", "--url", server.url, "--json"])
    assert result.exit_code == 5, result.output
    assert "gave up" in result.stderr and "key *** is not valid" in result.stderr
    assert key not in result.stdout + result.stderr


def test_the_stats_file_and_stats_json_never_hold_an_echoed_key(tmp_path: Path) -> None:
    key = new_key()
    env = argus_env(tmp_path, ARGUS_API_KEY=key)
    script = [*echoes(key), price("AAPL", 1)]
    with ThreadedHostile(script=script) as server:
        proc = subprocess.Popen(
            [*ARGUS, "stream", "AAPL", "--url", server.url, "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            path = statefile.path_for(proc.pid)
            assert path.parent == tmp_path / "run" / "argus"  # where the stream writes it

            def reported() -> bool:
                return path.exists() and "last_error" in path.read_text()

            wait_for(lambda: reported() and "null" not in _last_error(path))
            raw = path.read_text()
            stats = runner.invoke(app, ["stats", "--json"])
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=10)
    assert "***" in raw and key not in raw
    assert stats.exit_code == 0 and key not in stats.stdout
    assert [s["pid"] for s in json.loads(stats.stdout)] == [proc.pid]
    assert key not in out + err and "***" in err


def _last_error(path: Path) -> str:
    try:
        return json.dumps(json.loads(path.read_text()).get("last_error"))
    except ValueError:
        return "null"


def test_stats_json_redacts_tokens_in_a_planted_file() -> None:
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
    path = statefile.path_for(os.getpid())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps({"pid": os.getpid(), "last_error": "Authorization: Bearer tok9"}))
    result = runner.invoke(app, ["stats", "--json"])
    assert result.exit_code == 0 and "tok9" not in result.stdout


# --- credentials in URLs --------------------------------------------------------------------


@pytest.mark.parametrize("api_key", [None, "k-userinfo-test-key"])
async def test_credentials_in_the_url_are_refused_before_anything_is_sent(
    api_key: str | None,
) -> None:
    async with HostileServer() as server:
        url = server.url.replace("ws://", "ws://user:hunter2@")
        client = WebSocketClient(ConnectionConfig(url=url, api_key=api_key, timeout=2))
        assert await client.connect() is False
        await client.disconnect()
    assert isinstance(client.failure, ConfigError)
    assert "credentials" in str(client.failure) and "hunter2" not in str(client.failure)
    assert server.headers == []  # no handshake: no second Authorization header, no Basic


def test_the_cli_refuses_credentials_in_the_url_with_exit_3() -> None:
    with ThreadedHostile() as server:
        url = server.url.replace("ws://", "ws://user:hunter2@")
        result = runner.invoke(app, ["stream", "AAPL", "--url", url, "--json"])
        assert server.headers == []
    assert result.exit_code == 3, result.output
    assert "credentials" in result.stderr and "hunter2" not in result.output


def test_profiles_list_hides_url_credentials_and_query_tokens() -> None:
    folder = user_profiles_dir()
    folder.mkdir(parents=True)
    (folder / "mine.yaml").write_text(
        "connection:\n  url: wss://user:hunter2@example.com/ws?token=tok-77\n"
    )
    result = runner.invoke(app, ["profiles"])
    assert result.exit_code == 0, result.output
    assert "mine" in result.stdout and "example.com" in result.stdout
    assert "hunter2" not in result.output and "tok-77" not in result.output


def test_no_key_in_a_subprocess_traceback(tmp_path: Path) -> None:
    """ARGUS_DEBUG=1 prints tracebacks: they are redacted too."""
    key = new_key()
    env = argus_env(tmp_path, ARGUS_API_KEY=key, ARGUS_DEBUG="1", ARGUS_MAX_RECONNECT_ATTEMPTS="1")
    with ThreadedHostile(close_after_script=(1008, f"key {key}")) as server:
        result = subprocess.run(
            [*ARGUS, "stream", "AAPL", "--url", server.url, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 5, result.stderr
    assert "Traceback" in result.stderr and key not in result.stdout + result.stderr
    assert sys.executable  # (ARGUS runs this interpreter)


async def test_the_simulator_never_logs_its_own_key_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from websockets.asyncio.client import connect

    from argus_cli.sim import Simulator, SimulatorConfig

    key = secrets.token_urlsafe(24)
    with caplog.at_level(logging.DEBUG):
        sim = Simulator(SimulatorConfig(host="127.0.0.1", port=0, api_key=key))
        await sim.start()
        try:
            # a raw client, which registers no key: only the simulator's own can redact it
            headers = {"Authorization": f"Bearer {key}"}
            async with connect(sim.url, additional_headers=headers) as ws:
                assert json.loads(await ws.recv())["type"] == "welcome"
        finally:
            await sim.stop()
    assert any("Authorization" in r.getMessage() for r in caplog.records)  # it was logged
    assert key not in caplog.text
