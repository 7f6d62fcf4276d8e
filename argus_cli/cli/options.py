"""Options several commands share, declared once, and the checks of flag values.

Every option has a metavar (``URL``, ``NAME``, ``SECONDS``): typer's own would show
internal types (``<str>``, ``<float range>``). Environment variables are named in the
help text in one form, ``[env: ARGUS_X]``. A bad value is a usage error (exit 2) that
echoes what the user typed, with a hint where one helps (``http://`` -> ``ws://``).
Only the standard library loads here: ``argus stream --help`` reads these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "LOG_LEVELS",
    "ConfigFile",
    "NoColor",
    "Profile",
    "Provider",
    "RestUrl",
    "Transport",
    "Url",
    "check_log_level",
    "check_url",
    "conflict",
    "from_command_line",
    "positive_seconds",
    "usage_error",
]

PROVIDERS = ("argus", "coinbase", "binance", "kraken", "alpaca", "finnhub")
TRANSPORTS = ("auto", "picows", "websockets")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def usage_error(message: str) -> Exception:
    """A usage error (exit 2, ``Error: message`` under the command's usage line)."""
    from typer._click.exceptions import UsageError  # typer's vendored click

    return UsageError(message)


def conflict(first: str, second: str, why: str = "") -> Exception:
    """The usage error for two options that cannot be used together, naming both."""
    return usage_error(
        f"{first} and {second} cannot be used together" + (f": {why}" if why else "")
    )


def from_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether parameter ``name`` was given on the command line (not a default or
    the environment)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def check_url(value: str | None) -> str | None:
    """``--url``: a ws:// or wss:// URL with a host and a valid port; the error echoes
    the value as typed and suggests the likely fix."""
    if value is None:
        return None
    from urllib.parse import urlsplit

    shown = repr(value)
    try:
        parts = urlsplit(value)
    except ValueError as exc:  # ``ws://[::1/x``
        raise typer.BadParameter(f"{shown}: {exc}", param_hint="'--url'") from None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        fixed = ("ws" if scheme == "http" else "wss") + value[len(scheme) :]
        raise typer.BadParameter(
            f"{shown} is an {scheme}:// URL and argus speaks WebSocket: did you mean {fixed}?",
            param_hint="'--url'",
        )
    if scheme not in ("ws", "wss"):
        hint = f"did you mean ws://{value}?" if "://" not in value else "use ws:// or wss://"
        raise typer.BadParameter(
            f"{shown} must start with ws:// or wss://: {hint}", param_hint="'--url'"
        )
    if not parts.netloc:  # ``wss:/x``, ``ws:host``
        rest = value[len(scheme) + 1 :].lstrip("/")
        raise typer.BadParameter(
            f"{shown} has no host: did you mean {scheme}://{rest}?", param_hint="'--url'"
        )
    if not parts.hostname:
        raise typer.BadParameter(f"{shown} has no host", param_hint="'--url'")
    try:
        parts.port  # noqa: B018 (raises for a bad port)
    except ValueError:
        raise typer.BadParameter(
            f"{shown}: the port must be a number from 0 to 65535", param_hint="'--url'"
        ) from None
    return value


def _choice(option: str, allowed: Iterable[str]) -> Any:
    choices = tuple(allowed)

    def check(value: str | None) -> str | None:
        if value is None or value.lower() in choices:
            return None if value is None else value.lower()
        raise typer.BadParameter(
            f"{value!r} is not one of {', '.join(choices)}", param_hint=f"'{option}'"
        )

    return check


def at_least_one(value: int | None) -> int | None:
    """``--count``: at least 1 (``min=1`` would print ``<int range> [x>=1]``)."""
    if value is not None and value < 1:
        raise typer.BadParameter(f"{value} is not a count: give 1 or more", param_hint="'--count'")
    return value


def positive_seconds(option: str, minimum: float) -> Any:
    """A callback: a number of seconds of at least ``minimum`` (``min=`` would print
    ``<float range> [x>=...]`` in the usage)."""

    def check(value: float | None) -> float | None:
        if value is not None and not value >= minimum:
            raise typer.BadParameter(
                f"{value:g} is too short: give at least {minimum:g} seconds",
                param_hint=f"'{option}'",
            )
        return value

    return check


def check_log_level(raw: str | None) -> str:
    """``ARGUS_LOG_LEVEL``: one of ``LOG_LEVELS`` (any case); ConfigError (exit 3)
    naming the variable otherwise, worded as the other ``ARGUS_*`` problems are."""
    if raw is None or not raw.strip():
        return "WARNING"
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        from ..exceptions import ProfileError

        raise ProfileError(
            "the environment",
            [f"ARGUS_LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}, got {raw!r}"],
        )
    return level


def complete_profiles(incomplete: str) -> list[str]:
    """Shell completion: the profile names (shipped and the user's)."""
    from ..config import list_profiles

    return sorted({name for name, _, _ in list_profiles() if name.startswith(incomplete)})


def complete_symbols(incomplete: str) -> list[str]:
    """Shell completion: ``@NAME`` for the watchlists (the default profile's)."""
    if not incomplete.startswith("@"):
        return []
    from ..config import watchlists

    try:
        names = watchlists()
    except Exception:  # a broken file: no completion, the command itself will say why
        return []
    return sorted(f"@{name}" for name in names if f"@{name}".startswith(incomplete))


Profile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        envvar="ARGUS_PROFILE",
        show_envvar=False,
        metavar="NAME",
        help="Profile name [default: the provider's, else dev] [env: ARGUS_PROFILE].",
        show_default=False,
        autocompletion=complete_profiles,
    ),
]
Provider = Annotated[
    str | None,
    typer.Option(
        "--provider",
        metavar="NAME",
        callback=_choice("--provider", PROVIDERS),
        help="argus, coinbase, binance, kraken, alpaca or finnhub [env: ARGUS_PROVIDER].",
        show_default=False,
    ),
]
RestUrl = Annotated[
    str | None,
    typer.Option(
        "--rest-url",
        metavar="URL",
        help="REST base URL where a provider needs one (Binance books) [env: ARGUS_REST_URL].",
    ),
]
ConfigFile = Annotated[
    str | None,
    typer.Option(
        "--config",
        envvar="ARGUS_CONFIG",
        show_envvar=False,
        metavar="FILE",
        help="A profile file [env: ARGUS_CONFIG].",
    ),
]
Url = Annotated[
    str | None,
    typer.Option("--url", metavar="URL", callback=check_url, help="Server URL [env: ARGUS_URL]."),
]
NoColor = Annotated[bool, typer.Option("--no-color", help="No colours (NO_COLOR works too).")]
Transport = Annotated[
    str | None,
    typer.Option(
        "--transport",
        metavar="NAME",
        callback=_choice("--transport", TRANSPORTS),
        help="auto (picows where installed), picows or websockets [env: ARGUS_TRANSPORT].",
        show_default=False,
    ),
]


