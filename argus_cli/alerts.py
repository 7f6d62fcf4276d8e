"""Price alerts: rules parsed from text, and a book that watches events for crossings. Pure.

A rule (``argus stream --alert``, docs/ALERTS.md) is ``[provider:]SYMBOL OP LEVEL``
(a price level) or ``[provider:]SYMBOL %OP PERCENT`` (a move since the stream
started), ``OP`` one of ``>``, ``>=``, ``<``, ``<=``: ``AAPL>230``, ``TSLA<300``,
``NVDA%>2``, ``NVDA%<-2``, ``coinbase:BTC-USD>=100000``. Symbols are read as
``argus stream`` reads its SYMBOL arguments: a lower-case provider name before the
first colon is a prefix (``providers.split_symbol``), the rest is upper-cased and
checked with ``rules.check_symbol(venue=True)``. A bad rule raises
``AlertRuleError`` (a ``ConfigError``, so a ``ValueError``) naming the rule and
what is wrong; rules that read the same once normalized are kept once.

``AlertBook(rules).observe(event)`` returns the alerts one event fires. The
decisions (each in docs/ALERTS.md):

- Crossings, not levels: a rule fires when its condition goes from false to true
  between two observations of one (source, symbol), once; then it is disarmed,
  and re-arms only once the price is back on the other side of the level by the
  hysteresis band: ``price_band`` (default 0.001, 0.1%) of the level for price
  rules, ``percent_band`` (default 0.1) percentage points for ``%`` rules. Jitter
  around a level fires once.
- The first observation never fires: a condition already true when argus starts
  is not a crossing seen (a restart would alert again on every rule already
  true); such a rule starts disarmed and needs the band to re-arm.
- The price observed is the event's ``price`` (the last trade); on a quote-only
  venue, the midpoint of the event's own ``bid`` and ``ask`` when it has both
  (never a bid from one event with an ask from another; a crossed quote, bid
  above ask, is skipped). A symbol that shows a last price once is watched on last
  prices from then on: the first last price resets its rules to a fresh start
  (two series are never mixed, and ``%`` rules then measure from that price, the
  one the table's Chg% column uses).
- ``%`` rules measure from the first price observed for that (source, symbol) in
  this run: ``change_pct = (price - reference) / reference * 100``. A reference
  that is not above zero leaves ``%`` rules for that symbol inactive.
- A rule without a provider prefix watches its symbol from every source in the
  stream, each (source, symbol) with its own state; with a prefix, that source.
- Only ``price`` events matter; other events, unknown symbols and non-finite or
  missing prices are ignored. ``observe`` costs a dict lookup for an event no rule
  watches and O(rules for that symbol) for one that is watched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeGuard, cast

from .exceptions import AlertRuleError, ConfigError
from .protocol.providers import split_symbol
from .protocol.rules import check_symbol

__all__ = [
    "DEFAULT_PERCENT_BAND",
    "DEFAULT_PRICE_BAND",
    "OPERATORS",
    "ROUNDING",
    "Alert",
    "AlertBook",
    "AlertRule",
    "AlertRuleError",
    "observed_price",
    "parse_rule",
    "parse_rules",
]

Operator = Literal[">", ">=", "<", "<="]
OPERATORS: Final = (">", ">=", "<", "<=")
DEFAULT_PRICE_BAND: Final = 0.001  # a fraction of the level: 0.1%
DEFAULT_PERCENT_BAND: Final = 0.1  # percentage points
ROUNDING: Final = 1e-9  # relative: a distance this close to the band counts as the band
SYNTAX: Final = "write SYMBOL>LEVEL, SYMBOL<LEVEL (or >=, <=) or SYMBOL%>PERCENT, SYMBOL%<-PERCENT"

# the symbol grammars exclude < > = % and spaces: the first of them ends the symbol
_RULE = re.compile(r"(?P<target>[^<>=!%]*?)\s*(?P<pct>%)?\s*(?P<op>[<>=!]+)\s*(?P<level>.*)")


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One rule. ``text`` is its normalized spelling (``coinbase:BTC-USD>100000``,
    ``NVDA%>2``), the ``rule`` of the alerts it fires."""

    text: str
    symbol: str
    op: Operator
    level: float
    percent: bool = False
    provider: str | None = None

    @property
    def rising(self) -> bool:
        """True for ``>``/``>=`` (fires on the way up), False for ``<``/``<=``."""
        return self.op[0] == ">"

    def holds(self, value: float) -> bool:
        """Whether the condition is true for ``value`` (a price, or a change in %)."""
        op, level = self.op, self.level
        if op == ">":
            return value > level
        if op == ">=":
            return value >= level
        if op == "<":
            return value < level
        return value <= level


