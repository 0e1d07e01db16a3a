"""Shards of a day: a DC, its stores and its trucks, generated on their own (contract §8.5).

Why DCs are the seam: everything a store does couples it to its DC (truck visits, the allocation
at 23:00, online orders of its customers, which ship from the store or its DC), and nothing couples
two DCs once model 4 gave each DC its own online stream and its own supplier slots. A shard is a
set of whole DCs; every random stream is keyed by a store, DC, truck, shipment or campaign id,
never by a shard's position, so 1, 3 or 64 shards give the same rows. Chain-wide rows without a
store (marketing impressions) belong to shard 0.

The state of a shard is the rows of its stores and DCs plus the schedule actions whose home DC is
one of its own; ``split_state`` and ``merge_states`` convert between the chain's state and the
shards' states, so any shard count can continue any other's days.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.config import DatasetSettings
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.generate import dims_cache
from retail_assets.generate.state import CarryState, empty_schedule, schedule_home_dc, sort_schedule


@dataclass(frozen=True)
class Shard:
    """Whole DCs generated together; shard 0 also owns the chain-wide rows."""

    index: int
    dc_ids: tuple[int, ...]

    @property
    def owns_chain_rows(self) -> bool:
        return self.index == 0


STORES_PER_SHARD = 90
"""Stores in a shard when the count is chosen for the caller (about scale factor 1, ≈ 1 GiB of a
streamed shard's peak): small enough that memory stays flat as the chain grows, large enough that
the per-shard costs (state read, staged files, commit actions) stay a small part of a day."""


def shard_count_for(stores: int, stores_per_shard: int = STORES_PER_SHARD) -> int:
    """Shards that keep each at about ``stores_per_shard`` stores (1 for a chain of that size or less)."""
    return max(1, -(-stores // max(1, stores_per_shard)))


def plan_shards(dims: dict[str, pa.Table], n_shards: int) -> list[Shard]:
    """At most ``n_shards`` shards of consecutive DC ids with about equal numbers of stores.

    The split only decides which rows are made together, never what they are.
    """
    if n_shards < 1:
        raise ValueError(f"n_shards must be at least 1, got {n_shards}")
    dc_ids = np.sort(dims["dim_distribution_centers"].column("dc_id").to_numpy().astype(np.int64))
    store_dc = dims["dim_stores"].column("dc_id").to_numpy().astype(np.int64)
    weight = np.array([1 + int((store_dc == d).sum()) for d in dc_ids], dtype=np.int64)
    n = min(n_shards, len(dc_ids))
    cut = np.searchsorted(np.cumsum(weight), np.arange(1, n) * weight.sum() / n, side="left") + 1
    bounds = np.unique(np.clip(np.concatenate(([0], cut, [len(dc_ids)])), 0, len(dc_ids)))
    return [
        Shard(i, tuple(int(x) for x in dc_ids[a:b]))
        for i, (a, b) in enumerate(pairwise(bounds.tolist()))
    ]


def shard_dims(dims: dict[str, pa.Table], shard: Shard) -> dict[str, pa.Table]:
    """The dimension tables as a shard sees them: its DCs, their stores and DC->store trucks.

    Products, customers, geographies and the supplier fleet stay whole (a store sells every
    product and serves any customer). Memoised per dims identity so a backfill reuses it.
    """
    return dims_cache.derived(f"shard_dims{shard.dc_ids}", dims, lambda d: _subset(d, shard.dc_ids))


def _subset(dims: dict[str, pa.Table], dc_ids: tuple[int, ...]) -> dict[str, pa.Table]:
    wanted = pa.array(dc_ids, type=pa.int64())
    out = dict(dims)
    out["dim_distribution_centers"] = dims["dim_distribution_centers"].filter(
        pc.is_in(dims["dim_distribution_centers"].column("dc_id").cast(pa.int64()), wanted)
    )
    out["dim_stores"] = dims["dim_stores"].filter(
        pc.is_in(dims["dim_stores"].column("dc_id").cast(pa.int64()), wanted)
    )
    trucks = dims["dim_trucks"]
    own = pc.is_in(trucks.column("dc_id").cast(pa.int64()), wanted)
    supplier = pc.equal(trucks.column("fleet"), "SUPPLIER")
    out["dim_trucks"] = trucks.filter(pc.or_(pc.fill_null(own, False), supplier))
    return out


def split_state(state: CarryState, dims: dict[str, pa.Table], shard: Shard) -> CarryState:
    """The part of the chain's ``state`` that ``shard`` carries (its locations and actions)."""
    sub = shard_dims(dims, shard)
    store_ids = np.sort(sub["dim_stores"].column("store_id").to_numpy().astype(np.int64))
    dc_ids = np.asarray(shard.dc_ids, dtype=np.int64)
    s_idx = np.searchsorted(state.store_ids, store_ids)
    d_idx = np.searchsorted(state.dc_ids, dc_ids)
    if not (np.array_equal(state.store_ids[s_idx], store_ids) and np.array_equal(state.dc_ids[d_idx], dc_ids)):
        raise ValueError(f"the state does not hold every store and DC of shard {shard.index}")
    home = schedule_home_dc(state.schedule, _store_dc(dims))
    schedule = state.schedule.filter(pa.array(np.isin(home, dc_ids)))
    store_dc_ids = None if state.store_dc_ids is None else state.store_dc_ids[s_idx]
    return CarryState(
        state_date=state.state_date,
        store_on_hand=state.store_on_hand[s_idx],
        store_in_transit=state.store_in_transit[s_idx],
        store_carried=state.store_carried[s_idx],
        store_reorder_point=state.store_reorder_point[s_idx],
        store_max_stock=state.store_max_stock[s_idx],
        store_last_stockout_ts=state.store_last_stockout_ts[s_idx],
        dc_on_hand=state.dc_on_hand[d_idx],
        dc_on_order=state.dc_on_order[d_idx],
        dc_reorder_point=state.dc_reorder_point[d_idx],
        dc_max_stock=state.dc_max_stock[d_idx],
        dc_last_stockout_ts=state.dc_last_stockout_ts[d_idx],
        schedule=schedule if schedule.num_rows else empty_schedule(),
        store_ids=store_ids,
        dc_ids=dc_ids,
        store_dc_ids=store_dc_ids,
    )


def merge_states(parts: list[CarryState]) -> CarryState:
    """The chain's state from the states of disjoint shards (locations in id order)."""
    if not parts:
        raise ValueError("merge_states needs at least one shard state")
    dates = {p.state_date for p in parts}
    if len(dates) != 1:
        raise ValueError(f"shard states of different days {sorted(dates)} cannot be merged")
    store_ids = np.concatenate([p.store_ids for p in parts])
    dc_ids = np.concatenate([p.dc_ids for p in parts])
    s_order, d_order = np.argsort(store_ids, kind="stable"), np.argsort(dc_ids, kind="stable")
    if len(np.unique(store_ids)) != len(store_ids) or len(np.unique(dc_ids)) != len(dc_ids):
        raise ValueError("shard states overlap: a store or DC is in two shards")

    def cat(name: str, order: np.ndarray) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])[order]

    return replace(
        parts[0],
        store_on_hand=cat("store_on_hand", s_order),
        store_in_transit=cat("store_in_transit", s_order),
        store_carried=cat("store_carried", s_order),
        store_reorder_point=cat("store_reorder_point", s_order),
        store_max_stock=cat("store_max_stock", s_order),
        store_last_stockout_ts=cat("store_last_stockout_ts", s_order),
        dc_on_hand=cat("dc_on_hand", d_order),
        dc_on_order=cat("dc_on_order", d_order),
        dc_reorder_point=cat("dc_reorder_point", d_order),
        dc_max_stock=cat("dc_max_stock", d_order),
        dc_last_stockout_ts=cat("dc_last_stockout_ts", d_order),
        schedule=sort_schedule(pa.concat_tables([p.schedule for p in parts])),
        store_ids=store_ids[s_order],
        dc_ids=dc_ids[d_order],
        store_dc_ids=None if any(p.store_dc_ids is None for p in parts) else cat("store_dc_ids", s_order),
    )


