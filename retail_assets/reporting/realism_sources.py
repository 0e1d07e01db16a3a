"""The relations the realism metrics query, as one DuckDB connection — from the lake or from memory.

Why: the metrics are SQL over fixed relation names (``fact_receipts``, ``ctl_state_inventory``, …),
so the same SQL runs over a lake's Delta tables (the CLI and the asset), over freshly generated
days held in memory (the saved model report and the property tests) and over small hand-built
tables whose answer is known (the unit tests). A relation the source lacks is registered empty
with its contract schema: the metric that needs it then says "not enough data" instead of failing.

Only the columns in ``RELATION_COLUMNS`` are read; for Delta tables DuckDB pushes that projection
and the day filter into the pyarrow dataset, so a long lake is not loaded whole.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import pyarrow as pa

from retail_assets.contract.catalog import bronze_table
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.lake import delta, paths

LAYERS = ("bronze", "silver")

#: relation -> the columns the metrics use (the first column is the day column the range filters on).
RELATION_COLUMNS: dict[str, tuple[str, ...]] = {
    "fact_receipts": (
        "event_date",
        "event_ts",
        "receipt_type",
        "store_id",
        "payment_method",
        "subtotal_cents",
        "discount_cents",
        "total_cents",
    ),
    "fact_receipt_lines": ("event_date", "store_id", "product_id", "quantity", "ext_cents", "discount_cents"),
    "fact_online_order_headers": ("event_date", "total_cents"),
    "fact_marketing": ("event_date", "channel", "cost"),
    "fact_reorders": ("event_date", "store_id", "reorder_quantity", "allocated_quantity"),
    "fact_store_inventory_txn": ("event_date", "store_id", "product_id", "txn_type", "quantity"),
    "fact_foot_traffic": ("event_date", "event_ts", "zone", "customer_count"),
    "fact_ble_pings": ("event_date", "visit_id_ext"),
    "ctl_state_inventory": ("state_date", "location_type", "location_id", "product_id", "on_hand"),
    "dim_products": (
        "product_id",
        "department",
        "requires_refrigeration",
        "sale_price_cents",
        "launch_date",
        "tags",
    ),
}
DAY_COLUMN = {name: cols[0] for name, cols in RELATION_COLUMNS.items() if not name.startswith("dim_")}


class RealismSourceError(ValueError):
    """The realism report cannot read its input; the message names the problem and the fix."""


def _spec_schema(name: str) -> pa.Schema:
    """The contract types of the columns the metrics read from ``name``."""
    schema = bronze_table(name).arrow_schema
    return pa.schema([schema.field(c) for c in RELATION_COLUMNS[name]])


def _new_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose clock is UTC, so ``hour(event_ts)`` is the contract's UTC hour."""
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def _range_filter(name: str, start: date | None, end: date | None) -> str:
    if name not in DAY_COLUMN:
        return ""
    col = DAY_COLUMN[name]
    parts = []
    if start is not None:
        parts.append(f"{col} >= DATE '{start.isoformat()}'")
    if end is not None:
        parts.append(f"{col} <= DATE '{end.isoformat()}'")
    return (" WHERE " + " AND ".join(parts)) if parts else ""


def _expose(
    conn: duckdb.DuckDBPyConnection, name: str, data: Any, start: date | None, end: date | None
) -> None:
    """Register ``data`` as ``raw_<name>`` and expose the day range of its needed columns as ``name``."""
    conn.register(f"raw_{name}", data)
    cols = ", ".join(RELATION_COLUMNS[name])
    conn.execute(
        f"CREATE OR REPLACE VIEW {name} AS SELECT {cols} FROM raw_{name}{_range_filter(name, start, end)}"
    )


def connect_tables(
    tables: dict[str, pa.Table], start: date | None = None, end: date | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection over in-memory Arrow tables (missing relations empty, extra columns ignored)."""
    conn = _new_connection()
    for name in RELATION_COLUMNS:
        data = tables.get(name)
        if data is None:
            data = _spec_schema(name).empty_table()
        else:
            missing = [c for c in RELATION_COLUMNS[name] if c not in data.column_names]
            if missing:
                raise RealismSourceError(
                    f"table {name} lacks the column(s) {missing} the realism metrics read; "
                    f"give it the contract's columns {list(RELATION_COLUMNS[name])}."
                )
        _expose(conn, name, data, start, end)
    return conn


def connect_lake(
    lake_root: str, layer: str = "bronze", start: date | None = None, end: date | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection over the lake's Delta tables: facts from Bronze batch (``cusn``) or Silver (``ag``).

    Bronze batch holds the batch-generated days only (a streamed day's rows are in the Bronze event
    tables); Silver holds both paths once built. Dimensions and the carried state always come from
    ``cusn``. A table that does not exist yet reads as empty.
    """
    if layer not in LAYERS:
        raise RealismSourceError(
            f"layer {layer!r} is not one of {LAYERS}; use --layer bronze or --layer silver."
        )
    conn = _new_connection()
    for name in RELATION_COLUMNS:
        uri = (
            paths.silver_uri(lake_root, name)
            if layer == "silver" and name in FACT_TABLES
            else paths.bronze_uri(lake_root, name)
        )
        opened = delta.open_if_exists(uri)
        if opened is None:
            data: Any = _spec_schema(name).empty_table()
        else:
            data = delta.snapshot_dataset(opened, uri)
        _expose(conn, name, data, start, end)
    return conn


def days_held(conn: duckdb.DuckDBPyConnection) -> list[date]:
    """The days with SALE receipts in the range: the days a metric can use."""
    rows = conn.execute(
        "SELECT DISTINCT event_date FROM fact_receipts WHERE receipt_type = 'SALE' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]
