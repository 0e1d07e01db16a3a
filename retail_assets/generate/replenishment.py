"""Store and DC replenishment (contract §7.9, §7.10): reviews, reorders, allocation, picking,
DC-to-store trucks, supplier deliveries and slot booking, plus daily cycle counts and damage.

Everything that happens after the day being generated is written as schedule actions (§8.3) and
emitted on its own day by ``due_truck_rows`` / ``due_receiving``: a shipment allocated at 23:00 of
D departs at 04:00 of D+1, a supplier delivery booked on D arrives on D+2 or later. Bodies hold
pre-computed rows (truck moves) or the lines of a shipment (loading, unloading, receiving), so a
day never recomputes another day's draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.config import DatasetSettings
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.generate import calendar as cal
from retail_assets.generate import dims_cache, ids
from retail_assets.generate import inventory as inv
from retail_assets.generate.customer_index import CustomerLookup
from retail_assets.generate.dimensions import dimension_sizes
from retail_assets.generate.inventory import TxnBatch
from retail_assets.generate.rng import rng
from retail_assets.generate.state import (
    RECEIPTS_PER_STORE_DAY,
    UNITS_PER_RECEIPT,
    CarryState,
    canonical_json,
    decode_bodies,
    make_schedule,
)
from retail_assets.generate.store_context import StoreContext, customer_index, day_ordinal, location_index

US_MIN = cal.US_PER_MINUTE
US_H = cal.US_PER_HOUR

# §7.9 / §7.10 parameters (rules as data)
REVIEW_HOUR = 23
PICK_OFFSET_US = 23 * US_H + 30 * US_MIN
WAVE1_DEPART_US = 4 * US_H
WAVE2_EARLIEST_US = 12 * US_H
WAVE2_TURNAROUND_US = 30 * US_MIN
TRAVEL_FACTOR = (0.90, 1.25)
UNLOAD_FACTOR = (0.85, 1.30)
UNLOAD_BASE_MIN, UNLOAD_VAR_MIN = 30, 90
# Model 3 (issue 12): a store visit whose load exceeds one truck gets back-to-back trips of the
# same truck, as many as fit before the next morning (trips_allowed), at most this many per wave.
MAX_TRIPS_PER_WAVE = 3
# Model 3: a DC review scales its reorder point and order-up-to level by the demand uplift of the
# next DC_UPLIFT_DAYS (the stores' coming reviews draw on it); model 2 kept them flat, so the DC ran
# short (3-10 % of requested units) when the stores' uplifted orders arrived in late November.
DC_UPLIFT_DAYS = 16
PRIORITIES = ("NORMAL", "HIGH", "URGENT")
SUPPLIER_REVIEW_HOUR = 22
SUPPLIER_SLOTS_H = (6, 10, 14, 18)
SUPPLIER_LEAD_DAYS = 2
SUPPLIER_JITTER_US = 45 * US_MIN
SUPPLIER_PACK_FACTOR = 10
# cycle counts and damage (§7.8)
ADJ_STORE_P, ADJ_STORE_K = 0.10, (1, 3)
ADJ_DC_P, ADJ_DC_K = 0.10, (1, 5)
ADJ_QTY = (-5, 5)
ADJ_START_US, ADJ_WINDOW_US = 22 * US_H, 1800 * cal.US_PER_SECOND
DAMAGE_P, DAMAGE_QTY = 1.0, (1, 3)
# Shrink (model 2, issue 12): NRF puts retail shrink at 1.4-1.6 % of sales. Every open day each store
# writes off (damage, spoilage, theft found at count) about DAMAGE_UNIT_SHARE of its expected sold
# units: U{K/2 .. 3K/2} distinct products of mean quantity 2, K scaled by the store's traffic. Model 1
# damaged 1-2 products on 5 % of days (0.002 % of sales), far below any real store.
DAMAGE_UNIT_SHARE = 0.0175  # tuned so shrink/sales lands ≈ 1.5 % (units are capped at on-hand)


@dataclass(frozen=True)
class Network:
    """The static logistics network: stores, DCs, trucks and product handling attributes."""

    start_date_hint: date | None
    store_dc: np.ndarray  # (S,) dc index of each store
    store_travel_min: np.ndarray  # (S,) dc_travel_minutes
    store_hours: tuple[str, ...]
    dc_stores: tuple[np.ndarray, ...]  # per DC: store indices sorted by store_id
    case_pack: np.ndarray  # (P,)
    refrigerated: np.ndarray  # (P,) bool
    launch_ordinal: np.ndarray  # (P,) days since epoch
    dc_truck: np.ndarray  # (D, 2) truck_id for [refrigerated, dry]
    dc_truck_capacity: np.ndarray  # (D, 2)
    supplier_trucks: tuple[np.ndarray, np.ndarray]  # truck ids (refrigerated, dry), ascending
    supplier_capacity: tuple[int, int]
    customer_home_store: CustomerLookup  # [customer_id − 1] -> home store_id (a shard holds a subset of the stores)
    store_ids: np.ndarray  # (S,) store_id of each store index, ascending
    dc_ids: np.ndarray  # (D,) dc_id of each DC index, ascending
    tags: tuple[str | None, ...] = ()  # per product (holiday tags, §7.4) for the seasonal uplift

    @property
    def n_stores(self) -> int:
        return len(self.store_dc)

    @property
    def n_dcs(self) -> int:
        return len(self.dc_stores)

    @property
    def n_products(self) -> int:
        return len(self.case_pack)

    @classmethod
    def from_dims(cls, dims: dict[str, pa.Table]) -> Network:
        stores = dims["dim_stores"].sort_by("store_id")
        products = dims["dim_products"].sort_by("product_id")
        trucks = dims["dim_trucks"].sort_by("truck_id")
        dc_ids = dims["dim_distribution_centers"].column("dc_id").to_numpy().astype(np.int64)
        dc_ids = np.sort(dc_ids)
        n_d = len(dc_ids)
        store_dc = location_index(dc_ids, stores.column("dc_id").to_numpy(), "DC")
        fleet = np.array(trucks.column("fleet").to_pylist(), dtype=object)
        refr = trucks.column("refrigerated").to_numpy(zero_copy_only=False).astype(bool)
        tid = trucks.column("truck_id").to_numpy().astype(np.int64)
        cap = trucks.column("capacity_units").to_numpy().astype(np.int64)
        truck_dc = trucks.column("dc_id").to_pandas().fillna(0).to_numpy().astype(np.int64)
        in_shard = np.isin(truck_dc, dc_ids)
        tdc = np.where(in_shard, np.searchsorted(dc_ids, truck_dc), -1)
        dc_truck = np.zeros((n_d, 2), dtype=np.int64)
        dc_cap = np.zeros((n_d, 2), dtype=np.int64)
        for i in np.nonzero((fleet == "DC_TO_STORE") & in_shard)[0]:
            col = 0 if refr[i] else 1
            if dc_truck[tdc[i], col] == 0:
                dc_truck[tdc[i], col], dc_cap[tdc[i], col] = tid[i], cap[i]
        if (dc_truck == 0).any():
            raise ValueError(
                "dim_trucks must give every DC one refrigerated and one dry DC_TO_STORE truck (§3.4)"
            )
        sup = fleet == "SUPPLIER"
        sup_r, sup_a = tid[sup & refr], tid[sup & ~refr]
        if len(sup_r) == 0 or len(sup_a) == 0:
            raise ValueError("dim_trucks needs at least one refrigerated and one dry SUPPLIER truck (§3.4)")
        return cls(
            start_date_hint=None,
            store_dc=store_dc,
            store_travel_min=stores.column("dc_travel_minutes").to_numpy().astype(np.int64),
            store_hours=tuple(stores.column("operating_hours").to_pylist()),
            dc_stores=tuple(np.nonzero(store_dc == d)[0] for d in range(n_d)),
            case_pack=products.column("case_pack").to_numpy().astype(np.int64),
            refrigerated=products.column("requires_refrigeration")
            .to_numpy(zero_copy_only=False)
            .astype(bool),
            launch_ordinal=products.column("launch_date").cast(pa.int32()).to_numpy().astype(np.int64),
            dc_truck=dc_truck,
            dc_truck_capacity=dc_cap,
            supplier_trucks=(np.sort(sup_r), np.sort(sup_a)),
            supplier_capacity=(int(cap[sup & refr].min()), int(cap[sup & ~refr].min())),
            customer_home_store=customer_index(dims).home_store,
            store_ids=stores.column("store_id").to_numpy().astype(np.int64),
            dc_ids=dc_ids,
            tags=tuple(products.column("tags").to_pylist()),
        )

    @classmethod
    def cached(cls, dims: dict[str, pa.Table]) -> Network:
        """``from_dims`` memoised per process and per identity of the dimension tables."""
        return dims_cache.derived("Network", dims, cls.from_dims)

    def store_index(self, store_ids: np.ndarray | int) -> np.ndarray:
        return location_index(self.store_ids, store_ids, "store")

    def dc_index(self, dc_ids: np.ndarray | int) -> np.ndarray:
        return location_index(self.dc_ids, dc_ids, "DC")

    def launched(self, day: date) -> np.ndarray:
        """(P,) bool: products with ``launch_date ≤ day``."""
        return self.launch_ordinal <= day_ordinal(day)


def _ts_array(us: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64), type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def _date_array(us: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64) // cal.US_PER_DAY, type=pa.int32()).cast(pa.date32())


def _round_us(minutes: np.ndarray) -> np.ndarray:
    """A drawn duration in (fractional, positive) minutes as whole µs, rounded half away (§7)."""
    return np.floor(np.asarray(minutes, dtype=np.float64) * US_MIN + 0.5).astype(np.int64)


def unload_minutes(units: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """``estimated_unload_minutes = 30 + ceil(90 × units / capacity)`` in exact integers."""
    units, capacity = np.asarray(units, dtype=np.int64), np.asarray(capacity, dtype=np.int64)
    return UNLOAD_BASE_MIN + (UNLOAD_VAR_MIN * units + capacity - 1) // capacity


# --- daily cycle counts and damage (§7.8, streams ops / dc_ops) ----------------------------------


def ops_txns(
    settings: DatasetSettings, ctx: StoreContext, net: Network, state: CarryState, day: date
) -> tuple[TxnBatch, TxnBatch]:
    """DAMAGED (stores) and ADJUSTMENT (stores, DCs) txns of the day; none on Dec 25.

    Stream ``ops, D, store_id`` draws, in order: damage decision, damage count, damage products,
    damage times, damage quantities; then adjustment decision, count, products, times, quantities.
    ``dc_ops, D, dc_id``: adjustment decision, count, products, times, quantities. Products are
    distinct, uniform over the location's carried launched products.
    """
    if cal.is_christmas(day):
        return TxnBatch.empty(), TxnBatch.empty()
    d0 = cal.day_start_us(day)
    launched = net.launched(day)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("loc", "prod", "ts", "typ", "qty")}
    dcols: dict[str, list[np.ndarray]] = {k: [] for k in ("loc", "prod", "ts", "typ", "qty")}

    def add(target, loc, prod, ts, typ, qty):
        target["loc"].append(np.full(len(prod), loc, dtype=np.int64))
        target["prod"].append(prod + 1)
        target["ts"].append(ts)
        target["typ"].append(np.full(len(prod), typ, dtype=np.int8))
        target["qty"].append(qty)

    for s in range(net.n_stores):
        g = rng(settings.seed, "ops", day, int(net.store_ids[s]), model_version=settings.model_version)
        pool = np.nonzero(state.store_carried[s] & launched)[0]
        k_mean = (
            DAMAGE_UNIT_SHARE * RECEIPTS_PER_STORE_DAY * UNITS_PER_RECEIPT * ctx.traffic_multiplier[s] / 2
        )
        lo, hi = max(1, round(k_mean / 2)), max(1, round(1.5 * k_mean))
        u_dmg, k_dmg = g.random(), int(g.integers(lo, hi + 1))
        k_dmg = min(k_dmg, len(pool))
        prods = g.choice(pool, size=k_dmg, replace=False) if k_dmg else np.zeros(0, np.int64)
        periods = cal.open_periods(net.store_hours[s], day)
        open_len = sum(b - a for a, b in periods)
        offs = g.integers(0, max(open_len, 1), size=k_dmg)
        qty = -g.integers(DAMAGE_QTY[0], DAMAGE_QTY[1] + 1, size=k_dmg)
        if u_dmg < DAMAGE_P and open_len > 0 and k_dmg:
            add(cols, s, prods, d0 + _offset_in_periods(offs, periods), inv.DAMAGED, qty)
        u_adj, k_adj = g.random(), int(g.integers(ADJ_STORE_K[0], ADJ_STORE_K[1] + 1))
        k_adj = min(k_adj, len(pool))
        prods = g.choice(pool, size=k_adj, replace=False) if k_adj else np.zeros(0, np.int64)
        ts = d0 + ADJ_START_US + g.integers(0, ADJ_WINDOW_US, size=k_adj)
        qty = _nonzero_adjustment(g, k_adj)
        if u_adj < ADJ_STORE_P and k_adj:
            add(cols, s, prods, ts, inv.ADJUSTMENT, qty)
    all_products = np.nonzero(launched)[0]
    for d in range(net.n_dcs):
        g = rng(settings.seed, "dc_ops", day, int(net.dc_ids[d]), model_version=settings.model_version)
        u_adj, k_adj = g.random(), int(g.integers(ADJ_DC_K[0], ADJ_DC_K[1] + 1))
        k_adj = min(k_adj, len(all_products))
        prods = g.choice(all_products, size=k_adj, replace=False) if k_adj else np.zeros(0, np.int64)
        ts = d0 + ADJ_START_US + g.integers(0, ADJ_WINDOW_US, size=k_adj)
        qty = _nonzero_adjustment(g, k_adj)
        if u_adj < ADJ_DC_P and k_adj:
            add(dcols, d, prods, ts, inv.ADJUSTMENT, qty)
    return _batch(cols), _batch(dcols)


def _nonzero_adjustment(g: np.random.Generator, k: int) -> np.ndarray:
    """U{−5..5} \\ {0}: a uniform index over the 10 non-zero values."""
    lo, hi = ADJ_QTY
    vals = np.array([v for v in range(lo, hi + 1) if v != 0], dtype=np.int64)
    return vals[g.integers(0, len(vals), size=k)]


def _offset_in_periods(offs: np.ndarray, periods: list[tuple[int, int]]) -> np.ndarray:
    """Map offsets in [0, total open length) onto the open periods (µs from 00:00)."""
    out = np.empty_like(offs)
    acc = 0
    for a, b in periods:
        sel = (offs >= acc) & (offs < acc + (b - a))
        out[sel] = a + offs[sel] - acc
        acc += b - a
    return out


def _batch(cols: dict[str, list[np.ndarray]]) -> TxnBatch:
    if not cols["loc"]:
        return TxnBatch.empty()
    n = sum(len(x) for x in cols["loc"])
    return TxnBatch(
        np.concatenate(cols["loc"]), np.concatenate(cols["prod"]), np.concatenate(cols["ts"]),
        np.concatenate(cols["typ"]), np.full(n, None, dtype=object), np.concatenate(cols["qty"]),
    )  # fmt: skip


# --- scheduled receipts and rows due today -----------------------------------------------------


@dataclass(frozen=True)
class Receiving:
    """Today's scheduled receipts: store INBOUND (truck stop 3) and DC INBOUND (supplier stop 2)."""

    store_txns: TxnBatch
    dc_txns: TxnBatch
    store_received: np.ndarray  # (S, P) units received today (in_transit −= this)
    dc_received: np.ndarray  # (D, P) (on_order −= this)


