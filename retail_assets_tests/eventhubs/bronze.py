"""Reading what a run produced, for comparisons: Bronze event rows and the outbox's own order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa

from retail_assets.contract.events import EVENT_TYPES
from retail_assets.lake import delta
from retail_assets.streaming.outbox import OUTBOX_FILE, TABLE

LANDING_ONLY = ("_landed_ts", "_sink", "_eh_partition_id", "_eh_sequence_number")


def bronze_events(lake_root: str, keep_transport: bool = False) -> dict[str, pa.Table]:
    """Every Bronze event table that has rows, sorted by event_id, without the landing columns
    (which say when and through which sink a row arrived, so they differ between sinks)."""
    tables = {}
    for name in EVENT_TYPES:
        uri = delta.table_uri(lake_root, "cusn", name)
        if not delta.table_exists(uri):
            continue
        table = delta.read_table(uri)
        drop = [c for c in LANDING_ONLY if c in table.column_names and not (keep_transport and c.startswith("_eh_"))]
        table = table.drop_columns(drop)
        tables[name] = table.sort_by("event_id")
    return tables


def outbox_table(state_dir: Path) -> pa.Table:
    """Every outbox event (the columns a sink reads), in outbox order."""
    with duckdb.connect(str(Path(state_dir) / OUTBOX_FILE), read_only=True) as conn:
        return conn.sql(
            f"SELECT outbox_seq, event_type, event_id, partition_key, body FROM {TABLE} ORDER BY outbox_seq"
        ).to_arrow_table()


def run_cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """``retail-assets <args>`` as a real subprocess of this environment."""
    exe = os.path.join(os.path.dirname(sys.executable), "retail-assets")
    return subprocess.run([exe, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)
