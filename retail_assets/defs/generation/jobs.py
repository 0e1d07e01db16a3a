"""The daily batch job and the schedule that runs it for the day that just ended.

The job targets exactly the Bronze batch assets (dimensions are materialized once, by hand or
by the demo). It runs in process: the whole day is one step, so a subprocess per step would only
add start-up time, and one process keeps DuckDB file access simple.
"""

from __future__ import annotations

import dagster as dg

from retail_assets.defs.keys import BRONZE_BATCH_KEYS
from retail_assets.defs.partitions import daily_partitions

DAILY_GENERATION_JOB = "daily_generation_job"
DAILY_GENERATION_SCHEDULE = "daily_generation_schedule"

daily_generation_job = dg.define_asset_job(
    name=DAILY_GENERATION_JOB,
    selection=dg.AssetSelection.assets(*BRONZE_BATCH_KEYS.values()),
    partitions_def=daily_partitions,
    executor_def=dg.in_process_executor,
    description="Generate one day (or a range, in one run) of every Bronze batch fact table.",
)

daily_generation_schedule = dg.build_schedule_from_partitioned_job(
    daily_generation_job,
    name=DAILY_GENERATION_SCHEDULE,
    hour_of_day=0,
    minute_of_hour=15,
    description="Shortly after midnight UTC, generate the day that just ended.",
)
