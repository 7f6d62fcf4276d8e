"""Fake venues for tests and benchmarks: each speaks one real provider's wire format
(as ``shared/providers/RESEARCH.md`` documents it) on 127.0.0.1, port 0, with faults
to order.

- ``coinbase``: ``FakeCoinbase``, the Coinbase Exchange feed (RESEARCH.md §1A).
- ``binance``: ``FakeBinance``, Binance Spot streams and the REST depth/exchangeInfo
  endpoints on the same port (§2).
- ``kraken``: ``FakeKraken``, Kraken Spot v2 with CRC32-checksummed books (§3).
- ``finnhub``: ``FakeFinnhub``, Finnhub trades with the token in the query (§4).
- ``alpaca``: ``FakeAlpaca``, Alpaca Market Data v2 with auth by message (§5).
- ``base``: ``FakeFeed``, the lifecycle they share (``async with``, ``stop()``).

Each was written from the research independently of the adapter it tests.

Nothing here is imported by the SDK or the CLI; import the module you need.
"""

from __future__ import annotations
