"""One ``sharded_generation_job`` run in a process of its own, as Dagster's run worker runs it.

Why a fresh process: the job's default start method is a forkserver, and a process keeps ONE
forkserver for its life, with the environment it had when it started. A test process that already
started one (the crash matrix does) would hand this run workers that see another test's
``RETAIL_ASSETS_HOME``. A run worker never has that problem: it is a new process per run.

Usage: ``python -m retail_assets_tests.defs.sharded_run_child DAY SHARDS STEPS``; the run's
environment (home, dataset, ``DAGSTER_HOME``) comes from the caller. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys

import dagster as dg

from retail_assets.defs.generation.sharded import WORKERS_FROM_A_PRELOADED_FORKSERVER
from retail_assets.defs.keys import BRONZE_BATCH_KEYS


def sharded_job() -> dg.JobDefinition:
    """Module-level, so the executor's workers can rebuild the job (with its resources)."""
    from retail_assets import definitions
    from retail_assets.defs.generation.sharded import SHARDED_GENERATION_JOB

    return definitions.defs().get_job_def(SHARDED_GENERATION_JOB)


def main(day: str, shards: int, steps: int) -> dict:
    executor = {**WORKERS_FROM_A_PRELOADED_FORKSERVER["execution"]["config"], "max_concurrent": steps}
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            dg.reconstructable(sharded_job),
            instance=instance,
            run_config={
                "ops": {"plan_shards": {"config": {"shards": shards, "steps": steps}}},
                "execution": {"config": executor},  # the job's default start method plus the workers
            },
            tags={"dagster/partition": day},
        )
        out: dict = {"success": result.success, "run_id": result.run_id}
        if result.success:
            event = instance.get_latest_materialization_event(BRONZE_BATCH_KEYS["fact_receipts"])
            meta = event.asset_materialization.metadata
            out |= {
                "partition": event.asset_materialization.partition,
                "shards": meta["shards"].value,
                "worker_processes": meta["worker_processes"].value,
            }
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
