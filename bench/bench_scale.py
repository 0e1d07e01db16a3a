"""Scale benchmark of issue 9: a Bronze day at growing scale factors, whole vs in shards vs on workers.

For each scale factor and day (a weekday and Black Friday by default), a dataset starting the day
before is built in a temporary home (dimensions, then the first day sharded, untimed), and the day
itself is generated and written by each mode, each in a fresh process:

* ``whole``    — ``pipeline.generate_and_write_day``: one process holds the day (the old way);
* ``sharded``  — ``sharded_pipeline`` in one process, one shard after the other (memory = a shard);
* ``dagster1`` / ``dagster2`` — ``sharded_generation_job`` on Dagster's multiprocess executor with
  ``max_concurrent`` 1 / 2 worker processes (wall: ``import dagster`` to ``execute_job``'s return,
  which includes the run's worker process starts; a ``phases`` line says where it went);
* ``stream``   — the streaming run's generation step for the day (``runner.generate_into_outbox``:
  in shards above 90 stores, events staged, numbered and enqueued); rows = events enqueued;
* ``drain``    — every enqueued event into the Bronze event tables through the local sink.

First the dimension step of each dataset (``dims``: build and write, wall and peak RSS; it runs once per
dataset, not per day). Reported per mode: wall (s), fact rows, rows/s, peak RSS (MiB; for Dagster the largest of the run
process and its shard workers) and, for the in-process modes, cores = CPU s / wall s (whether one
worker already uses more than one core, which would bound the 1 -> 2 worker speed-up on a 2-core
machine; measured 1.02-1.05, so it does not). Shards: ``ceil(stores / --stores-per-shard)``. Targets (issue 9):
peak RSS <= 4 GiB at any scale factor, rows/s at sf 30 >= rows/s at sf 1, dagster2 / dagster1 >= 1.7;
a streamed sf-30 day <= 4 GiB (``--sf 30 --modes stream drain``).

Usage: ``.venv/bin/python bench/bench_scale.py [--sf 1 10 30] [--days 2024-11-19 2024-11-29]
[--modes whole sharded dagster1 dagster2 stream drain] [--stores-per-shard 90] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
MODES = ("whole", "sharded", "dagster1", "dagster2", "stream", "drain")


def _env(home: Path, sf: float, start: date) -> dict[str, str]:
    return {
        **os.environ,
        "RETAIL_ASSETS_HOME": str(home),
        "RETAIL_ASSETS_SCALE_FACTOR": repr(sf),
        "RETAIL_ASSETS_START_DATE": start.isoformat(),
        "RETAIL_ASSETS_SEED": "42",
        "PYTHONPATH": str(HERE),
        "DAGSTER_HOME": str(home / "dagster_home"),
    }


def _child(args: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _shards(stores: int, per_shard: int) -> int:
    return max(1, math.ceil(stores / per_shard))


def run_phases(logs: list, started_epoch: float, returned_epoch: float) -> dict[str, object]:
    """Where a sharded job's wall goes, from its event log: what can shrink with more workers (the
    ``generate_shards`` steps) and what cannot (the rest), in seconds."""
    import dagster as dg

    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    run_start = run_end = started_epoch
    for entry in logs:
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.RUN_START:
            run_start = entry.timestamp
        elif event.event_type in (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE):
            run_end = entry.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            ends[event.step_key] = entry.timestamp
    gen = [k for k in starts if k.startswith("generate_shards")]
    first_gen, last_gen = min(starts[k] for k in gen), max(ends[k] for k in gen)
    return {
        "before_run_start_s": round(run_start - started_epoch, 2),
        "run_start_to_plan_s": round(starts["plan_shards"] - run_start, 2),
        "plan_s": round(ends["plan_shards"] - starts["plan_shards"], 2),
        "plan_to_first_shard_step_s": round(first_gen - ends["plan_shards"], 2),
        "shard_steps_s": round(last_gen - first_gen, 2),
        "each_shard_step_s": sorted(round(ends[k] - starts[k], 2) for k in gen),
        "last_shard_step_to_commit_s": round(starts["commit_shards"] - last_gen, 2),
        "commit_s": round(ends["commit_shards"] - starts["commit_shards"], 2),
        "after_commit_s": round(run_end - ends["commit_shards"], 2),
        "run_end_to_return_s": round(returned_epoch - run_end, 2),
    }


def child_main(argv: list[str]) -> int:
    """Runs in a fresh process: one action against the home in the environment; prints JSON."""
    warnings.simplefilter("ignore")
    import logging

    logging.disable(logging.INFO)
    from retail_assets import pipeline, sharded_pipeline
    from retail_assets.config import DatasetSettings, HomeSettings

    action, day_text, shards = argv[0], argv[1], int(argv[2])
    home = HomeSettings.from_env()
    settings = DatasetSettings(
        seed=42,
        scale_factor=float(os.environ["RETAIL_ASSETS_SCALE_FACTOR"]),
        start_date=date.fromisoformat(os.environ["RETAIL_ASSETS_START_DATE"]),
    )
    day = date.fromisoformat(day_text)
    today = date(2030, 1, 1)
    t0 = time.perf_counter()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage0.ru_utime + usage0.ru_stime
    rows, worker_peak = 0, 0.0
    phases: dict[str, object] = {}
    started_epoch = time.time()
    if action == "dims":
        rows = pipeline.build_and_write_dimensions(home, settings)["dim_stores"]
    elif action == "whole":
        result = pipeline.generate_and_write_day(home, settings, day, "batch", owner="bench", today=today)
        rows = result.row_count
    elif action == "sharded":
        rows = sum(sharded_pipeline.generate_and_write_day_sharded(home, settings, day, "bench", shards, today=today).values())
    elif action == "stream":
        # the streaming job's generation step: the day (batch-claimed by an earlier mode) is released
        # and made again on the stream path — in shards above one shard's stores — up to the enqueue
        from retail_assets.lake.ledger import Ledger
        from retail_assets.streaming.outbox import Outbox
        from retail_assets.streaming.runner import generate_into_outbox

        Ledger(home.state_dir).release(day, "batch")
        outbox = Outbox.in_state_dir(home.state_dir)
        generated, rows, note = generate_into_outbox(home, settings, outbox, "bench", 10**10, lambda _: None, today)
        if generated != day:
            raise SystemExit(f"the stream generated {generated}, not {day}: {note}")
    elif action == "drain":  # every enqueued event into the Bronze event tables (local sink)
        from retail_assets.streaming.drain import DrainSettings, drain
        from retail_assets.streaming.outbox import Outbox
        from retail_assets.streaming.sinks.local import LocalDeltaSink

        outbox = Outbox.in_state_dir(home.state_dir)
        result = drain(outbox, LocalDeltaSink(home.lake_root), "bench", DrainSettings(max_events=10**10, max_seconds=86_400))
        rows = result.sent
    elif action.startswith("dagster"):
        import dagster as dg

        from bench.bench_scale_job import sharded_job
        from retail_assets.defs.generation.sharded import WORKERS_FROM_A_PRELOADED_FORKSERVER

        with dg.DagsterInstance.get() as instance:
            result = dg.execute_job(
                dg.reconstructable(sharded_job),
                instance=instance,
                run_config={
                    "ops": {"plan_shards": {"config": {"shards": shards, "steps": int(action[-1])}}},
                    "execution": {
                        "config": {
                            # the job's default start method (a preloaded forkserver) plus the workers
                            **WORKERS_FROM_A_PRELOADED_FORKSERVER["execution"]["config"],
                            "max_concurrent": int(action[-1]),
                        }
                    },
                },
                tags={"dagster/partition": day.isoformat()},
            )
            returned_epoch = time.time()
            if not result.success:
                raise SystemExit("the sharded job failed")
            from retail_assets.defs.keys import BRONZE_BATCH_KEYS

            rows = 0
            for key in BRONZE_BATCH_KEYS.values():
                ev = instance.get_latest_materialization_event(key).asset_materialization
                rows += ev.metadata["dagster/row_count"].value
                worker_peak = max(worker_peak, ev.metadata["largest_worker_peak_rss_mib"].value)
            phases = run_phases(instance.all_logs(result.run_id), started_epoch, returned_epoch)
    wall = time.perf_counter() - t0
    if action.startswith("dagster"):
        # the run, from this process's start of it to execute_job's return; not the bench's own
        # reading of the results afterwards (18 materialization queries and the run's log: ≈ 2.7 s)
        wall = returned_epoch - started_epoch
    own = sharded_pipeline.peak_rss_mib()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu0
    figures = {"wall_s": wall, "rows": rows, "peak_rss_mib": max(own, worker_peak), "cpu_s": cpu}
    print(json.dumps({**figures, **({"phases": phases} if phases else {})}))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sf", type=float, nargs="+", default=[1.0, 10.0, 30.0])
    ap.add_argument("--days", type=date.fromisoformat, nargs="+", default=[date(2024, 11, 19), date(2024, 11, 29)])
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--stores-per-shard", type=int, default=90)
    ap.add_argument(
        "--whole-max-sf", type=float, default=10.0,
        help="skip the one-process mode above this scale factor (sf 30 needs ~22 GiB in one process)",
    )
    ap.add_argument("--keep", type=Path, help="keep the homes under this directory")
    args = ap.parse_args(argv)
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    print(f"load average at start: {os.getloadavg()}", flush=True)
    print(f"{'sf':>5} {'day':>10} {'mode':>9} {'shards':>6} {'wall s':>8} {'rows':>11} {'rows/s':>9} {'peak MiB':>9} {'cores':>5}")
    results = []
    for sf in args.sf:
        for day in args.days:
            start = day - timedelta(days=1)
            home = base / f"sf{sf:g}_{day.isoformat()}"
            (home / "dagster_home").mkdir(parents=True, exist_ok=True)
            env = _env(home, sf, start)
            dims = _child(["dims", day.isoformat(), "1"], env)
            shards = _shards(dims["rows"], args.stores_per_shard)
            # the dimension step, once per dataset: its peak counts against the 4 GiB target too
            print(f"{sf:>5g} {'':>10} {'dims':>9} {'':>6} {dims['wall_s']:>8.1f} {'':>11} {'':>9} {dims['peak_rss_mib']:>9,.0f}", flush=True)
            _child(["sharded", start.isoformat(), str(shards)], env)  # the previous day, untimed
            for mode in args.modes:
                if mode == "whole" and sf > args.whole_max_sf:
                    continue
                r = _child([mode, day.isoformat(), str(shards)], env)
                rate = r["rows"] / r["wall_s"] if r["wall_s"] else 0.0
                # CPU seconds per wall second of the process itself (not meaningful for a Dagster run,
                # whose work is in its worker processes): above 1, one process already uses both cores
                cores = "" if mode.startswith("dagster") else f"{r['cpu_s'] / r['wall_s']:>5.2f}"
                results.append({"sf": sf, "day": day.isoformat(), "mode": mode, "shards": shards, **r, "rows_per_s": rate})
                print(
                    f"{sf:>5g} {day.isoformat():>10} {mode:>9} {shards:>6} {r['wall_s']:>8.1f} {r['rows']:>11,} "
                    f"{rate:>9,.0f} {r['peak_rss_mib']:>9,.0f} {cores}",
                    flush=True,
                )
                if "phases" in r:
                    print(f"{'':>5} {'':>10} {'':>9} phases: {json.dumps(r['phases'])}", flush=True)
            if args.keep is None:
                shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
