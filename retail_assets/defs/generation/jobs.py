"""The daily batch job and the schedule that runs it for the days the dataset calendar offers.

The job targets exactly the Bronze batch assets (dimensions are materialized once, by hand or
by the demo). It runs in process: the whole day is one step, so a subprocess per step would only
add start-up time, and one process keeps DuckDB file access simple.
"""

from __future__ import annotations

import dagster as dg

from retail_assets.defs.generation.schedule import build_daily_generation_schedule
from retail_assets.defs.keys import BRONZE_BATCH_KEYS
from retail_assets.defs.partitions import DATASET_CALENDAR, daily_partitions

DAILY_GENERATION_JOB = "daily_generation_job"
DAILY_GENERATION_SCHEDULE = "daily_generation_schedule"

daily_generation_job = dg.define_asset_job(
    name=DAILY_GENERATION_JOB,
    selection=dg.AssetSelection.assets(*BRONZE_BATCH_KEYS.values()),
    partitions_def=daily_partitions,
    executor_def=dg.in_process_executor,
    description="Generate one day (or a range, in one run) of every Bronze batch fact table.",
)

daily_generation_schedule = build_daily_generation_schedule(
    daily_generation_job, DATASET_CALENDAR, DAILY_GENERATION_SCHEDULE
)
