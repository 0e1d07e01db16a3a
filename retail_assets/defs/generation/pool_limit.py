"""``generation_pool_sensor``: makes sure the instance holds the generation pool's limit before the
queue needs it.

Why: the instance file gives pools a default limit of 1 (``concurrency: pools: default_limit``), but
Dagster writes that limit into the instance's storage only when a queued run first asks for the pool,
and its queue reads the list of limited pools *before* that, once per pass. So on a fresh instance
the first pass that sees generation runs starts all of them: a backfill of ``sharded_generation_job``
over three days, launched first thing on a new home, started its three runs together and the two
later days refused themselves (D−1 still being written). This sensor writes the limit on its first
tick, seconds after the daemon starts, and from then on checks it is there (one query a tick).

An operator who set another limit for the pool (``dagster instance concurrency set``) keeps it.
"""

from __future__ import annotations

import dagster as dg

from retail_assets.defs.generation.one_at_a_time import GENERATION_POOL

GENERATION_POOL_SENSOR = "generation_pool_sensor"


def ensure_generation_pool_limit(instance: dg.DagsterInstance) -> str:
    """Write the pool's default limit into the instance when it is not there yet; says what holds."""
    storage = instance.event_log_storage
    if GENERATION_POOL not in storage.get_concurrency_keys():
        if not instance.global_op_concurrency_default_limit:
            return (
                f"the instance sets no default pool limit, so generation runs of pool {GENERATION_POOL!r} are not "
                "queued one at a time: add `concurrency: pools: {granularity: run, default_limit: 1}` to its "
                "dagster.yaml (as this project's dagster.yaml does), or `dagster instance concurrency set "
                f"{GENERATION_POOL} 1`"
            )
        storage.initialize_concurrency_limit_to_default(GENERATION_POOL)
        return f"wrote the limit of pool {GENERATION_POOL!r} ({instance.global_op_concurrency_default_limit}) into the instance"
    info = storage.get_concurrency_info(GENERATION_POOL)
    return f"pool {GENERATION_POOL!r} is limited to {info.slot_count} run(s) at a time"


@dg.sensor(
    name=GENERATION_POOL_SENSOR,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps the generation pool's limit in the instance, so the queue runs Bronze days one at a time "
    "from its very first pass.",
)
def generation_pool_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    return dg.SkipReason(ensure_generation_pool_limit(context.instance))
