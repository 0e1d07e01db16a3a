"""Keep a Delta table fast as it ages: checkpoint interval, compaction, vacuum, log clean-up.

Why: every day adds commits, files and (for replaced partitions) tombstones to each table. delta-rs
replays the log from the latest checkpoint on every open (default: one checkpoint per 100 commits),
lists the ``_delta_log`` directory, and plans writes over every live file; appends of small batches
(the event tables) leave many small files per partition. Left alone, the per-day write cost rises
with the lake's age. :func:`maintain_table` sets the table properties that bound the log replay and
the retention, compacts small files, deletes files no version within the retention can read, writes
a checkpoint and drops expired log files, and proves the table holds the same rows afterwards.

Maintenance never changes what a table holds: the row count and a checksum of the per-partition
row counts are compared before and after compaction (rolled back and refused on a difference) and
again at the end.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from retail_assets.lake import day_layout, delta, file_stats
from retail_assets.lake.lake_errors import LakeError
from retail_assets.lake.month_compaction import compact_months

MIN_SAFE_RETENTION = timedelta(hours=24)
"""Below this a vacuum can delete files that a reader or writer started a day ago still needs."""


class MaintenanceError(LakeError):
    """A maintenance policy or run that would risk the data (refused before anything changes)."""


def _delta_interval(span: timedelta) -> str:
    """A Delta ``interval ...`` property value (whole seconds: the unit every Delta reader parses)."""
    return f"interval {int(span.total_seconds())} seconds"


@dataclass(frozen=True)
class MaintenancePolicy:
    """How each table is kept: the figures are table properties, so every writer honours them too.

    * ``checkpoint_interval``: a checkpoint every N commits bounds the JSON replay of every open to
      N commits (delta-rs writes it after the commit that reaches the interval).
    * ``target_file_bytes``: compaction bins a partition's small files into files of about this size.
    * ``small_file_bytes``: a day-clustered table merges only files smaller than this (a month at a
      time, ``lake.month_compaction``). Why not every file: a merge rewrites each byte it takes, and a
      live file costs each later commit of its table only ≈ 4 µs, so a day file of a few MiB (whose
      own write costs tens of ms) is cheaper left alone: at 1,000 such files the commit's extra
      ≈ 4 ms stays within a fifth of the day's write. Merging every file rewrote each day of a sf-1
      lake (1–4 MiB a table-day) once and more than doubled a backfill with weekly upkeep.
    * ``vacuum_retention``: a file removed from the table is deleted only after this long, so a
      reader of a version that old (time travel, a long Silver build) still finds its files.
    * ``log_retention``: log files older than this (and before the newest checkpoint) are deleted.
    * ``allow_short_retention``: retentions below 24 h are refused unless this is set (tests, benches).
    """

    checkpoint_interval: int = 10
    target_file_bytes: int = 64 * 1024 * 1024
    small_file_bytes: int = 1024 * 1024
    vacuum_retention: timedelta = timedelta(days=7)
    log_retention: timedelta = timedelta(days=30)
    allow_short_retention: bool = False

    def __post_init__(self) -> None:
        if self.checkpoint_interval < 1:
            raise MaintenanceError(
                f"checkpoint_interval must be at least 1 commit, got {self.checkpoint_interval}; use e.g. 10."
            )
        if self.target_file_bytes < 1024 * 1024:
            raise MaintenanceError(
                f"target_file_bytes {self.target_file_bytes} is below 1 MiB: compaction would make more "
                "files, not fewer; use e.g. 64 MiB."
            )
        for name, span in (("vacuum_retention", self.vacuum_retention), ("log_retention", self.log_retention)):
            if span < timedelta(0):
                raise MaintenanceError(f"{name} must not be negative, got {span}.")
            if span < MIN_SAFE_RETENTION and not self.allow_short_retention:
                raise MaintenanceError(
                    f"{name} of {span} is below 24 hours: a vacuum or log clean-up could delete files that "
                    "a run still reading an older version needs. Use at least 24 hours (7 days is the "
                    "default), or set allow_short_retention=True for a throw-away lake (tests, benchmarks)."
                )

    def table_properties(self) -> dict[str, str]:
        return {
            "delta.checkpointInterval": str(self.checkpoint_interval),
            "delta.deletedFileRetentionDuration": _delta_interval(self.vacuum_retention),
            "delta.logRetentionDuration": _delta_interval(self.log_retention),
            "delta.enableExpiredLogCleanup": "true",
        }


@dataclass(frozen=True)
class TableShape:
    """What the log says a table holds and how it is stored (no data file is read)."""

    rows: int
    partition_checksum: str
    files: int
    bytes: int
    log_files: int


@dataclass(frozen=True)
class MaintenanceReport:
    """Figures of one table's maintenance (the Dagster asset's metadata)."""

    uri: str
    before: TableShape
    after: TableShape
    files_compacted_away: int
    tombstones_removed: int
    properties_set: bool
    seconds: float

    def as_metadata(self) -> dict[str, int | float | str | bool]:
        return {
            "rows": self.after.rows,
            "files_before": self.before.files,
            "files_after": self.after.files,
            "bytes_before": self.before.bytes,
            "bytes_after": self.after.bytes,
            "files_compacted_away": self.files_compacted_away,
            "tombstones_removed": self.tombstones_removed,
            "log_files_before": self.before.log_files,
            "log_files_after": self.after.log_files,
            "properties_set": self.properties_set,
            "seconds": round(self.seconds, 3),
        }


def table_shape(table: DeltaTable, refresh: bool = True) -> TableShape:
    """Rows, per-partition checksum, files and bytes of the current snapshot, from the log alone
    (of the snapshot the table object is at when ``refresh`` is False: a past version).

    The checksum is a SHA-256 of the sorted (partition, rows) pairs: compaction that lost or
    duplicated rows of any one partition changes it even when the total happens to match.
    """
    if refresh:
        table.update_incremental()
    actions = pa.table(table.get_add_actions(flatten=True))
    counts = _rows_per_partition(table, actions)
    digest = hashlib.sha256()
    for key, rows in sorted(counts.items()):
        digest.update(f"{key}={rows};".encode())
    return TableShape(
        rows=sum(counts.values()),
        partition_checksum=digest.hexdigest()[:16],
        files=actions.num_rows,
        bytes=int(pc.sum(actions.column("size_bytes")).as_py() or 0),
        log_files=_log_file_count(table),
    )


def _shape_at(uri: str, version: int) -> TableShape:
    """The table's shape at a past version (time travel: its files are all still there before vacuum)."""
    try:
        past = DeltaTable(uri, version=version, storage_options=delta.storage_options())
    except (DeltaError, OSError) as exc:
        # Only a log retention shorter than maintenance itself (allow_short_retention) gets here:
        # another writer's checkpoint cleaned up the log this version was read from.
        raise MaintenanceError(
            f"cannot check the compaction of {uri}: version {version} can no longer be read ({exc}); "
            "the log retention is shorter than a maintenance run. Nothing was restored or vacuumed; "
            "raise delta.logRetentionDuration (MaintenancePolicy.log_retention) and run maintenance again."
        ) from exc
    return table_shape(past, refresh=False)


