"""Dagster shell of the batch half: dims + Bronze batch materializations, failures, schedule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.errors import DagsterUnknownPartitionError
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_duckdb import DuckDBResource

from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.contract.tables import CONTROL_TABLES, FACT_TABLES
from retail_assets.defs.generation.assets import PREVIOUS_DAY, bronze_batch, dimensions
from retail_assets.defs.generation.jobs import (
    DAILY_GENERATION_JOB,
    DAILY_GENERATION_SCHEDULE,
    daily_generation_job,
    daily_generation_schedule,
)
from retail_assets.defs.keys import BRONZE_BATCH_KEYS, DIM_KEYS
from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.resources import RetailSettings
from retail_assets.lake import delta
from retail_assets.lake.ledger import Ledger, ledger_path
from retail_assets_tests.conftest import TEST_SCALE_FACTOR, TEST_SEED, TEST_START_DATE

DAY1 = TEST_START_DATE
DAY2 = TEST_START_DATE + timedelta(days=1)
RANGE_START, RANGE_END = ASSET_PARTITION_RANGE_START_TAG, ASSET_PARTITION_RANGE_END_TAG
ALL_TABLES = (*DIMENSION_TABLES, *FACT_TABLES, *CONTROL_TABLES)


def resources(home: Path, **overrides: str) -> dict[str, object]:
    settings = {
        "seed": str(TEST_SEED),
        "scale_factor": str(TEST_SCALE_FACTOR),
        "start_date": TEST_START_DATE.isoformat(),
        "home": str(home),
        **overrides,
    }
    return {
        "retail_settings": RetailSettings(**settings),
        "ledger_duckdb": DuckDBResource(database=str(ledger_path(home / "state"))),
    }


def run_bronze(instance, res, partition_key: str | None = None, tags=None, raise_on_error: bool = True):
    return dg.materialize(
        [bronze_batch, dimensions],
        selection=list(BRONZE_BATCH_KEYS.values()),
        instance=instance,
        resources=res,
        partition_key=partition_key,
        tags=tags,
        raise_on_error=raise_on_error,
    )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures, "expected a step failure"
    return failures[0].step_failure_data.error.message


def versions(lake_root: str) -> dict[str, int | None]:
    return {t: delta.table_version(delta.table_uri(lake_root, "cusn", t)) for t in ALL_TABLES}


def uri(lake_root: str, table: str) -> str:
    return delta.table_uri(lake_root, "cusn", table)


@pytest.fixture
def instance() -> dg.DagsterInstance:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def home(retail_env) -> Path:
    return retail_env.home


@pytest.fixture
def lake(retail_env) -> str:
    return retail_env.lake_root


@pytest.fixture
def with_dims(instance, home) -> dict[str, object]:
    res = resources(home)
    result = dg.materialize([dimensions], instance=instance, resources=res)
    assert result.success
    return res


def test_dimensions_materialize_with_row_counts_and_schema(instance, with_dims, lake) -> None:
    for name, key in DIM_KEYS.items():
        event = instance.get_latest_materialization_event(key)
        assert event is not None, name
        meta = event.asset_materialization.metadata
        rows = delta.read_table(uri(lake, name)).num_rows
        assert rows > 0
        assert meta["dagster/row_count"].value == rows
        schema = meta["dagster/column_schema"].schema
        assert [c.name for c in schema.columns] == DIMENSION_TABLES[name].column_names


def test_two_partitions_materialize_with_metadata_matching_the_lake(instance, with_dims, lake) -> None:
    result = run_bronze(instance, with_dims, tags={RANGE_START: DAY1.isoformat(), RANGE_END: DAY2.isoformat()})
    assert result.success
    events = result.get_asset_materialization_events()
    assert {(e.asset_key, e.partition) for e in events} == {
        (key, d.isoformat()) for key in BRONZE_BATCH_KEYS.values() for d in (DAY1, DAY2)
    }
    for event in events:
        name = event.asset_key.path[-1]
        meta = event.materialization.metadata
        day = date.fromisoformat(event.partition)
        assert meta["dagster/row_count"].value == delta.partition_row_counts(uri(lake, name)).get(day, 0)
        assert [c.name for c in meta["dagster/column_schema"].schema.columns] == FACT_TABLES[name].column_names
        assert meta["dagster/uri"].value == uri(lake, name)
        if meta["dagster/row_count"].value:
            low, high = meta["event_ts_min"].value, meta["event_ts_max"].value
            start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
            assert start <= low <= high < start + 86400, name
    receipts = instance.get_materialized_partitions(BRONZE_BATCH_KEYS["fact_receipts"])
    assert receipts == {DAY1.isoformat(), DAY2.isoformat()}


def test_a_chain_of_several_shards_makes_its_days_in_shards_with_the_one_piece_rows(
    instance, tmp_path, monkeypatch
) -> None:
    """Above one shard's stores the assets make each day shard after shard in their own process, so a
    backfill at sf 30 runs in one shard's memory; the rows are those of the day made in one piece."""
    from retail_assets import pipeline, sharded_pipeline
    from retail_assets.config import DatasetSettings, HomeSettings
    from retail_assets_tests.lake.test_sharded_pipeline import _day_rows

    sf = "0.2"  # 4 DCs; the policy is asked for 3 shards, as a chain of ~200 stores would be
    asked: list[int] = []
    monkeypatch.setattr(sharded_pipeline, "shard_count_for", lambda stores: asked.append(stores) or 3)
    sharded_home, reference = tmp_path / "sharded", HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(tmp_path / "ref")})
    res = resources(sharded_home, scale_factor=sf)
    assert dg.materialize([dimensions], instance=instance, resources=res).success
    result = run_bronze(instance, res, tags={RANGE_START: DAY1.isoformat(), RANGE_END: DAY2.isoformat()})
    assert result.success
    assert asked and asked[0] > 1, "the shard count comes from the chain's stores"
    lake = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(sharded_home)})
    receipts = delta.open_table(uri(lake.lake_root, "fact_receipts"))
    assert len(receipts.file_uris([("event_date", "=", DAY1.isoformat())])) == 3, "a file per shard"
    settings = DatasetSettings(seed=TEST_SEED, scale_factor=float(sf), start_date=TEST_START_DATE)
    pipeline.build_and_write_dimensions(reference, settings)
    for day in (DAY1, DAY2):
        pipeline.generate_and_write_day(reference, settings, day, "batch", owner="one-piece")
        for name in (*FACT_TABLES, "ctl_state_inventory", "ctl_state_schedule"):
            assert _day_rows(lake, name, day).equals(_day_rows(reference, name, day)), f"{name} {day}"
        assert Ledger(lake.state_dir).day_record(day).generated
    counts = {
        (e.asset_key.path[-1], e.partition): e.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events()
    }
    for (name, day), rows in counts.items():
        assert rows == delta.partition_row_counts(uri(lake.lake_root, name)).get(date.fromisoformat(day), 0)
    assert len(counts) == 2 * len(FACT_TABLES) and sum(counts.values()) > 0


