"""Silver benchmark: one generated day (default sf 1), all 18 tables, DuckDB vs Spark (Sail).

Reports rows/s per engine, their ratio, the checks' share of the DuckDB build, and the time to
generate the day (target: DuckDB builds the 18 tables faster than generating the day; checks
<= 20 % of the build). Checks are timed with the per-process reference cache shared across the
day's tables (one process runs the day, as the in-process executor and the schedule do) and with
it cleared before every table (one process per step).
Usage: ``python bench/bench_silver.py [--scale-factor 1] [--home DIR] [--skip-spark]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date, timedelta

import duckdb

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.silver.build import build_silver
from retail_assets.silver.checks import CheckContext, build_order, evaluate_checks
from retail_assets.silver.engines import DuckDBEngine, SparkEngine
from retail_assets.silver.materialize import build_check_commit
from retail_assets.silver.reference import REFERENCE_CACHE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale-factor", type=float, default=1.0)
    parser.add_argument("--home", default="")
    parser.add_argument("--skip-spark", action="store_true")
    args = parser.parse_args()
    home = HomeSettings.from_env(
        {"RETAIL_ASSETS_HOME": args.home or tempfile.mkdtemp(prefix="bench_silver_")}
    )
    start = date(2024, 1, 1)
    settings = DatasetSettings(seed=42, scale_factor=args.scale_factor, start_date=start)
    pipeline.build_and_write_dimensions(home, settings)
    pipeline.generate_and_write_day(home, settings, start, "batch", owner="bench")
    day = start + timedelta(days=1)
    t0 = time.perf_counter()
    result = pipeline.generate_and_write_day(home, settings, day, "batch", owner="bench")
    generate_s = time.perf_counter() - t0
    rows = sum(t.num_rows for t in result.tables.values())
    ctx = CheckContext(home.lake_root, settings.dataset_id)

    for d in (start, day):  # day 1 Silver first so cross-day rules have their references
        build_s = check_s = write_s = 0.0
        for table in build_order():
            with duckdb.connect() as conn:
                o = build_check_commit(DuckDBEngine(conn), conn, ctx, table, d)
            build_s, check_s, write_s = (
                build_s + o.build_seconds,
                check_s + o.check_seconds,
                write_s + o.write_seconds,
            )
            failed = [r.name for r in o.results if not r.passed]
            if d == day and failed:
                print(f"  {table}: failed checks {failed}")
    report = {
        "scale_factor": args.scale_factor,
        "rows": rows,
        "generate_day_s": round(generate_s, 3),
        "duckdb_build_s": round(build_s, 3),
        "duckdb_checks_s": round(check_s, 3),
        "duckdb_write_s": round(write_s, 3),
        "duckdb_rows_per_s": round(rows / build_s),
        "checks_share_of_build": round(check_s / (build_s + check_s), 3),
        "checks_over_build": round(check_s / build_s, 3),
        "duckdb_build_plus_checks_vs_generate": round((build_s + check_s) / generate_s, 3),
    }
    if not args.skip_spark:
        from retail_assets.silver.sail import spark_connect_session

        spark = spark_connect_session()
        build_silver(SparkEngine(spark), home.lake_root, "fact_store_ops", day)  # warm-up
        t0 = time.perf_counter()
        for table in build_order():
            build_silver(SparkEngine(spark), home.lake_root, table, day)
        spark_s = time.perf_counter() - t0
        report["spark_sail_build_s"] = round(spark_s, 3)
        report["spark_sail_rows_per_s"] = round(rows / spark_s)
        report["duckdb_over_spark_speed"] = round(spark_s / build_s, 2)
    # Cold reference cache per table = one process per Dagster step (multiprocess executor): every
    # table re-reads its dimensions, state and manifest. Nothing is written in this pass.
    cold_s = 0.0
    for table in build_order():
        REFERENCE_CACHE.clear()
        with duckdb.connect() as conn:
            cold_s += build_check_commit(DuckDBEngine(conn), conn, ctx, table, day, write=False).check_seconds
    report["duckdb_checks_cold_cache_s"] = round(cold_s, 3)
    report["checks_share_of_build_cold_cache"] = round(cold_s / (build_s + cold_s), 3)
    # checks alone once more, to separate them from the build in one place
    with duckdb.connect() as conn:
        b = build_silver(DuckDBEngine(conn), home.lake_root, "fact_receipt_lines", day)
        t0 = time.perf_counter()
        evaluate_checks(conn, ctx, b)
        report["checks_fact_receipt_lines_s"] = round(time.perf_counter() - t0, 3)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
