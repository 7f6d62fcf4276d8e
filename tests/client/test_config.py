"""The SDK's config objects validate when made and never show the key."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from argus_cli import ConfigError, ConnectionConfig, SubscriptionConfig


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"url": ""}, "url is empty"),
        ({"url": "http://example.com"}, "ws://"),
        ({"url": "ws://"}, "no host"),
        ({"url": "ws://host:99999/x"}, "not valid"),
        ({"reconnect_delay": -1}, "reconnect_delay"),
        ({"timeout": 0}, "timeout"),
        ({"heartbeat_interval": -5}, "heartbeat_interval"),
        ({"max_reconnect_attempts": -1}, "max_reconnect_attempts"),
        ({"max_subscriptions": 0}, "max_subscriptions"),
        ({"api_key": ""}, "api_key"),
        ({"api_key": "a\nb"}, "api_key"),
    ],
)
def test_connection_config_refuses_bad_values(kwargs: dict[str, Any], fragment: str) -> None:
    args: dict[str, Any] = {"url": "ws://localhost:8000/ws"}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=fragment):
        ConnectionConfig(**args)


def test_connection_config_defaults_match_sdk_md() -> None:
    config = ConnectionConfig(url="ws://localhost:8000/ws")
    assert (
        config.api_key,
        config.max_reconnect_attempts,
        config.reconnect_delay,
        config.heartbeat_interval,
        config.timeout,
        config.max_subscriptions,
    ) == (None, 5, 1.0, 30, 10, 100)


def test_repr_and_str_never_show_the_key() -> None:
    config = ConnectionConfig(url="wss://user:pw@example.com/ws?token=abc", api_key="s3cr3t-KEY")
    for text in (repr(config), str(config), f"{config}", repr([config])):
        assert "s3cr3t-KEY" not in text
        assert "pw" not in text and "abc" not in text
    assert "api_key='***'" in repr(config)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"symbols": []}, "symbols"),
        ({"symbols": "AAPL"}, "list"),
        ({"symbols": ["aapl"]}, "aapl"),
        ({"symbols": ["AAPL", "AAPL"]}, "repeated"),
        ({"data_types": ["trades"]}, "trades"),
        ({"data_types": []}, "data_types"),
        ({"update_frequency": "2s"}, "2s"),
        ({"filters": {"min_volume": 3}}, "min_volume"),
    ],
)
def test_subscription_config_refuses_bad_values(kwargs: dict[str, Any], fragment: str) -> None:
    args: dict[str, Any] = {"symbols": ["AAPL"], "data_types": ["price"]}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=fragment):
        SubscriptionConfig(**args)


def test_subscription_config_defaults() -> None:
    config = SubscriptionConfig(symbols=["AAPL"], data_types=["price"])
    assert config.update_frequency == "realtime" and config.filters is None
    assert config.tracks_gaps
    assert not SubscriptionConfig(["AAPL"], ["price"], "1s").tracks_gaps


@pytest.mark.parametrize(
    ("config", "name", "value"),
    [
        (ConnectionConfig(url="ws://localhost:8000/ws"), "url", "ws://elsewhere/ws"),
        (ConnectionConfig(url="ws://localhost:8000/ws"), "api_key", "s3cr3t"),
        (SubscriptionConfig(["AAPL"], ["price"]), "symbols", ["MSFT"]),
        (SubscriptionConfig(["AAPL"], ["price"]), "filters", {"min_price": 1}),
    ],
)
def test_configs_are_frozen(config: object, name: str, value: Any) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, name, value)


def test_replace_makes_a_new_validated_config() -> None:
    config = ConnectionConfig(url="ws://localhost:8000/ws")
    assert dataclasses.replace(config, timeout=3).timeout == 3 and config.timeout == 10
    with pytest.raises(ConfigError, match="timeout"):
        dataclasses.replace(config, timeout=0)


def test_subscription_config_keeps_its_own_copies() -> None:
    symbols, data_types, filters = ["AAPL"], ["price"], {"min_price": 1.0}
    config = SubscriptionConfig(symbols, data_types, "realtime", filters)
    symbols.append("MSFT")
    data_types.append("volume")
    filters["max_price"] = 2.0
    assert (config.symbols, config.data_types, config.filters) == (
        ["AAPL"],
        ["price"],
        {"min_price": 1.0},
    )
