"""The NATS parts of ``argus stream``: ``--publish``, ``--from`` and ``--since``."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer

from . import options

if TYPE_CHECKING:
    from ..config import Resolved
    from ..sinks.nats import NatsPublisher

__all__ = [
    "check_broker_conflicts",
    "make_publisher",
    "parse_servers",
    "parse_since",
    "publish_summary",
]

_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$", re.IGNORECASE)
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_servers(text: str, hint: str) -> list[str]:
    """``nats://a:4222,nats://b:4222`` -> the URLs, each checked (exit 2 naming it)."""
    from ..config import check_nats_url

    servers = [part.strip() for part in text.split(",") if part.strip()]
    if not servers:
        raise typer.BadParameter("give at least one nats:// URL", param_hint=hint)
    for server in servers:
        reason = check_nats_url(server)
        if reason:
            raise typer.BadParameter(reason, param_hint=hint)
    return servers


def parse_since(text: str, now: float | None = None) -> float:
    """``--since``: ``10m`` / ``2h`` / ``1d`` / ``90s`` ago, or a time (ISO 8601, UTC
    unless it names an offset, or epoch seconds); epoch seconds, not in the future."""
    from .replay import parse_time

    now = time.time() if now is None else now
    match = _AGO.match(text)
    if match:
        return now - float(match.group(1)) * _UNIT[match.group(2).lower()]
    when = parse_time(text, "'--since'")
    if when > now + 1:
        raise typer.BadParameter(f"{text!r} is in the future", param_hint="'--since'")
    return when


def make_publisher(settings: Resolved, clients: Sequence[Any]) -> NatsPublisher | None:
    """The ``--publish`` sink the settings ask for (None: publishing is off)."""
    servers = settings.values.get("publish.servers") or []
    if not servers:
        return None
    from ..sinks.nats import NatsPublisher

    by_source = {getattr(c, "source", ""): c for c in clients}

    def epoch_of(source: str) -> str | None:
        client = by_source.get(source)
        epoch = getattr(client, "epoch", None)
        return epoch if isinstance(epoch, str) else None

    return NatsPublisher(
        list(servers),
        buffer_bytes=int(float(settings.values["publish.buffer_mb"]) * 1024 * 1024),
        drain_timeout=float(settings.values["publish.drain_timeout"]),
        epoch_of=epoch_of,
    )


def publish_summary(publisher: NatsPublisher) -> str | None:
    """The line said at exit when events could not be published (never silent)."""
    if not publisher.dropped:
        return None
    return f"{publisher.dropped:,} messages dropped ({publisher.drop_reason()})"


def check_broker_conflicts(
    *,
    from_: str | None,
    since: str | None,
    publish: str | None,
    demo: bool,
    given: dict[str, str | None],
    transport: str | None,
    frequency: str | None,
    prices: bool,
) -> None:
    """``--from`` reads what was published: the options that choose or shape a feed
    contradict it (exit 2, naming the pair)."""
    if since is not None and from_ is None:
        raise options.conflict("--since", "a feed", "--since replays from NATS: give --from")
    if from_ is None:
        return
    why = "--from reads from NATS, not from a feed"
    for flag, value in given.items():
        if value is not None:
            raise options.conflict("--from", flag, why)
    if demo:
        raise options.conflict("--from", "--demo", why)
    if transport is not None:
        raise options.conflict("--from", "--transport", why)
    if publish is not None:
        raise options.conflict("--from", "--publish", "the events are on the broker already")
    if frequency not in (None, "realtime") or prices:
        raise options.conflict(
            "--from",
            "--frequency/--min-price/--max-price",
            "the broker carries what was published; shape it on the publishing side",
        )
