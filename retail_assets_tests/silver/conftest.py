"""Silver fixtures: a generated lake (sf 0.01), Sail started once per session, build helpers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.contract.tables import BATCH_ONLY_TABLES
from retail_assets.defs.resources import RetailSettings
from retail_assets.silver.checks import CheckContext
from retail_assets.silver.engines import DuckDBEngine
from retail_assets.silver.materialize import SilverOutcome, build_check_commit
from retail_assets_tests.conftest import TEST_SCALE_FACTOR, TEST_SEED, TEST_START_DATE

DAY1 = TEST_START_DATE
DAY2 = TEST_START_DATE + timedelta(days=1)
SETTINGS = DatasetSettings(seed=TEST_SEED, scale_factor=TEST_SCALE_FACTOR, start_date=TEST_START_DATE)


def make_home(path: Path) -> HomeSettings:
    return HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(path)})


def retail_settings_resource(home: HomeSettings) -> RetailSettings:
    """The ``retail_settings`` resource of the test dataset, on ``home``."""
    return RetailSettings(
        seed=str(TEST_SEED),
        scale_factor=str(TEST_SCALE_FACTOR),
        start_date=TEST_START_DATE.isoformat(),
        home=str(home.home),
    )


def generate(home: HomeSettings, days: dict[date, str]) -> dict[date, dict]:
    """Dimensions + the given days on the given paths; stream days land test events (see synthetic)."""
    pipeline.build_and_write_dimensions(home, SETTINGS)
    out = {}
    for day, path in sorted(days.items()):
        result = pipeline.generate_and_write_day(home, SETTINGS, day, path, owner="silver-test")
        out[day] = result.tables
        if path == "stream":
            land_test_events(home, result.tables, day)
    return out


def land_test_events(home: HomeSettings, tables: dict, day: date) -> None:
    """The real stream path without the outbox: fact rows -> canonical events -> local landing."""
    from retail_assets.streaming.events import build_day_events
    from retail_assets.streaming.landing import Lander

    events = build_day_events(tables, SETTINGS.dataset_id, SETTINGS.start_date, day)
    from retail_assets.lake.ledger import Ledger

    report = Lander(home.lake_root, "local").land(events.column("body"))
    assert report.rejected_total == 0, report
    assert Ledger(home.state_dir).mark_landed([day]) == [day]  # what the streaming runner does once all are SENT


def build_day(
    home: HomeSettings, day: date, tables=None, fail_on_schema_mismatch: bool = False
) -> dict[str, SilverOutcome]:
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
    """Read-only lake: day 1 on the batch path, day 2 on the stream path (events built and landed
    by ``retail_assets.streaming``)."""
    home = make_home(tmp_path_factory.mktemp("silver_lake"))
    tables = generate(home, {DAY1: "batch", DAY2: "stream"})
    return home, tables


__all__ = ["BATCH_ONLY_TABLES", "DAY1", "DAY2", "SETTINGS", "build_day", "generate", "make_home"]
