"""Compaction of a day-clustered table: a month's small files merged, one row group per day.

Why not delta-rs's ``optimize.compact``: it bins any small files of a partition together, and a
day-clustered table has no partitions — it would merge days of different months in any order, and
the files would no longer say which days they hold. Here only files of one month are merged, read day
by day (a day's row groups in the order its files were added — their ``modificationTime``, then
their names, which number a sharded day's shards — so each day reads back in the order it landed), written as row groups of one day each (``lake.dated_file_writer``), and committed as one
transaction that removes the merged files and adds the new ones, both marked ``dataChange=false`` as
delta-rs's own compaction marks them. A concurrent commit that removed one of the merged files
(a re-run of one of the days) makes this commit fail with a conflict; nothing is lost either way.

The open month is merged too (the next run merges its new days into that file again): appends that
land meanwhile add files of their own and do not conflict with the merge; a replace of a merged day
does, and maintenance runs again (``defs.maintenance``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from deltalake import CommitProperties, DeltaTable
from deltalake.transaction import AddAction, RemoveAction

from retail_assets.lake import day_layout, delta, file_stats
from retail_assets.lake.dated_file_writer import DatedFileWriter
from retail_assets.lake.staging_fs import stages, staging_target

COMMIT_ID_KEY = "lake_maintenance_id"


@dataclass(frozen=True)
class MonthCompaction:
    """What one compaction of a table did (``version``: its commit, None when nothing was merged)."""

    files_removed: int
    files_added: int
    version: int | None


def compact_months(uri: str, table: DeltaTable, day_col: str, target_bytes: int, small_bytes: int) -> MonthCompaction:
    """Merge each month's files under ``small_bytes`` into files of at most ``target_bytes``
    (``MaintenancePolicy.small_file_bytes`` says why only those)."""
    if not stages(uri):  # an object store pyarrow cannot write to here (S3, GCS): files stay as they are
        return MonthCompaction(0, 0, None)
    small = [f for f in day_layout.dated_files(table, day_col) if f.size < small_bytes]
    bins = _bins(small, target_bytes)
    if not bins:
        return MonthCompaction(0, 0, None)
    schema = pa.schema(table.schema().to_arrow())
    stats_cols = file_stats.stats_columns(schema, [], day_col)
    dataset = delta.snapshot_dataset(table, uri)
    fragments = day_layout.fragments_by_path(dataset)
    target = staging_target(uri, delta.storage_options())
    now = int(time.time() * 1000)
    actions: list[AddAction | RemoveAction] = []
    added = 0
    for merged in bins:
        month = merged[0].first_day
        assert month is not None
        rel = f"part-{month:%Y-%m}-compacted-{uuid.uuid4().hex}.parquet"
        writer = DatedFileWriter(target, rel, schema, day_col, stats_cols, data_change=False)
        try:
            for rows in _day_ordered(merged, fragments, schema, day_col):
                writer.write(rows)
            action = writer.close()
        except BaseException:
            writer.abort()
            raise
        if action is not None:
            actions.append(action)
            added += 1
        actions.extend(RemoveAction(f.path, False, now, f.size, {}) for f in merged)
    commit_id = uuid.uuid4().hex
    read_version = table.version()
    table.create_write_transaction(
        actions,
        mode="append",
        schema=schema,
        commit_properties=CommitProperties(custom_metadata={delta.MAINTENANCE_COMMIT_KEY: "compaction", COMMIT_ID_KEY: commit_id}),
    )
    table.update_incremental()
    return MonthCompaction(sum(len(b) for b in bins), added, _version_of(table, read_version, commit_id))


def _bins(files: Sequence[day_layout.DatedFile], target_bytes: int) -> list[list[day_layout.DatedFile]]:
    """Runs of one month's files (in day order) of at most ``target_bytes`` together, two files or more."""
    dated = [f for f in files if f.first_day is not None and f.last_day is not None]
    months: dict[date, list[day_layout.DatedFile]] = {}
    for f in dated:
        assert f.first_day is not None and f.last_day is not None
        if (f.first_day.year, f.first_day.month) != (f.last_day.year, f.last_day.month):
            continue  # not written by this layout's rules: left as it is
        months.setdefault(f.first_day.replace(day=1), []).append(f)
    bins: list[list[day_layout.DatedFile]] = []
    for month in sorted(months):
        current: list[day_layout.DatedFile] = []
        size = 0
        for f in sorted(months[month], key=lambda f: (f.first_day, f.committed_ms, f.path)):
            if current and size + f.size > target_bytes:
                bins.append(current)
                current, size = [], 0
            current.append(f)
            size += f.size
        bins.append(current)
    return [b for b in bins if len(b) >= 2]


def _day_ordered(
    files: Sequence[day_layout.DatedFile], fragments: dict[str, pads.ParquetFileFragment], schema: pa.Schema, day_col: str
) -> Iterator[pa.Table]:
    """The rows of ``files``, a day at a time in day order; within a day, file by file as given and
    row group by row group (a row group of several days is read once per day it holds)."""
    groups: list[tuple[pads.ParquetFileFragment, int, date | None, date | None]] = []
    for f in files:
        fragment = fragments[unquote(f.path)]
        groups.extend((fragment, gid, low, high) for gid, _, low, high in day_layout.row_group_days(fragment, day_col))
    days = sorted({d for f in files for d in _days(f)})
    for day in days:
        for fragment, group_id, low, high in groups:
            if low is not None and high is not None and not low <= day <= high:
                continue
            rows = fragment.subset(row_group_ids=[group_id]).to_table(schema=fragment.physical_schema)
            rows = rows.select(schema.names).cast(schema)
            if low != high or low is None:
                rows = rows.filter(pc.equal(rows.column(day_col), pa.scalar(day, rows.schema.field(day_col).type)))
            if rows.num_rows:
                yield rows


def _days(f: day_layout.DatedFile) -> Iterator[date]:
    assert f.first_day is not None and f.last_day is not None
    day = f.first_day
    while day <= f.last_day:
        yield day
        day = date.fromordinal(day.toordinal() + 1)


def _version_of(table: DeltaTable, read_version: int, commit_id: str) -> int | None:
    """The version our compaction committed (others may have committed around it)."""
    newer = table.version() - read_version
    for commit in table.history(max(newer, 1)):
        if commit.get(COMMIT_ID_KEY) == commit_id:
            return int(commit["version"])
    return None


__all__ = ["COMMIT_ID_KEY", "MonthCompaction", "compact_months"]
