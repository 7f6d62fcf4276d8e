"""Server-controlled text never reaches the terminal raw.

A hostile server (real sockets, ``argus_cli.testing.hostile``) puts escape
sequences (OSC 52 clipboard write, OSC 0 title, screen clear), C1 controls,
bidi overrides and rich markup in error messages and codes, close reasons, the
connection id and symbol names; a stats file planted in the runtime directory
does the same. Whatever argus prints shows them as visible escapes, and markup
as literal text.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console, RenderableType
from typer.testing import CliRunner

from argus_cli.cli import statefile
from argus_cli.cli.app import app
from argus_cli.cli.board import Board
from argus_cli.cli.exit_codes import fail
from argus_cli.cli.render import render_board, render_stats_table, render_status
from argus_cli.cli.runtime import setup_logging
from argus_cli.cli.safe_text import neutralize, plain, shown
from argus_cli.client import WebSocketClient
from argus_cli.exceptions import ArgusConnectionError
from argus_cli.testing.hostile import HostileServer, price

runner = CliRunner()

CLIPBOARD = "\x1b]52;c;SGVsbG8=\x07"  # OSC 52: write "Hello" to the clipboard
CLEAR = "\x1b[2J"
RLO = "\u202e"  # right-to-left override
MARKUP = "[red]x[/red]"
LINK = "[link=https://evil.example]click[/link]"
HOSTILE = f"{CLIPBOARD} {CLEAR} {RLO}gnp.exe {MARKUP} {LINK} \x9b31m \x7f end"
# what a terminal must show instead
SHOWN_CLIPBOARD = "\\x1b]52;c;SGVsbG8=\\x07"
SHOWN_CLEAR = "\\x1b[2J"
SHOWN_RLO = "\\u202e"

# anything a terminal acts on: C0 but tab and line feed, DEL, C1, bidi controls
RAW_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def assert_inert(text: str) -> None:
    found = sorted({f"U+{ord(c):04X}" for c in RAW_CONTROL.findall(text)})
    assert not found, f"raw control characters reach the terminal: {found}\n{text!r}"


def assert_shown_literally(text: str) -> None:
    assert SHOWN_CLIPBOARD in text and SHOWN_CLEAR in text and SHOWN_RLO in text
    assert MARKUP in text and LINK in text


class ThreadedHostile:
    """A ``HostileServer`` on its own event loop in a thread, for CliRunner tests."""

    def __init__(self, **options: Any) -> None:
        self.server = HostileServer(**options)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> HostileServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.__aenter__(), self.loop).result(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.__aexit__(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def error(message: str, code: str = "internal", **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


def text_of(renderable: RenderableType, width: int = 400) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    output = console.file.getvalue()
    assert isinstance(output, str)
    return output


# --- the one neutralizing function ----------------------------------------------------------


def test_neutralize_escapes_every_control_and_keeps_ordinary_unicode() -> None:
    assert neutralize(CLIPBOARD) == SHOWN_CLIPBOARD
    assert neutralize("a\x00b\x7fc\x85d\x9be") == "a\\x00b\\x7fc\\x85d\\x9be"
    assert neutralize("1\n2\r3\t4") == "1\\n2\\r3\\t4"
    for bidi in ("\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2069", "\u200f"):
        assert neutralize(bidi) == f"\\u{ord(bidi):04x}"
    assert neutralize("\ud800") == "\\ud800"  # a lone surrogate would make the write fail
    ordinary = "Zürich 東京 Ωmega — 😀 [red]x[/red] \\x1b"
    assert neutralize(ordinary) == ordinary
    assert_inert(neutralize("".join(map(chr, range(0x2100)))))


def test_plain_is_never_markup() -> None:
    assert text_of(plain(f"{MARKUP} {LINK} :smile:")).strip() == f"{MARKUP} {LINK} :smile:"
    assert shown(42) == "42"


# --- rendering, with hostile stats dicts ------------------------------------------------------


HOSTILE_STATS: dict[str, Any] = {
    "state": f"error{CLEAR}",
    "url": f"ws://evil{CLIPBOARD}/ws",
    "connection_id": f"\x1b]0;pwned\x07{MARKUP}",
    "uptime": f"{RLO}0:00:01",
    "messages_received": f"{CLEAR}12",
    "messages_per_second": MARKUP,
    "latency_p50_ms": LINK,
    "latency_p99_ms": "\x9b2J",
    "reconnect_count": f"{CLEAR}1",
    "gaps": f"\x1b[5m{MARKUP}",
    "errors": f"{RLO}3",
    "last_error": HOSTILE,
}


def test_status_panel_with_a_hostile_stats_dict() -> None:
    out = text_of(render_status(HOSTILE_STATS))
    assert_inert(out)
    assert_shown_literally(out)
    assert "conn \\x1b]0;pwne" in out  # the id is cut to 8 characters first
    assert "error\\x1b[2J" in out


def test_board_with_a_hostile_symbol_and_stats() -> None:
    symbol = f"{CLEAR}{MARKUP}"
    board = Board([symbol])
    board.update(
        {
            "type": "orderbook",
            "symbol": symbol,
            "bids": [[99.5, 10]],
            "asks": [[100.5, 10]],
            "received": 1000.0,
        }
    )
    out = text_of(render_board(board, HOSTILE_STATS, 1000.0))
    assert_inert(out)
    assert f"\\x1b[2J{MARKUP} book" in out  # the book panel's title
    assert_shown_literally(out)


def test_stats_table_with_hostile_streams() -> None:
    streams: list[dict[str, Any]] = [
        {**HOSTILE_STATS, "pid": f"1{CLEAR}", "profile": LINK, "symbols": [MARKUP, 7, CLIPBOARD]},
        {"symbols": "not a list", "url": None, "uptime": 12},
    ]
    out = text_of(render_stats_table(streams))
    assert_inert(out)
    assert SHOWN_CLIPBOARD in out and MARKUP in out and LINK in out


# --- the error boundary and the stderr log handler ----------------------------------------


@pytest.mark.parametrize("debug", [False, True])
def test_fail_prints_a_hostile_message_inert(
    debug: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if debug:
        monkeypatch.setenv("ARGUS_DEBUG", "1")
    with pytest.raises(SystemExit) as exited:
        fail(ArgusConnectionError(f"connection closed: {HOSTILE}\nargus: fake line"))
    assert exited.value.code == 5
    err = capsys.readouterr().err
    assert_inert(err)
    assert_shown_literally(err)
    if not debug:  # (a traceback is many lines anyway: each neutralized on its own)
        assert "\nargus: fake line" not in err  # a server cannot start a line of its own
    with pytest.raises(SystemExit):
        fail(RuntimeError(HOSTILE))
    assert_inert(capsys.readouterr().err)


def test_stderr_handler_neutralizes_records_of_child_loggers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("DEBUG")
    logging.getLogger("argus_cli.client.deep.child").warning("server said: %s", HOSTILE)
    try:
        raise ValueError(HOSTILE)
    except ValueError:
        logging.getLogger("argus_cli.sim").exception("with a traceback")
    err = capsys.readouterr().err
    assert_inert(err)
    assert_shown_literally(err)
    assert "Traceback" in err


# --- over real sockets, through the command ------------------------------------------------


def test_a_refused_subscription_is_shown_inert() -> None:
    refusal = error(HOSTILE, code="invalid_symbol", id="{sub}")
    with ThreadedHostile(error_for_subscribe=refusal) as server:
        result = runner.invoke(app, ["stream", "AAPL", "--url", server.url, "--json"])
    assert result.exit_code == 1, result.output
    assert "refused by the server" in result.stderr
    assert_inert(result.stdout + result.stderr)
    assert_shown_literally(result.stderr)


def test_server_errors_while_streaming_are_logged_inert() -> None:
    script = [
        error(HOSTILE),
        error("odd code", code=f"internal{CLEAR}{RLO}"),
        price("AAPL", 1),
        price("AAPL", 2),
    ]
    with ThreadedHostile(script=script) as server:
        result = runner.invoke(
            app, ["stream", "AAPL", "--url", server.url, "--json", "--count", "2"]
        )
    assert result.exit_code == 0, result.output
    assert_inert(result.stdout + result.stderr)
    assert_shown_literally(result.stderr)


def test_close_reasons_are_shown_inert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGUS_MAX_RECONNECT_ATTEMPTS", "2")
    monkeypatch.setenv("ARGUS_RECONNECT_DELAY", "0.01")
    reason = f"\x1b]0;pwned\x07{CLEAR}{RLO}{MARKUP}"
    with ThreadedHostile(close_after_script=(1008, reason)) as server:
        result = runner.invoke(app, ["stream", "AAPL", "--url", server.url, "--json"])
    assert result.exit_code == 5, result.output
    assert "code 1008" in result.stderr and "gave up" in result.stderr
    assert_inert(result.stdout + result.stderr)
    assert f"\\x1b]0;pwned\\x07{SHOWN_CLEAR}{SHOWN_RLO}{MARKUP}" in result.stderr


def test_the_connection_id_in_the_status_panel_is_inert() -> None:
    script = [price("AAPL", 1), price("AAPL", 2)]
    with ThreadedHostile(script=script, connection_id=f"\x1b]0;pwned\x07{MARKUP}") as server:
        result = runner.invoke(
            app, ["stream", "AAPL", "--url", server.url, "--format", "table", "--count", "2"]
        )
    assert_inert(result.stdout + result.stderr)
    if "conn —" not in result.stdout:  # the codec took the id: it is shown, escaped
        assert "conn \\x1b]0;pwne" in result.stdout


def test_symbols_from_the_server_are_listed_inert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGUS_TIMEOUT", "2")
    names = ["AAPL", CLIPBOARD, f"{RLO}LPAA", MARKUP]
    with ThreadedHostile(symbols=names) as server:
        listed = runner.invoke(app, ["symbols", "--url", server.url])
        as_json = runner.invoke(app, ["symbols", "--url", server.url, "--json"])
    for result in (listed, as_json):  # (the codec refuses such a reply: no raw text either way)
        assert_inert(result.stdout + result.stderr)


def test_symbol_names_the_client_hands_over_are_printed_inert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The terminal side on its own: whatever names the client returns, lines stay inert."""
    names = ["AAPL", CLIPBOARD, f"{RLO}LPAA", MARKUP]

    async def list_symbols(self: WebSocketClient) -> list[str]:
        return names

    monkeypatch.setattr(WebSocketClient, "list_symbols", list_symbols)
    with ThreadedHostile() as server:
        listed = runner.invoke(app, ["symbols", "--url", server.url])
        as_json = runner.invoke(app, ["symbols", "--url", server.url, "--json"])
    assert listed.exit_code == 0, listed.output
    assert_inert(listed.stdout)
    assert listed.stdout.splitlines() == ["AAPL", SHOWN_CLIPBOARD, f"{SHOWN_RLO}LPAA", MARKUP]
    assert_inert(as_json.stdout)
    assert json.loads(as_json.stdout) == names


