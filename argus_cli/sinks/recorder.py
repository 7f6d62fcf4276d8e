"""Recordings: each event as the JSON line ``argus stream --json`` prints, into a file
compressed by its name (``.zst``, ``.gz``, else plain; see ``argus_cli.compressed``).

Crash safety: whole lines only, and a flush (a complete zstd block / a gzip sync
flush, then the OS write) at least once a second and at close, so a recorder
killed at any moment leaves a file that reads back completely up to its last
flush. A write error (a full disk, a file-size limit, the file or its directory
removed) stops the recorder with a one-line ``SinkError``; the file keeps what
was flushed (a plain file is cut back to its last whole line, a compressed one
reads back up to its last flush).

The event loop never waits on the disk: ``write`` only encodes and queues; one
worker at a time (``asyncio.to_thread``) compresses and writes what has queued
since the last batch. Awaiting ``write`` is the backpressure: it waits while
more than ``high_water`` bytes are queued.

Rotation (``rotate_seconds`` and/or ``rotate_bytes``): the files are named
``<stem>-<start>[-N]<ext>``, ``<start>`` the UTC time the file was opened
(``20261129T151300Z``), ``-N`` only when two files of one run would share a
name; ``<ext>`` is the compression suffix with the one before it
(``out.jsonl.zst`` -> ``out-20261129T151300Z.jsonl.zst``). Files are never split
inside a line. ``rotate_bytes`` counts the JSON lines' bytes (before
compression); a file holds at most that much unless one line alone is larger.
Without rotation the file is the path given (truncated if it exists).

Raw frames (``raw=True``, fed by ``keep_frame``): each provider frame verbatim
with its receive time, one JSON object a line, in the sidecar
``<stem>.frames.jsonl<compression>`` next to (and rotating with) its file:
``{"received": 1764429180.123, "source": "coinbase", "frame": "<text>"}``, or
``"frame_b64"`` (standard base64) for a binary frame. Each sidecar file starts
with the subscriptions line ``{"subscriptions": [...]}`` (every source's, as last
given to ``keep_subscriptions``), so each one replays alone; given again once
the files are open (a reconnect made them again), one source's subscriptions
are also written as a line of their own, in order among the frames. The format
is ``argus_cli.sources.recording``'s (its ``Subscription.to_json`` items).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from ..compressed import LineWriter, kind_of, open_lines
from ..events import Event
from ..exceptions import SinkError
from .base import encode_lines

__all__ = ["Recorder", "rotated_name", "sidecar_name"]

_DUMP = orjson.dumps
_NEWLINE = orjson.OPT_APPEND_NEWLINE
FLUSH_INTERVAL = 1.0
GATHER_SECONDS = 0.02  # the writer waits this long for more lines before a round...
GATHER_BYTES = 1 << 20  # ...unless this much is queued already
HIGH_WATER = 4 << 20


def split_name(path: str | Path) -> tuple[str, str]:
    """(stem, ext): ext is the compression suffix with the suffix before it, if any
    (``a/out.jsonl.zst`` -> ``a/out``, ``.jsonl.zst``; ``out`` -> ``out``, ``""``)."""
    name = str(path)
    folder, _, base = name.rpartition(os.sep)
    prefix = folder + os.sep if _ else ""
    kind = kind_of(name)
    compression = "" if kind == "plain" else f".{kind}"
    rest = base[: len(base) - len(compression)]
    dot = rest.rfind(".")
    if dot > 0:
        return prefix + rest[:dot], rest[dot:] + compression
    return prefix + rest, compression


def sidecar_name(path: str | Path) -> str:
    """The raw frames' file of the recording ``path``: ``<stem>.frames.jsonl<compression>``."""
    stem, _ = split_name(path)
    kind = kind_of(path)
    return f"{stem}.frames.jsonl" + ("" if kind == "plain" else f".{kind}")


def rotated_name(path: str | Path, start: float) -> str:
    """The name of a rotated file of ``path`` opened at ``start`` (before any ``-N``)."""
    stem, ext = split_name(path)
    stamp = dt.datetime.fromtimestamp(start, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stem}-{stamp}{ext}"


class _Gone(OSError):
    """The file being written was removed (or its directory was)."""


