"""Where a stream's events and figures go: ``StreamOutput`` (the sink that applies
``--count`` and feeds the table's board or the written lines, the ``--publish``
publisher and the alerts), the table painter, and the stats file ``argus stats``
reads. Shared by ``stream``, ``record``, ``replay`` and ``quote``."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any, cast

from ..sinks.base import Events
from . import exit_codes

if TYPE_CHECKING:
    import asyncio

    from rich.live import Live

    from ..client import WebSocketClient
    from ..events import Event
    from ..sinks import Sink
    from ..sinks.nats import NatsPublisher
    from .alerting import Alerting
    from .board import Board, View
    from .runtime import Outcome
    from .stream import StreamOptions

log = logging.getLogger("argus_cli.cli")

__all__ = ["StreamOutput", "paint", "publish_stats", "snapshots"]


class StreamOutput:
    """The stream command's sink: ``--count``, then the table's board or JSON lines.

    A reader that goes away (``| head``) ends the command normally; any other
    failure to write stops the stream with a ``SinkError`` (exit 1)."""

    def __init__(
        self,
        outcome: Outcome,
        board: Board | None,
        limit: int | None,
        sink: Sink | None = None,
        *,
        publisher: NatsPublisher | None = None,
        quiet: bool = False,
        alerting: Alerting | None = None,
        alert_lines: bool = True,
    ) -> None:
        """Events go to ``board`` if given, else to ``sink`` (by default JSON lines on
        standard output; none when ``quiet``); and to ``publisher`` (``--publish``)."""
        import asyncio

        from ..sinks import JsonLinesSink, OutputClosed

        self.loop = asyncio.get_running_loop()
        self.outcome = outcome
        self.board = board
        self.limit = limit
        self.seen = 0
        self.jsonl: Sink | None = None
        self.publisher = publisher
        if board is None and not quiet:
            self.jsonl = sink if sink is not None else JsonLinesSink()
        self.alerting = alerting
        self.alert_lines = alert_lines and self.jsonl is not None  # else: on stderr
        self.closed = OutputClosed  # the reader went away (names loaded with the stream)

    async def open(self) -> None:
        if self.jsonl is not None:
            await self.jsonl.open()
        if self.publisher is not None:
            await self.publisher.open()

    async def write(self, events: Sequence[Event]) -> None:
        outcome, limit = self.outcome, self.limit
        if outcome.done.is_set():
            # Nothing more is taken: the dispatcher waits here until the client disconnects
            # (and cancels it), so its buffer fills and reading pauses at once, instead of
            # a firehose being read on, and thrown away, while the command winds down
            # (the loop stays free to run the shutdown: ``--count`` to exit in ~0.05 s).
            await self.loop.create_future()  # never resolved
            return
        if limit is not None:
            if not isinstance(events, Events):
                events = Events(list(events))
            room = limit - self.seen
            count = events.data_count()
            if count > room:
                events, count = events.head(room), room
            self.seen += count
        if self.publisher is not None and events:
            await self.publisher.write(events)  # never waits for the broker
        alerting = self.alerting
        fired = alerting.observe(events) if alerting is not None and events else []
        if self.board is not None:
            self.board.update_frame(events)
        elif events and self.jsonl is not None:
            try:
                await self.jsonl.write(events)
                if fired and self.alert_lines:
                    await self.jsonl.write(cast("list[Event]", [a.to_dict() for a in fired]))
            except self.closed:
                outcome.finish(exit_codes.OK)
                return
        if fired and alerting is not None and self.board is None and not self.alert_lines:
            alerting.say(fired)  # CSV, TSV, --fields, --format none: on stderr
        if limit is not None and self.seen >= limit:
            outcome.finish(exit_codes.OK)

    async def close(self) -> None:
        if self.jsonl is not None:
            await self.jsonl.close()
        publisher = self.publisher
        if publisher is not None:
            from . import stderr
            from .broker import publish_summary

            await publisher.close()
            summary = publish_summary(publisher)
            if summary:
                stderr.write(f"argus: {summary}\n")


def snapshots(
    clients: list[WebSocketClient], publisher: NatsPublisher | None
) -> list[dict[str, Any]]:
    """Each connection's figures; the first carries the publisher's under ``publish``."""
    stats = [c.stats_snapshot() for c in clients]
    if publisher is not None and stats:
        stats[0]["publish"] = publisher.stats()
    return stats


async def paint(
    live: Live,
    board: Board,
    clients: list[WebSocketClient],
    rate: float,
    publisher: NatsPublisher | None = None,
    alerting: Alerting | None = None,
    view: View | None = None,
    wake: asyncio.Event | None = None,
) -> None:
    """Repaint at a fixed rate from the latest state, never per message, and at once
    when ``wake`` is set (a key); while ``view`` is paused, only then. A repaint that
    fails is said once on stderr and painting goes on: never a frozen "live" screen."""
    import asyncio

    from .render import render_board

    interval = 1.0 / rate
    loop = asyncio.get_running_loop()
    said: set[str] = set()
    while True:
        started = loop.time()
        height = live.console.height
        try:
            stats = snapshots(clients, publisher)
            now = time.time()
            panel = alerting.panel() if alerting is not None else None
            rows = height - alerting.panel_lines() if alerting is not None else height
            flashing = alerting.row_flashing if alerting is not None else None
            table = render_board(board, stats, now, rows, flashing, view)
            if panel is not None:
                from rich.console import Group

                table = Group(table, panel)
            live.update(table, refresh=True)
        except Exception as exc:
            if type(exc).__name__ not in said:
                said.add(type(exc).__name__)
                log.error("cannot draw the table (a bug in argus): %s: %s", type(exc).__name__, exc)
        pause = max(0.0, interval - (loop.time() - started))
        if wake is None:
            await asyncio.sleep(pause)
            continue
        wake.clear()
        paused = view is not None and view.paused
        with suppress(TimeoutError):  # a tick, or a key first
            await asyncio.wait_for(wake.wait(), None if paused else pause)


async def publish_stats(
    clients: list[WebSocketClient],
    options: StreamOptions,
    started: str,
    publisher: NatsPublisher | None = None,
) -> None:
    """The stats file `argus stats` reads: the first connection's figures (each
    provider's under ``feeds`` when there are several)."""
    import asyncio

    from . import statefile

    profile = options.all_feeds()[0].settings.profile
    while True:
        figures = snapshots(clients, publisher)
        data = dict(figures[0])
        if len(clients) > 1:
            data["feeds"] = figures
        data.update(
            pid=os.getpid(),
            symbols=options.symbols,
            profile="demo" if options.demo else profile,
            started=started,
            mode="table" if options.table else "jsonl",
        )
        with suppress(OSError):
            await asyncio.to_thread(statefile.write_atomic, data)
        await asyncio.sleep(1.0)
