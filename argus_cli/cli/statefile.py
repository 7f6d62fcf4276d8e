"""Stats files: how running streams tell ``argus stats`` how they are doing.

Each ``argus stream`` writes ``stream-<pid>.json`` about once a second in the
user's runtime directory (``$XDG_RUNTIME_DIR/argus``, else the user state
directory): atomically (temporary file, then rename), readable by the user
only, removed on exit. Readers skip and delete files of dead processes.

The directory may be shared (a runtime directory others can write to, a
fallback on a multi-user machine), so a file is data, not trust: readers take
only regular files named ``stream-<pid>.json`` that belong to the user, at most
64 KiB, and redact them; the renderer shows every value as literal, neutralized
text. Writers redact every string (the key, bearer tokens a server echoed) and
refuse a directory that belongs to someone else.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

import platformdirs

from ..client.redact import redact_text

__all__ = ["read_all", "remove", "stats_dir", "write_atomic"]

MAX_FILE_BYTES = 64 * 1024
_NAME = re.compile(r"stream-([1-9][0-9]{0,9})\.json")


def stats_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "argus"
    return Path(platformdirs.user_state_dir("argus")) / "streams"


def path_for(pid: int) -> Path:
    return stats_dir() / f"stream-{pid}.json"


def _mine(info: os.stat_result) -> bool:
    getuid = getattr(os, "getuid", None)
    return getuid is None or info.st_uid == getuid()


def _redacted(value: Any) -> Any:
    """``value`` with every string (dict keys too) redacted."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {_redacted(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def write_atomic(data: dict[str, Any], path: Path | None = None) -> Path:
    path = path or path_for(os.getpid())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not _mine(path.parent.lstat()):
        raise PermissionError(f"{path.parent} belongs to another user: not writing stats there")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".stream-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(_redacted(data), handle, default=lambda o: redact_text(str(o)))
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
        name = _NAME.fullmatch(path.name)
        if name is None:
            continue
        try:
            info = path.lstat()
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or not _mine(info):
            continue  # a link, or planted by someone else: neither read nor deleted
        if not _alive(int(name.group(1))):
            remove(path)
            continue
        data = _load(path)
        if isinstance(data, dict):
            out.append(_redacted(data))
    out.sort(key=lambda d: str(d.get("started", "")))
    return out


def _load(path: Path) -> Any:
    """The JSON in ``path`` (not through a link, at most MAX_FILE_BYTES); None if unusable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None  # being replaced right now: skip this round
    if len(raw) > MAX_FILE_BYTES:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None  # damaged (or half written by a foreign tool): skip
