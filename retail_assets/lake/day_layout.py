"""The day-clustered layout: a dated table is one unpartitioned Delta table whose files each hold days.

Why (contract §2, issue 9): delta-rs (1.6) rebuilds a table's whole list of live files after every
commit. Partitioned by day, a table gains a live file a day for ever, and at day 1,000 each commit of
a day's 21 tables paid 3–5 ms more than at day 10 (≈ 70 ms a day at sf 0.1, 1.3–1.5× the young
lake). A day-clustered table keeps the day as a data column instead: a day is written as files that
hold only that day, and maintenance merges a closed month's files into one file per ~target size with
**one row group per day** (``lake.month_compaction``). An aged table then holds about a file a month
plus the open month's days, so its commits cost what a young table's do.

What stays the same for readers: the day column, its values and the rows. A reader filtering on the
day column skips files by their statistics (every file carries min/max of the day column) instead of
by partition directory: pyarrow datasets, DuckDB, Spark and delta-rs all do.

What this module answers, for the other lake modules:

* which layout a table has (tables created before this layout stay partitioned by day and keep
  working: ``partition_by`` tells their writers so);
* which live files hold a given day (a day's replace removes or rewrites exactly those);
* how many rows each day has, from the log's ``numRecords`` for a one-day file and from the Parquet
  footer's row groups for a multi-day file (a day per row group), reading data only for a row group
  that holds several days (a file written before the layout's rule, or by another engine).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from deltalake import DeltaTable

from retail_assets.lake import file_stats


@dataclass(frozen=True)
class DatedFile:
    """One live file of a day-clustered table, as its add action describes it."""

    path: str  # relative to the table root, as in the log (URL-encoded)
    size: int
    rows: int | None  # numRecords (None: written without statistics)
    first_day: date | None  # min of the day column (None: no statistics)
    last_day: date | None
    committed_ms: int = 0  # the add action's modificationTime: the order the files were added in

    @property
    def one_day(self) -> bool:
        return self.first_day is not None and self.first_day == self.last_day

    def holds(self, day: date) -> bool:
        """Whether the file may hold rows of ``day`` (always, when it has no statistics)."""
        if self.first_day is None or self.last_day is None:
            return True
        return self.first_day <= day <= self.last_day


def partition_by(table: DeltaTable | None, day_col: str) -> list[str] | None:
    """The ``partition_by`` a write must pass: the existing table's own partitioning (a table created
    before the day-clustered layout is partitioned by ``day_col``), none for a new table."""
    if table is None:
        return None
    columns = list(table.metadata().partition_columns)
    return columns or None


def day_column_of(table: DeltaTable) -> str | None:
    """The day column of a day-clustered table, from its Delta metadata alone (``file_stats.day_column``);
    None for any other table."""
    metadata = table.metadata()
    return file_stats.day_column(pa.schema(table.schema().to_arrow()), metadata.partition_columns, metadata.configuration)


def is_day_clustered(table: DeltaTable, day_col: str) -> bool:
    return day_col not in table.metadata().partition_columns


def dated_files(table: DeltaTable, day_col: str) -> list[DatedFile]:
    """The live files of the table's current snapshot, with the days each one spans."""
    return files_of(pa.table(table.get_add_actions(flatten=True)), day_col)


def files_of(actions: pa.Table, day_col: str) -> list[DatedFile]:
    """``dated_files`` from a snapshot's flattened add actions (already read by the caller)."""
    low, high = f"min.{day_col}", f"max.{day_col}"
    names = actions.column_names
    paths = actions.column("path").to_pylist()
    sizes = actions.column("size_bytes").to_pylist()
    rows = actions.column("num_records").to_pylist() if "num_records" in names else [None] * len(paths)
    firsts = actions.column(low).to_pylist() if low in names else [None] * len(paths)
    lasts = actions.column(high).to_pylist() if high in names else [None] * len(paths)
    times = [_as_ms(t) for t in actions.column("modification_time").to_pylist()]
    return [
        DatedFile(p, int(s), None if r is None else int(r), _as_date(f), _as_date(la), t)
        for p, s, r, f, la, t in zip(paths, sizes, rows, firsts, lasts, times, strict=True)
    ]


