"""The bounded drain loop: lease a batch, hand it to the sink, ack what it confirmed, nack the rest.

Bounded by a number of events and seconds so that a run always ends (the sensor starts the next
one). Pacing is either as fast as the sink accepts (``asap``) or a replay of business time × a
speed-up factor (``replay``): only events whose ``event_ts`` is due on the replay clock are leased,
so leases are never held while waiting. A sink that keeps failing stops the run early (after
``max_consecutive_failures`` failed batches) instead of burning every event's attempts in a loop.

Every run starts by taking back the leases of owners that are gone (a killed run: see
``lease_owner.py``), and ends with a ``stop_reason`` that tells the truth about what is left, its
first words being one of ``STOP_KINDS``: ``drained`` only when nothing is left for a run to send;
``backoff`` when events wait for their retry time (how many, until when); ``held`` when a live owner
holds leases ("held by <owner> until <time>"); ``sink failing``; ``max_events``; ``max_seconds``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from retail_assets.streaming.lease_owner import LivenessCheck, owner_liveness
from retail_assets.streaming.outbox import Backlog, LeaseHolder, Outbox, iso_ts
from retail_assets.streaming.sinks import Sink
from retail_assets.streaming.status import write_snapshot

PACINGS = ("asap", "replay", "realtime")
"""``asap``: as fast as the sink accepts. ``replay``: the oldest pending ``event_ts`` is pinned to the
run's start and an event is due once ``(event_ts − that) ÷ speedup`` wall seconds have passed.
``realtime``: an event is due once its ``event_ts`` has passed on the wall clock (UTC): past days go
out as fast as the sink takes them, today's events as their time comes. Paced drains lease only due
events (no lease is held while waiting) and sleep until the next is due, at most ``PACING_POLL_S``."""
PACING_POLL_S = 0.25
"""Longest sleep of a paced drain between looks at the outbox (the next due event may be far off)."""
DRAINED, BACKOFF, HELD, SINK_FAILING, MAX_EVENTS, MAX_SECONDS = (
    "drained", "backoff", "held", "sink failing", "max_events", "max_seconds"
)
STOP_KINDS = (DRAINED, BACKOFF, HELD, SINK_FAILING, MAX_EVENTS, MAX_SECONDS)
DEFAULT_BATCH_SIZE = 150_000
"""Events per lease: each batch costs one Delta commit per event type present (~14), so larger
batches cut commits per event (sf-1 day: 100k → 107k events/s, 150k → 120k/s); but the landing of
a batch holds its bodies several times over (150k → +0.35 GiB RSS, 200k → +0.55 GiB)."""


class DrainConfigError(ValueError):
    """A drain setting is unusable; the message names it and the valid range."""


@dataclass(frozen=True)
class DrainSettings:
    max_events: int = 1_000_000
    max_seconds: float = 300.0
    batch_size: int = DEFAULT_BATCH_SIZE
    pacing: str = "asap"
    speedup: float = 60.0
    max_consecutive_failures: int = 3
    snapshot_every_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_events < 0:
            raise DrainConfigError(f"max_events={self.max_events} must be >= 0.")
        if self.max_seconds <= 0:
            raise DrainConfigError(f"max_seconds={self.max_seconds} must be > 0.")
        if self.batch_size < 1:
            raise DrainConfigError(f"batch_size={self.batch_size} must be >= 1.")
        if self.pacing not in PACINGS:
            raise DrainConfigError(f"pacing={self.pacing!r} must be one of {PACINGS}.")
        if self.speedup <= 0:
            raise DrainConfigError(f"speedup={self.speedup} must be > 0 (e.g. 60 = one business hour per minute).")


@dataclass
class DrainResult:
    leased: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    batches: int = 0
    seconds: float = 0.0
    stop_reason: str = ""
    landed: Counter = field(default_factory=Counter)  # (event_type, day) -> new Bronze rows
    rejected: Counter = field(default_factory=Counter)
    duplicates: int = 0
    last_error: str | None = None
    attempted: int = 0  # sends actually tried (sent + failed): what the attempts were charged for
    reclaimed: dict[str, int] = field(default_factory=dict)  # leases taken back from dead owners
    held_by: list[LeaseHolder] = field(default_factory=list)  # live owners' leases at the end
    backoff: int = 0  # events waiting for their retry time at the end
    next_retry_ts: datetime | None = None

    @property
    def stop_kind(self) -> str:
        """The first words of ``stop_reason``: one of ``STOP_KINDS`` ("" before the run ended)."""
        return next((k for k in STOP_KINDS if self.stop_reason.startswith(k)), "")

    @property
    def drained(self) -> bool:
        return self.stop_kind == DRAINED

    def leases_and_retries(self) -> dict[str, Any]:
        """The outage/lease fields as JSON-ready values (for the CLI's summary and run metadata)."""
        return {
            "stop_kind": self.stop_kind,
            "attempted": self.attempted,
            "reclaimed": dict(self.reclaimed),
            "held_by": [{"owner": h.owner, "events": h.events, "until": iso_ts(h.until)} for h in self.held_by],
            "backoff": self.backoff,
            "next_retry_ts": iso_ts(self.next_retry_ts),
        }


def drain(
    outbox: Outbox,
    sink: Sink,
    owner: str,
    settings: DrainSettings,
    state_dir: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = lambda _msg: None,
    is_alive: LivenessCheck | None = None,
) -> DrainResult:
    """Drain up to ``settings.max_events`` events or ``settings.max_seconds`` seconds.

    The outbox connection is held for the whole run (see ``Outbox.hold``). First the leases of
    owners ``is_alive`` reports gone are reclaimed (default: ``owner_liveness()``, which checks
    ``process:``/``cli:`` owners on this host; the Dagster job passes one that also knows runs).
    """
    with outbox.hold():
        result = DrainResult()
        outbox.release(owner)  # our own name on a lease means an earlier call of ours stopped mid-batch
        reclaim = outbox.reclaim_orphaned_leases(is_alive or owner_liveness())
        result.reclaimed = dict(reclaim.reclaimed)
        if reclaim.reclaimed or reclaim.held:
            log(f"leases: {reclaim.describe()}")
        return _drain(outbox, sink, owner, settings, state_dir, clock, sleep, log, result)


def _idle_reason(backlog: Backlog, failures_in_a_row: int, last_error: str | None) -> str:
    """Why a run found nothing (more) to lease; "drained" only if nothing is left at all."""
    parts = [h.describe() for h in backlog.held]
    if backlog.backoff:
        parts.append(
            f"{backlog.backoff:,} events wait for their retry after failed sends, the next at "
            f"{iso_ts(backlog.next_retry_ts)}"
        )
    if failures_in_a_row:
        return f"{SINK_FAILING} ({failures_in_a_row} batches in a row): {last_error}; " + "; ".join(parts)
    if backlog.held:
        return f"{HELD}: " + "; ".join(parts)
    if backlog.backoff:
        return f"{BACKOFF}: " + "; ".join(parts)
    return DRAINED


def _drain(
    outbox: Outbox,
    sink: Sink,
    owner: str,
    settings: DrainSettings,
    state_dir: Path | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    log: Callable[[str], None],
    result: DrainResult,
) -> DrainResult:
    start = clock()
    last_snapshot = float("-inf")
    failures_in_a_row = 0
    replay_base: datetime | None = None

    def publish(force: bool = False) -> None:
        nonlocal last_snapshot
        if state_dir is not None and (force or clock() - last_snapshot >= settings.snapshot_every_s):
            write_snapshot(state_dir, outbox.status(), writer=owner)
            last_snapshot = clock()

    while True:
        elapsed = clock() - start
        remaining = settings.max_events - result.leased
        if remaining <= 0:
            result.stop_reason = "max_events"
            break
        if elapsed >= settings.max_seconds:
            result.stop_reason = "max_seconds"
            break
        due: datetime | None = None
        if settings.pacing == "replay":
            if replay_base is None:
                replay_base = outbox.oldest_pending_ts()
                if replay_base is None:
                    result.stop_reason = "drained"
                    break
                start_replay = clock()
            due = replay_base + timedelta(seconds=(clock() - start_replay) * settings.speedup)
        elif settings.pacing == "realtime":
            due = outbox.clock()  # the wall clock (tests may pass a fake one to the Outbox)
        batch = outbox.lease(owner, min(settings.batch_size, remaining), max_event_ts=due)
        if batch.num_rows == 0:
            wait = _pacing_wait(outbox, due, settings)
            if wait is not None:
                sleep(min(wait, max(0.0, settings.max_seconds - (clock() - start))))
                continue
            result.stop_reason = "drained"
            break
        leased = batch.num_rows
        result.leased += leased
        result.batches += 1
        publish()  # throttled; taken while the batch is leased, so readers see who holds it until when
        try:
            outcome = sink.send(batch)
        except BaseException:  # no answer from the sink (interrupted, a bug): give the leases back unsent
            outbox.release(owner, batch["outbox_seq"])
            raise
        del batch
        pa.default_memory_pool().release_unused()  # the batch's bodies and parsed columns, back to the OS
        if len(outcome.sent):
            outbox.ack(outcome.sent)
            result.sent += len(outcome.sent)
        if len(outcome.failed):
            counts = outbox.nack(outcome.failed, outcome.errors, owner)
            result.failed += len(outcome.failed)
            result.dead += counts["dead"]
            result.last_error = outcome.errors[0]
        result.attempted += len(outcome.sent) + len(outcome.failed)
        if outcome.landing is not None:
            result.landed.update(outcome.landing.landed)
            result.rejected.update(outcome.landing.rejected)
            result.duplicates += outcome.landing.duplicates
        log(
            f"batch {result.batches}: {leased} leased, {len(outcome.sent)} confirmed, "
            f"{len(outcome.failed)} failed ({clock() - start:.1f} s into the run)"
        )
        if len(outcome.failed) and not len(outcome.sent):
            failures_in_a_row += 1
            if failures_in_a_row >= settings.max_consecutive_failures:
                result.stop_reason = f"{SINK_FAILING} ({failures_in_a_row} batches in a row): {result.last_error}"
                break
        else:
            failures_in_a_row = 0
    result.seconds = clock() - start
    backlog = outbox.backlog()
    result.held_by, result.backoff, result.next_retry_ts = list(backlog.held), backlog.backoff, backlog.next_retry_ts
    if result.stop_reason == DRAINED:
        result.stop_reason = _idle_reason(backlog, failures_in_a_row, result.last_error)
    publish(force=True)
    rate = result.sent / result.seconds if result.seconds > 0 else 0.0
    log(
        f"drain: {result.sent:,} sent, {result.failed:,} failed, {result.dead:,} dead in {result.batches} batches, "
        f"{result.seconds:.1f} s ({rate:,.0f} events/s); stopped: {result.stop_reason}"
    )
    return result


def _pacing_wait(outbox: Outbox, due: datetime | None, settings: DrainSettings) -> float | None:
    """Wall seconds until the next PENDING event is due on the pacing clock (capped at
    ``PACING_POLL_S``), or None when no event will become due by waiting (asap, or nothing later)."""
    if due is None:
        return None
    upcoming = outbox.next_pending_event_ts(due)
    if upcoming is None:
        return None
    business_s = (upcoming - due).total_seconds()
    wall_s = business_s / settings.speedup if settings.pacing == "replay" else business_s
    return min(PACING_POLL_S, max(0.001, wall_s))
