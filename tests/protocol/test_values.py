"""The venues' shared value rules: the fast paths agree with the strict ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from argus_cli.exceptions import DecodeError
from argus_cli.protocol import values

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(min_value=0, max_value=9),
)
def test_a_cached_second_parses_exactly_as_the_first_time(moment: datetime, digits: int) -> None:
    fraction = f"{moment.microsecond:06d}{moment.microsecond % 1000:03d}"[:digits]
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + "Z"
    values._SECONDS.clear()
    first = values.parse_time(text)  # the strict path, which fills the cache
    assert moment.strftime("%Y-%m-%dT%H:%M:%S") in values._SECONDS
    second = values.parse_time(text)  # the cached path
    micros = int(fraction[:6].ljust(6, "0")) if digits else 0
    whole = moment.replace(microsecond=0, tzinfo=UTC) - EPOCH
    expected = ((whole // timedelta(seconds=1)) * 1_000_000 + micros) / 1_000_000
    assert first == second == expected


@pytest.mark.parametrize(
    "text",
    [
        "2022-10-19T23:28:22.Z",
        "2022-10-19T23:28:22.12a4Z",
        "2022-10-19T23:28:22.\u0661\u0662Z",
        "2022-10-19T23:28:22+1Z",
        "2022-10-19T23:28:22.5",
    ],
)
def test_a_cached_second_still_refuses_a_bad_fraction(text: str) -> None:
    values.parse_time("2022-10-19T23:28:22.000001Z")  # the second is now cached
    with pytest.raises(DecodeError):
        values.parse_time(text)


@pytest.mark.parametrize("text", ["1.", ".5", "1_0", " 1", "\u0661", "1e999", "nan", "-1", "1..2"])
def test_numbers_the_fast_path_must_not_accept(text: str) -> None:
    with pytest.raises(DecodeError):
        values.number(text, "size")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.00513192", 0.00513192), ("16810", 16810.0), ("1e-3", 0.001), ("0", 0.0)],
)
def test_numbers_as_decimal_strings(text: str, expected: float) -> None:
    assert values.number(text, "size") == expected
