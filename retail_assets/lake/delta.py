"""Delta Lake I/O through ``deltalake`` (delta-rs): the only place that touches table files.

Why one module: every write in the project is one of three idempotent shapes — replace one
partition (facts, state, manifest, Silver), replace a whole table (dimensions), or append
(event landing, rejects) — and every read goes through the Delta log, never through globbing
parquet files (stale files from overwrites stay on disk). Table locations are URIs, so the lake
root may be a local path or ``abfss://`` / ``s3://`` with storage options from the environment.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from retail_assets.lake import day_layout, file_stats, lake_errors, staging_fs, table_handles
from retail_assets.lake.lake_errors import LakeError, MissingTableError

CONFLICT_ATTEMPTS = 5
__all__ = ["LakeError", "MissingTableError"]  # defined in lake_errors with the diagnoses; re-exported here


@contextmanager
def _diagnosed(uri: str, action: str, partition: str | None = None, needed_bytes: int | None = None) -> Iterator[None]:
    """Turn delta-rs / filesystem failures into a ``LakeError`` naming the table, the partition,
    what was kept and the fix (``lake_errors.diagnose``); our own ``LakeError`` passes through."""
    try:
        yield
    except LakeError:
        raise
    except (DeltaError, OSError) as exc:
        raise lake_errors.diagnose(exc, lake_errors.Failure(uri, action, partition, needed_bytes)) from exc


def _partition(col: str, value: date | None) -> str | None:
    return f"{col}={value.isoformat()}" if value is not None else None


def storage_options() -> dict[str, str] | None:
    """deltalake storage options from ``RETAIL_ASSETS_STORAGE_OPTION_<KEY>`` variables (cloud roots)."""
    prefix = "RETAIL_ASSETS_STORAGE_OPTION_"
    opts = {k[len(prefix) :].lower(): v for k, v in os.environ.items() if k.startswith(prefix)}
    return opts or None


def table_uri(root: str, schema: str, table: str) -> str:
    """``{root}/{schema}/{table}`` (contract §2)."""
    return f"{str(root).rstrip('/')}/{schema}/{table}"


def is_local(uri: str) -> bool:
    """A path on this machine (plain or ``file://``), as opposed to an object-store URI."""
    return "://" not in uri or uri.startswith("file://")



def table_exists(uri: str) -> bool:
    if is_local(uri):
        return (Path(uri.removeprefix("file://")) / "_delta_log").is_dir()
    return open_if_exists(uri) is not None


def open_if_exists(uri: str) -> DeltaTable | None:
    """The opened table, or None when it does not exist.

    Why: on object storage, "does it exist?" is answered by opening the table (listing and reading
    its log over HTTP, ~20 ms on Azurite). Readers that go on to read it use this one open instead
    of ``table_exists`` + ``open_table`` (two). Locally the existence check is a directory test.
    """
    if not is_local(uri):
        opened = _open_unchecked
    elif table_exists(uri):
        opened = lambda u: table_handles.current(u, _open_unchecked)  # noqa: E731
    else:
        return None
    try:
        return opened(uri)
    except TableNotFoundError:
        return None


def _open_unchecked(uri: str) -> DeltaTable:
    return DeltaTable(uri, storage_options=storage_options())


def _write_target(uri: str) -> DeltaTable | str:
    """What ``write_deltalake`` writes through: the existing table opened (locally this thread's
    up-to-date handle, ``lake.table_handles``: no re-open of an aged table per commit; its layout
    decides the write's ``partition_by``, ``lake.day_layout``), else the URI of a table to create."""
    handle = open_if_exists(uri)
    return uri if handle is None else handle


def _layout(target: DeltaTable | str, data: pa.Table, day_col: str | None) -> tuple[list[str] | None, dict[str, str] | None]:
    """``partition_by`` and ``configuration`` of a write of ``data`` through ``target``: an existing
    table keeps its own partitioning (a table partitioned by day before the day-clustered layout stays
    so); a new dated table is created day-clustered, with its statistics and layout properties."""
    if isinstance(target, DeltaTable):
        partition_by = day_layout.partition_by(target, day_col) if day_col else None
    else:
        partition_by = None
    return partition_by, file_stats.table_properties(data.schema, partition_by or [], day_col) or None


def _wrote(uri: str, target: DeltaTable | str) -> None:
    """Keep the handle a write went through, at the version it wrote."""
    if isinstance(target, DeltaTable):
        table_handles.remember(uri, target)


def open_table(uri: str) -> DeltaTable:
    with _diagnosed(uri, "reading"):
        return _open(uri)


def _open(uri: str) -> DeltaTable:
    """``open_table`` without the diagnosis, for callers that diagnose with the partition they read."""
    try:
        return DeltaTable(uri, storage_options=storage_options())
    except TableNotFoundError:
        raise MissingTableError(
            f"Delta table {uri} does not exist yet; materialize the asset that writes it first."
        ) from None


def _conform(data: pa.Table, schema: pa.Schema, uri: str) -> pa.Table:
    """Cast to the declared schema (same names and order); refuse drift with a clear message."""
    if data.schema.names != schema.names:
        missing = [n for n in schema.names if n not in data.schema.names]
        extra = [n for n in data.schema.names if n not in schema.names]
        raise LakeError(
            f"refusing to write {uri}: columns differ from the contract "
            f"(missing {missing}, unexpected {extra}, order {data.schema.names})."
        )
    if data.schema.equals(schema):
        return data
    try:
        return data.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise LakeError(f"refusing to write {uri}: types differ from the contract: {exc}") from None


def _in_row_order(data: pa.Table) -> pa.Table:
    """One record batch per write: delta-rs may encode several input batches concurrently and
    write them in any order, so a table of two chunks (e.g. the carried state's DC rows, then its
    store rows) came back in a different row order from run to run. Determinism is a feature (same
    seed + same day → the same rows in the same order), so a partition's rows are written as one batch."""
    if any(col.num_chunks > 1 for col in data.columns):
        return data.combine_chunks()
    return data


def check_writable(uri: str) -> None:
    """Refuse early, before any commit, when a local table location cannot be written.

    Runs as a pre-flight over every table a step will write, so that an unwritable lake fails the
    step with every table as it was instead of after half of a day's tables were replaced. (Root
    ignores permission bits, so a path blocked by a *file* is the case that matters in tests.)
    """
    if not is_local(uri):
        _check_reachable(uri)
        return
    path = Path(uri.removeprefix("file://"))
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise LakeError(
            f"the lake path {path} is not writable: {probe} is a file, not a directory; point "
            "RETAIL_ASSETS_HOME or RETAIL_ASSETS_LAKE_ROOT at a writable directory (or move that file away)."
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise LakeError(
            f"the lake path {path} is not writable (checked {probe}); point RETAIL_ASSETS_HOME or "
            "RETAIL_ASSETS_LAKE_ROOT at a writable directory."
        )


_REACHABLE: set[str] = set()
"""``scheme://container`` roots that answered once in this process (probed once, not per write)."""


def _check_reachable(uri: str) -> None:
    """Refuse early when an object-store lake root cannot be listed (no container, wrong key or endpoint).

    Why: object stores have no directories to create; a missing container or a bad credential
    otherwise surfaces as a raw client error from inside the first Delta commit of a step. Opening
    a table answers "not found" only when the container could be listed, so that is the probe.
    """
    scheme, _, rest = uri.partition("://")
    root = f"{scheme}://{rest.split('/', 1)[0]}"
    if root in _REACHABLE:
        return
    try:
        DeltaTable(uri, storage_options=storage_options())
    except TableNotFoundError:
        pass
    except OSError as exc:
        detail = " ".join(str(exc).split())
        missing = "ContainerNotFound" in detail or "NoSuchBucket" in detail
        cause = f"the container or bucket of {root} does not exist" if missing else "it cannot be reached"
        raise LakeError(
            f"the lake path {uri} is not writable: {cause} ({detail[:300]}). Create the container "
            "(e.g. `az storage container create -n NAME`) or fix RETAIL_ASSETS_LAKE_ROOT and the "
            "RETAIL_ASSETS_STORAGE_OPTION_* variables (account, key, endpoint); nothing was written."
        ) from None
    _REACHABLE.add(root)


def _ensure_writable(uri: str) -> None:
    check_writable(uri)
    if not is_local(uri):
        return
    path = Path(uri.removeprefix("file://"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LakeError(
            f"cannot create the table directory {path} ({exc}); point RETAIL_ASSETS_HOME or "
            "RETAIL_ASSETS_LAKE_ROOT at a writable directory."
        ) from exc


def table_version(uri: str) -> int | None:
    """The table's current Delta version (None when it does not exist): tests compare it before/after."""
    if not table_exists(uri):
        return None
    return open_table(uri).version()


def replace_partition(
    uri: str, data: pa.Table, schema: pa.Schema, partition_value: date, partition_col: str = "event_date"
) -> None:
    """Atomically replace one partition (one Delta commit); other partitions are untouched.

    Rows outside the partition are refused, so a bug can never leak rows into another day.
    """
    data = _in_row_order(_conform(data, schema, uri))
    if data.num_rows:
        col = data.column(partition_col)
        import pyarrow.compute as pc

        if not pc.all(pc.equal(col, pa.scalar(partition_value, col.type))).as_py():
            raise LakeError(f"refusing to write {uri}: rows outside {partition_col}={partition_value}.")
    _ensure_writable(uri)
    with _diagnosed(uri, "writing", _partition(partition_col, partition_value), data.nbytes):
        existing = open_if_exists(uri)
        if staging_fs.stages(uri) and (existing is None or day_layout.is_day_clustered(existing, partition_col)):
            from retail_assets.lake import day_commit  # it builds on this module

            added = day_commit.write_day_files(uri, data, schema, partition_col, partition_value, "w")
            day_commit.commit_day(uri, schema, partition_col, partition_value, added)
            return
        _overwrite_partition(uri, data, partition_value, partition_col)


def _overwrite_partition(uri: str, data: pa.Table, partition_value: date, partition_col: str) -> None:
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        target = _write_target(uri)
        partition_by, configuration = _layout(target, data, partition_col)
        try:
            write_deltalake(
                target,
                data,
                mode="overwrite",
                partition_by=partition_by,
                predicate=f"{partition_col} = '{partition_value.isoformat()}'",
                storage_options=storage_options(),
                configuration=configuration,  # at creation only
            )
            _wrote(uri, target)
            return
        except CommitFailedError as exc:
            # Another writer committed to this table between our read of the log and our commit
            # (two runs of the same day, or two days of one table written at once). The write is
            # an idempotent replace of our partition only, so re-doing it against the new log is
            # correct; give up with a clear message if the table keeps moving.
            if attempt == CONFLICT_ATTEMPTS:
                raise LakeError(
                    f"writing {uri} ({partition_col}={partition_value}) kept conflicting with concurrent "
                    f"commits ({exc}); nothing of this write landed. Re-run the partition when the other "
                    "run writing this table has finished."
                ) from exc
            time.sleep(0.05 * attempt)  # let the competing commit finish before re-reading the log


def replace_table(
    uri: str, data: pa.Table, schema: pa.Schema, commit_metadata: dict[str, str] | None = None
) -> None:
    """Replace a whole unpartitioned table (dimensions) in one commit.

    ``commit_metadata`` lands in the commit info (e.g. the dataset_id the dimensions were built
    for) so readers can refuse to mix datasets; see :func:`last_commit_metadata`.
    """
    data = _in_row_order(_conform(data, schema, uri))
    _ensure_writable(uri)
    props = CommitProperties(custom_metadata=commit_metadata) if commit_metadata else None
    with _diagnosed(uri, "writing", needed_bytes=data.nbytes):
        write_deltalake(
            uri,
            data,
            mode="overwrite",
            schema_mode="overwrite",
            storage_options=storage_options(),
            commit_properties=props,
        )


MAINTENANCE_OPERATIONS = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES"})
"""Commit operations that change how a table is stored, never what it holds (``lake.maintenance``)."""
MAINTENANCE_COMMIT_KEY = "lake_maintenance"
"""Commit-info key of maintenance's own commits whose operation is a plain WRITE (the compaction of a
day-clustered table, ``lake.month_compaction``). Outside ``retail_assets.``, the prefix of the tags
carried into table properties."""


def is_maintenance_commit(commit: dict[str, object]) -> bool:
    """A commit (a ``DeltaTable.history`` entry) that changed how the table is stored, not its rows."""
    return commit.get("operation") in MAINTENANCE_OPERATIONS or MAINTENANCE_COMMIT_KEY in commit

_HISTORY_PAGE = 50


def last_commit_metadata(uri: str) -> dict[str, str]:
    """String-valued entries of the latest *data* commit's info (custom metadata among them).

    Maintenance commits (compaction, vacuum, table properties) carry no custom metadata of ours, so
    they are skipped: otherwise one weekly compaction would hide the dataset_id a dimension table
    was built for. Reads the history a page at a time (the log's newest commits first). When log
    clean-up has deleted the data commit's JSON (commit info lives nowhere else), the tags that
    maintenance copied into the table properties (``CARRIED_TAG_PREFIX``) answer instead.
    """
    with _diagnosed(uri, "reading"):
        table = _open(uri)
        limit = _HISTORY_PAGE
        while True:
            history = table.history(limit)
            for commit in history:
                if not is_maintenance_commit(commit):
                    return {k: v for k, v in commit.items() if isinstance(v, str)}
            if len(history) < limit:
                break
            limit *= 4
        return carried_tags(table.metadata().configuration)


CARRIED_TAG_PREFIX = "retail_assets."
"""Our custom commit metadata keys (e.g. ``retail_assets.dataset_id``); maintenance keeps them as
table properties so they outlive the log retention."""


def carried_tags(entries: dict[str, object]) -> dict[str, str]:
    return {k: v for k, v in entries.items() if k.startswith(CARRIED_TAG_PREFIX) and isinstance(v, str)}


def append(uri: str, data: pa.Table, schema: pa.Schema, partition_col: str | None = "event_date") -> None:
    """Append rows in one commit (event landing, rejected events)."""
    data = _conform(data, schema, uri)
    _ensure_writable(uri)
    with _diagnosed(uri, "appending to", _appended_partitions(data, partition_col), data.nbytes):
        target = _write_target(uri)
        partition_by, configuration = _layout(target, data, partition_col)
        write_deltalake(
            target,
            data,
            mode="append",
            partition_by=partition_by,
            storage_options=storage_options(),
            configuration=configuration,  # at creation only
        )
        _wrote(uri, target)


def _appended_partitions(data: pa.Table, partition_col: str | None) -> str | None:
    if not partition_col or data.num_rows == 0:
        return None
    import pyarrow.compute as pc

    values = sorted(str(v) for v in pc.unique(data.column(partition_col)).to_pylist())
    shown = ", ".join(values[:5]) + (f" and {len(values) - 5} more" if len(values) > 5 else "")
    return f"{partition_col}={shown}"


def snapshot_dataset(table: DeltaTable, uri: str) -> pads.Dataset:
    """A pyarrow dataset of an opened table's snapshot; use this instead of ``table.to_pyarrow_dataset()``.

    Local tables are read through pyarrow's native filesystem rooted at the table. deltalake's
    default is a Python-implemented filesystem: every file read then needs the GIL from Arrow's
    scan threads, which is slow and, when a scan's read-ahead is released during interpreter
    shutdown, aborts the process ("terminate called without an active exception", seen in about
    one demo run in seven before this).
    """
    if is_local(uri):
        import pyarrow.fs as pafs

        root = str(Path(uri.removeprefix("file://")).resolve())
        return table.to_pyarrow_dataset(filesystem=pafs.SubTreeFileSystem(root, pafs.LocalFileSystem()))
    return table.to_pyarrow_dataset()


def dataset(uri: str) -> pads.Dataset:
    """The current snapshot as a pyarrow dataset (what DuckDB queries)."""
    with _diagnosed(uri, "reading"):
        return snapshot_dataset(_open(uri), uri)


def read_table(
    uri: str,
    schema: pa.Schema | None = None,
    partition_value: date | None = None,
    partition_col: str = "event_date",
    columns: list[str] | None = None,
    row_filter: pads.Expression | None = None,
) -> pa.Table:
    """Read a table (or one partition, and only the rows ``row_filter`` keeps: a shard's locations).

    With ``schema`` given, a missing table reads as empty."""
    with _diagnosed(uri, "reading", _partition(partition_col, partition_value)):
        opened = open_if_exists(uri)
    if opened is None:
        if schema is None:
            raise MissingTableError(
                f"Delta table {uri} does not exist yet; materialize the asset that writes it first."
            )
        empty = schema.empty_table()
        return empty.select(columns) if columns else empty
    flt = None
    if partition_value is not None:
        flt = pads.field(partition_col) == pa.scalar(partition_value, pa.date32())
    if row_filter is not None:
        flt = row_filter if flt is None else flt & row_filter
    with _diagnosed(uri, "reading", _partition(partition_col, partition_value)):
        table = snapshot_dataset(opened, uri).to_table(columns=columns, filter=flt)
    if schema is not None and columns is None:
        table = table.select(schema.names).cast(schema)
    return table


def partition_row_counts(
    uri: str, partition_col: str = "event_date", partition_value: date | None = None
) -> dict[date, int]:
    """Rows per partition value (only ``partition_value``'s when given), from the Delta log.

    Why: this runs after every landing and before every generated day; scanning a table's date
    column made it cost as much as the table's size, so the per-day cost grew with the lake's age.
    The log already holds each data file's ``num_records`` (delta-rs writes file statistics), so a
    count is a sum over the snapshot's add actions: of a day's partition for a table partitioned by
    day, of its one-day files for a day-clustered one, whose compacted multi-day files answer from
    their Parquet footers (a row group per day, ``lake.day_layout``). Files without statistics
    (written by another engine with stats off) are counted by a scan of their partitions (or row
    groups) only, never of the whole table. Days with no rows are left out, as a scan would.
    """
    with _diagnosed(uri, "reading", _partition(partition_col, partition_value)):
        opened = open_if_exists(uri)
        if opened is None:
            return {}
        actions = pa.table(opened.get_add_actions(flatten=True))
        key = f"partition.{partition_col}"
        if key in actions.column_names:  # a table partitioned by day (created before the clustered layout)
            return _counts_from_log(opened, uri, actions, key, partition_col, partition_value)
        if f"min.{partition_col}" in actions.column_names:  # day-clustered: the log, then footers
            files = day_layout.files_of(actions, partition_col)
            return day_layout.day_counts(lambda: snapshot_dataset(opened, uri), files, partition_col, partition_value)
        # no statistics of the day column (another writer's table): count by a (filtered) scan
        return _scanned_counts(opened, uri, partition_col, None if partition_value is None else [partition_value])


def partition_row_count(uri: str, partition_value: date, partition_col: str = "event_date") -> int:
    """Rows of one partition (0 when the table or the partition does not exist), from the Delta log."""
    return partition_row_counts(uri, partition_col, partition_value).get(partition_value, 0)


def _counts_from_log(
    opened: DeltaTable, uri: str, actions: pa.Table, key: str, partition_col: str, partition_value: date | None
) -> dict[date, int]:
    import pyarrow.compute as pc

    if partition_value is not None:
        actions = actions.filter(pc.equal(actions.column(key), pa.scalar(partition_value, actions.schema.field(key).type)))
    with_stats = actions.filter(pc.is_valid(actions.column("num_records")))
    summed = with_stats.group_by(key).aggregate([("num_records", "sum")])
    counts = dict(zip(summed.column(key).to_pylist(), summed.column("num_records_sum").to_pylist(), strict=True))
    without_stats = actions.filter(pc.is_null(actions.column("num_records")))
    if without_stats.num_rows:
        unknown = sorted(set(without_stats.column(key).to_pylist()))
        counts = {d: n for d, n in counts.items() if d not in unknown}
        counts.update(_scanned_counts(opened, uri, partition_col, unknown))
    return {d: n for d, n in counts.items() if n}


def _scanned_counts(opened: DeltaTable, uri: str, partition_col: str, values: list[date] | None) -> dict[date, int]:
    """Rows per value of ``partition_col`` by reading that one column, of ``values``' rows only when given."""
    import pyarrow.compute as pc

    flt = None
    if values is not None:
        flt = pads.field(partition_col).isin(pa.array(values, pa.date32()))
    t = snapshot_dataset(opened, uri).to_table(columns=[partition_col], filter=flt)
    if t.num_rows == 0:
        return {}
    return {v["values"].as_py(): v["counts"].as_py() for v in pc.value_counts(t.column(partition_col))}


def add_missing_columns(uri: str, schema: pa.Schema) -> list[str]:
    """Add the nullable columns of ``schema`` that an existing table lacks (one metadata commit).

    For append-only tables whose contract gained columns (``ctl_rejected_events.raw_bytes``):
    rows written before read the new columns as NULL. A missing NOT NULL column cannot be added
    to rows that already exist, so it is refused with the way out. Returns the added names.
    """
    if not table_exists(uri):
        return []
    table = open_table(uri)
    present = set(table.schema().to_arrow().names)
    missing = [f for f in schema if f.name not in present]
    if not missing:
        return []
    required = [f.name for f in missing if not f.nullable]
    if required:
        raise LakeError(
            f"{uri} lacks the NOT NULL columns {required} of its contract; existing rows cannot get them. "
            "Move the table aside (it is append-only history) and let the next write create it again."
        )
    from deltalake import Field

    try:
        table.alter.add_columns([Field.from_arrow(f) for f in missing])
    except OSError as exc:
        raise LakeError(f"adding columns {[f.name for f in missing]} to {uri} failed: {exc}.") from exc
    return [f.name for f in missing]
