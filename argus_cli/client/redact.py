"""Keeping secrets out of URLs, logs and messages.

Keys are *registered* (``install_log_redaction``, called by every
``WebSocketClient`` and ``Simulator``); from then on ``redact_text`` replaces
them wherever they appear, along with any ``Authorization`` value or bearer
token.

Logs are redacted where every record is made: ``install_log_redaction`` wraps
the logging record factory (chaining whatever factory was there), so a record
is clean before any logger, filter or handler sees it. A filter on a logger
would not do: logging applies a logger's filters only to records logged *on
that logger*, never to those that propagate up from its children
(``argus_cli.client.x``, ``websockets.client`` below ``websockets``), and the
SDK cannot put filters on handlers it does not own (the application's, pytest's
``caplog``). Registered keys are replaced in every record of the process, a
key in an exception's traceback too; the ``Authorization``/``Bearer`` patterns
only in records of the ``argus_cli`` and ``websockets`` logger trees, so the
application's own logs are otherwise left as they are. A record is rewritten
only when something was redacted (``msg`` becomes the redacted message,
``args`` None).
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "RedactingFilter",
    "install_log_redaction",
    "redact_record",
    "redact_text",
    "redact_url",
    "register_secret",
]

_AUTH_RE = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*)[^\r\n]*")
_BEARER_RE = re.compile(r"(?i)(bearer\s+)(?!\*\*\*)\S+")
_PATTERN_LOGGERS = ("argus_cli", "websockets")

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # registered keys, longest first


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


def register_secret(secret: str | None) -> None:
    """Have ``redact_text`` (and so every log record) replace ``secret`` from now on."""
    global _secrets
    if not secret:
        return
    with _lock:
        if secret not in _secrets:
            _secrets = tuple(sorted({*_secrets, secret}, key=len, reverse=True))


def _replace_secrets(text: str, secrets: Iterable[str | None]) -> str:
    extra = [s for s in secrets if s and s not in _secrets]
    for secret in (*sorted(extra, key=len, reverse=True), *_secrets):
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _replace_patterns(text: str) -> str:
    text = _AUTH_RE.sub(lambda m: m.group(1) + "***", text)
    return _BEARER_RE.sub(lambda m: m.group(1) + "***", text)


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with Authorization values, bearer tokens, ``secrets`` and every
    registered key replaced by ``***``. Use it on any text a server can put a key in
    (error messages, close reasons) before storing or showing it."""
    return _replace_patterns(_replace_secrets(text, secrets))


def _in_pattern_tree(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in _PATTERN_LOGGERS)


def redact_record(record: logging.LogRecord, patterns: bool = True) -> None:
    """Redact ``record`` in place: its message, traceback and stack text."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not leak its args
        message = str(record.msg)
        record.args = None
    redacted = _replace_secrets(message, ())
    if patterns:
        redacted = _replace_patterns(redacted)
    if redacted != message:
        record.msg = redacted
        record.args = None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        clean = _replace_secrets(text, ())
        if patterns:
            clean = _replace_patterns(clean)
        if clean != text:
            record.exc_text = clean  # what formatters print instead of formatting exc_info
    if record.stack_info:
        record.stack_info = _replace_secrets(record.stack_info, ())


class RedactingFilter(logging.Filter):
    """Redacts every record it sees (registered keys, ``secrets``, Authorization values).

    The SDK does not need it (see the module docstring); it is for handlers
    that format records made before ``install_log_redaction`` ran, or made by a
    record factory installed over argus's without chaining it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        for secret in self.secrets:
            register_secret(secret)
        redact_record(record)
        return True


_FILTER = RedactingFilter()


class _RedactingFactory:
    """A record factory that redacts what the factory it wraps makes."""

    def __init__(self, inner: Callable[..., logging.LogRecord]) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        try:
            redact_record(record, patterns=_in_pattern_tree(record.name))
        except Exception:  # never break the caller's log call, never risk the key either
            record.msg, record.args = "(a log record that could not be redacted)", None
            record.exc_info = record.exc_text = record.stack_info = None
        return record


def install_log_redaction(secret: str | None = None) -> RedactingFilter:
    """Register ``secret`` and make sure every log record in the process is redacted."""
    register_secret(secret)
    with _lock:
        current = logging.getLogRecordFactory()
        if not isinstance(current, _RedactingFactory):  # replaced or wrapped since: wrap again
            logging.setLogRecordFactory(_RedactingFactory(current))
    return _FILTER
