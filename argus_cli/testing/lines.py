"""Reading ``argus stream --json`` output in tests: every line parsed and held to the
normalized-event contract (``argus_cli.events.check_event``)."""

from __future__ import annotations

import json
from typing import Any

from ..events import check_event

__all__ = ["MalformedLine", "parse_lines"]


class MalformedLine(AssertionError):
    """A JSON line that is not a normalized event (or not JSON at all)."""


def parse_lines(text: str) -> list[dict[str, Any]]:
    """Each line of ``text`` as a dict; raise ``MalformedLine`` naming the first bad one."""
    events = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            event = json.loads(line)
        except ValueError as exc:
            raise MalformedLine(f"line {number} is not JSON ({exc}): {line[:200]}") from None
        problems = check_event(event) if isinstance(event, dict) else ["not a JSON object"]
        if problems:
            raise MalformedLine(f"line {number}: {'; '.join(problems)}: {line[:200]}")
        events.append(event)
    return events
