"""Silver through Dagster: what a run costs on top of its compute, before and after ``silver_facts``.

Each Silver run is what a user starts: ``dagster asset materialize -m retail_assets.definitions`` in
a fresh process (so the wall includes process start, imports and loading the code location, as a
run worker pays them), against a file-backed instance of its own. Reported per code version:

* ``day_wall_s``: wall of one Silver day (all fact tables), process start to exit;
* ``day_compute_s``: build + check + write of that day, summed from its materializations' metadata
  (a version that does not report ``write_seconds`` is summed without it, and says so);
* ``day_wall_over_compute``: the ratio (target <= 2 at sf 1); with ``--day-repeats N`` the day is run N
  times and the run with the median ratio is reported (``day_walls_s`` lists every wall; the phase
  figures below are medians);
* ``day_in_run_s``: RUN_START to RUN_SUCCESS (Dagster's own per-run cost, without process start);
* ``run_start_latency_s``: process start to the run's first event (imports + code location load);
* ``events_per_day``: event log entries of that run;
* ``backfill_runs`` / ``backfill_wall_s``: ``--days`` days of Silver: one ``--partition-range`` run
  where the code version allows it, otherwise one run per day (what the CLI forced before);
* ``import_defs_s``: median wall of ``import retail_assets.definitions; defs()`` (code location load);
* where the day's wall goes, from the run's event log: ``planned_events_s`` (the run's first event to
  RUN_START: the materialization and check evaluation "planned" events that creating the run writes),
  ``step_s`` (STEP_START to STEP_SUCCESS: the compute plus the events it yields), ``exit_s`` (the last
  event to the process's exit);
* the second, in-process measure (``in_process_*``): the same day materialized with
  ``execute_in_process`` against the same instance in a process that already ran one Silver day, i.e.
  Dagster's per-run cost (planning, events) without process start, imports and code location load.
  What a launched run (CLI, UI, daemon) pays is the first measure; this one says how much of it is
  the process and how much is per run. Wall, compute and their ratio, median of ``--in-process-repeats``.

"Before" is any other checkout of the project (``--before-root``, e.g. ``git archive main | tar -x``),
run with this virtualenv, or with its own (``--before-python DIR/.venv/bin/python`` after ``make install``
there): the environment is part of what a run costs (e.g. whether its bytecode is compiled). Usage::

    python bench/bench_silver_dagster.py [--scale-factor 1] [--days 14] [--before-root DIR] [--home DIR]
        [--no-before-backfill] [--in-process-repeats 3] [--day-repeats 1] [--instance sqlite|postgres]

``--instance postgres`` runs every version on its own ``dagster.postgres.yaml`` against a private
PostgreSQL cluster this script starts (``scripts/local_postgres.sh``) and stops: the production
instance, where Dagster's cost per event is a matter of connections (retail_assets/pooled_postgres_storage.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
START = date(2024, 1, 1)
SELECT = 'key:"ag/fact_*"'


def dataset_env(home: Path, scale_factor: float) -> dict[str, str]:
    return {
        "RETAIL_ASSETS_HOME": str(home),
        "RETAIL_ASSETS_SCALE_FACTOR": str(scale_factor),
        "RETAIL_ASSETS_START_DATE": START.isoformat(),
        "RETAIL_ASSETS_SEED": "42",
    }


def generate(home: Path, scale_factor: float, days: int) -> float:
    """Dimensions and ``days + 1`` batch days (the first is Silver's warm-up day); returns seconds."""
    from retail_assets import pipeline
    from retail_assets.config import DatasetSettings, HomeSettings

    settings = DatasetSettings(seed=42, scale_factor=scale_factor, start_date=START)
    home_settings = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(home)})
    t0 = time.perf_counter()
    pipeline.build_and_write_dimensions(home_settings, settings)
    for i in range(days + 1):
        pipeline.generate_and_write_day(
            home_settings, settings, START + timedelta(days=i), "batch", owner="bench"
        )
    return time.perf_counter() - t0


COMPUTE_KEYS = ("build_seconds", "check_seconds", "write_seconds")
"""The materialization metadata that make up a Silver table-day's compute."""


def materialized_compute(logs: list) -> tuple[float, bool]:
    """(build + check + write seconds summed over a run's materializations, whether any reported
    ``write_seconds``): a version that does not report it is summed without it."""
    import dagster as dg

    compute, has_write = 0.0, False
    for entry in logs:
        event = entry.dagster_event
        if event is None or event.event_type != dg.DagsterEventType.ASSET_MATERIALIZATION:
            continue
        meta = event.step_materialization_data.materialization.metadata
        compute += sum(meta[k].value for k in COMPUTE_KEYS if k in meta)
        has_write = has_write or "write_seconds" in meta
    return compute, has_write


