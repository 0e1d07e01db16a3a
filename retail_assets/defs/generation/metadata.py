"""Materialization metadata of generated tables, derived from the contract and the Arrow data.

Why separate: the dimension and Bronze assets (and the demo's summary) describe tables the same
way — row count, column schema, event-time range, Delta URI, dataset_id — so the UI reads alike
for every table.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.contract.types import TableSpec


def table_schema(spec: TableSpec) -> dg.TableSchema:
    """The contract's columns as a Dagster ``TableSchema`` (name, type, nullability)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=str(c.type),
                constraints=dg.TableColumnConstraints(nullable=c.nullable),
                description=f"one of {', '.join(c.enum)}" if c.enum else None,
            )
            for c in spec.columns
        ]
    )


def table_metadata(
    spec: TableSpec, data: pa.Table | int, uri: str, dataset_id: str, path: str | None = None
) -> dict[str, Any]:
    """Metadata of one written table (or partition); ``data`` is its rows, or only their count for a
    table written a batch at a time (``dim_customers``), which then has no event-time range."""
    rows = data if isinstance(data, int) else data.num_rows
    meta: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": table_schema(spec),
        "dagster/uri": dg.MetadataValue.path(uri),
        "dataset_id": dg.MetadataValue.text(dataset_id),
    }
    if path is not None:
        meta["generation_path"] = dg.MetadataValue.text(path)
    if isinstance(data, pa.Table) and "event_ts" in data.column_names and rows:
        bounds = pc.min_max(data.column("event_ts"))
        meta["event_ts_min"] = dg.MetadataValue.timestamp(bounds["min"].as_py())
        meta["event_ts_max"] = dg.MetadataValue.timestamp(bounds["max"].as_py())
    return meta
