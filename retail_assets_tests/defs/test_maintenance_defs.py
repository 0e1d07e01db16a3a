"""The lake_maintenance asset: materializes over a real lake with its figures, on a weekly schedule."""

from __future__ import annotations

import dagster as dg

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.definitions import defs as load_defs
from retail_assets.defs.keys import LAKE_MAINTENANCE_KEY, MAINTENANCE_GROUP
from retail_assets.defs.maintenance.assets import (
    LAKE_MAINTENANCE_JOB,
    LAKE_MAINTENANCE_SCHEDULE,
    lake_maintenance,
)
from retail_assets.defs.resources import RetailSettings
from retail_assets.lake import delta
from retail_assets_tests.conftest import TEST_SCALE_FACTOR, TEST_SEED, TEST_START_DATE

OP = LAKE_MAINTENANCE_KEY.to_python_identifier()
THROWAWAY_CONFIG = {"vacuum_retention_hours": 0, "log_retention_hours": 0, "allow_short_retention": True}


def settings(home: HomeSettings) -> RetailSettings:
    return RetailSettings(
        seed=str(TEST_SEED), scale_factor=str(TEST_SCALE_FACTOR), start_date=TEST_START_DATE.isoformat(), home=str(home.home)
    )


def materialize(home: HomeSettings, config: dict[str, object]) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [lake_maintenance],
        resources={"retail_settings": settings(home)},
        run_config={"ops": {OP: {"config": config}}},
        raise_on_error=False,
    )


def test_maintenance_asset_materializes_with_its_figures(home_settings: HomeSettings, dataset_settings: DatasetSettings) -> None:
    pipeline.build_and_write_dimensions(home_settings, dataset_settings)
    day = TEST_START_DATE
    for _ in range(2):  # the same day twice: its first files become tombstones
        pipeline.generate_and_write_day(home_settings, dataset_settings, day, "batch", "t")
    receipts = delta.table_uri(home_settings.lake_root, "cusn", "fact_receipts")
    rows_before = delta.partition_row_counts(receipts)

    result = materialize(home_settings, THROWAWAY_CONFIG)
    assert result.success
    (mat,) = result.asset_materializations_for_node(OP)
    meta = {k: v.value for k, v in mat.metadata.items()}
    # 6 dimensions, 18 facts, manifest and two state tables exist after one batch day.
    assert meta["tables"] == 27
    assert meta["tombstones_removed"] >= 3  # at least the replaced manifest and state partitions
    assert meta["files_after"] <= meta["files_before"]
    assert "cusn.fact_receipts" in meta["per_table"]
    assert delta.partition_row_counts(receipts) == rows_before


def test_a_short_retention_without_permission_fails_the_run_before_touching_a_table(home_settings, dataset_settings) -> None:
    pipeline.build_and_write_dimensions(home_settings, dataset_settings)
    uri = delta.table_uri(home_settings.lake_root, "cusn", "dim_stores")
    version = delta.table_version(uri)
    result = materialize(home_settings, {"vacuum_retention_hours": 1})
    assert not result.success
    failure = result.failure_data_for_node(OP)
    assert "below 24 hours" in failure.error.message
    assert delta.table_version(uri) == version


def test_maintenance_job_and_weekly_schedule_are_loaded_with_the_other_defs() -> None:
    defs = load_defs()
    spec = next(s for s in defs.resolve_all_asset_specs() if s.key == LAKE_MAINTENANCE_KEY)
    assert spec.group_name == MAINTENANCE_GROUP
    assert defs.resolve_job_def(LAKE_MAINTENANCE_JOB) is not None
    schedule = defs.resolve_schedule_def(LAKE_MAINTENANCE_SCHEDULE)
    assert schedule.cron_schedule == "0 3 * * 0"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
