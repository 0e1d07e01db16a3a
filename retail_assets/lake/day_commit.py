"""Replace one day of a day-clustered table in one Delta commit (``lake.day_layout``).

Why not ``write_deltalake(mode="overwrite", predicate="event_date = 'D'")``: on a column that is not a
partition column, delta-rs reads every file its statistics cannot rule out before removing it — the
day's own files on every re-run, and a file deleted outside Delta then fails the very replace that
would heal it. Here the files holding only the day are removed unread, a compacted file that holds
other days too is copied without the day, and the day's new files are added: one transaction, so a
reader sees the old day or the new one, and a crash before the commit leaves the table as it was
(the new files are not in the log; vacuum removes them).

Two writers of the same day (two runs of one Silver partition) must not both add their rows, as a
partition overwrite's conflict check prevents. The commit carries a Delta application transaction
named after the day (``txn``, appId ``retail_assets:<day column>=<day>``): delta-rs refuses a commit
whose appId a concurrent commit also set, and the loser re-plans against the winner's files — the
last writer's rows are the day's. The table property ``delta.setTransactionRetentionDuration`` (one
day, ``lake.file_stats``) lets checkpoints drop the entries again, so they do not pile up a day each.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Sequence
from datetime import date
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from deltalake import CommitProperties, DeltaTable
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.transaction import AddAction, RemoveAction, Transaction, create_table_with_add_actions

from retail_assets.lake import day_layout, delta, file_stats
from retail_assets.lake.dated_file_writer import ROW_GROUP_ROWS, write_dated_file
from retail_assets.lake.lake_errors import LakeError
from retail_assets.lake.staging_fs import staging_target

COMMIT_ATTEMPTS = 20
"""delta-rs takes a commit that removes files as having read the whole table, so a concurrent replace
of *another* day that also removed files conflicts too; re-planning is cheap (the day's files are
written once), so a commit is tried more often than a partition overwrite is."""
ROWS_PER_FILE = 8 * ROW_GROUP_ROWS
"""A day larger than this is written as several files (readers and compaction take a file at a time)."""


def write_day_files(uri: str, data: pa.Table, schema: pa.Schema, day_col: str, day: date, tag: str) -> list[AddAction]:
    """``data`` (one day, in order) written as the table's files of that day, not yet committed."""
    target = staging_target(uri, delta.storage_options())
    stats_cols = file_stats.stats_columns(schema, [], day_col)
    added: list[AddAction] = []
    try:
        for n, start in enumerate(range(0, data.num_rows, ROWS_PER_FILE)):
            rel = f"part-{day.isoformat()}-{tag}-{n:03d}-{uuid.uuid4().hex}.parquet"
            action = write_dated_file(target, rel, schema, day_col, stats_cols, [data.slice(start, ROWS_PER_FILE)])
            if action is not None:
                added.append(action)
    except BaseException:
        for action in added:  # a full disk: give back what this write took (vacuum would, later)
            with contextlib.suppress(OSError, pa.ArrowException):
                target.filesystem.delete_file(target.path(action.path))
        raise
    return added


def commit_day(uri: str, schema: pa.Schema, day_col: str, day: date, added: Sequence[AddAction]) -> None:
    """Make ``added`` the day's files (creating the table, day-clustered, when it does not exist)."""
    part = f"{day_col}={day.isoformat()}"
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        table = delta.open_if_exists(uri)
        try:
            if table is None:
                create_table_with_add_actions(
                    uri, DeltaSchema.from_arrow(schema), list(added), mode="append",
                    configuration=file_stats.table_properties(schema, [], day_col),
                    commit_properties=_claim(day_col, day), storage_options=delta.storage_options(),
                )  # fmt: skip
                return
            if not day_layout.is_day_clustered(table, day_col):
                raise LakeError(f"refusing to commit {uri} ({part}) as a day-clustered table: it is partitioned by {day_col}.")
            replaced = _day_replaced(uri, table, schema, day_col, day)
            table.create_write_transaction(
                [*replaced, *added], mode="append", schema=schema, commit_properties=_claim(day_col, day)
            )
            table.update_incremental()  # a transaction leaves its table object at the version it read
            delta._wrote(uri, table)
            return
        except CommitFailedError as exc:
            if attempt == COMMIT_ATTEMPTS:
                raise LakeError(
                    f"committing {uri} ({part}) kept conflicting with concurrent commits ({exc}); nothing of "
                    "this day landed. Re-run the day when the other run writing it has finished."
                ) from exc
            time.sleep(random.uniform(0.01, 0.05) * min(attempt, 8))  # apart from the competing writer
        except DeltaError:  # another writer created the table between our look and our create: go again
            if table is not None or not delta.table_exists(uri) or attempt == COMMIT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _claim(day_col: str, day: date) -> CommitProperties:
    """The day's application transaction: concurrent commits of the same day conflict on it."""
    now = int(time.time() * 1000)
    return CommitProperties(app_transactions=[Transaction(f"retail_assets:{day_col}={day.isoformat()}", now, now)])


def _day_replaced(uri: str, table: DeltaTable, schema: pa.Schema, day_col: str, day: date) -> list[AddAction | RemoveAction]:
    """Removes of every live file holding the day, and for each that holds other days too an added
    copy without the day."""
    now = int(time.time() * 1000)
    holding = [f for f in day_layout.dated_files(table, day_col) if f.holds(day)]
    actions: list[AddAction | RemoveAction] = [RemoveAction(f.path, True, now, f.size, {}) for f in holding]
    several = [f for f in holding if not f.one_day]
    if several:
        dataset = delta.snapshot_dataset(table, uri)
        stats_cols = file_stats.stats_columns(schema, [], day_col)
        for f in several:
            kept = _without_day(uri, dataset, f, schema, day_col, day, stats_cols)
            if kept is not None:
                actions.append(kept)
    return actions


def _without_day(
    uri: str, dataset: pads.Dataset, file: day_layout.DatedFile, schema: pa.Schema, day_col: str, day: date,
    stats_cols: list[str],
) -> AddAction | None:
    """A copy of ``file`` without ``day``'s rows (None when it held no other day), in the file's order."""
    fragment = day_layout.fragments_by_path(dataset)[unquote(file.path)]
    rows = fragment.to_table(schema=fragment.physical_schema).select(schema.names).cast(schema)
    rows = rows.filter(pc.not_equal(rows.column(day_col), pa.scalar(day, rows.schema.field(day_col).type)))
    if rows.num_rows == 0:
        return None
    rel = f"part-without-{day.isoformat()}-{uuid.uuid4().hex}.parquet"
    return write_dated_file(staging_target(uri, delta.storage_options()), rel, schema, day_col, stats_cols, [rows])


__all__ = ["COMMIT_ATTEMPTS", "ROWS_PER_FILE", "commit_day", "write_day_files"]