def _data_commits_since(table: DeltaTable, version: int) -> list[int] | None:
    """Versions after ``version`` that changed data (other writers' appends or replaces, not ours);
    None when the log no longer holds all of their commit info (then assume there were some)."""
    table.update_incremental()
    newer = table.version() - version
    if newer <= 0:
        return []
    commits = [c for c in table.history(newer) if int(c.get("version", -1)) > version]
    if len(commits) < newer:  # a checkpoint and a short log retention dropped some commit files
        return None
    return sorted(int(c["version"]) for c in commits if not delta.is_maintenance_commit(c))


def _rows_per_partition(table: DeltaTable, actions: pa.Table) -> dict[str, int]:
    """Rows per partition ("" for an unpartitioned table) from the files' ``num_records``; per day for
    a day-clustered table (its multi-day files' footers read, ``lake.day_layout``)."""
    day_col = day_layout.day_column_of(table)
    if day_col is not None and f"min.{day_col}" in actions.column_names:
        files = day_layout.files_of(actions, day_col)
        counts = day_layout.day_counts(lambda: delta.snapshot_dataset(table, table.table_uri), files, day_col)
        return {d.isoformat(): n for d, n in counts.items()}
    partition_cols = table.metadata().partition_columns
    if actions.num_rows and pc.any(pc.is_null(actions.column("num_records"))).as_py():
        # A file without statistics: count by reading (maintenance is weekly, so a scan is affordable).
        dataset = delta.snapshot_dataset(table, table.table_uri)
        if not partition_cols:
            return {"": dataset.count_rows()}
        data = dataset.to_table(columns=partition_cols)
        keys, grouped = partition_cols, data.group_by(partition_cols).aggregate([([], "count_all")])
        count_col = "count_all"
    else:
        if not partition_cols:
            return {"": int(pc.sum(actions.column("num_records")).as_py() or 0)}
        keys = [f"partition.{c}" for c in partition_cols]
        grouped = actions.group_by(keys).aggregate([("num_records", "sum")])
        count_col = "num_records_sum"
    return {"/".join(str(row[k]) for k in keys): int(row[count_col] or 0) for row in grouped.to_pylist()}


