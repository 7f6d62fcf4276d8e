"""What each provider offers, as data: profiles, the CLI's checks and tests read it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..exceptions import ConfigError, NotOffered

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

    def check_request(
        self,
        symbols: Sequence[str],
        data_types: Sequence[str],
        update_frequency: str,
        filters: Mapping[str, float] | None,
    ) -> None:
        """Refuse, before anything is sent, what this provider cannot serve:
        ``NotOffered`` naming what it offers; ``ConfigError`` for an empty request."""
        if not symbols or not data_types:
            raise ConfigError(
                f"{self.name} needs symbols and data types among {', '.join(self.data_types)}"
            )
        if update_frequency not in self.frequencies:
            only = "in real time only:" if self.frequencies == ("realtime",) else "at"
            raise NotOffered(
                f"{self.name} streams {only} {', '.join(self.frequencies)}; update_frequency "
                f"{update_frequency!r} is not available"
            )
        if filters and not self.filters:
            raise NotOffered(f"{self.name} cannot filter by price: remove min_price/max_price")
        missing = ", ".join(str(t) for t in data_types if t not in self.data_types)
        if missing:
            offered = ", ".join(self.data_types)
            raise NotOffered(f"{self.name} offers the data types {offered}, not {missing}")