def due_receiving(net: Network, due: pa.Table) -> Receiving:
    """STORE_RECEIVING and DC_RECEIVING actions due today as INBOUND_SHIPMENT txns."""
    store_rx = np.zeros((net.n_stores, net.n_products), dtype=np.int64)
    dc_rx = np.zeros((net.n_dcs, net.n_products), dtype=np.int64)
    batches = {}
    for action, loc_key, target, kind in (
        ("STORE_RECEIVING", "store_id", store_rx, "store"),
        ("DC_RECEIVING", "dc_id", dc_rx, "dc"),
    ):
        rows = due.filter(pc.equal(due.column("action_type"), action))
        bodies = decode_bodies(rows.column("body"))
        if not bodies:
            batches[kind] = TxnBatch.empty()
            continue
        loc_ids = np.concatenate([np.full(len(b["product_id"]), b[loc_key], dtype=np.int64) for b in bodies])
        loc = net.store_index(loc_ids) if kind == "store" else net.dc_index(loc_ids)
        prod = np.concatenate([np.asarray(b["product_id"], dtype=np.int64) for b in bodies])
        qty = np.concatenate([np.asarray(b["quantity"], dtype=np.int64) for b in bodies])
        ts = np.concatenate([np.full(len(b["product_id"]), b["event_ts"], dtype=np.int64) for b in bodies])
        src = np.concatenate(
            [np.full(len(b["product_id"]), b["shipment_id_ext"], dtype=object) for b in bodies]
        )
        np.add.at(target, (loc, prod - 1), qty)
        batches[kind] = TxnBatch(loc, prod, ts, np.full(len(loc), inv.INBOUND, dtype=np.int8), src, qty)
    return Receiving(batches["store"], batches["dc"], store_rx, dc_rx)


