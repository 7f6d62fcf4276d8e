"""The providers argus speaks, by name: their facts, and a session for each.

``argus`` (docs/PROTOCOL.md) is the default. Each venue module (``coinbase``,
``binance``, ``kraken``, ``alpaca``, ``finnhub``) holds ``FACTS`` and its
session class; they are imported only when named, so a run that streams from
one venue loads one adapter. Pure: nothing here performs I/O.
"""

from __future__ import annotations

import importlib
from typing import Any, Final

from ..exceptions import ConfigError
from .facts import ProviderFacts
from .session import ProviderSession

__all__ = ["DEFAULT", "NAMES", "facts", "make_session", "split_symbol"]

DEFAULT: Final = "argus"
# name -> (module, session class): the order is the order `argus profiles` shows
_SESSIONS: Final = {
    "argus": ("argus", "ArgusSession"),
    "coinbase": ("coinbase", "CoinbaseSession"),
    "binance": ("binance", "BinanceSession"),
    "kraken": ("kraken", "KrakenSession"),
    "alpaca": ("alpaca", "AlpacaSession"),
    "finnhub": ("finnhub", "FinnhubSession"),
}
NAMES: Final = tuple(_SESSIONS)


def _module(name: str) -> Any:
    if name not in _SESSIONS:
        raise ConfigError(f"unknown provider {name!r}: expected one of {', '.join(NAMES)}")
    return importlib.import_module(f"{__package__}.{_SESSIONS[name][0]}")


def facts(name: str) -> ProviderFacts:
    """What provider ``name`` offers; ConfigError naming the known ones if unknown."""
    result: ProviderFacts = _module(name).FACTS
    return result


def make_session(
    name: str,
    *,
    api_key: str | None = None,
    api_secret: str | None = None,
    rest_url: str | None = None,
) -> ProviderSession:
    """A fresh session for provider ``name`` (one per client: it lives across reconnects).

    A keyed venue without its key is a ConfigError saying which variables to set.
    """
    module = _module(name)
    info: ProviderFacts = module.FACTS
    if info.needs_key and not api_key:
        what = "a key id (ARGUS_API_KEY)" if info.needs_secret else "a key (ARGUS_API_KEY)"
        raise ConfigError(f"{name} needs {what} or api_key in the profile")
    if info.needs_secret and not api_secret:
        raise ConfigError(f"{name} needs a secret: set ARGUS_API_SECRET or api_secret")
    session_class = getattr(module, _SESSIONS[name][1])
    if name == "binance":
        session: ProviderSession = session_class(rest_url=rest_url)
    elif name == "alpaca":
        session = session_class(key_id=api_key, secret=api_secret)
    else:
        session = session_class()
    return session


def split_symbol(text: str) -> tuple[str | None, str]:
    """``"kraken:BTC/USD"`` -> ``("kraken", "BTC/USD")``; a symbol without a provider
    prefix -> ``(None, text)``.

    Only a provider name in lower case, before the first colon, is a prefix:
    Finnhub's own ``BINANCE:BTCUSDT`` (upper case) stays one symbol.
    """
    head, sep, rest = text.partition(":")
    if sep and head in _SESSIONS and rest:
        return head, rest
    return None, text
