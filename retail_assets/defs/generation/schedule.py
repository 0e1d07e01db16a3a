"""The daily schedule: build the days the calendar offers after the last claimed day, as one run.

At 00:15 UTC the dataset calendar offers one more business day. The schedule asks the ledger for
the last day either path (batch or stream) claimed and requests every offered day after it —
usually one, several after a pause (the schedule was off, a tick failed) — as ONE run over a
partition range: the Bronze batch assets have a single-run backfill policy, and the days must be
built in date order anyway. Nothing new to build, no calendar, or an unreadable ledger: the tick
skips and says why.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from retail_assets.config import HomeSettings
from retail_assets.dataset_calendar import DatasetCalendar
from retail_assets.defs.partition_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

SCHEDULE_CRON = "15 0 * * *"


def days_to_build(calendar: DatasetCalendar, latest_claimed: date | None, wall_day: date) -> tuple[date, date] | None:
    """(first, last) day to build on ``wall_day``: after the last claimed day, through the last offered."""
    first = calendar.start_date if latest_claimed is None else latest_claimed + timedelta(days=1)
    last = calendar.last_offered_day(wall_day)
    return (first, last) if first <= last else None


def _latest_claimed_day(home: HomeSettings) -> date | None:
    from retail_assets.lake.ledger import Ledger

    return Ledger(home.state_dir).latest_claimed_day()


def build_daily_generation_schedule(
    job: dg.UnresolvedAssetJobDefinition, calendar: DatasetCalendar | None, name: str
) -> dg.ScheduleDefinition:
    """The schedule of ``job`` for the home whose calendar is ``calendar`` (None: it skips)."""

    @dg.schedule(
        job=job,
        name=name,
        cron_schedule=SCHEDULE_CRON,
        execution_timezone="UTC",
        description="Shortly after midnight UTC, generate the business days the dataset calendar offers "
        "after the last claimed day (usually one), in one run.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if calendar is None:
            return dg.SkipReason(
                "this home has no dataset calendar, so no business day is due: run `retail-assets calendar "
                "init` (make ui does) and reload the code location."
            )
        when = context.scheduled_execution_time or datetime.now(UTC)
        wall_day = when.astimezone(UTC).date()
        from retail_assets.lake.ledger import LedgerError

        try:
            latest = _latest_claimed_day(HomeSettings.from_env())
        except LedgerError as exc:
            return dg.SkipReason(f"cannot read the generation ledger, nothing requested: {exc}")
        days = days_to_build(calendar, latest, wall_day)
        if days is None:
            return dg.SkipReason(
                f"nothing to build: the last claimed day is {latest}, and the calendar offers business days "
                f"through {calendar.last_offered_day(wall_day)} on {wall_day} (UTC)."
            )
        first, last = (d.isoformat() for d in days)
        if first == last:
            return dg.RunRequest(run_key=first, partition_key=first)
        return dg.RunRequest(
            run_key=f"{first}...{last}", tags={PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last}
        )

    return _schedule
