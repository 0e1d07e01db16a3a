"""Dimension assets and the Bronze batch assets, one per contract fact table (keys: ``defs/keys.py``).

Shell only: the work is ``retail_assets.pipeline``. Why one ``multi_asset`` for all facts: a day
is generated as a whole (the tables share visits, baskets, stock and trucks), so its partitions of
every fact table are produced together or not at all. Each spec depends on its own previous partition, which shows
the D−1 → D state chain in the graph; Dagster does not enforce it, the pipeline does (missing D−1
state -> ``dg.Failure`` naming the backfill to run). Backfills run as one run over the range
(``BackfillPolicy.single_run``) in date order; each finished day is reported at once as an
``AssetMaterialization`` (specs are ``skippable``), so a failure on day k keeps days < k recorded.
Each finished day logs a progress line (days done, rows/s, ETA; ``backfill.progress``) to the run's
log and to the Python logger that ``retail-assets backfill`` prints.
"""

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from retail_assets import pipeline, sharded_pipeline
from retail_assets.backfill.progress import BackfillProgress, progress_logger
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.defs.generation.metadata import table_metadata, table_schema
from retail_assets.defs.generation.one_at_a_time import GENERATION_POOL, ledger_owner, refusal
from retail_assets.defs.keys import BRONZE_BATCH_GROUP, BRONZE_BATCH_KEYS, DIM_KEYS, DIMENSIONS_GROUP
from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.resources import RetailSettings
from retail_assets.lake.ledger import Ledger, ledger_path
from retail_assets.lake.paths import table_uri

_TABLE_OF_KEY = {key: name for name, key in BRONZE_BATCH_KEYS.items()}

PREVIOUS_DAY = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


def resolve_settings(retail_settings: RetailSettings) -> tuple[DatasetSettings, HomeSettings]:
    """Settings from the resource; a bad variable fails the run (not code loading) with its fix.

    The scale factor is checked against the dimension step's memory, not a whole day's: a day of a
    chain larger than one shard is made in shards, and a path that makes a day in one piece checks
    the whole-day memory itself (``sharded_pipeline.day_shard_count``). With the whole-day check
    here, a sf-25 chain on a 24 GiB machine could not even build its dimensions or run upkeep."""
    try:
        return retail_settings.dataset(whole_day=False), retail_settings.home_settings()
    except pipeline.USER_FIXABLE_ERRORS as exc:
        raise dg.Failure(description=str(exc)) from exc


def ledger_for(home: HomeSettings, ledger_duckdb: DuckDBResource) -> Ledger:
    """The ledger through the ``DuckDBResource``, which must point at this home's ledger file."""
    expected = ledger_path(home.state_dir).resolve()
    if Path(ledger_duckdb.database).resolve() != expected:
        raise dg.Failure(
            description=(
                f"the ledger_duckdb resource points at {ledger_duckdb.database}, but RETAIL_ASSETS_HOME's "
                f"ledger is {expected}; configure both from the same RETAIL_ASSETS_HOME."
            )
        )
    return Ledger(home.state_dir, connect=ledger_duckdb.get_connection)


# --- dimensions ------------------------------------------------------------------------------------


@dg.multi_asset(
    name="dimensions",
    specs=[
        dg.AssetSpec(
            key,
            group_name=DIMENSIONS_GROUP,
            description=DIMENSION_TABLES[name].description or DIMENSION_TABLES[name].qualified_name,
            kinds={"delta", "python"},
            metadata={"dagster/column_schema": table_schema(DIMENSION_TABLES[name])},
        )
        for name, key in DIM_KEYS.items()
    ],
)
def dimensions(context: dg.AssetExecutionContext, retail_settings: RetailSettings) -> Iterator[dg.MaterializeResult]:
    """Build every dimension for the configured dataset and replace its Bronze table."""
    settings, home = resolve_settings(retail_settings)
    try:
        rows = pipeline.build_and_write_dimensions(home, settings)
    except pipeline.USER_FIXABLE_ERRORS as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.log.info(f"{len(rows)} dimensions of {settings.dataset_id} written under {home.lake_root}")
    for name, key in DIM_KEYS.items():
        uri = table_uri(home.lake_root, DIMENSION_TABLES[name])
        yield dg.MaterializeResult(
            asset_key=key,
            metadata=table_metadata(DIMENSION_TABLES[name], rows[name], uri, settings.dataset_id),
        )


# --- Bronze batch ----------------------------------------------------------------------------------


@dg.multi_asset(
    name="bronze_batch",
    specs=[
        dg.AssetSpec(
            key,
            group_name=BRONZE_BATCH_GROUP,
            description=FACT_TABLES[name].description or FACT_TABLES[name].qualified_name,
            deps=[dg.AssetDep(key, partition_mapping=PREVIOUS_DAY), *DIM_KEYS.values()],
            skippable=True,
            kinds={"delta", "python"},
            metadata={"dagster/column_schema": table_schema(FACT_TABLES[name])},
        )
        for name, key in BRONZE_BATCH_KEYS.items()
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=GENERATION_POOL,
)
def bronze_batch(
    context: dg.AssetExecutionContext, retail_settings: RetailSettings, ledger_duckdb: DuckDBResource
) -> Iterator[dg.Output]:
    """Generate each requested day in date order and replace its partition of every fact table.

    A chain larger than one shard (``sharded_pipeline.day_shard_count``: about sf 1 and up) makes
    each day in shards, one after another in this process, so memory is one shard's at any scale
    factor and a year of sf-30 days runs as one backfill here too (``sharded_generation_job``
    spreads a day's shards over worker processes instead). The rows are the same either way."""
    settings, home = resolve_settings(retail_settings)
    ledger = ledger_for(home, ledger_duckdb)
    owner = ledger_owner(context.run.run_id)
    days = sorted(date.fromisoformat(k) for k in context.partition_keys)
    try:
        n_shards = sharded_pipeline.day_shard_count(home, settings)
        dims = pipeline.load_dimensions(home, settings) if n_shards == 1 else None
    except pipeline.USER_FIXABLE_ERRORS as exc:
        raise dg.Failure(description=str(exc)) from exc
    selected = [k for k in context.selected_asset_keys if k in _TABLE_OF_KEY]
    made_in = "in one piece" if n_shards == 1 else f"in {n_shards} shards each, one after another"
    context.log.info(
        f"generating {len(days)} day(s) {days[0].isoformat()}..{days[-1].isoformat()} in date order, "
        f"{made_in} ({settings.dataset_id})"
    )
    progress = BackfillProgress(total_days=len(days))
    for day in days:
        try:
            if dims is not None:
                written: dict[str, pa.Table | int] = dict(
                    pipeline.generate_and_write_day(home, settings, day, "batch", owner=owner, ledger=ledger, dims=dims).tables
                )
            else:
                written = dict(
                    sharded_pipeline.generate_and_write_day_sharded(home, settings, day, owner, n_shards, ledger=ledger)
                )
        except pipeline.USER_FIXABLE_ERRORS as exc:
            raise refusal(exc, day, context.instance, days_done=days.index(day)) from exc
        for key in selected:
            name = _TABLE_OF_KEY[key]
            uri = table_uri(home.lake_root, FACT_TABLES[name])
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=key,
                    partition=day.isoformat(),
                    metadata=table_metadata(FACT_TABLES[name], written[name], uri, settings.dataset_id, "batch"),
                )
            )
        rows = sum(t if isinstance(t, int) else t.num_rows for t in written.values())
        del written  # the only reference to the day's tables: freed before the next day is generated
        line = progress.day_done(day, rows)
        context.log.info(line)
        progress_logger().info(line)
    yield from ()
