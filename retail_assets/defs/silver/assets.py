"""The Silver fact assets (group ``silver``), one factory over the contract tables.

Each asset builds its day (Bronze batch partition ∪ mapped Bronze event rows) on the configured
engine, evaluates its check groups with DuckDB, and commits the partition only when no blocking
check failed (``retail_assets.silver.materialize``). Check specs are per day
(``partitions_def=daily_partitions``); C1 and C2 are ``blocking`` so a failure stops downstream.
"""

from collections.abc import Iterator
from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from retail_assets.contract.mappings import SILVER_MAPPINGS
from retail_assets.contract.tables import FACT_TABLES, fact_spec, silver_spec
from retail_assets.defs.check_results import to_asset_check_result
from retail_assets.defs.keys import BRONZE_BATCH_KEYS, BRONZE_EVENT_KEYS, SILVER_GROUP, SILVER_KEYS
from retail_assets.defs.ops_health import with_silver_freshness
from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.resources import RetailSettings
from retail_assets.defs.silver.gate import require_complete_day
from retail_assets.defs.silver.resources import SilverConfig, SilverSparkResource
from retail_assets.lake.ledger import Ledger
from retail_assets.silver.checks import (
    BLOCKING_GROUPS,
    GROUP_DESCRIPTIONS,
    SCHEMA_EQUALITY,
    CheckContext,
    CheckResult,
    groups_for,
    silver_parents,
)
from retail_assets.silver.engines import DuckDBEngine, SparkEngine
from retail_assets.silver.materialize import build_check_commit


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


def build_silver_asset(table: str) -> dg.AssetsDefinition:
    key = SILVER_KEYS[table]
    check_specs = [
        dg.AssetCheckSpec(
            name=group,
            asset=key,
            description=GROUP_DESCRIPTIONS[group],
            blocking=group in BLOCKING_GROUPS,
            partitions_def=daily_partitions,
        )
        for group in groups_for(table)
    ]
    sources = ", ".join(s.event_type for s in SILVER_MAPPINGS[table].sources) or "none (batch only)"

    @dg.asset(
        key=key,
        group_name=SILVER_GROUP,
        description=f"{silver_spec(table).qualified_name}: {fact_spec(table).qualified_name} ∪ mapped stream rows ({sources}), plus _source",
        partitions_def=daily_partitions,
        deps=silver_deps(table),
        check_specs=check_specs,
        kinds={"delta", "duckdb"},
        metadata={"dagster/table_name": silver_spec(table).qualified_name, "columns": len(silver_spec(table).columns)},
    )
    def _silver(
        context: dg.AssetExecutionContext,
        retail_settings: RetailSettings,
        silver_config: SilverConfig,
        silver_duckdb: DuckDBResource,
        silver_spark: SilverSparkResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        day = date.fromisoformat(context.partition_key)
        home = retail_settings.home_settings()
        require_complete_day(Ledger(home.state_dir), day, silver_spec(table).qualified_name)
        engine_name = silver_config.engine_name()
        ctx = CheckContext(
            lake_root=retail_settings.home_settings().lake_root,
            dataset_id=retail_settings.dataset().dataset_id,
            fail_on_schema_mismatch=silver_config.fail_on_mismatch(),
        )
        with silver_duckdb.get_connection() as conn:
            engine = SparkEngine(silver_spark.spark_session) if engine_name == "spark" else DuckDBEngine(conn)
            outcome = build_check_commit(engine, conn, ctx, table, day)
        for note in outcome.build.notes:
            context.log.info(f"{table} {day}: {note}")

        def advice(r: CheckResult) -> str:
            failed_schema = r.name == SCHEMA_EQUALITY and not r.passed
            return schema_mismatch_advice(table, day, outcome.written) if failed_schema else ""

        if not outcome.written:
            for r in outcome.results:
                yield to_asset_check_result(r, key, advice(r))
            failed = "; ".join(f"{r.name}: {r.description}" for r in outcome.blocking_failures)
            raise dg.Failure(
                description=f"{silver_spec(table).qualified_name} {day} was not written because a blocking check failed: {failed}",
                metadata={"blocking_checks": [r.name for r in outcome.blocking_failures]},
            )
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "dagster/row_count": outcome.build.data.num_rows,
                "batch_rows": outcome.build.batch_rows,
                "stream_rows": outcome.build.stream_rows,
                "engine": engine_name,
                "stream_included": outcome.build.stream_included,
                "uri": outcome.uri,
                "build_seconds": round(outcome.build_seconds, 3),
                "check_seconds": round(outcome.check_seconds, 3),
            },
        )
        for r in outcome.results:
            yield to_asset_check_result(r, key, advice(r))

    return _silver


SILVER_ASSETS: list[dg.AssetsDefinition] = with_silver_freshness([build_silver_asset(t) for t in FACT_TABLES])
