"""The one daily partitions definition every partitioned asset, check and job shares."""

from __future__ import annotations

import os

import dagster as dg

from retail_assets.config import DEFAULT_START_DATE, parse_start_date

START_DATE = parse_start_date(os.environ.get("RETAIL_ASSETS_START_DATE", DEFAULT_START_DATE.isoformat()))

daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE.isoformat(), timezone="UTC")
