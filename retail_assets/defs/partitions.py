"""The one daily partitions definition every partitioned asset, check and job shares.

Its range comes from the home's dataset calendar (``retail_assets/dataset_calendar``): from the
dataset's start date to the business day the calendar offers today, a constant ``end_offset``
behind the wall clock, so the last partition ("Latest" in the UI) is the next day that can be
built, and one more appears each midnight UTC. Without a calendar file, a fixed window of
``FALLBACK_DAYS`` days from the start date. Read once when the code location loads: after
``retail-assets calendar extend`` reload the code location (``make ui`` restarts do it).
"""

from __future__ import annotations

import os
from datetime import timedelta

import dagster as dg

from retail_assets.config import DEFAULT_START_DATE, HomeSettings, parse_start_date
from retail_assets.dataset_calendar import (
    FALLBACK_DAYS,
    DatasetCalendar,
    load_calendar,
    require_same_start,
)

START_DATE = parse_start_date(os.environ.get("RETAIL_ASSETS_START_DATE", DEFAULT_START_DATE.isoformat()))
HOME = HomeSettings.from_env().home
DATASET_CALENDAR: DatasetCalendar | None = load_calendar(HOME)
if DATASET_CALENDAR is not None:
    require_same_start(DATASET_CALENDAR, START_DATE, HOME)


def daily_partitions_for(calendar: DatasetCalendar | None, start_date=START_DATE) -> dg.DailyPartitionsDefinition:
    """Daily UTC partitions: the calendar's moving window, or the fixed fallback window without one."""
    if calendar is None:
        end = start_date + timedelta(days=FALLBACK_DAYS)  # exclusive
        return dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), end_date=end.isoformat(), timezone="UTC")
    return dg.DailyPartitionsDefinition(
        start_date=calendar.start_date.isoformat(), timezone="UTC", end_offset=calendar.end_offset
    )


daily_partitions = daily_partitions_for(DATASET_CALENDAR)
