"""Entry point placeholder (filled in by the CLI)."""

from __future__ import annotations


def main() -> None:
    raise SystemExit("argus CLI not built yet")
