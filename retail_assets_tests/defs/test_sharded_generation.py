"""The sharded Bronze job on Dagster's multiprocess executor: shards run in several worker
processes and land exactly the rows of the one-process pipeline (contract §8.5)."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pytest

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.defs.generation.sharded import SHARDED_GENERATION_JOB, WORKERS_FROM_A_PRELOADED_FORKSERVER
from retail_assets.defs.keys import BRONZE_BATCH_KEYS
from retail_assets.lake.ledger import Ledger
from retail_assets_tests.lake.test_sharded_pipeline import STATE_KEYS, _day_rows

START = date(2024, 1, 1)
SF = 0.2  # 4 DCs
SETTINGS = DatasetSettings(seed=42, scale_factor=SF, start_date=START)


def sharded_job() -> dg.JobDefinition:
    """Module-level, so the multiprocess executor's workers can rebuild the job (with its resources)."""
    from retail_assets import definitions

    return definitions.defs().get_job_def(SHARDED_GENERATION_JOB)


@pytest.fixture
def env_home(tmp_path, monkeypatch) -> HomeSettings:
    monkeypatch.setenv("RETAIL_ASSETS_HOME", str(tmp_path / "sharded"))
    monkeypatch.setenv("RETAIL_ASSETS_SCALE_FACTOR", str(SF))
    monkeypatch.setenv("RETAIL_ASSETS_START_DATE", START.isoformat())
    monkeypatch.setenv("RETAIL_ASSETS_SEED", "42")
    monkeypatch.delenv("RETAIL_ASSETS_LAKE_ROOT", raising=False)
    return HomeSettings.from_env()


def test_the_job_offers_workers_forked_from_a_preloaded_server_by_default():
    run_config = sharded_job().partitioned_config.get_run_config_for_partition_key("2024-01-05")
    start_method = run_config["execution"]["config"]["start_method"]
    assert start_method == {"forkserver": {"preload_modules": ["retail_assets.worker_preload"]}}


def test_two_worker_processes_land_the_one_process_rows(env_home, tmp_path):
    reference = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(tmp_path / "one_process")})
    pipeline.build_and_write_dimensions(reference, SETTINGS)
    pipeline.build_and_write_dimensions(env_home, SETTINGS)
    days = [START, START + timedelta(days=1)]
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        for day in days:
            pipeline.generate_and_write_day(reference, SETTINGS, day, "batch", owner="test")
            result = dg.execute_job(
                dg.reconstructable(sharded_job),
                instance=instance,
                run_config={
                    "ops": {"plan_shards": {"config": {"shards": 3, "steps": 2}}},
                    # the job's default start method (what the Launchpad offers) plus two workers
                    "execution": {"config": {**WORKERS_FROM_A_PRELOADED_FORKSERVER["execution"]["config"],
                                             "max_concurrent": 2}},
                },
                tags={"dagster/partition": day.isoformat()},
            )
            assert result.success
            event = instance.get_latest_materialization_event(BRONZE_BATCH_KEYS["fact_receipts"])
            meta = event.asset_materialization.metadata
            assert event.asset_materialization.partition == day.isoformat()
            assert meta["shards"].value == 3
            assert meta["worker_processes"].value >= 2, "the shards must run in several processes"
    for day in days:
        for name in (*FACT_TABLES, *STATE_KEYS):
            assert _day_rows(env_home, name, day).equals(_day_rows(reference, name, day)), f"{name} {day}"
        assert Ledger(env_home.state_dir).day_record(day).generated
