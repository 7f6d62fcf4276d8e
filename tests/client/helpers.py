"""What the client tests share: a config with test time scales, and awaiting a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from argus_cli import ConnectionConfig


def fast_config(url: str, **kwargs: Any) -> ConnectionConfig:
    """Sub-second heartbeats and backoff, so fault tests run in seconds."""
    options: dict[str, Any] = {
        "max_reconnect_attempts": 3,
        "reconnect_delay": 0.05,
        "heartbeat_interval": 1,
        "timeout": 1,
    }
    options.update(kwargs)
    return ConnectionConfig(url=url, **options)


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Return once ``condition()`` holds; TimeoutError after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)