def test_probe_shows_server_text_literally() -> None:
    script = [error(HOSTILE), price("AAPL", 1)]
    with ThreadedHostile(script=script, connection_id=f"id-{CLEAR}") as server:
        result = runner.invoke(
            app, ["stats", "--probe", "AAPL", "--url", server.url, "--duration", "0.3"]
        )
    assert result.exit_code == 0, result.output
    assert_inert(result.stdout + result.stderr)
    assert_shown_literally(result.stdout)  # last_error, shown as text, not as markup


# --- stats files planted in the runtime directory -------------------------------------------


def plant(data: Any, pid: int | None = None) -> Path:
    path = statefile.path_for(os.getpid() if pid is None else pid)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps(data))
    return path


def test_a_planted_stats_file_is_shown_inert() -> None:
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
    planted = {
        "pid": os.getpid(),
        "profile": f"{RLO}dev",
        "state": MARKUP,
        "symbols": [LINK],
        "errors": CLEAR,
        "url": f"ws://e/{CLIPBOARD}",
        "started": "2026-01-01T00:00:00",
    }
    plant(planted)
    table = runner.invoke(app, ["stats"])
    assert table.exit_code == 0, table.output
    assert_inert(table.stdout + table.stderr)
    for literal in (SHOWN_CLIPBOARD, SHOWN_CLEAR, SHOWN_RLO, MARKUP, LINK):
        assert literal in table.stdout
    as_json = runner.invoke(app, ["stats", "--json"])
    assert_inert(as_json.stdout)  # JSON escapes control characters itself
    assert json.loads(as_json.stdout)[0]["url"] == f"ws://e/{CLIPBOARD}"


def test_links_and_odd_names_in_the_stats_dir_are_not_read(tmp_path: Path) -> None:
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"pid": os.getpid(), "state": HOSTILE}))
    folder = plant({"pid": os.getpid(), "state": "connected"}).parent
    (folder / f"stream-{os.getppid()}.json").symlink_to(elsewhere)
    (folder / "stream-0.json").write_text("{}")  # pid 0: this process group, not a pid
    (folder / "stream--1.json").write_text("{}")
    (folder / "stream-1.json").write_text("x" * (statefile.MAX_FILE_BYTES + 1))
    assert statefile.read_all() == [{"pid": os.getpid(), "state": "connected"}]
    assert elsewhere.exists()
