"""The public surface is a promise: pin it (as httpx does)."""

from __future__ import annotations

import inspect

import argus_cli
import argus_cli.exceptions as exceptions
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


def test_every_exception_argus_defines_is_listed_and_exported() -> None:
    defined = {
        name
        for name, obj in vars(exceptions).items()
        if inspect.isclass(obj)
        and issubclass(obj, Exception)
        and obj.__module__ == exceptions.__name__
    }
    assert defined == set(exceptions.__all__)
    assert all(issubclass(getattr(exceptions, n), exceptions.ArgusError) for n in defined)
    for name in defined:
        assert getattr(sdk, name) is getattr(exceptions, name) is getattr(argus_cli, name)


def test_exported_members_are_exactly_these() -> None:
    assert set(sdk.__all__) == PROMISED | set(exceptions.__all__)
    assert set(argus_cli.__all__) == set(sdk.__all__) | {"__version__"}
    for name in argus_cli.__all__:
        assert hasattr(argus_cli, name), name
