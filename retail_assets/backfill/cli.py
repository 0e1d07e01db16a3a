"""``retail-assets backfill --start D (--end D | --days N)``: one generation run over a range of days.

Why one run and not one per day: the Bronze generation of day D reads the carried state of D−1, so
days must run in date order anyway, and one run loads the dimensions once and shows as one
backfill in the UI (``daily_generation_job`` over a partition range, ``BackfillPolicy.single_run``:
exactly what *Materialize → partition range* does). The run is recorded in the persistent instance
(``$RETAIL_ASSETS_HOME/dagster_home``); its per-day progress lines are printed here as they happen.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import date, timedelta

from retail_assets.backfill.progress import PROGRESS_LOGGER
from retail_assets.backfill.run_failure import failure_text

QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
"""Dagster's console logger shows warnings and errors only; progress comes from our own lines."""


class BackfillCliError(ValueError):
    """A bad range: the message names the argument and the fix."""

    user_facing = True


def _iso(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BackfillCliError(f"{flag} {text!r} is not a date; use YYYY-MM-DD, e.g. {flag} 2024-01-01.") from None


def resolve_range(start: date, end: date | None, days: int | None, first: date, last: date) -> tuple[date, date]:
    """The inclusive range to generate, checked against the job's partitions ``first``..``last``."""
    if (end is None) == (days is None):
        raise BackfillCliError("give exactly one of --end YYYY-MM-DD or --days N.")
    if days is not None:
        if days < 1:
            raise BackfillCliError(f"--days must be at least 1, got {days}.")
        end = start + timedelta(days=days - 1)
    assert end is not None
    if end < start:
        raise BackfillCliError(f"--end {end} is before --start {start}; swap them or use --days N.")
    if start < first:
        raise BackfillCliError(
            f"--start {start} is before the dataset's first day {first} (RETAIL_ASSETS_START_DATE); start at "
            f"{first} or later."
        )
    if end > last:
        raise BackfillCliError(
            f"the range ends {end}, after the last daily partition {last} (the last business day the dataset "
            f"calendar offers today); end at {last} or earlier (--end {last}), or first offer more days with "
            f"`retail-assets calendar extend --through {end}`."
        )
    return start, end


class _PrintLines(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        print(record.getMessage(), flush=True)


def run_backfill(start: date, end: date) -> int:
    """Run ``daily_generation_job`` over ``start``..``end`` in this process; 0 on success."""
    import dagster as dg

    from retail_assets.config import HomeSettings
    from retail_assets.definitions import defs
    from retail_assets.defs.generation.jobs import DAILY_GENERATION_JOB
    from retail_assets.demo import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG, ensure_dagster_home

    dagster_home = ensure_dagster_home(HomeSettings.from_env())
    days = (end - start).days + 1
    print(f"retail-assets backfill: {days} day(s) {start}..{end} as one {DAILY_GENERATION_JOB} run "
          f"(Dagster instance {dagster_home})", flush=True)
    logger = logging.getLogger(PROGRESS_LOGGER)
    handler, propagate, level = _PrintLines(), logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate, logger.level = False, logging.INFO
    instance = dg.DagsterInstance.get()
    started = time.perf_counter()
    try:
        result = defs().resolve_job_def(DAILY_GENERATION_JOB).execute_in_process(
            run_config=QUIET_RUN_CONFIG,
            instance=instance,
            tags={PARTITION_RANGE_START_TAG: start.isoformat(), PARTITION_RANGE_END_TAG: end.isoformat()},
            raise_on_error=False,
        )
    finally:
        logger.removeHandler(handler)
        logger.propagate, logger.level = propagate, level
        instance.dispose()
    wall = time.perf_counter() - started
    if result.success:
        print(f"run {result.run_id} succeeded: {days} day(s) in {wall:.1f} s", flush=True)
        return 0
    print(f"error: run {result.run_id} failed after {wall:.1f} s: {failure_text(result)}", file=sys.stderr, flush=True)
    return 1


def _command(args: argparse.Namespace) -> int:
    from retail_assets.defs.partitions import daily_partitions

    last_key = daily_partitions.get_last_partition_key()
    first = date.fromisoformat(daily_partitions.get_first_partition_key() or "9999-12-31")
    last = date.fromisoformat(last_key) if last_key else first - timedelta(days=1)
    start = _iso(args.start, "--start")
    end = _iso(args.end, "--end") if args.end is not None else None
    start, end = resolve_range(start, end, args.days, first, last)
    if args.shards is not None and args.workers is None:
        raise BackfillCliError("--shards goes with --workers N (the sharded runs); add --workers 2, for example.")
    if args.workers is None:
        return run_backfill(start, end)
    if args.workers < 1 or (args.shards is not None and args.shards < 1):
        raise BackfillCliError(f"--workers and --shards must be at least 1, got {args.workers} and {args.shards}.")
    from retail_assets.backfill.sharded_runs import run_sharded_backfill

    return run_sharded_backfill(start, end, args.workers, args.shards)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="generate a range of Bronze batch days as one run in date order, printing progress (days, rows/s, ETA)",
    )
    parser.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    span = parser.add_mutually_exclusive_group(required=True)
    span.add_argument("--end", help="last day, YYYY-MM-DD (inclusive)")
    span.add_argument("--days", type=int, help="number of days from --start (e.g. 365 for a year)")
    parser.add_argument(
        "--workers", type=int,
        help="make each day in shards on this many worker processes, one sharded_generation_job run a day "
        "(default: one run over the whole range, in this process)",
    )
    parser.add_argument("--shards", type=int, help="shards per day with --workers (default: about one per 90 stores)")
    parser.set_defaults(func=_command)
