"""Rows of ``cusn.ctl_day_manifest`` (contract §2): which path produced each (day, fact table).

The manifest records the *outcome* of a day (the claim itself lives in the ledger): a row per fact
table and day with the path of the §2 path rule and the number of rows generated, so checks and
Silver can verify completeness without trusting either path's own bookkeeping.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pyarrow as pa

from retail_assets.config import DatasetSettings
from retail_assets.contract.tables import BATCH_ONLY_TABLES, CONTROL_TABLES, FACT_TABLES

MANIFEST_TABLE = "ctl_day_manifest"


def table_path(table: str, day_path: str) -> str:
    """§2 path rule: on a stream day only the batch-only tables stay ``batch``."""
    if day_path not in ("batch", "stream"):
        raise ValueError(f"day path must be 'batch' or 'stream', got {day_path!r}")
    return "batch" if day_path == "batch" or table in BATCH_ONLY_TABLES else "stream"


def manifest_rows(
    day: date, day_path: str, row_counts: Mapping[str, int], settings: DatasetSettings
) -> pa.Table:
    """The manifest rows of one day, one per fact table in FACT_TABLES order, typed exactly as the contract says."""
    missing = [t for t in FACT_TABLES if t not in row_counts]
    if missing:
        raise ValueError(f"manifest for {day}: no row count for {missing}")
    names = list(FACT_TABLES)
    return pa.table(
        {
            "event_date": [day] * len(names),
            "table_name": names,
            "path": [table_path(t, day_path) for t in names],
            "expected_rows": [int(row_counts[t]) for t in names],
            "dataset_id": [settings.dataset_id] * len(names),
            "model_version": [settings.model_version] * len(names),
        },
        schema=CONTROL_TABLES[MANIFEST_TABLE].arrow_schema,
    )
