"""argus: real-time market data for the terminal, pipelines and Python.

The SDK (see the README) is re-exported here and from ``argus_cli.websocket_client``.
"""

from __future__ import annotations

from . import websocket_client
from .websocket_client import *  # noqa: F403  (the public surface, listed once there)

__version__ = "0.1.0"  # the one version source: pyproject.toml reads it (hatch)

__all__ = [*websocket_client.__all__, "__version__"]
