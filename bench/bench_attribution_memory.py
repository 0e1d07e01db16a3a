"""What every shard worker holds for marketing attribution once a backfill is a week in.

Why a benchmark of its own: a SALE receipt's ``campaign_id_ext`` is the last impression to its
customer in the 7 days before (contract §7.4), so every worker builds an index of the chain's
impressions of D − 7 … D. ``bench_scale.py`` starts its dataset the day before the measured day,
where that window holds two days; deep in a backfill it holds eight. This measures a day whose
window is full, in a fresh process per scale factor: resident memory once the index is built (and
the day's cached impressions with it), the peak while building it, and the seconds.

    .venv/bin/python bench/bench_attribution_memory.py [--sf 10 30 100] [--day 2024-11-19]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
CUSTOMERS_PER_SF = 403_000  # contract §3.7


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def _child(sf: float, day: date) -> dict:
    import numpy as np

    from retail_assets.config import DatasetSettings
    from retail_assets.generate import marketing

    settings = DatasetSettings(scale_factor=sf, start_date=day - timedelta(days=30))
    customers = round(CUSTOMERS_PER_SF * sf)
    before = _rss_mib()
    started = time.perf_counter()
    index = marketing._attribution_index(marketing.settings_key(settings), day, customers)
    seconds = time.perf_counter() - started
    return {
        "sf": sf,
        "impressions_in_window": len(index.key),
        "seconds": seconds,
        "held_mib": _rss_mib() - before,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before,
        "index_mib": sum(a.nbytes for a in vars(index).values() if isinstance(a, np.ndarray)) / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sf", type=float, nargs="+", default=[10.0, 30.0, 100.0])
    ap.add_argument("--day", type=date.fromisoformat, default=date(2024, 11, 19))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.sf[0], args.day)))
        return
    print(f"{'sf':>6} {'impressions':>12} {'seconds':>8} {'held MiB':>9} {'peak MiB':>9} {'index MiB':>10}")
    for sf in args.sf:
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--sf", repr(sf), "--day", args.day.isoformat()],
            capture_output=True, text=True, check=True, cwd=HERE,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{r['sf']:>6.0f} {r['impressions_in_window']:>12,} {r['seconds']:>8.1f} {r['held_mib']:>9,.0f} "
            f"{r['peak_mib']:>9,.0f} {r['index_mib']:>10,.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
