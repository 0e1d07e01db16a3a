"""Health rules of the outbox, as data: each rule turns a status summary into a verdict an operator
can act on (what is wrong, which events, what to run).

Plain Python so that the streaming run, the standalone Dagster asset checks and tests share one
wording. Why the backlog age is measured from the enqueue time of the oldest open day and not from
``oldest_pending_ts``: that is *business* time (the synthetic calendar may start in 2024), so it says
nothing about whether the drain keeps up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from retail_assets.checks.result import CheckResult, Severity
from retail_assets.config import positive_number_from_env

STALE_ENV = "RETAIL_ASSETS_OUTBOX_STALE_MINUTES"
DEFAULT_STALE_MINUTES = 60.0
SAMPLE_DEAD = 5

NO_DEAD_LETTERS = "no_dead_letters"
BACKLOG_NOT_STALE = "backlog_not_stale"


def stale_after(env: dict[str, str] | None = None) -> timedelta:
    """How long events may wait in the outbox before the backlog counts as stale."""
    return timedelta(minutes=positive_number_from_env(STALE_ENV, DEFAULT_STALE_MINUTES, "minutes", "60", env))


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(UTC)


def no_dead_letters(status: dict[str, Any], now: datetime, stale: timedelta) -> CheckResult:
    dead = int(status.get("dead", 0))
    sample = list(status.get("dead_letters", []))[:SAMPLE_DEAD]
    if dead == 0:
        return CheckResult(NO_DEAD_LETTERS, True, Severity.ERROR, "no dead letters in the outbox.", {"dead": 0})
    by_type = {t: c.get("dead", 0) for t, c in status.get("by_event_type", {}).items() if c.get("dead", 0)}
    examples = "; ".join(f"{d['event_id']} ({d['event_type']}): {d.get('last_error')}" for d in sample)
    return CheckResult(
        NO_DEAD_LETTERS,
        False,
        Severity.ERROR,
        f"{dead:,} events are DEAD in the outbox: they used up their send attempts and will not be sent "
        f"again on their own. Examples: {examples}. Fix the cause their last_error names (for Event Hubs: "
        "AZURE_EVENTHUB_CONNECTION_STRING, the hub name, the network), then put them back in the queue "
        "with `retail-assets outbox requeue-dead --yes` (or `--event-type T --yes` for one type); the "
        "next streaming run sends them.",
        {"dead": dead, "dead_by_event_type": by_type, "examples": sample},
    )


def backlog_not_stale(status: dict[str, Any], now: datetime, stale: timedelta) -> CheckResult:
    open_rows = int(status.get("pending", 0)) + int(status.get("leased", 0))
    since = _parse(status.get("oldest_open_enqueued_ts"))
    meta: dict[str, Any] = {
        "open_events": open_rows,
        "oldest_open_enqueued_ts": status.get("oldest_open_enqueued_ts") or "none",
        "stale_after_minutes": round(stale.total_seconds() / 60, 3),
    }
    if open_rows == 0 or since is None:
        return CheckResult(BACKLOG_NOT_STALE, True, Severity.WARN, "no events waiting in the outbox.", meta)
    age = now - since
    meta["backlog_age_minutes"] = round(age.total_seconds() / 60, 1)
    if age <= stale:
        return CheckResult(
            BACKLOG_NOT_STALE, True, Severity.WARN,
            f"{open_rows:,} events waiting, enqueued {meta['backlog_age_minutes']} min ago (limit "
            f"{meta['stale_after_minutes']} min).",
            meta,
        )
    return CheckResult(
        BACKLOG_NOT_STALE,
        False,
        Severity.WARN,
        f"{open_rows:,} events have waited in the outbox for {meta['backlog_age_minutes']} min (more than "
        f"{STALE_ENV}={meta['stale_after_minutes']:g}): the drain is not keeping up or not running. Check that "
        "the `outbox_sensor` is switched on (Automation), that recent `stream_outbox` runs succeeded (a sink "
        "failure names its cause there), and `retail-assets outbox status`.",
        meta,
    )


OUTBOX_RULES: tuple[Callable[[dict[str, Any], datetime, timedelta], CheckResult], ...] = (
    no_dead_letters,
    backlog_not_stale,
)
RULE_DESCRIPTIONS = {
    NO_DEAD_LETTERS: "No outbox event is DEAD (used up its send attempts); lists examples and the fix.",
    BACKLOG_NOT_STALE: f"No event waits in the outbox longer than {STALE_ENV} (default 60 min); WARN.",
}


def evaluate_outbox(status: dict[str, Any], now: datetime | None = None, stale: timedelta | None = None) -> list[CheckResult]:
    """Every outbox rule on one status summary (from the database or the snapshot)."""
    now = now or datetime.now(UTC)
    stale = stale or stale_after()
    return [rule(status, now, stale) for rule in OUTBOX_RULES]
