"""Build, check, then commit one Silver partition — the whole job of a Silver asset, Dagster-free.

Why checks come before the commit: a blocking failure (schema mismatch in FAIL mode, additivity)
means bad data must not land, and Dagster records a blocking-failed asset as materialized anyway.
So the partition is written only when no blocking check failed; the replace is idempotent
(one Delta commit replacing ``event_date = D``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from retail_assets.contract.tables import silver_spec
from retail_assets.lake import delta
from retail_assets.lake.paths import silver_uri
from retail_assets.silver.build import SilverBuild, build_silver
from retail_assets.silver.checks import CheckContext, CheckResult, evaluate_checks
from retail_assets.silver.engines import SilverEngine


@dataclass
class SilverOutcome:
    build: SilverBuild
    results: list[CheckResult]
    written: bool
    uri: str
    build_seconds: float
    check_seconds: float
    write_seconds: float

    @property
    def blocking_failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocks_commit]


def build_check_commit(
    engine: SilverEngine, check_conn: Any, ctx: CheckContext, table: str, day: date, write: bool = True
) -> SilverOutcome:
    """Build (table, day) on ``engine``, evaluate every check with DuckDB, write unless blocked."""
    t0 = time.perf_counter()
    build = build_silver(engine, ctx.lake_root, table, day)
    t1 = time.perf_counter()
    results = evaluate_checks(check_conn, ctx, build)
    t2 = time.perf_counter()
    uri = silver_uri(ctx.lake_root, table)
    blocked = any(r.blocks_commit for r in results)
    if write and not blocked:
        delta.replace_partition(uri, build.data, silver_spec(table).arrow_schema, day)
    t3 = time.perf_counter()
    return SilverOutcome(build, results, write and not blocked, uri, t1 - t0, t2 - t1, t3 - t2)