# --- the source options stream and record share --------------------------------------


Symbols = Annotated[
    list[str],
    typer.Argument(
        metavar="SYMBOL",
        help="Symbols, e.g. AAPL GOOGL (or AAPL,GOOGL); PROVIDER:SYMBOL picks a provider; "
        "@NAME a watchlist, @FILE a file, - standard input.",
        show_default=False,
        autocompletion=complete_symbols,
    ),
]
Types = Annotated[
    str | None,
    typer.Option(
        "--types",
        metavar="TYPES",
        help="Comma list of price,volume,orderbook [env: ARGUS_TYPES].",
    ),
]
Frequency = Annotated[
    str | None,
    typer.Option(
        "--frequency", metavar="FREQ", help="realtime, 1s, 5s or 1m [env: ARGUS_FREQUENCY]."
    ),
]
Count = Annotated[
    int | None,
    typer.Option("--count", metavar="N", callback=at_least_one, help="Stop after N data messages."),
]
Duration = Annotated[
    float | None,
    typer.Option(
        "--duration",
        metavar="SECONDS",
        callback=positive_seconds("--duration", 0.001),
        help="Stop after SECONDS.",
    ),
]
AllowInsecureKey = Annotated[
    bool,
    typer.Option("--allow-insecure-key", help="Allow sending the key over ws:// to a remote host."),
]


# --- reading from NATS (stream and record) ----------------------------------------------

BrokerFrom = Annotated[
    str | None,
    typer.Option(
        "--from",
        metavar="URLS",
        help="Read the events from NATS (what an argus --publish put there) instead of "
        "from a feed.",
        show_default=False,
    ),
]
Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="TIME",
        help="With --from: replay from JetStream since TIME (10m, 2h, 1d, or "
        "2026-11-29T14:00:00Z), then go on live.",
        show_default=False,
    ),
]