def merge_tables(parts: list[dict[str, pa.Table]], day: date) -> dict[str, pa.Table]:
    """One table per fact table from the shards' tables, in the contract's (event_ts, key) order."""
    from retail_assets.generate.day import finalize_tables

    return finalize_tables({name: pa.concat_tables([p[name] for p in parts]) for name in FACT_TABLES}, day)


def _store_dc(dims: dict[str, pa.Table]) -> dict[int, int]:
    stores = dims["dim_stores"]
    return dict(
        zip(
            stores.column("store_id").to_numpy().astype(np.int64).tolist(),
            stores.column("dc_id").to_numpy().astype(np.int64).tolist(),
            strict=True,
        )
    )


def generate_day_in_shards(
    settings: DatasetSettings, dims: dict[str, pa.Table], prev_state: CarryState, day: date, n_shards: int
):
    """``generate_day`` made shard by shard in this process and merged (the reference for any
    distributed run: it must give the same tables and state as one shard)."""
    from retail_assets.generate.day import DayResult, generate_day

    results = [
        generate_day(
            settings, shard_dims(dims, sh), split_state(prev_state, dims, sh), day, chain_rows=sh.owns_chain_rows
        )
        for sh in plan_shards(dims, n_shards)
    ]
    return DayResult(
        day=day,
        tables=merge_tables([r.tables for r in results], day),
        state=merge_states([r.state for r in results]),
    )


__all__ = [
    "Shard",
    "generate_day_in_shards",
    "merge_states",
    "merge_tables",
    "plan_shards",
    "schedule_home_dc",
    "shard_dims",
    "split_state",
]
