"""Fixtures that run real nats-server processes (``argus_cli.testing.nats``).

Registered by ``pytest_plugins`` in tests/conftest.py. Each server's directory
(config, store, ``nats-server.log``) is under the test's ``tmp_path``, so the
log of a failed test stays for reading.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from argus_cli.testing.nats import NatsCluster, NatsServer


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    """A fresh single nats-server with JetStream, ready; stopped after the test."""
    async with NatsServer(tmp_path / "nats") as server:
        yield server


@pytest.fixture
async def nats_cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    """A fresh 3-node JetStream cluster, meta leader elected; stopped after the test."""
    async with NatsCluster(3, tmp_path / "nats-cluster") as cluster:
        yield cluster
