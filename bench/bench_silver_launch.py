"""A Silver day as a UI user waits for it: from the Materialize click to the run's success.

``bench_silver_dagster.py`` measures a run the CLI starts (one process that plans, executes and
exits). A user of the UI pays something else: the webserver creates the run and queues it, the queue
daemon picks it up on its next tick, the code server spawns a run worker (a new Python process that
imports Dagster and loads the code location), and the worker executes. This bench starts the real
``dagster dev`` (webserver, daemon, code server) on a generated home, sends the mutation the
Materialize dialog sends for one partition of every Silver fact table (with all their checks) and
reads each run's own events back from the instance. Reported per queue setting (median of
``--repeats`` runs of the same day; the queue wait also as a mean):

* ``click_to_success_s``: the mutation sent to RUN_SUCCESS written, and its ratio to
  ``compute_s`` (build + check + write from the materializations' metadata);
* ``create_s``: mutation to RUN_ENQUEUED (the webserver creates the run and writes its "planned"
  events, one per asset and per check);
* ``queued_s``: RUN_ENQUEUED to RUN_STARTING (waiting for the queue daemon's tick: ``run_queue:
  dequeue_interval_seconds``, Dagster's default 5 s);
* ``worker_start_s``: RUN_STARTING to RUN_START (the code server spawns the run worker: process
  start, imports, code location load);
* ``in_run_s``: RUN_START to RUN_SUCCESS, the run's duration as the UI's run list shows it, and its
  ratio to ``compute_s``.

``--dequeue-intervals 5,1`` (the default) compares Dagster's default tick with the one dagster.yaml
sets, in one run of the bench; each setting gets its own ``dagster dev`` on the same home and instance
file otherwise unchanged. Usage::

    python bench/bench_silver_launch.py [--scale-factor 1] [--repeats 7] [--dequeue-intervals 5,1]
        [--instance sqlite|postgres] [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_silver_dagster import (
    HERE,
    INSTANCE_FILES,
    START,
    bench_environment,
    generate,
    materialized_compute,
)

from retail_assets_tests.e2e.graphql_api import DagsterAPI
from retail_assets_tests.e2e.server import DagsterDev, E2EError, wait_for

SERVER_READY_TIMEOUT_S = 240
RUN_TIMEOUT_S = 600
POLL_S = 0.25


def silver_fact_keys() -> list[str]:
    from retail_assets.defs.keys import SILVER_KEYS

    return [key.to_user_string() for key in SILVER_KEYS.values()]


def instance_file(instance: str, dequeue_interval_s: int) -> str:
    """The project's instance file with the queue daemon's tick set to ``dequeue_interval_s``."""
    config = yaml.safe_load((HERE / INSTANCE_FILES[instance]).read_text())
    config.setdefault("run_queue", {})["dequeue_interval_seconds"] = dequeue_interval_s
    return yaml.safe_dump(config, sort_keys=False)


def run_figures(dagster_home: Path, run_id: str, clicked: float) -> dict[str, float]:
    """Phase durations of one finished run from its event log (timestamps of this machine's clock)."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    with dg.DagsterInstance.get() as instance:
        logs = instance.all_logs(run_id)
    at = {e.dagster_event.event_type: e.timestamp for e in logs if e.dagster_event}
    compute, _ = materialized_compute(logs)
    enqueued, starting = at[dg.DagsterEventType.RUN_ENQUEUED], at[dg.DagsterEventType.RUN_STARTING]
    start, success = at[dg.DagsterEventType.RUN_START], at[dg.DagsterEventType.RUN_SUCCESS]
    return {
        "click_to_success_s": success - clicked,
        "create_s": enqueued - clicked,
        "queued_s": starting - enqueued,
        "worker_start_s": start - starting,
        "in_run_s": success - start,
        "compute_s": compute,
        "events": float(len(logs)),
    }


ACTIVE = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED"]


def launch_and_wait(api: DagsterAPI, repo, keys: list[str], day: str) -> tuple[str, float]:
    # the project's sensors are on by default (silver_day_sensor builds complete days at start-up):
    # measure a run alone, never next to one of theirs
    wait_for("no other run in flight", lambda: not api.runs(statuses=ACTIVE), RUN_TIMEOUT_S, interval_s=POLL_S)
    clicked = time.time()
    run_id = api.launch_assets_run(repo, keys, day)
    status = wait_for(
        f"run {run_id} to finish",
        lambda: (s := api.run_status(run_id)) in ("SUCCESS", "FAILURE", "CANCELED") and s,
        RUN_TIMEOUT_S,
        interval_s=POLL_S,
        on_timeout=api.failure_report,
    )
    if status != "SUCCESS":
        raise E2EError(f"run {run_id} ended {status}:\n{api.failure_report()}")
    return run_id, clicked


def measure(work: Path, env: dict[str, str], instance: str, interval_s: int, repeats: int) -> dict[str, object]:
    dagster_home = work / f"dagster_home_dequeue_{interval_s}s"
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(instance_file(instance, interval_s))
    server_env = {**os.environ, **env, "DAGSTER_HOME": str(dagster_home), "DAGSTER_DISABLE_TELEMETRY": "1"}
    server = DagsterDev(repo_root=HERE, env=server_env, log_path=work / f"dagster_dev_{interval_s}s.log")
    server.start()
    try:
        api = DagsterAPI("127.0.0.1", server.port)
        repo = wait_for("the code location", api.loaded_repository, SERVER_READY_TIMEOUT_S, on_timeout=server.log_tail)
        keys = silver_fact_keys()
        launch_and_wait(api, repo, keys, START.isoformat())  # warm-up: day 0, the page cache, the code server
        day = (START + timedelta(days=1)).isoformat()
        samples = []
        for _ in range(repeats):
            run_id, clicked = launch_and_wait(api, repo, keys, day)
            samples.append(run_figures(dagster_home, run_id, clicked))
            time.sleep(1.0)  # let the daemon's bookkeeping of the finished run settle
    finally:
        server.stop()
    figures = {k: round(statistics.median(s[k] for s in samples), 3) for k in samples[0]}
    figures["click_to_success_over_compute"] = round(figures["click_to_success_s"] / figures["compute_s"], 2)
    figures["in_run_over_compute"] = round(figures["in_run_s"] / figures["compute_s"], 2)
    figures["click_to_success_all_s"] = [round(s["click_to_success_s"], 2) for s in samples]
    # the wait in the queue falls anywhere in the daemon's tick, so its mean says more than a median of a few
    figures["queued_mean_s"] = round(statistics.mean(s["queued_s"] for s in samples), 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale-factor", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dequeue-intervals", default="5,1", help="queue daemon ticks to compare, in seconds")
    parser.add_argument("--instance", choices=sorted(INSTANCE_FILES), default="sqlite")
    parser.add_argument("--home", default="", help="work directory (default: a temporary one)")
    args = parser.parse_args()
    work = Path(args.home or tempfile.mkdtemp(prefix="bench_silver_launch_"))
    with bench_environment(args.instance, work / "home", args.scale_factor) as env:
        report: dict[str, object] = {
            "scale_factor": args.scale_factor,
            "instance": args.instance,
            "generate_s": round(generate(work / "home", args.scale_factor, 1), 1),
        }
        for interval in (int(x) for x in args.dequeue_intervals.split(",")):
            report[f"dequeue_{interval}s"] = figures = measure(work, env, args.instance, interval, args.repeats)
            print(f"dequeue_{interval}s", json.dumps(figures), flush=True)
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
