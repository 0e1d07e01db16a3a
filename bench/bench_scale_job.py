"""The sharded generation job for ``bench_scale.py``'s Dagster modes (importable by the workers)."""

import dagster as dg


def sharded_job() -> dg.JobDefinition:
    from retail_assets import definitions
    from retail_assets.defs.generation.sharded import SHARDED_GENERATION_JOB

    return definitions.defs().get_job_def(SHARDED_GENERATION_JOB)
