"""``retail-assets demo``: run the main job on the embedded default and show what landed.

First it extends the home's dataset calendar through the day after its last day, so the code
location offers the demo's days and the next one. Then, in order, each a Dagster run recorded in the
persistent instance under ``$RETAIL_ASSETS_HOME/dagster_home`` and launched through the code location
(``code_location_runs``: a private webserver, as a UI launch) so that ``make ui``'s Overview lists it:

1. materialize the dimension assets (group ``dimensions``);
2. materialize the first ``--days`` partitions of the Bronze batch assets in ONE run
   (``daily_generation_job`` over a partition range, exactly what a UI backfill does);
3. ``--stream-days`` runs of the ``stream_outbox`` job: each generates the next day into the outbox
   (the streaming path claims it) and drains it to the local Delta sink;
4. Silver (group ``silver``): the dimension copies once, then all demo days in ONE run (a partition
   range of ``silver_facts``), with their asset checks; a per-day line says how many checks passed;
5. each demo day's report ``report/daily_retail_report``, one run per day;
6. print rows per table per day, read back from the Delta tables (not from run metadata).

Steps are a registry (:data:`STEPS`); a step whose job or assets are not in the code location is
skipped with a note, so the demo works at every stage of the project. More steps: add a
``fn(ctx: DemoContext) -> None`` to :data:`STEPS` (launch runs with ``ctx.launcher.run`` so they
show on the UI's Overview; ``ctx.definitions`` tells which jobs and assets exist).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from retail_assets.code_location_runs import IMPLICIT_ASSET_JOB, CodeLocationLauncher
from retail_assets.config import ConfigError, DatasetSettings, HomeSettings
from retail_assets.contract.catalog import SILVER_TABLES
from retail_assets.contract.events import BRONZE_EVENT_TABLES
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.contract.types import BRONZE_SCHEMA, SILVER_SCHEMA, TableSpec
from retail_assets.dataset_calendar import extend_calendar, wall_today
from retail_assets.defs.partition_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from retail_assets.lake import delta
from retail_assets.lake.ledger import Ledger
from retail_assets.lake.paths import table_uri

DEFAULT_BATCH_DAYS = 3
DEFAULT_STREAM_DAYS = 1
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
"""Dagster's console logger at INFO: the demo shows progress, not every engine event."""
REPO_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"


@dataclass
class DemoContext:
    """What every demo step gets: the instance, the loaded code location and the days to use."""

    instance: object  # dagster.DagsterInstance (kept untyped so importing this module stays cheap)
    definitions: object  # dagster.Definitions of retail_assets.definitions
    settings: DatasetSettings
    home: HomeSettings
    batch_days: list[date]
    stream_days: list[date]
    launcher: object = None  # code_location_runs.CodeLocationLauncher: runs go through the code location
    notes: list[str] = field(default_factory=list)


STREAM_JOB = "stream_outbox"
STREAM_OP = "stream_outbox_op"
STREAM_RUN_SECONDS = 900.0
"""Bound of one demo streaming run; a scale-factor-1 day is ~0.7 M events."""
REPORT_GROUP = "reports"


INSTANCE_YAML_ENV = "RETAIL_ASSETS_DAGSTER_YAML"
"""Which instance file the demo installs into DAGSTER_HOME; ``make demo INSTANCE=postgres`` names
``dagster.postgres.yaml`` here, so the demo does not put the SQLite settings back over it."""
LOGS_DIR_NAME = "retail_assets_logs"
"""Where ``make ui`` and the demo keep their logs, under ``DAGSTER_HOME``. Not ``logs/``: Dagster's
webserver and each daemon treat ``$DAGSTER_HOME/logs`` as their telemetry queue whatever
``telemetry.enabled`` says (only ``DAGSTER_DISABLE_TELEMETRY`` stops them): they move its files away,
try to upload them, and delete them, so ``ui.log`` and ``demo_launcher.log`` vanished within seconds
of ``make ui`` starting. The Makefile spells the same name."""


