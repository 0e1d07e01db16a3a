"""One streaming run: generate the next day into the outbox when it is empty, then drain, then exit.

The rules that keep the old system's failures away:

* A new day is generated only when every enqueued day's events are all SENT: PENDING/LEASED ones are
  drained first (the 96M-backlog lesson), and DEAD ones block the stream until the operator requeues
  them (a new day must not build on a day the sink never received). A hard cap on pending events
  refuses an enqueue that would exceed it.
* Generation also stops at the stream end (``RETAIL_ASSETS_STREAM_UNTIL``, default three days past the
  last batch-generated day) and when free disk is short; ``streaming/policy.py`` holds these rules,
  shared with the sensor and ``outbox status``. ``StreamResult.refusal`` says why no day was generated.
* The next day is the day after the latest day claimed in the generation ledger, whichever path
  claimed it (day D needs the state of D−1, §8.3). If any streaming day's events never reached the
  outbox (a crash between its claim and its enqueue, even if later days were generated since),
  that day is generated again — deterministically the same events — and enqueued first, so no
  day is skipped.
* A chain of more than one shard's stores (about scale factor 1) is generated in shards and its events
  staged, then numbered and enqueued in one transaction (``streaming/sharded_day.py``): memory is a
  shard's, not the day's. A smaller chain is generated in one piece.
* Generation stops at today (UTC); the run then only drains.
* After the drain, ``StreamResult.blocked`` is set when no further run can make progress without the
  operator (DEAD events, or the disk guard): the CLI exits non-zero and the Dagster run fails on it.

Plain Python; the Dagster job (``defs/streaming``) and the CLI both call ``stream_once``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa

from retail_assets.config import DatasetSettings, HomeSettings, StreamUntil
from retail_assets.contract.dimensions import DIM_STORES
from retail_assets.lake import delta
from retail_assets.lake.paths import table_uri
from retail_assets.streaming.drain import DrainResult, DrainSettings, drain
from retail_assets.streaming.events import build_day_events
from retail_assets.streaming.lease_owner import LivenessCheck
from retail_assets.streaming.outbox import Outbox, OutboxSettings
from retail_assets.streaming.policy import DayBacklog, Verdict, decide, gather
from retail_assets.streaming.sharded_day import generate_day_in_shards
from retail_assets.streaming.sinks import Sink
from retail_assets.streaming.status import write_snapshot

DEFAULT_MAX_PENDING = 5_000_000
"""The pending-events cap per scale-factor unit (at least this much): about six days of events, so
that a backlog cannot build up unseen, while a large scale factor's single day (sf 30: 22 M events)
is still accepted — a fixed cap would refuse it after generating it, on every run."""


def max_pending_for(scale_factor: float) -> int:
    """The default cap on pending events for a dataset of ``scale_factor``."""
    return max(DEFAULT_MAX_PENDING, math.ceil(DEFAULT_MAX_PENDING * scale_factor))

_log = logging.getLogger(__name__)  # captured into Dagster run logs (dagster.yaml: managed_python_loggers)


@dataclass(frozen=True)
class StreamSettings:
    drain: DrainSettings = field(default_factory=DrainSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    max_pending: int | None = None  # None: max_pending_for(scale factor)
    generate: bool = True
    until: StreamUntil | None = None  # None: RETAIL_ASSETS_STREAM_UNTIL (default +3)
    min_free_gb: float | None = None  # None: RETAIL_ASSETS_MIN_FREE_GB, else derived from the scale factor
    shards: int | None = None  # None: about one per 90 stores (1 up to scale factor ≈ 1); see sharded_day.py


@dataclass
class StreamResult:
    generated_day: date | None = None
    enqueued: int = 0
    note: str = ""
    drain: DrainResult = field(default_factory=DrainResult)
    status: dict[str, Any] = field(default_factory=dict)
    batch_tables_written: tuple[str, ...] = ()
    landed_days: list[date] = field(default_factory=list)
    refusal: Verdict | None = None  # why no day was generated (None when one was, or generate=False)
    blocked: Verdict | None = None  # after the drain: no run can progress until the operator acts


def next_stream_day(home: HomeSettings, dataset: DatasetSettings, outbox: Outbox) -> date:
    """The day to generate now (see module docstring and ``policy.next_stream_day``)."""
    from retail_assets.lake.ledger import Ledger
    from retail_assets.streaming.policy import next_stream_day as next_day

    return next_day(dataset.start_date, Ledger(home.state_dir).claimed_days(), outbox.enqueued_days())


def generation_verdict(
    home: HomeSettings,
    dataset: DatasetSettings,
    outbox: Outbox,
    settings: StreamSettings,
    today: date | None = None,
) -> Verdict:
    """May this run generate a day, and if not, why (``streaming/policy.py``)."""
    backlog = [DayBacklog(d, p, lz, dd) for d, p, lz, dd in outbox.unsent_days()]
    return decide(
        gather(
            home, dataset, backlog, outbox.enqueued_days(), today=today,
            until=settings.until, min_free_gb=settings.min_free_gb,
        )
    )


def _ensure_dimensions(home: HomeSettings, dataset: DatasetSettings, log: Callable[[str], None]) -> None:
    from retail_assets import pipeline

    if not delta.table_exists(table_uri(home.lake_root, DIM_STORES)):
        log("no dimensions in this home yet: building them first (the 'dimensions' asset group).")
        pipeline.build_and_write_dimensions(home, dataset)


def generate_into_outbox(
    home: HomeSettings,
    dataset: DatasetSettings,
    outbox: Outbox,
    owner: str,
    max_pending: int,
    log: Callable[[str], None],
    today: date | None = None,
    shards: int | None = None,
) -> tuple[date | None, int, str]:
    """Claim + generate the next day and enqueue its events; returns (day, events, note). A chain of
    more than one shard's stores is made in shards (``sharded_day.py``), a smaller one in one piece."""
    from retail_assets import pipeline, sharded_pipeline

    day = next_stream_day(home, dataset, outbox)
    t0 = time.perf_counter()
    try:
        pipeline.validate_day(dataset, day, today)
    except pipeline.DayOutOfRangeError:
        return None, 0, f"caught up: the next day {day.isoformat()} is in the future; only draining."
    _ensure_dimensions(home, dataset, log)
    n_shards = sharded_pipeline.day_shard_count(home, dataset, shards)
    if n_shards > 1:
        return day, generate_day_in_shards(home, dataset, outbox, day, owner, n_shards, max_pending, log, today), ""
    result = pipeline.generate_and_write_day(home, dataset, day, "stream", owner, today=today)
    t1 = time.perf_counter()
    events = build_day_events(result.tables, dataset.dataset_id, dataset.start_date, day)
    del result  # the day's fact tables: only the events are needed from here on
    t2 = time.perf_counter()
    n = outbox.enqueue_day(day, events, max_pending=max_pending)
    del events
    # Arrow's allocator keeps freed pages for reuse; the drain needs far less than generation did,
    # so hand them back now rather than carry the generator's peak through the whole run.
    pa.default_memory_pool().release_unused()
    log(
        f"day {day.isoformat()} (stream path): generated in {t1 - t0:.2f} s, {n:,} events built in "
        f"{t2 - t1:.2f} s and enqueued in {time.perf_counter() - t2:.2f} s."
    )
    return day, n, ""