def _log_file_count(table: DeltaTable) -> int:
    """Files in ``_delta_log`` (local tables; -1 elsewhere, where listing would cost a request)."""
    uri = table.table_uri
    if not delta.is_local(uri):
        return -1
    from pathlib import Path

    log_dir = Path(uri.removeprefix("file://")) / "_delta_log"
    return sum(1 for p in log_dir.iterdir() if p.is_file()) if log_dir.is_dir() else 0


def lake_tables(lake_root: str) -> dict[str, str]:
    """Qualified name -> URI of every contract Delta table that exists under ``lake_root``.

    From the contract catalog, not from a directory listing, so that it works the same on object
    storage and never picks up a stray directory: every Bronze table (dimensions, facts, control and
    landed event tables) and every Silver table.
    """
    from retail_assets.contract.catalog import BRONZE_TABLES, SILVER_TABLES
    from retail_assets.lake.paths import table_uri

    found: dict[str, str] = {}
    for spec in (*BRONZE_TABLES.values(), *SILVER_TABLES.values()):
        uri = table_uri(lake_root, spec)
        if delta.table_exists(uri):
            found[spec.qualified_name] = uri
    return found


def apply_properties(table: DeltaTable, policy: MaintenancePolicy, tags: dict[str, str]) -> bool:
    """Set the policy's table properties and our commit tags when they differ (one commit).

    Why the tags: commit info lives only in the log's JSON files, which log clean-up deletes after
    the log retention; a dimension table not rewritten for that long would lose the dataset_id it
    was built for. As table properties they are in every checkpoint. The statistics properties
    (``lake.file_stats``) reach tables created before they existed. True when a commit was made.
    """
    metadata = table.metadata()
    stats = file_stats.table_properties(
        pa.schema(table.schema().to_arrow()), metadata.partition_columns, day_layout.day_column_of(table)
    )
    wanted = policy.table_properties() | stats | tags
    current = metadata.configuration
    if all(current.get(k) == v for k, v in wanted.items()):
        return False
    table.alter.set_table_properties(wanted, raise_if_not_exists=False)
    return True


def _check_compaction(uri: str, table: DeltaTable, compaction_version: int, pre: TableShape | None) -> None:
    """The compaction commit kept the rows of the version before it (``pre``, read when it is not
    given: other writers committed between the compaction's start and its commit), else restore
    (when safe) and raise."""
    pre = pre or _shape_at(uri, compaction_version - 1)
    post = _shape_at(uri, compaction_version)
    if (pre.rows, pre.partition_checksum) == (post.rows, post.partition_checksum):
        return
    later = _data_commits_since(table, compaction_version)
    later = ["unknown"] if later is None else later
    change = (
        f"compacting {uri} changed its rows ({pre.rows} -> {post.rows}, partition checksum "
        f"{pre.partition_checksum} -> {post.partition_checksum}, versions {compaction_version - 1} -> "
        f"{compaction_version})"
    )
    if later:
        raise MaintenanceError(
            f"{change}; not restored, because writers committed versions {later[:5]} since, which a restore "
            f"would undo. Nothing was vacuumed. Stop the writers (streaming, generation) and run "
            f"`DeltaTable('{uri}').restore({compaction_version - 1})`, then re-run the days committed since; "
            "report this with the table's _delta_log."
        )
    table.restore(compaction_version - 1)
    raise MaintenanceError(
        f"{change}; the table was restored to version {compaction_version - 1} and nothing was vacuumed. "
        "Report this with the table's _delta_log; do not vacuum the table until it is understood."
    )


