"""Shared fixtures: a clean environment, and simulators on 127.0.0.1 ephemeral ports."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from argus_cli.sim import Simulator, SimulatorConfig

# `make test` is deterministic (derandomize): the same examples every run, so CI never
# flakes on a newly drawn one. HYPOTHESIS_PROFILE=explore draws fresh examples, more of them.
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# ``ARGUS_TEST_TRANSPORT=websockets pytest ...``: the same tests with websockets where
# argus would pick its default transport (picows); ``make test`` runs the CLI and
# security suites this way too (the fault suite runs on both by itself).
TEST_TRANSPORT = os.environ.get("ARGUS_TEST_TRANSPORT", "")
_CLEARED_PREFIXES = ("ARGUS_",)
_CLEARED = ("NO_COLOR", "FORCE_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "TERM", "COLUMNS", "LINES")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES) or name in _CLEARED:
            monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    # user config and runtime state go to the test's own directories
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    if TEST_TRANSPORT:
        from argus_cli.client.transports import make_transport

        monkeypatch.setenv("ARGUS_TRANSPORT", TEST_TRANSPORT)  # commands, in and out of process
        monkeypatch.setattr(  # SDK clients made with the default ("auto")
            "argus_cli.client.connection.make_transport",
            lambda name: make_transport(TEST_TRANSPORT if name == "auto" else name),
        )


SimFactory = Callable[..., Awaitable[Simulator]]


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    """Start simulators with test-friendly defaults; all are stopped afterwards."""
    started: list[Simulator] = []

    async def factory(**overrides: Any) -> Simulator:
        options: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "symbols": ["AAPL", "GOOGL", "MSFT", "TSLA"],
            "rate": 50.0,
            "seed": 7,
            "api_key": "",
        }
        options.update(overrides)
        sim = Simulator(SimulatorConfig(**options))
        await sim.start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        await sim.stop()


@pytest.fixture
async def sim(make_sim: SimFactory) -> Simulator:
    return await make_sim()


@pytest.fixture
def unused_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(autouse=True)
def restore_logging() -> Any:
    """The CLI configures the argus_cli and websockets loggers; undo it after each test."""
    import logging

    saved = {}
    for name in ("argus_cli", "websockets"):
        logger = logging.getLogger(name)
        saved[name] = (logger.level, logger.propagate, list(logger.handlers))
    yield
    for name, (level, propagate, handlers) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.propagate = propagate
        logger.handlers[:] = handlers


# nats_server and nats_cluster: real nats-server processes
pytest_plugins = ["tests.conftest_nats"]
