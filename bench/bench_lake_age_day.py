"""Lake age at the size of a real day: one generated day written into a 10-day lake and a ~1,000-day lake.

Why next to ``bench_lake_age.py``: that bench isolates what aging costs a commit (400-row days on two
tables, so the day's own work is nearly nothing and the ratio is the worst case). The issue's target
is the per-day write cost of the lake: the day's Bronze batch tables, its carried state and its
manifest, written as the pipeline writes them (``pipeline._write_partitions``: a partition replace
per table, four tables at a time). Here the day is a real generated day at ``--sf``.

How the old days are made (a synthetic log, as the issue allows), for each of the two layouts:

* ``clustered`` (the layout of every dated table since issue 9's day-clustering, ``lake.day_layout``):
  each table gets the real day once, written by the project's write path; the older days are as the
  weekly upkeep leaves them: a table whose day file is small (what ``lake.month_compaction`` merges)
  gets one file per month (a row group per day, 64 rows of the real day re-dated to each day), a table
  whose day file is larger keeps a file per day (the real day's file hard-linked, with that day's
  statistics); committed as add actions, 100 files to a commit;
* ``partitioned`` (the layout before: a Delta partition per day): the real day's partition, then that
  partition's data file hard-linked under each older day and committed as add actions with the same
  statistics, 100 days to a commit. Writes into such a table keep its layout (``lake.delta``).

Then the upkeep (``maintain_table``: checkpoint interval, compaction, vacuum, checkpoint) runs once,
as the weekly maintenance job leaves a table. What aging changes for a write is the log and its list
of live files, not the old rows, so the old days need few rows of their own.

The young and the aged lake are written in turns (day k into the young one, day k into the aged one,
then day k+1 ...), each turn in a fresh order, so a busy machine slows both alike. Two ways of
opening the tables: ``kept`` (one process writes day after day: a backfill, whose table handles stay
open) and ``fresh`` (every day in a new process: the daily schedule's runs; every table opened afresh).

    .venv/bin/python bench/bench_lake_age_day.py [--sf 0.1 1] [--days 1000] [--rounds 12] [--layouts clustered partitioned]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from contextlib import nullcontext
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
from bench_lake_age import _fresh_opens
from deltalake import DeltaTable, write_deltalake
from deltalake.transaction import AddAction

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.contract.tables import CONTROL_TABLES, FACT_TABLES
from retail_assets.lake import delta, file_stats
from retail_assets.lake.dated_file_writer import write_dated_file
from retail_assets.lake.maintenance import MaintenancePolicy, maintain_table
from retail_assets.lake.paths import bronze_uri
from retail_assets.lake.staging_fs import staging_target

START = date(2024, 1, 1)
YOUNG_DAYS = 10
SOURCE_DAYS = 3
COMMIT_DAYS = 100  # add actions per commit while the old days are made
OLD_DAY_ROWS = 64  # rows of each synthetic old day of a day-clustered table
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


def make_lake(root: Path, day_rows: dict[str, pa.Table], days: int, layout: str) -> HomeSettings:
    """A lake whose every table holds ``days`` days (START …) in ``layout``."""
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(root)})
    for name, rows in day_rows.items():
        uri = bronze_uri(home.lake_root, name)
        (_clustered_table if layout == "clustered" else _partitioned_table)(uri, SPECS[name], rows, days)
        maintain_table(uri, UPKEEP)
    return home


def _clustered_table(uri: str, spec, rows: pa.Table, days: int) -> None:
    delta.replace_partition(uri, dated(rows, spec.partition_by, START), spec.arrow_schema, START, spec.partition_by)
    if rows.num_rows == 0:
        return
    table = DeltaTable(uri)
    (first,) = _add_actions_of(uri)
    if first["size_bytes"] >= UPKEEP.small_file_bytes:
        return _day_files_kept(uri, table, spec.partition_by, first, days)  # upkeep leaves large days alone
    target = staging_target(uri)
    stats_cols = file_stats.stats_columns(spec.arrow_schema, [], spec.partition_by)
    sample = rows.slice(0, OLD_DAY_ROWS)
    months: dict[date, list[date]] = {}
    for n in range(1, days):
        day = START + timedelta(days=n)
        months.setdefault(day.replace(day=1), []).append(day)
    actions: list[AddAction] = []
    for month, month_days in sorted(months.items()):
        parts = (dated(sample, spec.partition_by, d) for d in month_days)
        rel = f"part-{month:%Y-%m}-old-{uuid.uuid4().hex}.parquet"
        action = write_dated_file(target, rel, spec.arrow_schema, spec.partition_by, stats_cols, parts)
        if action is not None:
            actions.append(action)
    for start in range(0, len(actions), COMMIT_DAYS):
        table.create_write_transaction(actions[start : start + COMMIT_DAYS], "append", table.schema())
        table.update_incremental()


def _day_files_kept(uri: str, table: DeltaTable, col: str, first: dict, days: int) -> None:
    """Old days of a table whose day files are too large to merge: the real day's file hard-linked
    once per older day, each added with that day's statistics (only the log is aged; no old row is read)."""
    source = Path(uri) / first["path"]
    actions: list[AddAction] = []
    for n in range(1, days):
        value = (START + timedelta(days=n)).isoformat()
        rel = f"part-{value}-old-{Path(first['path']).name}"
        os.link(source, Path(uri) / rel)
        stats = json.dumps({"numRecords": first["num_records"], "minValues": {col: value}, "maxValues": {col: value}, "nullCount": {col: 0}})
        actions.append(AddAction(rel, first["size_bytes"], {}, first["modification_time"], True, stats))
        if len(actions) == COMMIT_DAYS or n == days - 1:
            table.create_write_transaction(actions, "append", table.schema())
            table.update_incremental()
            actions = []


