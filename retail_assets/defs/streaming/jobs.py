"""The ``stream_outbox`` and ``eventhub_ingest`` jobs (thin shells over ``retail_assets.streaming``).

Both run in one process (in-process executor: the outbox DuckDB file takes one writer) and carry
the ``retail_assets/streaming`` tag, whose concurrency limit of 1 in ``dagster.yaml`` queues a second
streaming run instead of letting two race for the outbox and the Bronze event tables.
"""



import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from retail_assets.config import HomeSettings
from retail_assets.defs.keys import BRONZE_BATCH_KEYS, BRONZE_EVENT_KEYS
from retail_assets.defs.resources import RetailSettings
from retail_assets.defs.streaming.assets import STREAMING_TAG, outbox_observation
from retail_assets.defs.streaming.checks import outbox_check_evaluations
from retail_assets.lake import delta, duckdb_files
from retail_assets.lake.paths import bronze_uri
from retail_assets.streaming.drain import DEFAULT_BATCH_SIZE
from retail_assets.streaming.outbox import (
    DEFAULT_MIN_RETRY_WINDOW_S,
    OUTBOX_FILE_ROLE,
    Outbox,
    OutboxError,
    OutboxLockedError,
    OutboxSettings,
    outbox_path,
)

OUTBOX_RESOURCE_KEY = "outbox_duckdb"
StreamEvent = dg.AssetMaterialization | dg.AssetObservation | dg.AssetCheckEvaluation
CHECKPOINT_DIR = "eventhub_checkpoints"


class StreamOutboxConfig(dg.Config):
    """One bounded run. ``duration_minutes`` is the original API's run length; ``max_seconds``
    (when > 0) overrides it."""

    max_events: int = 1_000_000
    duration_minutes: float = 5.0
    max_seconds: float = 0.0
    batch_size: int = DEFAULT_BATCH_SIZE
    pacing: str = "asap"  # asap | replay (business time x speedup) | realtime (event_ts vs the wall clock)
    speedup: float = 60.0
    sink: str = ""  # "" = $RETAIL_ASSETS_STREAM_SINK, else "local"; or "local" / "eventhub"
    eventhub_name: str = ""  # "" = $AZURE_EVENTHUB_NAME
    send_timeout_s: float = 10.0
    until: str = ""  # "" = $RETAIL_ASSETS_STREAM_UNTIL (default +3); or YYYY-MM-DD, +N, today
    max_attempts: int = 5
    lease_seconds: float = 120.0
    backoff_s: float = 2.0
    min_retry_window_s: float = DEFAULT_MIN_RETRY_WINDOW_S  # DEAD needs max_attempts sends spanning this long
    max_pending: int = 0  # 0: 5,000,000 per scale-factor unit (at least 5,000,000); runner.max_pending_for
    generate: bool = True


def _landed_events(lake_root: str, landed: Counter) -> Iterator[dg.AssetMaterialization]:
    """One materialization per (event table, day) that received rows, with the day's total."""
    for (event_type, day), new_rows in sorted(landed.items()):
        uri = bronze_uri(lake_root, event_type)
        total = delta.partition_row_count(uri, day) or new_rows
        yield dg.AssetMaterialization(
            asset_key=BRONZE_EVENT_KEYS[event_type],
            partition=day.isoformat(),
            metadata={"new_rows": new_rows, "dagster/row_count": total},
        )


def _batch_only_events(day: date | None, tables: tuple[str, ...]) -> Iterator[dg.AssetMaterialization]:
    for table in tables if day else ():
        yield dg.AssetMaterialization(
            asset_key=BRONZE_BATCH_KEYS[table],
            partition=day.isoformat(),
            metadata={"path": "stream", "note": "batch-only table written on a stream day"},
        )


SINK_CHECKS = {
    "local": "that RETAIL_ASSETS_HOME / RETAIL_ASSETS_LAKE_ROOT point at a writable lake",
    "eventhub": "AZURE_EVENTHUB_CONNECTION_STRING (endpoint and key), the hub name (eventhub_name in the op config "
    "or AZURE_EVENTHUB_NAME), and that this machine reaches the namespace on the network (AMQP port 5671)",
}


def sink_failure(sink: str, result, attempts: dict[str, int]) -> dg.Failure:
    """The run's failure when the sink took nothing: what failed, what is pending, what to check."""
    from retail_assets.streaming.sinks.scrub import scrub

    d, status = result.drain, result.status
    error = scrub(d.last_error or "no error text")[:1000]
    return dg.Failure(
        description=(
            f"the {sink} sink is unreachable: 0 of {d.leased:,} leased events were sent ({error}). Nothing is lost: "
            f"{status.get('pending', 0):,} events are pending and {status.get('leased', 0):,} leased (held for their "
            f"retry back-off) in the outbox, {d.dead:,} reached the attempt limit of {attempts['limit']} and are DEAD "
            f"(see the no_dead_letters check). Check {SINK_CHECKS.get(sink, 'the sink settings')}; the "
            "outbox_sensor retries on its next tick (no new day is generated while any event is not SENT)."
        ),
        metadata={
            "sink": sink,
            "error": error,
            "pending": int(status.get("pending", 0)),
            "leased": int(status.get("leased", 0)),
            "dead": int(status.get("dead", 0)),
            "failed_this_run": d.failed,
            "max_attempts_used": attempts["max"],
            "attempt_limit": attempts["limit"],
            "stop_reason": d.stop_reason[:500],
            "what_to_check": SINK_CHECKS.get(sink, "the sink settings"),
        },
    )


