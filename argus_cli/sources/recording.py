"""Reading recordings back: the same dicts the handlers received, from a file.

A recording is JSON lines exactly as ``argus stream --json`` prints them (one
normalized event a line: ``price``, ``volume``, ``orderbook`` and ``gap``, each
with ``source`` and ``received``), plain or compressed by its name (``.zst``,
``.gz``; see ``argus_cli.compressed``). A file cut short (a recorder killed)
reads up to the cut. A line that is not a JSON object with a ``type`` is
skipped and counted, its file and line number logged once per file.

- ``iter_recording(*paths, ...)``: the events, in file order (sync).
- ``aiter_recording(*paths, ...)``: the same, async; the files are read in a
  worker thread a chunk at a time, so the event loop never blocks.
- ``replay(paths, speed, ...)``: an async generator of batches paced by
  ``received`` (``speed`` 1.0 is the original pacing, 10.0 ten times faster,
  None as fast as possible).
- ``iter_raw(path)``: a ``--raw`` recording's provider frames re-normalized
  through the provider's adapter and the client's pipeline.

Filters (all optional): ``symbols`` (``AAPL`` or ``coinbase:BTC-USD``),
``types`` (``price``, ``volume``, ``orderbook``; a ``gap`` is kept when its
``data_type`` is one of them or it names none), ``start``/``end`` (epoch
seconds, on ``received``, both inclusive).

The raw sidecar: a ``--raw`` recording ``FILE.jsonl[.zst|.gz]`` keeps the
provider's frames in ``FILE.frames.jsonl[.zst|.gz]``, one JSON object a line:

- first, ``{"subscriptions": [{"source": "coinbase", "id": "cli-1", "symbols":
  ["BTC-USD"], "data_types": ["price"], "update_frequency": "realtime",
  "filters": null}, ...]}``: what each provider's connection subscribed to
  (``Subscription``; ``id``, ``update_frequency`` and ``filters`` optional
  here, always written by ``argus record --raw``; ``id`` is the ``sub`` the
  events carry). Every file of a rotated recording starts with it, so each
  one replays alone. The line again later, naming one provider's
  subscriptions, means that provider's connection was made again (a
  reconnect: its session is told it opened, then subscribed; the others are
  left as they are);
- ``{"received": t, "source": "coinbase", "frame": "<text>"}`` for a text
  frame, ``"frame_b64"`` for a binary one (base64).

Any other line is skipped and counted as malformed.

Without a subscriptions line (a sidecar written before argus wrote one), they
are taken from the normalized recording beside the sidecar (each ``sub`` with
the symbols and types it delivered).

Replayed events carry each frame's recorded receive time as ``received`` (the
time the live client stamped them with; nothing is stamped anew), and only what
a sink is given (data and gaps), so a sidecar re-normalized gives the
recording's lines byte for byte, then the events of any frame read after the
recording stopped taking them (past ``--count``, or while the command stopped).
Each file starts a fresh session: a rotated file replayed alone is a client
that joined there, without state an earlier file held (a book's snapshot).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import orjson

from ..compressed import kind_of, read_lines

log = logging.getLogger("argus_cli.sources")

__all__ = [
    "CHUNK",
    "ReadCounts",
    "Subscription",
    "aiter_recording",
    "iter_entries",
    "iter_raw",
    "iter_recording",
    "pace",
    "paced",
    "replay",
    "sidecar_path",
]

Event = dict[str, Any]
T = TypeVar("T")
CHUNK = 4096  # events read per trip to the worker thread
_LOADS = orjson.loads
_DATA = frozenset(("price", "volume", "orderbook"))


@dataclass
class ReadCounts:
    """What reading gave: events read (before filters) and lines skipped as malformed."""

    events: int = 0
    malformed: int = 0
    decode_errors: int = 0  # raw frames the provider's adapter could not decode
    files: list[str] = field(default_factory=list)


def _entries(path: str | Path, counts: ReadCounts) -> Iterator[tuple[Event, bytes]]:
    """Every event of one file with its line as recorded (newline excluded); malformed
    lines counted, the first one logged."""
    said = False
    counts.files.append(str(path))
    for number, line in enumerate(read_lines(path), 1):
        try:
            event = _LOADS(line)
        except orjson.JSONDecodeError:
            event = None
        if type(event) is not dict or not isinstance(event.get("type"), str):
            if not line.strip():
                continue  # a blank line is nothing, not damage
            counts.malformed += 1
            if not said:
                said = True
                log.warning(
                    "%s:%d: not an event line, skipped (and any more like it)", path, number
                )
            continue
        counts.events += 1
        yield event, line


def _lines(path: str | Path, counts: ReadCounts) -> Iterator[Event]:
    for event, _ in _entries(path, counts):
        yield event


def _matcher(
    symbols: Iterable[str] | None,
    types: Iterable[str] | None,
    start: float | None,
    end: float | None,
) -> Callable[[Event], bool] | None:
    """A test for one event, or None when everything passes."""
    wanted = frozenset(symbols) if symbols is not None else None
    kinds = frozenset(types) if types is not None else None
    if wanted is None and kinds is None and start is None and end is None:
        return None
    low = float("-inf") if start is None else start
    high = float("inf") if end is None else end

    def keep(event: Event) -> bool:
        if wanted is not None:
            symbol = event.get("symbol")
            if symbol not in wanted and f"{event.get('source')}:{symbol}" not in wanted:
                return False
        if kinds is not None:
            kind = event["type"]
            if kind == "gap":
                data_type = event.get("data_type")
                if data_type is not None and data_type not in kinds:
                    return False
            elif kind not in kinds:
                return False
        if start is not None or end is not None:
            received = event.get("received")
            if not isinstance(received, int | float) or not low <= received <= high:
                return False
        return True

    return keep


def iter_recording(
    *paths: str | Path,
    symbols: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    counts: ReadCounts | None = None,
) -> Iterator[Event]:
    """The recorded events of ``paths``, one file after the other, filtered.

    ``counts`` (optional) is filled as reading goes: events read and malformed
    lines skipped."""
    counts = counts if counts is not None else ReadCounts()
    keep = _matcher(symbols, types, start, end)
    for path in paths:
        if keep is None:
            yield from _lines(path, counts)
        else:
            yield from filter(keep, _lines(path, counts))


def iter_entries(
    *paths: str | Path,
    symbols: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    counts: ReadCounts | None = None,
) -> Iterator[tuple[Event, bytes]]:
    """``iter_recording``, each event with its line as recorded (for a copy that must be
    byte-identical, cheaper than encoding the event again)."""
    counts = counts if counts is not None else ReadCounts()
    keep = _matcher(symbols, types, start, end)
    for path in paths:
        if keep is None:
            yield from _entries(path, counts)
        else:
            yield from (entry for entry in _entries(path, counts) if keep(entry[0]))


def _chunked(items: Iterator[T], size: int) -> Callable[[], list[T]]:
    return lambda: list(islice(items, size))


async def _batches(items: Iterator[T], size: int = CHUNK) -> AsyncIterator[list[T]]:
    """``items`` read ``size`` at a time in a worker thread; never an empty batch."""
    take = _chunked(items, size)
    while batch := await asyncio.to_thread(take):
        yield batch


async def aiter_recording(
    *paths: str | Path,
    symbols: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    counts: ReadCounts | None = None,
) -> AsyncIterator[Event]:
    """``iter_recording``, async: the files are read in a worker thread, a chunk of
    events at a time, so the event loop stays free."""
    events = iter_recording(
        *paths, symbols=symbols, types=types, start=start, end=end, counts=counts
    )
    async for batch in _batches(events):
        for event in batch:
            yield event


def pace(first: float, received: float, speed: float | None, started: float) -> float:
    """When (on the clock that read ``started``) an event received at ``received``
    is due, the first one (received at ``first``) being due at ``started``."""
    if speed is None:
        return started
    return started + (received - first) / speed


async def replay(
    paths: Sequence[str | Path],
    speed: float | None = 1.0,
    *,
    symbols: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    counts: ReadCounts | None = None,
    raw: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncGenerator[list[Event], None]:
    """The recording's events in batches, each yielded when its events are due:
    ``speed`` times the original pace (by ``received``), or at once for None.

    ``raw``: re-normalize each file's sidecar frames instead (``iter_raw``)."""
    if speed is not None and not speed > 0:
        raise ValueError(f"speed must be above 0, not {speed}")
    if raw:
        events: Iterator[Event] = _raw_all(paths, symbols, types, start, end, counts)
    else:
        events = iter_recording(
            *paths, symbols=symbols, types=types, start=start, end=end, counts=counts
        )
    async for batch in paced(events, _received, speed, clock):
        yield batch


