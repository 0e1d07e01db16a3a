"""Silver checks vs build, per table, for one generated day: the legacy if-chain against the rule
registry, in one run (median of ``--repeats``, default 3).

Why both in one run: the machine is shared, so only figures measured side by side compare. The
legacy evaluator is the frozen copy under ``retail_assets_tests/silver/legacy_checks.py``. Each
repeat builds every table of the day in ``build_order`` on a fresh DuckDB connection (as a Silver
step does), then evaluates the checks with both evaluators, alternating which goes first; the
reference cache is shared across the day's tables (one process runs the day). Day 1 and day 2 are
committed to Silver first, so day 2's cross-table and cross-day rules have their references.
Target (issue 10): checks <= 25 % of build + checks.
Usage: ``python bench/bench_silver_checks.py [--scale-factor 0.3] [--repeats 3] [--home DIR]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta

import duckdb

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.silver import checks
from retail_assets.silver.build import build_silver
from retail_assets.silver.engines import DuckDBEngine
from retail_assets.silver.materialize import build_check_commit
from retail_assets_tests.silver import legacy_checks

Evaluator = Callable[..., list]

TARGET_SHARE = 0.25
"""Issue 10: checks at most this share of build + checks (reported next to each evaluator's share)."""


def timed(fn: Callable[[], object]) -> tuple[tuple[float, float], object]:
    """((wall seconds, CPU seconds of this process, all threads), result).

    CPU time is reported next to wall time because the machine may be shared: wall time then
    includes waiting for a core, CPU time does not.
    """
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return (time.perf_counter() - w0, time.process_time() - c0), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale-factor", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--home", default="")
    args = parser.parse_args()
    home = HomeSettings.from_env(
        {"RETAIL_ASSETS_HOME": args.home or tempfile.mkdtemp(prefix="bench_silver_checks_")}
    )
    start = date(2024, 1, 1)
    day = start + timedelta(days=1)
    settings = DatasetSettings(seed=42, scale_factor=args.scale_factor, start_date=start)
    pipeline.build_and_write_dimensions(home, settings)
    for d in (start, day):
        pipeline.generate_and_write_day(home, settings, d, "batch", owner="bench")
    ctx = checks.CheckContext(home.lake_root, settings.dataset_id)
    for d in (start, day):
        for table in checks.build_order():
            with duckdb.connect() as conn:
                build_check_commit(DuckDBEngine(conn), conn, ctx, table, d)

    evaluators: dict[str, Evaluator] = {
        "legacy": legacy_checks.evaluate_checks,
        "registry": checks.evaluate_checks,
    }
    kinds = ("build", *evaluators)
    samples: dict[str, dict[str, list[tuple[float, float]]]] = {
        t: {k: [] for k in kinds} for t in checks.build_order()
    }
    for rep in range(args.repeats):
        order = list(evaluators) if rep % 2 == 0 else list(reversed(evaluators))
        for table in checks.build_order():
            with duckdb.connect() as conn:
                build_s, build = timed(
                    lambda c=conn, t=table: build_silver(DuckDBEngine(c), home.lake_root, t, day)
                )
                samples[table]["build"].append(build_s)
                verdicts = {}
                for name in order:
                    with duckdb.connect() as check_conn:
                        check_s, verdicts[name] = timed(
                            lambda f=evaluators[name], c=check_conn, b=build: f(c, ctx, b)
                        )
                    samples[table][name].append(check_s)
            assert verdicts["legacy"] == verdicts["registry"], f"{table}: the evaluators disagree"

    report: dict[str, object] = {
        "scale_factor": args.scale_factor,
        "repeats": args.repeats,
        "target_checks_share": TARGET_SHARE,
    }
    for clock, i in (("wall", 0), ("cpu", 1)):
        per_table = {
            t: {k: round(statistics.median(x[i] for x in v), 4) for k, v in s.items()}
            for t, s in samples.items()
        }
        totals = {k: round(sum(p[k] for p in per_table.values()), 3) for k in kinds}
        report[clock] = {
            "total_median_s": totals,
            **{
                f"checks_share_{name}": round(totals[name] / (totals["build"] + totals[name]), 3)
                for name in evaluators
            },
            "registry_over_legacy": round(totals["registry"] / totals["legacy"], 3),
            "per_table_median_s": per_table,
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