def stream_once(
    home: HomeSettings,
    dataset: DatasetSettings,
    sink: Sink,
    owner: str,
    settings: StreamSettings | None = None,
    outbox: Outbox | None = None,
    log: Callable[[str], None] | None = None,
    today: date | None = None,
    is_alive: LivenessCheck | None = None,
) -> StreamResult:
    """One bounded run. ``log`` receives the progress lines; by default they go to this module's
    ``logging`` logger (which Dagster captures into the run's logs). ``is_alive`` tells the drain
    which lease owners are gone (their leases are reclaimed first; default: ``owner_liveness()``,
    which checks processes on this host; the Dagster job passes one that also knows its runs)."""
    log = log or _log.info
    settings = settings or StreamSettings()
    outbox = outbox or Outbox.in_state_dir(home.state_dir, settings=settings.outbox)
    out = StreamResult()
    verdict = generation_verdict(home, dataset, outbox, settings, today)
    if verdict.may_generate and settings.generate:
        out.generated_day, out.enqueued, out.note = generate_into_outbox(
            home, dataset, outbox, owner,
            settings.max_pending if settings.max_pending is not None else max_pending_for(dataset.scale_factor),
            log, today, settings.shards,
        )
        if out.generated_day is not None:
            from retail_assets.contract.tables import BATCH_ONLY_TABLES

            out.batch_tables_written = tuple(BATCH_ONLY_TABLES)
    elif not verdict.may_generate:
        out.refusal, out.note = verdict, verdict.reason
    if out.note:
        log(out.note)
    write_snapshot(home.state_dir, outbox.status(), writer=owner)
    out.drain = drain(outbox, sink, owner, settings.drain, state_dir=home.state_dir, log=log, is_alive=is_alive)
    out.status = outbox.status()
    out.landed_days = _record_landed(home, out.status, log)
    out.blocked = _blocked_after_drain(home, dataset, outbox, settings, out, today)
    if out.blocked is not None:
        log(out.blocked.reason)
    return out


def _blocked_after_drain(
    home: HomeSettings, dataset: DatasetSettings, outbox: Outbox, settings: StreamSettings, out: StreamResult,
    today: date | None,
) -> Verdict | None:
    """The refusal that no further run can get past without the operator: DEAD events (whether they
    were there before the run or died in it), or the disk guard (only when this run wanted a day)."""
    if out.status.get("dead", 0):
        after = generation_verdict(home, dataset, outbox, settings, today)
        if after.kind == "blocked":
            return after
    if out.refusal is not None and out.refusal.kind == "disk" and settings.generate:
        return out.refusal
    return None


def _record_landed(home: HomeSettings, status: dict[str, Any], log: Callable[[str], None]) -> list[date]:
    """Days whose events are now all SENT get the ledger's landed mark (opens the Silver gate)."""
    from retail_assets.lake.ledger import Ledger
    from retail_assets.streaming.completion import record_landed_days

    days = record_landed_days(Ledger(home.state_dir), status)
    if days:
        log(f"complete: every event of {', '.join(d.isoformat() for d in days)} is landed; Silver may build it.")
    return days
