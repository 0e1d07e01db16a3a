"""Logical schema comparison (C1): what counts as equal and what is reported."""

import pyarrow as pa

from retail_assets.silver.schema import compare_schemas, logical_type

TS = pa.timestamp("us", tz="UTC")


def test_string_kinds_nullability_and_utc_spelling_are_equal():
    a = pa.schema(
        [pa.field("a", pa.large_string(), nullable=False), pa.field("t", pa.timestamp("us", tz="Etc/UTC"))]
    )
    b = pa.schema([pa.field("a", pa.string()), pa.field("t", TS)])
    assert compare_schemas(a, b).ok


def test_retyped_missing_unexpected_and_order_are_counted():
    expected = pa.schema([("a", pa.int64()), ("b", pa.string()), ("c", pa.decimal128(18, 2))])
    actual = pa.schema([("b", pa.string()), ("a", pa.string()), ("d", pa.int64())])
    diff = compare_schemas(actual, expected, "x")
    assert diff.missing == ("c",)
    assert diff.unexpected == ("d",)
    assert diff.retyped == (("a", "VARCHAR", "BIGINT"),)
    assert diff.order_differs
    assert diff.mismatch_count == 3
    assert "a is VARCHAR, contract says BIGINT" in diff.describe()


def test_decimal_scale_and_timestamp_unit_matter():
    assert logical_type(pa.decimal128(18, 4)) != logical_type(pa.decimal128(18, 2))
    assert logical_type(pa.timestamp("ns", tz="UTC")) != logical_type(TS)
    assert logical_type(pa.timestamp("us")) != logical_type(TS)
