"""Handlers and sinks: the registry, and the task that runs them off the socket reader.

User code runs here, never in the reader: the reader fills a bounded
``MessageBuffer`` with deliveries (``Delivery``: what one read gave) and this
task drains it in order. A handler that raises is
logged and counted; it never stops the stream. A sink that raises does: the
task ends with a ``SinkError`` (see ``argus_cli.sinks``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

from ..exceptions import SinkError
from ..protocol.rules import DATA_TYPES
from ..protocol.session import Message
from ..sinks.base import Sink
from .buffer import MessageBuffer

# handler types a typed delivery (data and gap events only) can concern
_DATA_HANDLERS = frozenset({*DATA_TYPES, "gap", "debug"})

log = logging.getLogger("argus_cli.client")

__all__ = ["Dispatcher", "FrameHandler", "Handler"]

Handler = Callable[[Message], Any]
FrameHandler = Callable[[list[Message]], Any]


class Dispatcher:
    def __init__(self) -> None:
        self.handlers: dict[str, list[Handler]] = {}
        self.frame_handlers: list[FrameHandler] = []
        self.sinks: list[Sink] = []
        self.failures = 0

    def add(self, data_type: str, handler: Handler) -> None:
        self.handlers.setdefault(data_type, []).append(handler)

    def remove(self, data_type: str, handler: Handler) -> None:
        handlers = self.handlers.get(data_type)
        if handlers and handler in handlers:
            handlers.remove(handler)
            if not handlers:
                del self.handlers[data_type]

    def add_frame(self, handler: FrameHandler) -> None:
        self.frame_handlers.append(handler)

    def remove_frame(self, handler: FrameHandler) -> None:
        if handler in self.frame_handlers:
            self.frame_handlers.remove(handler)

    def add_sink(self, sink: Sink) -> None:
        self.sinks.append(sink)

    def remove_sink(self, sink: Sink) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)

    async def run(self, buffer: MessageBuffer) -> None:
        """Deliver everything in order: per-type handlers and "debug" for every message,
        then frame handlers once per frame, then sinks once per delivery.

        Returns only by cancellation, or raises ``SinkError`` when a sink fails."""
        isawaitable = inspect.isawaitable
        while True:
            batch = await buffer.get()
            handlers = self.handlers
            if handlers and (batch.typed is None or not _DATA_HANDLERS.isdisjoint(handlers)):
                debug = handlers.get("debug")
                for msg in batch.messages():
                    chain = handlers.get(msg["type"])
                    if debug:
                        chain = [*(chain or ()), *debug]
                    if not chain:
                        continue
                    for handler in chain:
                        try:  # inline rather than a coroutine per call: this is the hot path
                            result = handler(msg)
                            if result is not None and isawaitable(result):
                                await result
                        except asyncio.CancelledError:
                            raise
                        except Exception:
                            self._failed(handler)
            if self.frame_handlers:
                for data in batch.frames():
                    for frame_handler in list(self.frame_handlers):
                        try:
                            result = frame_handler(data)
                            if result is not None and isawaitable(result):
                                await result
                        except asyncio.CancelledError:
                            raise
                        except Exception:
                            self._failed(frame_handler)
            if self.sinks:
                events = batch.events()
                if not events:
                    continue
                for sink in self.sinks:
                    try:  # inline rather than a helper coroutine: the hot path
                        await sink.write(events)
                    except (asyncio.CancelledError, SinkError):
                        raise
                    except Exception as exc:
                        name = type(sink).__name__
                        message = f"{name} failed: {type(exc).__name__}: {exc}"
                        raise SinkError(message, sink=name) from exc

    def _failed(self, handler: Callable[[Any], Any]) -> None:
        self.failures += 1
        log.exception("message handler %r raised; the stream carries on", handler)