def parse_rule(text: str) -> AlertRule:
    """``text`` as a rule; AlertRuleError naming it and what is wrong."""
    raw = text.strip()
    match = _RULE.fullmatch(raw)
    if not raw:
        raise AlertRuleError(text, f"the rule is empty: {SYNTAX}")
    if match is None:
        if not any(char in raw for char in "<>="):
            raise AlertRuleError(text, f"no comparison: {SYNTAX}")
        raise AlertRuleError(text, f"cannot read it: {SYNTAX}")
    target, op, level_text = match["target"], match["op"], match["level"].strip()
    percent = match["pct"] is not None
    if op in ("=>", "=<"):
        raise AlertRuleError(text, f"did you mean {op[::-1]}?")
    if op in ("=", "==", "!="):
        raise AlertRuleError(
            text, f"{op} is not a comparison alerts make (a price seldom equals a level): {SYNTAX}"
        )
    if op not in OPERATORS:
        raise AlertRuleError(text, f"{op!r} is not a comparison: use >, >=, < or <=")
    if not target:
        raise AlertRuleError(text, f"no symbol before {op}: {SYNTAX}")
    if not level_text:
        raise AlertRuleError(text, f"no level after {op}")
    if level_text.endswith("%") or level_text.startswith("%"):
        number = level_text.strip("%").strip()
        raise AlertRuleError(text, f"a percentage rule is written {target.upper()}%{op}{number}")
    try:
        level = float(level_text)
    except ValueError:
        raise AlertRuleError(text, f"{level_text!r} is not a number") from None
    if not math.isfinite(level):
        raise AlertRuleError(text, "the level must be a finite number")
    if percent and level <= -100:
        raise AlertRuleError(
            text, f"a price cannot move by {level_text}%: it would be at or below 0"
        )
    provider, symbol = split_symbol(target)
    symbol = symbol.upper()
    reason = check_symbol(symbol, venue=True)
    if reason:
        raise AlertRuleError(text, reason)
    prefix = f"{provider}:" if provider else ""
    normalized = f"{prefix}{symbol}{'%' if percent else ''}{op}{level_text}"
    return AlertRule(normalized, symbol, cast(Operator, op), level, percent, provider)


def parse_rules(texts: Iterable[str]) -> list[AlertRule]:
    """Each text as a rule, in order; rules that read the same once normalized
    (``aapl>230`` and ``AAPL > 230``) are kept once. AlertRuleError for the first bad one."""
    rules: dict[tuple[Any, ...], AlertRule] = {}
    for text in texts:
        rule = parse_rule(text)
        rules.setdefault((rule.provider, rule.symbol, rule.percent, rule.op, rule.level), rule)
    return list(rules.values())


@dataclass(frozen=True, slots=True)
class Alert:
    """A rule that fired, on the event that made it fire. ``to_dict`` is its JSON
    ``alert`` line (docs/ALERTS.md); fields the event lacks are omitted."""

    rule: str
    symbol: str
    source: str
    condition: Operator
    level: float
    price: float
    basis: Literal["last", "mid"]
    received: float
    percent: bool = False
    reference: float | None = None
    change_pct: float | None = None
    timestamp: float | None = None
    seq: int | None = None

    @property
    def rising(self) -> bool:
        return self.condition[0] == ">"

    @property
    def time(self) -> float:
        """When it happened: the venue's ``timestamp``, else when argus received it."""
        return self.timestamp if self.timestamp is not None else self.received

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "alert",
            "rule": self.rule,
            "kind": "percent" if self.percent else "price",
            "symbol": self.symbol,
            "source": self.source,
            "condition": self.condition,
            "level": self.level,
            "price": self.price,
            "basis": self.basis,
        }
        if self.percent:
            out["reference"] = self.reference
            out["change_pct"] = self.change_pct
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        if self.seq is not None:
            out["seq"] = self.seq
        out["received"] = self.received
        return out


def _finite(value: Any) -> TypeGuard[float]:
    return type(value) in (float, int) and math.isfinite(value)


def observed_price(event: Mapping[str, Any]) -> tuple[float, Literal["last", "mid"]] | None:
    """The price an alert looks at in ``event``: its ``price`` (last), else the midpoint
    of its own ``bid`` and ``ask``; None when it has neither (or a crossed quote)."""
    price = event.get("price")
    if price is not None:
        return (float(price), "last") if _finite(price) else None
    bid, ask = event.get("bid"), event.get("ask")
    if _finite(bid) and _finite(ask) and bid <= ask:
        return (bid + ask) / 2, "mid"
    return None


@dataclass(slots=True)
class _Watch:
    """One rule's state on one (source, symbol): None before the first observation,
    then armed (a crossing fires) or not (waiting to be back past the band)."""

    rule: AlertRule
    band: float
    armed: bool | None = None


@dataclass(slots=True)
class _Track:
    """What the book knows of one (source, symbol)."""

    watches: list[_Watch]
    basis: str | None = None  # "last" or "mid": the series watched
    reference: float | None = None  # the first price of that series (for % rules)
    percent: list[_Watch] = field(default_factory=list)


