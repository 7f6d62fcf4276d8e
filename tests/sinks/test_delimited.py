"""CSV/TSV and field-cut JSON lines: columns, header once, quoting, escapes, times, gaps,
and the JSON-lines sink's I/O behaviour (a reader that went away)."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import orjson
import pytest

from argus_cli.sinks import OutputClosed
from argus_cli.sinks.delimited import (
    DEFAULT_FIELDS,
    EVENT_FIELDS,
    Columns,
    DelimitedSink,
    SelectedJsonLinesSink,
    describe_gap,
    iso_time,
    parse_fields,
)

PRICE: dict[str, Any] = {
    "type": "price",
    "sub": "cli-1",
    "symbol": "AAPL",
    "price": 189.12,
    "bid": 189.11,
    "ask": 189.13,
    "timestamp": 1764000000.123456,
    "seq": 1234,
    "source": "argus",
    "received": 1764000000.2,
}
VOLUME: dict[str, Any] = {
    "type": "volume",
    "sub": "cli-1",
    "symbol": "AAPL",
    "volume": 500,
    "total_volume": 4114,
    "timestamp": 1764000000.123456,
    "seq": 1234,
    "source": "argus",
    "received": 1764000000.2,
}
BOOK: dict[str, Any] = {
    "type": "orderbook",
    "sub": "cli-1",
    "symbol": "AAPL",
    "bids": [[189.11, 500], [189.1, 1200]],
    "asks": [[189.13, 400]],
    "seq": 1235,
    "source": "argus",
    "received": 1764000000.3,
}
GAP: dict[str, Any] = {
    "type": "gap",
    "symbol": "AAPL",
    "from_seq": 1236,
    "to_seq": 1240,
    "reason": "sequence_jump",
    "sub": "cli-1",
    "data_type": "price",
    "source": "argus",
    "received": 1764000000.4,
}


async def written(sink: DelimitedSink | SelectedJsonLinesSink, *frames: list[Any]) -> str:
    await sink.open()
    for frame in frames:
        await sink.write(frame)
    await sink.close()
    stream = sink.stream
    assert isinstance(stream, io.BytesIO)
    return stream.getvalue().decode()


def test_parse_fields_keeps_order_folds_case_and_drops_duplicates() -> None:
    assert parse_fields("Symbol, price,symbol,timestamp") == ["symbol", "price", "timestamp"]


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ("symbol,prise", "unknown field 'prise': the fields are type, sub, symbol"),
        ("a,b", "unknown fields 'a', 'b'"),
        (" , ", "give at least one field"),
    ],
)
def test_parse_fields_names_the_unknown_and_lists_the_valid(raw: str, said: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_fields(raw)
    assert said in str(caught.value)
    if "unknown" in said:
        assert ", ".join(EVENT_FIELDS) in str(caught.value)


def test_iso_time_is_utc_with_microseconds_and_z() -> None:
    assert iso_time(1764000000.123456) == "2025-11-24T16:00:00.123456Z"
    assert iso_time(0) == "1970-01-01T00:00:00.000000Z"
    text = iso_time(1795491760.964737)
    parsed = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    assert abs(parsed.timestamp() - 1795491760.964737) < 1e-6
    assert iso_time(1e300) == 1e300  # out of the calendar: kept as it is
    assert iso_time("x") == "x"


def test_describe_gap() -> None:
    assert describe_gap(GAP) == "gap in AAPL (argus): seq 1236 to 1240 missing (sequence_jump)"
    assert "seq 7 missing" in describe_gap({**GAP, "from_seq": 7, "to_seq": 7})
    unknown = describe_gap({**GAP, "to_seq": None, "reason": "server_restart"})
    assert "from seq 1236 on, how many unknown" in unknown


def test_columns_cells_and_select() -> None:
    columns = Columns(["symbol", "price", "volume", "bids", "timestamp"], "iso")
    assert columns.cells(PRICE) == ["AAPL", "189.12", "", "", "2025-11-24T16:00:00.123456Z"]
    assert columns.cells(BOOK)[3] == "[[189.11,500],[189.1,1200]]"
    assert columns.select(VOLUME) == {
        "symbol": "AAPL",
        "volume": 500,
        "timestamp": "2025-11-24T16:00:00.123456Z",
    }
    everything = Columns(None, "iso").select(PRICE)
    assert list(everything) == list(PRICE)
    assert everything["received"] == "2025-11-24T16:00:00.200000Z"
    with pytest.raises(ValueError):
        Columns(["symbol"], "local")


async def test_csv_header_once_then_a_row_per_data_event_parsing_back() -> None:
    sink = DelimitedSink(Columns(DEFAULT_FIELDS), "csv", io.BytesIO(), name="buffer")
    text = await written(sink, [PRICE, VOLUME], [PRICE])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(DEFAULT_FIELDS)
    assert len(rows) == 4 and rows.count(list(DEFAULT_FIELDS)) == 1
    assert sink.rows == 3
    for row, event in zip(rows[1:], [PRICE, VOLUME, PRICE], strict=True):
        for name, cell in zip(DEFAULT_FIELDS, row, strict=True):
            if name not in event:
                assert cell == ""
            elif isinstance(event[name], str):
                assert cell == event[name]
            else:
                assert float(cell) == event[name]
    assert text.endswith("\n") and "\r" not in text


async def test_csv_quotes_a_field_with_a_comma_or_a_quote() -> None:
    odd = {**PRICE, "symbol": 'BRK,B "A"'}
    sink = DelimitedSink(Columns(["symbol", "price"]), "csv", io.BytesIO())
    text = await written(sink, [odd, BOOK])
    assert text.splitlines()[1] == '"BRK,B ""A""",189.12'
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ['BRK,B "A"', "189.12"]
    sink = DelimitedSink(Columns(["symbol", "bids"]), "csv", io.BytesIO())
    rows = list(csv.reader(io.StringIO(await written(sink, [BOOK]))))
    assert orjson.loads(rows[1][1]) == BOOK["bids"]