@dataclass(frozen=True)
class DueTruckRows:
    truck_moves: pa.Table
    truck_inventory: pa.Table


def due_truck_rows(due: pa.Table) -> DueTruckRows:
    """fact_truck_moves and fact_truck_inventory rows scheduled for today."""
    moves = due.filter(pc.equal(due.column("action_type"), "TRUCK_MOVE_ROW"))
    move_rows = decode_bodies(moves.column("body"))
    invs = due.filter(pc.equal(due.column("action_type"), "TRUCK_INVENTORY_ROW"))
    inv_bodies = decode_bodies(invs.column("body"))
    return DueTruckRows(truck_moves_table(move_rows), truck_inventory_table(inv_bodies))


def truck_moves_table(rows: list[dict]) -> pa.Table:
    spec = FACT_TABLES["fact_truck_moves"]
    cols: dict[str, pa.Array] = {}
    ts = np.array([r["event_ts"] for r in rows], dtype=np.int64)
    cols["event_ts"] = _ts_array(ts)
    cols["event_date"] = _date_array(ts)
    for c in spec.column_names[2:]:
        vals = [r[c] for r in rows]
        if c == "planned_ts":
            cols[c] = _ts_array(np.array(vals, dtype=np.int64))
        else:
            cols[c] = pa.array(vals, type=spec.column(c).type)
    table = pa.table(cols, schema=spec.arrow_schema)
    return table.sort_by(
        [("event_ts", "ascending"), ("shipment_id_ext", "ascending"), ("stop_num", "ascending")]
    )


def truck_inventory_table(bodies: list[dict]) -> pa.Table:
    """Rows from (shipment, action) bodies holding the shipment's product/quantity lists."""
    spec = FACT_TABLES["fact_truck_inventory"]
    n = [len(b["product_id"]) for b in bodies]

    # per-body values repeated over the body's product rows: one Arrow take per column
    body_of_row = pa.array(np.repeat(np.arange(len(bodies), dtype=np.int64), n), type=pa.int64())

    def rep(key: str, type_: pa.DataType) -> pa.Array:
        return pa.array([b[key] for b in bodies], type=type_).take(body_of_row)

    ts = np.repeat(np.array([b["event_ts"] for b in bodies], dtype=np.int64), n)
    prod = (
        np.concatenate([np.asarray(b["product_id"], dtype=np.int64) for b in bodies])
        if bodies
        else np.zeros(0, np.int64)
    )
    qty = (
        np.concatenate([np.asarray(b["quantity"], dtype=np.int64) for b in bodies])
        if bodies
        else np.zeros(0, np.int64)
    )
    table = pa.table(
        {
            "event_ts": _ts_array(ts),
            "event_date": _date_array(ts),
            "shipment_id_ext": rep("shipment_id_ext", pa.string()),
            "truck_id": rep("truck_id", pa.int64()),
            "action": rep("action", pa.string()),
            "location_type": rep("location_type", pa.string()),
            "dc_id": rep("dc_id", pa.int64()),
            "store_id": rep("store_id", pa.int64()),
            "product_id": pa.array(prod, type=pa.int64()),
            "quantity": pa.array(qty, type=pa.int64()),
        },
        schema=spec.arrow_schema,
    )
    return table.sort_by(
        [
            ("event_ts", "ascending"),
            ("shipment_id_ext", "ascending"),
            ("action", "ascending"),
            ("product_id", "ascending"),
        ]
    )


