"""Exit codes, and the one place errors become one-line messages."""

from __future__ import annotations

import functools
import os
import traceback
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import typer
from typer.exceptions import TyperException

from ..exceptions import (
    ArgusConnectionError,
    ArgusError,
    AuthenticationError,
    ConfigError,
    HandshakeRejected,
    InsecureTransportError,
    InternalError,
    ProfileError,
    ReconnectExhausted,
    SubscriptionError,
    TLSVerificationError,
)
from . import stderr

OK = 0
RUNTIME_FAILURE = 1
USAGE = 2
INVALID_CONFIG = 3
KEY_REFUSED = 4
CANNOT_CONNECT = 5
HANGUP = 129
INTERRUPTED = 130
TERMINATED = 143

EXIT_CODES_HELP = (
    "Exit codes: 0 finished (--count or --duration reached); 1 runtime failure "
    "(e.g. no subscription left); 2 usage error; 3 invalid configuration; "
    "4 API key refused; 5 could not connect within the allowed attempts; "
    "129 hung up (SIGHUP: the terminal closed); 130 interrupted (Ctrl-C); "
    "143 terminated (SIGTERM)."
)


class CommandExit(Exception):
    """Leave a command with ``code`` after printing ``message`` (if any) on stderr."""

    def __init__(self, code: int, message: str = "") -> None:
        self.code = code
        self.message = message
        super().__init__(message)


def exit_code_for(error: BaseException) -> int:
    if isinstance(error, ConfigError):
        return INVALID_CONFIG
    if isinstance(error, AuthenticationError):
        return KEY_REFUSED
    if isinstance(error, InsecureTransportError | TLSVerificationError):
        return INVALID_CONFIG if isinstance(error, InsecureTransportError) else CANNOT_CONNECT
    if isinstance(error, ReconnectExhausted | HandshakeRejected | ArgusConnectionError):
        return CANNOT_CONNECT
    if isinstance(error, SubscriptionError):
        return RUNTIME_FAILURE
    return RUNTIME_FAILURE


P = ParamSpec("P")
R = TypeVar("R")


def boundary(command: Callable[P, R]) -> Callable[P, R]:
    """The CLI's one error boundary, around every command: an exception becomes one
    line on stderr and its exit code (``fail``); typer exits and usage errors
    pass through untouched."""

    @functools.wraps(command)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except BrokenPipeError:
            reader_gone()
        except Exception as exc:
            fail(exc)

    return guarded


def reader_gone() -> NoReturn:
    """The reader of standard output went away (``argus profiles | head -1``): exit 0,
    quietly. What is still buffered for stdout goes to /dev/null, so the interpreter's
    final flush does not fail again."""
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass  # no descriptor (a test runner's capture): nothing will be flushed there
    raise SystemExit(OK)


def fail(error: BaseException) -> NoReturn:
    """Print ``argus: <message>`` on stderr (traceback only with ARGUS_DEBUG=1) and exit.

    Messages carry server text (error messages, close reasons): each line is
    redacted and neutralized for the terminal (``safe_text.shown``)."""
    from .safe_text import shown  # the client's redaction: loaded when a command fails

    if isinstance(error, CommandExit):
        if error.message:
            _say(error.message)
        _exit(error.code)
    debug = os.environ.get("ARGUS_DEBUG") == "1"
    if debug:
        for line in "".join(traceback.format_exception(error)).splitlines():
            stderr.write(shown(line) + "\n")
    if isinstance(error, ArgusError):
        _say(error)
        hint = _hint(error)
        if hint:
            _say(hint)
        if isinstance(error, InternalError) and not debug:
            _say("this is a bug in argus; ARGUS_DEBUG=1 shows the traceback")
        _exit(exit_code_for(error))
    _say(f"internal error: {type(error).__name__}: {shown(error)}")
    if not debug:
        _say("run with ARGUS_DEBUG=1 for the traceback")
    _exit(RUNTIME_FAILURE)


def _hint(error: ArgusError) -> str:
    """A line that points to the fix, where there is an obvious one: nothing listens
    on a local URL (start a server, or use the built-in one)."""
    if not isinstance(error, ArgusConnectionError) or isinstance(
        error, AuthenticationError | HandshakeRejected | TLSVerificationError
    ):
        return ""
    if "cannot reach" not in str(error):
        return ""
    from urllib.parse import urlsplit

    from ..client.transports.options import is_loopback

    try:
        host = urlsplit(error.url).hostname
    except ValueError:
        return ""
    if not is_loopback(host):
        return ""
    return "is a server running? try `argus serve` (in another terminal) or `--demo`"


def _say(message: object) -> None:
    """``argus: message`` on stderr, as one neutralized line; a list of configuration
    problems (``ProfileError``) one problem a line, each neutralized."""
    from .safe_text import shown

    if isinstance(message, ProfileError):
        lines = [f"invalid configuration in {message.source}:"]
        lines += [f"  - {problem}" for problem in message.problems]
        stderr.write(f"argus: {shown(lines[0])}\n" + "".join(f"{shown(x)}\n" for x in lines[1:]))
        return
    stderr.write(f"argus: {shown(message)}\n")


def _exit(code: int) -> NoReturn:
    stderr.flush(1.0)  # what is queued reaches a reader, bounded if nobody reads
    raise SystemExit(code)
