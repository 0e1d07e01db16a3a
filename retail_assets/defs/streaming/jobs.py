"""The ``stream_outbox`` and ``eventhub_ingest`` jobs (thin shells over ``retail_assets.streaming``).

Both run in one process (in-process executor: the outbox DuckDB file takes one writer) and carry
the ``retail_assets/streaming`` tag, whose concurrency limit of 1 in ``dagster.yaml`` queues a second
streaming run instead of letting two race for the outbox and the Bronze event tables.
"""



from collections import Counter
from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from retail_assets.config import HomeSettings
from retail_assets.defs.resources import RetailSettings
from retail_assets.defs.streaming.assets import BRONZE_EVENT_KEYS, STREAMING_TAG, outbox_observation
from retail_assets.lake import delta
from retail_assets.streaming.drain import DEFAULT_BATCH_SIZE
from retail_assets.streaming.outbox import Outbox, OutboxError, OutboxSettings, outbox_path

OUTBOX_RESOURCE_KEY = "outbox_duckdb"
CHECKPOINT_DIR = "eventhub_checkpoints"


class StreamOutboxConfig(dg.Config):
    """One bounded run. ``duration_minutes`` is the original API's run length; ``max_seconds``
    (when > 0) overrides it."""

    max_events: int = 1_000_000
    duration_minutes: float = 5.0
    max_seconds: float = 0.0
    batch_size: int = DEFAULT_BATCH_SIZE
    pacing: str = "asap"
    speedup: float = 60.0
    sink: str = "local"
    eventhub_name: str = ""
    send_timeout_s: float = 10.0
    max_attempts: int = 5
    lease_seconds: float = 120.0
    backoff_s: float = 2.0
    max_pending: int = 5_000_000
    generate: bool = True


def _report_landed(context: dg.OpExecutionContext, lake_root: str, landed: Counter) -> None:
    """One materialization per (event table, day) that received rows, with the day's total."""
    for (event_type, day), new_rows in sorted(landed.items()):
        uri = delta.table_uri(lake_root, "cusn", event_type)
        total = delta.partition_row_counts(uri).get(day, new_rows)
        context.log_event(
            dg.AssetMaterialization(
                asset_key=BRONZE_EVENT_KEYS[event_type],
                partition=day.isoformat(),
                metadata={"new_rows": new_rows, "dagster/row_count": total},
            )
        )


def _report_batch_only(context: dg.OpExecutionContext, day: date | None, tables: tuple[str, ...]) -> None:
    for table in tables if day else ():
        context.log_event(
            dg.AssetMaterialization(
                asset_key=dg.AssetKey(["cusn", table]),
                partition=day.isoformat(),
                metadata={"path": "stream", "note": "batch-only table written on a stream day"},
            )
        )


@dg.op(required_resource_keys={"retail_settings", OUTBOX_RESOURCE_KEY})
def stream_outbox_op(context: dg.OpExecutionContext, config: StreamOutboxConfig) -> None:
    from retail_assets.pipeline import USER_FIXABLE_ERRORS
    from retail_assets.streaming.cli import build_sink
    from retail_assets.streaming.drain import DrainSettings
    from retail_assets.streaming.runner import StreamSettings, stream_once

    settings: RetailSettings = context.resources.retail_settings
    duck: DuckDBResource = context.resources.outbox_duckdb
    home: HomeSettings = settings.home_settings()
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
                max_attempts=config.max_attempts, lease_seconds=config.lease_seconds, backoff_base_s=config.backoff_s
            ),
            max_pending=config.max_pending,
            generate=config.generate,
        )
        outbox = Outbox(outbox_path(home.state_dir), connect=duck.get_connection, settings=stream_settings.outbox)
        sink = build_sink(config.sink, home.lake_root, config.eventhub_name, config.send_timeout_s)
        try:
            result = stream_once(
                home, settings.dataset(), sink, f"dagster:{context.run_id}", stream_settings, outbox=outbox,
                log=context.log.info,
            )
        finally:
            sink.close()
    except (*USER_FIXABLE_ERRORS, OutboxError, ValueError) as exc:
        raise dg.Failure(description=str(exc)) from exc
    _report_batch_only(context, result.generated_day, result.batch_tables_written)
    _report_landed(context, home.lake_root, result.drain.landed)
    context.log_event(outbox_observation(result.status, "stream_outbox run"))
    d = result.drain
    context.log.info(
        f"stream run: {d.sent} sent, {d.failed} failed, {d.dead} dead, {d.duplicates} duplicates, "
        f"rejected {dict(d.rejected)}, stop: {d.stop_reason}"
    )
    if d.failed and not d.sent:
        context.log.warning(f"the sink failed: {d.last_error}; events stay in the outbox for a later run.")


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
        )
    except EventHubConfigError as exc:
        raise dg.Failure(description=str(exc)) from exc
    _report_landed(context, home.lake_root, result.report.landed)
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


def outbox_resource(home: HomeSettings | None = None) -> DuckDBResource:
    home = home or HomeSettings.from_env()
    return DuckDBResource(database=str(outbox_path(home.state_dir)))


@dg.definitions
def streaming_jobs() -> dg.Definitions:
    return dg.Definitions(jobs=[stream_outbox, eventhub_ingest], resources={OUTBOX_RESOURCE_KEY: outbox_resource()})
