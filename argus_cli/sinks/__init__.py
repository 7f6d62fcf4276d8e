"""Sinks: where delivered events go for keeping (JSON lines today; recordings, NATS next).

A sink is registered with ``WebSocketClient.add_sink``. It receives each
delivery's data and gap events (``Events``: the frames of one socket read), in
order, after the message handlers. Awaiting its
``write`` is the backpressure: while it waits, the client's bounded buffer
fills and reading pauses. A sink that raises stops the stream with a
``SinkError`` (state ``ERROR``): unlike a handler, whose failure is counted and
skipped, a sink that cannot keep data must not lose it silently.
"""

from __future__ import annotations

from .base import Events, Sink
from .jsonl import JsonLinesSink, OutputClosed

__all__ = ["Events", "JsonLinesSink", "OutputClosed", "Sink"]