def _check_live_files(
    uri: str, table: DeltaTable, before: TableShape, after: TableShape, concurrent: list[int] | None
) -> None:
    """After vacuum: no other writer committed data (``concurrent`` is empty) → the same rows as
    before maintenance; else every live file of the current snapshot is still on disk (what a vacuum
    could have broken)."""
    if concurrent == []:
        if (after.rows, after.partition_checksum) != (before.rows, before.partition_checksum):
            raise MaintenanceError(
                f"after maintenance {uri} reports {after.rows} rows (checksum {after.partition_checksum}), "
                f"before it {before.rows} ({before.partition_checksum}); inspect the table's history."
            )
        return
    if not delta.is_local(uri):
        return  # listing every file of a remote table would cost a request each
    root = Path(uri.removeprefix("file://"))
    paths = pa.table(table.get_add_actions()).column("path").to_pylist()
    missing = [p for p in paths if not (root / unquote(p)).exists()]
    if missing:
        raise MaintenanceError(
            f"after vacuum {uri} lacks {len(missing)} file(s) of its current snapshot (e.g. {missing[0]}); "
            "re-materialize their partitions; report this with the table's _delta_log."
        )


def _compact(uri: str, table: DeltaTable, policy: MaintenancePolicy) -> tuple[int, int, int | None]:
    """Files merged away, files written, and the compaction's version (None: nothing to merge). A
    day-clustered table merges a month's files (``lake.month_compaction``); any other table bins a
    partition's small files (delta-rs ``optimize.compact``)."""
    day_col = day_layout.day_column_of(table)
    if day_col is not None:
        done = compact_months(uri, table, day_col, policy.target_file_bytes, policy.small_file_bytes)
        return done.files_removed, done.files_added, done.version
    compacted = table.optimize.compact(target_size=policy.target_file_bytes)
    removed, added = int(compacted.get("numFilesRemoved", 0)), int(compacted.get("numFilesAdded", 0))
    # delta-rs leaves the table at the version its compaction committed, whatever others committed
    return removed, added, table.version() if removed or added else None


def maintain_table(uri: str, policy: MaintenancePolicy | None = None) -> MaintenanceReport:
    """Properties, compaction, vacuum, checkpoint and log clean-up of one table, guarded.

    Other writers may commit while this runs (the drain appends to event tables all day), so the
    guards look only at what maintenance itself did: the compaction commit must leave the rows of
    the version just before it unchanged (row count and partition checksum of those two versions),
    and after vacuum every file of the table's current snapshot must still be there. Comparing the
    whole table before and after would count a concurrent append as a compaction error — and
    restoring the table over it would delete that append. On a bad compaction the table is restored
    only when nothing has been committed since; otherwise nothing is restored, nothing is vacuumed,
    and the error says how to restore by hand. Either way :class:`MaintenanceError` is raised.
    """
    policy = policy or MaintenancePolicy()
    started = time.perf_counter()
    table = delta.open_table(uri)
    before = table_shape(table)
    version_before = table.version()
    tags = delta.carried_tags(delta.last_commit_metadata(uri))
    properties_set = apply_properties(table, policy, tags)
    # The shape the compaction starts from, read now: when the compaction commit lands on a checkpoint
    # version, delta-rs cleans up the log before it (under a short log retention, whatever the commit's
    # post-commit hook properties say), and that version could no longer be read afterwards.
    start = table.version()
    start_shape = before if start == version_before else table_shape(table, refresh=False)
    removed_files, added_files, compaction_version = _compact(uri, table, policy)
    if compaction_version is not None:
        _check_compaction(uri, table, compaction_version, start_shape if compaction_version == start + 1 else None)
    # Vacuum judges "unreferenced" by this object's snapshot: bring it up to date, or a file another
    # writer committed since would look unreferenced (only a retention shorter than that file's age
    # lets vacuum act on it: 7 days by default, 0 only on throw-away lakes — caught below if it does).
    table.update_incremental()
    removed = table.vacuum(
        # whole hours, rounded up: never below the table's deletedFileRetentionDuration just set
        retention_hours=math.ceil(policy.vacuum_retention.total_seconds() / 3600),
        dry_run=False,
        enforce_retention_duration=not policy.allow_short_retention,
        # also files the log never referenced: the staged files of a sharded day whose commit never
        # came (a crash, lake.staged), once they are older than the retention
        full=True,
    )
    concurrent = _data_commits_since(table, version_before)  # before log clean-up drops their commit info
    table.create_checkpoint()
    table.cleanup_metadata()
    after = table_shape(table)
    _check_live_files(uri, table, before, after, concurrent)
    return MaintenanceReport(
        uri=uri,
        before=before,
        after=after,
        files_compacted_away=removed_files - added_files,
        tombstones_removed=len(removed),
        properties_set=properties_set,
        seconds=time.perf_counter() - started,
    )
