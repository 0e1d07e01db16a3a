"""The Silver gate: a day's Silver is built only when the day is complete, and as one unit.

Why a sensor over the ledger instead of an automation condition over Bronze materializations: a
streamed day lands in many runs (a day of 1.2 M events drains in two), each reporting Bronze
materializations, and any condition that fires on them builds Silver from a half-landed day —
checks then fail on data that is still arriving, and the tables rebuilt later are only the ones
whose Bronze changed. The ledger knows when a day is whole (``landed_ts``: the batch path's last
commit, or the moment the stream path's last event of the day was SENT, see ``lake/ledger.py``).
So this sensor asks for ALL Silver fact tables of a day in ONE run exactly when that mark appears or
changes (a batch day re-materialized, a stream day completed after dead letters were requeued),
and tells in its skip reason which days it is waiting for and why.

The cursor maps each handled day to the ``landed_ts`` it was built for. A day whose Silver run is
still in flight is deferred (not marked handled) until that run ends; a day whose Silver fact tables
were all materialized after its landed mark (the demo builds Silver itself) is handled without a run.
"""

from __future__ import annotations

import json
from datetime import UTC, date

import dagster as dg

from retail_assets.defs.keys import SILVER_KEYS
from retail_assets.defs.resources import RetailSettings
from retail_assets.defs.run_states import IN_FLIGHT
from retail_assets.lake.ledger import DayRecord, Ledger, LedgerError

SILVER_DAY_SENSOR = "silver_day_sensor"
SILVER_DAY_TAG = "retail_assets/silver_day"
SILVER_FACT_KEYS: list[dg.AssetKey] = list(SILVER_KEYS.values())
MAX_DAYS_PER_TICK = 31
"""A month of days per tick: a year's backfill queues its Silver runs over a few ticks, in date order."""



class IncompleteDayFailure(dg.Failure):
    """A Silver partition was asked for a day that is not complete yet."""


def landed_token(record: DayRecord) -> str | None:
    return record.landed_ts.isoformat() if record.landed_ts else None


def incomplete_reason(record: DayRecord | None, day: date) -> str | None:
    """Why ``day`` is not eligible for Silver, or None when it is (complete per the ledger)."""
    if record is None:
        return f"{day.isoformat()} was never generated (no claim in the ledger)"
    if record.landed:
        return None
    if not record.generated:
        return f"{day.isoformat()} ({record.path} path) is still being generated, or its generation stopped part-way"
    return f"{day.isoformat()} (stream path) is generated but its events are not all landed yet"


def require_complete_day(ledger: Ledger, day: date, asset: str) -> None:
    """Refuse to build a Silver partition of an incomplete day (a manual materialization included)."""
    reason = incomplete_reason(ledger.day_record(day), day)
    if reason is None:
        return
    raise IncompleteDayFailure(
        description=(
            f"{asset} {day.isoformat()} was not built: {reason}. Silver combines a day's batch and stream "
            "rows only once the day is complete, so that its checks judge the whole day. Nothing was written. "
            "See `retail-assets ledger show` and `retail-assets outbox status`; the silver_day_sensor builds "
            "the day by itself once it is complete."
        ),
        metadata={"day": day.isoformat(), "reason": reason},
    )


def silver_is_current(instance: dg.DagsterInstance, record: DayRecord) -> bool:
    """Every Silver table of the day was materialized after the day's landed mark (e.g. by the
    demo, or before the sensor's cursor was reset): nothing to rebuild."""
    if record.landed_ts is None:
        return False
    landed = record.landed_ts.replace(tzinfo=UTC).timestamp()
    for key in SILVER_FACT_KEYS:
        found = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[record.day.isoformat()]), limit=1
        ).records
        if not found or found[0].timestamp < landed:
            return False
    return True


def _outbox_counts(state_dir) -> dict[str, dict[str, int]]:
    """Per-day outbox counts for the skip reason (the status snapshot while a drain holds the file)."""
    from retail_assets.streaming.status import read_status

    try:
        status = read_status(state_dir, lock_attempts=1)
    except Exception:  # the skip reason is informative only: never fail the tick on it
        return {}
    return {d["event_date"]: d for d in status.get("days", [])}


def _waiting_text(waiting: list[DayRecord], counts: dict[str, dict[str, int]]) -> str:
    parts = []
    for r in waiting[:5]:
        reason = incomplete_reason(r, r.day) or ""
        c = counts.get(r.day.isoformat())
        if c and r.generated:
            reason += f" ({c['pending']:,} pending, {c['leased']:,} leased, {c['dead']:,} dead of {c['events']:,})"
        parts.append(reason)
    more = f"; and {len(waiting) - 5} more" if len(waiting) > 5 else ""
    return "; ".join(parts) + more


@dg.sensor(
    name=SILVER_DAY_SENSOR,
    asset_selection=dg.AssetSelection.assets(*SILVER_FACT_KEYS),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="Builds all Silver fact tables of a day in one run once the day is complete (ledger landed mark).",
)
def silver_day_sensor(context: dg.SensorEvaluationContext, retail_settings: RetailSettings) -> dg.SensorResult | dg.SkipReason:
    home = retail_settings.home_settings()
    try:
        records = Ledger(home.state_dir).records()
    except LedgerError as exc:
        return dg.SkipReason(f"cannot read the ledger this tick: {exc}")
    handled: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    due = [r for r in records.values() if r.landed and handled.get(r.day.isoformat()) != landed_token(r)]
    waiting = [r for r in records.values() if not r.landed]
    requests, deferred = [], []
    for record in due:
        day = record.day.isoformat()
        if len(requests) >= MAX_DAYS_PER_TICK:
            break
        busy = context.instance.get_run_records(dg.RunsFilter(tags={SILVER_DAY_TAG: day}, statuses=IN_FLIGHT), limit=1)
        if busy:
            deferred.append(day)
            continue
        token = landed_token(record) or ""
        if silver_is_current(context.instance, record):
            handled[day] = token
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"silver:{day}:{token}",
                partition_key=day,
                asset_selection=SILVER_FACT_KEYS,
                tags={SILVER_DAY_TAG: day, "retail_assets/day_path": record.path},
            )
        )
        handled[day] = token
    cursor = json.dumps(handled, sort_keys=True)
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=cursor)
    notes = []
    if deferred:
        notes.append(f"Silver runs still in flight for {', '.join(deferred[:5])}: rebuilding after they end")
    if waiting:
        notes.append("waiting for incomplete days: " + _waiting_text(waiting, _outbox_counts(home.state_dir)))
    if not notes:
        notes.append(
            "every complete day has its Silver built; nothing new is complete"
            if records
            else f"no day is generated yet in {home.state_dir} (the ledger is empty)"
        )
    return dg.SensorResult(skip_reason="; ".join(notes), cursor=cursor)