def refusal_failure(verdict) -> dg.Failure:
    """The run's failure when no run can make progress until the operator acts: DEAD events block the
    next day, or the disk guard refused it. The description is the policy's sentence (day, counts, fix)."""
    return dg.Failure(
        description=verdict.reason,
        metadata={"refusal": verdict.kind, "next_day": verdict.next_day.isoformat(), **dict(verdict.metadata or {})},
    )


def _run_in_progress(instance: dg.DagsterInstance):
    """``dagster_run_in_progress(run_id)`` for lease owners ``dagster:<run_id>``: a run is gone once it
    has finished (success, failure, canceled). A run this instance does not know counts as in
    progress: its leases come back when they expire, never while it might still be sending."""

    def in_progress(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id)
        return run is None or not run.is_finished

    return in_progress


def lock_failure(exc: OutboxLockedError, database: str, waited_s: float) -> dg.Failure:
    return dg.Failure(
        description=(
            f"the outbox {database} stayed locked for {waited_s:g} s by another process: DuckDB lets one process "
            "open the file at a time, and another one holds it — most likely a `retail-assets stream` started "
            "outside Dagster (or a script holding a connection). Nothing was changed. Let that process finish "
            "or stop it (`ps aux | grep 'retail-assets stream'`), then re-execute this run; the outbox_sensor "
            "launches the next run by itself once the file is free."
        ),
        metadata={"database": database, "lock_wait_seconds": waited_s, "error": str(exc)[:1000]},
    )


@dg.op(required_resource_keys={"retail_settings", OUTBOX_RESOURCE_KEY}, out={})
def stream_outbox_op(context: dg.OpExecutionContext, config: StreamOutboxConfig) -> Iterator[StreamEvent]:
    """A generator so that the run's events (materializations, the outbox observation and check
    evaluations) are recorded before a sink failure fails the run (``context.log_event`` buffers
    them until the op returns)."""
    from retail_assets.config import parse_stream_until
    from retail_assets.pipeline import USER_FIXABLE_ERRORS
    from retail_assets.streaming.drain import DrainSettings
    from retail_assets.streaming.lease_owner import dagster_owner, owner_liveness
    from retail_assets.streaming.runner import StreamSettings, stream_once
    from retail_assets.streaming.sinks.factory import build_sink, resolve_sink_kind

    settings: RetailSettings = context.resources.retail_settings
    duck: DuckDBResource = context.resources.outbox_duckdb
    home: HomeSettings = settings.home_settings()
    attempts = {"max": 0, "events": 0, "limit": config.max_attempts}
    try:
        stream_settings = StreamSettings(
            drain=DrainSettings(
                max_events=config.max_events,
                max_seconds=config.max_seconds or config.duration_minutes * 60.0,
                batch_size=config.batch_size,
                pacing=config.pacing,
                speedup=config.speedup,
            ),
            outbox=OutboxSettings(
                max_attempts=config.max_attempts, lease_seconds=config.lease_seconds, backoff_base_s=config.backoff_s,
                min_retry_window_s=config.min_retry_window_s,
            ),
            max_pending=config.max_pending or None,
            generate=config.generate,
            until=parse_stream_until(config.until, "op config `until`") if config.until else None,
        )
        outbox = Outbox(outbox_path(home.state_dir), connect=duck.get_connection, settings=stream_settings.outbox)
        sink_kind = resolve_sink_kind(config.sink)
        dataset = settings.dataset(whole_day=False)  # a large day streams in shards (sharded_day.py)
        sink = build_sink(
            sink_kind, home.lake_root, config.eventhub_name, config.send_timeout_s, earliest=dataset.start_date
        )
        try:
            # no ``log=``: the core modules log through ``logging`` (retail_assets.*), which the
            # instance's managed_python_loggers route into this run's logs
            result = stream_once(
                home, dataset, sink, dagster_owner(context.run_id), stream_settings, outbox=outbox,
                is_alive=owner_liveness(dagster_run_in_progress=_run_in_progress(context.instance)),
            )
        finally:
            sink.close()
        if result.drain.failed:
            attempts = outbox.open_attempts()
    except OutboxLockedError as exc:
        raise lock_failure(exc, str(outbox_path(home.state_dir)), _lock_wait(duck)) from exc
    except (*USER_FIXABLE_ERRORS, OutboxError, ValueError) as exc:
        raise dg.Failure(description=str(exc)) from exc
    yield from _batch_only_events(result.generated_day, result.batch_tables_written)
    yield from _landed_events(home.lake_root, result.drain.landed)
    d = result.drain
    if d.reclaimed:
        context.log.info(
            "reclaimed leases of runs that are gone: "
            + "; ".join(f"{n:,} events of {owner}" for owner, n in d.reclaimed.items())
            + " (back to PENDING, no attempt charged; this run sent them)"
        )
    observation = outbox_observation(result.status, "stream_outbox run", sink_error=d.last_error if d.failed else None)
    yield dg.AssetObservation(
        asset_key=observation.asset_key,
        description=observation.description,
        metadata={
            **observation.metadata,
            "reclaimed_leases": dg.MetadataValue.int(sum(d.reclaimed.values())),
            "leases_and_retries": dg.MetadataValue.json(d.leases_and_retries()),
        },
    )
    yield from outbox_check_evaluations(result.status)
    context.log.info(
        f"stream run: {d.sent} sent, {d.failed} failed, {d.dead} dead, {d.duplicates} duplicates, "
        f"rejected {dict(d.rejected)}, stop: {d.stop_reason}"
    )
    if d.failed and not d.sent:
        raise sink_failure(sink_kind, result, attempts)
    if result.blocked is not None:
        raise refusal_failure(result.blocked)
    if result.refusal is not None and result.refusal.kind != "draining":
        context.log.info(f"no day generated: {result.refusal.reason}")
    if d.failed:
        from retail_assets.streaming.sinks.scrub import scrub

        context.log.warning(
            f"the {sink_kind} sink failed part-way: {d.sent:,} events sent, then {d.failed:,} failed "
            f"({scrub(d.last_error or '')[:500]}); they stay in the outbox and the next run retries them. "
            f"Check {SINK_CHECKS.get(sink_kind, 'the sink settings')}."
        )


