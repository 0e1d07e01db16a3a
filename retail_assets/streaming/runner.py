"""One streaming run: generate the next day into the outbox when it is empty, then drain, then exit.

The rules that keep the old system's failures away:

* A new day is generated only when nothing is PENDING or LEASED (the 96M-backlog lesson), and a
  hard cap on pending events refuses an enqueue that would exceed it.
* The next day is the day after the latest day claimed in the generation ledger, whichever path
  claimed it (day D needs the state of D−1, §8.3). If any streaming day's events never reached the
  outbox (a crash between its claim and its enqueue, even if later days were generated since),
  that day is generated again — deterministically the same events — and enqueued first, so no
  day is skipped.
* Generation stops at today (UTC); the run then only drains.

Plain Python; the Dagster job (``defs/streaming``) and the CLI both call ``stream_once``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.lake import delta
from retail_assets.streaming.drain import DrainResult, DrainSettings, drain
from retail_assets.streaming.events import build_day_events
from retail_assets.streaming.outbox import Outbox, OutboxSettings
from retail_assets.streaming.sinks import Sink
from retail_assets.streaming.status import write_snapshot

DEFAULT_MAX_PENDING = 5_000_000
_log = logging.getLogger(__name__)  # captured into Dagster run logs (dagster.yaml: managed_python_loggers)


@dataclass(frozen=True)
class StreamSettings:
    drain: DrainSettings = field(default_factory=DrainSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    max_pending: int = DEFAULT_MAX_PENDING
    generate: bool = True


@dataclass
class StreamResult:
    generated_day: date | None = None
    enqueued: int = 0
    note: str = ""
    drain: DrainResult = field(default_factory=DrainResult)
    status: dict[str, Any] = field(default_factory=dict)
    batch_tables_written: tuple[str, ...] = ()
    landed_days: list[date] = field(default_factory=list)


def next_stream_day(home: HomeSettings, dataset: DatasetSettings, outbox: Outbox) -> date:
    """The day to generate now (see module docstring)."""
    from retail_assets.lake.ledger import Ledger

    ledger = Ledger(home.state_dir)
    latest = ledger.latest_claimed_day()
    if latest is None:
        return dataset.start_date
    enqueued = outbox.enqueued_days()
    unsent = [d for d in ledger.claimed_days("stream") if d not in enqueued]
    if unsent:
        # claimed (maybe generated) but its events never reached the outbox: a crash between the
        # claim and the enqueue, possibly followed by later days on the batch path. Regenerate it
        # (deterministically the same events) before anything else, so no day is skipped.
        return unsent[0]
    return latest + timedelta(days=1)


def _ensure_dimensions(home: HomeSettings, dataset: DatasetSettings, log: Callable[[str], None]) -> None:
    from retail_assets import pipeline

    if not delta.table_exists(delta.table_uri(home.lake_root, "cusn", "dim_stores")):
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
) -> tuple[date | None, int, str]:
    """Claim + generate the next day and enqueue its events; returns (day, events, note)."""
    from retail_assets import pipeline

    day = next_stream_day(home, dataset, outbox)
    t0 = time.perf_counter()
    try:
        pipeline.validate_day(dataset, day, today)
    except pipeline.DayOutOfRangeError:
        return None, 0, f"caught up: the next day {day.isoformat()} is in the future; only draining."
    _ensure_dimensions(home, dataset, log)
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
) -> StreamResult:
    """One bounded run. ``log`` receives the progress lines; by default they go to this module's
    ``logging`` logger (which Dagster captures into the run's logs)."""
    log = log or _log.info
    settings = settings or StreamSettings()
    outbox = outbox or Outbox.in_state_dir(home.state_dir, settings=settings.outbox)
    out = StreamResult()
    open_rows = outbox.open_count()
    if open_rows:
        out.note = f"{open_rows:,} events still pending or leased: draining them before generating another day."
    elif settings.generate:
        out.generated_day, out.enqueued, out.note = generate_into_outbox(
            home, dataset, outbox, owner, settings.max_pending, log, today
        )
        if out.generated_day is not None:
            from retail_assets.contract.tables import BATCH_ONLY_TABLES

            out.batch_tables_written = tuple(BATCH_ONLY_TABLES)
    if out.note:
        log(out.note)
    write_snapshot(home.state_dir, outbox.status(), writer=owner)
    out.drain = drain(outbox, sink, owner, settings.drain, state_dir=home.state_dir, log=log)
    out.status = outbox.status()
    out.landed_days = _record_landed(home, out.status, log)
    return out


def _record_landed(home: HomeSettings, status: dict[str, Any], log: Callable[[str], None]) -> list[date]:
    """Days whose events are now all SENT get the ledger's landed mark (opens the Silver gate)."""
    from retail_assets.lake.ledger import Ledger
    from retail_assets.streaming.completion import record_landed_days

    days = record_landed_days(Ledger(home.state_dir), status)
    if days:
        log(f"complete: every event of {', '.join(d.isoformat() for d in days)} is landed; Silver may build it.")
    return days