async def test_tsv_escapes_tabs_newlines_and_backslashes() -> None:
    odd = {**PRICE, "symbol": "A\tB\nC\\D\rE"}
    sink = DelimitedSink(Columns(["symbol", "price", "timestamp"], "iso"), "tsv", io.BytesIO())
    text = await written(sink, [odd])
    lines = text.split("\n")
    assert lines == [
        "symbol\tprice\ttimestamp",
        "A\\tB\\nC\\\\D\\rE\t189.12\t2025-11-24T16:00:00.123456Z",
        "",
    ]


async def test_gaps_are_not_rows_but_said_to_on_gap_or_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    said: list[Mapping[str, Any]] = []
    sink = DelimitedSink(Columns(DEFAULT_FIELDS), "csv", io.BytesIO(), on_gap=said.append)
    text = await written(sink, [PRICE, GAP], [GAP])
    assert len(text.splitlines()) == 2  # the header and the price
    assert said == [GAP, GAP]
    sink = DelimitedSink(Columns(DEFAULT_FIELDS), "csv", io.BytesIO())
    with caplog.at_level(logging.WARNING, logger="argus_cli.sinks"):
        assert await written(sink, [GAP]) == ""  # no data, no header
    assert "gap in AAPL (argus): seq 1236 to 1240 missing" in caplog.text


async def test_selected_json_lines_keep_the_chosen_fields_in_order_and_gaps_whole() -> None:
    sink = SelectedJsonLinesSink(Columns(["price", "symbol", "received"], "iso"), io.BytesIO())
    text = await written(sink, [PRICE, VOLUME, GAP])
    lines = [orjson.loads(line) for line in text.splitlines()]
    assert list(lines[0]) == ["price", "symbol", "received"]
    assert lines[0]["received"] == "2025-11-24T16:00:00.200000Z"
    assert lines[1] == {"symbol": "AAPL", "received": "2025-11-24T16:00:00.200000Z"}
    assert lines[2] == {**GAP, "received": "2025-11-24T16:00:00.400000Z"}


@pytest.fixture
def closed_pipe() -> Iterator[BinaryIO]:
    """The write end of a real pipe whose reader is gone."""
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    stream = os.fdopen(write_fd, "wb")
    yield stream
    with contextlib.suppress(OSError):
        stream.close()


async def test_a_pipe_whose_reader_went_away_raises_output_closed(closed_pipe: BinaryIO) -> None:
    sink = DelimitedSink(Columns(DEFAULT_FIELDS), "csv", closed_pipe)
    await sink.open()
    assert sink._transport is not None  # JsonLinesSink's non-blocking pipe transport
    try:
        with pytest.raises(OutputClosed):
            for _ in range(2):
                await sink.write([PRICE])
    finally:
        await sink.close()
        await sink.close()


def test_a_table_needs_fields_and_a_known_dialect() -> None:
    with pytest.raises(ValueError):
        DelimitedSink(Columns(None), "csv", io.BytesIO())
    with pytest.raises(ValueError):
        DelimitedSink(Columns(["symbol"]), "xlsx", io.BytesIO())
