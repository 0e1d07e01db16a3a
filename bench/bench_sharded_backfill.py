"""Sharded backfill benchmark: ``retail-assets backfill --workers W`` on 1 and on 2 worker processes.

What a user runs for a range of days of a large chain: one ``sharded_generation_job`` run per day,
executed by the command itself (the forkserver starts once for the range). Both worker counts redo
the same days on one home (a day's partitions are replaced), alternating ``--repeats`` times so a
busy machine slows both alike. Per day: the wall between the command's progress lines (the first
day also pays the command's start and the forkserver's); reported: the median of the later days
and the total, and the speed-up from 1 to 2 workers of each.

    .venv/bin/python bench/bench_sharded_backfill.py [--sf 10] [--days 4] [--start 2024-11-18] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings


def _backfill(env: dict[str, str], start: date, days: int, workers: int) -> list[float]:
    """Seconds per day, from the command's progress lines as they arrive."""
    cmd = [sys.executable, "-m", "retail_assets.cli", "backfill", "--start", start.isoformat(), "--days", str(days),
           "--workers", str(workers)]  # fmt: skip
    t0 = time.perf_counter()
    marks: list[float] = []
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("backfill ") and " days (" in line:
                marks.append(time.perf_counter())
        err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0 or len(marks) != days:
        raise SystemExit(f"backfill --workers {workers} failed ({proc.returncode}): {err[-2000:]}")
    return [b - a for a, b in zip([t0, *marks[:-1]], marks, strict=True)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sf", type=float, default=10.0)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--start", type=date.fromisoformat, default=date(2024, 11, 18))
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_sharded_backfill_"))
    env = {
        **os.environ,
        "RETAIL_ASSETS_HOME": str(root / "home"),
        "RETAIL_ASSETS_SCALE_FACTOR": str(args.sf),
        "RETAIL_ASSETS_START_DATE": args.start.isoformat(),
        "RETAIL_ASSETS_SEED": "42",
        "DAGSTER_HOME": str(root / "dagster_home"),
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("RETAIL_ASSETS_LAKE_ROOT", None)
    settings = DatasetSettings(seed=42, scale_factor=args.sf, start_date=args.start)
    home = HomeSettings.from_env(env)
    subprocess.run([sys.executable, "-m", "retail_assets.cli", "calendar", "init"], env=env, check=True, capture_output=True)
    last = args.start + timedelta(days=args.days)
    subprocess.run([sys.executable, "-m", "retail_assets.cli", "calendar", "extend", "--through", last.isoformat()],
                   env=env, check=True, capture_output=True)  # fmt: skip
    pipeline.build_and_write_dimensions(home, settings)
    days: dict[int, list[list[float]]] = {1: [], 2: []}
    for _ in range(args.repeats):
        for workers in (1, 2):
            days[workers].append(_backfill(env, args.start, args.days, workers))
            print(f"workers {workers}: " + " ".join(f"{s:.1f}" for s in days[workers][-1]), flush=True)
    later = {w: statistics.median(s for run in runs for s in run[1:]) for w, runs in days.items()}
    total = {w: statistics.median(sum(run) for run in runs) for w, runs in days.items()}
    print(
        f"sf {args.sf:g}, {args.days} days from {args.start}, {args.repeats} repeats: per later day "
        f"{later[1]:.1f} s (1 worker) / {later[2]:.1f} s (2 workers) = {later[1] / later[2]:.2f}x; "
        f"whole range {total[1]:.1f} / {total[2]:.1f} s = {total[1] / total[2]:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
