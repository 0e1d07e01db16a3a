"""Generate one day of all 18 fact tables and the end-of-day state (contract §8.3).

``generate_day(settings, dims, prev_state, day)`` is a pure function of its inputs: it runs the
in-store simulation (``store_day.StoreDay``) inside the day's logistics (``logistics.LogisticsDay``:
the shared store posting chain, DCs, reviews, trucks, online orders), adds marketing impressions and
campaign attribution, and returns the 18 tables with exactly their contract schemas, each sorted by
(event_ts, primary key), together with the state of D. Same settings + same D + same state of D−1
give byte-identical tables in any process and in any order of days (§8.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.config import DatasetSettings
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.generate import dims_cache, marketing
from retail_assets.generate.logistics import LogisticsDay
from retail_assets.generate.state import CarryState, StateError
from retail_assets.generate.store_context import StoreContext
from retail_assets.generate.store_day import StoreDay, final_sale_sources
from retail_assets.generate.table_build import sort_fact_table


@dataclass(frozen=True)
class DayResult:
    """All 18 fact tables of ``day`` (FACT_TABLES order, contract schemas) and the state of ``day``."""

    day: date
    tables: dict[str, pa.Table]
    state: CarryState

    @property
    def row_count(self) -> int:
        return sum(t.num_rows for t in self.tables.values())


def store_context(dims: dict[str, pa.Table]) -> StoreContext:
    """The numpy view of the dims, cached per set of dimension tables (a backfill reuses it daily)."""
    return dims_cache.derived("StoreContext", dims, StoreContext.from_dims)


def generate_day(
    settings: DatasetSettings,
    dims: dict[str, pa.Table],
    prev_state: CarryState,
    day: date,
    chain_rows: bool = True,
) -> DayResult:
    """Generate day ``day`` from the state of ``day − 1``.

    ``dims`` may be a shard's view (``shards.shard_dims``) with ``prev_state`` that shard's state;
    ``chain_rows=False`` then leaves out the rows that belong to no DC (marketing impressions),
    which shard 0 makes (§8.5).

    Raises ``StateError`` when ``prev_state`` is not the state of the previous day (a fresh state is
    never substituted, §8.3): materialise the missing predecessor first.
    """
    expected = day - timedelta(days=1)
    if prev_state.state_date != expected:
        raise StateError(
            f"generating {day} needs the state of {expected}, but the given state is of {prev_state.state_date}; "
            f"materialise day {expected} first (or pass initial_state(...) when {day} is start_date)."
        )
    if day < settings.start_date:
        raise StateError(f"day {day} is before start_date {settings.start_date}; pick a day on or after it.")
    ctx = store_context(dims)
    logistics = LogisticsDay(settings, dims, prev_state, day, ctx)
    store = StoreDay(settings, ctx, day, logistics, logistics.schedule_due("RETURN_VISIT"))
    store.run_until(24)
    instore = store.finish(
        attribute=lambda customers, ts: marketing.attribute_receipts(settings, dims, day, customers, ts)
    )
    logistics.add_schedule(instore.return_schedule)
    result = logistics.finish()

    tables = dict(instore.tables)
    tables.update(result.tables)
    tables["fact_store_inventory_txn"] = final_sale_sources(
        result.tables["fact_store_inventory_txn"], instore.provisional_sources, instore.receipt_ids
    )
    tables["fact_payments"] = pa.concat_tables([instore.tables["fact_payments"], result.online_payments])
    tables["fact_marketing"] = (
        marketing.impressions_for_day(settings, dims, day)
        if chain_rows
        else FACT_TABLES["fact_marketing"].arrow_schema.empty_table()
    )
    return DayResult(day=day, tables=finalize_tables(tables, day), state=result.state)


def finalize_tables(tables: dict[str, pa.Table], day: date) -> dict[str, pa.Table]:
    """All 18 tables in FACT_TABLES order, cast to their exact schema, sorted, checked to lie in ``day``.

    A table a part did not produce is an error (not an empty table): every table has a producer.
    """
    out: dict[str, pa.Table] = {}
    day_value = pa.scalar(day, pa.date32())
    for name, spec in FACT_TABLES.items():
        if name not in tables:
            raise KeyError(f"no producer returned {name}")
        t = tables[name]
        schema = spec.arrow_schema
        if t.schema.names != schema.names:
            raise ValueError(f"{name}: columns {t.schema.names} differ from the contract {schema.names}")
        if not t.schema.equals(schema):
            t = t.cast(schema)
        t = sort_fact_table(name, t.combine_chunks())
        if t.num_rows and not pc.all(pc.equal(t.column("event_date"), day_value)).as_py():
            bad = pc.unique(t.column("event_date")).to_pylist()
            raise ValueError(f"{name}: rows with event_date {bad} generated for day {day}")
        out[name] = t
    return out


__all__ = ["DayResult", "finalize_tables", "generate_day"]
