"""Many writers, one commit: the shards of a day write files, one Delta transaction adds them all.

Why: a day generated in shards (contract §8.5) must still land as **one atomic commit per
table-day** — a reader sees the whole day or the previous version, never some shards. Each shard
(in any process) writes its rows of a table as a Parquet file inside the table's partition
directory and reports it as a ``StagedFile``; the coordinator then replaces the partition with
exactly those files in one ``create_write_transaction``. A crash before that commit leaves the
table as it was (the staged files are not in the log; ``vacuum`` removes them later).

Files carry ``numRecords`` (``delta.partition_row_counts`` sums it) and the null count of the one
column the table keeps statistics for (``lake.file_stats``); min/max are left out, so engines do not
skip these files by value — they are read by partition anyway. Local lake roots only: on object
storage the sharded path is refused with the fix (write through ``delta.replace_partition``, one
process).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction, create_table_with_add_actions

from retail_assets.lake import delta, file_stats
from retail_assets.lake.lake_errors import LakeError


@dataclass(frozen=True)
class StagedFile:
    """One shard's rows of one table-day, written but not yet committed."""

    path: str  # relative to the table root, e.g. "event_date=2024-12-22/part-s003-….parquet"
    size: int
    rows: int
    partition_value: str
    stats: str  # Delta file statistics (JSON)


def _local_root(uri: str) -> Path:
    if not delta.is_local(uri):
        raise LakeError(
            f"sharded writes stage files on the local filesystem and {uri} is not local; generate this "
            "lake with shards=1 (one process, delta.replace_partition) or use a local lake root."
        )
    return Path(uri.removeprefix("file://"))


def stage_partition(
    uri: str, data: pa.Table, schema: pa.Schema, partition_col: str, partition_value: date, tag: str
) -> StagedFile | None:
    """Write ``data`` (all rows in ``partition_value``) as one Parquet file under the partition
    directory; None when there are no rows (an empty shard adds no file)."""
    root = _local_root(uri)
    data = delta._conform(data, schema, uri)
    if data.num_rows == 0:
        return None
    col = data.column(partition_col)
    if not pc.all(pc.equal(col, pa.scalar(partition_value, col.type))).as_py():
        raise LakeError(f"refusing to stage {uri}: rows outside {partition_col}={partition_value}.")
    body = data.drop_columns([partition_col]).combine_chunks()  # the value lives in the path (Delta)
    part = f"{partition_col}={partition_value.isoformat()}"
    rel = f"{part}/part-{tag}-{uuid.uuid4().hex}.parquet"
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    with delta._diagnosed(uri, "staging", part, data.nbytes):
        pq.write_table(body, target, compression="snappy", coerce_timestamps="us", row_group_size=1 << 20)
    stats: dict[str, object] = {"numRecords": body.num_rows}
    column = file_stats.stats_column(data.schema, [partition_col])
    if column is not None:  # the one column the table keeps statistics for (lake.file_stats)
        stats["nullCount"] = {column: body.column(column).null_count}
    return StagedFile(rel, os.path.getsize(target), body.num_rows, partition_value.isoformat(), json.dumps(stats))


def commit_partition(
    uri: str, schema: pa.Schema, partition_col: str, partition_value: date, files: Sequence[StagedFile]
) -> int:
    """Replace the partition with exactly ``files`` in one Delta commit; returns the rows committed.

    Files are added in the order given (the caller sorts them by shard), so the partition's rows
    read back in shard order whatever order the shards finished in.
    """
    _local_root(uri)
    now = int(time.time() * 1000)
    actions = [
        AddAction(f.path, f.size, {partition_col: f.partition_value}, now, True, f.stats) for f in files
    ]
    wrong = [f.path for f in files if f.partition_value != partition_value.isoformat()]
    if wrong:
        raise LakeError(f"refusing to commit {uri}: files {wrong[:3]} are not in {partition_col}={partition_value}.")
    part = f"{partition_col}={partition_value.isoformat()}"
    with delta._diagnosed(uri, "committing", part):
        if not delta.table_exists(uri):
            create_table_with_add_actions(
                uri,
                DeltaSchema.from_arrow(schema),
                actions,
                mode="append",
                partition_by=[partition_col],
                configuration=file_stats.table_properties(schema, [partition_col]),
            )
            return sum(f.rows for f in files)
        for attempt in range(1, delta.CONFLICT_ATTEMPTS + 1):
            try:
                DeltaTable(uri).create_write_transaction(
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


__all__ = ["StagedFile", "commit_partition", "stage_partition"]
