"""Line files, plain or compressed by their name: ``.zst`` (zstandard), ``.gz``
(gzip), anything else plain. What recordings are made of.

Writers hand over whole lines and call ``flush()`` to make everything written
so far readable from the file alone (a zstd block end / a gzip sync flush, then
the OS write), so a writer killed at any moment leaves a file that reads back
completely up to its last flush. Readers stop quietly at a truncated end: a
cut compressed stream or a last line without its newline is dropped, never
returned in part.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

import zstandard

__all__ = ["LineWriter", "kind_of", "open_lines", "read_lines"]

READ_CHUNK = 1 << 16


def kind_of(path: str | Path) -> str:
    """``"zst"``, ``"gz"`` or ``"plain"``, from the file name."""
    name = str(path)
    if name.endswith(".zst"):
        return "zst"
    if name.endswith(".gz"):
        return "gz"
    return "plain"


class LineWriter(Protocol):
    def write(self, data: bytes) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class _Zstd:
    def __init__(self, raw: BinaryIO, level: int) -> None:
        self._raw = raw
        self._writer = zstandard.ZstdCompressor(level=level).stream_writer(raw, closefd=True)

    def write(self, data: bytes) -> int:
        return int(self._writer.write(data))

    def flush(self) -> None:
        self._writer.flush(zstandard.FLUSH_BLOCK)  # a complete block: readable as is
        self._raw.flush()

    def close(self) -> None:
        self._writer.close()  # type: ignore[no-untyped-call]  # ends the frame, closes the file


class _Gzip:
    def __init__(self, raw: BinaryIO, level: int) -> None:
        self._raw = raw
        self._writer = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level)

    def write(self, data: bytes) -> int:
        return self._writer.write(data)

    def flush(self) -> None:
        self._writer.flush(zlib.Z_SYNC_FLUSH)  # byte-aligned: readable up to here
        self._raw.flush()

    def close(self) -> None:
        self._writer.close()
        self._raw.close()


def open_lines(path: str | Path, *, level: int | None = None) -> LineWriter:
    """A new file at ``path`` (truncated if it exists), compressed by its name."""
    raw = open(path, "wb")  # noqa: SIM115 (closed by the writer's close)
    kind = kind_of(path)
    if kind == "zst":
        return _Zstd(raw, 3 if level is None else level)
    if kind == "gz":
        return _Gzip(raw, 6 if level is None else level)
    return raw


def _chunks(path: str | Path) -> Iterator[bytes]:
    """The file's decompressed bytes, chunk by chunk, ending quietly at a cut."""
    kind = kind_of(path)
    with open(path, "rb") as raw:
        if kind == "plain":
            while chunk := raw.read(READ_CHUNK):
                yield chunk
            return
        if kind == "zst":
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            try:
                while chunk := reader.read(READ_CHUNK):
                    yield chunk
            except zstandard.ZstdError:
                return  # cut mid-block: what was flushed before came out already
            return
        stream = gzip.GzipFile(fileobj=raw, mode="rb")
        try:
            while chunk := stream.read1(READ_CHUNK):
                yield chunk
        except (EOFError, gzip.BadGzipFile, zlib.error):
            return  # no end-of-stream marker: a writer that was killed


def read_lines(path: str | Path) -> Iterator[bytes]:
    """Every complete line of the file (newline excluded); a cut last line is dropped."""
    pending = b""
    for chunk in _chunks(path):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from lines
