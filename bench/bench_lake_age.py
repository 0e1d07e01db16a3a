"""Lake-age benchmark: the per-day write cost at day 10 against day ~1,000, with and without upkeep.

Why synthetic: what slows an aging table is its log (commits since the last checkpoint, the size of
the checkpoint, files in ``_delta_log``), its file count and each file's statistics, not its row
count; three years of real days at any scale factor would take hours. So each synthetic day makes
the commits a real day makes on two tables of the contract's own schemas, through the project's own
write path (``lake.delta``):

* ``fact`` (``cusn.fact_receipt_lines``, 16 columns): one ``replace_partition`` of the day (a Bronze
  batch table), then the day's count;
* ``events`` (``cusn.receipt_line_added``, a Bronze event table): ``--appends`` appends of small
  blocks into the day (fed by the drain), then the day's count (what ``stream_outbox`` reports).

The day's cost is the wall time of those commits and counts. Modes:

* ``scan-count``: no upkeep, rows counted by scanning the date column (the code before log counts);
* ``log-count``: no upkeep, rows counted from the log's add-action stats;
* ``maintained``: log counts, and ``maintain_table`` every 7 days (checkpoint interval 10, compaction);
* ``maintained-fresh-opens``: the same, but every commit and count opens the table afresh (the code
  before ``lake.table_handles``);
* ``maintained-all-stats``: fresh opens and Delta's default per-file statistics of every column (the
  code before ``lake.file_stats`` too), to show what each change buys.

``--schema narrow`` uses the three-column tables of earlier figures instead of the contract's.

Time is compressed (1,095 days in minutes), so the maintained modes run with retention 0
(``allow_short_retention``): "older than the retention" stands for what a real 7-day vacuum and
30-day log retention remove. At steady state those keep a constant ~7 days of tombstones and ~30 days
of JSON commits per table, which does not grow with the lake's age.

The modes age in lockstep (day n of each, then day n+1) so a busy machine slows them alike.

    .venv/bin/python bench/bench_lake_age.py [--days 1095] [--appends 8] [--modes log-count,maintained,scan-count]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.contract.catalog import BRONZE_EVENT_TABLES, FACT_TABLES
from retail_assets.lake import delta, file_stats, table_handles
from retail_assets.lake.maintenance import MaintenancePolicy, maintain_table

NARROW = pa.schema([("id", pa.int64()), ("amount", pa.float64()), ("event_date", pa.date32())])
SCHEMAS = {
    "contract": {
        "fact": FACT_TABLES["fact_receipt_lines"].arrow_schema,
        "events": BRONZE_EVENT_TABLES["receipt_line_added"].arrow_schema,
    },
    "narrow": {"fact": NARROW, "events": NARROW},
}
START = date(2024, 1, 1)
ROWS_PER_DAY = 400
MAINTAIN_EVERY_DAYS = 7
COMPRESSED_TIME = MaintenancePolicy(
    checkpoint_interval=10, vacuum_retention=timedelta(0), log_retention=timedelta(0), allow_short_retention=True
)


def _values(field: pa.Field, day: date, ids: range) -> list:
    """Plausible values of one column: distinct per row, so every column has real min/max statistics."""
    kind = field.type
    if pa.types.is_timestamp(kind):
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return [midnight + timedelta(seconds=20 * i) for i in ids]
    if pa.types.is_date(kind):
        return [day] * len(ids)
    if pa.types.is_decimal(kind):
        return [Decimal(i) / 100 for i in ids]
    if pa.types.is_floating(kind):
        return [i * 0.01 for i in ids]
    if pa.types.is_string(kind):
        return [f"{field.name}-{day:%Y%m%d}-{i:06d}" for i in ids]
    return list(ids)


def _rows(schema: pa.Schema, day: date, count: int, offset: int = 0) -> pa.Table:
    ids = range(offset, offset + count)
    return pa.table({f.name: _values(f, day, ids) for f in schema}, schema)


@contextmanager
def _fresh_opens() -> Iterator[None]:
    """Every use of a table opens it afresh (no handle kept between commits)."""
    with mock.patch.object(table_handles, "current", lambda uri, open_table: open_table(uri)):
        yield


@contextmanager
def _fresh_opens_and_default_statistics() -> Iterator[None]:
    """Fresh opens, and tables created (and maintained) with Delta's default per-file statistics."""
    with _fresh_opens(), mock.patch.object(file_stats, "table_properties", lambda *args, **kwargs: {}):
        yield


MODE_CODE = {"maintained-fresh-opens": _fresh_opens, "maintained-all-stats": _fresh_opens_and_default_statistics}
"""The modes that stand for earlier code, and how they undo what came since."""


def _scan_count(uri: str, day: date) -> int:
    """The old way: read the whole table's date column, then pick the day."""
    column = delta.dataset(uri).to_table(columns=["event_date"]).column("event_date")
    return int(pc.sum(pc.equal(column, pa.scalar(day, pa.date32()))).as_py() or 0)


def one_day(root: Path, schemas: dict[str, pa.Schema], day: date, appends: int, count) -> float:
    """The wall time of one day's commits and counts (its rows are built before the clock starts)."""
    fact, events = str(root / "fact"), str(root / "events")
    block = ROWS_PER_DAY // appends
    day_rows = _rows(schemas["fact"], day, ROWS_PER_DAY)
    blocks = [_rows(schemas["events"], day, block, i * block) for i in range(appends)]
    started = time.perf_counter()
    delta.replace_partition(fact, day_rows, schemas["fact"], day)
    assert count(fact, day) == ROWS_PER_DAY
    for rows in blocks:
        delta.append(events, rows, schemas["events"])
    assert count(events, day) == block * appends
    return time.perf_counter() - started


