"""The bounded buffer: order kept, capacity counted in messages, a full buffer makes ``put`` wait.

Waiting is observed with events, never with sleeps: a task that sets an event
and then calls ``put`` runs without yielding until ``put`` suspends (or
returns), so once the event is seen the task is parked inside ``put``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from argus_cli.client.buffer import MessageBuffer
from argus_cli.client.delivery import Delivery
from argus_cli.protocol.typed import Price


def batch_of(*items: Any) -> Delivery:
    return Delivery(list(items))


async def got(buffer: MessageBuffer) -> list[Any]:
    return (await buffer.get()).messages()


class Producer:
    """``put`` in a task; ``entered`` is set just before the call, ``done`` after it returns."""

    def __init__(self, buffer: MessageBuffer, batch: list[int]) -> None:
        self.entered = asyncio.Event()
        self.done = asyncio.Event()
        self.task = asyncio.create_task(self._run(buffer, batch))

    async def _run(self, buffer: MessageBuffer, batch: list[int]) -> None:
        self.entered.set()
        await buffer.put(Delivery(batch))
        self.done.set()

    async def parked(self) -> None:
        """Return once the task is inside ``put`` (suspended there, or already through)."""
        await self.entered.wait()


async def one_loop_turn() -> None:
    """Let every task already woken run one step (a scheduling turn, not a timed wait)."""
    loop = asyncio.get_running_loop()
    turned = loop.create_future()
    loop.call_soon(turned.set_result, None)
    await turned


async def test_batches_come_out_in_the_order_they_went_in() -> None:
    buffer: MessageBuffer = MessageBuffer(100)
    assert buffer.offer(batch_of(1, 2))
    await buffer.put(batch_of(3))
    assert buffer.offer(batch_of(4, 5, 6))
    assert [await got(buffer) for _ in range(3)] == [[1, 2], [3], [4, 5, 6]]
    assert buffer.empty() and buffer.depth == 0


async def test_depth_counts_messages_not_batches() -> None:
    buffer: MessageBuffer = MessageBuffer(10)
    buffer.offer(batch_of(1, 2, 3))
    await buffer.put(batch_of(4, 5))
    assert buffer.depth == 5
    await buffer.get()
    assert buffer.depth == 2


def test_offer_refuses_once_capacity_messages_are_held() -> None:
    buffer: MessageBuffer = MessageBuffer(4)
    assert buffer.offer(batch_of(1, 2, 3))  # 3 of 4
    assert buffer.offer(batch_of(4, 5, 6))  # there was room: the batch goes in whole (6 of 4)
    assert buffer.depth == 6
    assert not buffer.offer(batch_of(7))
    assert buffer.depth == 6
    assert buffer.pauses == 0  # a refused offer is not a pause


def test_one_big_batch_fills_the_buffer() -> None:
    buffer: MessageBuffer = MessageBuffer(5)
    assert buffer.offer(batch_of(*range(5)))
    assert not buffer.offer(batch_of(99))  # five messages in one batch count as five


async def test_put_with_room_does_not_pause() -> None:
    buffer: MessageBuffer = MessageBuffer(3)
    await buffer.put(batch_of(1))
    await buffer.put(batch_of(2))
    assert buffer.pauses == 0 and buffer.depth == 2


async def test_put_waits_until_get_makes_room() -> None:
    buffer: MessageBuffer = MessageBuffer(2)
    assert buffer.offer(batch_of(1, 2))
    producer = Producer(buffer, [3])
    await producer.parked()
    assert not producer.done.is_set()  # full: put is waiting
    assert buffer.pauses == 1
    assert buffer.depth == 2  # the waiting batch is not in yet

    assert await got(buffer) == [1, 2]
    await producer.done.wait()  # room made: put finishes
    await producer.task
    assert buffer.depth == 1
    assert await got(buffer) == [3]
    assert buffer.pauses == 1


async def test_put_keeps_waiting_while_depth_stays_at_capacity() -> None:
    buffer: MessageBuffer = MessageBuffer(2)
    assert buffer.offer(batch_of(1))
    assert buffer.offer(batch_of(2, 3, 4))  # depth 4, capacity 2
    producer = Producer(buffer, [5])
    await producer.parked()
    assert await got(buffer) == [1]  # depth 3: still no room
    await one_loop_turn()  # had put been woken, it would be through by now
    assert buffer.depth == 3
    assert not producer.done.is_set()
    assert await got(buffer) == [2, 3, 4]  # depth 0: room
    await producer.done.wait()
    assert await got(buffer) == [5]


async def test_each_wait_counts_one_pause() -> None:
    buffer: MessageBuffer = MessageBuffer(1)
    for n in range(3):
        assert buffer.offer(batch_of(n))
        producer = Producer(buffer, [n + 100])
        await producer.parked()
        assert buffer.pauses == n + 1
        assert await got(buffer) == [n]
        await producer.done.wait()
        assert await got(buffer) == [n + 100]
    assert buffer.pauses == 3


async def test_get_waits_for_a_batch() -> None:
    buffer: MessageBuffer = MessageBuffer(4)
    entered = asyncio.Event()

    async def consume() -> list[int]:
        entered.set()
        return await got(buffer)

    consumer = asyncio.create_task(consume())
    await entered.wait()
    assert not consumer.done()  # nothing to get yet
    assert buffer.offer(batch_of(7, 8))
    assert await consumer == [7, 8]
    assert buffer.depth == 0


async def test_clear_empties_and_releases_a_waiting_put() -> None:
    buffer: MessageBuffer = MessageBuffer(2)
    assert buffer.offer(batch_of(1, 2, 3))
    producer = Producer(buffer, [4])
    await producer.parked()
    assert not producer.done.is_set()
    buffer.clear()
    assert buffer.empty() and buffer.depth == 0
    await producer.done.wait()
    assert await got(buffer) == [4]
    assert buffer.empty()


def typed_delivery(frame_sizes: list[int], start: int = 0) -> Delivery:
    """A typed delivery of numbered price events, ``frame_sizes`` messages a frame."""
    events: list[Any] = []
    ends = []
    for size in frame_sizes:
        for _ in range(size):
            start += 1
            events.append(Price("s", "AAPL", 1.0, 1.0, 2.0, 0.0, start))
        ends.append(len(events))
    return Delivery(None, events, ends)


async def test_submit_that_fits_goes_in_whole_at_once() -> None:
    buffer = MessageBuffer(10)
    assert buffer.submit(typed_delivery([3, 4])) is None
    assert buffer.depth == 7 and len(buffer._items) == 1


async def test_submit_past_capacity_splits_at_frame_ends_and_waits_for_room() -> None:
    buffer = MessageBuffer(5)
    pending = buffer.submit(typed_delivery([2, 2, 2, 2, 2]))
    assert pending is not None  # the reader must wait
    assert buffer.depth == 6  # frames up to the first end at or past the room (5)
    task = asyncio.create_task(pending)  # type: ignore[arg-type]
    await one_loop_turn()
    assert not task.done() and buffer.pauses == 1  # parked until there is room
    assert buffer.depth == 6
    seqs = []
    while len(seqs) < 10:
        seqs += [m["seq"] for m in await got(buffer)]
        assert buffer.depth <= 5 - 1 + 2
    await task
    assert seqs == list(range(1, 11))


@given(
    st.lists(st.lists(st.integers(0, 7), min_size=1, max_size=8), min_size=1, max_size=6),
    st.integers(1, 12),
)
def test_submitted_reads_come_out_whole_in_order_within_the_bound(
    reads: list[list[int]], capacity: int
) -> None:
    async def run() -> None:
        buffer = MessageBuffer(capacity)
        total = sum(sum(sizes) for sizes in reads)
        largest = max(max(sizes) for sizes in reads)
        out: list[int] = []
        depths: list[int] = []

        async def produce() -> None:
            start = 0
            for sizes in reads:
                delivery = typed_delivery(sizes, start)
                start += sum(sizes)
                if not len(delivery):
                    continue
                pending = buffer.submit(delivery)
                depths.append(buffer.depth)
                if pending is not None:
                    await pending
                depths.append(buffer.depth)

        producer = asyncio.create_task(produce())
        while len(out) < total:
            delivery = await asyncio.wait_for(buffer.get(), 5)
            assert len(delivery) > 0
            out += [m["seq"] for m in delivery.messages()]
            depths.append(buffer.depth)
        await producer
        assert out == list(range(1, total + 1))
        assert max(depths, default=0) <= max(capacity - 1 + largest, largest)

    asyncio.run(run())


def test_a_dict_delivery_of_several_frames_splits_and_filters_per_frame() -> None:
    def data(seq: int) -> dict[str, Any]:
        return {"type": "price", "symbol": "AAPL", "seq": seq, "source": "coinbase"}

    control = {"type": "subscriptions", "channels": []}
    delivery = Delivery([data(1), control, data(2), data(3), control], None, [2, 4, 5])
    assert [[m["seq"] for m in f] for f in delivery.frames()] == [[1], [2, 3]]
    assert [m["seq"] for m in delivery.events()] == [1, 2, 3]
    head, rest = delivery.split(3)
    assert rest is not None and (len(head), len(rest)) == (4, 1)
    assert head.ends == [2, 4] and rest.ends == [1]
    assert list(rest.frames()) == [] and rest.messages() == [control]
    assert delivery.split(5) == (delivery, None) and delivery.split(9) == (delivery, None)


def test_a_known_gap_count_is_kept_through_a_split_only_when_zero() -> None:
    delivery = typed_delivery([2, 2, 2])
    delivery.gaps = 0
    head, rest = delivery.split(3)
    assert rest is not None and head.gaps == rest.gaps == 0
    assert head.events().data_count() == 4 and rest.events().data_count() == 2
    delivery.gaps = 1  # (a count the maker got wrong would show here: none are gaps)
    head, rest = delivery.split(3)
    assert rest is not None and head.gaps is None and rest.events().data_count() == 2
