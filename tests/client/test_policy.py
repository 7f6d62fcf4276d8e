"""RetryPolicy: which errors end the stream and which are tried again, and how soon."""

from __future__ import annotations

import pytest

from argus_cli.client.policy import Decision, RetryPolicy
from argus_cli.exceptions import (
    ArgusConnectionError,
    ArgusError,
    AuthenticationError,
    ConfigError,
    DecodeError,
    HandshakeRejected,
    InsecureTransportError,
    SinkError,
    SubscriptionError,
    TLSVerificationError,
)

URL = "ws://example.test/stream"


def rejected(status: int, retry_after: float | None = None) -> HandshakeRejected:
    return HandshakeRejected("no", url=URL, status=status, retry_after=retry_after)


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("key refused", url=URL, status=401),
        AuthenticationError("key refused", url=URL, status=403),
        TLSVerificationError("untrusted", url=URL),
        InsecureTransportError("clear text", url=URL),
        ConfigError("ca_file missing"),
    ],
    ids=type,
)
def test_fatal_errors_are_never_retried(error: ArgusError) -> None:
    assert RetryPolicy().decide(error) == Decision(retry=False)


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_transient_statuses_are_retried_after_retry_after(status: int) -> None:
    policy = RetryPolicy()
    assert policy.decide(rejected(status, 12.5)) == Decision(retry=True, wait_at_least=12.5)
    assert policy.decide(rejected(status)) == Decision(retry=True, wait_at_least=None)


@pytest.mark.parametrize("status", [400, 402, 404, 410])
def test_other_statuses_are_fatal(status: int) -> None:
    assert RetryPolicy().decide(rejected(status, 5.0)) == Decision(retry=False)


def test_network_errors_are_retried() -> None:
    error = ArgusConnectionError("cannot reach", url=URL)
    assert RetryPolicy().decide(error) == Decision(retry=True)


@pytest.mark.parametrize(
    "error",
    [ArgusError("x"), DecodeError("bad"), SubscriptionError("no"), SinkError("full")],
    ids=type,
)
def test_errors_other_than_connection_errors_are_not_retried(error: ArgusError) -> None:
    assert RetryPolicy().decide(error).retry is False


def test_a_provider_policy_makes_402_fatal_whatever_else_it_retries() -> None:
    policy = RetryPolicy(
        fatal_statuses=frozenset({401, 402, 403}), retry_statuses=frozenset({402, 404, 429})
    )
    assert policy.decide(rejected(402)) == Decision(retry=False)  # fatal wins
    assert policy.decide(rejected(404, 3.0)) == Decision(retry=True, wait_at_least=3.0)
    assert RetryPolicy().decide(rejected(404, 3.0)) == Decision(retry=False)
    assert policy.decide(rejected(408)) == Decision(retry=False)  # no longer listed


def test_a_policy_can_make_server_errors_fatal() -> None:
    assert RetryPolicy(retry_server_errors=False).decide(rejected(503)) == Decision(retry=False)
    assert RetryPolicy(fatal_statuses=frozenset({503})).decide(rejected(503)).retry is False
    assert RetryPolicy(retry_server_errors=False).decide(rejected(429)).retry is True


def test_a_custom_policy_never_retries_a_refused_key() -> None:
    policy = RetryPolicy(fatal_statuses=frozenset(), retry_statuses=frozenset({401, 403}))
    assert policy.decide(AuthenticationError("refused", url=URL)).retry is False
    assert policy.decide(rejected(401)).retry is True  # a bare status is the policy's call
