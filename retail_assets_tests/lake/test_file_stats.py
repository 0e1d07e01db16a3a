"""Partitioned tables keep per-file statistics of one column (lake.file_stats), and row counts hold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.contract.catalog import BRONZE_TABLES
from retail_assets.lake import delta, file_stats, staged
from retail_assets.lake.maintenance import MaintenancePolicy, lake_tables, maintain_table
from retail_assets_tests.conftest import TEST_START_DATE
from retail_assets_tests.lake.test_maintenance import scanned_counts

DAY = date(2024, 3, 5)
THROWAWAY = MaintenancePolicy(vacuum_retention=timedelta(0), log_retention=timedelta(0), allow_short_retention=True)
TS = pa.timestamp("us", tz="UTC")


def _rows(schema: pa.Schema, count: int, day: date = DAY, offset: int = 0) -> pa.Table:
    """``count`` rows of a narrow test schema (int64, string, timestamp and date columns)."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    columns = {}
    for field in schema:
        if pa.types.is_timestamp(field.type):
            columns[field.name] = [midnight + timedelta(minutes=offset + i) for i in range(count)]
        elif pa.types.is_date(field.type):
            columns[field.name] = [day] * count
        elif pa.types.is_string(field.type):
            columns[field.name] = [f"id-{offset + i}" for i in range(count)]
        else:
            columns[field.name] = list(range(offset, offset + count))
    return pa.table(columns, schema)


def statistics_columns(uri: str) -> set[str]:
    """The per-column statistics the table's live files carry (``min.x``, ``null_count.x``, ...)."""
    names = pa.table(delta.open_table(uri).get_add_actions(flatten=True)).column_names
    return {n for n in names if n.startswith(("min.", "max.", "null_count."))}


def test_the_rule_picks_the_first_timestamp_that_is_not_a_partition_column() -> None:
    schema = pa.schema([("id", pa.string()), ("at", TS), ("later", TS), ("event_date", pa.date32())])
    assert file_stats.stats_column(schema, ["event_date"]) == "at"
    assert file_stats.table_properties(schema, ["event_date"]) == {file_stats.STATS_COLUMNS_PROPERTY: "at"}
    no_time = pa.schema([("id", pa.string()), ("event_date", pa.date32())])
    assert file_stats.table_properties(no_time, ["event_date"]) == {file_stats.NO_INDEXED_COLUMNS_PROPERTY: "0"}
    assert file_stats.table_properties(schema, []) == {}, "an unpartitioned table keeps Delta's default"
    clustered = file_stats.table_properties(schema, [], "event_date")
    assert clustered[file_stats.STATS_COLUMNS_PROPERTY] == "event_date,at", "a day-clustered table: its day first"
    assert clustered[file_stats.TXN_RETENTION_PROPERTY] == file_stats.TXN_RETENTION
    assert file_stats.day_column(schema, [], clustered) == "event_date"
    assert file_stats.day_column(schema, ["event_date"], clustered) is None, "partitioned by day: not clustered"
    assert file_stats.day_column(schema, [], {file_stats.STATS_COLUMNS_PROPERTY: "at"}) is None, "not a DATE first"
    assert file_stats.table_properties(no_time, [], "event_date")[file_stats.STATS_COLUMNS_PROPERTY] == "event_date"


def test_every_partitioned_table_of_a_generated_day_keeps_its_time_column_statistics_only(
    home_settings: HomeSettings, dataset_settings: DatasetSettings
) -> None:
    pipeline.build_and_write_dimensions(home_settings, dataset_settings)
    pipeline.generate_and_write_day(home_settings, dataset_settings, TEST_START_DATE, "batch", "t")
    tables = lake_tables(home_settings.lake_root)
    checked = 0
    for spec in BRONZE_TABLES.values():
        if spec.qualified_name not in tables or not spec.partition_by:
            continue
        uri = tables[spec.qualified_name]
        wanted = file_stats.table_properties(spec.arrow_schema, [], spec.partition_by)
        configuration = delta.open_table(uri).metadata().configuration
        assert {k: configuration.get(k) for k in wanted} == wanted, spec.qualified_name
        assert delta.open_table(uri).metadata().partition_columns == [], "day-clustered, not partitioned"
        columns = file_stats.stats_columns(spec.arrow_schema, [], spec.partition_by)
        allowed = {f"{kind}.{c}" for c in columns for kind in ("min", "max", "null_count")}
        assert statistics_columns(uri) <= allowed, spec.qualified_name
        assert delta.partition_row_counts(uri, spec.partition_by) == scanned_counts(uri, spec.partition_by)
        checked += 1
    assert checked >= 18, f"only {checked} partitioned tables were written"
    receipts = tables["cusn.fact_receipts"]
    assert statistics_columns(receipts) == {f"{k}.{c}" for c in ("event_date", "event_ts") for k in ("min", "max", "null_count")}


