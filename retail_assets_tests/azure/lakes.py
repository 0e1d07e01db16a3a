"""Build the demo's lake (batch days, a streamed day, Silver) through the project's own code paths.

Used twice by the Azure tests — once on a local path, once on Azurite — so that the two lakes can
be compared table by table. The steps are the Dagster assets' functions, without Dagster (the demo
itself is `make demo-azure`): dimensions, Bronze batch days, one ``stream_once`` through the
outbox and the local Delta sink, the Silver dimension copies and the 18 Silver tables of every day
with their checks (DuckDB engine).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from retail_assets import pipeline
from retail_assets.config import HomeSettings
from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.lake import delta
from retail_assets.silver.dimensions import copy_dimension
from retail_assets.streaming.drain import DrainSettings
from retail_assets.streaming.runner import StreamSettings, stream_once
from retail_assets.streaming.sinks.local import LocalDeltaSink
from retail_assets_tests.silver.conftest import SETTINGS, build_day

BATCH_DAYS = [SETTINGS.start_date, SETTINGS.start_date + timedelta(days=1)]
STREAM_DAY = SETTINGS.start_date + timedelta(days=2)
DAYS = [*BATCH_DAYS, STREAM_DAY]
LANDING_TIME_COLUMNS = ("_landed_ts",)
"""Set from the wall clock when events land: the only columns two runs may differ in."""


def build_demo_lake(home: HomeSettings) -> dict[date, dict]:
    """Every table the demo writes, for BATCH_DAYS + STREAM_DAY; returns the Silver outcomes per day."""
    pipeline.build_and_write_dimensions(home, SETTINGS)
    for day in BATCH_DAYS:
        pipeline.generate_and_write_day(home, SETTINGS, day, "batch", owner="azure-test")
    result = stream_once(
        home, SETTINGS, LocalDeltaSink(home.lake_root), owner="azure-test",
        settings=StreamSettings(drain=DrainSettings(max_seconds=120.0)), today=STREAM_DAY,
    )
    assert result.generated_day == STREAM_DAY and result.drain.sent == result.enqueued > 0, result
    for name in DIMENSION_TABLES:
        copy_dimension(home.lake_root, name)
    return {day: build_day(home, day) for day in DAYS}


def local_tables(lake_root: Path) -> set[str]:
    """``schema/table`` of every Delta table under a local lake root."""
    return {f"{p.parent.parent.name}/{p.parent.name}" for p in lake_root.glob("*/*/_delta_log")}


def blob_tables(blob_names: list[str], prefix: str) -> set[str]:
    """``schema/table`` of every Delta table among the blob names under ``prefix`` (Azurite listing)."""
    found = set()
    for name in blob_names:
        parts = name.removeprefix(prefix.strip("/") + "/").split("/")
        if len(parts) > 2 and parts[2] == "_delta_log":
            found.add(f"{parts[0]}/{parts[1]}")
    return found


def comparable(uri: str) -> pa.Table:
    """A table's rows in a canonical order, without the landing-time columns."""
    data = delta.read_table(uri)
    data = data.drop_columns([c for c in LANDING_TIME_COLUMNS if c in data.column_names])
    if data.num_rows == 0:
        return data
    keys = [(c, "ascending") for c in data.column_names if not pa.types.is_nested(data.schema.field(c).type)]
    return data.take(pc.sort_indices(data, sort_keys=keys))
