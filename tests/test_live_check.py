"""``make live``'s checker: a clear skip without a network, a real verdict with one
(a fake Coinbase on 127.0.0.1 stands in for the internet)."""

from __future__ import annotations

from argus_cli.testing.fakes.coinbase import FakeCoinbase
from benchmarks.live import Check, reachable, run
from tests.cli.helpers import Threaded


def test_an_unreachable_provider_is_a_skip_not_a_failure(unused_port: int) -> None:
    line, ok = run(Check("coinbase", ("BTC-USD",), url=f"ws://127.0.0.1:{unused_port}"), 1)
    assert ok and line.startswith("skip  coinbase: no network")


def test_missing_keys_are_a_skip_naming_them() -> None:
    line, ok = run(Check("finnhub", ("AAPL",), needs=("ARGUS_TEST_NOT_SET_TOKEN",)), 1)
    assert ok and "set ARGUS_TEST_NOT_SET_TOKEN" in line


def test_a_reachable_provider_is_streamed_and_every_line_checked() -> None:
    with Threaded(FakeCoinbase(products=("BTC-USD",))) as fake:
        assert reachable(fake.url) is None
        line, ok = run(Check("coinbase", ("BTC-USD",), url=fake.url), 1.5)
    assert ok, line
    assert line.startswith("ok    coinbase: connected,") and "every line valid" in line
