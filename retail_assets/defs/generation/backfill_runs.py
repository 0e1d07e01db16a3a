"""Progress of a backfill made of one run per day (``sharded_generation_job``), counted from its runs.

Why: a backfill of the sharded job (the UI's *Launch backfill*, ``dagster job backfill``, or
``retail-assets backfill --workers N``) launches one run per day, and no run sees the others, so no
run can keep a :class:`~retail_assets.backfill.progress.BackfillProgress` of its own. Each day's
commit instead counts what the instance already records: the backfill's days (the job backfill's
partition names, or the CLI's tag), its runs that succeeded (their rows are a tag the commit step
sets) or failed, and the start of its first run. The line is the same as a single-run backfill's.
"""

from __future__ import annotations

import time
from datetime import date

import dagster as dg

from retail_assets.backfill.progress import progress_line
from retail_assets.defs.partition_tags import BACKFILL_TAG, PARTITION_TAG

ROWS_TAG = "retail_assets/rows"
"""Rows a run committed (all Bronze batch tables of its day): what later runs of its backfill add up."""
CLI_BACKFILL_TAG = "retail_assets/backfill"
"""Set by ``retail-assets backfill --workers``: the runs of one CLI backfill (Dagster's own
``dagster/backfill`` tag marks the runs of a backfill the daemon launched)."""
CLI_BACKFILL_DAYS_TAG = "retail_assets/backfill_days"
"""The number of days of that CLI backfill."""

_FINISHED_BADLY = [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def _backfill(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[str, str, int] | None:
    """(tag, id, days) of the backfill ``run`` belongs to, or None for a run of its own."""
    if run.tags.get(CLI_BACKFILL_TAG) and run.tags.get(CLI_BACKFILL_DAYS_TAG, "").isdigit():
        return CLI_BACKFILL_TAG, run.tags[CLI_BACKFILL_TAG], int(run.tags[CLI_BACKFILL_DAYS_TAG])
    backfill_id = run.tags.get(BACKFILL_TAG)
    if not backfill_id:
        return None
    backfill = instance.get_backfill(backfill_id)
    if backfill is None or not backfill.partition_names:  # an asset backfill: its runs span ranges
        return None
    return BACKFILL_TAG, backfill_id, len(backfill.partition_names)


def record_day(instance: dg.DagsterInstance, run: dg.DagsterRun, day: date, rows: int) -> str | None:
    """Tag ``run`` with the rows it committed for ``day``; the backfill's progress line, or None when
    the run is not part of a backfill of one run per day."""
    instance.add_run_tags(run.run_id, {ROWS_TAG: str(rows)})
    backfill = _backfill(instance, run)
    if backfill is None:
        return None
    tag, backfill_id, total_days = backfill
    records = instance.get_run_records(filters=dg.RunsFilter(tags={tag: backfill_id}))
    done_rows: dict[str, int] = {day.isoformat(): rows}
    failed: set[str] = set()
    for record in records:
        other = record.dagster_run
        partition = other.tags.get(PARTITION_TAG)
        if other.run_id == run.run_id or partition is None:
            continue
        if other.status == dg.DagsterRunStatus.SUCCESS and other.tags.get(ROWS_TAG, "").isdigit():
            done_rows.setdefault(partition, int(other.tags[ROWS_TAG]))  # newest first: a re-run's rows count
        elif other.status in _FINISHED_BADLY:
            failed.add(partition)
    failed -= done_rows.keys()  # a day that failed and then succeeded (re-executed) is done
    starts = [r.start_time for r in records if r.start_time is not None]
    elapsed = time.time() - min(starts) if starts else 0.0
    return progress_line(
        day, rows, len(done_rows), max(total_days, len(done_rows)), sum(done_rows.values()), elapsed, len(failed)
    )