def test_an_appended_table_keeps_row_counts_and_its_time_column(tmp_path: Path) -> None:
    events = pa.schema([("event_id", pa.string()), ("ingest_timestamp", TS), ("n", pa.int64()), ("event_date", pa.date32())])
    uri = str(tmp_path / "events")
    for block in range(3):
        delta.append(uri, _rows(events, 5, offset=block * 5), events)
    assert statistics_columns(uri) == {f"{k}.{c}" for c in ("event_date", "ingest_timestamp") for k in ("min", "max", "null_count")}
    assert delta.partition_row_count(uri, DAY) == 15

    no_time = pa.schema([("n", pa.int64()), ("event_date", pa.date32())])
    plain = str(tmp_path / "plain")
    delta.replace_partition(plain, _rows(no_time, 7), no_time, DAY)
    assert statistics_columns(plain) == {"min.event_date", "max.event_date", "null_count.event_date"}
    actions = pa.table(delta.open_table(plain).get_add_actions(flatten=True))
    assert actions.column("num_records").to_pylist() == [7], "numRecords is kept: counts come from the log"


def test_a_sharded_commit_creates_the_table_with_the_same_statistics(tmp_path: Path) -> None:
    schema = pa.schema([("event_ts", TS), ("event_date", pa.date32()), ("id", pa.string()), ("n", pa.int64())])
    uri = str(tmp_path / "fact")
    for day in (DAY, DAY + timedelta(days=1)):
        files = [
            staged.stage_partition(uri, _rows(schema, 4, day, offset=s * 4), schema, "event_date", day, f"s{s}")
            for s in range(2)
        ]
        assert staged.commit_partition(uri, schema, "event_date", day, [f for f in files if f]) == 8
    configuration = delta.open_table(uri).metadata().configuration
    assert configuration.get(file_stats.STATS_COLUMNS_PROPERTY) == "event_date,event_ts"
    assert statistics_columns(uri) == {f"{k}.{c}" for c in ("event_date", "event_ts") for k in ("min", "max", "null_count")}
    actions = pa.table(delta.open_table(uri).get_add_actions(flatten=True))
    assert actions.column("null_count.event_ts").to_pylist() == [0] * 4
    assert actions.column("min.event_ts").null_count == 4, "staged files carry no time min/max (lake.staged)"
    assert sorted(actions.column("min.event_date").to_pylist()) == [DAY, DAY, DAY + timedelta(days=1), DAY + timedelta(days=1)]
    assert delta.partition_row_counts(uri) == {DAY: 8, DAY + timedelta(days=1): 8}


def test_maintenance_narrows_the_statistics_of_a_table_created_before(tmp_path: Path) -> None:
    schema = pa.schema([("event_ts", TS), ("event_date", pa.date32()), ("id", pa.string()), ("n", pa.int64())])
    uri = str(tmp_path / "old")
    write_deltalake(uri, _rows(schema, 6), mode="append", partition_by=["event_date"])  # Delta's defaults
    assert "min.n" in statistics_columns(uri)
    report = maintain_table(uri, THROWAWAY)
    assert report.properties_set and report.after.rows == report.before.rows == 6
    assert delta.open_table(uri).metadata().configuration[file_stats.STATS_COLUMNS_PROPERTY] == "event_ts"
    delta.append(uri, _rows(schema, 3, DAY + timedelta(days=1)), schema)
    assert statistics_columns(uri) == {"min.event_ts", "max.event_ts", "null_count.event_ts"}
    assert delta.partition_row_counts(uri) == {DAY: 6, DAY + timedelta(days=1): 3}


@pytest.mark.parametrize("partition_cols", [["event_ts"], ["event_date"]])
def test_a_timestamp_partition_column_is_never_the_statistics_column(partition_cols: list[str]) -> None:
    schema = pa.schema([("event_ts", TS), ("event_date", pa.date32()), ("other_ts", TS)])
    expected = "other_ts" if partition_cols == ["event_ts"] else "event_ts"
    assert file_stats.stats_column(schema, partition_cols) == expected
