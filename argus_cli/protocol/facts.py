"""What each provider offers, as data: profiles, the CLI's checks and tests read it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ProviderFacts"]


@dataclass(frozen=True, slots=True)
class ProviderFacts:
    """One venue's fixed facts (RESEARCH.md), beside its session module."""

    name: str
    url: str  # the public WebSocket URL (the built-in profile's)
    data_types: tuple[str, ...]  # what it can stream, of price / volume / orderbook
    frequencies: tuple[str, ...]
    filters: bool  # can it filter by price server-side
    contiguous_trade_ids: bool  # volume lines carry a seq that grows by exactly 1
    needs_key: bool
    subscribe_within: float | None  # seconds after connecting before the server gives up
    client_messages_per_second: float | None
    max_message_size: int  # bytes a frame can reach (whole-book snapshots)
    rest_url: str | None = None  # REST base URL where the adapter needs one
    needs_secret: bool = False  # a key id and a secret (api_key + api_secret)
    lists_symbols: bool = False  # ``argus symbols --provider NAME`` works
    max_symbols: int | None = None  # per connection, where the venue caps it
    description: str = ""  # one line for ``argus profiles``
