"""``retail-assets backfill --workers N``: a range of days, one ``sharded_generation_job`` run each,
in date order, each day's shards on N worker processes.

Why next to the single-run backfill: the ``bronze_batch`` assets make a large chain's day in shards
one after the other in one process (bounded memory, one core); this makes them on N cores through
Dagster's multiprocess executor, the same job the UI launches. The runs execute in this process
(``execute_job``), so the executor's forkserver, which imports the code location once, starts once
for the whole backfill instead of once per day as it does for a run the daemon launches. A day that
fails stops the backfill: every later day needs its carried state.
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import date, timedelta

import dagster as dg

from retail_assets.backfill.progress import BackfillProgress
from retail_assets.backfill.run_failure import failure_text
from retail_assets.config import HomeSettings
from retail_assets.defs.generation.backfill_runs import CLI_BACKFILL_DAYS_TAG, CLI_BACKFILL_TAG, ROWS_TAG
from retail_assets.defs.partition_tags import PARTITION_TAG

QUIET_LOGGERS = {"console": {"config": {"log_level": "CRITICAL"}}}
"""Dagster's console logger stays silent: a day that fails is reported once, by the line that says
what to do next, not also as the run's events with their stack traces (those are in the UI)."""


def resolved_sharded_job() -> dg.JobDefinition:
    """Module-level, so each step worker can rebuild the job with its resources (``reconstructable``)."""
    from retail_assets.definitions import defs
    from retail_assets.defs.generation.sharded import SHARDED_GENERATION_JOB

    return defs().get_job_def(SHARDED_GENERATION_JOB)


def sharded_run_config(shards: int, workers: int) -> dict:
    from retail_assets.defs.generation.sharded import WORKERS_FROM_A_PRELOADED_FORKSERVER

    forkserver = WORKERS_FROM_A_PRELOADED_FORKSERVER["execution"]["config"]
    return {
        "ops": {"plan_shards": {"config": {"shards": shards, "steps": workers}}},
        "execution": {"config": {**forkserver, "max_concurrent": workers}},
        "loggers": QUIET_LOGGERS,
    }


def default_shards(home: HomeSettings, workers: int) -> int:
    """About one shard per 90 stores (``sharded_pipeline.day_shard_count``), and at least one per worker."""
    from retail_assets import sharded_pipeline
    from retail_assets.config import DatasetSettings

    return max(workers, sharded_pipeline.day_shard_count(home, DatasetSettings.from_env(whole_day=False), None))


def _fail_runs_of_killed_backfills(instance: dg.DagsterInstance) -> None:
    """An earlier ``--workers`` backfill killed mid-day (SIGKILL, a reboot) left its run STARTED, and
    the UI would show it running for ever: mark it failed now that its process is gone."""
    from retail_assets.defs.orphaned_runs import fail_orphaned_runs

    failed = fail_orphaned_runs(instance, time.time(), grace_seconds=0, cli_runs_only=True)
    if failed:
        print(f"marked failed {len(failed)} run(s) of an earlier backfill whose process is gone: {', '.join(failed)}",
              flush=True)  # fmt: skip


def run_sharded_backfill(start: date, end: date, workers: int, shards: int | None) -> int:
    """Run the days ``start``..``end`` one sharded run each, in date order; 0 when all succeeded."""
    from retail_assets.defs.generation.sharded import ShardPlanConfig, shard_count
    from retail_assets.demo import ensure_dagster_home

    home = HomeSettings.from_env()
    dagster_home = ensure_dagster_home(home)
    days = [start + timedelta(n) for n in range((end - start).days + 1)]
    backfill_id = f"cli-{uuid.uuid4().hex[:8]}"
    shards = shard_count(ShardPlanConfig(shards=shards or default_shards(home, workers), steps=workers))
    print(
        f"retail-assets backfill: {len(days)} day(s) {start}..{end}, one sharded_generation_job run each, "
        f"{shards} shards on {workers} worker process(es) (backfill {backfill_id}, Dagster instance {dagster_home})",
        flush=True,
    )
    progress = BackfillProgress(total_days=len(days))
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        _fail_runs_of_killed_backfills(instance)
        for day in days:
            result = dg.execute_job(
                dg.reconstructable(resolved_sharded_job),
                instance=instance,
                run_config=sharded_run_config(shards, workers),
                tags={
                    PARTITION_TAG: day.isoformat(),
                    CLI_BACKFILL_TAG: backfill_id,
                    CLI_BACKFILL_DAYS_TAG: str(len(days)),
                },
            )
            if not result.success:
                print(
                    f"error: {day} failed (run {result.run_id}) after {time.perf_counter() - started:.1f} s: "
                    f"{failure_text(result)}; the days after it were not started (each needs the "
                    f"day before). Fix the cause, then run again from --start {day}.",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            run = instance.get_run_by_id(result.run_id)
            rows = int(run.tags.get(ROWS_TAG, "0")) if run else 0
            print(progress.day_done(day, rows), flush=True)
    print(f"the runs of backfill {backfill_id} succeeded: {len(days)} day(s) in {time.perf_counter() - started:.1f} s", flush=True)
    return 0
