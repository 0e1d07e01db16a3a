"""The day pipeline: claim, generate, write Bronze + manifest + state; refuse bad input untouched."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.contract.tables import BATCH_ONLY_TABLES, CONTROL_TABLES, FACT_TABLES, STREAMABLE_TABLES
from retail_assets.generate.state import StateError
from retail_assets.lake import delta
from retail_assets.lake.ledger import DayClaimedError, Ledger
from retail_assets_tests.conftest import TEST_START_DATE

DAY1 = TEST_START_DATE
DAY2 = TEST_START_DATE + timedelta(days=1)
DAY3 = TEST_START_DATE + timedelta(days=2)
ALL_TABLES = (*DIMENSION_TABLES, *FACT_TABLES, *CONTROL_TABLES)


def uri(home: HomeSettings, table: str) -> str:
    return delta.table_uri(home.lake_root, "cusn", table)


def versions(home: HomeSettings) -> dict[str, int | None]:
    """Delta version of every table the pipeline may touch: equal before/after = nothing committed."""
    return {t: delta.table_version(uri(home, t)) for t in ALL_TABLES}


def partition(home: HomeSettings, table: str, day: date, col: str = "event_date") -> pa.Table:
    spec = FACT_TABLES.get(table) or CONTROL_TABLES[table]
    return delta.read_table(uri(home, table), spec.arrow_schema, partition_value=day, partition_col=col)


@pytest.fixture
def with_dims(home_settings: HomeSettings, dataset_settings: DatasetSettings) -> HomeSettings:
    pipeline.build_and_write_dimensions(home_settings, dataset_settings)
    return home_settings


def test_batch_days_write_every_table_the_manifest_and_the_state(with_dims, dataset_settings) -> None:
    home = with_dims
    results = {d: pipeline.generate_and_write_day(home, dataset_settings, d, "batch", "t") for d in (DAY1, DAY2)}
    for name in FACT_TABLES:
        counts = delta.partition_row_counts(uri(home, name))
        for day, result in results.items():
            assert counts.get(day, 0) == result.tables[name].num_rows, (name, day)
    assert sum(r.tables["fact_receipts"].num_rows for r in results.values()) > 0
    manifest = pipeline.read_manifest(home)
    assert manifest.num_rows == 2 * len(FACT_TABLES)
    assert set(manifest.column("path").to_pylist()) == {"batch"}
    assert set(manifest.column("dataset_id").to_pylist()) == {dataset_settings.dataset_id}
    for row in manifest.to_pylist():
        assert row["expected_rows"] == results[row["event_date"]].tables[row["table_name"]].num_rows
    for day in (DAY1, DAY2):
        assert partition(home, "ctl_state_inventory", day, "state_date").num_rows > 0
    assert Ledger(home.state_dir).claimed_days() == {DAY1: "batch", DAY2: "batch"}


def test_regenerating_a_day_replaces_only_that_day(with_dims, dataset_settings) -> None:
    home = with_dims
    for d in (DAY1, DAY2):
        pipeline.generate_and_write_day(home, dataset_settings, d, "batch", "first")
    before = {(t, d): partition(home, t, d) for t in FACT_TABLES for d in (DAY1, DAY2)}
    counts_before = {t: delta.partition_row_counts(uri(home, t)) for t in FACT_TABLES}
    pipeline.generate_and_write_day(home, dataset_settings, DAY1, "batch", "again")
    for t in FACT_TABLES:
        assert delta.partition_row_counts(uri(home, t)) == counts_before[t], t
        for d in (DAY1, DAY2):
            assert partition(home, t, d).equals(before[(t, d)]), (t, d)
    assert pipeline.read_manifest(home).num_rows == 2 * len(FACT_TABLES)


def test_stream_day_writes_only_the_batch_only_tables_and_refuses_batch(with_dims, dataset_settings) -> None:
    home = with_dims
    pipeline.generate_and_write_day(home, dataset_settings, DAY1, "batch", "b")
    result = pipeline.generate_and_write_day(home, dataset_settings, DAY2, "stream", "s")
    for name in STREAMABLE_TABLES:
        assert DAY2 not in delta.partition_row_counts(uri(home, name)), name
    for name in BATCH_ONLY_TABLES:
        assert partition(home, name, DAY2).num_rows == result.tables[name].num_rows
    paths = {r["table_name"]: r["path"] for r in partition(home, "ctl_day_manifest", DAY2).to_pylist()}
    assert paths == {t: ("batch" if t in BATCH_ONLY_TABLES else "stream") for t in FACT_TABLES}
    assert partition(home, "ctl_state_inventory", DAY2, "state_date").num_rows > 0

    before = versions(home)
    with pytest.raises(DayClaimedError, match="owned by the streaming path"):
        pipeline.generate_and_write_day(home, dataset_settings, DAY2, "batch", "b2")
    assert versions(home) == before


def test_missing_previous_state_names_the_backfill(with_dims, dataset_settings) -> None:
    home = with_dims
    pipeline.generate_and_write_day(home, dataset_settings, DAY1, "batch", "b")
    before = versions(home)
    with pytest.raises(pipeline.MissingStateError) as info:
        pipeline.generate_and_write_day(home, dataset_settings, DAY3, "batch", "b")
    message = str(info.value)
    assert f"state of {DAY2.isoformat()}" in message
    assert f"--partition-range {DAY2.isoformat()}...{DAY3.isoformat()}" in message
    assert versions(home) == before
    assert Ledger(home.state_dir).owner_of(DAY3) is None  # refused before the claim


def test_corrupt_state_snapshot_fails_and_changes_nothing(with_dims, dataset_settings) -> None:
    home = with_dims
    pipeline.generate_and_write_day(home, dataset_settings, DAY1, "batch", "b")
    spec = CONTROL_TABLES["ctl_state_inventory"]
    state = partition(home, "ctl_state_inventory", DAY1, "state_date")
    broken = state.set_column(
        state.schema.get_field_index("on_hand"), spec.column("on_hand").field, pc.subtract(pc.multiply(state.column("on_hand"), 0), 5)
    )
    delta.replace_partition(uri(home, "ctl_state_inventory"), broken, spec.arrow_schema, DAY1, "state_date")
    before = versions(home)
    with pytest.raises(StateError, match="negative on_hand"):
        pipeline.generate_and_write_day(home, dataset_settings, DAY2, "batch", "b")
    assert versions(home) == before


def test_days_outside_the_partitions_are_refused(with_dims, dataset_settings) -> None:
    home = with_dims
    before = versions(home)
    with pytest.raises(pipeline.DayOutOfRangeError, match="before the dataset's start date 2024-01-01"):
        pipeline.generate_and_write_day(home, dataset_settings, DAY1 - timedelta(days=1), "batch", "b")
    with pytest.raises(pipeline.DayOutOfRangeError, match="in the future"):
        pipeline.generate_and_write_day(home, dataset_settings, DAY2, "batch", "b", today=DAY1)
    assert versions(home) == before


def test_missing_dimensions_name_the_asset_and_the_command(home_settings, dataset_settings) -> None:
    with pytest.raises(delta.MissingTableError) as info:
        pipeline.generate_and_write_day(home_settings, dataset_settings, DAY1, "batch", "b")
    assert "cusn/dim_" in str(info.value)
    assert "dagster asset materialize" in str(info.value)


def test_dimensions_of_another_dataset_are_refused(with_dims, dataset_settings) -> None:
    other = DatasetSettings(seed=dataset_settings.seed, scale_factor=0.02, start_date=dataset_settings.start_date)
    with pytest.raises(pipeline.DatasetMismatchError, match="re-materialize the 'dimensions' group"):
        pipeline.load_dimensions(with_dims, other)


def test_unwritable_lake_root_fails_before_any_commit(tmp_path, dataset_settings) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    home = HomeSettings(home=tmp_path / "home", lake_root=str(blocker / "lake"))
    with pytest.raises(delta.LakeError, match="is a file, not a directory"):
        pipeline.build_and_write_dimensions(home, dataset_settings)
    assert blocker.read_text() == "not a directory"


def test_one_unwritable_table_leaves_every_table_as_it_was(with_dims, dataset_settings) -> None:
    home = with_dims
    pipeline.generate_and_write_day(home, dataset_settings, DAY1, "batch", "b")
    # A table location taken by a file (root ignores permission bits, so this is the unwritable case).
    last_table = list(FACT_TABLES)[-1]
    target = delta.table_uri(home.lake_root, "cusn", last_table)
    shutil.rmtree(target)
    Path(target).write_text("blocked")
    before = versions(home)
    with pytest.raises(delta.LakeError, match="RETAIL_ASSETS_LAKE_ROOT"):
        pipeline.generate_and_write_day(home, dataset_settings, DAY2, "batch", "b")
    assert versions(home) == before


def test_a_crash_while_writing_bronze_leaves_no_state_so_the_day_is_redone(with_dims, dataset_settings, monkeypatch) -> None:
    home = with_dims
    pipeline.generate_and_write_day(home, dataset_settings, DAY1, "batch", "b")
    real = delta.replace_partition
    failing = list(FACT_TABLES)[5]

    def crash_on_one_table(uri_: str, *args, **kwargs) -> None:
        if uri_.endswith(f"/{failing}"):
            raise delta.LakeError("simulated crash")
        real(uri_, *args, **kwargs)

    monkeypatch.setattr(pipeline.delta, "replace_partition", crash_on_one_table)
    with pytest.raises(delta.LakeError, match="simulated crash"):
        pipeline.generate_and_write_day(home, dataset_settings, DAY2, "batch", "b")
    assert partition(home, "ctl_state_inventory", DAY2, "state_date").num_rows == 0
    assert partition(home, "ctl_state_schedule", DAY2, "state_date").num_rows == 0
    assert partition(home, "ctl_day_manifest", DAY2).num_rows == 0
    with pytest.raises(pipeline.IncompleteDayError, match="2024-01-02"):  # DAY3 cannot build on the half-written DAY2
        pipeline.generate_and_write_day(home, dataset_settings, DAY3, "batch", "b")

    monkeypatch.setattr(pipeline.delta, "replace_partition", real)
    result = pipeline.generate_and_write_day(home, dataset_settings, DAY2, "batch", "b")
    assert partition(home, failing, DAY2).num_rows == result.tables[failing].num_rows
    assert partition(home, "ctl_state_inventory", DAY2, "state_date").num_rows > 0
