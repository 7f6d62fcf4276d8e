"""Profiles: find, load (safely), validate and resolve with precedence.

Precedence, highest first: command-line flags > ``ARGUS_*`` environment >
``--config`` file > named profile > built-in defaults. Every resolved value
remembers where it came from, for ``argus profiles show``.

A file is loaded with ``yaml.safe_load`` (size-capped); unknown keys, wrong
types and invalid values are all reported at once, each naming the file and
the key. ``${VAR}`` in a string value is replaced from the environment; a
value that is only an unset ``${VAR}`` counts as not set.

The ``connection.*`` and ``subscription.*`` keys, their accepted types and their
defaults come from the fields of ``ConnectionConfig`` and ``SubscriptionConfig``
(a new field is a new key); ``display.*`` keys are declared here.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs
import yaml

from .client.config import (
    EXPECTS,
    ConnectionConfig,
    SubscriptionConfig,
    connection_problems,
)
from .client.redact import redact_url
from .client.transports.options import is_loopback
from .exceptions import ConfigError, ProfileError
from .protocol import rules
from .protocol.providers import DEFAULT as DEFAULT_PROVIDER
from .protocol.providers import NAMES as PROVIDERS
from .protocol.providers import facts as provider_facts

__all__ = [
    "DEFAULTS",
    "ENV_VARS",
    "Resolved",
    "find_profile",
    "list_profiles",
    "load_file",
    "resolve",
    "shipped_profiles_dir",
    "user_profiles_dir",
    "user_watchlists_file",
    "watchlists",
]

MAX_FILE_BYTES = 256 * 1024

# What a YAML value may be for each annotated type, and how errors describe it.
_YAML_TYPES: dict[type, tuple[tuple[type, ...], str]] = {
    bool: ((bool,), "true or false"),
    int: ((int,), "an integer"),
    float: ((int, float), "a number"),
    str: ((str,), "a string"),
    list: ((list,), "a list"),
    dict: ((dict,), "a mapping"),
}

# The one place for profile defaults the dataclasses do not give: the SDK makes
# callers name a url and data_types, while a profile starts from these.
PROFILE_DEFAULTS: dict[str, Any] = {
    "connection.url": "ws://localhost:8000/ws",
    "subscription.data_types": ["price", "volume"],
    "subscription.filters": {},  # shown as {} by `argus profiles show`, as before
}

# Dataclass fields that are not profile keys (symbols come from the command line).
NOT_PROFILE_KEYS = frozenset({"subscription.symbols"})


def _yaml_type(hint: Any) -> tuple[tuple[type, ...], str]:
    """Accepted YAML value types and their description for a field annotation.

    ``X | None`` counts as ``X`` (a null value means "not set"); ``list[str]`` as ``list``.
    """
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(options) != 1:
            raise TypeError(f"no profile type for {hint!r}: expected X or X | None")
        hint = options[0]
    base = typing.get_origin(hint) or hint
    if base not in _YAML_TYPES:
        raise TypeError(f"no profile type for {hint!r}: add it to _YAML_TYPES")
    return _YAML_TYPES[base]


def _profile_fields(section: str, cls: type) -> list[tuple[str, dataclasses.Field[Any], Any]]:
    """(key, field, resolved annotation) for each field of ``cls`` that is a profile key."""
    hints = typing.get_type_hints(cls)
    return [
        (f"{section}.{f.name}", f, hints[f.name])
        for f in dataclasses.fields(cls)
        if f"{section}.{f.name}" not in NOT_PROFILE_KEYS
    ]


def _field_default(key: str, f: dataclasses.Field[Any]) -> Any:
    """The profile default: from PROFILE_DEFAULTS, else the dataclass field's own default."""
    if key in PROFILE_DEFAULTS:
        return PROFILE_DEFAULTS[key]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"{key} has no default: give it one in PROFILE_DEFAULTS")


def schema_from(section: str, cls: type) -> dict[str, tuple[tuple[type, ...], str]]:
    """``section.field`` -> (accepted types, description), from the dataclass ``cls``."""
    out: dict[str, tuple[tuple[type, ...], str]] = {}
    for key, f, hint in _profile_fields(section, cls):
        accepted, description = _yaml_type(hint)
        out[key] = (accepted, f.metadata.get(EXPECTS, description))
    return out