def young_day(template: Path, schemas: dict[str, pa.Schema], day: date, appends: int, count) -> float:
    """The cost of ``day`` on a fresh copy of a young lake (its tables opened once before the clock
    starts, as the aged lake's are): the day-10 reference measured in the same minutes as day 1,000."""
    copy = Path(tempfile.mkdtemp(prefix="bench_lake_age_young_"))
    try:
        shutil.copytree(template, copy, dirs_exist_ok=True)
        for table in ("fact", "events"):
            count(str(copy / table), day - timedelta(days=1))
        return one_day(copy, schemas, day, appends, count)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def age_lakes(
    modes: list[str], schemas: dict[str, pa.Schema], days: int, appends: int, windows: list[int]
) -> dict[str, dict[str, float]]:
    """Age one lake per mode in lockstep (day n of every mode, then day n+1), so that the load of a
    shared machine falls on every mode alike and the modes compare at the same moment.

    The young lake is also kept (a copy after ``windows[0]`` days): in the late window each aged day
    is followed by the next day on a fresh copy of it, so the ratio of the two is not moved by what
    else the machine did between the early window and the late one (minutes apart)."""
    roots = {m: Path(tempfile.mkdtemp(prefix=f"bench_lake_age_{m}_")) for m in modes}
    log_count = lambda uri, day: delta.partition_row_count(uri, day)  # noqa: E731
    costs: dict[str, list[float]] = {m: [] for m in modes}
    young: dict[str, list[float]] = {m: [] for m in modes}
    templates: dict[str, Path] = {}
    early, late = windows[0], windows[-1]
    upkeep = dict.fromkeys(modes, 0.0)
    for n in range(days):
        for mode in modes:
            count = _scan_count if mode == "scan-count" else log_count
            with MODE_CODE.get(mode, nullcontext)():
                costs[mode].append(one_day(roots[mode], schemas, START + timedelta(days=n), appends, count))
                if mode.startswith("maintained") and (n + 1) % MAINTAIN_EVERY_DAYS == 0:
                    t0 = time.perf_counter()
                    for table in ("fact", "events"):
                        maintain_table(str(roots[mode] / table), COMPRESSED_TIME)
                    upkeep[mode] += time.perf_counter() - t0
                if n + 1 == early:
                    templates[mode] = Path(tempfile.mkdtemp(prefix=f"bench_lake_age_{mode}_day{early}_"))
                    shutil.copytree(roots[mode], templates[mode], dirs_exist_ok=True)
                if late - 10 <= n < late + 10 and mode in templates:
                    young[mode].append(young_day(templates[mode], schemas, START + timedelta(days=early), appends, count))
        if (n + 1) % 100 == 0:
            last = ", ".join(f"{m} {costs[m][-1] * 1000:.0f} ms" for m in modes)
            print(f"  day {n + 1}/{days}: {last}", flush=True)
    results = {}
    for mode in modes:
        out = {f"day{w}": statistics.median(costs[mode][max(0, w - 10) : w + 10]) for w in windows}
        out["young_at_late"] = statistics.median(young[mode]) if young[mode] else float("nan")
        out["upkeep_s_per_week"] = upkeep[mode] / max(1, days // MAINTAIN_EVERY_DAYS)
        out["total_s"] = sum(costs[mode]) + upkeep[mode]
        out["log_files"] = sum(1 for _ in (roots[mode] / "events" / "_delta_log").iterdir())
        out["events_files"] = pa.table(delta.open_table(str(roots[mode] / "events")).get_add_actions()).num_rows
        results[mode] = out
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=1095)
    ap.add_argument("--appends", type=int, default=8, help="appends per day into the events table")
    ap.add_argument(
        "--modes",
        default="log-count,maintained,maintained-fresh-opens,maintained-all-stats",
        help="also: scan-count (slow: a scan per count)",
    )
    ap.add_argument("--schema", choices=sorted(SCHEMAS), default="contract")
    args = ap.parse_args()
    early, late = 10, min(1000, args.days - 10)
    print(
        f"lake age: {args.days} synthetic days, {args.appends} appends/day, {args.schema} schemas; "
        "per-day cost = median of 20 days around"
    )
    modes = args.modes.split(",")
    for mode, r in age_lakes(modes, SCHEMAS[args.schema], args.days, args.appends, [early, late]).items():
        print(
            f"{mode:>20}: day {early} {r[f'day{early}'] * 1000:6.0f} ms, day {late} {r[f'day{late}'] * 1000:6.0f} ms, "
            f"ratio {r[f'day{late}'] / r[f'day{early}']:.2f}x; events files {r['events_files']}, "
            f"log files {r['log_files']}; upkeep {r['upkeep_s_per_week']:.2f} s/week; total {r['total_s']:.0f} s",
            flush=True,
        )
        print(
            f"{'':>20}  interleaved: day {late} {r[f'day{late}'] * 1000:6.0f} ms against day {early + 1} of a "
            f"{early}-day copy {r['young_at_late'] * 1000:6.0f} ms in the same minutes, "
            f"ratio {r[f'day{late}'] / r['young_at_late']:.2f}x",
            flush=True,
        )

if __name__ == "__main__":
    main()