def _as_ms(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    return int(value.timestamp() * 1000)  # a datetime


def _as_date(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value if type(value) is date else value.date()  # a datetime from a timestamp column
    return date.fromisoformat(str(value)[:10])


def day_counts(
    dataset: Callable[[], pads.Dataset], files: Sequence[DatedFile], day_col: str, day: date | None = None
) -> dict[date, int]:
    """Rows per day (only ``day``'s when given) of ``files``, days without rows left out.

    One-day files answer from the log; the others from their Parquet footers, a row group at a time
    (``dataset`` makes the snapshot's pyarrow dataset, whose fragments are the files: only when a
    footer is needed, since building it costs a little per live file).
    """
    counts: dict[date, int] = {}
    footers: list[DatedFile] = []
    for f in files:
        if day is not None and not f.holds(day):
            continue
        if f.one_day and f.rows is not None:
            assert f.first_day is not None
            counts[f.first_day] = counts.get(f.first_day, 0) + f.rows
        else:
            footers.append(f)
    if footers:
        for d, n in _footer_counts(dataset(), footers, day_col, day):
            counts[d] = counts.get(d, 0) + n
    return {d: n for d, n in counts.items() if n and (day is None or d == day)}


def _footer_counts(
    dataset: pads.Dataset, files: Sequence[DatedFile], day_col: str, day: date | None
) -> Iterator[tuple[date, int]]:
    fragments = fragments_by_path(dataset)
    for f in files:
        fragment = fragments[unquote(f.path)]
        for group_id, rows, low, high in row_group_days(fragment, day_col):
            if low is not None and low == high:
                if day is None or low == day:
                    yield low, rows
                continue
            if day is not None and low is not None and high is not None and not low <= day <= high:
                continue
            column = fragment.subset(row_group_ids=[group_id]).to_table(columns=[day_col]).column(day_col)
            for item in pc.value_counts(column).to_pylist():
                if item["values"] is not None:
                    yield item["values"], item["counts"]


def fragments_by_path(dataset: pads.Dataset) -> dict[str, pads.ParquetFileFragment]:
    """A snapshot dataset's fragments by the file's path as the log names it, unquoted (fragments of a
    table are rooted at it)."""
    return {fragment.path.lstrip("/"): fragment for fragment in dataset.get_fragments()}


def row_group_days(fragment: pads.ParquetFileFragment, day_col: str) -> list[tuple[int, int, date | None, date | None]]:
    """(id, rows, first day, last day) of each row group of a file, from its footer (days None: no
    statistics)."""
    fragment.ensure_complete_metadata()
    bounds = []
    for group in fragment.row_groups:
        stats = (group.statistics or {}).get(day_col) or {}
        bounds.append((group.id, group.num_rows, _as_date(stats.get("min")), _as_date(stats.get("max"))))
    return bounds


def day_runs(batch: pa.Table, day_col: str) -> Iterator[pa.Table]:
    """``batch`` cut into its runs of one day, in order (a day per row group when each run is written
    as its own row group)."""
    if batch.num_rows == 0:
        return
    days = batch.column(day_col).combine_chunks()
    if days.null_count:
        yield batch  # not a dated row: left as it is (the contract forbids it; nothing to cut on)
        return
    values = days.cast(pa.int32()).to_numpy(zero_copy_only=False)
    cuts = [0, *(np.flatnonzero(values[1:] != values[:-1]) + 1).tolist(), len(values)]
    for start, end in itertools.pairwise(cuts):
        yield batch.slice(start, end - start)


__all__ = [
    "DatedFile", "dated_files", "day_column_of", "day_counts", "day_runs", "files_of", "fragments_by_path",
    "is_day_clustered", "partition_by", "row_group_days",
]  # fmt: skip
