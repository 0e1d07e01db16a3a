"""Benchmark: the 'dimensions' step as a user runs it — build all six and write their Bronze tables —
at growing scale factors: wall and peak RSS, each scale factor in a fresh process.

Why: a day is made in shards whose memory is flat in the scale factor (``bench_scale.py``), but the
dimension step runs once for the whole chain before any day, and ``dim_customers`` grows with it
(403,000 customers per scale-factor unit). Its peak decides the largest scale factor a machine (or a
4 GiB worker) can start; the memory guard (``config.DIMENSIONS_PEAK_GIB_PER_SCALE_FACTOR``) quotes it.

    .venv/bin/python bench/bench_dimensions_write.py [--sf 1 10 30 100]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def child(sf: float) -> dict:
    from retail_assets import pipeline
    from retail_assets.config import DatasetSettings, HomeSettings

    settings = DatasetSettings(seed=42, scale_factor=sf)
    home = HomeSettings.from_env()
    t0 = time.perf_counter()
    rows = pipeline.build_and_write_dimensions(home, settings)
    wall = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"sf": sf, "wall_s": wall, "customers": rows["dim_customers"], "peak_rss_mib": peak_mib}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sf", type=float, nargs="+", default=[1.0, 10.0, 30.0, 100.0])
    args = ap.parse_args()
    print(f"{'sf':>6} {'customers':>12} {'wall s':>8} {'peak MiB':>9} {'B/customer':>10}", flush=True)
    for sf in args.sf:
        with tempfile.TemporaryDirectory(prefix="bench_dims_") as home:
            env = {**os.environ, "RETAIL_ASSETS_HOME": home, "PYTHONPATH": str(HERE)}
            proc = subprocess.run(
                [sys.executable, __file__, "--child", repr(sf)], env=env, capture_output=True, text=True, check=False
            )
        if proc.returncode != 0:
            raise SystemExit(f"sf {sf} failed:\n{proc.stderr[-3000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        per = r["peak_rss_mib"] * 1024 * 1024 / max(1, r["customers"])
        print(f"{sf:>6g} {r['customers']:>12,} {r['wall_s']:>8.1f} {r['peak_rss_mib']:>9,.0f} {per:>10,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(child(float(sys.argv[2]))))
        sys.exit(0)
    sys.exit(main())
