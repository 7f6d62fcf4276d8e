"""Helpers for tests, benchmarks and users testing their own consumers.

- ``faultproxy``: ``FaultProxy``, a TCP proxy that injects faults (resets, black
  holes, latency, tiny segments, mid-frame cuts, down/up) and counts them.
- ``seqcheck``: ``check``, a checker over delivered messages (duplicates,
  reordering, and holes no reported gap covers).
- ``rawclient``: ``RawClient``, a plain websockets client for talking the argus
  protocol frame by frame.
- ``procinfo``: a process's resident memory and open descriptors (Linux ``/proc``).
- ``nats``: ``NatsServer`` and ``NatsCluster``, real nats-server processes (one
  JetStream server, or a cluster) on 127.0.0.1, started and stopped by tests.

Nothing here is imported by the SDK; the CLI imports only ``nats.find_nats_server``
(``argus nats serve`` runs the same binary the tests do). Import the module you need.
"""

from __future__ import annotations
