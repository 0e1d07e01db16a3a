"""The Silver gate: a day's Silver is built only when the day is complete, and as one unit.

Why a sensor over the ledger instead of an automation condition over Bronze materializations: a
streamed day lands in many runs (a day of 1.2 M events drains in two), each reporting Bronze
materializations, and any condition that fires on them builds Silver from a half-landed day —
checks then fail on data that is still arriving, and the tables rebuilt later are only the ones
whose Bronze changed. The ledger knows when a day is whole (``landed_ts``: the batch path's last
commit, or the moment the stream path's last event of the day was SENT, see ``lake/ledger.py``).
So this sensor asks for ALL Silver tables of a day exactly when that mark appears or changes (a
batch day re-materialized, a stream day completed after dead letters were requeued), and tells in
its skip reason which days it is waiting for and why.

Ready days that follow each other go in ONE run (a contiguous stretch, at most ``MAX_DAYS_PER_RUN``
days): ``silver_facts`` builds a range of days in one step, so a backfilled month is one run, not
thirty. The run carries the partition range tags and ``SILVER_DAYS_TAG`` = ``first..last``.

The cursor maps each handled day to the ``landed_ts`` it was built for. A day whose Silver run is
still in flight is deferred (not marked handled) until that run ends; a day whose Silver tables
were all materialized after its landed mark (the demo builds Silver itself) is handled without a run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, date, timedelta

import dagster as dg

from retail_assets.defs.keys import SILVER_KEYS
from retail_assets.defs.partition_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from retail_assets.defs.resources import RetailSettings
from retail_assets.defs.run_states import IN_FLIGHT
from retail_assets.lake.ledger import DayRecord, Ledger, LedgerError

SILVER_DAY_SENSOR = "silver_day_sensor"
SILVER_DAYS_TAG = "retail_assets/silver_days"
"""The days a sensor-requested Silver run builds: ``2024-01-01`` or ``2024-01-01..2024-01-14``."""
SILVER_FACT_KEYS: list[dg.AssetKey] = list(SILVER_KEYS.values())
MAX_DAYS_PER_TICK = 31
"""A month of days per tick: a year's backfill queues its Silver runs over a few ticks, in date order."""
MAX_DAYS_PER_RUN = 31
"""A stretch longer than a month is split: one run's failure then costs at most a month of retries."""


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


def require_complete_days(ledger: Ledger, days: Iterable[date], asset: str) -> None:
    """Refuse to build Silver for any incomplete day (a manual materialization included).

    A range that holds one incomplete day is refused as a whole, before anything is read: the gate
    is per day, and a run that wrote the complete days around a hole would look like a finished
    backfill while one day is silently missing."""
    days = sorted(set(days))
    if not days:
        return
    records = ledger.records(days[0], days[-1])
    reasons = [r for r in (incomplete_reason(records.get(d), d) for d in days) if r is not None]
    if not reasons:
        return
    span = days[0].isoformat() if len(days) == 1 else f"{days[0].isoformat()}..{days[-1].isoformat()}"
    listed = "; ".join(reasons[:5]) + (f"; and {len(reasons) - 5} more" if len(reasons) > 5 else "")
    raise IncompleteDayFailure(
        description=(
            f"{asset} {span} was not built: {listed}. Silver combines a day's batch and stream rows only "
            "once the day is complete, so that its checks judge the whole day. Nothing was written. "
            "See `retail-assets ledger show` and `retail-assets outbox status`; the silver_day_sensor builds "
            "each day by itself once it is complete (or materialize a range of complete days only)."
        ),
        metadata={"days": [d.isoformat() for d in days], "incomplete": reasons},
    )


def contiguous_stretches(days: Iterable[date], max_days: int = MAX_DAYS_PER_RUN) -> list[list[date]]:
    """Sorted days split into runs of consecutive dates, each at most ``max_days`` long."""
    stretches: list[list[date]] = []
    for day in sorted(set(days)):
        last = stretches[-1] if stretches else None
        if last and last[-1] + timedelta(days=1) == day and len(last) < max_days:
            last.append(day)
        else:
            stretches.append([day])
    return stretches


def days_tag(days: list[date]) -> str:
    return days[0].isoformat() if len(days) == 1 else f"{days[0].isoformat()}..{days[-1].isoformat()}"


def days_of_tag(value: str) -> set[str]:
    """The days a ``SILVER_DAYS_TAG`` value names (an unreadable value names none)."""
    first, _, last = value.partition("..")
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last or first)
    except ValueError:
        return set()
    return {(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)}


def days_in_flight(instance: dg.DagsterInstance) -> set[str]:
    """Days covered by a sensor-requested Silver run that may still change data."""
    runs = instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT), limit=500)
    return {d for r in runs for d in days_of_tag(r.dagster_run.tags.get(SILVER_DAYS_TAG, ""))}


def stretch_request(stretch: list[DayRecord]) -> dg.RunRequest:
    """One run for consecutive ready days: the partition (one day) or the partition range tags."""
    days = [r.day for r in stretch]
    tokens = ",".join(f"{r.day.isoformat()}={landed_token(r)}" for r in stretch)
    digest = hashlib.sha1(tokens.encode()).hexdigest()[:12]
    paths = sorted({r.path for r in stretch})
    tags = {SILVER_DAYS_TAG: days_tag(days), "retail_assets/day_path": "+".join(paths)}
    if len(days) > 1:
        tags |= {PARTITION_RANGE_START_TAG: days[0].isoformat(), PARTITION_RANGE_END_TAG: days[-1].isoformat()}
    return dg.RunRequest(
        run_key=f"silver:{days_tag(days)}:{digest}",
        partition_key=days[0].isoformat() if len(days) == 1 else None,
        asset_selection=SILVER_FACT_KEYS,
        tags=tags,
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
    description="Builds every Silver table of the days that became complete (ledger landed mark): one run per stretch of consecutive days.",
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
    busy = days_in_flight(context.instance) if due else set()
    ready: list[DayRecord] = []
    deferred: list[str] = []
    for record in sorted(due, key=lambda r: r.day):
        day = record.day.isoformat()
        if len(ready) >= MAX_DAYS_PER_TICK:
            break
        if day in busy:
            deferred.append(day)
            continue
        handled[day] = landed_token(record) or ""
        if not silver_is_current(context.instance, record):
            ready.append(record)
    by_day = {r.day: r for r in ready}
    requests = [stretch_request([by_day[d] for d in s]) for s in contiguous_stretches(by_day)]
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
