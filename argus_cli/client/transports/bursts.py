"""``Bursts``: the frames of one socket read, handed to ``Link.receive``'s callback.

Both links parse frames in a protocol callback (picows' ``on_ws_frame``,
websockets' ``process_event``) and append every whole message to ``burst``, then
``flush`` once the read is parsed: the read's messages go to ``on_frames`` in
one call, straight from the callback. What cannot be delivered at once waits
here, in order:

- before ``receive`` runs (between the handshake and the first ``receive``), up
  to ``max_queue`` messages, then reading pauses (websockets' ``max_queue``);
- while ``on_frames``' last awaitable runs: reading pauses until it completes
  (that is how backpressure reaches the socket), and what the read already held
  is queued behind it.

``finish`` marks the connection's end; ``receive`` returns once everything read
before it is delivered.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from .base import FrameCallback

__all__ = ["Bursts"]


class Bursts:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pause: Callable[[], None],
        resume: Callable[[], None],
        max_queue: int,
    ) -> None:
        self.loop = loop
        self.pause = pause  # stop reading the socket (the link's own guards apply)
        self.resume = resume
        self.max_queue = max_queue
        self.on_frames: FrameCallback | None = None  # set while receive() runs
        self.busy = False  # receive() is awaiting on_frames' awaitable or emptying the queue
        self.burst: list[str | bytes] = []  # messages of the read being parsed
        self.queue: deque[list[str | bytes]] = deque()  # reads waiting for on_frames
        self.queued = 0  # messages in ``queue``
        self.pending: Awaitable[None] | None = None  # on_frames' awaitable, for receive()
        self.error: Exception | None = None  # on_frames raised: receive() raises it
        self.wakeup: asyncio.Future[None] | None = None
        self.ended = False

    def flush(self) -> None:
        """Hand the messages in ``burst`` to ``on_frames`` (or queue them)."""
        burst = self.burst
        if not burst:
            return
        self.burst = []
        on_frames = self.on_frames
        if on_frames is None or self.busy:
            self.queue.append(burst)
            self.queued += len(burst)
            if on_frames is None and self.queued >= self.max_queue:
                self.pause()
            return
        try:
            pending = on_frames(burst)
        except Exception as exc:  # receive() raises it, as websockets' recv does
            self.error = exc
        else:
            if pending is None:
                return
            self.pending = pending
        self.busy = True
        self.pause()
        self.wake()

    def drop(self) -> None:
        """Deliver nothing more (the link is closing)."""
        self.burst = []
        self.queue.clear()
        self.queued = 0

    def finish(self) -> None:
        """The connection ended: ``receive`` returns once what was read is delivered."""
        self.flush()
        self.ended = True
        self.wake()

    def wake(self) -> None:
        waiter = self.wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def receive(self, on_frames: FrameCallback, describe: Callable[[], str]) -> str:
        """``Link.receive``: deliver until the connection ends, then ``describe()`` it."""
        if self.on_frames is not None:
            raise RuntimeError("receive() is already running on this link")
        self.on_frames = on_frames
        self.busy = True  # until the messages read before this call are delivered
        try:
            while True:
                error, self.error = self.error, None
                if error is not None:
                    raise error
                pending, self.pending = self.pending, None
                if pending is not None:
                    await pending
                queue = self.queue
                while queue:
                    burst = queue.popleft()
                    self.queued -= len(burst)
                    more = on_frames(burst)
                    if more is not None:
                        await more
                if self.ended:
                    return describe()
                self.busy = False  # the protocol callback may deliver straight away now
                self.resume()
                self.wakeup = self.loop.create_future()
                try:
                    await self.wakeup
                finally:
                    self.wakeup = None
                    self.busy = True
        finally:
            self.on_frames = None
            self.busy = False
