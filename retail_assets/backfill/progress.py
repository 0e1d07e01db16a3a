"""Progress of a multi-day generation run: days done, rows/s and an ETA, one line per finished day.

Why its own object: the same line goes to the Dagster run's log (``context.log``) and to the
Python logger :data:`PROGRESS_LOGGER`, which ``retail-assets backfill`` prints, so the UI and the
terminal show the same figures. The ETA is the mean wall time per finished day times the days
left: days differ in size (Black Friday is ~2× a Tuesday), but a year's backfill averages out, and
rows/day is not known ahead of generating.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

PROGRESS_LOGGER = "retail_assets.backfill"


def format_duration(seconds: float) -> str:
    """``42s``, ``3m 05s``, ``2h 07m``: short enough for a progress line."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@dataclass
class BackfillProgress:
    """Counts finished days and rows of a run over ``total_days`` days; ``clock`` is injectable for tests."""

    total_days: int
    clock: Callable[[], float] = time.perf_counter
    days_done: int = 0
    rows_done: int = 0
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        if self.total_days < 1:
            raise ValueError(f"a backfill needs at least one day, got {self.total_days}")
        self.started = self.clock()

    def day_done(self, day: date, rows: int) -> str:
        """Record a finished day and return its progress line."""
        self.days_done += 1
        self.rows_done += rows
        return progress_line(day, rows, self.days_done, self.total_days, self.rows_done, self.clock() - self.started)


def progress_line(
    day: date, rows: int, days_done: int, total_days: int, rows_done: int, elapsed: float, failed: int = 0
) -> str:
    """The one progress line, whoever counts: one run over a range (:class:`BackfillProgress`) or a
    backfill of one run per day counted from its runs (``defs.generation.backfill_runs``). ``failed``
    days are named so that a backfill that will not reach 100 % says so before its end."""
    rate = rows_done / elapsed if elapsed > 0 else 0.0
    left = max(0, total_days - days_done - failed)
    eta = elapsed / days_done * left if days_done else 0.0
    failures = f", {failed} failed" if failed else ""
    return (
        f"backfill {days_done}/{total_days} days ({100 * days_done / total_days:.1f}%{failures}): "
        f"{day.isoformat()} {rows:,} rows; {rows_done:,} rows at {rate:,.0f} rows/s; "
        f"elapsed {format_duration(elapsed)}, ETA {format_duration(eta) if left else 'done'}"
    )


def progress_logger() -> logging.Logger:
    return logging.getLogger(PROGRESS_LOGGER)
