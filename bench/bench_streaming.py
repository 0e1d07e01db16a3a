"""Streaming benchmark: one scale-factor-1 weekday through the outbox into the Bronze event tables.

Measures (issue 3): event build rate, enqueue rate, drain rate end to end into Delta via the local
sink, DuckDB statements per 1,000 events, peak RSS of the whole process (which also generates the
day and builds its events, as the streaming job does) and of the enqueue and drain phases.
Targets: enqueue ≥ 500k events/s, drain ≥ 100k events/s, peak RSS ≤ 1.5 GiB.

    .venv/bin/python bench/bench_streaming.py [--scale-factor 1.0] [--day 2024-03-05] [--batch-size 150000]
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import psutil
import pyarrow as pa

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.generate.day import generate_day
from retail_assets.generate.dimensions import build_dimensions
from retail_assets.streaming.drain import DEFAULT_BATCH_SIZE, DrainSettings, drain
from retail_assets.streaming.events import build_day_events
from retail_assets.streaming.outbox import Outbox
from retail_assets.streaming.sinks.local import LocalDeltaSink


class PeakRss:
    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale-factor", type=float, default=1.0)
    ap.add_argument("--day", default="2024-01-02", help="a weekday (the start date, so no prior state is needed)")
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    args = ap.parse_args()
    day = date.fromisoformat(args.day)
    dataset = DatasetSettings(scale_factor=args.scale_factor, start_date=day)
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": tempfile.mkdtemp(prefix="bench_streaming_")})
    with PeakRss() as rss:
        pipeline.build_and_write_dimensions(home, dataset)
        dims = build_dimensions(dataset)
        t0 = time.perf_counter()
        result = generate_day(dataset, dims, pipeline.load_prev_state(home, dataset, dims, day), day)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        events = build_day_events(result.tables, dataset.dataset_id, dataset.start_date, day)
        t_build = time.perf_counter() - t0
        del result, dims
        gc.collect()
        rss_before_streaming = psutil.Process().memory_info().rss
        stream_rss = PeakRss().__enter__()  # peak of the streaming phase alone (enqueue + drain)
        outbox = Outbox.in_state_dir(Path(home.state_dir))
        outbox.status()
        s0 = outbox.statements
        t0 = time.perf_counter()
        n = outbox.enqueue_day(day, events)
        t_enqueue = time.perf_counter() - t0
        enqueue_statements = outbox.statements - s0
        del events
        pa.default_memory_pool().release_unused()  # as the streaming runner does after enqueueing
        enqueue_peak = stream_rss.peak
        stream_rss.peak = 0
        sink = LocalDeltaSink(home.lake_root)
        s0 = outbox.statements
        t0 = time.perf_counter()
        res = drain(outbox, sink, "bench", DrainSettings(max_events=10**8, max_seconds=3600, batch_size=args.batch_size))
        t_drain = time.perf_counter() - t0
        drain_statements = outbox.statements - s0
        stream_rss.__exit__(None, None, None)
    assert res.sent == n and res.failed == 0, res
    out = {
        "scale_factor": args.scale_factor,
        "day": day.isoformat(),
        "events": n,
        "generate_s": round(t_gen, 2),
        "build_events_s": round(t_build, 2),
        "build_events_per_s": round(n / t_build),
        "enqueue_s": round(t_enqueue, 2),
        "enqueue_events_per_s": round(n / t_enqueue),
        "drain_s": round(t_drain, 2),
        "drain_events_per_s": round(n / t_drain),
        "drain_batches": res.batches,
        "duckdb_statements_per_1000_events": round(1000 * (enqueue_statements + drain_statements) / n, 3),
        "bronze_rows_landed": sum(res.landed.values()),
        "peak_rss_gib": round(rss.peak / 2**30, 3),
        "rss_after_freeing_the_day_gib": round(rss_before_streaming / 2**30, 3),
        "enqueue_phase_peak_rss_gib": round(enqueue_peak / 2**30, 3),
        "drain_phase_peak_rss_gib": round(stream_rss.peak / 2**30, 3),
        "streaming_phase_growth_gib": round((max(enqueue_peak, stream_rss.peak) - rss_before_streaming) / 2**30, 3),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
