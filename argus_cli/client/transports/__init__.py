"""Transports: how frames travel. One small interface, one adapter per library.

``base.Transport`` opens a ``base.Link``. ``websockets_link`` (python-websockets)
is the reference and the fallback; ``picows_link`` (picows, a compiled
WebSocket library) is the default where it is installed: the same behaviour,
about twice the frames per second. A new transport is a new module here
implementing those two protocols, with its library's errors mapped into
argus's exception tree in that module, and nowhere else.
"""

from __future__ import annotations

import importlib.util

from ...exceptions import ConfigError
from ..config import TRANSPORTS
from .base import FrameCallback, Link, Transport
from .websockets_link import WebsocketsTransport

__all__ = [
    "TRANSPORTS",
    "FrameCallback",
    "Link",
    "Transport",
    "WebsocketsTransport",
    "make_transport",
]


def make_transport(name: str = "auto") -> Transport:
    """The transport called ``name``: ``auto`` is picows when it is installed (and
    loads), else websockets; ``picows`` without picows is a ConfigError saying so."""
    if name == "websockets":
        return WebsocketsTransport()
    if name == "auto" and importlib.util.find_spec("picows") is None:
        return WebsocketsTransport()
    if name not in TRANSPORTS:
        raise ConfigError(f"unknown transport {name!r}: expected {', '.join(TRANSPORTS)}")
    from .picows_link import PicowsTransport, picows_available

    if name == "auto" and not picows_available():
        return WebsocketsTransport()
    return PicowsTransport()
