"""Which columns a dated table keeps per-file statistics for: its day column and its first timestamp.

Why: delta-rs (1.6) rebuilds a table's list of live files, with every file's statistics parsed from
the log, on each open and each commit. With daily partitions a table gains a live file a day for
ever, and by default every file carries min/max/null counts of every column (a 20-column fact
table: ~70 values a file), so that parse grew to most of what an aged table's commit cost (measured
at 1,000 live files of a 22-column table: open 27 ms with all columns' statistics, 8 ms with one).
Our readers never skip files by column value: Bronze and Silver are read by ``event_date``
partition, and row counts come from ``numRecords``, which Delta keeps whatever the property says.
The first timestamp column (``event_ts`` of a fact or Silver table, ``ingest_timestamp`` of an
event table) is the one other engines would filter a time range on, so its statistics stay.

Set when a table is created (``lake.delta``'s writes pass it as ``write_deltalake``'s
``configuration``, which delta-rs ignores for an existing table; ``lake.staged``'s first commit of a
sharded day) and by maintenance on tables created before (``lake.maintenance``): from then on new
files carry the narrow statistics, and delta-rs already parses only the listed columns of older files.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

STATS_COLUMNS_PROPERTY = "delta.dataSkippingStatsColumns"
NO_INDEXED_COLUMNS_PROPERTY = "delta.dataSkippingNumIndexedCols"
TXN_RETENTION_PROPERTY = "delta.setTransactionRetentionDuration"
TXN_RETENTION = "interval 86400 seconds"


def stats_column(schema: pa.Schema, partition_cols: Sequence[str]) -> str | None:
    """The column whose per-file statistics a partitioned table keeps (None: numRecords only)."""
    for field in schema:
        if field.name not in partition_cols and pa.types.is_timestamp(field.type):
            return field.name
    return None


def stats_columns(schema: pa.Schema, partition_cols: Sequence[str], day_col: str | None) -> list[str]:
    """Every column whose per-file statistics the table keeps, the day column first."""
    clustered = day_col is not None and day_col not in partition_cols
    column = stats_column(schema, [*partition_cols, *([day_col] if clustered else [])])
    return [c for c in ((day_col if clustered else None), column) if c is not None]


def table_properties(schema: pa.Schema, partition_cols: Sequence[str], day_col: str | None = None) -> dict[str, str]:
    """The statistics properties of a table: none for an undated one (a dimension is replaced whole,
    a few files that never accumulate). A day-clustered table's list starts with its day column, which
    is how its layout is told from its Delta metadata (:func:`day_column`)."""
    clustered = day_col is not None and day_col not in partition_cols
    if not partition_cols and not clustered:
        return {}
    columns = stats_columns(schema, partition_cols, day_col)
    # a day's commit leaves an application transaction (``lake.day_commit``); kept a day, not a day per day for ever
    layout = {TXN_RETENTION_PROPERTY: TXN_RETENTION} if clustered else {}
    if not columns:
        return {NO_INDEXED_COLUMNS_PROPERTY: "0"} | layout
    return {STATS_COLUMNS_PROPERTY: ",".join(columns)} | layout


def day_column(schema: pa.Schema, partition_cols: Sequence[str], configuration: dict[str, str]) -> str | None:
    """The day column of a day-clustered table, from its Delta metadata alone: an unpartitioned table
    whose statistics columns start with a DATE column (contract §2); None for any other table."""
    if partition_cols:
        return None
    first = (configuration.get(STATS_COLUMNS_PROPERTY) or "").split(",")[0].strip()
    if first and first in schema.names and pa.types.is_date32(schema.field(first).type):
        return first
    return None
