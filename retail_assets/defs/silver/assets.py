"""The Silver fact tables ``ag/fact_*`` (group ``silver``) as ONE subsettable multi-asset, ``silver_facts``.

Why one multi-asset and not one asset per table: a Silver day is seconds of compute, and Dagster's
per-step cost (a step per table, outputs, planned and evaluated checks — about 500 events and 18
sequential steps per day) dominated it several times over. Here a day, or a contiguous range of
days, of every selected table is ONE step: the UI still shows one asset per table with its own
checks, and each table-day still gets its own materialization and check evaluations (per partition).

* ``can_subset=True`` and skippable specs: any subset of tables can be materialized; nothing is
  reported for a table-day that was not written (no implicit outputs).
* ``BackfillPolicy.single_run()``: a UI backfill or ``dagster asset materialize --partition-range``
  over N days is one run, processed day by day in date order (cross-day rules read earlier days).
* Within a day, tables go parents first (``build_order``): a child's relationship checks read its
  parent's Silver partition of the same day.
* Failures are isolated per table-day (``silver.run.run_silver``); the step fails at the end,
  naming every table-day that was not written.

The complete-day gate (``gate.require_complete_days``) runs before anything is read: a range that
contains a day that is not fully landed is refused as a whole, with nothing written.
"""

from collections.abc import Iterator
from contextlib import closing
from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from retail_assets.contract.mappings import SILVER_MAPPINGS
from retail_assets.contract.tables import FACT_TABLES, fact_spec, silver_spec
from retail_assets.defs.check_results import to_asset_check_evaluation
from retail_assets.defs.keys import BRONZE_BATCH_KEYS, BRONZE_EVENT_KEYS, SILVER_GROUP, SILVER_KEYS
from retail_assets.defs.ops_health import with_silver_freshness
from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.resources import RetailSettings
from retail_assets.defs.silver.gate import require_complete_days
from retail_assets.defs.silver.resources import SilverConfig, SilverSparkResource
from retail_assets.lake.ledger import Ledger
from retail_assets.silver.checks import (
    BLOCKING_GROUPS,
    GROUP_DESCRIPTIONS,
    SCHEMA_EQUALITY,
    CheckContext,
    CheckResult,
    build_order,
    groups_for,
    silver_parents,
)
from retail_assets.silver.run import TableDayOutcome, not_written_summary, run_silver

SILVER_FACTS = "silver_facts"


def silver_deps(table: str) -> list[dg.AssetKey]:
    events = [BRONZE_EVENT_KEYS[s.event_type] for s in SILVER_MAPPINGS[table].sources]
    return [BRONZE_BATCH_KEYS[table], *events, *(SILVER_KEYS[p] for p in silver_parents(table))]


def schema_mismatch_advice(table: str, day: date, written: bool) -> str:
    """What a failed C1 did to the day and what to do about it (appended to the check's description)."""
    effect = (
        "The day fell back to batch only: the stream rows were left out of Silver (WARN mode)."
        if written
        else f"Nothing was written for {silver_spec(table).qualified_name} {day} (FAIL_ON_SCHEMA_MISMATCH=true)."
    )
    return (
        f" {effect} Fix: make the producer send the contract's columns and types (contract §5.5), or fix the "
        "mapping in retail_assets/contract/mappings.py; then re-materialize the partition "
        f"{silver_spec(table).key_string} {day.isoformat()}."
    )


def silver_asset_spec(table: str) -> dg.AssetSpec:
    sources = ", ".join(s.event_type for s in SILVER_MAPPINGS[table].sources) or "none (batch only)"
    silver = silver_spec(table)
    return dg.AssetSpec(
        key=SILVER_KEYS[table],
        group_name=SILVER_GROUP,
        description=f"{silver.qualified_name}: {fact_spec(table).qualified_name} ∪ mapped stream rows ({sources}), plus _source",
        deps=silver_deps(table),
        kinds={"delta", "duckdb"},
        metadata={"dagster/table_name": silver.qualified_name, "columns": len(silver.columns)},
        skippable=True,
    )


def silver_check_specs(table: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            name=group,
            asset=SILVER_KEYS[table],
            description=GROUP_DESCRIPTIONS[group],
            blocking=group in BLOCKING_GROUPS,
            partitions_def=daily_partitions,
        )
        for group in groups_for(table)
    ]


