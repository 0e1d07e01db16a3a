"""The one daily partitions definition every partitioned asset, check and job shares."""

from __future__ import annotations

import os

import dagster as dg

from retail_assets.config import DEFAULT_START_DATE, parse_start_date

START_DATE = parse_start_date(os.environ.get("RETAIL_ASSETS_START_DATE", DEFAULT_START_DATE.isoformat()))

daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE.isoformat(), timezone="UTC")

PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
"""Dagster's run tags for "this run materializes partitions start..end" (what a single-run backfill
sets). Spelled here because Dagster exports them only from a private module; a test pins them."""
