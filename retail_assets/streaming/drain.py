"""The bounded drain loop: lease a batch, hand it to the sink, ack what it confirmed, nack the rest.

Bounded by a number of events and seconds so that a run always ends (the sensor starts the next
one). Pacing is either as fast as the sink accepts (``asap``) or a replay of business time × a
speed-up factor (``replay``): only events whose ``event_ts`` is due on the replay clock are leased,
so leases are never held while waiting. A sink that keeps failing stops the run early (after
``max_consecutive_failures`` failed batches) instead of burning every event's attempts in a loop.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from retail_assets.streaming.outbox import Outbox
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


def drain(
    outbox: Outbox,
    sink: Sink,
    owner: str,
    settings: DrainSettings,
    state_dir: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = lambda _msg: None,
) -> DrainResult:
    """Drain up to ``settings.max_events`` events or ``settings.max_seconds`` seconds.

    The outbox connection is held for the whole run (see ``Outbox.hold``).
    """
    with outbox.hold():
        return _drain(outbox, sink, owner, settings, state_dir, clock, sleep, log)


def _drain(
    outbox: Outbox,
    sink: Sink,
    owner: str,
    settings: DrainSettings,
    state_dir: Path | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    log: Callable[[str], None],
) -> DrainResult:
    result = DrainResult()
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
            due = datetime.now(UTC)
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
        outcome = sink.send(batch)
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
        if outcome.landing is not None:
            result.landed.update(outcome.landing.landed)
            result.rejected.update(outcome.landing.rejected)
            result.duplicates += outcome.landing.duplicates
        log(
            f"batch {result.batches}: {leased} leased, {len(outcome.sent)} confirmed, "
            f"{len(outcome.failed)} failed ({clock() - start:.1f} s into the run)"
        )
        publish()
        if len(outcome.failed) and not len(outcome.sent):
            failures_in_a_row += 1
            if failures_in_a_row >= settings.max_consecutive_failures:
                result.stop_reason = f"sink failing ({failures_in_a_row} batches in a row): {result.last_error}"
                break
        else:
            failures_in_a_row = 0
    result.seconds = clock() - start
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
