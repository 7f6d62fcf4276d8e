"""Stats files: how running streams tell ``argus stats`` how they are doing.

Each ``argus stream`` writes ``stream-<pid>.json`` about once a second in the
user's runtime directory (``$XDG_RUNTIME_DIR/argus``, else the user state
directory): atomically (temporary file, then rename), readable by the user
only, removed on exit. Readers skip and delete files of dead processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import platformdirs

__all__ = ["read_all", "remove", "stats_dir", "write_atomic"]


def stats_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "argus"
    return Path(platformdirs.user_state_dir("argus")) / "streams"


def path_for(pid: int) -> Path:
    return stats_dir() / f"stream-{pid}.json"


def write_atomic(data: dict[str, Any], path: Path | None = None) -> Path:
    path = path or path_for(os.getpid())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".stream-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, default=str)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def remove(path: Path | None = None) -> None:
    with contextlib.suppress(OSError):
        (path or path_for(os.getpid())).unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_all() -> list[dict[str, Any]]:
    """Stats of every running stream, oldest first; stale files are removed."""
    folder = stats_dir()
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("stream-*.json")):
        try:
            pid = int(path.stem.split("-", 1)[1])
        except ValueError:
            continue
        if not _alive(pid):
            remove(path)
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being replaced right now, or damaged: skip this round
        if isinstance(data, dict):
            out.append(data)
    out.sort(key=lambda d: str(d.get("started", "")))
    return out
