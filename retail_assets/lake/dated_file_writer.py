"""Write one Parquet file of a day-clustered table: a row group per day, with its Delta statistics.

Why one writer: three things write files of a day-clustered table outside ``write_deltalake`` — a
shard's rows of a day (``lake.staged``), a file rewritten without the day being replaced, and a
month's compaction (``lake.month_compaction``) — and all three must leave what
``lake.day_layout`` relies on: the rows in the order given, each day in row groups of its own (so a
multi-day file's footer counts its days), and the statistics every file of the table carries
(``numRecords``; min/max/null count of the day column; null count of the table's other statistics
column). The file is committed by the caller, in one transaction with whatever it replaces.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake.transaction import AddAction

from retail_assets.lake.day_layout import day_runs
from retail_assets.lake.staging_fs import StagingTarget

ROW_GROUP_ROWS = 1 << 20


class DatedFileWriter:
    """A file being written a day-run at a time; ``close`` gives its add action (None: no rows)."""

    def __init__(
        self, target: StagingTarget, rel: str, schema: pa.Schema, day_col: str, stats_cols: list[str], data_change: bool = True
    ) -> None:
        self.target, self.rel, self.schema, self.day_col = target, rel, schema, day_col
        self.null_cols = [c for c in stats_cols if c in schema.names]
        self.data_change = data_change
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0
        self.nulls = dict.fromkeys(self.null_cols, 0)
        self.first: date | None = None
        self.last: date | None = None
        self.pending: list[pa.Table] = []  # the current day's rows not yet written (under a row group)
        self.pending_day: object = None

    def write(self, rows: pa.Table) -> None:
        """Append ``rows`` (any days, in the order they are to be read) as row groups of one day each."""
        for run in day_runs(rows, self.day_col):
            day = run.column(self.day_col)[0].as_py()
            if self.pending and (day != self.pending_day or sum(t.num_rows for t in self.pending) >= ROW_GROUP_ROWS):
                self._flush()
            self.pending.append(run)
            self.pending_day = day

    def _flush(self) -> None:
        """Write the current day's gathered rows (row groups of at most ``ROW_GROUP_ROWS``)."""
        if not self.pending:
            return
        run = pa.concat_tables(self.pending).combine_chunks()
        self.pending = []
        if self.writer is None:
            self.target.prepare_directory(self.rel)
            self.writer = pq.ParquetWriter(
                self.target.path(self.rel), self.schema, filesystem=self.target.filesystem,
                compression="snappy", coerce_timestamps="us",
            )  # fmt: skip
        self.writer.write_table(run, row_group_size=ROW_GROUP_ROWS)
        self.rows += run.num_rows
        for column in self.null_cols:
            self.nulls[column] += run.column(column).null_count
        bounds = pc.min_max(run.column(self.day_col))
        if bounds["min"].is_valid:
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            self.first = low if self.first is None else min(self.first, low)
            self.last = high if self.last is None else max(self.last, high)

    def abort(self) -> None:
        """Close and delete a file whose writing failed (a full disk must not keep a half file open)."""
        self.pending = []
        if self.writer is None:
            return
        with contextlib.suppress(OSError, pa.ArrowException):
            self.writer.close()
        # not there, or the store refuses: vacuum removes a file the log never referenced
        with contextlib.suppress(OSError, pa.ArrowException):
            self.target.filesystem.delete_file(self.target.path(self.rel))
        self.writer = None

    def close(self) -> AddAction | None:
        self._flush()
        if self.writer is None:
            return None
        self.writer.close()
        stats: dict[str, object] = {"numRecords": self.rows, "nullCount": self.nulls}
        if self.first is not None and self.last is not None:
            stats["minValues"] = {self.day_col: self.first.isoformat()}
            stats["maxValues"] = {self.day_col: self.last.isoformat()}
        return AddAction(
            self.rel, self.target.size(self.rel), {}, int(time.time() * 1000), self.data_change, json.dumps(stats)
        )


def write_dated_file(
    target: StagingTarget,
    rel: str,
    schema: pa.Schema,
    day_col: str,
    stats_cols: list[str],
    parts: Iterable[pa.Table],
    data_change: bool = True,
) -> AddAction | None:
    """``parts`` written in order as one file (see :class:`DatedFileWriter`)."""
    writer = DatedFileWriter(target, rel, schema, day_col, stats_cols, data_change)
    try:
        for part in parts:
            writer.write(part)
        return writer.close()
    except BaseException:
        writer.abort()
        raise


__all__ = ["ROW_GROUP_ROWS", "DatedFileWriter", "write_dated_file"]
