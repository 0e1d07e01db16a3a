"""Asset specs of the streaming side: a Bronze table per contract event type, and the outbox.

The Bronze event tables are written by runs (the stream job's local sink, the Event Hubs ingest
job), not by an asset function, so they are *external* partitioned ``AssetSpec``s; the runs report
``AssetMaterialization(asset_key, partition=day)`` for every (table, day) they landed rows in, which
gives the per-day counts in the UI. The outbox is an external spec too; runs and the sensor attach
``AssetObservation``s with its counts, which the UI plots over time.
"""

from __future__ import annotations

import dagster as dg

from retail_assets.contract.events import BRONZE_EVENT_TABLES
from retail_assets.defs.keys import BRONZE_EVENT_KEYS, BRONZE_EVENTS_GROUP, OUTBOX_KEY, STREAMING_GROUP
from retail_assets.defs.partitions import daily_partitions

STREAMING_TAG = {"retail_assets/streaming": "true"}


def _columns(name: str) -> dg.TableSchema:
    spec = BRONZE_EVENT_TABLES[name]
    return dg.TableSchema(columns=[dg.TableColumn(c.name, str(c.type)) for c in spec.columns])


bronze_event_specs = [
    dg.AssetSpec(
        key=key,
        group_name=BRONZE_EVENTS_GROUP,
        partitions_def=daily_partitions,
        description=(
            f"Landed `{name}` events (contract §5.5): envelope + typed payload columns, one row per "
            "event_id, appended by the local sink or the Event Hubs ingest job."
        ),
        metadata={"dagster/column_schema": _columns(name), "event_type": name},
        kinds={"delta"},
    )
    for name, key in BRONZE_EVENT_KEYS.items()
]

outbox_spec = dg.AssetSpec(
    key=OUTBOX_KEY,
    group_name=STREAMING_GROUP,
    description=(
        "The DuckDB outbox `streaming_outbox` (contract §5.6) under RETAIL_ASSETS_HOME/state. "
        "Observations carry pending / leased / sent / dead counts and the oldest pending event time."
    ),
    kinds={"duckdb"},
)


def outbox_observation(status: dict, source: str, sink_error: str | None = None) -> dg.AssetObservation:
    """An observation of the outbox counts (numbers, so the UI plots them); ``sink_error`` (scrubbed)
    when the run's sink failed."""
    oldest = status.get("oldest_pending_ts")
    extra: dict[str, dg.MetadataValue] = {}
    if sink_error:
        from retail_assets.streaming.sinks.scrub import scrub

        extra["sink_error"] = dg.MetadataValue.text(scrub(sink_error)[:1000])
    return dg.AssetObservation(
        asset_key=OUTBOX_KEY,
        metadata={
            **extra,
            "pending": dg.MetadataValue.int(int(status.get("pending", 0))),
            "leased": dg.MetadataValue.int(int(status.get("leased", 0))),
            "sent": dg.MetadataValue.int(int(status.get("sent", 0))),
            "dead": dg.MetadataValue.int(int(status.get("dead", 0))),
            "oldest_pending_ts": dg.MetadataValue.text(oldest or "none"),
            "days": dg.MetadataValue.int(len(status.get("days", []))),
            "source": dg.MetadataValue.text(source),
        },
    )

