"""Fake venues for tests and benchmarks: each speaks one real provider's wire format
(as ``shared/providers/RESEARCH.md`` documents it) on 127.0.0.1, port 0, with faults
to order.

- ``coinbase``: ``FakeCoinbase``, the Coinbase Exchange feed (RESEARCH.md §1A).

Nothing here is imported by the SDK or the CLI; import the module you need.
"""

from __future__ import annotations
