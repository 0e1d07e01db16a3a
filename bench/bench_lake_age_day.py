"""Lake age at the size of a real day: one generated day written into a 10-day lake and a ~1,000-day lake.

Why next to ``bench_lake_age.py``: that bench isolates what aging costs a commit (400-row days on two
tables, so the day's own work is nearly nothing and the ratio is the worst case). The issue's target
is the per-day write cost of the lake: the day's Bronze batch tables, its carried state and its
manifest, written as the pipeline writes them (``pipeline._write_partitions``: a partition replace
per table, four tables at a time). Here the day is a real generated day at ``--sf``.

How the old days are made (a synthetic log, as the issue allows): each table gets the real day's
partition once, written by the project's write path (so it has the table properties and the
statistics the pipeline gives it); the other days are that partition's data file, hard-linked under
each older day and committed as add actions with the same statistics, 100 days to a commit; then the
upkeep (``maintain_table``: checkpoint interval, compaction, vacuum, checkpoint) runs once, as the
weekly maintenance job leaves a table. What aging changes for a write is the log and its list of live
files, not the old rows, so the old days need no rows of their own.

The young and the aged lake are written in turns (day k into the young one, day k into the aged one,
then day k+1 ...), each turn in a fresh order, so a busy machine slows both alike. Two ways of
opening the tables: ``kept`` (one process writes day after day: a backfill, whose table handles stay
open) and ``fresh`` (every day in a new process: the daily schedule's runs; every table opened afresh).

    .venv/bin/python bench/bench_lake_age_day.py [--sf 0.1 1] [--days 1000] [--rounds 12]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from contextlib import nullcontext
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
from bench_lake_age import _fresh_opens
from deltalake import DeltaTable
from deltalake.transaction import AddAction

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.contract.tables import CONTROL_TABLES, FACT_TABLES
from retail_assets.lake import delta
from retail_assets.lake.maintenance import MaintenancePolicy, maintain_table
from retail_assets.lake.paths import bronze_uri

START = date(2024, 1, 1)
YOUNG_DAYS = 10
SOURCE_DAYS = 3
COMMIT_DAYS = 100  # add actions per commit while the old days are made
UPKEEP = MaintenancePolicy(allow_short_retention=True, vacuum_retention=timedelta(0), log_retention=timedelta(0))
SPECS = {**FACT_TABLES, **CONTROL_TABLES}


def generated_day(scratch: Path, sf: float) -> dict[str, pa.Table]:
    """A day of a dataset at ``sf`` (its third), as the lake holds it: every table the day writes."""
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(scratch)})
    settings = DatasetSettings(seed=42, scale_factor=sf, start_date=START)
    pipeline.build_and_write_dimensions(home, settings)
    for n in range(SOURCE_DAYS):  # a day in, so that every table has rows (returns follow sales)
        pipeline.generate_and_write_day(home, settings, START + timedelta(days=n), "batch", owner="bench")
    last = START + timedelta(days=SOURCE_DAYS - 1)
    day: dict[str, pa.Table] = {}
    for name, spec in SPECS.items():
        uri = bronze_uri(home.lake_root, name)
        if delta.table_exists(uri):
            day[name] = delta.read_table(uri, spec.arrow_schema, last, spec.partition_by)
    return day


def dated(rows: pa.Table, column: str, day: date) -> pa.Table:
    """``rows`` moved to ``day`` (its partition column only: the write path refuses rows of another day)."""
    index = rows.schema.get_field_index(column)
    return rows.set_column(index, rows.schema.field(index), pa.array([day] * rows.num_rows, rows.schema.field(index).type))


def _add_actions_of(uri: str) -> list[dict]:
    return pa.table(DeltaTable(uri).get_add_actions(flatten=False)).to_pylist()


def make_lake(root: Path, day_rows: dict[str, pa.Table], days: int) -> HomeSettings:
    """A lake whose every table holds ``days`` days (START …): the first written, the rest linked."""
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(root)})
    for name, rows in day_rows.items():
        spec = SPECS[name]
        uri = bronze_uri(home.lake_root, name)
        delta.replace_partition(uri, dated(rows, spec.partition_by, START), spec.arrow_schema, START, spec.partition_by)
        table = DeltaTable(uri)
        added = _add_actions_of(uri)
        if not added:  # no rows that day: nothing to age (the table still takes its write below)
            continue
        first = added[0]
        source = Path(uri) / first["path"]
        # the statistics a staged (sharded) day's files carry: the count, and the nulls of the one
        # column the table keeps statistics for
        nulls = {k: v for k, v in (first.get("null_count") or {}).items() if v is not None}
        stats = json.dumps({"numRecords": first["num_records"], "nullCount": nulls})
        actions: list[AddAction] = []
        for n in range(1, days):
            value = (START + timedelta(days=n)).isoformat()
            rel = f"{spec.partition_by}={value}/{Path(first['path']).name}"
            (Path(uri) / rel).parent.mkdir(parents=True, exist_ok=True)
            os.link(source, Path(uri) / rel)
            actions.append(
                AddAction(rel, first["size_bytes"], {spec.partition_by: value}, first["modification_time"], True, stats)
            )
            if len(actions) == COMMIT_DAYS or n == days - 1:
                table.create_write_transaction(actions, "append", table.schema(), [spec.partition_by])
                actions = []
        maintain_table(uri, UPKEEP)
    return home


def write_day(home: HomeSettings, day_rows: dict[str, pa.Table], day: date, fresh: bool) -> float:
    """The pipeline's write of one day into ``home``'s lake; rows are re-dated before the clock.
    ``fresh``: every table is opened afresh (``bench_lake_age._fresh_opens``), as in a new process."""
    tables = {name: dated(rows, SPECS[name].partition_by, day) for name, rows in day_rows.items()}
    with _fresh_opens() if fresh else nullcontext():
        started = time.perf_counter()
        pipeline._write_partitions(home, tables, day)
        return time.perf_counter() - started


def measure(sf: float, days: int, rounds: int) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench_lake_age_day_"))
    try:
        t0 = time.perf_counter()
        day_rows = generated_day(scratch / "source", sf)
        rows = sum(t.num_rows for t in day_rows.values())
        t1 = time.perf_counter()
        lakes = {"young": make_lake(scratch / "young", day_rows, YOUNG_DAYS), "aged": make_lake(scratch / "aged", day_rows, days)}
        files = {k: len(DeltaTable(bronze_uri(h.lake_root, "fact_receipt_lines")).file_uris()) for k, h in lakes.items()}
        print(
            f"sf {sf}: a day of {rows:,} rows in {len(day_rows)} tables (generated in {t1 - t0:.0f} s); lakes of "
            f"{YOUNG_DAYS} and {days} days made in {time.perf_counter() - t1:.0f} s "
            f"(fact_receipt_lines live files: young {files['young']}, aged {files['aged']})",
            flush=True,
        )
        for opening in ("kept", "fresh"):
            costs: dict[str, list[float]] = {"young": [], "aged": []}
            for r in range(rounds):
                day = START + timedelta(days=days + 10 + r + (0 if opening == "kept" else rounds))
                order = ("young", "aged") if r % 2 == 0 else ("aged", "young")
                for lake in order:
                    costs[lake].append(write_day(lakes[lake], day_rows, day, fresh=opening == "fresh"))
            young, aged = (statistics.median(costs[k][1:]) for k in ("young", "aged"))  # the first warms up
            print(
                f"  {opening:>5} handles: day write young {young * 1000:7.1f} ms, aged {aged * 1000:7.1f} ms, "
                f"ratio {aged / young:.2f}x (medians of {rounds - 1} interleaved days)",
                flush=True,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sf", type=float, nargs="+", default=[0.1, 1.0])
    ap.add_argument("--days", type=int, default=1000, help="days of the aged lake")
    ap.add_argument("--rounds", type=int, default=12, help="days written into each lake per way of opening")
    args = ap.parse_args()
    for sf in args.sf:
        measure(sf, args.days, args.rounds)


if __name__ == "__main__":
    main()
