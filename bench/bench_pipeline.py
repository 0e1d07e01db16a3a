"""Benchmark of the day pipeline as the batch assets run it (not part of the test run).

Per day at the given scale factor, in a temporary RETAIL_ASSETS_HOME: dimensions built and written
once, then for each day ``pipeline.generate_and_write_day`` (validate, load D−1 state, claim,
generate, write 18 Bronze partitions + manifest + state), split into its phases by timing the
same calls the pipeline makes. Prints wall seconds, rows/s and peak RSS.

Usage: ``.venv/bin/python bench/bench_pipeline.py [--sf 1.0] [--days 2]``
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings


def main(argv: list[str] | None = None) -> int:
    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sf", type=float, default=1.0)
    ap.add_argument("--days", type=int, default=2)
    args = ap.parse_args(argv)
    settings = DatasetSettings(scale_factor=args.sf)
    with tempfile.TemporaryDirectory() as tmp:
        home = HomeSettings(home=Path(tmp), lake_root=str(Path(tmp) / "lake"))
        t0 = time.perf_counter()
        pipeline.build_and_write_dimensions(home, settings)
        t1 = time.perf_counter()
        dims = pipeline.load_dimensions(home, settings)
        t2 = time.perf_counter()
        print(f"sf={args.sf} dims build+write {t1 - t0:.2f} s, read back {t2 - t1:.2f} s")
        for i in range(args.days):
            day = settings.start_date + timedelta(days=i)
            s0 = time.perf_counter()
            state = pipeline.load_prev_state(home, settings, dims, day)
            s1 = time.perf_counter()
            result = pipeline.generate_and_write_day(home, settings, day, "batch", "bench", dims=dims)
            s2 = time.perf_counter()
            rows = sum(t.num_rows for t in result.tables.values())
            del state
            print(
                f"{day} ({day:%a}): {rows:,} rows; load D-1 state {s1 - s0:.2f} s; "
                f"generate_and_write_day {s2 - s1:.2f} s ({rows / (s2 - s1):,.0f} rows/s, includes "
                "its own state load)"
            )
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak_mib:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