def defaults_from(section: str, cls: type) -> dict[str, Any]:
    """``section.field`` -> default value, from the dataclass ``cls`` and PROFILE_DEFAULTS."""
    return {key: _field_default(key, f) for key, f, _ in _profile_fields(section, cls)}


# key -> (accepted python types, description)
SCHEMA: dict[str, tuple[tuple[type, ...], str]] = {
    **schema_from("connection", ConnectionConfig),
    **schema_from("subscription", SubscriptionConfig),
    "display.refresh_per_second": ((int, float), "a number"),
    "publish.servers": ((list,), "a list of nats:// URLs"),
    "publish.buffer_mb": ((int, float), "a number"),
    "publish.drain_timeout": ((int, float), "a number"),
}

DEFAULTS: dict[str, Any] = {
    **defaults_from("connection", ConnectionConfig),
    **defaults_from("subscription", SubscriptionConfig),
    "display.refresh_per_second": 4,
    "publish.servers": [],  # none: publishing is off (``--publish`` / ARGUS_PUBLISH turn it on)
    "publish.buffer_mb": 64,  # held while NATS is away, then the oldest are dropped (counted)
    "publish.drain_timeout": 10.0,  # seconds to send what is buffered at exit
}

ENV_VARS: dict[str, str] = {
    "ARGUS_URL": "connection.url",
    "ARGUS_API_KEY": "connection.api_key",
    "ARGUS_API_SECRET": "connection.api_secret",
    "ARGUS_PROVIDER": "connection.provider",
    "ARGUS_REST_URL": "connection.rest_url",
    "ARGUS_TRANSPORT": "connection.transport",
    "ARGUS_MAX_RECONNECT_ATTEMPTS": "connection.max_reconnect_attempts",
    "ARGUS_RECONNECT_DELAY": "connection.reconnect_delay",
    "ARGUS_HEARTBEAT_INTERVAL": "connection.heartbeat_interval",
    "ARGUS_TIMEOUT": "connection.timeout",
    "ARGUS_MAX_SUBSCRIPTIONS": "connection.max_subscriptions",
    "ARGUS_CA_FILE": "connection.ca_file",
    "ARGUS_TYPES": "subscription.data_types",
    "ARGUS_FREQUENCY": "subscription.update_frequency",
    "ARGUS_REFRESH_PER_SECOND": "display.refresh_per_second",
    "ARGUS_PUBLISH": "publish.servers",
}

_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def shipped_profiles_dir() -> Path:
    """``configs/`` inside the wheel, or at the top of a source checkout."""
    packaged = Path(str(resources.files("argus_cli"))) / "configs"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "configs"


def user_profiles_dir() -> Path:
    return Path(platformdirs.user_config_dir("argus")) / "profiles"


def list_profiles() -> list[tuple[str, Path, str]]:
    """(name, path, "user" or "shipped"), user profiles shadowing shipped ones."""
    found: dict[str, tuple[str, Path, str]] = {}
    for kind, folder in (("shipped", shipped_profiles_dir()), ("user", user_profiles_dir())):
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
                found[path.stem] = (path.stem, path, kind)
    return sorted(found.values())


def find_profile(name: str) -> Path:
    for profile, path, _ in list_profiles():
        if profile == name:
            return path
    names = ", ".join(p for p, _, _ in list_profiles()) or "none"
    raise ConfigError(f"unknown profile {name!r}: available profiles are {names}")


def _interpolate(value: Any, env: Mapping[str, str], where: str, problems: list[str]) -> Any:
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = _VAR_RE.fullmatch(value)
    if whole:
        return env.get(whole.group(1)) or None
    missing = [name for name in _VAR_RE.findall(value) if name not in env]
    if missing:
        problems.append(f"{where}: environment variable {missing[0]} is not set")
        return value
    return _VAR_RE.sub(lambda m: env[m.group(1)], value)


WATCHLISTS = "watchlists"
_WATCHLIST_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


