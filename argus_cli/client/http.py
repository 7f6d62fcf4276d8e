"""HTTP GET for providers' ``Fetch`` actions (REST book snapshots, symbol lists).

The standard library's client in a worker thread: verified TLS (the config's
``ca_file`` / ``insecure_skip_verify``, as for the stream), a timeout, a body
cap, redirects refused. Never raises: an answer that is not HTTP becomes a
``Fetched`` with status 0 and the reason.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from ..protocol.session import Fetch, Fetched
from .config import ConnectionConfig
from .redact import redact_text, redact_url

__all__ = ["MAX_BODY", "http_get"]

MAX_BODY = 16 << 20  # bytes: a 5,000-level book is ~300 KB


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is an answer (3xx), not followed


def _context(config: ConnectionConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.ca_file)
    if config.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _get(fetch: Fetch, config: ConnectionConfig) -> Fetched:
    scheme = urlsplit(fetch.url).scheme
    if scheme not in ("http", "https"):
        return Fetched(fetch.tag, 0, error=f"not an http(s) URL: {redact_url(fetch.url)}")
    request = urllib.request.Request(fetch.url, headers={"User-Agent": "argus"})  # noqa: S310 (scheme checked above)
    try:
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if scheme == "https":
            handlers.append(urllib.request.HTTPSHandler(context=_context(config)))
        opener = urllib.request.build_opener(*handlers)
        with opener.open(request, timeout=config.timeout) as response:
            body = response.read(MAX_BODY + 1)
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        body = exc.read(MAX_BODY + 1) if exc.fp is not None else b""
        status = exc.code
    except (OSError, ValueError, ssl.SSLError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return Fetched(fetch.tag, 0, error=redact_text(f"GET {redact_url(fetch.url)}: {reason}"))
    if len(body) > MAX_BODY:
        return Fetched(fetch.tag, 0, error=f"GET {redact_url(fetch.url)}: body over {MAX_BODY}")
    return Fetched(fetch.tag, status, body)


async def http_get(fetch: Fetch, config: ConnectionConfig) -> Fetched:
    """Perform ``fetch`` without blocking the event loop."""
    return await asyncio.to_thread(_get, fetch, config)
