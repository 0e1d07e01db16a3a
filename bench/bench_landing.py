"""Landing benchmark: ``Lander.land`` alone, on one generated day's event bodies, in drain-sized batches.

Isolates the landing function (validation, parsing, typed Bronze rows, Delta appends) from the
outbox and the generator, so a change to the landing's per-row validation can be measured
before/after on identical input. The events are built once and cached as Parquet (``--cache``), so
a second run (e.g. against another checkout via ``PYTHONPATH``) lands exactly the same bodies.

    .venv/bin/python bench/bench_landing.py [--scale-factor 0.3] [--day 2024-01-02] [--cache /tmp/landing_events.parquet]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from retail_assets.streaming.drain import DEFAULT_BATCH_SIZE
from retail_assets.streaming.landing import Lander


def _events(scale_factor: float, day: date, cache: Path | None) -> pa.Table:
    if cache is not None and cache.exists():
        return pq.read_table(cache)
    from retail_assets import pipeline
    from retail_assets.config import DatasetSettings, HomeSettings
    from retail_assets.generate.day import generate_day
    from retail_assets.generate.dimensions import build_dimensions
    from retail_assets.streaming.events import build_day_events

    dataset = DatasetSettings(scale_factor=scale_factor, start_date=day)
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": tempfile.mkdtemp(prefix="bench_landing_")})
    pipeline.build_and_write_dimensions(home, dataset)
    dims = build_dimensions(dataset)
    result = generate_day(dataset, dims, pipeline.load_prev_state(home, dataset, dims, day), day)
    events = build_day_events(result.tables, dataset.dataset_id, dataset.start_date, day).select(["event_type", "body"])
    if cache is not None:
        pq.write_table(events, cache)
    return events


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale-factor", type=float, default=0.3)
    ap.add_argument("--day", default="2024-01-02")
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    ap.add_argument("--cache", type=Path, default=None, help="Parquet file of the day's events (written when absent)")
    args = ap.parse_args()
    events = _events(args.scale_factor, date.fromisoformat(args.day), args.cache)
    lander = Lander(tempfile.mkdtemp(prefix="bench_landing_lake_"), "local")
    landed = rejected = 0
    t0 = time.perf_counter()
    for start in range(0, events.num_rows, args.batch_size):
        batch = events.slice(start, args.batch_size)
        report = lander.land(batch["body"], event_types=batch["event_type"])
        landed += report.landed_total
        rejected += report.rejected_total
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "events": events.num_rows,
                "landed": landed,
                "rejected": rejected,
                "land_s": round(seconds, 2),
                "land_events_per_s": round(events.num_rows / seconds),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