def _watchlists(body: object, problems: list[str]) -> dict[str, list[str]]:
    """``watchlists: {tech: [AAPL, MSFT], crypto: [coinbase:BTC-USD]}`` as flat
    ``watchlists.NAME`` values, every name and symbol checked."""
    from .protocol.providers import split_symbol

    if body is None:
        return {}
    if not isinstance(body, dict):
        problems.append("watchlists: must be a mapping of names to lists of symbols")
        return {}
    out: dict[str, list[str]] = {}
    for name, symbols in body.items():
        where = f"watchlists.{name}"
        if not isinstance(name, str) or not _WATCHLIST_NAME.fullmatch(name):
            problems.append(f"{where}: a name is letters, digits, - and _ (at most 32)")
            continue
        if isinstance(symbols, str):
            symbols = [part.strip() for part in symbols.split(",") if part.strip()]
        if not isinstance(symbols, list) or not symbols:
            problems.append(f"{where}: expected a list of symbols, got {symbols!r}")
            continue
        kept: list[str] = []
        for symbol in symbols:
            if not isinstance(symbol, str):
                problems.append(f"{where}: {symbol!r} is not a symbol")
                continue
            _, bare = split_symbol(symbol.strip())
            reason = rules.check_symbol(bare.upper(), venue=True)
            if reason:
                problems.append(f"{where}: {reason}")
            else:
                kept.append(symbol.strip())
        out[where] = kept
    return out


def user_watchlists_file() -> Path:
    """The user's own watchlists (``NAME: [SYMBOL, ...]`` at the top level)."""
    return Path(platformdirs.user_config_dir("argus")) / "watchlists.yaml"


def watchlists(
    profile: str | None = None, config_path: str | None = None
) -> dict[str, tuple[list[str], str]]:
    """Every watchlist by name: (symbols, where it is defined). The user's
    watchlists.yaml, then the profile in force, then ``--config`` (later wins)."""
    found: dict[str, tuple[list[str], str]] = {}
    user = user_watchlists_file()
    if user.is_file():
        wrapped = load_file_wrapped(user)
        for key, value in wrapped.items():
            found[key.split(".", 1)[1]] = (value, str(user))
    sources = [find_profile(base_profile(profile, None, os.environ))]
    if config_path:
        sources.append(Path(config_path))
    for path in sources:
        for key, value in load_file(path).items():
            if key.startswith(WATCHLISTS + "."):
                found[key.split(".", 1)[1]] = (value, str(path))
    return found


def load_file_wrapped(path: Path) -> dict[str, list[str]]:
    """A watchlists.yaml (names at the top level) read as a ``watchlists:`` section."""
    try:
        text = path.read_bytes()[: MAX_FILE_BYTES + 1]
        document = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(str(path), [f"cannot read the watchlists: {exc}"]) from None
    problems: list[str] = []
    out = _watchlists(document, problems)
    if problems:
        raise ProfileError(str(path), problems)
    return out


