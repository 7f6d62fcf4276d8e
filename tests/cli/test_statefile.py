"""Stats files: atomic writes, private permissions, removal, and dead streams cleaned up.

Every test points the module at its own temporary directories (the runtime
directory through ``XDG_RUNTIME_DIR``, the fallback through platformdirs).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from argus_cli.cli import statefile


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An existing runtime directory: stats files go to ``<it>/argus``."""
    folder = tmp_path / "runtime"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    return folder


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the user state directory lies when there is no runtime directory."""
    home = tmp_path / "state-home"

    def user_state_dir(appname: str | None = None, *args: object, **kwargs: object) -> str:
        return str(home / (appname or ""))

    monkeypatch.setattr(platformdirs, "user_state_dir", user_state_dir)
    return home


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(10)
    return proc.pid


# --- where ----------------------------------------------------------------------------------


def test_stats_dir_is_in_the_runtime_dir(runtime: Path) -> None:
    assert statefile.stats_dir() == runtime / "argus"
    assert statefile.path_for(123) == runtime / "argus" / "stream-123.json"


def test_stats_dir_falls_back_to_the_state_dir(
    tmp_path: Path, state_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "does-not-exist"))
    assert statefile.stats_dir() == state_home / "argus" / "streams"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert statefile.stats_dir() == state_home / "argus" / "streams"


# --- writing ------------------------------------------------------------------------------


def test_write_is_private_file_in_private_dir(runtime: Path) -> None:
    path = statefile.write_atomic({"pid": os.getpid(), "state": "connected"})
    assert path == runtime / "argus" / f"stream-{os.getpid()}.json"
    assert json.loads(path.read_text()) == {"pid": os.getpid(), "state": "connected"}
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700


def test_write_to_an_explicit_path_creates_its_folder(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "streams" / "stream-1.json"
    assert statefile.write_atomic({"n": 1}, target) == target
    assert json.loads(target.read_text()) == {"n": 1}
    assert mode(target.parent) == 0o700


def test_values_json_cannot_hold_are_written_as_text(runtime: Path) -> None:
    path = statefile.write_atomic({"started": Path("/x"), "uptime": 1.5})
    assert json.loads(path.read_text()) == {"started": "/x", "uptime": 1.5}


def test_rewrite_replaces_the_content_and_leaves_no_temporary_files(runtime: Path) -> None:
    for n in range(5):
        path = statefile.write_atomic({"messages": n})
    assert json.loads(path.read_text()) == {"messages": 4}
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_a_failed_write_keeps_the_old_file_and_cleans_up(runtime: Path) -> None:
    path = statefile.write_atomic({"messages": 1})
    with pytest.raises(TypeError):
        statefile.write_atomic({("not", "a", "str", "key"): 1})  # type: ignore[dict-item]
    assert json.loads(path.read_text()) == {"messages": 1}  # never half-written
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


# --- removing -----------------------------------------------------------------------------


def test_remove_deletes_this_process_file(runtime: Path) -> None:
    path = statefile.write_atomic({"pid": os.getpid()})
    statefile.remove()
    assert not path.exists()
    statefile.remove()  # already gone: quiet


def test_remove_an_explicit_path(tmp_path: Path) -> None:
    target = statefile.write_atomic({}, tmp_path / "s" / "stream-9.json")
    statefile.remove(target)
    assert not target.exists()
    statefile.remove(tmp_path / "never-existed.json")


# --- reading ------------------------------------------------------------------------------


def test_read_all_without_a_folder_is_empty(runtime: Path) -> None:
    assert not statefile.stats_dir().exists()
    assert statefile.read_all() == []


def test_read_all_returns_live_streams_oldest_first(runtime: Path) -> None:
    me = os.getpid()
    parent = os.getppid()
    statefile.write_atomic({"pid": me, "started": "2024-01-02T00:00:00"})
    statefile.write_atomic(
        {"pid": parent, "started": "2024-01-01T00:00:00"}, statefile.path_for(parent)
    )
    assert [s["pid"] for s in statefile.read_all()] == [parent, me]


def test_read_all_removes_files_of_dead_processes(runtime: Path) -> None:
    pid = dead_pid()
    dead = statefile.write_atomic({"pid": pid}, statefile.path_for(pid))
    live = statefile.write_atomic({"pid": os.getpid()})
    assert [s["pid"] for s in statefile.read_all()] == [os.getpid()]
    assert not dead.exists()
    assert live.exists()


def test_read_all_skips_damaged_and_foreign_files_without_deleting_them(runtime: Path) -> None:
    folder = statefile.write_atomic({"pid": os.getpid()}).parent
    damaged = statefile.path_for(os.getppid())
    damaged.write_text('{"pid": ')  # half a file
    not_a_dict = folder / "stream-1.json"  # pid 1 is always alive
    not_a_dict.write_text("[1, 2]")
    foreign = folder / "stream-abc.json"
    foreign.write_text("{}")
    assert statefile.read_all() == [{"pid": os.getpid()}]
    assert damaged.exists() and not_a_dict.exists() and foreign.exists()
