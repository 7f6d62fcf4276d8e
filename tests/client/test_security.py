"""The key never leaks; TLS is verified by default; clear-text keys to remote hosts refused."""

from __future__ import annotations

import logging
import ssl
import traceback
from pathlib import Path

import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from argus_cli import ConnectionConfig, SubscriptionConfig, WebSocketClient
from argus_cli.exceptions import InsecureTransportError, TLSVerificationError
from argus_cli.sim import Simulator, SimulatorConfig
from tests.conftest import SimFactory

# real keys are long random strings; the "k-" prefix keeps a shrunk example (say
# "Authorization") from matching text that legitimately surrounds it
KEYS = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters='"\\'),
    min_size=16,
    max_size=40,
).map(lambda tail: f"k-{tail}")


@settings(max_examples=5, deadline=None)
@given(key=KEYS)
async def test_random_keys_never_appear_anywhere(key: str) -> None:
    handler = _Capture()
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    logging.getLogger("websockets").setLevel(logging.DEBUG)
    try:
        async with Simulator(SimulatorConfig(port=0, api_key="the-right-key")) as sim:
            refused = WebSocketClient(ConnectionConfig(url=sim.url, api_key=key, timeout=2))
            assert await refused.connect() is False
        async with Simulator(SimulatorConfig(port=0, api_key=key)) as sim:
            accepted = WebSocketClient(ConnectionConfig(url=sim.url, api_key=key, timeout=2))
            assert await accepted.connect()
            await accepted.subscribe("s", SubscriptionConfig(["AAPL"], ["price"]))
            await accepted.disconnect()
        text = handler.text
        for client in (refused, accepted):
            text += repr(client) + repr(client.config) + str(client.config)
            text += repr(client.stats_snapshot())
            if client.failure is not None:
                text += "".join(traceback.format_exception(client.failure))
        assert "Authorization" in text  # the header was logged, redacted
        assert key not in text
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        if record.exc_info:
            self.lines.append("".join(traceback.format_exception(*record.exc_info)))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return context, str(ca_file)


async def test_tls_is_verified_by_default_and_failure_is_fatal(
    make_sim: SimFactory, tls: tuple[ssl.SSLContext, str]
) -> None:
    sim = await make_sim(ssl=tls[0])
    assert sim.url.startswith("wss://")
    client = WebSocketClient(ConnectionConfig(url=sim.url, max_reconnect_attempts=10))
    assert await client.connect() is False
    assert isinstance(client.failure, TLSVerificationError)
    assert "not trusted" in str(client.failure)
    assert client.reconnect_count == 0


async def test_a_private_ca_file_is_trusted(
    make_sim: SimFactory, tls: tuple[ssl.SSLContext, str]
) -> None:
    sim = await make_sim(ssl=tls[0])
    client = WebSocketClient(ConnectionConfig(url=sim.url, ca_file=tls[1]))
    assert await client.connect()
    assert await client.list_symbols()
    await client.disconnect()


async def test_insecure_mode_warns_loudly(
    make_sim: SimFactory, tls: tuple[ssl.SSLContext, str], caplog: pytest.LogCaptureFixture
) -> None:
    sim = await make_sim(ssl=tls[0])
    caplog.set_level(logging.WARNING, logger="argus_cli.client")
    client = WebSocketClient(ConnectionConfig(url=sim.url, insecure_skip_verify=True))
    assert await client.connect()
    await client.disconnect()
    assert "verification is OFF" in caplog.text


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("ws://203.0.113.5:8000/ws", False),
        ("ws://example.com/ws", False),
        ("ws://127.0.0.1:1/ws", True),
        ("ws://localhost:1/ws", True),
        ("ws://[::1]:1/ws", True),
    ],
)
async def test_key_over_clear_text_only_to_loopback(url: str, allowed: bool) -> None:
    client = WebSocketClient(
        ConnectionConfig(url=url, api_key="k-000000000001", max_reconnect_attempts=1, timeout=1)
    )
    assert await client.connect() is False
    if allowed:
        assert not isinstance(client.failure, InsecureTransportError)
    else:
        assert isinstance(client.failure, InsecureTransportError)
        assert "clear text" in str(client.failure)
    permitted = WebSocketClient(
        ConnectionConfig(
            url=url, api_key="k-1", max_reconnect_attempts=1, timeout=0.2, allow_insecure_key=True
        )
    )
    await permitted.connect()
    assert not isinstance(permitted.failure, InsecureTransportError)
