"""Standard error that never blocks the event loop.

When stderr is a pipe or a socket, a reader that stops reading fills it (64
KiB) and a plain write then blocks the whole process: pings stop, ``--duration``
and Ctrl-C are ignored. Here such a stderr is written by a daemon thread with
``os.write`` on its own descriptor, from a bounded queue: the loop only
enqueues; past ``QUEUE_LINES`` waiting messages the rest are counted and said
once the reader catches up. Terminals, files and anything without a descriptor
(a test runner's capture) are written directly, as before.

``flush(timeout)`` waits, bounded, for what is queued (the error boundary and
the end of a command call it), so nothing is lost when stderr is read, and
nothing hangs when it is not.
"""

from __future__ import annotations

import os
import queue
import stat
import sys
import threading

__all__ = ["QUEUE_LINES", "flush", "write"]

QUEUE_LINES = 1000


class _Writer:
    def __init__(self) -> None:
        self.queue: queue.Queue[bytes] = queue.Queue(maxsize=QUEUE_LINES)
        self.dropped = 0
        self.thread: threading.Thread | None = None
        self.fd: int | None = None
        self.checked: object | None = None  # the sys.stderr object last looked at
        self.piped = False

    def _is_pipe(self) -> bool:
        stream = sys.stderr
        if stream is not self.checked:
            self.checked = stream
            try:
                mode = os.fstat(stream.fileno()).st_mode
                self.piped = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
            except (AttributeError, OSError, ValueError):
                self.piped = False
        return self.piped

    def write(self, text: str) -> None:
        if not self._is_pipe():
            stream = sys.stderr
            if stream is not None:
                stream.write(text)
                stream.flush()
            return
        if self.thread is None:
            self.fd = os.dup(sys.stderr.fileno())
            self.thread = threading.Thread(target=self._run, name="argus-stderr", daemon=True)
            self.thread.start()
        try:
            self.queue.put_nowait(text.encode("utf-8", "backslashreplace"))
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        assert self.fd is not None
        while True:
            data = self.queue.get()
            try:
                if self.dropped:
                    note = f"argus: {self.dropped} lines for standard error were dropped\n"
                    self.dropped = 0
                    data = note.encode() + data
                while data:
                    data = data[os.write(self.fd, data) :]
            except OSError:
                pass  # stderr gone: nothing sensible left to do
            finally:
                self.queue.task_done()

    def flush(self, timeout: float) -> None:
        if self.thread is None:
            return
        done = threading.Event()

        def wait() -> None:
            self.queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        done.wait(timeout)


_WRITER = _Writer()


def write(text: str) -> None:
    """Write ``text`` to standard error without ever blocking on a reader."""
    _WRITER.write(text)


def flush(timeout: float = 1.0) -> None:
    """Wait at most ``timeout`` seconds for queued lines to reach standard error."""
    _WRITER.flush(timeout)
