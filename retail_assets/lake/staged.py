"""Many writers, one commit: the shards of a day write files, one Delta transaction adds them all.

Why: a day generated in shards (contract §8.5) must still land as **one atomic commit per
table-day** — a reader sees the whole day or the previous version, never some shards. Each shard
(in any process) writes its rows of a table as a Parquet file inside the table's partition
directory and reports it as a ``StagedFile``; the coordinator then replaces the partition with
exactly those files in one ``create_write_transaction``. A crash before that commit leaves the
table as it was (the staged files are not in the log; ``vacuum`` removes them later).

A day-clustered table (``lake.day_layout``; every dated table created since) has no partition to
replace: the commit removes the live files that hold the day (a one-day file) and, for a compacted
file that holds other days too, adds a copy of it without the day (``_without_day``), then adds the
shards' files — all one transaction. A table still partitioned by day gets the partition replace.

Files carry ``numRecords`` (``delta.partition_row_counts`` sums it), min/max of the day column when
the table is day-clustered, and the null count of the columns the table keeps statistics for
(``lake.file_stats``); the timestamp's min/max are left out, so engines do not skip these files by
that value. Files are written through pyarrow's
filesystem for the lake root (``lake.staging_fs``): local or Azure (a cluster's workers stage into the
shared lake); other stores are refused with the fix (one process per day, ``delta.replace_partition``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction, create_table_with_add_actions

from retail_assets.lake import day_commit, day_layout, delta, file_stats
from retail_assets.lake.dated_file_writer import write_dated_file
from retail_assets.lake.lake_errors import LakeError
from retail_assets.lake.staging_fs import StagingTarget, stages, staging_target


@dataclass(frozen=True)
class StagedFile:
    """One shard's rows of one table-day, written but not yet committed."""

    path: str  # relative to the table root, e.g. "part-2024-12-22-s003-….parquet"
    size: int
    rows: int
    partition_value: str  # the day the file holds
    stats: str  # Delta file statistics (JSON)
    in_partition: bool = False  # True: under "event_date=2024-12-22/" of a table partitioned by day


def _target(uri: str) -> StagingTarget:
    return staging_target(uri, delta.storage_options())


def check_stageable(uri: str) -> None:
    """Refuse, before a day is claimed, a lake root whose tables cannot take staged files."""
    _target(uri)


def stage_partition(
    uri: str, data: pa.Table, schema: pa.Schema, partition_col: str, partition_value: date, tag: str
) -> StagedFile | None:
    """Write ``data`` (all rows in ``partition_value``) as one Parquet file of the table; None when
    there are no rows (an empty shard adds no file)."""
    target = _target(uri)
    data = delta._conform(data, schema, uri)
    if data.num_rows == 0:
        return None
    col = data.column(partition_col)
    if not pc.all(pc.equal(col, pa.scalar(partition_value, col.type))).as_py():
        raise LakeError(f"refusing to stage {uri}: rows outside {partition_col}={partition_value}.")
    part = f"{partition_col}={partition_value.isoformat()}"
    existing = delta.open_if_exists(uri)
    in_partition = existing is not None and not day_layout.is_day_clustered(existing, partition_col)
    with delta._diagnosed(uri, "staging", part, data.nbytes):
        if not in_partition:
            stats_cols = file_stats.stats_columns(schema, [], partition_col)
            rel = f"part-{partition_value.isoformat()}-{tag}-{uuid.uuid4().hex}.parquet"
            added = write_dated_file(target, rel, schema, partition_col, stats_cols, [data.combine_chunks()])
            assert added is not None  # the rows are not empty
            return StagedFile(rel, added.size, data.num_rows, partition_value.isoformat(), added.stats)
        body = data.drop_columns([partition_col]).combine_chunks()  # the value lives in the path (Delta)
        rel = f"{part}/part-{tag}-{uuid.uuid4().hex}.parquet"
        target.prepare_directory(rel)
        pq.write_table(
            body, target.path(rel), filesystem=target.filesystem, compression="snappy", coerce_timestamps="us",
            row_group_size=1 << 20,
        )  # fmt: skip
        size = target.size(rel)
    stats: dict[str, object] = {"numRecords": body.num_rows}
    column = file_stats.stats_column(data.schema, [partition_col])
    if column is not None:  # the one column the table keeps statistics for (lake.file_stats)
        stats["nullCount"] = {column: body.column(column).null_count}
    return StagedFile(rel, size, body.num_rows, partition_value.isoformat(), json.dumps(stats), in_partition=True)


def commit_partition(
    uri: str, schema: pa.Schema, partition_col: str, partition_value: date, files: Sequence[StagedFile]
) -> int:
    """Replace the day with exactly ``files`` in one Delta commit; returns the rows committed.

    Files are added in the order given (the caller sorts them by shard), so the day's rows read back
    in shard order whatever order the shards finished in.
    """
    wrong = [f.path for f in files if f.partition_value != partition_value.isoformat()]
    if wrong:
        raise LakeError(f"refusing to commit {uri}: files {wrong[:3]} are not in {partition_col}={partition_value}.")
    part = f"{partition_col}={partition_value.isoformat()}"
    now = int(time.time() * 1000)
    actions = [
        AddAction(f.path, f.size, {partition_col: f.partition_value} if f.in_partition else {}, now, True, f.stats)
        for f in files
    ]
    in_partition = {f.in_partition for f in files}
    with delta._diagnosed(uri, "committing", part):
        existing = delta.open_if_exists(uri)
        if existing is None or day_layout.is_day_clustered(existing, partition_col):
            if True in in_partition:  # staged for a table partitioned by day that is gone or was re-created
                raise LakeError(
                    f"refusing to commit {uri} ({part}): its files were staged for a table partitioned by day, "
                    "which is no longer; re-run the day."
                )
            day_commit.commit_day(uri, schema, partition_col, partition_value, actions)
            return sum(f.rows for f in files)
        if False in in_partition:
            raise LakeError(
                f"refusing to commit {uri} ({part}): its files were staged for a day-clustered table, and the "
                "table is partitioned by day (it was re-created meanwhile); re-run the day."
            )
        for attempt in range(1, delta.CONFLICT_ATTEMPTS + 1):
            try:
                DeltaTable(uri, storage_options=delta.storage_options()).create_write_transaction(
                    actions,
                    mode="overwrite",
                    schema=schema,
                    partition_by=[partition_col],
                    partition_filters=[(partition_col, "=", partition_value.isoformat())],
                )
                break
            except CommitFailedError as exc:
                if attempt == delta.CONFLICT_ATTEMPTS:
                    raise LakeError(
                        f"committing {uri} ({part}) kept conflicting with concurrent commits ({exc}); nothing "
                        "of this day landed. Re-run the partition when the other run has finished."
                    ) from exc
                time.sleep(0.05 * attempt)
    return sum(f.rows for f in files)


