"""Silver build on real generated days: path identity, engine parity, de-dup, missing tables."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pyarrow as pa
import pytest

from retail_assets.contract.events import bronze_event_spec
from retail_assets.contract.tables import BATCH_ONLY_TABLES, FACT_TABLES, STREAMABLE_TABLES
from retail_assets.lake import delta
from retail_assets.silver.build import build_silver
from retail_assets.silver.checks import build_order
from retail_assets.silver.engines import DuckDBEngine, SparkEngine
from retail_assets_tests.silver.conftest import DAY1, DAY2, build_day, generate, make_home


def duck_build(home, table, day):
    with duckdb.connect() as conn:
        return build_silver(DuckDBEngine(conn), home.lake_root, table, day)


def test_stream_day_silver_equals_the_generated_rows(two_day_lake):
    """Stream day: Silver without _source = the generator's rows (mapping lossless, §6.4)."""
    home, tables = two_day_lake
    for table in FACT_TABLES:
        build = duck_build(home, table, DAY2)
        expected_source = "batch" if table in BATCH_ONLY_TABLES else "stream"
        assert set(build.data.column("_source").to_pylist()) <= {expected_source}, table
        assert build.data.drop_columns(["_source"]).equals(tables[DAY2][table]), table
        assert build.schema.ok, (table, build.schema.describe())


def test_batch_day_silver_equals_the_generated_rows(two_day_lake):
    home, tables = two_day_lake
    for table in FACT_TABLES:
        build = duck_build(home, table, DAY1)
        assert build.data.drop_columns(["_source"]).equals(tables[DAY1][table]), table
        assert build.stream_rows == 0 and build.batch_rows == tables[DAY1][table].num_rows


@pytest.mark.parametrize("day", [DAY1, DAY2])
def test_engine_parity_duckdb_vs_spark(two_day_lake, spark, day):
    """Both engines compile the same mapping entries and give identical rows and types."""
    home, _ = two_day_lake
    for table in FACT_TABLES:
        a = duck_build(home, table, day)
        b = build_silver(SparkEngine(spark), home.lake_root, table, day)
        assert a.data.num_rows == b.data.num_rows, table
        assert a.data.equals(b.data), table
        assert (a.batch_input_rows, a.stream_input_rows) == (b.batch_input_rows, b.stream_input_rows), table


def test_redelivered_event_is_counted_once(tmp_path):
    home = make_home(tmp_path)
    tables = generate(home, {DAY1: "stream"})
    uri = delta.table_uri(home.lake_root, "cusn", "receipt_created")
    first = delta.read_table(uri).slice(0, 1)
    delta.append(uri, first, bronze_event_spec("receipt_created").arrow_schema)
    build = duck_build(home, "fact_receipts", DAY1)
    assert build.data.num_rows == tables[DAY1]["fact_receipts"].num_rows
    assert build.stream_input_rows == build.data.num_rows


def test_missing_event_table_means_batch_only_with_a_note(tmp_path):
    home = make_home(tmp_path)
    tables = generate(home, {DAY1: "batch"})
    build = duck_build(home, "fact_truck_moves", DAY1)
    assert build.missing_event_tables == ["truck_arrived", "truck_departed"]
    assert build.schema.ok and build.data.num_rows == tables[DAY1]["fact_truck_moves"].num_rows
    assert any("does not exist yet" in n for n in build.notes)


def test_rebuild_replaces_the_partition(tmp_path):
    home = make_home(tmp_path)
    generate(home, {DAY1: "batch", DAY1 + timedelta(days=1): "batch"})
    for _ in range(2):
        outcomes = build_day(home, DAY1, ["fact_receipts"])
    uri = outcomes["fact_receipts"].uri
    counts = delta.partition_row_counts(uri)
    assert counts == {DAY1: outcomes["fact_receipts"].build.data.num_rows}
    assert set(build_order()) == set(FACT_TABLES) and len(STREAMABLE_TABLES) == 16


def test_build_refuses_nothing_on_empty_days(tmp_path):
    """A day with no rows at all (nothing generated) builds an empty, correctly typed relation."""
    home = make_home(tmp_path)
    build = duck_build(home, "fact_receipts", DAY1)
    assert build.data.num_rows == 0
    assert build.data.schema.names[-1] == "_source"
    assert isinstance(build.data, pa.Table)
