"""``lake_maintenance``: keep every Delta table of the lake fast, weekly, with its figures as metadata.

Shell only: the work is ``retail_assets.lake.maintenance``. Why one unpartitioned asset over all
tables and not one per table: maintenance has no data of its own to show in the graph, and what an
operator wants is one weekly record ("files 4,210 -> 380, 1.2 GB of tombstones deleted, 41 s") with
the per-table detail beneath. A table whose commit keeps conflicting with a writer is retried, then
reported; the other tables are still maintained and the run fails naming the ones left.
"""
# No `from __future__ import annotations` here: Dagster resolves the Config class from real annotations.
import time
from collections.abc import Callable
from datetime import timedelta

import dagster as dg
from deltalake.exceptions import CommitFailedError, DeltaError

from retail_assets.defs.generation.assets import resolve_settings
from retail_assets.defs.keys import LAKE_MAINTENANCE_KEY, MAINTENANCE_GROUP
from retail_assets.defs.resources import RetailSettings
from retail_assets.lake.lake_errors import LakeError
from retail_assets.lake.maintenance import (
    MaintenanceError,
    MaintenancePolicy,
    MaintenanceReport,
    lake_tables,
    maintain_table,
)

LAKE_MAINTENANCE_JOB = "lake_maintenance_job"
LAKE_MAINTENANCE_SCHEDULE = "lake_maintenance_schedule"
CONFLICT_ATTEMPTS = 3


class MaintenanceConfig(dg.Config):
    """The :class:`MaintenancePolicy` as run config (defaults: 10 / 64 MiB / 1 MiB / 7 days / 30 days)."""

    checkpoint_interval: int = 10
    target_file_mib: int = 64
    small_file_mib: float = 1.0
    vacuum_retention_hours: float = 7 * 24
    log_retention_hours: float = 30 * 24
    allow_short_retention: bool = False

    def policy(self) -> MaintenancePolicy:
        return MaintenancePolicy(
            checkpoint_interval=self.checkpoint_interval,
            target_file_bytes=self.target_file_mib * 1024 * 1024,
            small_file_bytes=int(self.small_file_mib * 1024 * 1024),
            vacuum_retention=timedelta(hours=self.vacuum_retention_hours),
            log_retention=timedelta(hours=self.log_retention_hours),
            allow_short_retention=self.allow_short_retention,
        )


def _with_conflict_retries(maintain: Callable[[], MaintenanceReport]) -> MaintenanceReport:
    """Maintenance is idempotent, so a commit that lost a race with a writer is simply redone."""
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return maintain()
        except CommitFailedError:
            if attempt == CONFLICT_ATTEMPTS:
                raise
            time.sleep(attempt)
    raise AssertionError("unreachable")


def _totals(reports: list[MaintenanceReport]) -> dict[str, int]:
    return {
        "files_before": sum(r.before.files for r in reports),
        "files_after": sum(r.after.files for r in reports),
        "bytes_before": sum(r.before.bytes for r in reports),
        "bytes_after": sum(r.after.bytes for r in reports),
        "tombstones_removed": sum(r.tombstones_removed for r in reports),
        "log_files_before": sum(max(r.before.log_files, 0) for r in reports),
        "log_files_after": sum(max(r.after.log_files, 0) for r in reports),
        "rows": sum(r.after.rows for r in reports),
    }


def _per_table_markdown(reports: dict[str, MaintenanceReport]) -> str:
    lines = [
        "| table | rows | files before → after | MiB before → after | tombstones removed | log files before → after | s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    mib = 1024 * 1024
    for name, r in reports.items():
        lines.append(
            f"| {name} | {r.after.rows:,} | {r.before.files} → {r.after.files} | "
            f"{r.before.bytes / mib:.1f} → {r.after.bytes / mib:.1f} | {r.tombstones_removed} | "
            f"{r.before.log_files} → {r.after.log_files} | {r.seconds:.2f} |"
        )
    return "\n".join(lines)


@dg.asset(
    key=LAKE_MAINTENANCE_KEY,
    group_name=MAINTENANCE_GROUP,
    kinds={"delta"},
    description=(
        "Weekly upkeep of every Bronze, control and Silver Delta table: checkpoint interval and "
        "retention properties, compaction of small files, vacuum, checkpoint and log clean-up; the "
        "row counts are proven unchanged."
    ),
)
def lake_maintenance(
    context: dg.AssetExecutionContext, config: MaintenanceConfig, retail_settings: RetailSettings
) -> dg.MaterializeResult:
    try:
        policy = config.policy()
    except MaintenanceError as exc:
        raise dg.Failure(description=str(exc)) from exc
    _, home = resolve_settings(retail_settings)
    started = time.perf_counter()
    reports: dict[str, MaintenanceReport] = {}
    failed: dict[str, str] = {}
    for name, uri in lake_tables(home.lake_root).items():
        try:
            report = _with_conflict_retries(lambda uri=uri: maintain_table(uri, policy))
        except (DeltaError, LakeError, OSError) as exc:
            failed[name] = str(exc)
            context.log.error(f"{name}: maintenance failed: {exc}")
            continue
        reports[name] = report
        context.log.info(
            f"{name}: files {report.before.files} -> {report.after.files}, "
            f"{report.tombstones_removed} tombstones removed, {report.seconds:.2f} s"
        )
    metadata = {
        "tables": len(reports),
        **_totals(list(reports.values())),
        "seconds": round(time.perf_counter() - started, 2),
        "per_table": dg.MetadataValue.md(_per_table_markdown(reports)),
    }
    if failed:
        raise dg.Failure(
            description=(
                f"maintenance of {len(failed)} table(s) failed: {', '.join(failed)}; the others were maintained. "
                "A table that kept conflicting with a writer is maintained by the next run; see the log for the error."
            ),
            metadata={**metadata, "failed": dg.MetadataValue.json(failed)},
        )
    return dg.MaterializeResult(metadata=metadata)


lake_maintenance_job = dg.define_asset_job(
    name=LAKE_MAINTENANCE_JOB,
    selection=dg.AssetSelection.assets(LAKE_MAINTENANCE_KEY),
    description="Compact, vacuum and checkpoint every Delta table of the lake (see lake_maintenance).",
)

lake_maintenance_schedule = dg.ScheduleDefinition(
    name=LAKE_MAINTENANCE_SCHEDULE,
    job=lake_maintenance_job,
    cron_schedule="0 3 * * 0",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Sundays 03:00 UTC: maintain the lake (a quiet hour: no daily generation runs then).",
)