def test_rematerializing_a_partition_keeps_counts_and_other_partitions(instance, with_dims, lake) -> None:
    run_bronze(instance, with_dims, tags={RANGE_START: DAY1.isoformat(), RANGE_END: DAY2.isoformat()})
    counts = {t: delta.partition_row_counts(uri(lake, t)) for t in FACT_TABLES}
    day1 = {t: delta.read_table(uri(lake, t), FACT_TABLES[t].arrow_schema, partition_value=DAY1) for t in FACT_TABLES}
    assert run_bronze(instance, with_dims, partition_key=DAY2.isoformat()).success
    for t in FACT_TABLES:
        assert delta.partition_row_counts(uri(lake, t)) == counts[t], t
        again = delta.read_table(uri(lake, t), FACT_TABLES[t].arrow_schema, partition_value=DAY1)
        assert again.equals(day1[t]), t


def test_a_stream_claimed_day_is_refused_and_nothing_changes(instance, with_dims, home, lake) -> None:
    assert run_bronze(instance, with_dims, partition_key=DAY1.isoformat()).success
    Ledger(home / "state").claim(DAY2, "stream", "streaming-run")
    before = versions(lake)
    result = run_bronze(instance, with_dims, partition_key=DAY2.isoformat(), raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "day 2024-01-02 is owned by the streaming path" in message
    assert "batch re-generation is refused" in message
    assert versions(lake) == before
    assert instance.get_materialized_partitions(BRONZE_BATCH_KEYS["fact_receipts"]) == {DAY1.isoformat()}


def test_a_range_that_fails_part_way_keeps_the_days_already_done(instance, with_dims, home, lake) -> None:
    day3 = DAY2 + timedelta(days=1)
    Ledger(home / "state").claim(day3, "stream", "streaming-run")
    tags = {RANGE_START: DAY1.isoformat(), RANGE_END: day3.isoformat()}
    result = run_bronze(instance, with_dims, tags=tags, raise_on_error=False)
    assert not result.success
    assert "day 2024-01-03 is owned by the streaming path" in failure_message(result)
    done = {DAY1.isoformat(), DAY2.isoformat()}
    assert instance.get_materialized_partitions(BRONZE_BATCH_KEYS["fact_receipts"]) == done
    assert set(delta.partition_row_counts(uri(lake, "fact_receipts"))) == {DAY1, DAY2}


@pytest.mark.parametrize("key", ["2023-12-31", "not-a-date"])
def test_a_partition_key_outside_the_partitions_is_rejected(instance, with_dims, lake, key) -> None:
    before = versions(lake)
    with pytest.raises(DagsterUnknownPartitionError) as info:
        run_bronze(instance, with_dims, partition_key=key)
    assert key in str(info.value)
    assert versions(lake) == before


def test_missing_previous_day_fails_with_the_backfill_to_run(instance, with_dims, lake) -> None:
    before = versions(lake)
    result = run_bronze(instance, with_dims, partition_key=DAY2.isoformat(), raise_on_error=False)
    assert "--partition-range 2024-01-01...2024-01-02" in failure_message(result)
    assert versions(lake) == before


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"scale_factor": "0"}, "must be > 0"),
        ({"scale_factor": "-1"}, "must be > 0"),
        ({"start_date": "01/02/2024"}, "ISO format"),
        ({"seed": "forty-two"}, "not an integer"),
    ],
)
def test_bad_settings_fail_the_run_with_the_fix(instance, home, lake, override, expected) -> None:
    result = dg.materialize([dimensions], instance=instance, resources=resources(home, **override), raise_on_error=False)
    assert not result.success
    assert expected in failure_message(result)
    assert all(v is None for v in versions(lake).values())


