"""What every transport takes from the config: headers, TLS, the clear-text key guard."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

from ...exceptions import ConfigError, InsecureTransportError
from ...protocol.session import Handshake
from ..config import ConnectionConfig

log = logging.getLogger("argus_cli.client")

__all__ = ["handshake_headers", "is_loopback", "ssl_context", "with_query"]


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def with_query(url: str, query: Mapping[str, str]) -> str:
    """``url`` with ``query`` added to its query string (a venue's token)."""
    parts = urlsplit(url)
    extra = urlencode(list(query.items()))
    joined = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))


def handshake_headers(
    config: ConnectionConfig, handshake: Handshake | None = None
) -> dict[str, str]:
    """The opening handshake's extra headers (``handshake``: the venue's credentials;
    by default the argus bearer token); refuse credentials in clear text to a remote
    host, and credentials in the URL's user:password."""
    parts = urlsplit(config.url)
    if parts.username is not None or parts.password is not None:
        # websockets would send them as a second Authorization header (Basic), past the
        # clear-text guard below; the key travels only as api_key (docs/PROTOCOL.md)
        raise ConfigError(
            f"the url {config.safe_url} carries credentials (user:password@): argus sends "
            "a key only as api_key / ARGUS_API_KEY in the Authorization header; "
            "remove them from the url"
        )
    if handshake is None:
        bearer = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        handshake = Handshake(headers=bearer)
    if not handshake.headers and not handshake.query and not handshake.secrets:
        return {}
    if parts.scheme == "ws" and not is_loopback(parts.hostname) and not config.allow_insecure_key:
        raise InsecureTransportError(
            f"refusing to send the API key in clear text to {config.safe_url}: "
            "use wss://, or allow it explicitly (allow_insecure_key / --allow-insecure-key)",
            url=config.safe_url,
        )
    return dict(handshake.headers)


def ssl_context(config: ConnectionConfig) -> ssl.SSLContext | None:
    """Verified TLS for wss:// (a private CA via ``ca_file``); None for ws://."""
    if urlsplit(config.url).scheme != "wss":
        return None
    try:
        context = ssl.create_default_context(cafile=config.ca_file)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"ca_file {config.ca_file!r} cannot be used: {reason}") from None
    if config.insecure_skip_verify:
        log.warning(
            "TLS certificate verification is OFF for %s: anyone on the path can read "
            "and alter this stream. Use ca_file for a private CA instead.",
            config.safe_url,
        )
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