@dg.job(
    tags=STREAMING_TAG,
    executor_def=dg.in_process_executor,
    description="Generate the next day into the outbox when it is empty, then drain it to the sink (bounded).",
)
def stream_outbox() -> None:
    stream_outbox_op()


class EventHubIngestConfig(dg.Config):
    eventhub_name: str
    consumer_group: str = "$Default"
    max_events: int = 1_000_000
    max_seconds: float = 60.0


@dg.op(required_resource_keys={"retail_settings"})
def eventhub_ingest_op(context: dg.OpExecutionContext, config: EventHubIngestConfig) -> None:
    from retail_assets.streaming.sinks.eventhub import EventHubConfigError, consume_to_bronze

    home: HomeSettings = context.resources.retail_settings.home_settings()
    try:
        result = consume_to_bronze(
            home.lake_root,
            home.state_dir / CHECKPOINT_DIR,
            config.eventhub_name,
            consumer_group=config.consumer_group,
            max_events=config.max_events,
            max_seconds=config.max_seconds,
            earliest=context.resources.retail_settings.dataset(whole_day=False).start_date,
        )
    except EventHubConfigError as exc:
        raise dg.Failure(description=str(exc)) from exc
    for event in _landed_events(home.lake_root, result.report.landed):
        context.log_event(event)
    context.log.info(
        f"ingest: {result.events} events read in {result.batches} batches, {result.report.landed_total} landed, "
        f"{result.report.duplicates} duplicates, rejected {dict(result.report.rejected)}"
    )
    if result.error:
        context.log.warning(f"Event Hubs reported: {result.error}")


@dg.job(
    tags=STREAMING_TAG,
    executor_def=dg.in_process_executor,
    description="Land an Event Hub's events into the Bronze event tables (checkpoints under RETAIL_ASSETS_HOME).",
)
def eventhub_ingest() -> None:
    eventhub_ingest_op()


class OutboxDuckDBResource(DuckDBResource):
    """``DuckDBResource`` whose connection waits a bounded time for another process's file lock.

    Why: the stock resource backs off for ~100 s and then raises DuckDB's bare IOException; a run
    should instead give up after ``lock_wait_seconds`` with ``OutboxLockedError``, which the op turns
    into a message naming the file, the likely holder and the fix — and fail at once on a damaged
    file with ``OutboxCorruptError`` and the restore steps (``lake/duckdb_files.py``).
    """

    lock_wait_seconds: float = Field(default=30.0, description="how long to wait for another process's lock")

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        config = {"custom_user_agent": "dagster", **self.connection_config}
        pause_s = 0.1
        attempts = max(1, math.ceil(self.lock_wait_seconds / pause_s))
        with duckdb_files.session(
            self.database, OUTBOX_FILE_ROLE, attempts=attempts, pause_s=pause_s, config=config
        ) as conn:
            yield conn


def _lock_wait(duck: DuckDBResource) -> float:
    return float(getattr(duck, "lock_wait_seconds", 0.0))


def outbox_resource(home: HomeSettings | None = None, lock_wait_seconds: float = 30.0) -> OutboxDuckDBResource:
    home = home or HomeSettings.from_env()
    return OutboxDuckDBResource(database=str(outbox_path(home.state_dir)), lock_wait_seconds=lock_wait_seconds)


@dg.definitions
def streaming_resources() -> dg.Definitions:
    """The outbox resource (the jobs above are module-level objects, found by ``load_from_defs_folder``)."""
    return dg.Definitions(resources={OUTBOX_RESOURCE_KEY: outbox_resource()})
