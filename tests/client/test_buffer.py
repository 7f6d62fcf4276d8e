"""The bounded buffer: order kept, capacity counted in messages, a full buffer makes ``put`` wait.

Waiting is observed with events, never with sleeps: a task that sets an event
and then calls ``put`` runs without yielding until ``put`` suspends (or
returns), so once the event is seen the task is parked inside ``put``.
"""

from __future__ import annotations

import asyncio

from argus_cli.client.buffer import MessageBuffer


class Producer:
    """``put`` in a task; ``entered`` is set just before the call, ``done`` after it returns."""

    def __init__(self, buffer: MessageBuffer[int], batch: list[int]) -> None:
        self.entered = asyncio.Event()
        self.done = asyncio.Event()
        self.task = asyncio.create_task(self._run(buffer, batch))

    async def _run(self, buffer: MessageBuffer[int], batch: list[int]) -> None:
        self.entered.set()
        await buffer.put(batch)
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
    buffer: MessageBuffer[int] = MessageBuffer(100)
    assert buffer.offer([1, 2])
    await buffer.put([3])
    assert buffer.offer([4, 5, 6])
    assert [await buffer.get() for _ in range(3)] == [[1, 2], [3], [4, 5, 6]]
    assert buffer.empty() and buffer.depth == 0


async def test_depth_counts_messages_not_batches() -> None:
    buffer: MessageBuffer[int] = MessageBuffer(10)
    buffer.offer([1, 2, 3])
    await buffer.put([4, 5])
    assert buffer.depth == 5
    await buffer.get()
    assert buffer.depth == 2


def test_offer_refuses_once_capacity_messages_are_held() -> None:
    buffer: MessageBuffer[int] = MessageBuffer(4)
    assert buffer.offer([1, 2, 3])  # 3 of 4
    assert buffer.offer([4, 5, 6])  # there was room: the batch goes in whole (6 of 4)
    assert buffer.depth == 6
    assert not buffer.offer([7])
    assert buffer.depth == 6
    assert buffer.pauses == 0  # a refused offer is not a pause


def test_one_big_batch_fills_the_buffer() -> None:
    buffer: MessageBuffer[int] = MessageBuffer(5)
    assert buffer.offer(list(range(5)))
    assert not buffer.offer([99])  # five messages in one batch count as five


async def test_put_with_room_does_not_pause() -> None:
    buffer: MessageBuffer[int] = MessageBuffer(3)
    await buffer.put([1])
    await buffer.put([2])
    assert buffer.pauses == 0 and buffer.depth == 2


async def test_put_waits_until_get_makes_room() -> None:
    buffer: MessageBuffer[int] = MessageBuffer(2)
    assert buffer.offer([1, 2])
    producer = Producer(buffer, [3])
    await producer.parked()
    assert not producer.done.is_set()  # full: put is waiting
    assert buffer.pauses == 1
    assert buffer.depth == 2  # the waiting batch is not in yet

    assert await buffer.get() == [1, 2]
    await producer.done.wait()  # room made: put finishes
    await producer.task
    assert buffer.depth == 1
    assert await buffer.get() == [3]
    assert buffer.pauses == 1


async def test_put_keeps_waiting_while_depth_stays_at_capacity() -> None:
    buffer: MessageBuffer[int] = MessageBuffer(2)
    assert buffer.offer([1])
    assert buffer.offer([2, 3, 4])  # depth 4, capacity 2
    producer = Producer(buffer, [5])
    await producer.parked()
    assert await buffer.get() == [1]  # depth 3: still no room
    await one_loop_turn()  # had put been woken, it would be through by now
    assert buffer.depth == 3
    assert not producer.done.is_set()
    assert await buffer.get() == [2, 3, 4]  # depth 0: room
    await producer.done.wait()
    assert await buffer.get() == [5]


async def test_each_wait_counts_one_pause() -> None:
    buffer: MessageBuffer[int] = MessageBuffer(1)
    for n in range(3):
        assert buffer.offer([n])
        producer = Producer(buffer, [n + 100])
        await producer.parked()
        assert buffer.pauses == n + 1
        assert await buffer.get() == [n]
        await producer.done.wait()
        assert await buffer.get() == [n + 100]
    assert buffer.pauses == 3


async def test_get_waits_for_a_batch() -> None:
    buffer: MessageBuffer[int] = MessageBuffer(4)
    entered = asyncio.Event()

    async def consume() -> list[int]:
        entered.set()
        return await buffer.get()

    consumer = asyncio.create_task(consume())
    await entered.wait()
    assert not consumer.done()  # nothing to get yet
    assert buffer.offer([7, 8])
    assert await consumer == [7, 8]
    assert buffer.depth == 0


async def test_clear_empties_and_releases_a_waiting_put() -> None:
    buffer: MessageBuffer[int] = MessageBuffer(2)
    assert buffer.offer([1, 2, 3])
    producer = Producer(buffer, [4])
    await producer.parked()
    assert not producer.done.is_set()
    buffer.clear()
    assert buffer.empty() and buffer.depth == 0
    await producer.done.wait()
    assert await buffer.get() == [4]
    assert buffer.empty()