class CodeVersion:
    """One checkout of the project, its own Dagster instance, and the CLI runs made against it."""

    def __init__(
        self,
        name: str,
        root: Path,
        work: Path,
        env: dict[str, str],
        python: str = sys.executable,
        instance_yaml: str = "dagster.yaml",
    ) -> None:
        self.name, self.root, self.python = name, root, python
        self.dagster_home = work / f"dagster_home_{name}"
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        if (root / instance_yaml).is_file():
            shutil.copyfile(root / instance_yaml, self.dagster_home / "dagster.yaml")
        elif instance_yaml != "dagster.yaml":
            raise SystemExit(
                f"{name}: {root / instance_yaml} does not exist (that checkout has no such instance)"
            )
        self.env = {
            **os.environ,
            **env,
            "DAGSTER_HOME": str(self.dagster_home),
            "PYTHONPATH": str(root),
            "DAGSTER_DISABLE_TELEMETRY": "1",
        }

    def materialize(self, *partition_args: str) -> tuple[float, float]:
        """One ``dagster asset materialize`` process; returns (wall seconds, start epoch); the end
        epoch is their sum."""
        cmd = [
            str(Path(self.python).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "retail_assets.definitions",
            "--select",
            SELECT,
            *partition_args,
        ]
        started = time.time()
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=self.root, env=self.env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"{self.name}: {' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
        return wall, started

    def range_supported(self) -> bool:
        return "BackfillPolicy.single_run" in (self.root / "retail_assets/defs/silver/assets.py").read_text()

    def last_run_figures(self, started: float, ended: float) -> dict[str, float | int | bool]:
        import dagster as dg

        os.environ["DAGSTER_HOME"] = str(self.dagster_home)
        with dg.DagsterInstance.get() as instance:
            run = instance.get_run_records(limit=1)[0].dagster_run
            logs = instance.all_logs(run.run_id)
            times = {e.dagster_event.event_type: e.timestamp for e in logs if e.dagster_event}
            compute, has_write = materialized_compute(logs)
            first, last = min(e.timestamp for e in logs), max(e.timestamp for e in logs)
            step = times.get(dg.DagsterEventType.STEP_SUCCESS, last) - times.get(
                dg.DagsterEventType.STEP_START, first
            )
            return {
                "events": len(logs),
                "compute_s": round(compute, 3),
                "compute_includes_write": has_write,
                "in_run_s": round(
                    times[dg.DagsterEventType.RUN_SUCCESS] - times[dg.DagsterEventType.RUN_START], 3
                ),
                "start_latency_s": round(first - started, 3),
                "planned_events_s": round(times[dg.DagsterEventType.RUN_START] - first, 3),
                "step_s": round(step, 3),
                "exit_s": round(ended - last, 3),
            }


IN_PROCESS = """
import json, statistics, sys, time
import dagster as dg
from retail_assets.definitions import defs

day, repeats = sys.argv[1], int(sys.argv[2])
select = dg.AssetSelection.from_coercible([sys.argv[3]])
job = defs().resolve_implicit_global_asset_job_def()
with dg.DagsterInstance.get() as instance:
    keys = list(select.resolve(defs().resolve_asset_graph()))
    rows = []
    for i in range(repeats + 1):  # the first run warms the process up (first use of every module)
        t0 = time.perf_counter()
        result = job.execute_in_process(partition_key=day, asset_selection=keys, instance=instance)
        wall = time.perf_counter() - t0
        assert result.success
        compute = sum(
            sum(m.metadata[k].value for k in ("build_seconds", "check_seconds", "write_seconds") if k in m.metadata)
            for m in result.asset_materializations_for_node("silver_facts")
        )
        if i:
            rows.append((wall, compute))
print(json.dumps({"walls": [r[0] for r in rows], "computes": [r[1] for r in rows]}))
"""


def in_process_figures(version: CodeVersion, day: date, repeats: int) -> dict[str, float]:
    """The in-process measure (see the module docstring): medians over ``repeats`` warm runs."""
    done = subprocess.run(
        [version.python, "-c", IN_PROCESS, day.isoformat(), str(repeats), SELECT],
        cwd=version.root,
        env=version.env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{version.name}: the in-process measure failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    wall, compute = statistics.median(out["walls"]), statistics.median(out["computes"])
    return {
        "in_process_day_wall_s": round(wall, 3),
        "in_process_day_compute_s": round(compute, 3),
        "in_process_wall_over_compute": round(wall / compute, 2) if compute else None,
    }


def import_seconds(root: Path, repeats: int, python: str = sys.executable) -> float:
    code = "import retail_assets.definitions as d; d.defs()"
    env = {**os.environ, "PYTHONPATH": str(root)}
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([python, "-c", code], cwd=root, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
    return round(statistics.median(walls), 3)


def day_figures(version: CodeVersion, day: date, repeats: int) -> tuple[float, dict[str, float | int | bool]]:
    """(wall, run figures) of ``repeats`` CLI runs of one Silver day: the median of each figure (the
    ratio is taken of the run with the median ratio, so that wall and compute come from one run)."""
    samples = []
    for _ in range(repeats):
        wall, started = version.materialize("--partition", day.isoformat())
        samples.append((wall, version.last_run_figures(started, started + wall)))
    by_ratio = sorted(samples, key=lambda s: s[0] / s[1]["compute_s"] if s[1]["compute_s"] else 0.0)
    wall, figures = by_ratio[len(by_ratio) // 2]
    medians = {
        k: round(statistics.median(s[1][k] for s in samples), 3)
        for k in ("start_latency_s", "planned_events_s", "step_s", "exit_s", "in_run_s")
    }
    return wall, {**figures, **medians, "walls": [round(s[0], 3) for s in samples]}


def measure(
    version: CodeVersion,
    days: int,
    import_repeats: int,
    backfill: bool = True,
    in_process_repeats: int = 3,
    day_repeats: int = 1,
) -> dict[str, object]:
    day = START + timedelta(days=1)
    version.materialize("--partition", START.isoformat())  # warm-up: the page cache, and day 0's Silver
    wall, one = day_figures(version, day, day_repeats)
    first, last = day, day + timedelta(days=days - 1)
    t0 = time.perf_counter()
    if not backfill:
        runs = 0
    elif version.range_supported():
        version.materialize("--partition-range", f"{first.isoformat()}...{last.isoformat()}")
        runs = 1
    else:
        for i in range(days):
            version.materialize("--partition", (first + timedelta(days=i)).isoformat())
        runs = days
    backfill_wall = time.perf_counter() - t0 if runs else None
    return {
        "day_wall_s": round(wall, 3),
        "day_walls_s": one["walls"],
        "day_compute_s": one["compute_s"],
        "day_compute_includes_write": one["compute_includes_write"],
        "day_wall_over_compute": round(wall / one["compute_s"], 2) if one["compute_s"] else None,
        "day_in_run_s": one["in_run_s"],
        "run_start_latency_s": one["start_latency_s"],
        "events_per_day": one["events"],
        "planned_events_s": one["planned_events_s"],
        "step_s": one["step_s"],
        "exit_s": one["exit_s"],
        **(in_process_figures(version, day, in_process_repeats) if in_process_repeats else {}),
        "backfill_days": days,
        "backfill_runs": runs,
        "backfill_wall_s": round(backfill_wall, 3) if backfill_wall else None,
        "import_defs_s": import_seconds(version.root, import_repeats, version.python),
    }


INSTANCE_FILES = {"sqlite": "dagster.yaml", "postgres": "dagster.postgres.yaml"}


@contextlib.contextmanager
def bench_environment(instance: str, home: Path, scale_factor: float) -> Iterator[dict[str, str]]:
    """The dataset's variables for ``home``; for ``postgres`` also those of a private cluster (the test
    suite's: ``scripts/local_postgres.sh`` on a free loopback port), stopped and deleted at the end."""
    env = dataset_env(home, scale_factor)
    if instance != "postgres":
        yield env
        return
    from retail_assets_tests.e2e.postgres import LocalPostgres

    postgres = LocalPostgres()
    postgres.start()
    try:
        env.update(postgres.env)
        os.environ.update(postgres.env)  # this process reads the runs back through the instance too
        yield env
    finally:
        postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale-factor", type=float, default=1.0)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--before-root", default="", help="another checkout of the project to compare with")
    parser.add_argument("--home", default="", help="work directory (default: a temporary one)")
    parser.add_argument("--before-python", default=sys.executable, help="the before checkout's interpreter")
    parser.add_argument("--import-repeats", type=int, default=3)
    parser.add_argument("--in-process-repeats", type=int, default=3, help="0 skips the in-process measure")
    parser.add_argument(
        "--day-repeats", type=int, default=1, help="CLI runs of the one day (the median run is reported)"
    )
    parser.add_argument(
        "--instance",
        choices=sorted(INSTANCE_FILES),
        default="sqlite",
        help="the Dagster instance file each version runs on (postgres: a private cluster, started and stopped here)",
    )
    parser.add_argument(
        "--no-before-backfill",
        action="store_true",
        help="skip the before version's one-run-per-day backfill (slow)",
    )
    args = parser.parse_args()
    work = Path(args.home or tempfile.mkdtemp(prefix="bench_silver_dagster_"))
    with bench_environment(args.instance, work / "home", args.scale_factor) as env:
        generate_s = generate(work / "home", args.scale_factor, args.days)
        instance_yaml = INSTANCE_FILES[args.instance]
        versions = [CodeVersion("after", HERE, work, env, instance_yaml=instance_yaml)]
        if args.before_root:
            before = Path(args.before_root).resolve()
            versions.insert(0, CodeVersion("before", before, work, env, args.before_python, instance_yaml))
        report: dict[str, object] = {
            "scale_factor": args.scale_factor,
            "instance": args.instance,
            "generate_s": round(generate_s, 1),
        }
        for version in versions:
            backfill = not (version.name == "before" and args.no_before_backfill)
            report[version.name] = measure(
                version, args.days, args.import_repeats, backfill, args.in_process_repeats, args.day_repeats
            )
            print(version.name, json.dumps(report[version.name]), flush=True)
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