# --- store reviews and allocation (§7.9) -----------------------------------------------------


def visited_stores(net: Network, start_date: date, visit_day: date) -> tuple[np.ndarray, np.ndarray]:
    """Stores visited on ``visit_day`` and their wave (1 or 2), per the DC rotation of §7.9.

    None on Dec 25 and Dec 26 (the ordinal still advances).
    """
    if cal.is_christmas(visit_day) or cal.is_boxing_day(visit_day):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    n = (visit_day - start_date).days
    stores, waves = [], []
    for lst in net.dc_stores:
        if len(lst) == 0:
            continue
        stores.append(lst[(2 * n) % len(lst)])
        waves.append(1)
        if len(lst) > 1:
            stores.append(lst[(2 * n + 1) % len(lst)])
            waves.append(2)
    return np.array(stores, dtype=np.int64), np.array(waves, dtype=np.int64)


@dataclass(frozen=True)
class Reorders:
    """Tonight's reviews: reorder lines (one per store, product), their allocation and shipments."""

    store: np.ndarray  # store index
    dc: np.ndarray  # dc index
    product: np.ndarray  # product_id
    wave: np.ndarray
    current: np.ndarray
    in_transit: np.ndarray
    reorder_point: np.ndarray
    max_stock: np.ndarray
    quantity: np.ndarray
    allocated: np.ndarray
    trip: np.ndarray  # 1.. trip of the line's shipment in its wave, 0 when allocated == 0
    priority: np.ndarray  # index into PRIORITIES
    shipment_id: np.ndarray  # object, None when allocated == 0
    reserved: np.ndarray  # (D, P) allocated tonight per DC product
    picking_txns: TxnBatch  # DC OUTBOUND_SHIPMENT at 23:30
    table: pa.Table  # fact_reorders rows