class _FileInProgress:
    """One Parquet file of an unpartitioned table being written a batch (row group) at a time, with
    the Delta statistics of what it holds so far: its rows, and min/max/nulls of its first column
    (the table's key, e.g. ``customer_id``: each file holds one range of it)."""

    def __init__(self, target: StagingTarget, rel: str, schema: pa.Schema) -> None:
        self.target, self.rel, self.key = target, rel, schema.names[0]
        self.integer_key = pa.types.is_integer(schema.field(self.key).type)
        target.prepare_directory(rel)
        self.writer = pq.ParquetWriter(
            target.path(rel), schema, filesystem=target.filesystem, compression="snappy", coerce_timestamps="us"
        )
        self.rows = self.batches = self.nulls = 0
        self.low: object = None
        self.high: object = None

    def write(self, batch: pa.Table) -> None:
        self.writer.write_table(batch, row_group_size=max(1, batch.num_rows))
        self.rows += batch.num_rows
        self.batches += 1
        column = batch.column(self.key)
        self.nulls += column.null_count
        bounds = pc.min_max(column)
        if self.integer_key and bounds["min"].is_valid:
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            self.low = low if self.low is None else min(self.low, low)
            self.high = high if self.high is None else max(self.high, high)

    def close(self, now_ms: int) -> AddAction:
        self.writer.close()
        stats: dict[str, object] = {"numRecords": self.rows, "nullCount": {self.key: self.nulls}}
        if self.low is not None:
            stats["minValues"], stats["maxValues"] = {self.key: self.low}, {self.key: self.high}
        return AddAction(self.rel, self.target.size(self.rel), {}, now_ms, True, json.dumps(stats))


def replace_table_from_batches(
    uri: str,
    schema: pa.Schema,
    batches: Iterable[pa.Table],
    commit_metadata: dict[str, str] | None = None,
    batches_per_file: int = 4,
) -> int:
    """Replace a whole unpartitioned table with ``batches`` (in order) in one Delta commit, holding one
    batch at a time; returns the rows committed.

    Why: ``delta.replace_table`` takes the table whole, and ``dim_customers`` at sf 100 is 40 million
    rows (≈ 10 GiB built). Handing delta-rs a stream instead would not keep the rows' order (it may
    encode batches concurrently, see ``delta._in_row_order``), so the files are written here, each
    batch a row group as it comes and ``batches_per_file`` to a file, and committed in order: the
    table reads back in the batches' order. A crash before the commit leaves the table as it was
    (the files are not in the log; ``vacuum`` removes them). On a store that takes no staged files
    (S3, GCS: ``lake.staging_fs``) the batches are gathered and written through ``delta.replace_table``,
    in memory as before.
    """
    if not stages(uri):
        return _replace_gathered(uri, schema, batches, commit_metadata)
    target = _target(uri)
    delta._ensure_writable(uri)
    run = uuid.uuid4().hex
    now = int(time.time() * 1000)
    actions: list[AddAction] = []
    current: _FileInProgress | None = None
    rows = 0
    with delta._diagnosed(uri, "staging"):
        for batch in batches:
            batch = delta._conform(batch, schema, uri)
            if batch.num_rows == 0:
                continue
            if current is None:
                current = _FileInProgress(target, f"part-{len(actions):05d}-{run}.parquet", schema)
            current.write(batch)
            rows += batch.num_rows
            if current.batches >= max(1, batches_per_file):
                actions.append(current.close(now))
                current = None
        if current is not None:
            actions.append(current.close(now))
    props = CommitProperties(custom_metadata=commit_metadata) if commit_metadata else None
    with delta._diagnosed(uri, "committing"):
        if not delta.table_exists(uri):
            create_table_with_add_actions(
                uri, DeltaSchema.from_arrow(schema), actions, mode="append", commit_properties=props,
                storage_options=delta.storage_options(),
            )  # fmt: skip
        else:
            DeltaTable(uri, storage_options=delta.storage_options()).create_write_transaction(
                actions, mode="overwrite", schema=schema, commit_properties=props
            )
    return rows


def _replace_gathered(
    uri: str, schema: pa.Schema, batches: Iterable[pa.Table], commit_metadata: dict[str, str] | None
) -> int:
    tables = [delta._conform(b, schema, uri) for b in batches]
    data = pa.concat_tables(tables) if tables else schema.empty_table()
    delta.replace_table(uri, data, schema, commit_metadata)
    return data.num_rows


__all__ = ["StagedFile", "check_stageable", "commit_partition", "replace_table_from_batches", "stage_partition"]