def table_day_events(
    outcome: TableDayOutcome, engine_name: str
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    """The events of one table-day: its materialization (when written), then one evaluation per check."""
    key, day, partition = SILVER_KEYS[outcome.table], outcome.day, outcome.day.isoformat()
    result = outcome.result
    if result is None:  # the build itself raised: nothing to report but the failure
        return
    if result.written:
        build = result.build
        yield dg.AssetMaterialization(
            asset_key=key,
            partition=partition,
            metadata={
                "dagster/row_count": build.data.num_rows,
                "batch_rows": build.batch_rows,
                "stream_rows": build.stream_rows,
                "engine": engine_name,
                "stream_included": build.stream_included,
                "uri": result.uri,
                "build_seconds": round(result.build_seconds, 3),
                "check_seconds": round(result.check_seconds, 3),
                "write_seconds": round(result.write_seconds, 3),
            },
        )

    def advice(r: CheckResult) -> str:
        failed_schema = r.name == SCHEMA_EQUALITY and not r.passed
        return schema_mismatch_advice(outcome.table, day, result.written) if failed_schema else ""

    for r in result.results:
        yield to_asset_check_evaluation(r, key, advice(r), partition=partition, blocking=r.name in BLOCKING_GROUPS)


def day_notes_line(outcomes: list[TableDayOutcome]) -> str:
    """The build notes of one day's table-days as ONE log line (e.g. which event tables do not exist yet).

    Why one line per day and not one per note: every log line is an event the run worker writes to
    the instance (a SQLite commit per event by default), and a batch day has a note for nearly every
    table. Each note is also in the ``schema_equality`` evaluation's ``notes`` metadata of its table-day.
    """
    day = outcomes[0].day.isoformat()
    return f"Silver {day} build notes: " + "; ".join(f"{o.table}: {n}" for o in outcomes for n in o.notes)


def build_silver_facts() -> dg.AssetsDefinition:
    """The multi-asset (built by a function so that tests and the module export do not register twice)."""

    @dg.multi_asset(
        name=SILVER_FACTS,
        specs=[silver_asset_spec(t) for t in FACT_TABLES],
        check_specs=[spec for t in FACT_TABLES for spec in silver_check_specs(t)],
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
        description="Every Silver fact table, a day or a range of days in one step (see the module docstring).",
    )
    def silver_facts(
        context: dg.AssetExecutionContext,
        retail_settings: RetailSettings,
        silver_config: SilverConfig,
        silver_duckdb: DuckDBResource,
        silver_spark: SilverSparkResource,
    ) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
        days = [date.fromisoformat(k) for k in context.partition_keys]
        selected = context.selected_asset_keys
        tables = [t for t in build_order() if SILVER_KEYS[t] in selected]
        home = retail_settings.home_settings()
        what = silver_spec(tables[0]).qualified_name if len(tables) == 1 else f"Silver ({len(tables)} tables)"
        require_complete_days(Ledger(home.state_dir), days, what)
        engine_name = silver_config.engine_name()
        check_context = CheckContext(
            lake_root=home.lake_root,
            dataset_id=retail_settings.dataset(whole_day=False).dataset_id,
            fail_on_schema_mismatch=silver_config.fail_on_mismatch(),
        )
        spark = (lambda: silver_spark.spark_session) if engine_name == "spark" else None
        outcomes: list[TableDayOutcome] = []
        notes: list[TableDayOutcome] = []
        with silver_duckdb.get_connection() as database:
            # each table-day gets a connection of its own to the run's one database (see run_silver)
            for outcome in run_silver(check_context, tables, days, lambda: closing(database.cursor()), spark):
                if notes and notes[-1].day != outcome.day:
                    context.log.info(day_notes_line(notes))
                    notes = []
                outcomes.append(outcome)
                if outcome.notes:
                    notes.append(outcome)
                if outcome.error:
                    context.log.error(f"{outcome.label} was not written: {outcome.error}")
                yield from table_day_events(outcome, engine_name)
        if notes:
            context.log.info(day_notes_line(notes))
        failed = [o for o in outcomes if not o.written]
        if failed:
            raise dg.Failure(
                description=not_written_summary(failed, len(outcomes)),
                metadata={"not_written": [o.label for o in failed]},
            )

    return silver_facts


SILVER_ASSETS: list[dg.AssetsDefinition] = with_silver_freshness([build_silver_facts()])
