"""Shared resources: the settings of the dataset and of the home, read from the environment."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from retail_assets.config import (
    DEFAULT_SCALE_FACTOR,
    DEFAULT_SEED,
    DEFAULT_START_DATE,
    DatasetSettings,
    HomeSettings,
    parse_scale_factor,
    parse_seed,
    parse_start_date,
    require_scale_factor_fits,
    require_scale_factor_generates,
)
from retail_assets.lake import duckdb_files
from retail_assets.lake.ledger import LEDGER_FILE_ROLE, ledger_path


class RetailSettings(dg.ConfigurableResource):
    """Seed, scale factor, start date, home and lake root (filled from the environment by
    :func:`settings_from_env`; empty home/lake root mean "use the environment's defaults").

    Values are kept as text and validated when first used, so that a bad variable fails the run
    with a message naming the variable and the fix rather than failing code-location load.
    """

    seed: str = str(DEFAULT_SEED)
    scale_factor: str = str(DEFAULT_SCALE_FACTOR)
    start_date: str = DEFAULT_START_DATE.isoformat()
    home: str = ""
    lake_root: str = ""

    def dataset(self, whole_day: bool = True) -> DatasetSettings:
        """The dataset; ``whole_day=False`` for runs that hold one shard of a day at a time (the
        sharded job), which the one-process memory guard does not apply to."""
        scale_factor = parse_scale_factor(self.scale_factor, "RETAIL_ASSETS_SCALE_FACTOR")
        require_scale_factor_generates(scale_factor, "RETAIL_ASSETS_SCALE_FACTOR")
        require_scale_factor_fits(scale_factor, whole_day=whole_day)
        return DatasetSettings(
            seed=parse_seed(self.seed),
            scale_factor=scale_factor,
            start_date=parse_start_date(self.start_date),
        )

    def home_settings(self) -> HomeSettings:
        env: dict[str, str] = {}
        if self.home:
            env["RETAIL_ASSETS_HOME"] = self.home
        if self.lake_root:
            env["RETAIL_ASSETS_LAKE_ROOT"] = self.lake_root
        return HomeSettings.from_env({**os.environ, **env})


def settings_from_env() -> RetailSettings:
    """The resource as configured by the environment (evaluated when definitions load)."""
    return RetailSettings(
        seed=os.environ.get("RETAIL_ASSETS_SEED", str(DEFAULT_SEED)),
        scale_factor=os.environ.get("RETAIL_ASSETS_SCALE_FACTOR", str(DEFAULT_SCALE_FACTOR)),
        start_date=os.environ.get("RETAIL_ASSETS_START_DATE", DEFAULT_START_DATE.isoformat()),
        home=os.environ.get("RETAIL_ASSETS_HOME", ""),
        lake_root=os.environ.get("RETAIL_ASSETS_LAKE_ROOT", ""),
    )


class LedgerDuckDBResource(DuckDBResource):
    """``DuckDBResource`` for ``ledger.duckdb`` that tells a lock from a damaged file.

    Why: the stock resource retries any ``IOException`` for ~100 s — a damaged file too, which no
    wait can fix — and then raises DuckDB's bare error. This one waits a bounded time for a lock
    (``LedgerLockedError``, naming the holder) and fails at once on damage (``LedgerCorruptError``,
    with the restore); both are ``LedgerError``, which the assets turn into a ``dg.Failure``.
    """

    lock_wait_seconds: float = Field(default=30.0, description="how long to wait for another process's lock")

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        pause_s = 0.1
        with duckdb_files.session(
            self.database,
            LEDGER_FILE_ROLE,
            attempts=max(1, math.ceil(self.lock_wait_seconds / pause_s)),
            pause_s=pause_s,
            config={"custom_user_agent": "dagster", **self.connection_config},
        ) as conn:
            yield conn


def ledger_from_env() -> DuckDBResource:
    """The generation ledger's DuckDB file under ``RETAIL_ASSETS_HOME/state`` (see lake/ledger.py)."""
    return LedgerDuckDBResource(database=str(ledger_path(HomeSettings.from_env().state_dir)))


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"retail_settings": settings_from_env(), "ledger_duckdb": ledger_from_env()})
