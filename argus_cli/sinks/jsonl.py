"""JSON lines: one normalized event per line, to standard output or any binary stream.

Never blocks the event loop.

When stdout is a pipe or a socket, writes go through an asyncio pipe
transport: a reader that stops reading makes ``write`` wait (the client's
bounded buffer fills, reading pauses, TCP pushes back on the server) instead
of freezing the loop and its keepalive pings. Files, terminals and
``/dev/null`` never block for long and are written directly. One write per
delivery (a socket read's frames), flushed at once; a partial line is never
written. At close, every line written is handed to the reader while it keeps
reading (``STALL``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import sys
from collections.abc import Sequence
from typing import BinaryIO

from ..events import Event
from ..exceptions import SinkError
from .base import encode_lines

log = logging.getLogger("argus_cli.sinks")

__all__ = ["JsonLinesSink", "OutputClosed"]

HIGH_WATER = 256 * 1024
STALL = 2.0  # seconds a reader may take nothing at exit before the rest is given up


class OutputClosed(SinkError):
    """The reader went away (for instance ``| head`` on standard output): a normal end
    for a command-line tool, which stops quietly."""


class _PipeProtocol(asyncio.BaseProtocol):
    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.lost = False

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.writable.set()


class JsonLinesSink:
    """Writes each delivery's events as JSON lines, one write each."""

    def __init__(self, stream: BinaryIO | None = None, *, name: str = "standard output") -> None:
        if stream is None and sys.stdout is not None:
            stream = getattr(sys.stdout, "buffer", None)
        self.stream = stream  # None: standard output is closed
        self.name = name
        self.lines = 0
        self._transport: asyncio.WriteTransport | None = None
        self._protocol: _PipeProtocol | None = None

    async def open(self) -> None:
        """Use a non-blocking pipe transport when stdout is a pipe or socket."""
        if self.stream is None:
            raise SinkError(f"cannot write to {self.name}: it is closed", sink=self.name)
        try:
            mode = os.fstat(self.stream.fileno()).st_mode
        except (OSError, ValueError, AttributeError):
            return
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            return
        loop = asyncio.get_running_loop()
        # a duplicate descriptor, so closing the transport leaves fd 1 alone
        pipe = os.fdopen(os.dup(self.stream.fileno()), "wb", buffering=0)
        transport, protocol = await loop.connect_write_pipe(_PipeProtocol, pipe)
        transport.set_write_buffer_limits(high=HIGH_WATER)
        self._transport, self._protocol = transport, protocol

    def encode(self, events: Sequence[Event]) -> bytes:
        return encode_lines(events)

    async def write(self, events: Sequence[Event]) -> None:
        data = self.encode(events)
        transport, protocol = self._transport, self._protocol
        if transport is None or protocol is None:
            stream = self.stream
            if stream is None:
                raise SinkError(f"cannot write to {self.name}: it is closed", sink=self.name)
            try:
                stream.write(data)
                stream.flush()
            except BrokenPipeError:
                raise self._closed() from None
            except (OSError, ValueError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise SinkError(f"cannot write to {self.name}: {reason}", sink=self.name) from None
            self.lines += len(events)
            return
        if protocol.lost or transport.is_closing():
            raise self._closed()
        transport.write(data)
        if protocol.lost or transport.is_closing():  # the write itself hit EPIPE
            raise self._closed()
        self.lines += len(events)
        if not protocol.writable.is_set():
            await protocol.writable.wait()
            if protocol.lost:
                raise self._closed()

    def _closed(self) -> OutputClosed:
        return OutputClosed(f"{self.name} was closed", sink=self.name)

    async def close(self) -> None:
        transport, protocol = self._transport, self._protocol
        if transport is None or protocol is None:
            return
        await self._drain(transport, protocol)
        transport.close()
        self._transport = None

    async def _drain(self, transport: asyncio.WriteTransport, protocol: _PipeProtocol) -> None:
        """Hand every written line to the reader before closing: wait while the reader
        takes data; give up only once it has taken nothing for ``STALL`` seconds (a
        reader that stopped reading), saying how much it never took."""
        left = transport.get_write_buffer_size()
        if not left or protocol.lost:
            return
        transport.set_write_buffer_limits(high=0, low=0)  # resume_writing once empty
        while left and not protocol.lost:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(protocol.writable.wait(), STALL)
            now_left = transport.get_write_buffer_size()
            if now_left >= left:  # no progress in STALL seconds
                log.warning(
                    "%s: the reader took nothing for %gs; %d bytes of output dropped",
                    self.name,
                    STALL,
                    now_left,
                )
                return
            left = now_left