def priority_of(reorder_point: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Priority index by deficit ``(rop − position) / rop``: ≥ 0.5 URGENT, ≥ 0.25 HIGH, else NORMAL (exact)."""
    gap = np.asarray(reorder_point, dtype=np.int64) - np.asarray(position, dtype=np.int64)
    rop = np.asarray(reorder_point, dtype=np.int64)
    return np.where(2 * gap >= rop, 2, np.where(4 * gap >= rop, 1, 0)).astype(np.int64)


def reorder_quantity(max_stock: np.ndarray, position: np.ndarray, case_pack: np.ndarray) -> np.ndarray:
    """``ceil((max_stock − position) / case_pack) × case_pack``."""
    need = np.asarray(max_stock, dtype=np.int64) - np.asarray(position, dtype=np.int64)
    cp = np.asarray(case_pack, dtype=np.int64)
    return -(-need // cp) * cp


def greedy_allocate(
    group: np.ndarray, requested: np.ndarray, stock: np.ndarray, capacity: np.ndarray
) -> np.ndarray:
    """Allocation of one trip per group, rows already in allocation order (the model-2 rule).

    ``r' = min(requested, stock)`` (a product appears once per wave and DC), then per shipment
    ``group`` (contiguous, with its ``capacity``) ``allocated_k = clip(capacity − Σ_{j<k} r'_j, 0, r'_k)``.
    Kept as the one-trip special case of :func:`allocate_trips` (tests compare the two).
    """
    r = np.minimum(requested, np.maximum(stock, 0))
    if len(r) == 0:
        return r
    order = np.argsort(group, kind="stable")
    g, rr, cap = group[order], r[order], capacity[order]
    starts = np.ones(len(g), dtype=bool)
    starts[1:] = g[1:] != g[:-1]
    cs = np.cumsum(rr)
    head = np.maximum.accumulate(np.where(starts, np.arange(len(g)), 0))
    before = cs - rr - (cs[head] - rr[head])
    alloc = np.clip(cap - before, 0, rr)
    out = np.empty_like(alloc)
    out[order] = alloc
    return out


def pack_trips(wanted: np.ndarray, capacity: int, max_trips: int) -> tuple[np.ndarray, np.ndarray]:
    """(allocated, trip number 1..) of one shipment group's lines, in allocation order.

    Why a packing and not one load: a store's peak-season visit can ask for more than one truck
    holds, and model 2 cut the excess, so the busiest stores starved (fill rate 83 %). Each trip
    takes the next lines while they fit whole; a line that does not fit starts the next trip; on the
    last allowed trip (or for a line larger than a whole truck) it is cut to the space left and the
    lines after it get nothing, as in the one-trip rule. Trip 0 marks an allocation of 0.
    """
    n = len(wanted)
    alloc = np.zeros(n, dtype=np.int64)
    trip = np.zeros(n, dtype=np.int64)
    i, k = 0, 1
    while i < n and k <= max_trips:
        cs = np.cumsum(wanted[i:])
        fit = int(np.searchsorted(cs, capacity, side="right"))  # lines i .. i+fit-1 fit whole
        alloc[i : i + fit] = wanted[i : i + fit]
        trip[i : i + fit] = k
        i += fit
        if i < n and (k == max_trips or fit == 0):
            room = capacity - (int(cs[fit - 1]) if fit else 0)
            alloc[i], trip[i] = room, k
            i += 1
            if k == max_trips:
                break
        k += 1
    trip[alloc == 0] = 0
    return alloc, trip


def allocate_trips(
    group: np.ndarray,
    requested: np.ndarray,
    stock: np.ndarray,
    capacity: np.ndarray,
    max_trips: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(allocated, trip) of one wave, rows already in allocation order.

    ``r' = min(requested, stock)``; each shipment ``group`` (one store, one temperature class) is
    packed into at most ``max_trips`` loads of ``capacity`` units by :func:`pack_trips`.
    """
    wanted = np.minimum(requested, np.maximum(stock, 0)).astype(np.int64)
    alloc = np.zeros(len(wanted), dtype=np.int64)
    trip = np.zeros(len(wanted), dtype=np.int64)
    for g in np.unique(group):
        rows = np.nonzero(group == g)[0]
        first = rows[0]
        a, t = pack_trips(wanted[rows], int(capacity[first]), int(max_trips[first]))
        alloc[rows], trip[rows] = a, t
    return alloc, trip


def worst_trip_minutes(travel_min: np.ndarray) -> np.ndarray:
    """Longest possible DC→store→DC trip: both legs at the top travel factor, a full slow unload."""
    longest_unload = math.ceil((UNLOAD_BASE_MIN + UNLOAD_VAR_MIN) * UNLOAD_FACTOR[1])
    return 2 * np.ceil(np.asarray(travel_min) * TRAVEL_FACTOR[1]).astype(np.int64) + longest_unload


TURNAROUND_MIN = WAVE2_TURNAROUND_US // US_MIN
# the latest a truck may be back at its DC: 30 min before the next day's 04:00 wave 1 (27:30 of the day)
HOME_BY_MIN = 24 * 60 + WAVE1_DEPART_US // US_MIN - TURNAROUND_MIN


def trips_allowed(worst_min: int, start_min: int, finish_by_min: int) -> int:
    """Most back-to-back trips (1 .. ``MAX_TRIPS_PER_WAVE``) of ``worst_min`` each, 30 min apart,
    that leave at ``start_min`` and are back by ``finish_by_min`` (minutes from 00:00 of the visit day).

    Why plan against the worst case: the travel and unload draws are made later, at dispatch, and a
    truck must never be in two places (§7.9). One trip is always allowed (the contract's bounds
    guarantee it fits).
    """
    k = 1
    while k < MAX_TRIPS_PER_WAVE and start_min + (k + 1) * worst_min + k * TURNAROUND_MIN <= finish_by_min:
        k += 1
    return k


def wave_trip_limits(
    net: Network,
    dc: np.ndarray,
    cls: np.ndarray,
    wave_store: dict[tuple[int, int], int],
    trips_used: dict | None,
) -> np.ndarray:
    """Per row of one wave, the trips its shipment may take (see :func:`trips_allowed`).

    Wave 1 (``trips_used`` None) keeps room for one worst-case wave-2 trip of the same truck after it;
    wave 2 starts at max(12:00, the worst-case return of the trips wave 1 actually used + 30 min).
    """
    out = np.ones(len(dc), dtype=np.int64)
    limits: dict[tuple[int, int], int] = {}
    for i, (d, c) in enumerate(zip(dc.tolist(), cls.tolist(), strict=True)):
        if (d, c) not in limits:
            worst1 = int(worst_trip_minutes(net.store_travel_min[wave_store[(d, 1)]]))
            if trips_used is None:
                s2 = wave_store.get((d, 2))
                reserve = (
                    0 if s2 is None else TURNAROUND_MIN + int(worst_trip_minutes(net.store_travel_min[s2]))
                )
                limits[(d, c)] = trips_allowed(worst1, WAVE1_DEPART_US // US_MIN, HOME_BY_MIN - reserve)
            else:
                worst2 = int(worst_trip_minutes(net.store_travel_min[wave_store[(d, 2)]]))
                k1 = trips_used.get((d, c), 0)
                back1 = WAVE1_DEPART_US // US_MIN + k1 * worst1 + (k1 - 1) * TURNAROUND_MIN if k1 else 0
                start = max(WAVE2_EARLIEST_US // US_MIN, back1 + TURNAROUND_MIN if k1 else 0)
                limits[(d, c)] = trips_allowed(worst2, start, HOME_BY_MIN)
        out[i] = limits[(d, c)]
    return out


SEASONAL_LIFT = 3.0  # §7.4: a product in its holiday-tag window sells ×3


def horizon_uplift(net: Network, first_day: date, n_days: int) -> np.ndarray:
    """(P,) factor ≥ 1: the mean over ``first_day .. first_day + n_days − 1`` of the calendar's
    in-store holiday multiplier × month factor × the ×3 seasonal lift of products in their tag window.

    Why: the §7.8 policies are sized for an ordinary day, but stock ordered today must last through
    the days it covers, with their holiday peaks, busy months and seasonal products. Quiet stretches
    keep the ordinary policy (never below 1). Read-only use of the calendar; memoised per process.
    """
    # keyed by the products' tags themselves, not id(net): an id can be reused by another network
    key = (net.tags, first_day, n_days)
    cached = _UPLIFT_CACHE.get(key)
    if cached is not None:
        return cached
    acc = np.zeros(len(net.tags))
    for k in range(n_days):
        d = first_day + timedelta(days=k)
        lift = np.where(cal.holiday_tags_window(net.tags, d), SEASONAL_LIFT, 1.0)
        c = cal.day_calendar(d)
        acc += c.instore * c.month * lift
    out = np.maximum(acc / n_days, 1.0)
    if len(_UPLIFT_CACHE) > 256:
        _UPLIFT_CACHE.clear()
    _UPLIFT_CACHE[key] = out
    return out


_UPLIFT_CACHE: dict[tuple, np.ndarray] = {}


def _expected_demand_uplift(net: Network, stores: np.ndarray, visit_day: date) -> dict[int, np.ndarray]:
    """Per reviewed store, (P,) factor on its reorder point and order-up-to level (model 2): the
    :func:`horizon_uplift` of the days ``visit_day .. visit_day + interval`` its delivery must last.
    """
    out: dict[int, np.ndarray] = {}
    for s in stores.tolist():
        interval = math.ceil(len(net.dc_stores[int(net.store_dc[s])]) / 2)
        out[s] = horizon_uplift(net, visit_day, interval + 1)
    return out


def _uplift_of(uplift: dict[int, np.ndarray], s_idx: np.ndarray, p_idx: np.ndarray) -> np.ndarray:
    if len(s_idx) == 0:
        return np.ones(0)
    return np.array([uplift[s][p] for s, p in zip(s_idx.tolist(), p_idx.tolist(), strict=True)])


def _scaled(level: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``ceil(level × factor)`` as int64 (factor 1 leaves the level unchanged)."""
    return np.ceil(np.asarray(level, dtype=np.int64) * factor - 1e-9).astype(np.int64)


def store_review_and_allocate(
    settings: DatasetSettings, net: Network, state: CarryState, review_on_hand: np.ndarray, day: date
) -> Reorders:
    """Reviews at 23:00 of ``day`` for the stores visited on ``day + 1``, and the DC allocation.

    Updates ``state.store_in_transit`` (+allocated). Picking txns are returned for the DC chain.
    """
    visit_day = day + timedelta(days=1)
    stores, waves = visited_stores(net, settings.start_date, visit_day)
    launched = net.launched(day)
    uplift = _expected_demand_uplift(net, stores, visit_day)
    parts = []
    for s, w in zip(stores, waves, strict=True):
        pos = review_on_hand[s] + state.store_in_transit[s]
        need = state.store_carried[s] & launched & (pos <= _scaled(state.store_reorder_point[s], uplift[s]))
        p = np.nonzero(need)[0]
        parts.append((np.full(len(p), s), np.full(len(p), w), p))
    if parts:
        s_idx = np.concatenate([x[0] for x in parts]).astype(np.int64)
        wave = np.concatenate([x[1] for x in parts]).astype(np.int64)
        p_idx = np.concatenate([x[2] for x in parts]).astype(np.int64)
    else:
        s_idx = wave = p_idx = np.zeros(0, np.int64)
    cur = review_on_hand[s_idx, p_idx]
    transit = state.store_in_transit[s_idx, p_idx]
    rop = _scaled(state.store_reorder_point[s_idx, p_idx], _uplift_of(uplift, s_idx, p_idx))
    mx = _scaled(state.store_max_stock[s_idx, p_idx], _uplift_of(uplift, s_idx, p_idx))
    pos = cur + transit
    qty = reorder_quantity(mx, pos, net.case_pack[p_idx])
    prio = priority_of(rop, pos)
    deficit = (rop - pos) / np.maximum(rop, 1)
    dc = net.store_dc[s_idx]
    refr = net.refrigerated[p_idx]
    # allocation order: DC, wave, priority URGENT→NORMAL, deficit desc, product_id
    order = np.lexsort((p_idx, -deficit, -prio, wave, dc))
    s_idx, wave, p_idx, cur, transit, rop, mx, qty, prio, dc, refr = (
        a[order] for a in (s_idx, wave, p_idx, cur, transit, rop, mx, qty, prio, dc, refr)
    )
    dc_left = state.dc_on_hand.copy()
    alloc = np.zeros(len(s_idx), dtype=np.int64)
    trip = np.zeros(len(s_idx), dtype=np.int64)
    cls = np.where(refr, 0, 1)
    wave_store = {(int(net.store_dc[st]), int(w)): int(st) for st, w in zip(stores, waves, strict=True)}
    used: dict[tuple[int, int], int] | None = None
    for w in (1, 2):
        sel = np.nonzero(wave == w)[0]
        group = dc[sel] * 2 + cls[sel]
        cap = net.dc_truck_capacity[dc[sel], cls[sel]]
        limit = wave_trip_limits(net, dc[sel], cls[sel], wave_store, used)
        a, t = allocate_trips(group, qty[sel], dc_left[dc[sel], p_idx[sel]], cap, limit)
        alloc[sel], trip[sel] = a, t
        np.subtract.at(dc_left, (dc[sel], p_idx[sel]), a)
        used = {}
        for d, c, k in zip(dc[sel].tolist(), cls[sel].tolist(), t.tolist(), strict=True):
            used[(d, c)] = max(used.get((d, c), 0), k)
    ship_ids = np.full(len(s_idx), None, dtype=object)
    has = alloc > 0
    if has.any():
        ship_ids[has] = ids.store_shipment_ids(day, net.store_ids[s_idx[has]], refr[has], trip[has])
    np.add.at(state.store_in_transit, (s_idx, p_idx), alloc)
    reserved = state.dc_on_hand - dc_left
    review_ts = cal.day_start_us(day) + REVIEW_HOUR * US_H
    pick_ts = cal.day_start_us(day) + PICK_OFFSET_US
    picking = TxnBatch(
        dc[has], p_idx[has] + 1, np.full(int(has.sum()), pick_ts, dtype=np.int64),
        np.full(int(has.sum()), inv.OUTBOUND, dtype=np.int8), ship_ids[has], -alloc[has],
    )  # fmt: skip
    n = len(s_idx)
    table = pa.table(
        {
            "event_ts": _ts_array(np.full(n, review_ts)),
            "event_date": _date_array(np.full(n, review_ts)),
            "reorder_id_ext": pa.array(
                ids.reorder_ids(day, net.store_ids[s_idx], p_idx + 1) if n else [], type=pa.string()
            ),
            "store_id": pa.array(net.store_ids[s_idx], type=pa.int64()),
            "dc_id": pa.array(net.dc_ids[dc], type=pa.int64()),
            "product_id": pa.array(p_idx + 1, type=pa.int64()),
            "current_quantity": pa.array(cur, type=pa.int64()),
            "in_transit_quantity": pa.array(transit, type=pa.int64()),
            "reorder_point": pa.array(rop, type=pa.int64()),
            "max_stock": pa.array(mx, type=pa.int64()),
            "reorder_quantity": pa.array(qty, type=pa.int64()),
            "allocated_quantity": pa.array(alloc, type=pa.int64()),
            "priority": pa.array(np.asarray(PRIORITIES, dtype=object)[prio] if n else [], type=pa.string()),
            "shipment_id_ext": pa.array(ship_ids, type=pa.string()),
        },
        schema=FACT_TABLES["fact_reorders"].arrow_schema,
    ).sort_by([("event_ts", "ascending"), ("reorder_id_ext", "ascending")])
    return Reorders(
        s_idx,
        dc,
        p_idx + 1,
        wave,
        cur,
        transit,
        rop,
        mx,
        qty,
        alloc,
        trip,
        prio,
        ship_ids,
        reserved,
        picking,
        table,
    )


# --- DC-to-store trucks (§7.9) ---------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledRows:
    schedule: pa.Table  # SCHEDULE_SCHEMA rows
    truck_moves: list[dict]  # the move rows (also in the schedule), for tests


def dispatch_store_shipments(
    settings: DatasetSettings, net: Network, reorders: Reorders, day: date
) -> ScheduledRows:
    """Truck trips of tonight's shipments (departing ``day + 1``) as schedule actions.

    Per shipment, stream ``truck, shipment_id_ext``: outbound travel factor, unload factor, return
    travel factor. Wave 1 departs 04:00; wave 2 at max(12:00, wave-1 return of the same truck + 30 min);
    a wave's trip k > 1 leaves 30 min after the truck is back from trip k − 1.
    """
    has = reorders.allocated > 0
    if not has.any():
        return ScheduledRows(make_schedule(np.zeros(0, np.int64), "TRUCK_MOVE_ROW", [], []), [])
    sid = reorders.shipment_id[has].astype(str)
    uniq, first, inverse = np.unique(sid, return_index=True, return_inverse=True)
    units = np.bincount(inverse, weights=reorders.allocated[has]).astype(np.int64)
    store = reorders.store[has][first]
    dc = reorders.dc[has][first]
    wave = reorders.wave[has][first]
    trip_no = reorders.trip[has][first]
    refr = np.array([s.rsplit("-", 1)[1].startswith("R") for s in uniq])
    cls = np.where(refr, 0, 1)
    truck = net.dc_truck[dc, cls]
    cap = net.dc_truck_capacity[dc, cls]
    draws = np.array(
        [rng(settings.seed, "truck", s, model_version=settings.model_version).random(3) for s in uniq]
    )
    travel = net.store_travel_min[store]
    lo, hi = TRAVEL_FACTOR
    out_us = _round_us(travel * (lo + (hi - lo) * draws[:, 0]))
    back_us = _round_us(travel * (lo + (hi - lo) * draws[:, 2]))
    est = unload_minutes(units, cap)
    ulo, uhi = UNLOAD_FACTOR
    act = np.floor(est * (ulo + (uhi - ulo) * draws[:, 1]) + 0.5).astype(np.int64)
    d1 = cal.day_start_us(day + timedelta(days=1))
    slot = np.where(wave == 1, d1 + WAVE1_DEPART_US, d1 + WAVE2_EARLIEST_US)
    planned1, t1 = slot.copy(), slot.copy()
    # a truck's trips run back to back in (wave, trip) order: each leaves at its slot or 30 min after
    # the truck is back from the one before, whichever is later (planned times chain the same way
    # from the planned returns, except that a wave's first trip keeps its slot as its plan)
    back, planned_back = {}, {}
    for i in np.lexsort((trip_no, wave, truck)).tolist():
        tr = int(truck[i])
        if tr in back:
            t1[i] = max(int(slot[i]), back[tr] + WAVE2_TURNAROUND_US)
            if trip_no[i] > 1:
                planned1[i] = max(int(slot[i]), planned_back[tr] + WAVE2_TURNAROUND_US)
        back[tr] = int(t1[i] + out_us[i] + act[i] * US_MIN + back_us[i])
        planned_back[tr] = int(planned1[i] + (2 * travel[i] + est[i]) * US_MIN)
    t2 = t1 + out_us
    t3 = t2 + act * US_MIN
    t4 = t3 + back_us
    p2 = planned1 + travel * US_MIN
    p3 = p2 + est * US_MIN
    p4 = p3 + travel * US_MIN
    moves: list[dict] = []
    sched_due, sched_type, sched_key, sched_body = [], [], [], []
    # lines per shipment
    ship_rows = np.nonzero(has)[0]
    line_order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[line_order], np.arange(len(uniq) + 1))
    for k, s in enumerate(uniq):
        base = {
            "shipment_id_ext": s, "truck_id": int(truck[k]), "route_type": "DC_TO_STORE", "dc_id": int(net.dc_ids[dc[k]]),
            "temperature_class": "REFRIGERATED" if refr[k] else "AMBIENT", "units": int(units[k]),
        }  # fmt: skip
        stops = (
            (1, "DEPARTED", "DC", t1[k], planned1[k], None, None),
            (2, "ARRIVED", "STORE", t2[k], p2[k], int(est[k]), None),
            (3, "DEPARTED", "STORE", t3[k], p3[k], None, int(act[k])),
            (4, "ARRIVED", "DC", t4[k], p4[k], None, None),
        )
        for num, move, loc, ts, plan, e, a in stops:
            row = dict(base, stop_num=num, move_type=move, location_type=loc, event_ts=int(ts), planned_ts=int(plan),
                       store_id=int(net.store_ids[store[k]]), estimated_unload_minutes=e, actual_unload_minutes=a)  # fmt: skip
            moves.append(row)
            sched_due.append(int(ts))
            sched_type.append("TRUCK_MOVE_ROW")
            sched_key.append(f"{s}|{num}")
            sched_body.append(canonical_json(row))
        li = ship_rows[line_order[bounds[k] : bounds[k + 1]]]
        prods = reorders.product[li].tolist()
        qtys = reorders.allocated[li].tolist()
        lines = {"product_id": prods, "quantity": qtys, "shipment_id_ext": s, "truck_id": int(truck[k])}
        load = dict(
            lines, action="LOAD", location_type="DC", dc_id=int(net.dc_ids[dc[k]]), store_id=None, event_ts=int(t1[k])
        )
        unload = dict(lines, action="UNLOAD", location_type="STORE", dc_id=None, store_id=int(net.store_ids[store[k]]),
                      event_ts=int(t3[k]))  # fmt: skip
        recv = dict(lines, store_id=int(net.store_ids[store[k]]), event_ts=int(t3[k]))
        for due, typ, key, body in (
            (t1[k], "TRUCK_INVENTORY_ROW", f"{s}|LOAD", load),
            (t3[k], "TRUCK_INVENTORY_ROW", f"{s}|UNLOAD", unload),
            (t3[k], "STORE_RECEIVING", s, recv),
        ):
            sched_due.append(int(due))
            sched_type.append(typ)
            sched_key.append(key)
            sched_body.append(canonical_json(body))
    sched = make_schedule(
        np.array(sched_due, dtype=np.int64), np.array(sched_type, dtype=object), sched_key, sched_body
    )
    return ScheduledRows(sched, moves)


# --- supplier reviews and deliveries (§7.10) ---------------------------------------------------


@dataclass(frozen=True)
class SupplierOrders:
    """Deliveries created by today's DC reviews, in booking order (DC, R before A, k)."""

    shipment_id: list[str]
    dc: np.ndarray  # per delivery
    refrigerated: np.ndarray  # per delivery
    units: np.ndarray  # per delivery
    line_delivery: np.ndarray  # per line: delivery index
    line_product: np.ndarray  # per line: product_id
    line_quantity: np.ndarray


def supplier_review(settings: DatasetSettings, net: Network, state: CarryState, day: date) -> SupplierOrders:
    """22:00 reviews of the DCs with ``(n + dc_id)`` even; ``on_order += quantity`` (in place).

    Orders are grouped by class (R first), sorted by product and packed into deliveries of at most
    the supplier capacity, splitting a line across deliveries when it does not fit.
    """
    n = (day - settings.start_date).days
    # model 3: the DC's policy follows the demand of the days its stock covers, as the stores' does
    uplift = horizon_uplift(net, day + timedelta(days=1), DC_UPLIFT_DAYS)
    deliveries: list[tuple[str, int, bool, int]] = []
    l_del, l_prod, l_qty = [], [], []
    for d in range(net.n_dcs):
        if (n + int(net.dc_ids[d])) % 2:
            continue
        pos = state.dc_on_hand[d] + state.dc_on_order[d]
        rop = _scaled(state.dc_reorder_point[d], uplift)
        need = np.nonzero(pos <= rop)[0]
        pack = SUPPLIER_PACK_FACTOR * net.case_pack[need]
        qty = -(-(_scaled(state.dc_max_stock[d, need], uplift[need]) - pos[need]) // pack) * pack
        state.dc_on_order[d, need] += qty
        for refr, cap in ((True, net.supplier_capacity[0]), (False, net.supplier_capacity[1])):
            sel = net.refrigerated[need] == refr
            prods, q = need[sel] + 1, qty[sel]
            if len(prods) == 0:
                continue
            end = np.cumsum(q)
            start = end - q
            k_first, k_last = start // cap, (end - 1) // cap
            reps = k_last - k_first + 1
            li = np.repeat(np.arange(len(q)), reps)
            k = k_first[li] + (np.arange(len(li)) - np.repeat(np.cumsum(reps) - reps, reps))
            piece = np.minimum(end[li], (k + 1) * cap) - np.maximum(start[li], k * cap)
            n_del = int(k_last[-1]) + 1
            base = len(deliveries)
            names = ids.supplier_shipment_ids(
                day, np.full(n_del, net.dc_ids[d]), np.full(n_del, refr), np.arange(1, n_del + 1)
            )
            for j in range(n_del):
                deliveries.append((str(names[j]), d, refr, int(piece[k == j].sum())))
            l_del.append(base + k)
            l_prod.append(prods[li])
            l_qty.append(piece)
    cat = (lambda xs: np.concatenate(xs).astype(np.int64)) if l_del else (lambda xs: np.zeros(0, np.int64))
    return SupplierOrders(
        shipment_id=[x[0] for x in deliveries],
        dc=np.array([x[1] for x in deliveries], dtype=np.int64),
        refrigerated=np.array([x[2] for x in deliveries], dtype=bool),
        units=np.array([x[3] for x in deliveries], dtype=np.int64),
        line_delivery=cat(l_del),
        line_product=cat(l_prod),
        line_quantity=cat(l_qty),
    )


def booked_slots(schedule: pa.Table) -> set[tuple[int, int]]:
    """(truck_id, slot µs) pairs already booked (SUPPLIER_SLOT actions in the carried schedule)."""
    rows = schedule.filter(pc.equal(schedule.column("action_type"), "SUPPLIER_SLOT"))
    out = set()
    for body in decode_bodies(rows.column("body")):
        out.add((int(body["truck_id"]), int(body["slot_ts"])))
    return out


def book_supplier_deliveries(
    settings: DatasetSettings, net: Network, orders: SupplierOrders, carried: pa.Table, day: date
) -> ScheduledRows:
    """Book each delivery on the earliest free slot (06/10/14/18, from ``day + 2``, never Dec 25)
    of the lowest free supplier truck of its class, and schedule its moves, unloading and receipt.

    Draws: stream ``supplier, day, dc_id``, per delivery of the DC in booking order: arrival jitter
    U(0, 45 min) then unload factor U(0.85, 1.30).
    """
    if not orders.shipment_id:
        return ScheduledRows(make_schedule(np.zeros(0, np.int64), "SUPPLIER_SLOT", [], []), [])
    booked = booked_slots(carried)
    chain_dcs = dimension_sizes(settings).dcs
    gens: dict[int, np.random.Generator] = {}
    sched: list[tuple[int, str, str, str]] = []
    moves: list[dict] = []
    line_order = np.argsort(orders.line_delivery, kind="stable")
    bounds = np.searchsorted(orders.line_delivery[line_order], np.arange(len(orders.shipment_id) + 1))
    for i, sid in enumerate(orders.shipment_id):
        d, refr, units = int(orders.dc[i]), bool(orders.refrigerated[i]), int(orders.units[i])
        trucks = net.supplier_trucks[0 if refr else 1]
        cap = net.supplier_capacity[0 if refr else 1]
        truck, slot = _first_free_slot(trucks, booked, day, int(net.dc_ids[d]), chain_dcs)
        booked.add((truck, slot))
        g = gens.setdefault(
            d, rng(settings.seed, "supplier", day, int(net.dc_ids[d]), model_version=settings.model_version)
        )
        u_jit, u_unl = g.random(), g.random()
        t1 = slot + math.floor(u_jit * SUPPLIER_JITTER_US + 0.5)
        est = int(unload_minutes(np.array([units]), np.array([cap]))[0])
        lo, hi = UNLOAD_FACTOR
        act = math.floor(est * (lo + (hi - lo) * u_unl) + 0.5)
        t2 = t1 + act * US_MIN
        base = {
            "shipment_id_ext": sid, "truck_id": truck, "route_type": "SUPPLIER_TO_DC", "location_type": "DC",
            "dc_id": int(net.dc_ids[d]), "store_id": None, "temperature_class": "REFRIGERATED" if refr else "AMBIENT",
            "units": units,
        }  # fmt: skip
        for row in (
            dict(base, stop_num=1, move_type="ARRIVED", event_ts=t1, planned_ts=slot,
                 estimated_unload_minutes=est, actual_unload_minutes=None),
            dict(base, stop_num=2, move_type="DEPARTED", event_ts=t2, planned_ts=slot + est * US_MIN,
                 estimated_unload_minutes=None, actual_unload_minutes=act),
        ):  # fmt: skip
            moves.append(row)
            sched.append((row["event_ts"], "TRUCK_MOVE_ROW", f"{sid}|{row['stop_num']}", canonical_json(row)))
        li = line_order[bounds[i] : bounds[i + 1]]
        lines = {
            "shipment_id_ext": sid, "truck_id": truck, "product_id": orders.line_product[li].tolist(),
            "quantity": orders.line_quantity[li].tolist(), "event_ts": t2,
        }  # fmt: skip
        dc_id = int(net.dc_ids[d])
        unload = dict(lines, action="UNLOAD", location_type="DC", dc_id=dc_id, store_id=None)
        sched.append((t2, "TRUCK_INVENTORY_ROW", f"{sid}|UNLOAD", canonical_json(unload)))
        sched.append((t2, "DC_RECEIVING", sid, canonical_json(dict(lines, dc_id=dc_id))))
        sched.append(
            (
                slot,
                "SUPPLIER_SLOT",
                f"{sid}|{truck}|{slot}",
                canonical_json({"truck_id": truck, "slot_ts": slot, "shipment_id_ext": sid, "dc_id": dc_id}),
            )
        )
    due, typ, key, body = zip(*sched, strict=True)
    return ScheduledRows(
        make_schedule(np.array(due, dtype=np.int64), np.array(typ, dtype=object), list(key), list(body)),
        moves,
    )


def supplier_lane(truck_index: int, n_trucks: int, day: date, hour_index: int, chain_dcs: int) -> int:
    """The DC index (dc_id − 1 modulo ``chain_dcs``) that owns a supplier slot (model 4).

    Why lanes: model 3 booked the lowest free truck of a pool shared by all DCs, so one DC's booking
    depended on every other DC's orders and no DC could be generated on its own. Model 4 deals the
    slots (day, hour, truck) round-robin to the DCs: each DC owns ``trucks × 4 / DCs`` slots a day
    and books only its own, whatever the other DCs do (the shard seam of §8.5).
    """
    j = (day_ordinal(day) * len(SUPPLIER_SLOTS_H) + hour_index) * n_trucks + truck_index
    return j % max(chain_dcs, 1)


def _first_free_slot(
    trucks: np.ndarray, booked: set[tuple[int, int]], day: date, dc_id: int, chain_dcs: int
) -> tuple[int, int]:
    d = day + timedelta(days=SUPPLIER_LEAD_DAYS)
    lane = (dc_id - 1) % max(chain_dcs, 1)
    for _ in range(366 * max(1, chain_dcs)):
        if not cal.is_christmas(d):
            base = cal.day_start_us(d)
            for hi, h in enumerate(SUPPLIER_SLOTS_H):
                slot = base + h * US_H
                for ti, t in enumerate(trucks):
                    if supplier_lane(ti, len(trucks), d, hi, chain_dcs) != lane:
                        continue
                    if (int(t), slot) not in booked:
                        return int(t), slot
        d += timedelta(days=1)
    raise RuntimeError(
        "no free supplier slot within a year; the supplier fleet is far too small for the demand"
    )
