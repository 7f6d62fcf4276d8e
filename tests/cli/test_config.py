"""Profiles: shipped values, precedence, interpolation, broken files, and a schema
derived from the config dataclasses."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from argus_cli.client.config import EXPECTS, ConnectionConfig, SubscriptionConfig
from argus_cli.config import (
    DEFAULTS,
    ENV_VARS,
    SCHEMA,
    defaults_from,
    list_profiles,
    load_file,
    resolve,
    schema_from,
    user_profiles_dir,
)
from argus_cli.exceptions import ConfigError, ProfileError

SDK_TABLE = {
    "dev": ("ws://localhost:8000/ws", 3, 1.0, 30, 10, 50),
    "prod": ("wss://api.example.com/ws/v1", 10, 2.0, 20, 15, 1000),
    "hft": ("wss://api.trading.com/ws", 20, 0.5, 10, 5, 5000),
}


@pytest.mark.parametrize("name", sorted(SDK_TABLE))
def test_shipped_profiles_match_sdk_md(name: str) -> None:
    config = resolve(name, env={}).connection_config()
    got = (
        config.url,
        config.max_reconnect_attempts,
        config.reconnect_delay,
        config.heartbeat_interval,
        config.timeout,
        config.max_subscriptions,
    )
    assert got == SDK_TABLE[name]
    assert config.api_key is None  # ${ARGUS_API_KEY} unset


def test_precedence_flags_env_file_profile_default(tmp_path: Path) -> None:
    file = tmp_path / "mine.yaml"
    file.write_text("connection:\n  url: ws://file:1/ws\n  timeout: 7\n  reconnect_delay: 0.25\n")
    env = {"ARGUS_URL": "ws://env:2/ws", "ARGUS_TIMEOUT": "3"}
    settings = resolve("dev", str(file), {"connection.url": "ws://flag:3/ws"}, env)
    values, origins = settings.values, settings.origins
    assert values["connection.url"] == "ws://flag:3/ws" and origins["connection.url"] == "flag"
    assert (
        values["connection.timeout"] == 3.0 and origins["connection.timeout"] == "env ARGUS_TIMEOUT"
    )
    assert values["connection.reconnect_delay"] == 0.25
    assert origins["connection.reconnect_delay"] == f"file {file}"
    assert values["connection.max_subscriptions"] == 50
    assert origins["connection.max_subscriptions"].startswith("profile dev")
    assert origins["connection.max_message_size"] == "default"


def test_api_key_interpolation_and_redaction() -> None:
    settings = resolve("dev", env={"ARGUS_API_KEY": "key-abc-123"})
    assert settings.connection_config().api_key == "key-abc-123"
    rows = {key: (shown, origin) for key, shown, origin in settings.redacted()}
    assert rows["connection.api_key"][0] == "***"
    assert "key-abc-123" not in repr(settings.redacted())


def test_user_profile_wins_over_shipped(tmp_path: Path) -> None:
    folder = user_profiles_dir()
    folder.mkdir(parents=True)
    (folder / "dev.yaml").write_text("connection:\n  url: ws://mine:9/ws\n")
    (folder / "lab.yaml").write_text("connection:\n  url: ws://lab:9/ws\n")
    kinds = {name: kind for name, _, kind in list_profiles()}
    assert kinds["dev"] == "user" and kinds["lab"] == "user" and kinds["prod"] == "shipped"
    assert resolve("dev", env={}).values["connection.url"] == "ws://mine:9/ws"


def test_unknown_profile_names_the_choices() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown profile .nope.*coinbase, dev, finnhub, hft, kraken, prod"
    ):
        resolve("nope", env={})


def test_broken_file_reports_every_problem(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(
        "connection:\n"
        "  url: http://x\n"
        "  timeout: soon\n"
        "  colour: blue\n"
        "subscription:\n"
        "  data_types: [price, trades]\n"
        "extras: {}\n"
    )
    with pytest.raises(ProfileError) as info:
        load_file(file, {})
    text = str(info.value)
    assert str(file) in text
    assert "connection.timeout" in text and "soon" in text
    assert "connection.colour: unknown key" in text
    assert "trades" in text and "extras" in text and "ws://" in text
    assert len(info.value.problems) == 5


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("connection:\n  url: [unclosed\n")
    with pytest.raises(ProfileError, match=r"line \d+, column \d+: not valid YAML"):
        load_file(file, {})


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    file = tmp_path / "evil.yaml"
    file.write_text("connection: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_file(file, {})


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "big.yaml"
    file.write_text("# " + "x" * 300_000)
    with pytest.raises(ProfileError, match="larger than"):
        load_file(file, {})


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ProfileError, match="ARGUS_TIMEOUT: expected a number"):
        resolve("dev", env={"ARGUS_TIMEOUT": "soon"})
    with pytest.raises(ProfileError, match=r"connection\.timeout.*the environment: ARGUS_TIMEOUT"):
        resolve("dev", env={"ARGUS_TIMEOUT": "-1"})


def _fields(cls: type, section: str) -> set[str]:
    return {f"{section}.{f.name}" for f in dataclasses.fields(cls)}


def _keys(section: str) -> set[str]:
    return {key for key in SCHEMA if key.startswith(section + ".")}


def test_every_config_field_is_a_profile_key_and_back() -> None:
    assert _keys("connection") == _fields(ConnectionConfig, "connection")
    assert _keys("subscription") == _fields(SubscriptionConfig, "subscription") - {
        "subscription.symbols"
    }
    assert set(DEFAULTS) == set(SCHEMA)
    assert set(ENV_VARS.values()) <= set(SCHEMA)


def test_profile_defaults_are_the_dataclass_defaults() -> None:
    connection = {k.split(".", 1)[1]: v for k, v in DEFAULTS.items() if k in _keys("connection")}
    assert ConnectionConfig(**connection) == ConnectionConfig(url="ws://localhost:8000/ws")
    for f in dataclasses.fields(SubscriptionConfig):
        if f.default is not dataclasses.MISSING and f.name != "filters":
            assert DEFAULTS[f"subscription.{f.name}"] == f.default
    assert DEFAULTS["connection.url"] == "ws://localhost:8000/ws"
    assert DEFAULTS["subscription.data_types"] == ["price", "volume"]
    assert DEFAULTS["subscription.filters"] == {}  # no filter, shown as {} (None for the SDK)


def test_every_default_loads_back_from_a_file(tmp_path: Path) -> None:
    values = {key: value for key, value in DEFAULTS.items() if value is not None}
    document: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        section, name = key.split(".", 1)
        document.setdefault(section, {})[name] = value
    file = tmp_path / "defaults.yaml"
    file.write_text(yaml.safe_dump(document))
    assert load_file(file, {}) == values


def test_profile_without_subscription_uses_the_defaults() -> None:
    folder = user_profiles_dir()
    folder.mkdir(parents=True)
    (folder / "lab.yaml").write_text("connection:\n  url: ws://lab:9/ws\n")
    settings = resolve("lab", env={})
    assert settings.origins["subscription.filters"] == "default"
    config = settings.subscription_config(["AAPL"])
    assert config.filters is None and config.data_types == ["price", "volume"]
    assert config.update_frequency == "realtime"


@dataclasses.dataclass(frozen=True)
class _Toy:
    name: str = dataclasses.field(metadata={EXPECTS: "a toy name"})
    size: int = 3
    ratio: float | None = None
    tags: list[str] = dataclasses.field(default_factory=list)
    loud: bool = False


def test_schema_and_defaults_follow_the_dataclass() -> None:
    assert schema_from("toy", _Toy) == {
        "toy.name": ((str,), "a toy name"),
        "toy.size": ((int,), "an integer"),
        "toy.ratio": ((int, float), "a number"),
        "toy.tags": ((list,), "a list"),
        "toy.loud": ((bool,), "true or false"),
    }
    with pytest.raises(TypeError, match=r"toy\.name has no default"):
        defaults_from("toy", _Toy)


def test_unsupported_field_type_fails_at_import_time() -> None:
    @dataclasses.dataclass
    class Odd:
        when: complex = 1j

    with pytest.raises(TypeError, match="no profile type"):
        schema_from("odd", Odd)


@pytest.mark.parametrize("name", ["prod", "hft"])
def test_a_shipped_example_host_never_gets_the_key(name: str) -> None:
    """Issue 14 item 7: prod and hft name the SDK documentation's example servers."""
    settings = resolve(name, env={"ARGUS_API_KEY": "sk-live-0123456789"})
    with pytest.raises(ConfigError, match="example server") as caught:
        settings.connection_config()
    assert "sk-live-0123456789" not in str(caught.value) and "--url" in str(caught.value)
    chosen = resolve(
        name, flags={"connection.url": "wss://mine.test/ws"}, env={"ARGUS_API_KEY": "k"}
    )
    assert chosen.connection_config().url == "wss://mine.test/ws"  # the user's own server
    assert resolve(name, env={}).connection_config().api_key is None  # no key: policy only


def test_keys_go_to_servers_the_user_or_the_provider_chose(tmp_path: Path) -> None:
    assert resolve("dev", env={"ARGUS_API_KEY": "k"}).connection_config().api_key == "k"
    keyed = {"ARGUS_API_KEY": "id", "ARGUS_API_SECRET": "s"}
    assert resolve("alpaca", env=keyed).connection_config().api_key == "id"
    folder = user_profiles_dir()
    folder.mkdir(parents=True)
    (folder / "prod.yaml").write_text("connection:\n  url: wss://ours.test/ws\n  api_key: k\n")
    assert resolve("prod", env={}).connection_config().url == "wss://ours.test/ws"