def _partitioned_table(uri: str, spec, rows: pa.Table, days: int) -> None:
    col = spec.partition_by
    first_rows = dated(rows, col, START)
    write_deltalake(
        uri, first_rows, partition_by=[col], configuration=file_stats.table_properties(spec.arrow_schema, [col])
    )
    table = DeltaTable(uri)
    added = _add_actions_of(uri)
    if not added:  # no rows that day: nothing to age (the table still takes its write below)
        return
    first = added[0]
    source = Path(uri) / first["path"]
    # the statistics a staged (sharded) day's files carry: the count, and the nulls of the one
    # column the table keeps statistics for
    nulls = {k: v for k, v in (first.get("null_count") or {}).items() if v is not None}
    stats = json.dumps({"numRecords": first["num_records"], "nullCount": nulls})
    actions: list[AddAction] = []
    for n in range(1, days):
        value = (START + timedelta(days=n)).isoformat()
        rel = f"{col}={value}/{Path(first['path']).name}"
        (Path(uri) / rel).parent.mkdir(parents=True, exist_ok=True)
        os.link(source, Path(uri) / rel)
        actions.append(AddAction(rel, first["size_bytes"], {col: value}, first["modification_time"], True, stats))
        if len(actions) == COMMIT_DAYS or n == days - 1:
            table.create_write_transaction(actions, "append", table.schema(), [col])
            table.update_incremental()
            actions = []


def write_day(home: HomeSettings, day_rows: dict[str, pa.Table], day: date, fresh: bool) -> float:
    """The pipeline's write of one day into ``home``'s lake; rows are re-dated before the clock.
    ``fresh``: every table is opened afresh (``bench_lake_age._fresh_opens``), as in a new process."""
    tables = {name: dated(rows, SPECS[name].partition_by, day) for name, rows in day_rows.items()}
    with _fresh_opens() if fresh else nullcontext():
        started = time.perf_counter()
        pipeline._write_partitions(home, tables, day)
        return time.perf_counter() - started


def measure(sf: float, days: int, rounds: int, layouts: list[str]) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench_lake_age_day_"))
    try:
        t0 = time.perf_counter()
        day_rows = generated_day(scratch / "source", sf)
        rows = sum(t.num_rows for t in day_rows.values())
        t1 = time.perf_counter()
        lakes = {
            (layout, age): make_lake(scratch / f"{layout}-{age}", day_rows, YOUNG_DAYS if age == "young" else days, layout)
            for layout in layouts
            for age in ("young", "aged")
        }
        files = {k: len(DeltaTable(bronze_uri(h.lake_root, "fact_receipt_lines")).file_uris()) for k, h in lakes.items()}
        print(
            f"sf {sf}: a day of {rows:,} rows in {len(day_rows)} tables (generated in {t1 - t0:.0f} s); lakes of "
            f"{YOUNG_DAYS} and {days} days made in {time.perf_counter() - t1:.0f} s; fact_receipt_lines live files: "
            + ", ".join(f"{layout} {age} {n}" for (layout, age), n in files.items()),
            flush=True,
        )
        for opening in ("kept", "fresh"):
            costs: dict[tuple[str, str], list[float]] = {k: [] for k in lakes}
            for r in range(rounds):
                day = START + timedelta(days=days + 10 + r + (0 if opening == "kept" else rounds))
                order = list(lakes)
                random.Random(r).shuffle(order)
                for key in order:
                    costs[key].append(write_day(lakes[key], day_rows, day, fresh=opening == "fresh"))
            for layout in layouts:
                young, aged = (statistics.median(costs[(layout, a)][1:]) for a in ("young", "aged"))  # 1st warms up
                print(
                    f"  {layout:>11} {opening:>5} handles: day write young {young * 1000:7.1f} ms, aged "
                    f"{aged * 1000:7.1f} ms, ratio {aged / young:.2f}x (medians of {rounds - 1} interleaved days)",
                    flush=True,
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sf", type=float, nargs="+", default=[0.1, 1.0])
    ap.add_argument("--days", type=int, default=1000, help="days of the aged lake")
    ap.add_argument("--rounds", type=int, default=12, help="days written into each lake per way of opening")
    ap.add_argument("--layouts", nargs="+", choices=["clustered", "partitioned"], default=["clustered", "partitioned"])
    args = ap.parse_args()
    for sf in args.sf:
        measure(sf, args.days, args.rounds, args.layouts)


if __name__ == "__main__":
    main()
