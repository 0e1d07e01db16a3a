"""Bronze days in shards on Dagster's multiprocess executor (contract §8.5, ARCHITECTURE "Scale").

Why a job of ops next to the ``bronze_batch`` asset: a day of a large scale factor does not fit in
one process, and its shards (whole DCs) are independent. ``plan_shards`` claims the day and fans out
the shards over a few steps; the executor runs ``generate_shards`` steps in parallel worker processes (here
the multiprocess executor; on a cluster the k8s or celery executor, unchanged); ``commit_shards``
collects their staged files and commits each table-day once, then reports the same Bronze asset
partitions ``bronze_batch`` would (so the asset graph shows one history whichever way a day was
made). The op outputs that cross processes are small descriptors, never rows.

Run: ``dagster job execute -m retail_assets.definitions -j sharded_generation_job --tags
'{"dagster/partition": "2024-01-05"}' -c shards.yaml`` (``ops.plan_shards.config.shards: 8``) or from
the Launchpad; ``max_concurrent`` of the executor sets the worker processes (default: CPU count); set ``steps``
to the same number.
"""

import os
from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from retail_assets import pipeline, sharded_pipeline
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.defs.generation import backfill_runs
from retail_assets.defs.generation.assets import ledger_for, resolve_settings
from retail_assets.defs.generation.one_at_a_time import GENERATION_POOL, ledger_owner, refusal
from retail_assets.defs.keys import BRONZE_BATCH_KEYS
from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.resources import RetailSettings

SHARDED_GENERATION_JOB = "sharded_generation_job"


class ShardPlanConfig(dg.Config):
    shards: int = 2
    """Shards of the day (whole DCs each); more shards = less memory per worker, same rows."""
    steps: int = 2
    """Parallel steps the shards are dealt to (one worker process each; set to the executor's
    ``max_concurrent``). A step makes its shards one after the other, so its memory is one shard's
    and its start-up cost (process, code location, dimensions) is paid once, not per shard."""


