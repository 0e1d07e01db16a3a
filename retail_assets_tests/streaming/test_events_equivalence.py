"""The column-wise serializers against the Python reference they replace (uuid.uuid5, json.dumps,
datetime.isoformat): the fast paths (byte matrices, literal quotes, hashing distinct names only)
must give the same bytes for any input, including the rows that take the slow paths."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_assets.contract.events import EVENT_NAMESPACE
from retail_assets.streaming import serialize as ser

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
micros = st.integers(min_value=-30_610_224_000_000_000, max_value=253_402_300_799_999_999)  # years 1000..9999


def _wire(us: int) -> str:
    return (EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), micros), max_size=40))
def test_wire_ts_is_the_iso_form_of_every_timestamp(values):
    arr = pa.array(values, pa.int64()).cast(TS)
    expected = [None if v is None else _wire(v) for v in values]
    assert ser.wire_ts(arr).to_pylist() == expected
    assert ser.json_ts(arr).to_pylist() == ["null" if v is None else f'"{v}"' for v in expected]


def test_years_without_four_digits_fall_back_to_arrow_strftime():
    arr = pa.array([-61_000_000_000_000_000, None, 0], pa.int64()).cast(TS)  # a year-36 timestamp
    assert ser.wire_ts(arr).to_pylist() == pc.strftime(arr, format=ser.WIRE_TS_FORMAT).to_pylist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), max_size=30), st.booleans())
def test_uuid5_column_is_python_uuid5(names, repeated):
    names = names + names[:5]  # repeats, for the distinct-names path
    got = ser.uuid5_column(EVENT_NAMESPACE, pa.array(names, pa.string()), repeated=repeated).to_pylist()
    assert got == [None if n is None else str(uuid.uuid5(EVENT_NAMESPACE, n)) for n in names]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=30))
def test_string_parts_and_json_string_are_json_dumps(values):
    column = pa.array(values, pa.string())
    expected = ["null" if v is None else json.dumps(v, ensure_ascii=False) for v in values]
    assert ser.json_string(column).to_pylist() == expected
    assert ser.join_parts(["[", *ser.json_string_parts(column), "]"]).to_pylist() == [f"[{e}]" for e in expected]


def test_sliced_columns_are_read_from_their_own_bytes():
    column = pa.array(['a"b', "plain", "ok", "x\\y"], pa.string())
    assert ser.needs_escape(column.slice(1, 2)) is False
    assert ser.needs_escape(column.slice(0, 2)) is True
    assert ser.needs_escape(column.slice(3, 1)) is True
    sliced = pa.array([0, 86_400_000_000, 1_700_000_000_123_456], pa.int64()).cast(TS).slice(1, 2)
    assert ser.wire_ts(sliced).to_pylist() == [_wire(86_400_000_000), _wire(1_700_000_000_123_456)]
