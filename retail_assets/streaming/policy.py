"""When the stream may generate its next day, and — when it may not — why, in words an operator can act on.

One decision, shared by ``stream_once`` (CLI and Dagster job), the ``outbox_sensor`` and ``outbox
status``, so that all three say the same thing. The rules, first match wins (``RULES``):

1. ``draining``  — some day has PENDING or LEASED events: drain them first (a run has work; no refusal).
2. ``blocked``   — some enqueued day has events that are not SENT (DEAD): a new day would build on a
   day the sink never received, so nothing is generated until the operator fixes the sink and runs
   ``retail-assets outbox requeue-dead --yes``.
3. ``caught_up`` — the next day is after today: the business day the home's dataset calendar offers
   today (``retail_assets/dataset_calendar``), or today's date (UTC) in a home without a calendar.
   Business days never run ahead of the calendar, so the stream never lands a day that has no
   partition yet.
4. ``end``       — the next day is after the stream end (``RETAIL_ASSETS_STREAM_UNTIL``; default
   ``+3``: three days past the last batch-generated day). Why a default end: a sensor left on after
   ``make demo`` would otherwise generate ~1,000 days until today, ~150 MB each at scale factor 1.
5. ``disk``      — free disk under ``RETAIL_ASSETS_HOME`` is below the guard (see ``disk_needed_bytes``).
6. ``generate``  — generate the next day.

Plain Python: the inputs (the outbox's per-day backlog, the ledger, the free disk) are gathered by
``gather`` and decided by ``decide``, a pure function the tests can drive directly.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from retail_assets.config import (
    DatasetSettings,
    HomeSettings,
    StreamUntil,
    min_free_gb_from_env,
    stream_until_from_env,
)
from retail_assets.dataset_calendar import business_today

GB = 1_000_000_000
DAY_BYTES_AT_SF1 = 150_000_000
"""Disk a streamed day adds at scale factor 1 (Bronze Delta files + outbox rows kept until purged),
rounded up from a measurement: the second streamed day at sf 1 added 74 MB to ``lake/`` and 58 MB to
``state/`` (131 MB; two `retail-assets stream` runs into a fresh home, `du -sb` after each). Smaller
factors need less, though not proportionally (sf 0.1: 19 MB); the 1 GB headroom dominates there."""
DISK_HEADROOM_BYTES = 1 * GB
"""Kept free on top of the day itself: the outbox's DuckDB WAL grows up to 1 GB during a drain
(``CHECKPOINT_THRESHOLD``) and Delta writes a file before it commits it."""
REQUEUE_FIX = (
    "repair what the dead letters' last_error names (`retail-assets outbox status`: dead_letters; usually the "
    "sink's settings or network), then `retail-assets outbox requeue-dead --yes`; the next stream run sends them"
)
REFUSALS_THAT_NEED_THE_OPERATOR = ("blocked", "end", "disk")


@dataclass(frozen=True)
class DayBacklog:
    """One enqueued day with events that are not SENT."""

    day: date
    pending: int = 0
    leased: int = 0
    dead: int = 0

    @property
    def open(self) -> int:
        return self.pending + self.leased

    def counts(self) -> str:
        return f"pending {self.pending:,}, leased {self.leased:,}, dead {self.dead:,}"


@dataclass(frozen=True)
class Inputs:
    """Everything the decision depends on (gathered from the outbox, the ledger, the disk, the env)."""

    next_day: date
    backlog: tuple[DayBacklog, ...]
    today: date
    until: StreamUntil
    anchor: date  # the latest batch-generated day, or start_date - 1 when there is none
    free_bytes: int
    needed_bytes: int
    needed_source: str
    no_batch_day: bool = False
    today_source: str = "today, UTC"


@dataclass(frozen=True)
class Verdict:
    """``kind`` is one of the rule names; ``reason`` is the operator's sentence (what, why, the fix)."""

    kind: str
    reason: str
    next_day: date
    blocked_day: date | None = None
    metadata: Mapping[str, Any] | None = None

    @property
    def may_generate(self) -> bool:
        return self.kind == "generate"

    @property
    def needs_operator(self) -> bool:
        """True when no run can make progress until the operator acts (or extends the end)."""
        return self.kind in REFUSALS_THAT_NEED_THE_OPERATOR


