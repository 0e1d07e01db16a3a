"""A backfill of one ``sharded_generation_job`` run per day: its progress counted from its runs, and
``retail-assets backfill --workers N`` (the same runs from the terminal, stopping at a failed day)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import date, timedelta

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill

from retail_assets import pipeline
from retail_assets.backfill.progress import progress_line
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.defs.generation.backfill_runs import (
    CLI_BACKFILL_DAYS_TAG,
    CLI_BACKFILL_TAG,
    ROWS_TAG,
    record_day,
)
from retail_assets.defs.partition_tags import BACKFILL_TAG, PARTITION_TAG
from retail_assets.lake import delta
from retail_assets.lake.paths import table_uri
from retail_assets_tests.conftest import TEST_START_DATE

DAY = date(2024, 3, 1)


def test_a_progress_line_names_the_failed_days_and_leaves_them_out_of_the_eta() -> None:
    line = progress_line(DAY, 10, days_done=2, total_days=5, rows_done=30, elapsed=20.0, failed=1)
    assert line.startswith("backfill 2/5 days (40.0%, 1 failed): 2024-03-01 10 rows; 30 rows at 2 rows/s")
    assert line.endswith("ETA 20s")  # 2 days left (5 - 2 done - 1 failed) at 10 s a day
    assert progress_line(DAY, 10, 4, 5, 40, 8.0, failed=1).endswith("ETA done")


def _run(instance: dg.DagsterInstance, day: date, status: dg.DagsterRunStatus, tags: dict[str, str]) -> dg.DagsterRun:
    run = dg.DagsterRun(job_name="sharded_generation_job", status=status, tags={PARTITION_TAG: day.isoformat(), **tags})
    return instance.add_run(run)


@pytest.mark.parametrize("launched_by", ["daemon", "cli"])
def test_a_days_commit_counts_the_backfills_finished_runs(launched_by: str) -> None:
    days = [DAY + timedelta(n) for n in range(6)]
    with dg.instance_for_test() as instance:
        if launched_by == "daemon":
            instance.add_backfill(
                PartitionBackfill(
                    "bf1", BulkActionStatus.REQUESTED, False, {}, time.time(), partition_names=[d.isoformat() for d in days]
                )
            )
            tags, other = {BACKFILL_TAG: "bf1"}, {BACKFILL_TAG: "bf2"}
        else:
            tags, other = {CLI_BACKFILL_TAG: "cli-1", CLI_BACKFILL_DAYS_TAG: "6"}, {CLI_BACKFILL_TAG: "cli-2", CLI_BACKFILL_DAYS_TAG: "6"}
        _run(instance, days[0], dg.DagsterRunStatus.SUCCESS, {**tags, ROWS_TAG: "100"})
        _run(instance, days[1], dg.DagsterRunStatus.FAILURE, tags)  # failed, then re-run: done
        _run(instance, days[1], dg.DagsterRunStatus.SUCCESS, {**tags, ROWS_TAG: "200"})
        _run(instance, days[2], dg.DagsterRunStatus.CANCELED, tags)  # still failed
        _run(instance, days[3], dg.DagsterRunStatus.SUCCESS, {**other, ROWS_TAG: "999"})  # another backfill
        this = _run(instance, days[4], dg.DagsterRunStatus.STARTED, tags)
        line = record_day(instance, this, days[4], 50)
        assert instance.get_run_by_id(this.run_id).tags[ROWS_TAG] == "50"
        alone = _run(instance, days[5], dg.DagsterRunStatus.STARTED, {})
        assert record_day(instance, alone, days[5], 7) is None  # not part of a backfill: only the tag
        assert instance.get_run_by_id(alone.run_id).tags[ROWS_TAG] == "7"
    assert line is not None
    assert line.startswith(f"backfill 3/6 days (50.0%, 1 failed): {days[4]} 50 rows; 350 rows at ")


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The CLI in a process of its own: the executor's forkserver keeps the environment it started with."""
    return subprocess.run(
        [sys.executable, "-m", "retail_assets.cli", "backfill", *args], env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


def _lake_rows(home, day: date) -> int:
    return sum(
        delta.partition_row_counts(table_uri(home.lake_root, spec), spec.partition_by, day).get(day, 0)
        for spec in FACT_TABLES.values()
    )


def test_cli_backfill_on_workers_runs_a_day_per_run_stops_at_a_failed_day_and_resumes(
    home_settings, dataset_settings, tmp_path
) -> None:
    """A sequence as an operator meets it: a range, then a range whose first day cannot be made (the
    day before it is missing), then the range that fills the gap."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home"), "PYTHONWARNINGS": "ignore"}
    pipeline.build_and_write_dimensions(home_settings, dataset_settings)
    first = _cli("--start", TEST_START_DATE.isoformat(), "--days", "2", "--workers", "2", env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    lines = [line for line in first.stdout.splitlines() if line.startswith("backfill ")]
    assert [line.split(" days")[0] for line in lines] == ["backfill 1/2", "backfill 2/2"]
    assert "2 shards on 2 worker process(es)" in first.stdout

    gap = TEST_START_DATE + timedelta(days=2)
    refused = _cli("--start", (gap + timedelta(days=1)).isoformat(), "--days", "2", "--workers", "2", env=env)
    assert refused.returncode == 1
    assert f"error: {gap + timedelta(days=1)} failed" in refused.stderr
    assert f"re-materialize the 'bronze_batch' partition {gap}" in refused.stderr  # the cause, not a stack trace
    assert "Traceback" not in refused.stderr and "the days after it were not started" in refused.stderr

    resumed = _cli("--start", gap.isoformat(), "--end", (gap + timedelta(days=2)).isoformat(), "--workers", "2", env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "succeeded: 3 day(s)" in resumed.stdout

    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    try:
        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs()
            by_backfill: dict[str, list[dg.DagsterRun]] = {}
            for run in runs:
                by_backfill.setdefault(run.tags[CLI_BACKFILL_TAG], []).append(run)
            assert sorted(len(r) for r in by_backfill.values()) == [1, 2, 3]  # the refused range made one run
            for run in runs:
                if run.status != dg.DagsterRunStatus.SUCCESS:
                    continue
                day = date.fromisoformat(run.tags[PARTITION_TAG])
                assert int(run.tags[ROWS_TAG]) == _lake_rows(home_settings, day) > 0
                logged = [e.user_message for e in instance.all_logs(run.run_id) if e.user_message.startswith("backfill ")]
                assert len(logged) == 1 and re.search(rf"/{run.tags[CLI_BACKFILL_DAYS_TAG]} days .*{day}", logged[0])
    finally:
        del os.environ["DAGSTER_HOME"]
