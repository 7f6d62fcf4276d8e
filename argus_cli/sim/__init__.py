"""The embedded market simulator: a pure market model under a WebSocket server."""

from __future__ import annotations

from ..exceptions import ChaosSpecError
from .chaos import Chaos
from .market import DEFAULT_UNIVERSE, Market
from .server import Simulator, SimulatorConfig

__all__ = ["DEFAULT_UNIVERSE", "Chaos", "ChaosSpecError", "Market", "Simulator", "SimulatorConfig"]