def load_file(path: Path | str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Load one profile file into flat ``section.key`` values; ProfileError lists all problems."""
    env = os.environ if env is None else env
    source = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ProfileError(source, [f"cannot read the file: {exc.strerror or exc}"]) from None
    if len(data) > MAX_FILE_BYTES:
        raise ProfileError(source, [f"file is larger than {MAX_FILE_BYTES // 1024} KiB"])
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProfileError(source, [f"{where}not valid YAML: {problem}"]) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ProfileError(source, ["the top level must be a mapping of sections"])
    problems: list[str] = []
    out: dict[str, Any] = {}
    sections = {key.split(".")[0] for key in SCHEMA} | {WATCHLISTS}
    for section, body in document.items():
        if section == WATCHLISTS:
            out.update(_watchlists(body, problems))
            continue
        if section not in sections:
            problems.append(f"unknown section {section!r}: expected {', '.join(sorted(sections))}")
            continue
        if body is None:
            continue
        if not isinstance(body, dict):
            problems.append(f"{section}: must be a mapping")
            continue
        for key, value in body.items():
            name = f"{section}.{key}"
            if name not in SCHEMA:
                known = sorted(_section(SCHEMA, section))
                problems.append(f"{name}: unknown key (known: {', '.join(known)})")
                continue
            value = _interpolate(value, env, name, problems)
            if value is None:
                continue
            types, description = SCHEMA[name]
            if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
                problems.append(f"{name}: expected {description}, got {value!r}")
            else:
                out[name] = value
    problems.extend(_check_values(out))
    if problems:
        raise ProfileError(source, problems)
    return out


def _section(values: Mapping[str, Any], section: str) -> dict[str, Any]:
    """The ``section.*`` entries of a flat mapping, keyed by field name."""
    prefix = section + "."
    return {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}


def _check_values(values: Mapping[str, Any]) -> list[str]:
    """Value rules beyond types, each problem naming its key."""
    problems: list[str] = []
    checks = {
        "subscription.data_types": rules.check_data_types,
        "subscription.update_frequency": rules.check_frequency,
        "subscription.filters": rules.check_filters,
    }
    for key, check in checks.items():
        if key in values:
            reason = check(values[key])
            if reason:
                problems.append(f"{key}: {reason}")
    rate = values.get("display.refresh_per_second")
    if rate is not None and not 0 < rate <= 60:
        problems.append(f"display.refresh_per_second: must be above 0 and at most 60, not {rate}")
    for server in values.get("publish.servers") or []:
        reason = check_nats_url(server)
        if reason:
            problems.append(f"publish.servers: {reason}")
    for key, low in (("publish.buffer_mb", 0.0), ("publish.drain_timeout", -1e-9)):
        number = values.get(key)
        if number is not None and not number > low:
            least = "above 0" if low == 0 else "0 or more"
            problems.append(f"{key}: must be {least}, not {number}")
    connection = _section(values, "connection")
    if connection:
        defaults = _section(DEFAULTS, "connection")
        for field_name, reason in connection_problems({**defaults, **connection}):
            problems.append(f"connection.{field_name}: {reason}")
    return problems


def check_nats_url(url: object) -> str | None:
    """Why ``url`` is not a NATS server URL, or None."""
    if not isinstance(url, str) or not url:
        return f"expected a nats:// URL, not {url!r}"
    parts = urlsplit(url)
    if parts.scheme not in ("nats", "tls"):
        hint = " (NATS URLs look like nats://localhost:4222)" if "://" in url else ""
        return f"{redact_url(url)!r} is not a nats:// or tls:// URL{hint}"
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return f"{redact_url(url)!r} has a bad port"
    if not parts.hostname:
        return f"{redact_url(url)!r} names no host"
    return None


def _parse_env(name: str, raw: str) -> tuple[Any, str | None]:
    key = ENV_VARS[name]
    types, description = SCHEMA[key]
    if list in types:
        return [part.strip() for part in raw.split(",") if part.strip()], None
    if bool in types:
        return raw.lower() in ("1", "true", "yes", "on"), None
    if int in types and float not in types:
        try:
            return int(raw), None
        except ValueError:
            return None, f"{name}: expected {description}, got {raw!r} (from the environment)"
    if float in types:
        try:
            return float(raw), None
        except ValueError:
            return None, f"{name}: expected {description}, got {raw!r} (from the environment)"
    return raw, None


@dataclass
class Resolved:
    """Every setting with its value and where it came from."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    profile: str = "dev"
    example_origin: str = ""  # the origin of a shipped profile whose url is an example host

    def set(self, key: str, value: Any, origin: str) -> None:
        self.values[key] = value
        self.origins[key] = origin

    def connection_config(self) -> ConnectionConfig:
        """The connection settings; ConfigError when they would send the API key to an
        example host a shipped profile names (the user never chose that server)."""
        url = self.values.get("connection.url")
        if (
            self.values.get("connection.api_key")
            and self.example_origin
            and self.origins.get("connection.url") == self.example_origin
        ):
            raise ConfigError(
                f"profile {self.profile} names {redact_url(str(url))}, an example server "
                "from the SDK documentation, not one you chose: argus will not send your "
                "API key there. Give your server with --url (or ARGUS_URL, or url in a "
                "profile of your own), or unset ARGUS_API_KEY"
            )
        return ConnectionConfig(**_section(self.values, "connection"))

    def subscription_config(self, symbols: list[str]) -> SubscriptionConfig:
        return SubscriptionConfig(
            symbols=symbols,
            data_types=list(self.values["subscription.data_types"]),
            update_frequency=self.values["subscription.update_frequency"],
            filters=dict(self.values["subscription.filters"] or {}) or None,
        )

    @property
    def refresh_per_second(self) -> float:
        return float(self.values["display.refresh_per_second"])

    def redacted(self) -> list[tuple[str, str, str]]:
        """(key, shown value, origin) rows; the key shows as *** and URLs lose secrets."""
        rows = []
        for key in SCHEMA:
            value = self.values.get(key)
            if key in ("connection.api_key", "connection.api_secret"):
                shown = "(not set)" if not value else "***"
            elif key in ("connection.url", "connection.rest_url") and isinstance(value, str):
                shown = redact_url(value)
            else:
                shown = "(not set)" if value is None else str(value)
            rows.append((key, shown, self.origins.get(key, "default")))
        return rows


def _provider_urls(resolved: Resolved, profile_provider: str, label: str) -> None:
    """Give the provider in force its public url/rest_url where the ones in place came
    from a profile (or the defaults) made for another provider."""
    provider = resolved.values.get("connection.provider", DEFAULT_PROVIDER)
    if provider not in PROVIDERS or provider == profile_provider:
        return
    info = provider_facts(provider)
    origin = f"provider {provider}"
    for key, value in (("connection.url", info.url), ("connection.rest_url", info.rest_url)):
        if resolved.origins.get(key) in ("default", label):
            resolved.set(key, value, origin)


def _names_an_example_host(path: Path, values: Mapping[str, Any]) -> bool:
    """A shipped argus-protocol profile whose url is a remote host: ``prod`` and ``hft``
    carry the SDK documentation's example servers, which argus does not own."""
    if path.parent.resolve() != shipped_profiles_dir().resolve():
        return False
    if values.get("connection.provider", DEFAULT_PROVIDER) != DEFAULT_PROVIDER:
        return False  # a venue's real public URL
    host = urlsplit(str(values.get("connection.url", ""))).hostname
    return not is_loopback(host)


def base_profile(
    profile: str | None, flags: Mapping[str, Any] | None, env: Mapping[str, str]
) -> str:
    """The profile to start from: the one named, else the provider's built-in profile
    when a provider is named (``--provider kraken`` starts from ``kraken``), else dev."""
    if profile:
        return profile
    provider = (flags or {}).get("connection.provider") or env.get("ARGUS_PROVIDER")
    if provider and provider != DEFAULT_PROVIDER and provider in PROVIDERS:
        return str(provider)
    return "dev"


def resolve(
    profile: str | None = None,
    config_path: str | None = None,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Resolved:
    """Merge defaults < profile < --config file < environment < flags, then validate.

    With no profile named, a named provider picks its built-in profile. When the
    provider in force is not the one the url came with (``--profile prod
    --provider kraken``, say), the url and rest_url are the provider's public ones
    unless a flag, the environment or ``--config`` gave them.
    """
    env = os.environ if env is None else env
    profile = base_profile(profile, flags, env)
    resolved = Resolved(profile=profile)
    for key, value in DEFAULTS.items():
        resolved.set(key, value, "default")
    path = find_profile(profile)
    label = f"profile {profile} ({path})"
    loaded = load_file(path, env)
    for key, value in loaded.items():
        resolved.set(key, value, label)
    if _names_an_example_host(path, loaded):
        resolved.example_origin = label
    if config_path:
        for key, value in load_file(config_path, env).items():
            resolved.set(key, value, f"file {config_path}")
    problems: list[str] = []
    for name, key in ENV_VARS.items():
        raw = env.get(name)
        if raw:
            value, problem = _parse_env(name, raw)
            if problem:
                problems.append(problem)
            else:
                resolved.set(key, value, f"env {name}")
    for key, value in (flags or {}).items():
        if value is not None:
            resolved.set(key, value, "flag")
    _provider_urls(resolved, loaded.get("connection.provider", DEFAULT_PROVIDER), label)
    env_values = {k: v for k, v in resolved.values.items() if resolved.origins[k] != "default"}
    for problem in _check_values(env_values):
        key = problem.split(":", 1)[0]
        origin = resolved.origins.get(key, "")
        if origin.startswith("env "):  # says where to look: the environment, not a file
            origin = f"the environment: {origin[4:]}"
        problems.append(f"{problem} (from {origin})" if origin else problem)
    if problems:
        raise ProfileError("the resolved settings", problems)
    return resolved