def _draining(i: Inputs) -> Verdict | None:
    open_days = [d for d in i.backlog if d.open]
    if not open_days:
        return None
    n = sum(d.open for d in open_days)
    return Verdict(
        "draining",
        f"{n:,} events still pending or leased (oldest day {open_days[0].day.isoformat()}): draining them "
        "before generating another day.",
        i.next_day,
    )


def _blocked(i: Inputs) -> Verdict | None:
    dead_days = [d for d in i.backlog if d.dead]
    if not dead_days:
        return None
    first = dead_days[0]
    more = f" (and {len(dead_days) - 1} later day(s))" if len(dead_days) > 1 else ""
    return Verdict(
        "blocked",
        f"blocked: day {first.day.isoformat()} has {first.dead:,} DEAD events (not delivered after their retries) "
        f"({first.counts()}){more}; no new day ({i.next_day.isoformat()}) is generated until every enqueued "
        f"day is fully SENT. Fix: {REQUEUE_FIX}.",
        i.next_day,
        blocked_day=first.day,
        metadata={
            "blocked_day": first.day.isoformat(),
            "dead": sum(d.dead for d in dead_days),
            "days_with_dead": len(dead_days),
        },
    )


def _caught_up(i: Inputs) -> Verdict | None:
    if i.next_day <= i.today:
        return None
    return Verdict(
        "caught_up",
        f"caught up: the next day {i.next_day.isoformat()} is after {i.today.isoformat()} ({i.today_source}); "
        "nothing to generate until then.",
        i.next_day,
    )


def _end(i: Inputs) -> Verdict | None:
    last = i.until.last_day(i.anchor)
    if last is None or i.next_day <= last:
        return None
    if i.until.kind != "days":
        why = "a fixed date"
    elif i.no_batch_day:
        start = (i.anchor + timedelta(days=1)).isoformat()
        why = f"{i.until.days} day(s) from the start date {start}, as no day was batch-generated"
    else:
        why = f"{i.until.days} day(s) past {i.anchor.isoformat()}, the last batch-generated day"
    return Verdict(
        "end",
        f"the stream end is reached: the next day {i.next_day.isoformat()} is after {last.isoformat()} "
        f"({i.until.source}: {why}). To stream further, set RETAIL_ASSETS_STREAM_UNTIL to a later date "
        "(YYYY-MM-DD), +N (N days past the last batch-generated day) or today, in the environment of the "
        "Dagster code location (or of `retail-assets stream`, or its --until).",
        i.next_day,
        metadata={"stream_until": last.isoformat(), "stream_until_source": i.until.source},
    )


def _disk(i: Inputs) -> Verdict | None:
    if i.free_bytes >= i.needed_bytes:
        return None
    return Verdict(
        "disk",
        f"not enough free disk to generate {i.next_day.isoformat()}: {i.free_bytes / GB:.2f} GB free under "
        f"RETAIL_ASSETS_HOME, {i.needed_bytes / GB:.2f} GB needed ({i.needed_source}). Free space (e.g. "
        "`retail-assets outbox purge --older-than-days 1` deletes SENT events), move RETAIL_ASSETS_HOME to a "
        "larger disk, or lower RETAIL_ASSETS_MIN_FREE_GB (0 disables the guard).",
        i.next_day,
        metadata={"free_gb": round(i.free_bytes / GB, 3), "needed_gb": round(i.needed_bytes / GB, 3)},
    )


def _generate(i: Inputs) -> Verdict:
    return Verdict("generate", f"generating the next day {i.next_day.isoformat()}.", i.next_day)


RULES: tuple[tuple[str, Callable[[Inputs], Verdict | None]], ...] = (
    ("draining", _draining),
    ("blocked", _blocked),
    ("caught_up", _caught_up),
    ("end", _end),
    ("disk", _disk),
)


def decide(inputs: Inputs) -> Verdict:
    """The first rule that applies (module docstring), else ``generate``."""
    for _name, rule in RULES:
        verdict = rule(inputs)
        if verdict is not None:
            return verdict
    return _generate(inputs)