def _received(event: Event) -> Any:
    return event.get("received")


async def paced(
    items: Iterator[T],
    received_of: Callable[[T], Any],
    speed: float | None,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncGenerator[list[T], None]:
    """``items`` (read in a worker thread) in batches, each yielded when due by
    ``pace``: the first item at once, the others ``speed`` times faster than their
    ``received_of`` times say (an item without a time goes with the batch before it)."""
    if speed is None:
        async for batch in _batches(items):
            yield batch
        return
    first: float | None = None
    started = 0.0
    async for chunk in _batches(items):
        pending: list[T] = []
        for item in chunk:
            received = received_of(item)
            if not isinstance(received, int | float):
                pending.append(item)
                continue
            if first is None:
                first, started = received, clock()
            wait = pace(first, received, speed, started) - clock()
            if wait > 0:
                if pending:
                    yield pending
                    pending = []
                await asyncio.sleep(wait)
            pending.append(item)
        if pending:
            yield pending


# --- raw recordings ------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    """One subscription a raw recording's session was asked for: an item of the
    sidecar's ``subscriptions`` line (``to_json`` writes it, ``from_json`` reads it)."""

    source: str
    symbols: tuple[str, ...]
    data_types: tuple[str, ...]
    id: str = "raw-1"
    update_frequency: str = "realtime"
    filters: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The item as ``argus record --raw`` writes it (every key, ``filters`` null
        when there are none)."""
        return {
            "source": self.source,
            "id": self.id,
            "symbols": list(self.symbols),
            "data_types": list(self.data_types),
            "update_frequency": self.update_frequency,
            "filters": None if self.filters is None else dict(self.filters),
        }

    @classmethod
    def from_json(cls, item: Any, number: int) -> Subscription:
        if not isinstance(item, dict):
            raise ValueError("a subscription is an object")
        symbols, data_types = item.get("symbols"), item.get("data_types")
        if not isinstance(symbols, list) or not isinstance(data_types, list):
            raise ValueError("a subscription needs symbols and data_types lists")
        filters = item.get("filters")
        return cls(
            source=str(item.get("source") or "argus"),
            symbols=tuple(str(s) for s in symbols),
            data_types=tuple(str(t) for t in data_types),
            id=str(item.get("id") or f"raw-{number}"),
            update_frequency=str(item.get("update_frequency") or "realtime"),
            filters=filters if isinstance(filters, dict) else None,
        )


_COMPRESSION = {"zst": ".zst", "gz": ".gz", "plain": ""}
_FRAMES = ".frames.jsonl"


def _stem(path: Path) -> str:
    """The name without its compression and its last extension (as the recorder names
    the sidecar: ``rec.jsonl.zst`` -> ``rec``)."""
    name = path.name
    suffix = _COMPRESSION[kind_of(name)]
    if suffix:
        name = name[: -len(suffix)]
    dot = name.rfind(".")
    return name[:dot] if dot > 0 else name


def sidecar_path(path: str | Path) -> Path:
    """The frames file of the ``--raw`` recording ``path`` (``path`` itself when it
    is one): ``rec.jsonl.zst`` -> ``rec.frames.jsonl.zst`` (the same compression
    first, then any). FileNotFoundError when there is none."""
    path = Path(path)
    if _FRAMES in path.name:
        return path
    stem = path.with_name(_stem(path) + _FRAMES)
    own = _COMPRESSION[kind_of(path)]
    for suffix in dict.fromkeys((own, ".zst", ".gz", "")):
        candidate = Path(str(stem) + suffix)
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{path}: no raw frames beside it (expected {stem}{own or ''})")


def _main_of(sidecar: Path) -> Path | None:
    """The normalized recording beside a sidecar, if there is one."""
    base = sidecar.name.split(_FRAMES)[0]
    for suffix in (_COMPRESSION[kind_of(sidecar)], ".zst", ".gz", ""):
        for ending in (".jsonl", ".ndjson", ".json"):
            candidate = sidecar.with_name(base + ending + suffix)
            if candidate.exists():
                return candidate
    return None


def subscriptions_from(path: str | Path) -> list[Subscription]:
    """The subscriptions a normalized recording shows: each ``sub`` with the symbols
    and types it delivered (for a sidecar without its subscriptions line)."""
    found: dict[str, tuple[str, dict[str, None], dict[str, None]]] = {}
    for event in _lines(path, ReadCounts()):
        if event["type"] not in _DATA:
            continue
        sub = str(event.get("sub") or "raw-1")
        _, symbols, types = found.setdefault(sub, (str(event.get("source") or "argus"), {}, {}))
        symbols[str(event.get("symbol"))] = None
        types[event["type"]] = None
    return [
        Subscription(source, tuple(symbols), tuple(types), sub)
        for sub, (source, symbols, types) in found.items()
    ]


class _Replayer:
    """A provider session and the client's pipeline, fed recorded frames."""

    def __init__(self, source: str) -> None:
        from ..client.pipeline import Pipeline
        from ..protocol.providers import make_session

        self.source = source
        # keys only matter to a live connection; a replay sends nothing
        unused = "replay"
        self.session = make_session(source, api_key=unused, api_secret=unused)
        self.pipeline = Pipeline(self.session.source)

    def subscribe(self, subs: Sequence[Subscription]) -> None:
        """A connection opened and made ``subs`` (the first, or one after a reconnect)."""
        self.session.opened()
        pipeline = self.pipeline
        for sub in subs:
            tracks = sub.update_frequency == "realtime" and not sub.filters
            pipeline.track(sub.id, tracks, sub.symbols)
            point = None  # after a reconnect, resumed where it was, as the live client did
            if sub.update_frequency == "realtime":
                point = pipeline.resume_point(sub.id, sub.symbols, sub.data_types) or None
            if point:
                pipeline.expect_resume(sub.id, point)
            self.session.subscribe(
                sub.id, sub.symbols, sub.data_types, sub.update_frequency, sub.filters, point
            )

    def receive(self, frame: str | bytes, received: float, counts: ReadCounts) -> list[Event]:
        got = self.session.receive(frame, received)
        out: list[Event] = []
        if got.has_control:
            counts.decode_errors += len(got.errors)
            if got.info is not None:
                out.extend(self.pipeline.new_epoch(got.info.epoch, received))
        if got.events:
            out.extend(self.pipeline.process(got.events, received))
        # what a sink is given (``Dispatcher``): data and gaps, stamped with their
        # source; not the session's own messages (welcome, subscribed, ...)
        return [message for message in out if "source" in message]


def iter_raw(
    path: str | Path,
    *,
    symbols: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    counts: ReadCounts | None = None,
) -> Iterator[Event]:
    """A ``--raw`` recording re-normalized: its sidecar's frames fed to a fresh session
    of their provider (``make_session(source).receive(frame, received)``) and the
    client's pipeline, as a live client would have. ``path`` is the recording or its
    sidecar. Events carry ``source`` and ``received`` (the recorded receive time)."""
    counts = counts if counts is not None else ReadCounts()
    sidecar = sidecar_path(path)
    counts.files.append(str(sidecar))
    keep = _matcher(symbols, types, start, end)
    replayers: dict[str, _Replayer] = {}
    subscribed = False
    said = False
    for number, line in enumerate(read_lines(sidecar), 1):
        try:
            item = _LOADS(line)
            if type(item) is not dict:
                raise ValueError("not an object")
            if "subscriptions" in item:
                subs = [
                    Subscription.from_json(s, n) for n, s in enumerate(item["subscriptions"], 1)
                ]
                _subscribe(replayers, subs)
                subscribed = True
                continue
            received = float(item["received"])
            source = str(item.get("source") or "argus")
            text = item.get("frame")
            frame: str | bytes = (
                text if isinstance(text, str) else base64.b64decode(item["frame_b64"])
            )
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
            if not line.strip():
                continue
            counts.malformed += 1
            if not said:
                said = True
                log.warning(
                    "%s:%d: not a frame line (%s), skipped (and any more)", sidecar, number, exc
                )
            continue
        if not subscribed:
            main = _main_of(sidecar)
            _subscribe(replayers, subscriptions_from(main) if main is not None else [])
            subscribed = True
        replayer = replayers.get(source)
        if replayer is None:
            continue  # frames of a provider nothing subscribed to
        counts.events += 1
        events = replayer.receive(frame, received, counts)
        if keep is not None:
            events = [e for e in events if keep(e)]
        yield from events


def _subscribe(replayers: dict[str, _Replayer], subs: Sequence[Subscription]) -> None:
    by_source: dict[str, list[Subscription]] = {}
    for sub in subs:
        by_source.setdefault(sub.source, []).append(sub)
    for source, some in by_source.items():
        if source not in replayers:
            replayers[source] = _Replayer(source)
        replayers[source].subscribe(some)


def _raw_all(
    paths: Sequence[str | Path],
    symbols: Iterable[str] | None,
    types: Iterable[str] | None,
    start: float | None,
    end: float | None,
    counts: ReadCounts | None,
) -> Iterator[Event]:
    symbols = list(symbols) if symbols is not None else None
    types = list(types) if types is not None else None
    for path in paths:
        yield from iter_raw(path, symbols=symbols, types=types, start=start, end=end, counts=counts)
