"""Exit codes, and the one place errors become one-line messages."""

from __future__ import annotations

import os
import sys
import traceback
from typing import NoReturn

from ..exceptions import (
    ArgusConnectionError,
    ArgusError,
    AuthenticationError,
    ConfigError,
    HandshakeRejected,
    InsecureTransportError,
    ReconnectExhausted,
    SubscriptionError,
    TLSVerificationError,
)

OK = 0
RUNTIME_FAILURE = 1
USAGE = 2
INVALID_CONFIG = 3
KEY_REFUSED = 4
CANNOT_CONNECT = 5
INTERRUPTED = 130
TERMINATED = 143

EXIT_CODES_HELP = (
    "Exit codes: 0 finished (--count or --duration reached); 1 runtime failure "
    "(e.g. no subscription left); 2 usage error; 3 invalid configuration; "
    "4 API key refused; 5 could not connect within the allowed attempts; "
    "130 interrupted (Ctrl-C); 143 terminated (SIGTERM)."
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


def fail(error: BaseException) -> NoReturn:
    """Print ``argus: <message>`` on stderr (traceback only with ARGUS_DEBUG=1) and exit."""
    if isinstance(error, CommandExit):
        if error.message:
            print(f"argus: {error.message}", file=sys.stderr)
        raise SystemExit(error.code)
    if os.environ.get("ARGUS_DEBUG") == "1":
        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, ArgusError):
        print(f"argus: {error}", file=sys.stderr)
        raise SystemExit(exit_code_for(error))
    print(f"argus: internal error: {type(error).__name__}: {error}", file=sys.stderr)
    if os.environ.get("ARGUS_DEBUG") != "1":
        print("argus: run with ARGUS_DEBUG=1 for the traceback", file=sys.stderr)
    raise SystemExit(RUNTIME_FAILURE)
