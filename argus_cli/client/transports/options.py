"""What every transport takes from the config: headers, TLS, the clear-text key guard."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from urllib.parse import urlsplit

from ...exceptions import ConfigError, InsecureTransportError
from ..config import ConnectionConfig

log = logging.getLogger("argus_cli.client")

__all__ = ["handshake_headers", "is_loopback", "ssl_context"]


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def handshake_headers(config: ConnectionConfig) -> dict[str, str]:
    """The opening handshake's extra headers; refuse a clear-text key to a remote host,
    and credentials in the URL."""
    parts = urlsplit(config.url)
    if parts.username is not None or parts.password is not None:
        # websockets would send them as a second Authorization header (Basic), past the
        # clear-text guard below; the key travels only as api_key (PROTOCOL.md)
        raise ConfigError(
            f"the url {config.safe_url} carries credentials (user:password@): argus sends "
            "a key only as api_key / ARGUS_API_KEY in the Authorization header; "
            "remove them from the url"
        )
    if not config.api_key:
        return {}
    if parts.scheme == "ws" and not is_loopback(parts.hostname) and not config.allow_insecure_key:
        raise InsecureTransportError(
            f"refusing to send the API key in clear text to {config.safe_url}: "
            "use wss://, or allow it explicitly (allow_insecure_key / --allow-insecure-key)",
            url=config.safe_url,
        )
    return {"Authorization": f"Bearer {config.api_key}"}


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