class AlertBook:
    """Rules, and their state per (source, symbol). ``observe(event)`` for each event,
    in order; it returns the alerts that event fires (usually none)."""

    def __init__(
        self,
        rules: Sequence[AlertRule],
        *,
        price_band: float = DEFAULT_PRICE_BAND,
        percent_band: float = DEFAULT_PERCENT_BAND,
    ) -> None:
        """``price_band``: the hysteresis of price rules, a fraction of the level (0.001
        is 0.1%); ``percent_band``: that of ``%`` rules, in percentage points."""
        if not (_finite(price_band) and 0 <= price_band < 1):
            raise ConfigError(f"price_band must be a fraction in [0, 1), not {price_band!r}")
        if not (_finite(percent_band) and percent_band >= 0):
            raise ConfigError(f"percent_band must be >= 0 percentage points, not {percent_band!r}")
        self.rules = list(rules)
        self.price_band = float(price_band)
        self.percent_band = float(percent_band)
        self._by_symbol: dict[str, list[AlertRule]] = {}
        for rule in self.rules:
            self._by_symbol.setdefault(rule.symbol, []).append(rule)
        self._tracks: dict[tuple[str, str], _Track] = {}
        self.fired = 0

    @property
    def symbols(self) -> frozenset[str]:
        """The symbols some rule watches."""
        return frozenset(self._by_symbol)

    def _track(self, source: str, symbol: str) -> _Track:
        rules = [r for r in self._by_symbol[symbol] if r.provider is None or r.provider == source]
        watches = [
            _Watch(r, _band(self.percent_band if r.percent else self.price_band * abs(r.level), r))
            for r in rules
        ]
        track = _Track(watches, percent=[w for w in watches if w.rule.percent])
        self._tracks[(source, symbol)] = track
        return track

    def observe(self, event: Mapping[str, Any]) -> list[Alert]:
        """The alerts ``event`` fires (an empty list for almost every event)."""
        if event.get("type") != "price":
            return []
        symbol = event.get("symbol")
        if symbol not in self._by_symbol:
            return []
        assert isinstance(symbol, str)
        source = str(event.get("source", ""))
        track = self._tracks.get((source, symbol))
        if track is None:
            track = self._track(source, symbol)
        if not track.watches:
            return []
        seen = observed_price(event)
        if seen is None:
            return []
        price, basis = seen
        if basis != track.basis:
            if track.basis == "last":
                return []  # a quote-only update of a symbol watched on last prices
            track.basis, track.reference = basis, price  # a fresh start on this series
            for watch in track.watches:
                watch.armed = None
        reference = track.reference
        change: float | None = None
        if track.percent and reference is not None and reference > 0:
            change = (price - reference) / reference * 100
        alerts: list[Alert] = []
        for watch in track.watches:
            rule = watch.rule
            value = change if rule.percent else price
            if value is None or not math.isfinite(value):
                continue
            holds = rule.holds(value)
            if watch.armed is None:  # the first observation: never a crossing
                watch.armed = not holds
            elif watch.armed:
                if holds:
                    watch.armed = False
                    alerts.append(
                        _alert(rule, event, source, symbol, price, basis, reference, change)
                    )
            elif not holds:
                beyond = rule.level - value if rule.rising else value - rule.level
                if beyond >= watch.band:
                    watch.armed = True
        self.fired += len(alerts)
        return alerts

    def observe_all(self, events: Iterable[Mapping[str, Any]]) -> list[Alert]:
        """The alerts a frame of events fires, in order."""
        alerts: list[Alert] = []
        for event in events:
            if event.get("type") == "price":
                alerts += self.observe(event)
        return alerts


def _band(band: float, rule: AlertRule) -> float:
    """``band`` less a rounding allowance: 229.77 is 0.23 below 230 (the float
    difference, 0.2299999..., would not be)."""
    return max(0.0, band - ROUNDING * max(1.0, abs(rule.level)))


def _alert(
    rule: AlertRule,
    event: Mapping[str, Any],
    source: str,
    symbol: str,
    price: float,
    basis: Literal["last", "mid"],
    reference: float | None,
    change: float | None,
) -> Alert:
    timestamp, seq, received = event.get("timestamp"), event.get("seq"), event.get("received")
    return Alert(
        rule=rule.text,
        symbol=symbol,
        source=source,
        condition=rule.op,
        level=rule.level,
        price=price,
        basis=basis,
        received=float(received) if _finite(received) else 0.0,
        percent=rule.percent,
        reference=reference if rule.percent else None,
        change_pct=change if rule.percent else None,
        timestamp=float(timestamp) if _finite(timestamp) else None,
        seq=seq if type(seq) is int else None,
    )
