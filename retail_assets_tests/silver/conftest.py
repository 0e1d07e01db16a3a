"""Silver fixtures: a generated lake (sf 0.01), Sail started once per session, build helpers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.contract.events import bronze_event_spec
from retail_assets.contract.tables import BATCH_ONLY_TABLES, STREAMABLE_TABLES
from retail_assets.lake import delta
from retail_assets.silver.checks import CheckContext
from retail_assets.silver.engines import DuckDBEngine
from retail_assets.silver.materialize import SilverOutcome, build_check_commit
from retail_assets_tests.conftest import TEST_SCALE_FACTOR, TEST_SEED, TEST_START_DATE
from retail_assets_tests.silver.synthetic import facts_to_bronze_events

DAY1 = TEST_START_DATE
DAY2 = TEST_START_DATE + timedelta(days=1)
SETTINGS = DatasetSettings(seed=TEST_SEED, scale_factor=TEST_SCALE_FACTOR, start_date=TEST_START_DATE)


def make_home(path: Path) -> HomeSettings:
    return HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(path)})


def generate(home: HomeSettings, days: dict[date, str]) -> dict[date, dict]:
    """Dimensions + the given days on the given paths; stream days land test events (see synthetic)."""
    pipeline.build_and_write_dimensions(home, SETTINGS)
    out = {}
    for day, path in sorted(days.items()):
        result = pipeline.generate_and_write_day(home, SETTINGS, day, path, owner="silver-test")
        out[day] = result.tables
        if path == "stream":
            land_test_events(home, result.tables)
    return out


def land_test_events(home: HomeSettings, tables: dict) -> None:
    """Bronze event rows for the 16 streamable tables of a day (test-only inverse of the mapping)."""
    merged: dict[str, list] = {}
    for table in STREAMABLE_TABLES:
        for event_type, rows in facts_to_bronze_events(table, tables[table]).items():
            merged.setdefault(event_type, []).append(rows)
    import pyarrow as pa

    for event_type, parts in merged.items():
        data = pa.concat_tables(parts)
        if data.num_rows:
            uri = delta.table_uri(home.lake_root, "cusn", event_type)
            delta.append(uri, data, bronze_event_spec(event_type).arrow_schema)


def build_day(home: HomeSettings, day: date, tables=None, fail_on_schema_mismatch: bool = False) -> dict[str, SilverOutcome]:
    from retail_assets.silver.checks import build_order

    out = {}
    ctx = CheckContext(home.lake_root, SETTINGS.dataset_id, fail_on_schema_mismatch)
    for table in tables or build_order():
        with duckdb.connect() as conn:
            out[table] = build_check_commit(DuckDBEngine(conn), conn, ctx, table, day)
    return out


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One Spark Connect session on an in-process Sail server for the whole test session."""
    from retail_assets.silver.sail import spark_connect_session

    session = spark_connect_session()
    yield session


@pytest.fixture(scope="session")
def two_day_lake(tmp_path_factory) -> tuple[HomeSettings, dict]:
    """Read-only lake: day 1 on the batch path, day 2 on the stream path (events landed)."""
    home = make_home(tmp_path_factory.mktemp("silver_lake"))
    tables = generate(home, {DAY1: "batch", DAY2: "stream"})
    return home, tables


__all__ = ["BATCH_ONLY_TABLES", "DAY1", "DAY2", "SETTINGS", "build_day", "generate", "make_home"]
