"""The client codec: encoding ops, decoding hostile frames, round trips."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from argus_cli.exceptions import DecodeError, EncodeError
from argus_cli.protocol import codec
from argus_cli.protocol.server_codec import OpError, Subscribe, decode_op

PRICE = {
    "type": "price",
    "sub": "s1",
    "symbol": "AAPL",
    "price": 189.12,
    "bid": 189.11,
    "ask": 189.13,
    "timestamp": 1764000000.123456,
    "seq": 1234,
}


def test_decodes_an_object_and_a_batch_in_order() -> None:
    messages, errors = codec.decode_frame(json.dumps(PRICE))
    assert messages == [PRICE] and errors == []
    second = dict(PRICE, seq=1235)
    messages, errors = codec.decode_frame(json.dumps([PRICE, second]).encode())
    assert [m["seq"] for m in messages] == [1234, 1235] and not errors


def test_a_bad_element_of_a_batch_is_skipped_alone() -> None:
    bad = dict(PRICE, price="cheap")
    messages, errors = codec.decode_frame(json.dumps([PRICE, bad, dict(PRICE, seq=1236)]))
    assert [m["seq"] for m in messages] == [1234, 1236]
    assert len(errors) == 1 and "price" in str(errors[0])


@pytest.mark.parametrize(
    "frame",
    [
        b"\xff\xfe{}",
        '"\ud800"',
        "NaN",
        '{"type":"price","price":NaN}',
        '{"type":"price","price":Infinity}',
        "[" * 5000 + "]" * 5000,
        '{"type":"price","price":1' + "0" * 5000 + "}",
        "1" * 5000,
        "",
        "{",
        "[]",
        "42",
        '{"no_type": 1}',
        '{"type": 7}',
        json.dumps(dict(PRICE, seq=0)),
        json.dumps(dict(PRICE, seq=True)),
        json.dumps(dict(PRICE, seq=1.5)),
        json.dumps(dict(PRICE, bid=None)),
        json.dumps({k: v for k, v in PRICE.items() if k != "sub"}),
        '{"type":"orderbook","sub":"s","symbol":"A","timestamp":1,"seq":1,"bids":[[1]],"asks":[]}',
        '{"type":"gap","symbol":"A","from_seq":5,"to_seq":2,"reason":"x"}',
        '{"type":"error","code":"internal"}',
    ],
)
def test_hostile_frames_give_decode_errors(frame: str | bytes) -> None:
    messages, errors = codec.decode_frame(frame)
    assert messages == []
    assert errors and all(isinstance(e, DecodeError) for e in errors)


def test_unknown_message_type_is_flagged_as_such() -> None:
    messages, errors = codec.decode_frame('{"type":"surprise"}')
    assert messages == [] and isinstance(errors[0], codec.UnknownMessageType)


@given(st.binary(max_size=300))
def test_any_bytes_give_messages_or_decode_errors(data: bytes) -> None:
    messages, errors = codec.decode_frame(data)
    assert all(isinstance(e, DecodeError) for e in errors)
    assert all(isinstance(m, dict) and isinstance(m.get("type"), str) for m in messages)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
message_like = st.fixed_dictionaries(
    {"type": st.sampled_from([*sorted(codec.VALIDATORS), "other"])},
    optional={
        k: json_values
        for k in ("sub", "symbol", "price", "bid", "ask", "timestamp", "seq", "bids", "asks")
    },
)


@given(st.one_of(message_like, st.lists(message_like, max_size=4), json_values))
def test_any_json_gives_messages_or_decode_errors(value: Any) -> None:
    try:
        text = json.dumps(value, allow_nan=True)
    except (ValueError, TypeError):
        return
    messages, errors = codec.decode_frame(text)
    assert all(isinstance(e, DecodeError) for e in errors)
    for m in messages:
        assert codec.VALIDATORS[m["type"]](m) is None


symbols = st.lists(
    st.from_regex(r"[A-Z0-9.:/\-]{1,20}", fullmatch=True), min_size=1, max_size=5, unique=True
)
ids = st.from_regex(r"[A-Za-z0-9_.:\-]{1,64}", fullmatch=True)
types = st.lists(
    st.sampled_from(["price", "volume", "orderbook"]), min_size=1, max_size=3, unique=True
)


@given(ids, symbols, types, st.sampled_from(["realtime", "1s", "5s", "1m"]), st.data())
def test_subscribe_round_trips_through_the_server_codec(
    sub_id: str, syms: list[str], dtypes: list[str], freq: str, data: st.DataObject
) -> None:
    low = data.draw(st.none() | st.floats(0, 1e6))
    filters = {} if low is None else {"min_price": low, "max_price": low + 1}
    resume = None
    if freq == "realtime":
        resume = data.draw(
            st.dictionaries(st.sampled_from(syms), st.integers(0, 10**9), max_size=3)
        )
    frame = codec.encode_subscribe(sub_id, syms, dtypes, freq, filters, resume)
    request = decode_op(frame, set(syms))
    assert isinstance(request, Subscribe)
    assert request.id == sub_id and list(request.symbols) == syms
    assert list(request.data_types) == dtypes and request.update_frequency == freq
    assert request.min_price == (None if low is None else low)
    assert request.resume == (resume or {})


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_server_decoder_never_raises(data: bytes | str) -> None:
    result = decode_op(data, {"AAPL"})
    assert result is not None


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"subscription_id": ""}, "subscription id"),
        ({"symbols": []}, "symbols"),
        ({"symbols": ["aapl"]}, "aapl"),
        ({"data_types": ["trades"]}, "trades"),
        ({"update_frequency": "2s"}, "2s"),
        ({"filters": {"min_volume": 1}}, "min_volume"),
        ({"filters": {"min_price": float("nan")}}, "min_price"),
        ({"filters": {"min_price": 5, "max_price": 1}}, "above"),
        ({"resume": {"AAPL": -1}}, "resume"),
        ({"update_frequency": "1s", "resume": {"AAPL": 1}}, "realtime"),
    ],
)
def test_encode_refuses_invalid_values(kwargs: dict[str, Any], fragment: str) -> None:
    args: dict[str, Any] = {
        "subscription_id": "s1",
        "symbols": ["AAPL"],
        "data_types": ["price"],
        "update_frequency": "realtime",
    }
    args.update(kwargs)
    with pytest.raises(EncodeError, match=fragment):
        codec.encode_subscribe(**args)


def test_other_ops() -> None:
    assert json.loads(codec.encode_unsubscribe("s1")) == {"op": "unsubscribe", "id": "s1"}
    assert json.loads(codec.encode_list_symbols()) == {"op": "list_symbols"}
    assert json.loads(codec.encode_ping(42)) == {"op": "ping", "nonce": 42}
    with pytest.raises(EncodeError):
        codec.encode_unsubscribe("bad id")


def test_server_codec_refuses_unknown_fields() -> None:
    result = decode_op(
        b'{"op":"subscribe","id":"s","symbols":["AAPL"],"data_types":["price"],"x":1}', {"AAPL"}
    )
    assert isinstance(result, OpError) and result.code == "bad_request" and "'x'" in result.message


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
numbers = st.one_of(st.integers(-(2**53), 2**53), finite)


def _data(kind: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid data message of ``kind``: the common fields plus ``fields``."""
    return st.fixed_dictionaries(
        {
            "type": st.just(kind),
            "sub": st.text(max_size=8),
            "symbol": st.text(max_size=8),
            **fields,
            "timestamp": numbers,
            "seq": st.integers(1, 2**62),
        }
    )


levels = st.lists(st.lists(numbers, min_size=2, max_size=2), max_size=3)
data_messages = st.one_of(
    _data("price", price=numbers, bid=numbers, ask=numbers),
    _data("volume", volume=numbers, total_volume=numbers),
    _data("orderbook", bids=levels, asks=levels),
)


def _canonical(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@given(st.lists(data_messages, min_size=1, max_size=4), st.booleans())
def test_fast_path_gives_exactly_what_json_says(messages: list[Any], batch: bool) -> None:
    """The msgspec fast path and the plain parse agree, ints staying ints."""
    value: Any = messages if batch or len(messages) > 1 else messages[0]
    text = json.dumps(value)
    decoded, errors = codec.decode_frame(text)
    assert errors == []
    assert _canonical(decoded) == _canonical(messages)


def test_extra_fields_are_dropped_never_passed_on_unvalidated() -> None:
    extra = dict(PRICE, venue="XNAS", note="\x9b2J\u202e", conditions=["@", "F"])
    decoded, errors = codec.decode_frame(json.dumps(extra))
    assert errors == [] and decoded == [PRICE]
    decoded, errors = codec.decode_frame(json.dumps([extra, extra]))
    assert errors == [] and decoded == [PRICE, PRICE]