class _Files:
    """The open file (and its raw sidecar): only ever used by one worker thread at a time."""

    def __init__(
        self, path: str, rotate_seconds: float | None, rotate_bytes: int | None, raw: bool
    ) -> None:
        self.path = path
        self.rotate_seconds = rotate_seconds
        self.rotate_bytes = rotate_bytes
        self.raw = raw
        self.rotating = rotate_seconds is not None or rotate_bytes is not None
        self.names: list[str] = []
        self.current = ""
        self.main: LineWriter | None = None
        self.side: LineWriter | None = None
        self.identity: tuple[int, int] = (0, 0)
        # the subscriptions line each sidecar starts with (set on the event loop,
        # read here when a file opens: one reference, never half written)
        self.header = b""
        self.started = 0.0
        self.size = 0  # bytes of lines in the current file
        self.flushed = 0  # of which flushed

    def open_next(self, now: float) -> None:
        self.close()
        name = self.path
        if self.rotating:
            base = rotated_name(self.path, now)
            name, number = base, 1
            while name in self.names or os.path.exists(name):
                number += 1
                stem, ext = split_name(base)
                name = f"{stem}-{number}{ext}"
        self.main = open_lines(name)
        if self.raw:
            self.side = open_lines(sidecar_name(name))
            if self.header:
                self.side.write(self.header)
        info = os.stat(name)
        self.identity = (info.st_dev, info.st_ino)
        self.current, self.started, self.size, self.flushed = name, now, 0, 0
        self.names.append(name)

    def write(self, lines: bytearray, frames: bytearray, flush: bool, now: float) -> None:
        data, raw = bytes(lines), bytes(frames)  # one copy a batch, off the event loop
        if self.main is None:
            self.open_next(now)
        if (
            (data or raw)
            and self.rotate_seconds is not None
            and self.size
            and now - self.started >= self.rotate_seconds
        ):
            self.open_next(now)
        if raw and self.side is not None:
            self.side.write(raw)
        limit = self.rotate_bytes
        while data:
            assert self.main is not None
            if limit is None or self.size + len(data) <= limit:
                self.main.write(data)
                self.size += len(data)
                break
            cut = data.rfind(b"\n", 0, limit - self.size) if limit > self.size else -1
            if cut < 0 and self.size == 0:  # one line longer than the limit: alone
                cut = data.find(b"\n")
            if cut >= 0:
                self.main.write(data[: cut + 1])
                self.size += cut + 1
                data = data[cut + 1 :]
            if data:
                self.open_next(now)
        if flush:
            self.flush()

    def flush(self) -> None:
        if self.main is None:
            return
        self.main.flush()
        if self.side is not None:
            self.side.flush()
        self.flushed = self.size
        self.check_there()

    def check_there(self) -> None:
        try:
            info = os.stat(self.current)
        except FileNotFoundError:
            info = None
        if info is None or (info.st_dev, info.st_ino) != self.identity:
            raise _Gone(f"{self.current} was removed (or its directory was)")

    def close(self) -> None:
        main, side = self.main, self.side
        self.main = self.side = None
        try:
            if main is not None:
                main.close()
        finally:
            if side is not None:
                side.close()

    def abandon(self) -> None:
        """After a write error: close without raising; a plain file is cut back to its
        last whole line (at least its last flush: never a partial line at its end)."""
        name, flushed = self.current, self.flushed
        for writer in (self.main, self.side):
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
        self.main = self.side = None
        if name and kind_of(name) == "plain":
            with contextlib.suppress(OSError):
                os.truncate(name, _whole_lines(name, flushed))


def _whole_lines(name: str, flushed: int) -> int:
    """The size of ``name`` up to its last newline (``flushed`` if none is past it)."""
    size = os.path.getsize(name)
    with open(name, "rb") as file:
        end = size
        while end > flushed:
            start = max(flushed, end - (1 << 16))
            file.seek(start)
            newline = file.read(end - start).rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
    return min(flushed, size)


