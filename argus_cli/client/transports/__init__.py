"""Transports: how frames travel. One small interface, one adapter per library.

``base.Transport`` opens a ``base.Link``; ``websockets_link`` is the first
adapter (python-websockets). A new transport (picows, a recording) is a new
module here implementing those two protocols, with its library's errors mapped
into argus's exception tree in that module, and nowhere else.
"""

from __future__ import annotations

from .base import FrameCallback, Link, Transport
from .websockets_link import WebsocketsTransport

__all__ = ["FrameCallback", "Link", "Transport", "WebsocketsTransport"]
