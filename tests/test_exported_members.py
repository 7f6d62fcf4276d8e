"""The public surface is a promise: pin it (as httpx does)."""

from __future__ import annotations

import argus_cli
import argus_cli.websocket_client as sdk

PROMISED = {
    "ConnectionConfig",
    "ConnectionState",
    "QuickStartClient",
    "SubscriptionConfig",
    "WebSocketClient",
    "WebSocketClientManager",
}


def test_sdk_md_names_are_importable_from_both_paths() -> None:
    for name in PROMISED:
        assert getattr(sdk, name) is getattr(argus_cli, name)


def test_exported_members_are_exactly_these() -> None:
    assert set(sdk.__all__) == PROMISED | {
        "ArgusConnectionError",
        "ArgusError",
        "AuthenticationError",
        "ConfigError",
        "ReconnectExhausted",
        "SubscriptionError",
        "SubscriptionLimitError",
    }
    assert set(argus_cli.__all__) == set(sdk.__all__) | {"__version__"}
    for name in argus_cli.__all__:
        assert hasattr(argus_cli, name), name