# --- gathering the inputs ---------------------------------------------------------------------


def backlog_from_status_days(days: Iterable[Mapping[str, Any]]) -> tuple[DayBacklog, ...]:
    """The per-day backlog from ``outbox status``'s ``days`` (works on a snapshot too)."""
    out = []
    for d in days:
        row = DayBacklog(date.fromisoformat(str(d["event_date"])), int(d["pending"]), int(d["leased"]), int(d["dead"]))
        if row.open or row.dead:
            out.append(row)
    return tuple(out)


def next_stream_day(start_date: date, claimed: Mapping[date, str], enqueued: Iterable[date]) -> date:
    """The day after the latest claimed day (either path); but first any stream-claimed day whose
    events never reached the outbox (a crash between its claim and its enqueue, even if later days
    were generated since): it is generated again — deterministically the same events."""
    if not claimed:
        return start_date
    enqueued = set(enqueued)
    never_enqueued = sorted(d for d, path in claimed.items() if path == "stream" and d not in enqueued)
    if never_enqueued:
        return never_enqueued[0]
    return max(claimed) + timedelta(days=1)


def stream_anchor(start_date: date, batch_days: Iterable[date]) -> date:
    """The latest batch-generated day, or the day before ``start_date``: ``+N`` counts from here."""
    return max(batch_days, default=start_date - timedelta(days=1))


def free_bytes_under(path: Path) -> int:
    """Free bytes on the file system that holds ``path`` (its nearest existing parent)."""
    p = Path(path).resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def disk_needed_bytes(scale_factor: float, min_free_gb: float | None) -> tuple[int, str]:
    """(bytes, where the figure comes from): ``RETAIL_ASSETS_MIN_FREE_GB`` when set, else headroom +
    two days' estimate at this scale factor (1 GB + 2 × 150 MB × sf)."""
    if min_free_gb is not None:
        return int(min_free_gb * GB), f"RETAIL_ASSETS_MIN_FREE_GB={min_free_gb:g}"
    day = DAY_BYTES_AT_SF1 * scale_factor
    needed = int(DISK_HEADROOM_BYTES + 2 * day)
    return needed, (
        f"default: 1 GB headroom + 2 × {day / 1e6:,.0f} MB, the estimated size of a day at scale factor "
        f"{scale_factor:g}; set RETAIL_ASSETS_MIN_FREE_GB to change it"
    )


def gather(
    home: HomeSettings,
    dataset: DatasetSettings,
    backlog: Iterable[DayBacklog],
    enqueued: Iterable[date],
    today: date | None = None,
    until: StreamUntil | None = None,
    min_free_gb: float | None = None,
    env: Mapping[str, str] | None = None,
) -> Inputs:
    """Read the ledger, the disk and the environment (``until`` / ``min_free_gb`` override it)."""
    from retail_assets.lake.ledger import Ledger

    claimed = Ledger(home.state_dir).claimed_days()
    batch_days = [d for d, path in claimed.items() if path == "batch"]
    env_dict = dict(env) if env is not None else None
    needed, source = disk_needed_bytes(
        dataset.scale_factor, min_free_gb if min_free_gb is not None else min_free_gb_from_env(env_dict)
    )
    today_source = "today, UTC"
    if today is None:
        today, today_source = business_today(home.home, datetime.now(UTC).date())
    return Inputs(
        next_day=next_stream_day(dataset.start_date, claimed, enqueued),
        backlog=tuple(backlog),
        today=today,
        today_source=today_source,
        until=until or stream_until_from_env(env_dict),
        anchor=stream_anchor(dataset.start_date, batch_days),
        no_batch_day=not batch_days,
        free_bytes=free_bytes_under(home.home),
        needed_bytes=needed,
        needed_source=source,
    )


def verdict_from_status(
    home: HomeSettings, dataset: DatasetSettings, status: Mapping[str, Any], **kwargs: Any
) -> Verdict:
    """The decision from an ``outbox status`` dict (the sensor and ``outbox status`` use this)."""
    days = status.get("days", [])
    enqueued = [date.fromisoformat(str(d["event_date"])) for d in days]
    return decide(gather(home, dataset, backlog_from_status_days(days), enqueued, **kwargs))
