"""Lake maintenance: same rows after compaction/vacuum/checkpoint, retention guard, log-based counts."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.lake import delta
from retail_assets.lake.maintenance import (
    MaintenanceError,
    MaintenancePolicy,
    lake_tables,
    maintain_table,
    table_shape,
)
from retail_assets_tests.conftest import TEST_START_DATE

DAYS = [TEST_START_DATE + timedelta(days=i) for i in range(3)]
THROWAWAY = MaintenancePolicy(vacuum_retention=timedelta(0), log_retention=timedelta(0), allow_short_retention=True)
SCHEMA = pa.schema([("n", pa.int64()), ("event_date", pa.date32())])


def full_content(uri: str) -> pa.Table:
    """Every row of the table, in a canonical order (what maintenance must not change)."""
    table = delta.open_table(uri).to_pyarrow_table()
    return table.sort_by([(name, "ascending") for name in table.column_names])


def scanned_counts(uri: str, col: str, day: date | None = None) -> dict[date, int]:
    """The reference: count by reading the column (what partition_row_counts used to do)."""
    flt = None if day is None else pads.field(col) == pa.scalar(day, pa.date32())
    column = delta.dataset(uri).to_table(columns=[col], filter=flt).column(col)
    return {v["values"].as_py(): v["counts"].as_py() for v in pc.value_counts(column)}


@pytest.fixture
def small_lake(home_settings: HomeSettings, dataset_settings: DatasetSettings) -> HomeSettings:
    """Dimensions and three batch days, the first generated twice (a replaced partition's tombstones)."""
    pipeline.build_and_write_dimensions(home_settings, dataset_settings)
    for day in DAYS:
        pipeline.generate_and_write_day(home_settings, dataset_settings, day, "batch", "t")
    pipeline.generate_and_write_day(home_settings, dataset_settings, DAYS[0], "batch", "t")
    return home_settings


def appended_table(tmp_path: Path, batches: int = 12) -> str:
    """A table built like an event table: many small appends per day (what compaction is for)."""
    uri = str(tmp_path / "appended")
    for i in range(batches):
        day = DAYS[i % 2]
        data = pa.table({"n": pa.array(range(i * 10, i * 10 + 7), pa.int64()), "event_date": [day] * 7}, SCHEMA)
        delta.append(uri, data, SCHEMA)
    return uri


def test_maintenance_leaves_every_table_of_a_lake_with_the_same_rows(small_lake: HomeSettings) -> None:
    tables = lake_tables(small_lake.lake_root)
    assert {"cusn.fact_receipts", "cusn.dim_stores", "cusn.ctl_day_manifest", "cusn.ctl_state_inventory"} <= set(tables)
    before = {name: full_content(uri) for name, uri in tables.items()}
    reports = {name: maintain_table(uri, THROWAWAY) for name, uri in tables.items()}
    for name, uri in tables.items():
        assert full_content(uri).equals(before[name]), name
        report = reports[name]
        assert report.after.rows == report.before.rows == before[name].num_rows, name
        assert report.after.partition_checksum == report.before.partition_checksum, name
    # Day 1 was replaced once: its old files were tombstones, and vacuum (retention 0) deleted them.
    assert reports["cusn.fact_receipts"].tombstones_removed >= 1
    props = delta.open_table(tables["cusn.fact_receipts"]).metadata().configuration
    assert props["delta.checkpointInterval"] == "10"


def test_compaction_merges_small_files_and_keeps_rows(tmp_path: Path) -> None:
    uri = appended_table(tmp_path)
    before = full_content(uri)
    report = maintain_table(uri, THROWAWAY)
    assert report.before.files == 12
    assert report.after.files == 1  # the month's files (both days) in one, a row group per day
    assert report.files_compacted_away == 11
    assert report.tombstones_removed == 12  # the appended files, now unreferenced, deleted at retention 0
    assert full_content(uri).equals(before)
    assert report.as_metadata()["files_after"] == 1
    assert delta.partition_row_counts(uri) == scanned_counts(uri, "event_date") == {DAYS[0]: 42, DAYS[1]: 42}
    (fragment,) = delta.dataset(uri).get_fragments()
    assert [(g.statistics["event_date"]["min"], g.num_rows) for g in fragment.row_groups] == [(DAYS[0], 42), (DAYS[1], 42)]


def test_a_second_maintenance_changes_nothing(tmp_path: Path) -> None:
    uri = appended_table(tmp_path)
    maintain_table(uri, THROWAWAY)
    version = delta.table_version(uri)
    again = maintain_table(uri, THROWAWAY)
    assert delta.table_version(uri) == version  # no compaction, no property commit, no vacuum commit
    assert (again.files_compacted_away, again.tombstones_removed, again.properties_set) == (0, 0, False)


def rows_of(day: date, count: int) -> pa.Table:
    return pa.table({"n": pa.array(range(count), pa.int64()), "event_date": [day] * count}, SCHEMA)


def test_the_partition_checksum_sees_a_row_moving_between_partitions(tmp_path: Path) -> None:
    uri = appended_table(tmp_path, batches=2)  # 7 rows on each of two days
    shape = table_shape(delta.open_table(uri))
    delta.replace_partition(uri, rows_of(DAYS[0], 6), SCHEMA, DAYS[0])
    delta.replace_partition(uri, rows_of(DAYS[1], 8), SCHEMA, DAYS[1])
    moved = table_shape(delta.open_table(uri))
    assert moved.rows == shape.rows == 14  # the total alone would not notice
    assert moved.partition_checksum != shape.partition_checksum


@pytest.mark.parametrize("field", ["vacuum_retention", "log_retention"])
def test_retention_below_24_hours_is_refused_unless_allowed(field: str) -> None:
    with pytest.raises(MaintenanceError, match=rf"{field} of 23:00:00 is below 24 hours.*allow_short_retention"):
        MaintenancePolicy(**{field: timedelta(hours=23)})
    assert getattr(MaintenancePolicy(**{field: timedelta(hours=23)}, allow_short_retention=True), field) == timedelta(hours=23)
    assert getattr(MaintenancePolicy(**{field: timedelta(hours=24)}), field) == timedelta(hours=24)


def test_default_policy_keeps_a_week_of_files(tmp_path: Path) -> None:
    uri = appended_table(tmp_path)
    report = maintain_table(uri)  # default: 7 days
    assert report.after.files == 1
    assert report.tombstones_removed == 0  # the compacted-away files are younger than the retention
    assert full_content(uri).num_rows == 12 * 7


def test_a_retention_of_a_fraction_of_hours_vacuums_within_the_table_property(tmp_path: Path) -> None:
    uri = appended_table(tmp_path)
    report = maintain_table(uri, MaintenancePolicy(vacuum_retention=timedelta(hours=36, minutes=30)))
    props = delta.open_table(uri).metadata().configuration
    assert props["delta.deletedFileRetentionDuration"] == "interval 131400 seconds"
    assert report.after.rows == 12 * 7


def test_dimension_commit_metadata_survives_maintenance(small_lake: HomeSettings, dataset_settings) -> None:
    uri = delta.table_uri(small_lake.lake_root, "cusn", "dim_stores")
    maintain_table(uri, THROWAWAY)
    # Log retention 0: the WRITE commit's JSON (the only home of its commit info) is gone ...
    assert {c["operation"] for c in delta.open_table(uri).history()} <= delta.MAINTENANCE_OPERATIONS
    # ... and the dataset_id is still known, from the tag maintenance kept as a table property.
    assert delta.last_commit_metadata(uri)[pipeline.DATASET_METADATA_KEY] == dataset_settings.dataset_id
    pipeline.load_dimensions(small_lake, dataset_settings)  # still recognised as this dataset's


# --- partition_row_counts from the log ------------------------------------------------------------


def test_partition_row_counts_equal_a_scan(small_lake: HomeSettings) -> None:
    for name, col in (("fact_receipts", "event_date"), ("fact_ble_pings", "event_date"), ("ctl_state_inventory", "state_date")):
        uri = delta.table_uri(small_lake.lake_root, "cusn", name)
        expected = scanned_counts(uri, col)
        assert sum(expected.values()) > 0, name
        assert delta.partition_row_counts(uri, col) == expected, name
        for day in DAYS:
            assert delta.partition_row_counts(uri, col, day) == scanned_counts(uri, col, day), (name, day)
            assert delta.partition_row_count(uri, day, col) == expected[day], (name, day)
        assert delta.partition_row_count(uri, DAYS[-1] + timedelta(days=30), col) == 0


def drop_stats_of_first_commit(uri: str) -> None:
    """Another engine with statistics off: the add actions of the first commit carry no "stats"."""
    first_commit = Path(uri) / "_delta_log" / "00000000000000000000.json"
    lines = [json.loads(line) for line in first_commit.read_text().splitlines()]
    for action in lines:
        action.get("add", {}).pop("stats", None)
    first_commit.write_text("\n".join(json.dumps(a) for a in lines) + "\n")


def test_an_unpartitioned_table_without_stats_is_counted_and_maintained(tmp_path: Path) -> None:
    uri = str(tmp_path / "unpartitioned")
    delta.replace_table(uri, rows_of(DAYS[0], 5), SCHEMA)
    for count in (6, 7):
        delta.append(uri, rows_of(DAYS[0], count), SCHEMA, partition_col=None)
    drop_stats_of_first_commit(uri)
    assert table_shape(delta.open_table(uri)).rows == 5 + 6 + 7
    report = maintain_table(uri, THROWAWAY)
    assert (report.before.rows, report.after.rows, report.after.files) == (18, 18, 1)


def test_partition_row_counts_fall_back_to_a_partition_scan_without_stats(tmp_path: Path) -> None:
    uri = appended_table(tmp_path, batches=4)
    drop_stats_of_first_commit(uri)
    assert delta.partition_row_counts(uri) == scanned_counts(uri, "event_date") == {DAYS[0]: 14, DAYS[1]: 14}
    assert delta.partition_row_count(uri, DAYS[0]) == 14
    assert table_shape(delta.open_table(uri)).rows == 28


def test_partition_row_counts_of_a_missing_table_are_empty(tmp_path: Path) -> None:
    assert delta.partition_row_counts(str(tmp_path / "nothing")) == {}


@pytest.mark.parametrize("extra_appends", range(10))
def test_a_compaction_landing_on_a_checkpoint_version_is_still_checked_under_a_short_log_retention(
    tmp_path: Path, extra_appends: int
) -> None:
    """With the checkpoint interval 10 and a log retention of 0, the commit that lands on a
    checkpoint version cleans up the log before it; if the compaction commit did, the version before
    it (what the compaction's guard compares with) could no longer be read. Every alignment of the
    compaction commit with the checkpoint interval is tried: maintenance succeeds, rows unchanged."""
    uri = appended_table(tmp_path)
    maintain_table(uri, THROWAWAY)  # sets the checkpoint interval and the retentions
    for i in range(extra_appends):
        delta.append(uri, pa.table({"n": [1000 + i], "event_date": [DAYS[0]]}, SCHEMA), SCHEMA)
    for i in range(2):  # two small files in each partition: the next maintenance compacts
        delta.append(uri, pa.table({"n": [2000 + i, 2100 + i], "event_date": DAYS[:2]}, SCHEMA), SCHEMA)
    before = full_content(uri)
    report = maintain_table(uri, THROWAWAY)
    assert report.files_compacted_away >= 2
    assert full_content(uri).sort_by("n").equals(before.sort_by("n"))
