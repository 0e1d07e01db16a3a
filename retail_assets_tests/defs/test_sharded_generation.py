"""The sharded Bronze job on Dagster's multiprocess executor: shards run in several worker
processes and land exactly the rows of the one-process pipeline (contract §8.5). Each run is made in
a process of its own, as Dagster's run worker makes it (see ``sharded_run_child``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta

import pytest

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.defs.generation.sharded import SHARDED_GENERATION_JOB, ShardPlanConfig, shard_count
from retail_assets.lake.ledger import Ledger
from retail_assets_tests.lake.test_sharded_pipeline import STATE_KEYS, _day_rows

START = date(2024, 1, 1)
SF = 0.2  # 4 DCs
SETTINGS = DatasetSettings(seed=42, scale_factor=SF, start_date=START)


@pytest.fixture
def env_home(tmp_path, monkeypatch) -> HomeSettings:
    monkeypatch.setenv("RETAIL_ASSETS_HOME", str(tmp_path / "sharded"))
    monkeypatch.setenv("RETAIL_ASSETS_SCALE_FACTOR", str(SF))
    monkeypatch.setenv("RETAIL_ASSETS_START_DATE", START.isoformat())
    monkeypatch.setenv("RETAIL_ASSETS_SEED", "42")
    monkeypatch.delenv("RETAIL_ASSETS_LAKE_ROOT", raising=False)
    return HomeSettings.from_env()


def test_the_job_offers_workers_forked_from_a_preloaded_server_by_default():
    from retail_assets import definitions

    job = definitions.defs().get_job_def(SHARDED_GENERATION_JOB)
    run_config = job.partitioned_config.get_run_config_for_partition_key("2024-01-05")
    start_method = run_config["execution"]["config"]["start_method"]
    assert start_method == {"forkserver": {"preload_modules": ["retail_assets.worker_preload"]}}


def test_the_forkserver_preload_survives_an_instance_it_cannot_open(tmp_path):
    """The preload's warm-up of the instance must not kill the forkserver (an exception other than
    ImportError there does), or every step fails with a broken pipe instead of the real error."""
    (tmp_path / "dagster.yaml").write_text("storage:\n  not_a_storage: {}\n")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    run = subprocess.run(
        [sys.executable, "-c", "import retail_assets.worker_preload"], env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "the instance was not warmed up" in run.stderr


@pytest.mark.parametrize(
    ("shards", "steps", "planned"), [(29, 2, 30), (30, 2, 30), (3, 2, 4), (5, 1, 5), (1, 4, 4), (7, 3, 9)]
)
def test_every_step_gets_as_many_shards(shards, steps, planned):
    """The day waits for its slowest step, so an uneven deal (15 and 14 shards) costs a shard's time."""
    assert shard_count(ShardPlanConfig(shards=shards, steps=steps)) == planned


def test_two_worker_processes_land_the_one_process_rows(env_home, tmp_path):
    reference = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(tmp_path / "one_process")})
    pipeline.build_and_write_dimensions(reference, SETTINGS)
    pipeline.build_and_write_dimensions(env_home, SETTINGS)
    days = [START, START + timedelta(days=1)]
    (tmp_path / "dagster_home").mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home"), "PYTHONWARNINGS": "ignore"}
    for day in days:
        pipeline.generate_and_write_day(reference, SETTINGS, day, "batch", owner="test")
        run = subprocess.run(
            [sys.executable, "-m", "retail_assets_tests.defs.sharded_run_child", day.isoformat(), "3", "2"],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        out = json.loads(run.stdout.strip().splitlines()[-1])
        assert out["success"], run.stderr[-3000:]
        # 3 shards asked for 2 steps: 4 planned (shard_count); the plan makes at most that many
        # shards of about equal stores from this chain's 4 DCs (3 here)
        assert out["partition"] == day.isoformat() and 3 <= out["shards"] <= 4
        assert out["worker_processes"] >= 2, "the shards must run in several processes"
    for day in days:
        for name in (*FACT_TABLES, *STATE_KEYS):
            assert _day_rows(env_home, name, day).equals(_day_rows(reference, name, day)), f"{name} {day}"
        assert Ledger(env_home.state_dir).day_record(day).generated