def ensure_dagster_home(home: HomeSettings) -> Path:
    """Point DAGSTER_HOME at the persistent instance (unless set) and give it the repo's instance file
    (``dagster.yaml``, or the file ``RETAIL_ASSETS_DAGSTER_YAML`` names)."""
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or home.dagster_home)
    dagster_home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    source = Path(os.environ.get(INSTANCE_YAML_ENV) or REPO_DAGSTER_YAML)
    if os.environ.get(INSTANCE_YAML_ENV) and not source.is_file():
        raise ConfigError(
            f"{INSTANCE_YAML_ENV}={source} is not a file; name an instance file such as dagster.yaml or "
            "dagster.postgres.yaml, or unset it for the default."
        )
    target = dagster_home / "dagster.yaml"
    if source.is_file() and (not target.exists() or target.read_bytes() != source.read_bytes()):
        shutil.copyfile(source, target)
    return dagster_home


class DemoError(RuntimeError):
    """A demo run failed; the message names the run to open in the UI."""


def require_success(result, what: str) -> None:
    if not result.success:
        raise DemoError(f"the run building {what} ended {result.status}: open run {result.run_id} in the UI (make ui).")


def _run_dimensions(ctx: DemoContext) -> None:
    from retail_assets.defs.keys import DIM_KEYS

    keys = list(DIM_KEYS.values())
    result = ctx.launcher.run(
        IMPLICIT_ASSET_JOB, run_config=QUIET_RUN_CONFIG, asset_selection=keys, tags={"retail_assets/demo": "true"}
    )
    require_success(result, "the dimensions")


def _run_bronze_batch(ctx: DemoContext) -> None:
    from retail_assets.defs.generation.jobs import DAILY_GENERATION_JOB

    result = ctx.launcher.run(
        DAILY_GENERATION_JOB,
        run_config=QUIET_RUN_CONFIG,
        tags={
            PARTITION_RANGE_START_TAG: ctx.batch_days[0].isoformat(),
            PARTITION_RANGE_END_TAG: ctx.batch_days[-1].isoformat(),
            "retail_assets/demo": "true",
        },
    )
    require_success(result, "the Bronze batch days")


def _run_streamed_days(ctx: DemoContext) -> None:
    if not ctx.stream_days:
        return
    if STREAM_JOB not in {j.name for j in ctx.definitions.resolve_all_job_defs()}:
        ctx.notes.append(f"skipped: streamed days (no '{STREAM_JOB}' job in the code location yet)")
        ctx.stream_days = []
        return
    # the demo's own stream days are the end the user chose (the default end is 3 days past the batch days)
    run = {"max_seconds": STREAM_RUN_SECONDS, "max_events": 5_000_000, "until": ctx.stream_days[-1].isoformat()}
    config = {"ops": {STREAM_OP: {"config": run}}}
    ledger = Ledger(ctx.home.state_dir)
    for day in ctx.stream_days:
        if ledger.owner_of(day) == "stream":
            ctx.notes.append(f"{day} was already streamed by an earlier demo; not streamed again")
            continue
        result = ctx.launcher.run(
            STREAM_JOB, run_config={**QUIET_RUN_CONFIG, **config}, tags={"retail_assets/demo": "true"}
        )
        if not result.success:
            ctx.notes.append(f"streaming run for {day} failed; see run {result.run_id} in the UI")
        elif ledger.owner_of(day) != "stream":
            ctx.notes.append(f"the streaming run did not generate {day} (it continues after the latest claimed day)")


def _silver_keys(ctx: DemoContext) -> tuple[list, list]:
    from retail_assets.defs.keys import SILVER_GROUP

    graph = ctx.definitions.resolve_asset_graph()
    keys = sorted(k for k in graph.get_all_asset_keys() if graph.get(k).group_name == SILVER_GROUP)
    partitioned = [k for k in keys if graph.get(k).partitions_def is not None]
    return partitioned, [k for k in keys if k not in partitioned]


