"""The receive pipeline: stamps, dedupe, gaps and counters, driven by an injected clock."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from argus_cli.client.pipeline import Pipeline

T0 = 1764000000.0


def price(seq: int | None, *, sub: str = "s1", symbol: str = "AAPL") -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "price",
        "sub": sub,
        "symbol": symbol,
        "price": 189.12,
        "bid": 189.11,
        "ask": 189.13,
        "timestamp": T0 - 0.25,
    }
    if seq is not None:
        event["seq"] = seq
    return event


def event(kind: str, seq: int, *, sub: str = "s1", symbol: str = "AAPL") -> dict[str, Any]:
    return {"type": kind, "sub": sub, "symbol": symbol, "timestamp": T0 - 0.25, "seq": seq}


def pipeline(*tracking: tuple[str, bool], source: str = "argus") -> Pipeline:
    made = Pipeline(source)
    for sub_id, tracks_gaps in tracking or (("s1", True),):
        made.track(sub_id, tracks_gaps)
    return made


def seqs(events: list[dict[str, Any]]) -> list[Any]:
    return [e.get("seq") if e["type"] != "gap" else ("gap", e["from_seq"]) for e in events]


def test_stamps_source_and_received_with_the_injected_clock() -> None:
    pipe = pipeline(source="coinbase")
    out = pipe.process([price(1), price(2)], T0 + 5)
    assert [(e["source"], e["received"]) for e in out] == [("coinbase", T0 + 5)] * 2
    assert pipe.last_message_at == T0 + 5
    assert pipe.latency.percentile(50) == 5.25


def test_duplicates_are_dropped_and_counted() -> None:
    pipe = pipeline()
    assert seqs(pipe.process([price(1), price(2), price(2), price(1)], T0)) == [1, 2]
    assert seqs(pipe.process([price(2), price(3)], T0)) == [3]
    assert pipe.duplicates == 3 and pipe.gaps == 0


def test_each_subscription_symbol_and_type_has_its_own_sequence() -> None:
    pipe = pipeline(("s1", True), ("s2", True))
    batch = [
        price(5),
        event("volume", 5),
        price(5, sub="s2"),
        price(5, symbol="MSFT"),
    ]
    assert len(pipe.process(batch, T0)) == 4
    assert pipe.duplicates == 0


def test_a_jump_inserts_one_gap_record_right_before_the_event() -> None:
    pipe = pipeline()
    out = pipe.process([price(1), price(2), price(7), price(8)], T0 + 1)
    assert seqs(out) == [1, 2, ("gap", 3), 7, 8]
    assert out[2] == {
        "type": "gap",
        "symbol": "AAPL",
        "from_seq": 3,
        "to_seq": 6,
        "reason": "sequence_jump",
        "sub": "s1",
        "data_type": "price",
        "source": "argus",
        "received": T0 + 1,
    }
    assert pipe.gaps == 1


def test_a_jump_across_frames_is_still_a_gap() -> None:
    pipe = pipeline()
    pipe.process([price(1)], T0)
    out = pipe.process([price(3)], T0 + 1)
    assert seqs(out) == [("gap", 2), 3]
    assert out[0]["to_seq"] == 2


def test_no_gap_on_a_subscription_that_does_not_track_them() -> None:
    pipe = pipeline(("conflated", False))
    out = pipe.process([price(1, sub="conflated"), price(9, sub="conflated")], T0)
    assert seqs(out) == [1, 9] and pipe.gaps == 0
    # duplicates are still dropped there
    assert pipe.process([price(9, sub="conflated")], T0) == [] and pipe.duplicates == 1


def test_events_of_an_unknown_subscription_are_dropped() -> None:
    pipe = pipeline()
    assert pipe.process([price(1, sub="gone"), event("orderbook", 1, sub="gone")], T0) == []
    assert pipe.duplicates == 0 and pipe.gaps == 0


def test_events_without_seq_pass_unchecked() -> None:
    pipe = pipeline()
    out = pipe.process([price(None), price(None), price(None)], T0)
    assert len(out) == 3 and all(e["source"] == "argus" for e in out)
    assert pipe.duplicates == 0 and pipe.gaps == 0


def test_a_server_gap_notice_moves_the_tracker_and_is_stamped() -> None:
    pipe = pipeline()
    pipe.process([price(1233), event("volume", 1233)], T0)
    notice = {"type": "gap", "symbol": "AAPL", "from_seq": 1234, "to_seq": 1999}
    notice_copy = dict(notice)
    out = pipe.process([notice, price(2000), event("volume", 2000)], T0 + 1)
    assert seqs(out) == [("gap", 1234), 2000, 2000]
    assert out[0] == {**notice_copy, "source": "argus", "received": T0 + 1}
    assert pipe.gaps == 1  # the notice, and no second gap for the same hole


def test_a_server_gap_notice_leaves_other_symbols_alone() -> None:
    pipe = pipeline()
    pipe.process([price(10), price(10, symbol="MSFT")], T0)
    pipe.process([{"type": "gap", "symbol": "AAPL", "from_seq": 11, "to_seq": 20}], T0)
    out = pipe.process([price(21), price(21, symbol="MSFT")], T0)
    assert seqs(out) == [21, ("gap", 11), 21]
    assert pipe.gaps == 2


def test_control_messages_pass_through_untouched() -> None:
    pipe = pipeline()
    control: list[dict[str, Any]] = [
        {"type": "subscribed", "id": "s1"},
        {"type": "heartbeat", "server_time": 1.5},
        {"type": "error", "code": "internal", "message": "x"},
    ]
    copies = [dict(m) for m in control]
    out = pipe.process(control, T0)
    assert out == copies
    assert all(a is b for a, b in zip(out, control, strict=True))
    assert pipe.messages == 3 and pipe.data_messages == 0


def test_counters() -> None:
    pipe = pipeline()
    assert (pipe.messages, pipe.data_messages, pipe.last_message_at) == (0, 0, None)
    pipe.process([price(1), price(1), {"type": "heartbeat"}, price(4)], T0 + 0.5)
    assert pipe.messages == 4
    assert pipe.data_messages == 3  # every data message received, duplicates included
    assert pipe.duplicates == 1 and pipe.gaps == 1
    assert pipe.last_message_at == T0 + 0.5
    pipe.process([price(5)], T0 + 1.5)
    pipe.process([{"type": "heartbeat"}], T0 + 2.5)  # control only: no data rate
    assert pipe.last_message_at == T0 + 2.5
    assert pipe.rate.rate(T0 + 2.5) == 2.0  # 3 in second T0, 1 in T0+1, over 2 seconds


def test_forget_drops_the_subscription_and_its_sequences() -> None:
    pipe = pipeline()
    pipe.process([price(5)], T0)
    pipe.forget("s1")
    assert pipe.process([price(6)], T0) == []  # late data of a forgotten subscription
    assert pipe.resume_point("s1", ["AAPL"], ["price"]) == {}
    pipe.track("s1", True)
    assert seqs(pipe.process([price(1)], T0)) == [1]  # a fresh start, not a duplicate
    pipe.forget("never-tracked")  # harmless


def test_resume_point_is_the_lowest_seq_held_over_the_types() -> None:
    pipe = pipeline()
    pipe.process([price(9), event("volume", 7), price(3, symbol="MSFT")], T0)
    point = pipe.resume_point("s1", ["AAPL", "MSFT", "TSLA"], ["price", "volume"])
    assert point == {"AAPL": 7, "MSFT": 3}
    assert pipe.resume_point("s1", ["AAPL"], ["orderbook"]) == {}


_KEYS = st.sampled_from([("AAPL", "price"), ("AAPL", "volume"), ("MSFT", "price")])


@given(st.lists(st.tuples(_KEYS, st.integers(1, 40)), max_size=60), st.integers(1, 6))
def test_delivered_seqs_increase_and_every_hole_has_one_gap(
    stream: list[tuple[tuple[str, str], int]], frame_size: int
) -> None:
    pipe = pipeline()
    frames = [stream[i : i + frame_size] for i in range(0, len(stream), frame_size)]
    out: list[dict[str, Any]] = []
    for n, frame in enumerate(frames):
        batch = [event(kind, seq, symbol=symbol) for (symbol, kind), seq in frame]
        out += pipe.process(batch, T0 + n)

    delivered: dict[tuple[str, str], list[int]] = {}
    gaps: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for item in out:
        if item["type"] == "gap":
            assert item["reason"] == "sequence_jump"
            gaps.setdefault((item["symbol"], item["data_type"]), []).append(
                (item["from_seq"], item["to_seq"])
            )
        else:
            delivered.setdefault((item["symbol"], item["type"]), []).append(item["seq"])

    for key, got in delivered.items():
        assert got == sorted(set(got)), f"{key}: not strictly increasing"
        holes = [(a + 1, b - 1) for a, b in pairwise(got) if b > a + 1]
        assert gaps.get(key, []) == holes
    assert set(gaps) <= set(delivered)
    # each gap record sits right before the event that revealed it
    for index, item in enumerate(out):
        if item["type"] == "gap":
            following = out[index + 1]
            assert following["type"] == item["data_type"]
            assert following["seq"] == item["to_seq"] + 1
    assert pipe.duplicates == len(stream) - sum(map(len, delivered.values()))
    assert pipe.gaps == sum(map(len, gaps.values()))


def test_gap_warnings_read_well_for_one_seq_and_for_a_range(caplog: Any) -> None:
    pipe = pipeline()
    with caplog.at_level("WARNING", logger="argus_cli.client"):
        pipe.process([price(1), price(3)], T0)  # one missing
        pipe.process([price(7)], T0 + 60)  # three missing (past the log budget's window)
        notice = {"type": "gap", "sub": "s1", "symbol": "AAPL", "from_seq": 9, "to_seq": 9,
                  "reason": "not_in_buffer"}  # fmt: skip
        pipe.process([notice], T0 + 120)
    text = caplog.text
    assert "gap: AAPL price seq 2 missing" in text
    assert "gap: AAPL price seq 4..6 missing" in text
    assert "gap: AAPL seq 9 missing (not_in_buffer)" in text
    assert "2..2" not in text and "9..9" not in text
