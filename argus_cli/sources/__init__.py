"""Sources other than a live connection: recordings read back (``recording``)."""

from __future__ import annotations

from .recording import ReadCounts, aiter_recording, iter_raw, iter_recording, replay

__all__ = ["ReadCounts", "aiter_recording", "iter_raw", "iter_recording", "replay"]
