"""The Dispatcher over a real MessageBuffer: order, sync and async handlers, failures, sinks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from argus_cli.client.buffer import MessageBuffer
from argus_cli.client.delivery import Delivery
from argus_cli.client.dispatch import Dispatcher
from argus_cli.events import Event
from argus_cli.exceptions import SinkError

Message = dict[str, Any]


def data(seq: int, kind: str = "price") -> Message:
    return {"type": kind, "sub": "s1", "symbol": "AAPL", "seq": seq, "source": "argus"}


CONTROL: Message = {"type": "subscribed", "id": "s1"}
END = "__end_of_test__"  # a message type whose handler says the dispatcher got this far


class RecordingSink:
    def __init__(self, log: list[Any], name: str = "sink") -> None:
        self.log = log
        self.name = name

    async def open(self) -> None:
        pass

    async def write(self, events: Sequence[Event]) -> None:
        await asyncio.sleep(0)  # a real await: the dispatcher must wait for it
        self.log.append((self.name, [e.get("seq") for e in events]))

    async def close(self) -> None:
        pass


class BrokenSink(RecordingSink):
    def __init__(self, error: Exception) -> None:
        super().__init__([])
        self.error = error

    async def write(self, events: Sequence[Event]) -> None:
        raise self.error


async def run_until_drained(
    dispatcher: Dispatcher, *batches: list[Message], capacity: int = 100
) -> MessageBuffer:
    """Feed ``batches`` and run the dispatcher until it has taken all of them and is idle."""
    buffer: MessageBuffer = MessageBuffer(capacity)
    for batch in batches:
        assert buffer.offer(Delivery(batch))
    done = asyncio.Event()

    def end(_msg: Message) -> None:
        done.set()

    dispatcher.add(END, end)
    buffer.offer(Delivery([{"type": END}]))
    task = asyncio.create_task(dispatcher.run(buffer))
    waiter = asyncio.create_task(done.wait())
    finished, _ = await asyncio.wait([task, waiter], timeout=5, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    dispatcher.remove(END, end)
    if task in finished:
        task.result()  # re-raises what ended it
        raise AssertionError("Dispatcher.run returned")
    assert finished, "the dispatcher did not get through the batches within 5 s"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return buffer


async def test_order_handlers_then_debug_then_frame_handlers_then_sinks() -> None:
    log: list[Any] = []
    dispatcher = Dispatcher()
    dispatcher.add("price", lambda m: log.append(("price", m["seq"])))
    dispatcher.add("volume", lambda m: log.append(("volume", m["seq"])))

    def debug(msg: Message) -> None:
        if msg["type"] != END:
            log.append(("debug", msg["type"]))

    dispatcher.add("debug", debug)
    dispatcher.add_frame(lambda batch: log.append(("frame", [m["seq"] for m in batch])))
    dispatcher.add_sink(RecordingSink(log, "first"))
    dispatcher.add_sink(RecordingSink(log, "second"))
    await run_until_drained(dispatcher, [data(1), CONTROL, data(1, "volume")], [data(2)])
    assert log == [
        ("price", 1),
        ("debug", "price"),
        ("debug", "subscribed"),
        ("volume", 1),
        ("debug", "volume"),
        ("frame", [1, 1]),  # data only: the control message is not in a frame
        ("first", [1, 1]),
        ("second", [1, 1]),
        ("price", 2),
        ("debug", "price"),
        ("frame", [2]),
        ("first", [2]),
        ("second", [2]),
    ]


async def test_async_handlers_are_awaited_in_order() -> None:
    log: list[Any] = []

    async def slow(msg: Message) -> None:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        log.append(("slow", msg["seq"]))

    async def frame(batch: list[Message]) -> None:
        await asyncio.sleep(0)
        log.append(("frame", len(batch)))

    dispatcher = Dispatcher()
    dispatcher.add("price", slow)
    dispatcher.add("price", lambda m: log.append(("sync", m["seq"])))
    dispatcher.add_frame(frame)
    await run_until_drained(dispatcher, [data(1), data(2)], [data(3)])
    assert log == [
        ("slow", 1),
        ("sync", 1),
        ("slow", 2),
        ("sync", 2),
        ("frame", 2),
        ("slow", 3),
        ("sync", 3),
        ("frame", 1),
    ]


async def test_a_raising_handler_is_counted_and_delivery_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[Any] = []

    def broken(msg: Message) -> None:
        raise ValueError("handler bug")

    async def broken_async(msg: Message) -> None:
        raise RuntimeError("async handler bug")

    def broken_frame(batch: list[Message]) -> None:
        raise KeyError("frame bug")

    dispatcher = Dispatcher()
    dispatcher.add("price", broken)
    dispatcher.add("price", broken_async)
    dispatcher.add("price", lambda m: log.append(m["seq"]))
    dispatcher.add_frame(broken_frame)
    dispatcher.add_sink(RecordingSink(log))
    with caplog.at_level(logging.ERROR, logger="argus_cli.client"):
        await run_until_drained(dispatcher, [data(1)], [data(2)])
    assert log == [1, ("sink", [1]), 2, ("sink", [2])]
    assert dispatcher.failures == 6  # 3 per batch
    assert "handler bug" in caplog.text and "the stream carries on" in caplog.text


async def test_a_raising_sink_stops_the_run_with_a_sink_error() -> None:
    dispatcher = Dispatcher()
    later: list[Any] = []
    dispatcher.add_sink(BrokenSink(OSError(28, "No space left on device")))
    dispatcher.add_sink(RecordingSink(later))
    buffer: MessageBuffer = MessageBuffer(10)
    buffer.offer(Delivery([data(1)]))
    buffer.offer(Delivery([data(2)]))
    with pytest.raises(SinkError) as caught:
        await asyncio.wait_for(dispatcher.run(buffer), 5)
    error = caught.value
    assert error.sink == "BrokenSink"
    assert str(error).startswith("BrokenSink failed: OSError")
    assert "No space left on device" in str(error)
    assert isinstance(error.__cause__, OSError)
    assert later == []  # the stream stopped at the failing sink
    assert not buffer.empty()  # and took nothing more


async def test_a_sink_error_from_a_sink_passes_through_as_is() -> None:
    original = SinkError("disk gone", sink="recording.jsonl")
    dispatcher = Dispatcher()
    dispatcher.add_sink(BrokenSink(original))
    buffer: MessageBuffer = MessageBuffer(10)
    buffer.offer(Delivery([data(1)]))
    with pytest.raises(SinkError) as caught:
        await asyncio.wait_for(dispatcher.run(buffer), 5)
    assert caught.value is original


async def test_sinks_and_frame_handlers_are_not_called_without_data() -> None:
    log: list[Any] = []
    dispatcher = Dispatcher()
    dispatcher.add_frame(lambda batch: log.append("frame"))
    dispatcher.add_sink(BrokenSink(OSError("would fail")))
    await run_until_drained(dispatcher, [CONTROL], [{"type": "heartbeat"}])
    assert log == []


async def test_remove_handlers_frame_handlers_and_sinks() -> None:
    log: list[Any] = []

    def handler(msg: Message) -> None:
        log.append("handler")

    def frame(batch: list[Message]) -> None:
        log.append("frame")

    sink = RecordingSink(log)
    dispatcher = Dispatcher()
    dispatcher.add("price", handler)
    dispatcher.add_frame(frame)
    dispatcher.add_sink(sink)
    await run_until_drained(dispatcher, [data(1)])
    assert log == ["handler", "frame", ("sink", [1])]

    dispatcher.remove("price", handler)
    dispatcher.remove_frame(frame)
    dispatcher.remove_sink(sink)
    assert "price" not in dispatcher.handlers
    assert dispatcher.frame_handlers == [] and dispatcher.sinks == []
    # removing what is not there is harmless
    dispatcher.remove("price", handler)
    dispatcher.remove("volume", handler)
    dispatcher.remove_frame(frame)
    dispatcher.remove_sink(sink)
    log.clear()
    await run_until_drained(dispatcher, [data(2)])
    assert log == []
