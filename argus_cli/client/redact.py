"""Keeping secrets out of URLs, logs and messages."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["RedactingFilter", "install_log_redaction", "redact_text", "redact_url"]

_AUTH_RE = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*)[^\r\n]*")
_BEARER_RE = re.compile(r"(?i)(bearer\s+)(?!\*\*\*)\S+")


def redact_url(url: str) -> str:
    """``url`` without user:password and with every query value replaced by ``***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if ":" in netloc:  # IPv6
            netloc = f"[{netloc}]"
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
    except ValueError:
        return "<invalid url>"
    query = parts.query
    if query:
        query = urlencode([(k, "***") for k, _ in parse_qsl(query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Replace Authorization header values, bearer tokens and the given secrets."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _AUTH_RE.sub(lambda m: m.group(1) + "***", text)
    return _BEARER_RE.sub(lambda m: m.group(1) + "***", text)


class RedactingFilter(logging.Filter):
    """Rewrites log records so no Authorization value or known key survives.

    websockets logs handshake headers, Authorization included, at DEBUG; this
    filter sits on the ``websockets`` and ``argus_cli`` loggers.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not leak its args
            message = str(record.msg)
        redacted = redact_text(message, tuple(self.secrets))
        if redacted != message or record.args:
            record.msg = redacted
            record.args = None
        return True


_FILTER = RedactingFilter()


def install_log_redaction(secret: str | None = None) -> RedactingFilter:
    """Attach the redacting filter to the loggers that can see the key."""
    if secret:
        _FILTER.secrets.add(secret)
    for name in ("websockets", "websockets.client", "websockets.server", "argus_cli"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return _FILTER
