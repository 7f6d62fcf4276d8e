"""Helpers for tests, benchmarks and users testing their own consumers.

- ``faultproxy``: ``FaultProxy``, a TCP proxy that injects faults (resets, black
  holes, latency, tiny segments, mid-frame cuts, down/up) and counts them.
- ``seqcheck``: ``check``, a checker over delivered messages (duplicates,
  reordering, and holes no reported gap covers).
- ``rawclient``: ``RawClient``, a plain websockets client for talking the argus
  protocol frame by frame.
- ``procinfo``: a process's resident memory and open descriptors (Linux ``/proc``).

Nothing here is imported by the SDK or the CLI; import the module you need.
"""

from __future__ import annotations