class Recorder:
    """A sink writing each event as a JSON line to ``path`` (see the module's text)."""

    def __init__(
        self,
        path: str | Path,
        *,
        rotate_seconds: float | None = None,
        rotate_bytes: int | None = None,
        raw: bool = False,
        flush_interval: float = FLUSH_INTERVAL,
        high_water: int = HIGH_WATER,
        on_error: Callable[[SinkError], None] | None = None,
    ) -> None:
        self.path = str(path)
        self.raw = raw
        self.flush_interval = flush_interval
        self.high_water = high_water
        self.on_error = on_error
        self.messages = 0
        self.bytes = 0  # JSON lines' bytes, before compression
        self.frames = 0  # raw frames kept
        self._files = _Files(self.path, rotate_seconds, rotate_bytes, raw)
        self._subscriptions: dict[str, list[dict[str, Any]]] = {}  # by source
        # the lines queued for the worker: appended to in place (no bytes object held
        # per event), handed over whole by swapping in a new one
        self._pending = bytearray()
        self._raw_pending = bytearray()
        self._error: SinkError | None = None
        self._reported = False
        self._closing = False
        self._closed = False
        self._pump: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._drained: asyncio.Event | None = None

    @property
    def current(self) -> str:
        """The file being written (the first one's name before ``open``)."""
        return self._files.current or self.path

    @property
    def files(self) -> list[str]:
        """Every file opened so far, in order."""
        return list(self._files.names)

    @property
    def queued(self) -> int:
        """Bytes encoded and waiting for the writer (``write`` waits past ``high_water``)."""
        return len(self._pending) + len(self._raw_pending)

    async def open(self) -> None:
        """Create the (first) file now, so that a bad path fails before streaming."""
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        try:
            await asyncio.to_thread(self._files.open_next, time.time())
        except OSError as exc:
            self._reported = True
            raise self._failure(exc, self.path, opening=True) from None
        self._pump = asyncio.create_task(self._run(), name="argus-recorder")

    async def write(self, events: Sequence[Event]) -> None:
        if self._error is not None:
            self._reported = True
            raise self._error
        pending = self._pending
        before = len(pending)
        pending += encode_lines(events)  # all the lines or none (a bad event raises)
        self.messages += len(events)
        self.bytes += len(pending) - before
        wake = self._wake
        assert wake is not None, "Recorder.write before open"
        wake.set()
        if len(pending) + len(self._raw_pending) > self.high_water:  # self.queued, inline
            drained = self._drained
            assert drained is not None
            drained.clear()
            await drained.wait()
            if self._error is not None:
                self._reported = True
                raise self._error

    def keep_frame(self, source: str, frame: str | bytes, received: float) -> None:
        """Keep a provider frame verbatim (``raw=True``); a ``raw_frame`` hook of
        ``WebSocketClient`` (bind the source with a lambda)."""
        if not self.raw or self._closing:
            return
        if isinstance(frame, str):
            try:
                line = _DUMP(
                    {"received": received, "source": source, "frame": frame}, option=_NEWLINE
                )
            except orjson.JSONEncodeError:  # lone surrogates: keep the bytes as sent
                data = frame.encode("utf-8", "surrogatepass")
                line = self._b64(source, data, received)
        else:
            line = self._b64(source, frame, received)
        self._raw_pending += line
        self.frames += 1
        if self._wake is not None:
            self._wake.set()

    def keep_subscriptions(self, source: str, subscriptions: Sequence[Mapping[str, Any]]) -> None:
        """What ``source``'s connection subscribed to (``raw=True``), as the sidecar's
        ``subscriptions`` items (``Subscription.to_json``). Given before ``open``: the
        line the sidecar starts with. Given again later (``source`` connected again):
        the line every later file starts with, and a line of its own now, naming
        ``source``'s subscriptions only, in order with the frames."""
        if not self.raw or self._closing:
            return
        items = [dict(item) for item in subscriptions]
        self._subscriptions[source] = items
        everything = [item for some in self._subscriptions.values() for item in some]
        self._files.header = _DUMP({"subscriptions": everything}, option=_NEWLINE)
        if self._wake is None:  # not open yet: the first file starts with it
            return
        line = _DUMP({"subscriptions": items}, option=_NEWLINE)
        self._raw_pending += line
        self._wake.set()

    @staticmethod
    def _b64(source: str, frame: bytes, received: float) -> bytes:
        encoded = base64.b64encode(frame).decode("ascii")
        return _DUMP(
            {"received": received, "source": source, "frame_b64": encoded}, option=_NEWLINE
        )

    async def _run(self) -> None:
        """The one writer: each round takes what queued since the last, writes it in a
        worker thread, and flushes when ``flush_interval`` has passed since the last flush."""
        wake, drained = self._wake, self._drained
        assert wake is not None and drained is not None
        loop = asyncio.get_running_loop()
        last_flush = loop.time()
        unflushed = False
        while True:
            if not (self._pending or self._raw_pending or self._closing):
                timeout = None
                if unflushed:
                    timeout = max(0.0, last_flush + self.flush_interval - loop.time())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout)
            wake.clear()
            if not self._closing and self.queued < GATHER_BYTES:
                # gather a while: fewer, larger rounds for the worker, which competes with
                # the event loop for the GIL every round (a round a frame cost 20% of ingest)
                await asyncio.sleep(GATHER_SECONDS)
            data, raw = self._pending, self._raw_pending
            self._pending, self._raw_pending = bytearray(), bytearray()
            drained.set()
            closing = self._closing
            flush = closing or loop.time() - last_flush >= self.flush_interval
            if not (data or raw or flush):
                continue
            try:
                await asyncio.to_thread(self._files.write, data, raw, flush, time.time())
                if closing:
                    await asyncio.to_thread(self._files.close)
            except Exception as exc:  # OSError mostly; anything else stops the recording too
                self._fail(exc)
                await asyncio.to_thread(self._files.abandon)
                return
            unflushed = not flush
            if flush:
                last_flush = loop.time()
            if closing:
                return

    def _fail(self, exc: Exception) -> None:
        self._error = self._failure(exc, self._files.current or self.path)
        if self._drained is not None:
            self._drained.set()
        if self.on_error is not None:
            self._reported = True
            self.on_error(self._error)

    @staticmethod
    def _failure(exc: Exception, name: str, *, opening: bool = False) -> SinkError:
        if isinstance(exc, _Gone):
            reason = str(exc)
        else:
            reason = f"cannot {'create' if opening else 'write'} {name}: "
            strerror = exc.strerror if isinstance(exc, OSError) else None
            reason += strerror or str(exc) or type(exc).__name__
        if not opening:
            reason += " (the recording is complete up to its last flush, 1s before at most)"
        return SinkError(reason, sink=name)

    async def close(self) -> None:
        """Write and flush what is queued, close the file(s); raise the write error if
        nobody was told of it yet. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._closing = True
        pump = self._pump
        if pump is not None:
            assert self._wake is not None
            self._wake.set()
            try:
                await asyncio.shield(pump)
            except asyncio.CancelledError:
                pump.cancel()
                raise
        if self._error is not None and not self._reported:
            self._reported = True
            raise self._error