def _run_silver(ctx: DemoContext) -> None:
    from retail_assets.defs.keys import SILVER_GROUP
    from retail_assets.defs.silver.gate import contiguous_stretches

    partitioned, unpartitioned = _silver_keys(ctx)
    if not partitioned:
        ctx.notes.append(f"skipped: Silver (no '{SILVER_GROUP}' assets in the code location yet)")
        return
    tags = {"retail_assets/demo": "true"}
    if unpartitioned:
        result = ctx.launcher.run(IMPLICIT_ASSET_JOB, run_config=QUIET_RUN_CONFIG, asset_selection=unpartitioned, tags=tags)
        require_success(result, "the Silver dimension copies")
    for days in contiguous_stretches([*ctx.batch_days, *ctx.stream_days]):
        span = {PARTITION_RANGE_START_TAG: days[0].isoformat(), PARTITION_RANGE_END_TAG: days[-1].isoformat()}
        result = ctx.launcher.run(
            IMPLICIT_ASSET_JOB, run_config=QUIET_RUN_CONFIG, asset_selection=partitioned, tags={**tags, **span}
        )
        checks = result.get_asset_check_evaluations()
        for day in days:
            of_day = [c for c in checks if c.partition == day.isoformat()]
            failed = sorted(f"{c.asset_key.to_user_string()}:{c.check_name}" for c in of_day if not c.passed)
            line = f"Silver {day}: {len(of_day) - len(failed)}/{len(of_day)} checks passed"
            ctx.notes.append(line + (f"; failed: {', '.join(failed[:5])}" if failed else ""))
        if not result.success:
            ctx.notes.append(f"Silver run for {days[0]}..{days[-1]} failed; see run {result.run_id} in the UI")


def _run_reports(ctx: DemoContext) -> None:
    """Each demo day's report, one run per day (the report is built per partition)."""
    graph = ctx.definitions.resolve_asset_graph()
    keys = sorted(k for k in graph.get_all_asset_keys() if graph.get(k).group_name == REPORT_GROUP)
    daily = [k for k in keys if graph.get(k).partitions_def is not None]
    if not daily:
        ctx.notes.append(f"skipped: daily reports (no partitioned '{REPORT_GROUP}' asset in the code location)")
        return
    for day in [*ctx.batch_days, *ctx.stream_days]:
        result = ctx.launcher.run(
            IMPLICIT_ASSET_JOB, run_config=QUIET_RUN_CONFIG, asset_selection=daily, partition_key=day.isoformat(),
            tags={"retail_assets/demo": "true"},
        )
        if not result.success:
            ctx.notes.append(f"the report of {day} failed; see run {result.run_id} in the UI")


STEPS: tuple[tuple[str, Callable[[DemoContext], None]], ...] = (
    (f"materialize the dimensions ({BRONZE_SCHEMA}/dim_*)", _run_dimensions),
    ("materialize Bronze batch days in one run (daily_generation_job)", _run_bronze_batch),
    ("stream days through the outbox (stream_outbox)", _run_streamed_days),
    ("build Silver with its checks, all demo days in one run", _run_silver),
    ("build each day's report (report/daily_retail_report), one run per day", _run_reports),
)


def rows_per_table_per_day(home: HomeSettings, specs: list[TableSpec]) -> dict[str, dict[date, int]]:
    """Rows per (table, day) read from those of the tables that exist in the lake."""
    counts: dict[str, dict[date, int]] = {}
    for spec in specs:
        uri = table_uri(home.lake_root, spec)
        if delta.table_exists(uri):
            counts[spec.name] = delta.partition_row_counts(uri)
    return counts


def format_counts(title: str, counts: dict[str, dict[date, int]]) -> str:
    """A plain-text table: one line per table, one column per day, totals at the bottom."""
    days = sorted({d for per_day in counts.values() for d in per_day})
    if not days:
        return f"{title}: no rows yet"
    width = max(len(n) for n in counts) + 2
    head = "table".ljust(width) + "".join(d.isoformat().rjust(12) for d in days)
    lines = [title, head, "-" * len(head)]
    for name, per_day in counts.items():
        lines.append(name.ljust(width) + "".join(f"{per_day.get(d, 0):>12,}" for d in days))
    lines.append("-" * len(head))
    lines.append("total".ljust(width) + "".join(f"{sum(c.get(d, 0) for c in counts.values()):>12,}" for d in days))
    return "\n".join(lines)