def shard_count(config: ShardPlanConfig) -> int:
    """The shards asked for, rounded up to a multiple of the steps, so that every step makes as many.

    Why: the steps run in parallel and the day waits for the last one; 29 shards on 2 steps made one
    step do 15 and the other 14 (sf 30: 30.1 s against 27.9 s). A shard's rows do not depend on the
    shard count (contract §8.5), and more shards only make each one smaller."""
    steps = max(1, config.steps)
    return max(1, -(-config.shards // steps) * steps)


def _day(context: dg.OpExecutionContext) -> date:
    try:
        return date.fromisoformat(context.partition_key)
    except (dg.DagsterInvariantViolationError, ValueError) as exc:
        raise dg.Failure(
            description="sharded_generation_job runs for one day: launch it for a partition (tag "
            f"dagster/partition, e.g. 2024-01-05) ({exc})."
        ) from exc


@dg.op(out={"shards": dg.DynamicOut(list), "plan": dg.Out(list)}, pool=GENERATION_POOL)
def plan_shards(
    context: dg.OpExecutionContext,
    config: ShardPlanConfig,
    retail_settings: RetailSettings,
    ledger_duckdb: DuckDBResource,
):
    """Refuse what can be refused, claim the day, fan out one step per shard."""
    settings, home = resolve_settings(retail_settings)
    day = _day(context)
    try:
        shards = sharded_pipeline.begin_day(
            home, settings, day, ledger_owner(context.run.run_id), shard_count(config),
            ledger=ledger_for(home, ledger_duckdb),
        )  # fmt: skip
    except pipeline.USER_FIXABLE_ERRORS as exc:
        raise refusal(exc, day, context.instance) from exc
    context.log.info(
        f"{day}: {len(shards)} shards (asked: {config.shards}, {config.steps} steps) of DCs "
        f"{[list(s.dc_ids) for s in shards]}"
    )
    yield dg.Output(shards, output_name="plan")
    steps = max(1, min(config.steps, len(shards)))
    for step in range(steps):
        mine = shards[step::steps]  # round robin: neighbouring shards (similar size) go to different steps
        yield dg.DynamicOutput(mine, mapping_key=f"step_{step}", output_name="shards")


@dg.op(pool=GENERATION_POOL)
def generate_shards(
    context: dg.OpExecutionContext, shards: list, retail_settings: RetailSettings
) -> list:
    """Generate this step's shards one after the other and stage their files (a worker process)."""
    settings, home = resolve_settings(retail_settings)
    day = _day(context)
    outputs = []
    for shard in shards:
        try:
            out = sharded_pipeline.generate_shard(home, settings, day, shard)
        except pipeline.USER_FIXABLE_ERRORS as exc:
            raise refusal(exc, day, context.instance) from exc
        context.log.info(
            f"shard {shard.index} (DCs {list(shard.dc_ids)}): {sum(out.row_counts.values()):,} rows in "
            f"{out.seconds:.1f} s, peak RSS {out.peak_rss_mib:,.0f} MiB, pid {os.getpid()}"
        )
        outputs.append(out)
    return outputs


@dg.op(pool=GENERATION_POOL)
def commit_shards(
    context: dg.OpExecutionContext,
    plan: list,
    step_outputs: list,
    retail_settings: RetailSettings,
    ledger_duckdb: DuckDBResource,
) -> None:
    """One Delta commit per table-day of every shard's files, the state, the manifest, the mark."""
    settings, home = resolve_settings(retail_settings)
    shard_outputs: list[sharded_pipeline.ShardOutput] = [o for step in step_outputs for o in step]
    day = _day(context)
    try:
        counts = sharded_pipeline.commit_day(
            home, settings, day, plan, shard_outputs, ledger=ledger_for(home, ledger_duckdb)
        )
    except pipeline.USER_FIXABLE_ERRORS as exc:
        raise refusal(exc, day, context.instance) from exc
    peak = max(o.peak_rss_mib for o in shard_outputs)
    for name, key in BRONZE_BATCH_KEYS.items():
        context.log_event(
            dg.AssetMaterialization(
                asset_key=key,
                partition=day.isoformat(),
                metadata={
                    "dagster/row_count": dg.MetadataValue.int(counts[name]),
                    "shards": dg.MetadataValue.int(len(shard_outputs)),
                    "worker_processes": dg.MetadataValue.int(len({o.pid for o in shard_outputs})),
                    "largest_worker_peak_rss_mib": dg.MetadataValue.float(round(peak, 1)),
                    "path": dg.MetadataValue.text("batch"),
                },
            )
        )
    context.log.info(
        f"{day}: {sum(counts.values()):,} rows of {len(FACT_TABLES)} tables committed from "
        f"{len(shard_outputs)} shards; largest worker peak RSS {peak:,.0f} MiB"
    )
    _log_backfill_progress(context, day, sum(counts.values()))


def _log_backfill_progress(context: dg.OpExecutionContext, day: date, rows: int) -> None:
    """The backfill's progress line (days done, rows/s, ETA) when this run is one day of one; the
    day is committed by then, so a failure here is a warning, never the run's failure."""
    try:
        line = backfill_runs.record_day(context.instance, context.run, day, rows)
    except Exception as exc:  # the instance briefly unreachable: the day itself has landed
        context.log.warning(f"no backfill progress for {day}: {exc!r}")
        return
    if line is not None:
        context.log.info(line)


# Default run config (editable in the Launchpad): workers are forked from a server that has already
# imported the code location, so a step starts in a fraction of a second instead of paying a fresh
# interpreter and the imports (the fixed, serial part that limits the 1 -> 2 worker speed-up).
# A process keeps one forkserver for its life, with the environment it started with: right for a run
# worker (a new process per run); a long-lived process that runs this job under several environments
# (a notebook, a test session) should run it in a subprocess or choose spawn.
WORKERS_FROM_A_PRELOADED_FORKSERVER = {
    "execution": {
        "config": {"start_method": {"forkserver": {"preload_modules": ["retail_assets.worker_preload"]}}}
    }
}


@dg.job(
    name=SHARDED_GENERATION_JOB,
    partitions_def=daily_partitions,
    executor_def=dg.multiprocess_executor,
    config=WORKERS_FROM_A_PRELOADED_FORKSERVER,
    description="Generate one Bronze day in shards of whole DCs, in parallel worker processes, one commit per table.",
)
def sharded_generation_job() -> None:
    shards, plan = plan_shards()
    commit_shards(plan, shards.map(generate_shards).collect())
