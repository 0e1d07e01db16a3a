"""Backfill benchmark: a run of consecutive Bronze batch days, with and without weekly maintenance.

Generates ``--days`` days from the start date through ``pipeline.generate_and_write_day`` (the body of
each day of a ``retail-assets backfill`` run, without Dagster's per-run overhead) and reports the
total wall time, rows/s and the per-day wall near the start and the end. ``--maintain`` runs
``maintain_table`` over every table of the lake every 7 generated days (time is compressed, so with
retention 0, as in ``bench_lake_age.py``); its time is included in the total.

    .venv/bin/python bench/bench_backfill.py [--days 365] [--scale-factor 0.05] [--maintain]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date, timedelta

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.generate.dimensions import build_dimensions
from retail_assets.lake.maintenance import MaintenancePolicy, lake_tables, maintain_table

MAINTAIN_EVERY_DAYS = 7
COMPRESSED_TIME = MaintenancePolicy(vacuum_retention=timedelta(0), log_retention=timedelta(0), allow_short_retention=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--scale-factor", type=float, default=0.05)
    ap.add_argument("--start", default="2024-01-01")
    ap.add_argument("--maintain", action="store_true")
    args = ap.parse_args()
    settings = DatasetSettings(scale_factor=args.scale_factor, start_date=date.fromisoformat(args.start))
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": tempfile.mkdtemp(prefix="bench_backfill_")})
    pipeline.build_and_write_dimensions(home, settings)
    dims = build_dimensions(settings)
    per_day: list[float] = []
    rows = 0
    upkeep = 0.0
    started = time.perf_counter()
    for n in range(args.days):
        day = settings.start_date + timedelta(days=n)
        t0 = time.perf_counter()
        result = pipeline.generate_and_write_day(home, settings, day, "batch", "bench", dims=dims)
        per_day.append(time.perf_counter() - t0)
        rows += sum(t.num_rows for t in result.tables.values())
        if args.maintain and (n + 1) % MAINTAIN_EVERY_DAYS == 0:
            t0 = time.perf_counter()
            for uri in lake_tables(home.lake_root).values():
                maintain_table(uri, COMPRESSED_TIME)
            upkeep += time.perf_counter() - t0
        if (n + 1) % 50 == 0:
            print(f"  day {n + 1}/{args.days}: {per_day[-1]:.2f} s", flush=True)
    wall = time.perf_counter() - started
    early, late = statistics.median(per_day[:20]), statistics.median(per_day[-20:])
    print(
        f"sf {args.scale_factor}, {args.days} days, maintenance {'weekly' if args.maintain else 'none'}: "
        f"wall {wall:.0f} s ({rows:,} rows, {rows / wall:,.0f} rows/s); per day first 20 {early:.2f} s, "
        f"last 20 {late:.2f} s ({late / early:.2f}x); maintenance {upkeep:.0f} s in total"
    )


if __name__ == "__main__":
    main()