def summary(home: HomeSettings) -> str:
    """The end-of-demo report: Bronze batch and (when built) Silver rows per table per day."""
    batch = rows_per_table_per_day(home, list(FACT_TABLES.values()))
    blocks = [format_counts(f"Bronze batch ({BRONZE_SCHEMA}.fact_*) rows per day", batch)]
    events = rows_per_table_per_day(home, list(BRONZE_EVENT_TABLES.values()))
    if events:
        blocks.append(format_counts(f"Bronze event tables ({BRONZE_SCHEMA}.<event_type>) rows per day", events))
    silver = rows_per_table_per_day(home, [SILVER_TABLES[name] for name in FACT_TABLES])
    if silver:
        blocks.append(format_counts(f"Silver ({SILVER_SCHEMA}.fact_*) rows per day", silver))
    return "\n\n".join(blocks)


def run_demo(batch_days: int = DEFAULT_BATCH_DAYS, stream_days: int = DEFAULT_STREAM_DAYS) -> str:
    """Run every demo step and return the summary table."""
    import dagster as dg

    from retail_assets.definitions import defs

    settings, home = DatasetSettings.from_env(whole_day=False), HomeSettings.from_env()  # days: day_shard_count
    dagster_home = ensure_dagster_home(home)
    days = [settings.start_date + timedelta(days=i) for i in range(batch_days + stream_days)]
    # before the code location loads: its partitions must offer the demo's days and the next one
    calendar, _ = extend_calendar(home.home, settings.start_date, days[-1] + timedelta(days=1), wall_today())
    instance = dg.DagsterInstance.get()
    ctx = DemoContext(
        instance=instance,
        definitions=defs(),
        settings=settings,
        home=home,
        batch_days=days[:batch_days],
        stream_days=days[batch_days:],
    )
    print(
        f"retail-assets demo: dataset {settings.dataset_id} (seed {settings.seed}, scale factor "
        f"{settings.scale_factor}, start {settings.start_date}); lake {home.lake_root}; "
        f"Dagster instance {dagster_home}; business days offered through "
        f"{calendar.last_offered_day(wall_today())} (retail-assets calendar show)",
        flush=True,
    )
    log_path = dagster_home / LOGS_DIR_NAME / "demo_launcher.log"
    print(f"==> start a private dagster-webserver to launch runs through the code location (log: {log_path}) ...")
    try:
        started = time.perf_counter()
        with CodeLocationLauncher(instance, dagster_home, log_path) as ctx.launcher:
            print(f"    ready in {time.perf_counter() - started:.1f} s", flush=True)
            for title, fn in STEPS:
                started = time.perf_counter()
                print(f"==> {title} ...", flush=True)
                fn(ctx)
                print(f"    done in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        instance.dispose()  # stop the instance's storage watchers before the interpreter exits
    report = summary(home)
    if ctx.notes:
        report += "\n\n" + "\n".join(ctx.notes)
    ui = "make ui INSTANCE=postgres" if "postgres" in Path(os.environ.get(INSTANCE_YAML_ENV, "")).name else "make ui"
    return report + f"\n\nSee the runs, assets and partitions with `{ui}` (http://127.0.0.1:3000)."


def _command(args: argparse.Namespace) -> int:
    if args.days < 1 or args.stream_days < 0:
        print("error: --days must be >= 1 and --stream-days >= 0 (e.g. --days 3 --stream-days 1)", file=sys.stderr)
        return 2
    print(run_demo(batch_days=args.days, stream_days=args.stream_days))
    sys.stdout.flush()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="materialize dimensions and a few days, record the runs, print rows per table per day"
    )
    parser.add_argument("--days", type=int, default=DEFAULT_BATCH_DAYS, help="Bronze batch days from the start date")
    parser.add_argument(
        "--stream-days", type=int, default=DEFAULT_STREAM_DAYS, help="days after those for the streaming step (if present)"
    )
    parser.set_defaults(func=_command)
