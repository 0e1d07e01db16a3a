"""Shared fixtures: a temporary RETAIL_ASSETS_HOME at scale factor 0.01 near the start date.

Tests never touch the developer's ``./.retail``: every fixture that needs a home points the
environment at a fresh temporary directory, so tests can run in any order and in parallel.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from datetime import date

import pytest

from retail_assets.config import DatasetSettings, HomeSettings

# The code location reads the dataset calendar of RETAIL_ASSETS_HOME when it is imported (the daily
# partitions, the schedule). Point it at an empty home for the whole session, before any test module
# imports it, so the suite never sees the developer's ./.retail (its calendar, its ledger): without a
# calendar the partitions are the documented fixed fallback window from the start date.
_SESSION_HOME = tempfile.mkdtemp(prefix="retail-assets-tests-home-")
os.environ["RETAIL_ASSETS_HOME"] = _SESSION_HOME
os.environ.pop("RETAIL_ASSETS_LAKE_ROOT", None)
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)

SLOWEST_FIRST = (
    "retail_assets_tests/e2e/test_operate_in_ui.py",
    "retail_assets_tests/e2e/",
    "retail_assets_tests/test_demo.py",
    "retail_assets_tests/azure/",
)
"""Test files that take minutes, longest first (the UI scenario, the other browser and PostgreSQL e2e
runs, the demo, Azurite + Sail). ``make test`` keeps this order (``--no-loadscope-reorder``)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the slowest files first, keeping the order within each group. ``make test`` hands whole
    files to two workers in collection order; the 3-minute UI test, collected late, used to start
    when the other worker was nearly done and made the run's last minutes single-threaded."""
    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(SLOWEST_FIRST) if item.nodeid.startswith(prefix)), len(SLOWEST_FIRST))

    items.sort(key=rank)


TEST_SCALE_FACTOR = 0.01
TEST_START_DATE = date(2024, 1, 1)
TEST_SEED = 42


@pytest.fixture
def dataset_settings() -> DatasetSettings:
    """The small dataset every platform test generates (same seed as the default)."""
    return DatasetSettings(seed=TEST_SEED, scale_factor=TEST_SCALE_FACTOR, start_date=TEST_START_DATE)


@pytest.fixture
def retail_env(tmp_path, monkeypatch) -> HomeSettings:
    """A fresh RETAIL_ASSETS_HOME with the environment pointing at it (sf 0.01, start 2024-01-01)."""
    home = tmp_path / "retail_home"
    monkeypatch.setenv("RETAIL_ASSETS_HOME", str(home))
    monkeypatch.setenv("RETAIL_ASSETS_SCALE_FACTOR", str(TEST_SCALE_FACTOR))
    monkeypatch.setenv("RETAIL_ASSETS_START_DATE", TEST_START_DATE.isoformat())
    monkeypatch.setenv("RETAIL_ASSETS_SEED", str(TEST_SEED))
    monkeypatch.delenv("RETAIL_ASSETS_LAKE_ROOT", raising=False)
    return HomeSettings.from_env()


@pytest.fixture
def home_settings(retail_env: HomeSettings) -> HomeSettings:
    """Alias that reads better in tests that only need the paths."""
    return retail_env
