"""The argus protocol's typed fast lane gives what the general path gives.

Frames go both ways: ``codec.decode_frame`` + ``Pipeline.process`` (dicts, the
authority) and ``typed.decode_frames`` + ``Pipeline.process_typed`` (structs).
The events, the JSON lines, the counters and the warnings must agree, whatever
the frames hold: duplicates, jumps, late and foreign events, batches.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from argus_cli.client.delivery import Delivery
from argus_cli.client.logbudget import LogBudget
from argus_cli.client.pipeline import Pipeline
from argus_cli.protocol import codec, typed
from argus_cli.protocol.argus import ArgusSession
from argus_cli.sinks.base import Events, encode_each, encode_lines

NOW = 1764000000.5
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
numbers = st.one_of(st.integers(-(2**53), 2**53), finite)
levels = st.lists(st.lists(numbers, min_size=2, max_size=2), max_size=3)


def _message(kind: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "type": st.just(kind),
            "sub": st.sampled_from(["s1", "s2", "gone"]),
            "symbol": st.sampled_from(["AAPL", "MSFT", "EVIL"]),
            **fields,
            "timestamp": numbers,
            "seq": st.integers(1, 12),
        }
    )


messages = st.one_of(
    _message("price", price=numbers, bid=numbers, ask=numbers),
    _message("volume", volume=numbers, total_volume=numbers),
    _message("orderbook", bids=levels, asks=levels),
)
frames = st.lists(
    st.one_of(messages.map(json.dumps), st.lists(messages, min_size=1, max_size=3).map(json.dumps)),
    min_size=1,
    max_size=12,
)


def tracked() -> Pipeline:
    made = Pipeline("argus", LogBudget(logging.getLogger("test.typed"), burst=10_000))
    made.track("s1", True, ["AAPL", "MSFT"])
    made.track("s2", False, ["AAPL"])
    return made


def general(pipeline: Pipeline, sent: list[str]) -> list[list[dict[str, Any]]]:
    out = []
    for frame in sent:
        decoded, errors = codec.decode_frame(frame)
        assert errors == []
        out.append(pipeline.process(decoded, NOW))
    return out


def figures(pipeline: Pipeline) -> tuple[int, ...]:
    return (
        pipeline.messages,
        pipeline.data_messages,
        pipeline.duplicates,
        pipeline.gaps,
        pipeline.foreign,
        len(pipeline.latency),
    )


@settings(max_examples=300)
@given(frames)
def test_the_typed_lane_delivers_what_the_general_path_delivers(sent: list[str]) -> None:
    slow, fast = tracked(), tracked()
    expected = general(slow, sent)
    decoded = typed.decode_frames(sent)
    assert decoded is not None
    events, ends = fast.process_typed(decoded, NOW)
    delivery = Delivery(None, events, ends)
    flat = [event for frame in expected for event in frame]
    assert delivery.messages() == flat  # the dicts handlers get, keys in the same order
    assert [list(m) for m in delivery.messages()] == [list(m) for m in flat]
    assert list(delivery.frames()) == [frame for frame in expected if frame]
    lines = delivery.events().lines()
    assert [orjson.loads(line) for line in lines.splitlines()] == flat
    assert lines.count(b"\n") == len(flat)
    assert figures(fast) == figures(slow)
    assert fast.tracker.last == slow.tracker.last


def test_a_jump_and_a_duplicate_the_same_both_ways(caplog: pytest.LogCaptureFixture) -> None:
    sent = [
        json.dumps({"type": "price", "sub": "s1", "symbol": "AAPL", "price": 1, "bid": 1,
                    "ask": 2, "timestamp": 1.5, "seq": seq})
        for seq in (1, 2, 5, 5, 3, 7)
    ]  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="test.typed"):
        general(tracked(), sent)
        slow_warnings = [r.getMessage() for r in caplog.records]
        caplog.clear()
        decoded = typed.decode_frames(sent)
        assert decoded is not None
        events, ends = tracked().process_typed(decoded, NOW)
        fast_warnings = [r.getMessage() for r in caplog.records]
    assert fast_warnings == slow_warnings
    assert slow_warnings == ["gap: AAPL price seq 3..4 missing", "gap: AAPL price seq 6 missing"]
    kinds = [(e.kind, getattr(e, "seq", None)) for e in events]
    assert kinds == [("price", 1), ("price", 2), ("gap", None), ("price", 5), ("gap", None),
                     ("price", 7)]  # fmt: skip
    assert ends == [1, 2, 4, 4, 4, 6]


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"price","sub":"s1","symbol":"AAPL","price":1,"bid":1,"ask":2,"timestamp":1}',
        '{"type":"price","sub":"s1","symbol":"AAPL","price":1,"bid":1,"ask":2,"timestamp":1,'
        '"seq":1,"venue":"X"}',
        '{"type":"price","sub":"s1","symbol":"AAPL","price":"1","bid":1,"ask":2,"timestamp":1,'
        '"seq":1}',
        '{"type":"price","sub":"s1","symbol":"AAPL","price":1,"bid":1,"ask":2,"timestamp":1,'
        '"seq":0}',
        '{"type":"price","sub":"s1","symbol":"AAPL","price":1e999,"bid":1,"ask":2,"timestamp":1,'
        '"seq":1}',
        "[]",
        '{"type":"subscribed","id":"s1"}',
        '{"type":"heartbeat"}',
        '{"type":"volume","sub":"s1","symbol":"AAPL","volume":1,"total_volume":2,"timestamp":1,'
        '"seq":1},{"type":"volume","sub":"s1","symbol":"AAPL","volume":1,"total_volume":2,'
        '"timestamp":1,"seq":2}',
        "not json",
        "\ud800",
    ],
)
def test_anything_but_plain_data_leaves_the_lane(frame: str) -> None:
    good = json.dumps({"type": "price", "sub": "s1", "symbol": "AAPL", "price": 1, "bid": 1,
                       "ask": 2, "timestamp": 1, "seq": 1})  # fmt: skip
    assert typed.decode_frames([good]) is not None
    assert typed.decode_frames([frame]) is None
    assert typed.decode_frames([frame, good]) is None  # one frame sends the whole read
    assert typed.decode_one(frame) is None


def test_a_subclass_that_changes_receive_loses_the_lane() -> None:
    class Custom(ArgusSession):
        def receive(self, frame: str | bytes, now: float) -> Any:
            return super().receive(frame, now)

    class Own(Custom):
        def decode_typed(self, frames: list[str | bytes]) -> list[Any] | None:
            return None

    assert ArgusSession().decode_typed is not None
    assert Custom.decode_typed is None  # type: ignore[comparison-overlap]
    assert Own().decode_typed(["{}"]) is None


def test_events_slices_counts_and_lines_agree_both_ways() -> None:
    sent = [
        json.dumps({"type": "volume", "sub": "s1", "symbol": "AAPL", "volume": 2,
                    "total_volume": 10, "timestamp": 1.5, "seq": seq})
        for seq in (1, 3, 4, 6)
    ]  # fmt: skip
    decoded = typed.decode_frames(sent)
    assert decoded is not None
    events, _ = tracked().process_typed(decoded, NOW)
    fast = Events(None, events)
    slow = Events([e for frame in general(tracked(), sent) for e in frame])  # type: ignore[misc]
    for made in (fast, slow):
        assert len(made) == 6 and made.data_count() == 4
        assert [e["type"] for e in made.head(2)] == ["volume", "gap", "volume"]
        assert len(made.head(4)) == 6 and len(made.head(9)) == 6
        assert made.head(0) == [] and not made.head(0)
        assert made[1]["type"] == "gap" and made[-1]["seq"] == 6
        assert made == fast and made == list(made)
    assert [orjson.loads(x) for x in fast.lines().splitlines()] == list(slow)
    assert encode_lines(slow) == encode_lines(list(slow))  # orjson for dicts
    assert fast.lines() == encode_lines(fast)
    for made in (fast, slow):  # NATS payloads: the lines, one each, without newlines
        assert b"".join(p + b"\n" for p in made.payloads()) == made.lines()
        assert encode_each(made) == made.payloads()


def test_a_restart_seen_from_the_resume_point_the_same_both_ways() -> None:
    def frame(seq: int) -> str:
        return json.dumps({"type": "price", "sub": "s1", "symbol": "AAPL", "price": 1, "bid": 1,
                           "ask": 2, "timestamp": 1.5, "seq": seq})  # fmt: skip

    before, after = [frame(s) for s in (100, 101)], [frame(s) for s in (1, 2)]
    slow, fast = tracked(), tracked()
    general(slow, before)
    decoded = typed.decode_frames(before)
    assert decoded is not None
    fast.process_typed(decoded, NOW)
    for made in (slow, fast):
        made.expect_resume("s1", made.resume_point("s1", ["AAPL"], ["price"]))
    expected = [e for frame in general(slow, after) for e in frame]
    decoded = typed.decode_frames(after)
    assert decoded is not None
    events, ends = fast.process_typed(decoded, NOW)
    assert Delivery(None, events, ends).messages() == expected
    assert [e["type"] for e in expected] == ["gap", "price", "price"]
    assert expected[0]["reason"] == "server_restart" and expected[0]["to_seq"] is None
    assert figures(fast) == figures(slow) and fast.restarts == slow.restarts == 1
