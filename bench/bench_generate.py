"""Benchmark of day generation (not part of the test run; speed targets live here, not in tests).

Measures, for one day at a given scale factor (default sf 1, Thursday 2024-04-11 after a warm-up
chain from start_date):

* dims build time (``build_dimensions``) and initial state;
* generation alone (``generate_day``), median of N runs from the same previous state;
* the Delta write alone (all 18 tables via ``lake.delta.replace_partition`` into a temp dir);
* generation + write;
* peak RSS of the process (``resource.getrusage``; psutil's current RSS is printed too).

Wall times on a shared machine are noisy; the CPU time of generation (``time.process_time``) is
printed too, and the load average at the start, so a reader can judge the figures.

Usage: ``.venv/bin/python bench/bench_generate.py [--sf 1.0] [--day 2024-04-11] [--warmup-days 3] [--runs 3]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import warnings
from datetime import date, timedelta

import psutil

from retail_assets.config import DatasetSettings
from retail_assets.generate import build_dimensions, generate_day, initial_state
from retail_assets.lake.delta import replace_partition, table_uri


def _write_all(root: str, result) -> None:
    from retail_assets.contract.tables import FACT_TABLES

    for name, table in result.tables.items():
        replace_partition(table_uri(root, "cusn", name), table, FACT_TABLES[name].arrow_schema, result.day)


def main(argv: list[str] | None = None) -> int:
    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sf", type=float, default=1.0)
    ap.add_argument("--day", type=date.fromisoformat, default=date(2024, 4, 11))
    ap.add_argument("--warmup-days", type=int, default=3, help="days generated before the measured day")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)

    start = args.day - timedelta(days=args.warmup_days)
    settings = DatasetSettings(scale_factor=args.sf, start_date=start)
    t = time.perf_counter()
    dims = build_dimensions(settings)
    dims_s = time.perf_counter() - t
    t = time.perf_counter()
    state = initial_state(settings, dims)
    init_s = time.perf_counter() - t
    for i in range(args.warmup_days):
        state = generate_day(settings, dims, state, start + timedelta(days=i)).state

    gen, gen_cpu, write, both = [], [], [], []
    result = None
    for _ in range(args.runs):
        t, c = time.perf_counter(), time.process_time()
        result = generate_day(settings, dims, state, args.day)
        gen.append(time.perf_counter() - t)
        gen_cpu.append(time.process_time() - c)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            _write_all(tmp, result)
            write.append(time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            r2 = generate_day(settings, dims, state, args.day)
            _write_all(tmp, r2)
            both.append(time.perf_counter() - t)
    assert result is not None
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_mib = psutil.Process().memory_info().rss / 2**20
    rows = result.row_count
    print(f"load average {os.getloadavg()}  cpus {os.cpu_count()}")
    print(
        f"scale_factor {args.sf}  day {args.day} ({args.day:%a})  warm-up days {args.warmup_days}  runs {args.runs}"
    )
    print(f"dims build            {dims_s:7.2f} s   initial state {init_s:.2f} s")
    print(f"rows generated        {rows:>9,d}")
    for name, table in result.tables.items():
        print(f"  {name:<28} {table.num_rows:>9,d}")
    print(f"generation (median)   {statistics.median(gen):7.2f} s   runs {[round(x, 2) for x in gen]}")
    print(
        f"generation CPU time   {statistics.median(gen_cpu):7.2f} s   runs {[round(x, 2) for x in gen_cpu]}"
    )
    print(f"delta write (median)  {statistics.median(write):7.2f} s   runs {[round(x, 2) for x in write]}")
    print(f"gen + write (median)  {statistics.median(both):7.2f} s   runs {[round(x, 2) for x in both]}")
    # target: generation costs no more than the write alone (ratio <= 1); min runs are the least noisy
    print(
        f"generation / write    {statistics.median(gen) / statistics.median(write):7.2f}     "
        f"(min runs {min(gen) / min(write):.2f})"
    )
    print(f"peak RSS              {peak_mib:7.0f} MiB (current {rss_mib:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
