"""Benchmark: build all six dimensions at a scale factor (default 1.0); prints the median of 3.

Run: ``.venv/bin/python bench/bench_dimensions.py [scale_factor]``. Target: ≤ 3 s at sf = 1.
The first build in a process also pays one-off imports (pyarrow pulls in pandas on first use),
which is reported separately so the median measures the build itself.
"""

from __future__ import annotations

import statistics
import sys
import time

from retail_assets.config import DatasetSettings
from retail_assets.generate import dimensions


def main() -> None:
    sf = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    settings = DatasetSettings(scale_factor=sf)
    t0 = time.perf_counter()
    dims = dimensions.build_dimensions(settings)
    cold = time.perf_counter() - t0
    runs = []
    for _ in range(3):
        dimensions._build_cached.cache_clear()  # measure a real build, not the per-process cache
        t = time.perf_counter()
        dims = dimensions.build_dimensions(settings)
        runs.append(time.perf_counter() - t)
    rows = {name: t.num_rows for name, t in dims.items()}
    print(f"sf={sf} rows={rows}")
    print(f"first build incl. one-off imports: {cold:.3f} s")
    print(
        f"median of 3 builds: {statistics.median(runs):.3f} s (runs: {', '.join(f'{r:.3f}' for r in runs)})"
    )


if __name__ == "__main__":
    main()
