"""Carry-over state between generation days (contract §7.8, §8.3).

Why explicit state: day D depends on the end of day D−1 (on-hand balances, goods in transit,
open supplier orders, the last stockout per key, and every already-decided future row such as a
truck arriving tomorrow or an order line delivered in three days). Keeping it as an explicit value —
dense int64 arrays per (location, product) plus a schedule of future actions — makes every day a
pure function ``(state of D−1, dataset, D) -> (rows of D, state of D)``, hence reproducible.

Layout: stores are indexed ``store_id − 1``, DCs ``dc_id − 1`` and products ``product_id − 1``
(dimension keys are consecutive from 1, §3). Stores carry only their assortment
(``store_carried``); DCs stock every product. ``last_stockout_ts`` holds µs since the epoch, with
``NO_TS`` meaning "never".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.config import DatasetSettings
from retail_assets.contract.enums import SCHEDULE_ACTION_TYPE
from retail_assets.contract.tables import CONTROL_TABLES
from retail_assets.generate import calendar as cal
from retail_assets.generate.rng import rng
from retail_assets.generate.store_context import location_index

NO_TS = np.iinfo(np.int64).min
"""Sentinel of ``last_stockout_ts`` for "no stockout recorded yet" (NULL in the table)."""

SCHEDULE_ACTIONS = SCHEDULE_ACTION_TYPE  # contract §8.3 vocabulary of ctl_state_schedule.action_type

# Policy parameters of §7.8 (rules as data; an override would change dataset_id). DC cover 16/36 days
# (model 2; was 4/21): the DC must absorb lumpy store orders and the seasonal lift, else stores starve.
RECEIPTS_PER_STORE_DAY = 200
UNITS_PER_RECEIPT = 18
SAFETY_Z = 1.65
DC_ONLINE_UPLIFT = 1.05
DC_COVER_DAYS = 16
DC_MAX_DAYS = 36

SCHEDULE_SCHEMA = pa.schema(
    [
        pa.field("due_ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("action_type", pa.string(), nullable=False),
        pa.field("action_key", pa.string(), nullable=False),
        pa.field("body", pa.string(), nullable=False),
    ]
)


class StateError(ValueError):
    """A carried-state snapshot is unusable; the message names the problem and the fix."""


_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def canonical_json(obj: object) -> str:
    """The canonical JSON of a schedule body: sorted keys, no whitespace (byte-stable).

    Same bytes as ``json.dumps(obj, sort_keys=True, separators=(",", ":"))``; one shared encoder
    saves building an encoder per body (thousands of bodies a day).
    """
    return _CANONICAL_ENCODER.encode(obj)


def decode_bodies(column: pa.Array | pa.ChunkedArray) -> list:
    """The JSON bodies of schedule rows, decoded in one parser call.

    Why: thousands of small bodies a day; one ``json.loads`` of their JSON array gives the same
    objects without the per-call overhead.
    """
    texts = column.to_pylist()
    return json.loads("[" + ",".join(texts) + "]") if texts else []


def empty_schedule() -> pa.Table:
    return SCHEDULE_SCHEMA.empty_table()


def make_schedule(due_ts: np.ndarray, action_type: str | np.ndarray, action_key, body) -> pa.Table:
    """Schedule rows from columns (``due_ts`` int64 µs; ``body`` canonical JSON strings)."""
    n = len(due_ts)
    at = (
        np.full(n, action_type, dtype=object)
        if isinstance(action_type, str)
        else np.asarray(action_type, dtype=object)
    )
    return pa.table(
        [
            pa.array(np.asarray(due_ts, dtype=np.int64), type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            pa.array(at, type=pa.string()),
            pa.array(np.asarray(action_key, dtype=object), type=pa.string()),
            pa.array(list(body), type=pa.string()),
        ],
        schema=SCHEDULE_SCHEMA,
    )


def sort_schedule(table: pa.Table) -> pa.Table:
    """Schedules are kept sorted by (due_ts, action_type, action_key): a stable, byte-identical order."""
    if table.num_rows == 0:
        return table
    return table.sort_by([("due_ts", "ascending"), ("action_type", "ascending"), ("action_key", "ascending")])


# schedule keys start with the id that names the action's home: a store (receipts, DC->store
# shipments) or a DC (supplier shipments, online orders, model 4); the location id is the third
# "-"-separated field of the key (§8.5)
_STORE_KEYED = ("RCP", "SHP")
_DC_KEYED = ("SUP", "ONL")


def schedule_home_dc(schedule: pa.Table, store_dc: dict[int, int]) -> np.ndarray:
    """The home dc_id of each schedule row, read from its action key (see ``_STORE_KEYED``).

    Raises for a key that names no known store or DC: a row without a home would be lost.
    """
    if schedule.num_rows == 0:
        return np.zeros(0, np.int64)
    parts = pc.split_pattern(schedule.column("action_key"), "-", max_splits=3)
    prefix = pc.list_element(parts, 0).to_numpy(zero_copy_only=False)
    loc = pc.cast(pc.list_element(parts, 2), pa.int64()).to_numpy()
    home = np.full(len(loc), -1, dtype=np.int64)
    by_dc = np.isin(prefix, _DC_KEYED)
    home[by_dc] = loc[by_dc]
    by_store = np.isin(prefix, _STORE_KEYED)
    home[by_store] = [store_dc.get(int(s), -1) for s in loc[by_store]]
    if (home < 0).any():
        bad = schedule.column("action_key").take(pa.array(np.flatnonzero(home < 0)[:3])).to_pylist()
        raise ValueError(f"schedule actions {bad} name no store or DC of this dataset; rebuild the state")
    return home


@dataclass
class CarryState:
    """The end-of-day state of ``state_date`` (§8.3). Arrays are mutable; copy before a new day."""

    state_date: date
    store_on_hand: np.ndarray  # int64 (S, P)
    store_in_transit: np.ndarray  # int64 (S, P) allocated to the store, not yet received
    store_carried: np.ndarray  # bool (S, P) the store's assortment
    store_reorder_point: np.ndarray  # int64 (S, P) (0 where not carried)
    store_max_stock: np.ndarray  # int64 (S, P)
    store_last_stockout_ts: np.ndarray  # int64 (S, P) µs, NO_TS = never
    dc_on_hand: np.ndarray  # int64 (D, P)
    dc_on_order: np.ndarray  # int64 (D, P) ordered from suppliers, not yet delivered
    dc_reorder_point: np.ndarray  # int64 (D, P)
    dc_max_stock: np.ndarray  # int64 (D, P)
    dc_last_stockout_ts: np.ndarray  # int64 (D, P)
    schedule: pa.Table = field(default_factory=empty_schedule)  # SCHEDULE_SCHEMA, future actions
    # the id of each store / DC index: 1..S and 1..D for the chain, a subset for a shard (§8.5)
    store_ids: np.ndarray | None = None
    dc_ids: np.ndarray | None = None
    # the DC of each store index (its shard, §8.5): written as home_dc_id so a shard reads only its
    # own rows; None when unknown (a state rebuilt without dimensions), written as NULL
    store_dc_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.store_ids is None:
            self.store_ids = np.arange(1, self.store_on_hand.shape[0] + 1, dtype=np.int64)
        if self.dc_ids is None:
            self.dc_ids = np.arange(1, self.dc_on_hand.shape[0] + 1, dtype=np.int64)

    @property
    def n_stores(self) -> int:
        return self.store_on_hand.shape[0]

    @property
    def n_dcs(self) -> int:
        return self.dc_on_hand.shape[0]

    @property
    def n_products(self) -> int:
        return self.store_on_hand.shape[1]

    def copy(self, state_date: date | None = None) -> CarryState:
        """A deep copy (arrays copied) — the starting point of the next day."""
        return replace(
            self,
            state_date=state_date or self.state_date,
            store_on_hand=self.store_on_hand.copy(),
            store_in_transit=self.store_in_transit.copy(),
            store_last_stockout_ts=self.store_last_stockout_ts.copy(),
            dc_on_hand=self.dc_on_hand.copy(),
            dc_on_order=self.dc_on_order.copy(),
            dc_last_stockout_ts=self.dc_last_stockout_ts.copy(),
        )

    # --- schedule helpers -------------------------------------------------------------------
    def schedule_due(self, day: date, action_type: str | None = None) -> pa.Table:
        """Scheduled actions whose ``due_ts`` falls on ``day`` (optionally of one action type)."""
        lo = cal.day_start_us(day)
        ts = self.schedule.column("due_ts").cast(pa.int64())
        mask = pc.and_(pc.greater_equal(ts, lo), pc.less(ts, lo + cal.US_PER_DAY))
        if action_type is not None:
            mask = pc.and_(mask, pc.equal(self.schedule.column("action_type"), action_type))
        return self.schedule.filter(mask)

    def schedule_after(self, day: date) -> pa.Table:
        """Scheduled actions due after the end of ``day``: what is carried to the next state."""
        ts = self.schedule.column("due_ts").cast(pa.int64())
        return self.schedule.filter(pc.greater_equal(ts, cal.day_start_us(day) + cal.US_PER_DAY))

    # --- tables -----------------------------------------------------------------------------
    def to_tables(self) -> dict[str, pa.Table]:
        """``ctl_state_inventory`` and ``ctl_state_schedule`` rows of ``state_date`` (§8.3 schemas).

        Inventory rows: DCs first (every product), then stores (carried products), each in
        (location_id, product_id) order — i.e. sorted by the primary key.
        """
        inv_spec = CONTROL_TABLES["ctl_state_inventory"]
        parts = []
        store_home = None if self.store_dc_ids is None else np.asarray(self.store_dc_ids, dtype=np.int64)
        for loc_type, loc_ids, home_ids, on_hand, transit, rop, mx, last, mask in (
            ("DC", self.dc_ids, self.dc_ids, self.dc_on_hand, self.dc_on_order, self.dc_reorder_point, self.dc_max_stock,
             self.dc_last_stockout_ts, np.ones_like(self.dc_on_hand, dtype=bool)),
            ("STORE", self.store_ids, store_home, self.store_on_hand, self.store_in_transit, self.store_reorder_point, self.store_max_stock,
             self.store_last_stockout_ts, self.store_carried),
        ):  # fmt: skip
            loc_idx, prod_idx = np.nonzero(mask)
            last_v = last[loc_idx, prod_idx]
            parts.append(
                pa.table(
                    {
                        "state_date": pa.array(np.full(len(loc_idx), self.state_date), type=pa.date32()),
                        "location_type": pa.array(
                            np.full(len(loc_idx), loc_type, dtype=object), type=pa.string()
                        ),
                        "location_id": pa.array(np.asarray(loc_ids, dtype=np.int64)[loc_idx]),
                        "product_id": pa.array(prod_idx.astype(np.int64) + 1),
                        "on_hand": pa.array(on_hand[loc_idx, prod_idx].astype(np.int64)),
                        "in_transit": pa.array(transit[loc_idx, prod_idx].astype(np.int64)),
                        "reorder_point": pa.array(rop[loc_idx, prod_idx].astype(np.int64)),
                        "max_stock": pa.array(mx[loc_idx, prod_idx].astype(np.int64)),
                        "last_stockout_ts": pa.array(last_v, type=pa.int64(), mask=last_v == NO_TS).cast(
                            pa.timestamp("us", tz="UTC")
                        ),
                        "home_dc_id": pa.nulls(len(loc_idx), pa.int64())
                        if home_ids is None
                        else pa.array(np.asarray(home_ids, dtype=np.int64)[loc_idx]),
                    },
                    schema=inv_spec.arrow_schema,
                )
            )
        inventory = pa.concat_tables(parts)
        sched = sort_schedule(self.schedule)
        schedule = pa.table(
            {
                "state_date": pa.array(np.full(sched.num_rows, self.state_date), type=pa.date32()),
                "due_ts": sched.column("due_ts"),
                "action_type": sched.column("action_type"),
                "action_key": sched.column("action_key"),
                "body": sched.column("body"),
                "home_dc_id": self._schedule_home(sched),
            },
            schema=CONTROL_TABLES["ctl_state_schedule"].arrow_schema,
        )
        return {"ctl_state_inventory": inventory, "ctl_state_schedule": schedule}

    def _schedule_home(self, sched: pa.Table) -> pa.Array:
        if self.store_dc_ids is None:
            return pa.nulls(sched.num_rows, pa.int64())
        store_dc = dict(zip(np.asarray(self.store_ids).tolist(), np.asarray(self.store_dc_ids).tolist(), strict=True))
        return pa.array(schedule_home_dc(sched, store_dc), type=pa.int64())

    @classmethod
    def from_tables(
        cls,
        state_date: date,
        inventory: pa.Table,
        schedule: pa.Table,
        dims: dict[str, pa.Table] | None = None,
    ) -> CarryState:
        """Rebuild the state of ``state_date`` from its two control tables, validating them.

        Raises ``StateError`` naming the problem and the fix for: an empty or missing snapshot,
        a wrong ``state_date``, unknown location types, duplicate keys, negative quantities, row
        counts that do not match the dimensions (when ``dims`` is given), and schedule rows with an
        unknown action type, a due time not after the state date, or a body that is not JSON.
        """
        fix = f"re-materialize day {state_date.isoformat()} (the state of D−1) so its state is written again"
        if inventory is None or inventory.num_rows == 0:
            raise StateError(f"ctl_state_inventory has no rows for state_date {state_date}; {fix}.")
        missing = [
            c for c in CONTROL_TABLES["ctl_state_inventory"].column_names if c not in inventory.column_names
        ]
        if missing:
            raise StateError(f"ctl_state_inventory lacks columns {missing}; {fix}.")
        inv = {c: inventory.column(c) for c in inventory.column_names}
        dates = pc.unique(inv["state_date"]).to_pylist()
        if dates != [state_date]:
            raise StateError(
                f"ctl_state_inventory holds state_date {dates}, expected only {state_date}; {fix}."
            )
        bad_types = sorted(set(pc.unique(inv["location_type"]).to_pylist()) - {"STORE", "DC"})
        if bad_types:
            raise StateError(f"ctl_state_inventory has unknown location_type {bad_types}; {fix}.")
        for c in ("location_id", "product_id", "on_hand", "in_transit", "reorder_point", "max_stock"):
            if inv[c].null_count:
                raise StateError(f"ctl_state_inventory.{c} has {inv[c].null_count} NULLs; {fix}.")
        loc_id = inv["location_id"].to_numpy().astype(np.int64)
        prod_id = inv["product_id"].to_numpy().astype(np.int64)
        if loc_id.min() < 1 or prod_id.min() < 1:
            raise StateError(f"ctl_state_inventory has location_id/product_id < 1; {fix}.")
        for c in ("on_hand", "in_transit"):
            neg = int(pc.sum(pc.less(inv[c], 0)).as_py() or 0)
            if neg:
                raise StateError(f"ctl_state_inventory has {neg} rows with negative {c}; {fix}.")
        is_store = pc.equal(inv["location_type"], "STORE").to_numpy(zero_copy_only=False)
        values = {
            c: inv[c].to_numpy().astype(np.int64)
            for c in ("on_hand", "in_transit", "reorder_point", "max_stock")
        }
        # locations by id: the chain's 1..N, or a shard's subset (§8.5)
        store_dc_ids = None
        if dims is not None:
            store_ids, store_dc_ids = stores_and_dcs(dims)
            dc_ids = np.sort(dims["dim_distribution_centers"].column("dc_id").to_numpy().astype(np.int64))
            n_p = dims["dim_products"].num_rows
        else:
            store_ids = np.unique(loc_id[is_store])
            dc_ids = np.unique(loc_id[~is_store])
            n_p = int(prod_id.max())
        n_s, n_d = len(store_ids), len(dc_ids)
        loc_idx = np.zeros(len(loc_id), dtype=np.int64)
        for sel, ids_ in ((is_store, store_ids), (~is_store, dc_ids)):
            pos = np.searchsorted(ids_, loc_id[sel])
            known = (pos < len(ids_)) & (ids_[np.minimum(pos, max(len(ids_) - 1, 0))] == loc_id[sel]) if len(ids_) else pos < 0
            if not known.all() or prod_id.max() > n_p:
                raise StateError(
                    f"ctl_state_inventory references locations or products beyond the dimensions; {fix}."
                )
            loc_idx[sel] = pos
        ts = pc.fill_null(inv["last_stockout_ts"].cast(pa.int64()), NO_TS).to_numpy().astype(np.int64)
        arrays: dict[str, np.ndarray] = {}
        for kind, sel, n_loc in (("store", is_store, n_s), ("dc", ~is_store, n_d)):
            li, pi = loc_idx[sel], prod_id[sel] - 1
            flat = li * n_p + pi
            if len(flat) and (np.bincount(flat, minlength=n_loc * n_p) > 1).any():
                raise StateError(
                    f"ctl_state_inventory has duplicate ({kind.upper()}, location_id, product_id) keys; {fix}."
                )
            present = np.zeros((n_loc, n_p), dtype=bool)
            present[li, pi] = True
            arrays[f"{kind}_present"] = present
            for c in ("on_hand", "in_transit", "reorder_point", "max_stock"):
                a = np.zeros((n_loc, n_p), dtype=np.int64)
                a[li, pi] = values[c][sel]
                arrays[f"{kind}_{c}"] = a
            last = np.full((n_loc, n_p), NO_TS, dtype=np.int64)
            last[li, pi] = ts[sel]
            arrays[f"{kind}_last"] = last
        if not arrays["dc_present"].all():
            raise StateError(
                f"ctl_state_inventory lacks {int((~arrays['dc_present']).sum())} DC rows (every DC stocks every "
                f"product); {fix}."
            )
        if dims is not None:
            carried = carried_mask(dims)
            if not np.array_equal(carried, arrays["store_present"]):
                raise StateError(
                    f"ctl_state_inventory has {int(arrays['store_present'].sum())} STORE rows but the dimensions carry "
                    f"{int(carried.sum())} (store, product) pairs; {fix} (or rebuild the dimensions of this dataset)."
                )
        sched = _validate_schedule(state_date, schedule, fix)
        return cls(
            state_date=state_date,
            store_on_hand=arrays["store_on_hand"],
            store_in_transit=arrays["store_in_transit"],
            store_carried=arrays["store_present"],
            store_reorder_point=arrays["store_reorder_point"],
            store_max_stock=arrays["store_max_stock"],
            store_last_stockout_ts=arrays["store_last"],
            dc_on_hand=arrays["dc_on_hand"],
            dc_on_order=arrays["dc_in_transit"],
            dc_reorder_point=arrays["dc_reorder_point"],
            dc_max_stock=arrays["dc_max_stock"],
            dc_last_stockout_ts=arrays["dc_last"],
            schedule=sched,
            store_ids=store_ids,
            dc_ids=dc_ids,
            store_dc_ids=store_dc_ids,
        )

    def equals(self, other: CarryState) -> bool:
        """Value equality of every array and of the (sorted) schedule."""
        names = [f for f in self.__dataclass_fields__ if f not in ("state_date", "schedule")]
        return (
            self.state_date == other.state_date
            and all(np.array_equal(getattr(self, n), getattr(other, n)) for n in names)
            and sort_schedule(self.schedule).equals(sort_schedule(other.schedule))
        )


def _validate_schedule(state_date: date, schedule: pa.Table | None, fix: str) -> pa.Table:
    if schedule is None or schedule.num_rows == 0:
        return empty_schedule()
    missing = [c for c in CONTROL_TABLES["ctl_state_schedule"].column_names if c not in schedule.column_names]
    if missing:
        raise StateError(f"ctl_state_schedule lacks columns {missing}; {fix}.")
    dates = pc.unique(schedule.column("state_date")).to_pylist()
    if dates != [state_date]:
        raise StateError(f"ctl_state_schedule holds state_date {dates}, expected only {state_date}; {fix}.")
    for c in ("due_ts", "action_type", "action_key", "body"):
        if schedule.column(c).null_count:
            raise StateError(f"ctl_state_schedule.{c} has NULLs; {fix}.")
    kinds = set(pc.unique(schedule.column("action_type")).to_pylist())
    unknown = sorted(kinds - set(SCHEDULE_ACTIONS))
    if unknown:
        raise StateError(f"ctl_state_schedule has unknown action_type {unknown}; {fix}.")
    end = cal.day_start_us(state_date) + cal.US_PER_DAY
    early = int(pc.sum(pc.less(schedule.column("due_ts").cast(pa.int64()), end)).as_py() or 0)
    if early:
        raise StateError(f"ctl_state_schedule has {early} actions due before the end of {state_date}; {fix}.")
    keys = pc.binary_join_element_wise(schedule.column("action_type"), schedule.column("action_key"), "|")
    if pc.count_distinct(keys).as_py() != schedule.num_rows:
        raise StateError(f"ctl_state_schedule has duplicate (action_type, action_key) rows; {fix}.")
    for i, body in enumerate(schedule.column("body").to_pylist()):
        try:
            json.loads(body)
        except (TypeError, ValueError):
            key = schedule.column("action_key")[i].as_py()
            raise StateError(f"ctl_state_schedule body of action {key!r} is not valid JSON; {fix}.") from None
    return sort_schedule(schedule.select(SCHEDULE_SCHEMA.names).cast(SCHEDULE_SCHEMA))


# --- stocking policy (§7.8) -----------------------------------------------------------------------


def carried_mask(dims: dict[str, pa.Table]) -> np.ndarray:
    """(S, P) bool: store s carries product p iff ``popularity_rank ≤ assortment_size``."""
    stores = dims["dim_stores"].sort_by("store_id")
    products = dims["dim_products"].sort_by("product_id")
    rank = products.column("popularity_rank").to_numpy().astype(np.int64)
    size = stores.column("assortment_size").to_numpy().astype(np.int64)
    return rank[None, :] <= size[:, None]


@dataclass(frozen=True)
class Policy:
    """Static stocking policy arrays derived once from the dimensions."""

    carried: np.ndarray  # (S, P) bool
    store_demand: np.ndarray  # (S, P) float units/day
    store_reorder_point: np.ndarray  # (S, P) int64
    store_max_stock: np.ndarray  # (S, P) int64
    dc_reorder_point: np.ndarray  # (D, P) int64
    dc_max_stock: np.ndarray  # (D, P) int64
    review_interval: np.ndarray  # (S,) int64 days


def stocking_policy(dims: dict[str, pa.Table]) -> Policy:
    """The store and DC policy of §7.8 (demand rate, reorder point, order-up-to level)."""
    stores = dims["dim_stores"].sort_by("store_id")
    products = dims["dim_products"].sort_by("product_id")
    n_d = dims["dim_distribution_centers"].num_rows
    carried = carried_mask(dims)
    rank = products.column("popularity_rank").to_numpy().astype(np.float64)
    case_pack = products.column("case_pack").to_numpy().astype(np.int64)
    w = 1.0 / (rank + 10.0)
    mult = stores.column("daily_traffic_multiplier").cast(pa.float64()).to_numpy()
    cov = np.array([cal.coverage_ordinary(h) for h in stores.column("operating_hours").to_pylist()])
    dc_ids = np.sort(dims["dim_distribution_centers"].column("dc_id").to_numpy().astype(np.int64))
    dc_of = location_index(dc_ids, stores.column("dc_id").to_numpy(), "DC")
    stores_per_dc = np.bincount(dc_of, minlength=n_d)
    interval = np.array([math.ceil(stores_per_dc[d] / 2) for d in dc_of], dtype=np.int64)
    wsum = (carried * w[None, :]).sum(axis=1)
    v = RECEIPTS_PER_STORE_DAY * (mult * cov)[:, None] * UNITS_PER_RECEIPT * w[None, :] / wsum[:, None]
    v = np.where(carried, v, 0.0)
    cover = v * (interval[:, None] + 1)
    rop = np.maximum(2, np.ceil(cover + SAFETY_Z * np.sqrt(cover))).astype(np.int64)
    mx = rop + np.maximum(case_pack[None, :], np.ceil(v * interval[:, None]).astype(np.int64))
    rop = np.where(carried, rop, 0)
    mx = np.where(carried, mx, 0)
    big_v = np.zeros((n_d, len(w)))
    np.add.at(big_v, dc_of, v)
    big_v *= DC_ONLINE_UPLIFT
    dc_cover = DC_COVER_DAYS * big_v
    dc_rop = np.maximum(10, np.ceil(dc_cover + SAFETY_Z * np.sqrt(dc_cover))).astype(np.int64)
    dc_mx = dc_rop + np.maximum(10 * case_pack[None, :], np.ceil(DC_MAX_DAYS * big_v).astype(np.int64))
    return Policy(carried, v, rop, mx, dc_rop, dc_mx, interval)


def initial_dc_floor(reorder_point: np.ndarray, max_stock: np.ndarray) -> np.ndarray:
    """Lowest initial DC on-hand: the middle of ``rop .. max_stock`` (model 3; was ``rop + 1``).

    Why: at the start nothing is on order, so a DC product drawn just above its reorder point has no
    delivery coming while every store's first review draws on it; model 2 cut 8-10 % of the stores'
    requested units in the first week. In steady state the position (on-hand + on-order) spreads
    over ``rop .. max``, so the on-hand alone starts in its upper half.
    """
    return (reorder_point + max_stock) // 2 + 1


def stores_and_dcs(dims: dict[str, pa.Table]) -> tuple[np.ndarray, np.ndarray]:
    """(store_id ascending, the dc_id of each) from ``dim_stores``."""
    stores = dims["dim_stores"].sort_by("store_id")
    return (
        stores.column("store_id").to_numpy().astype(np.int64),
        stores.column("dc_id").to_numpy().astype(np.int64),
    )


def initial_state(settings: DatasetSettings, dims: dict[str, pa.Table]) -> CarryState:
    """The state of ``start_date − 1`` (§7.8): store on-hand U{rop+1 .. max_stock}, DC on-hand
    U{(rop+max)/2+1 .. max_stock} (:func:`initial_dc_floor`), nothing in transit.

    Draws: stream ``init_inventory, location_type, location_id``, one integer per stocked product
    in product_id order.
    """
    pol = stocking_policy(dims)
    store_ids, store_dc_ids = stores_and_dcs(dims)
    dc_ids = np.sort(dims["dim_distribution_centers"].column("dc_id").to_numpy().astype(np.int64))
    n_s, n_p = pol.carried.shape
    n_d = pol.dc_reorder_point.shape[0]
    store_on_hand = np.zeros((n_s, n_p), dtype=np.int64)
    for s in range(n_s):
        idx = np.nonzero(pol.carried[s])[0]
        g = rng(settings.seed, "init_inventory", "STORE", int(store_ids[s]), model_version=settings.model_version)
        store_on_hand[s, idx] = g.integers(
            pol.store_reorder_point[s, idx] + 1, pol.store_max_stock[s, idx] + 1
        )
    dc_on_hand = np.zeros((n_d, n_p), dtype=np.int64)
    for d in range(n_d):
        g = rng(settings.seed, "init_inventory", "DC", int(dc_ids[d]), model_version=settings.model_version)
        dc_on_hand[d] = g.integers(
            initial_dc_floor(pol.dc_reorder_point[d], pol.dc_max_stock[d]), pol.dc_max_stock[d] + 1
        )
    return CarryState(
        state_date=date.fromordinal(settings.start_date.toordinal() - 1),
        store_on_hand=store_on_hand,
        store_in_transit=np.zeros((n_s, n_p), dtype=np.int64),
        store_carried=pol.carried,
        store_reorder_point=pol.store_reorder_point,
        store_max_stock=pol.store_max_stock,
        store_last_stockout_ts=np.full((n_s, n_p), NO_TS, dtype=np.int64),
        dc_on_hand=dc_on_hand,
        dc_on_order=np.zeros((n_d, n_p), dtype=np.int64),
        dc_reorder_point=pol.dc_reorder_point,
        dc_max_stock=pol.dc_max_stock,
        dc_last_stockout_ts=np.full((n_d, n_p), NO_TS, dtype=np.int64),
        schedule=empty_schedule(),
        store_ids=store_ids,
        dc_ids=dc_ids,
        store_dc_ids=store_dc_ids,
    )


def ts_to_datetime(ts_us: int) -> datetime:
    """µs since the epoch as an aware UTC datetime (for messages and tests)."""
    return datetime.fromtimestamp(ts_us / 1_000_000, tz=UTC)