def test_unwritable_lake_fails_and_leaves_tables_as_they_were(instance, with_dims, tmp_path, home, lake) -> None:
    assert run_bronze(instance, with_dims, partition_key=DAY1.isoformat()).success
    before = versions(lake)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the lake should be")
    res = resources(home, lake_root=str(blocker / "lake"))
    result = dg.materialize([dimensions], instance=instance, resources=res, raise_on_error=False)
    assert "is a file, not a directory" in failure_message(result)
    assert versions(lake) == before
    assert blocker.read_text() == "a file where the lake should be"


def test_corrupted_state_snapshot_fails_clearly_and_changes_nothing(instance, with_dims, lake) -> None:
    assert run_bronze(instance, with_dims, partition_key=DAY1.isoformat()).success
    spec = CONTROL_TABLES["ctl_state_schedule"]
    state_uri = uri(lake, "ctl_state_schedule")
    schedule = delta.read_table(state_uri, spec.arrow_schema, partition_value=DAY1, partition_col="state_date")
    inv_spec = CONTROL_TABLES["ctl_state_inventory"]
    inv_uri = uri(lake, "ctl_state_inventory")
    inventory = delta.read_table(inv_uri, inv_spec.arrow_schema, partition_value=DAY1, partition_col="state_date")
    # Corrupt: drop half of the inventory rows (a truncated snapshot no longer matches the dimensions).
    delta.replace_partition(inv_uri, inventory.slice(0, inventory.num_rows // 2), inv_spec.arrow_schema, DAY1, "state_date")
    before = versions(lake)
    result = run_bronze(instance, with_dims, partition_key=DAY2.isoformat(), raise_on_error=False)
    message = failure_message(result)
    assert "ctl_state_inventory" in message
    assert "re-materialize day 2024-01-01" in message
    assert versions(lake) == before
    assert schedule.num_rows == delta.read_table(state_uri, spec.arrow_schema, partition_value=DAY1, partition_col="state_date").num_rows


def test_each_day_depends_on_its_own_previous_partition() -> None:
    deps = {dep.asset_key: dep for dep in bronze_batch.specs_by_key[BRONZE_BATCH_KEYS["fact_receipts"]].deps}
    assert deps[BRONZE_BATCH_KEYS["fact_receipts"]].partition_mapping == PREVIOUS_DAY
    assert set(DIM_KEYS.values()) <= set(deps)
    assert bronze_batch.backfill_policy == dg.BackfillPolicy.single_run()
    assert bronze_batch.partitions_def == daily_partitions


def test_the_schedule_targets_the_batch_job_and_skips_in_a_home_without_a_calendar() -> None:
    defs = dg.Definitions(
        assets=[dimensions, bronze_batch],
        jobs=[daily_generation_job],
        schedules=[daily_generation_schedule],
        resources=resources(Path("/nonexistent-home-never-written")),
    )
    schedule = defs.resolve_schedule_def(DAILY_GENERATION_SCHEDULE)
    assert schedule.job_name == DAILY_GENERATION_JOB
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2024, 3, 10, 0, 15, tzinfo=UTC))
    result = schedule.evaluate_tick(context)  # the suite's home has no calendar (see conftest)
    assert not result.run_requests and "calendar init" in result.skip_message


def test_the_code_location_loads_with_the_batch_job_and_schedule() -> None:
    from retail_assets.definitions import defs

    loaded = defs()
    assert loaded.resolve_job_def(DAILY_GENERATION_JOB) is not None
    assert loaded.resolve_schedule_def(DAILY_GENERATION_SCHEDULE).job_name == DAILY_GENERATION_JOB
    keys = set(loaded.resolve_all_asset_keys())
    assert set(BRONZE_BATCH_KEYS.values()) | set(DIM_KEYS.values()) <= keys
