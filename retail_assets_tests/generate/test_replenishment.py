import itertools
from datetime import date

import numpy as np
import pandas as pd
import pytest

from retail_assets.generate.replenishment import (
    HOME_BY_MIN,
    MAX_TRIPS_PER_WAVE,
    Network,
    greedy_allocate,
    pack_trips,
    priority_of,
    reorder_quantity,
    supplier_review,
    trips_allowed,
    visited_stores,
)
from retail_assets_tests.generate.logistics_sim import CHRISTMAS, SPRING, cached_run


@pytest.fixture(scope="module")
def run():
    return cached_run(*SPRING)


@pytest.fixture(scope="module")
def xmas():
    return cached_run(*CHRISTMAS)


def _df(run, name) -> pd.DataFrame:
    return run.table(name).to_pandas()


def test_reorder_quantity_and_priority_rules():
    assert reorder_quantity(np.array([100]), np.array([10]), np.array([12])).tolist() == [96]
    assert reorder_quantity(np.array([100]), np.array([4]), np.array([12])).tolist() == [96]
    assert reorder_quantity(np.array([100]), np.array([3]), np.array([12])).tolist() == [108]
    # deficit (rop - pos)/rop: 0.5 -> URGENT, 0.25 -> HIGH, below -> NORMAL (exact boundaries)
    assert priority_of(np.array([8, 8, 8, 8]), np.array([4, 5, 6, 7])).tolist() == [2, 1, 1, 0]


def test_greedy_allocation_respects_stock_and_capacity_in_order():
    group = np.array([0, 0, 0, 1, 1])
    requested = np.array([10, 10, 10, 10, 10])
    stock = np.array([4, 50, 50, 50, 50])
    capacity = np.array([15, 15, 15, 100, 100])
    assert greedy_allocate(group, requested, stock, capacity).tolist() == [4, 10, 1, 10, 10]


def test_pack_trips_fills_whole_lines_then_cuts_on_the_last_trip():
    # capacity 10: trip 1 takes 4+5 (6 does not fit whole), trip 2 takes 6+3, trip 3 cuts 8 to 10
    wanted = np.array([4, 5, 6, 3, 8, 7, 2])
    alloc, trip = pack_trips(wanted, 10, 3)
    assert alloc.tolist() == [4, 5, 6, 3, 8, 2, 0]
    assert trip.tolist() == [1, 1, 2, 2, 3, 3, 0]
    for k in (1, 2, 3):
        assert alloc[trip == k].sum() <= 10
    # one trip allowed: the one-trip rule of model 2 (greedy_allocate) exactly
    one, _ = pack_trips(wanted, 10, 1)
    assert one.tolist() == greedy_allocate(np.zeros(7, int), wanted, wanted, np.full(7, 10)).tolist()
    # a line larger than a whole truck is cut to one load and the next trip goes on
    big, bt = pack_trips(np.array([25, 4]), 10, 3)
    assert big.tolist() == [10, 4] and bt.tolist() == [1, 2]


def test_trips_allowed_keeps_the_truck_home_by_half_past_three():
    worst = 300  # minutes
    k = trips_allowed(worst, 240, HOME_BY_MIN)
    assert 1 <= k <= MAX_TRIPS_PER_WAVE
    assert 240 + k * worst + (k - 1) * 30 <= HOME_BY_MIN
    if k < MAX_TRIPS_PER_WAVE:
        assert 240 + (k + 1) * worst + k * 30 > HOME_BY_MIN
    assert trips_allowed(1_000, 720, HOME_BY_MIN) == 1  # one trip is always allowed
    assert trips_allowed(10, 240, HOME_BY_MIN) == MAX_TRIPS_PER_WAVE


def test_christmas_trips_of_a_truck_never_overlap(xmas):
    mv = _df(xmas, "fact_truck_moves")
    d2s = mv[mv.route_type == "DC_TO_STORE"].sort_values(["truck_id", "event_ts", "stop_num"])
    for _, g in d2s.groupby("truck_id"):
        # consecutive trips of one truck: the next leaves only after the previous came back
        ends = g[g.stop_num == 4].set_index("shipment_id_ext").event_ts
        starts = g[g.stop_num == 1].set_index("shipment_id_ext").event_ts
        order = starts.sort_values().index
        for a, b in itertools.pairwise(order):
            if a in ends.index:
                assert ends[a] <= starts[b], (a, b)


def test_reorders_follow_the_policy(run):
    r = _df(run, "fact_reorders")
    assert len(r) > 0
    cp = run.dims["dim_products"].to_pandas().set_index("product_id").case_pack
    pos = r.current_quantity + r.in_transit_quantity
    assert (pos <= r.reorder_point).all()
    assert (r.reorder_quantity > 0).all()
    assert (r.reorder_quantity % cp.loc[r.product_id].to_numpy() == 0).all()
    assert (r.max_stock > r.reorder_point).all()
    assert ((r.allocated_quantity >= 0) & (r.allocated_quantity <= r.reorder_quantity)).all()
    assert (r.shipment_id_ext.isna() == (r.allocated_quantity == 0)).all()
    assert (r.event_ts.dt.hour == 23).all()
    deficit2 = 2 * (r.reorder_point - pos) >= r.reorder_point
    assert ((r.priority == "URGENT") == deficit2).all()


def test_allocations_fit_truck_capacity_and_are_picked_in_full(run):
    r = _df(run, "fact_reorders")
    alloc = r[r.allocated_quantity > 0]
    per_ship = alloc.groupby("shipment_id_ext").allocated_quantity.sum()
    trucks = run.dims["dim_trucks"].to_pandas()
    cap = trucks[trucks.fleet == "DC_TO_STORE"].groupby("dc_id").capacity_units.first()
    ship_dc = alloc.groupby("shipment_id_ext").dc_id.first()
    assert (per_ship <= cap.loc[ship_dc.loc[per_ship.index]].to_numpy()).all()
    dc = _df(run, "fact_dc_inventory_txn")
    out = dc[dc.txn_type == "OUTBOUND_SHIPMENT"].set_index(["source_id_ext", "product_id"]).quantity
    a = alloc.set_index(["shipment_id_ext", "product_id"]).allocated_quantity
    assert len(out) == len(a)
    assert (out.loc[a.index] == -a).all()  # never clipped: stock was reserved at 23:00
    assert (dc.balance_after >= 0).all()


def test_visit_rotation_alternates_stores():
    net_like = Network.__new__(Network)
    object.__setattr__(net_like, "dc_stores", (np.array([0, 1, 2]),))
    s1, w1 = visited_stores(net_like, date(2024, 1, 1), date(2024, 1, 1))
    s2, _ = visited_stores(net_like, date(2024, 1, 1), date(2024, 1, 2))
    assert s1.tolist() == [0, 1] and w1.tolist() == [1, 2]
    assert s2.tolist() == [2, 0]
    assert len(visited_stores(net_like, date(2024, 1, 1), date(2024, 12, 25))[0]) == 0


def test_truck_moves_alternate_and_never_overlap(run):
    mv = _df(run, "fact_truck_moves").sort_values(["truck_id", "event_ts", "stop_num"])
    assert len(mv) > 0
    for _, g in mv.groupby("truck_id"):
        stops_per = 4 if g.route_type.iloc[0] == "DC_TO_STORE" else 2
        # shipments are not interleaved on a truck and their stops come in order
        ship_seq = g.shipment_id_ext.to_numpy()
        changes = ship_seq[1:] != ship_seq[:-1]
        assert len(set(ship_seq)) == changes.sum() + 1
        for _, s in g.groupby("shipment_id_ext", sort=False):
            nums = s.stop_num.tolist()
            assert nums == sorted(nums) and nums == list(range(nums[0], nums[0] + len(nums)))
            assert s.event_ts.is_monotonic_increasing
        assert g.event_ts.is_monotonic_increasing
        assert stops_per in (2, 4)


def test_unload_invariants(run):
    mv = _df(run, "fact_truck_moves")
    d2s = mv[mv.route_type == "DC_TO_STORE"].pivot(
        index="shipment_id_ext", columns="stop_num", values="event_ts"
    )
    act = (
        mv[(mv.route_type == "DC_TO_STORE") & (mv.stop_num == 3)]
        .set_index("shipment_id_ext")
        .actual_unload_minutes
    )
    both = d2s.dropna(subset=[2, 3])
    assert len(both) > 0
    assert ((both[3] - both[2]) == pd.to_timedelta(act.loc[both.index], unit="min")).all()
    assert mv[mv.move_type == "ARRIVED"].actual_unload_minutes.isna().all()
    arr2 = mv[(mv.route_type == "DC_TO_STORE") & (mv.stop_num == 2)]
    assert arr2.estimated_unload_minutes.notna().all()
    ti = _df(run, "fact_truck_inventory")
    units = mv.groupby("shipment_id_ext").units.first()
    sums = ti.groupby(["shipment_id_ext", "action"]).quantity.sum()
    for (ship, _action), q in sums.items():
        assert q == units.loc[ship]
    load = ti[ti.action == "LOAD"].set_index(["shipment_id_ext", "product_id"]).quantity
    unload = (
        ti[(ti.action == "UNLOAD") & (ti.location_type == "STORE")]
        .set_index(["shipment_id_ext", "product_id"])
        .quantity
    )
    common = load.index.intersection(unload.index)
    assert len(common) > 0 and (load.loc[common] == unload.loc[common]).all()
    st = _df(run, "fact_store_inventory_txn")
    inbound = st[st.txn_type == "INBOUND_SHIPMENT"].set_index(["source_id_ext", "product_id"])[
        ["quantity", "event_ts"]
    ]
    u = ti[(ti.action == "UNLOAD") & (ti.location_type == "STORE")].set_index(
        ["shipment_id_ext", "product_id"]
    )
    assert len(inbound) == len(u)
    assert (inbound.loc[u.index].quantity.to_numpy() == u.quantity.to_numpy()).all()
    assert (inbound.loc[u.index].event_ts.to_numpy() == u.event_ts.to_numpy()).all()


def test_in_transit_is_allocated_minus_received(run):
    r = _df(run, "fact_reorders")
    st = _df(run, "fact_store_inventory_txn")
    allocated = r.allocated_quantity.sum()
    received = st[st.txn_type == "INBOUND_SHIPMENT"].quantity.sum()
    assert run.states[-1].store_in_transit.sum() == allocated - received


def test_supplier_review_splits_deliveries_at_capacity(run):
    net = Network.from_dims(run.dims)
    st = run.states[0].copy()
    st.dc_on_hand[:] = 0  # everything below the reorder point: a huge order
    day = next(
        d for d in (date(2024, 4, 8), date(2024, 4, 9)) if ((d - run.settings.start_date).days + 1) % 2 == 0
    )
    orders = supplier_review(run.settings, net, st, day)
    assert len(orders.shipment_id) >= 2
    assert orders.units.max() <= 40000
    assert orders.units.sum() == orders.line_quantity.sum() == st.dc_on_order.sum()
    per = np.bincount(orders.line_delivery, weights=orders.line_quantity).astype(int)
    assert per.tolist() == orders.units.tolist()
    pack = 10 * net.case_pack
    assert (st.dc_on_order[0] % pack == 0).all()


def test_supplier_deliveries_in_the_run(run):
    mv = _df(run, "fact_truck_moves")
    sup = mv[mv.route_type == "SUPPLIER_TO_DC"]
    assert len(sup) > 0
    assert (sup.units <= 40000).all()
    assert sup[sup.stop_num == 1].event_ts.dt.hour.isin([6, 7, 10, 11, 14, 15, 18, 19]).all()
    dc = _df(run, "fact_dc_inventory_txn")
    inbound = dc[dc.txn_type == "INBOUND_SHIPMENT"]
    stop2 = sup[sup.stop_num == 2].set_index("shipment_id_ext").event_ts
    assert (inbound.event_ts.to_numpy() == stop2.loc[inbound.source_id_ext].to_numpy()).all()


def test_christmas_day_has_only_ordering(xmas):
    def on_xmas(df):
        return df[(df.event_ts.dt.month == 12) & (df.event_ts.dt.day == 25)]

    mv = on_xmas(_df(xmas, "fact_truck_moves"))
    assert (mv.move_type == "ARRIVED").all() and (mv.event_ts.dt.hour < 1).all()
    st = on_xmas(_df(xmas, "fact_store_inventory_txn"))
    assert set(st.txn_type) <= {"ONLINE_SALE"}
    dc = on_xmas(_df(xmas, "fact_dc_inventory_txn"))
    assert set(dc.txn_type) <= {"ONLINE_SALE"}
    assert len(on_xmas(_df(xmas, "fact_online_order_lines"))) == 0
    assert len(on_xmas(_df(xmas, "fact_truck_inventory"))) == 0
    assert len(on_xmas(_df(xmas, "fact_online_order_headers"))) > 0
    r = _df(xmas, "fact_reorders")
    assert not r.event_ts.dt.day.isin([24, 25]).any()  # no visits on Dec 25/26 -> no reviews the night before


def test_a_visit_larger_than_a_truck_becomes_back_to_back_trips():
    """Small trucks force splits: every trip fits its truck, trips are numbered 1.. per visit and
    class, and a truck leaves for trip k only 30 min after it is back from trip k − 1."""
    from dataclasses import replace
    from datetime import timedelta

    from retail_assets.config import DatasetSettings
    from retail_assets.generate import build_dimensions, initial_state
    from retail_assets.generate.replenishment import dispatch_store_shipments, store_review_and_allocate

    settings = DatasetSettings(seed=42, scale_factor=0.05, start_date=date(2024, 4, 8))
    dims = build_dimensions(settings)
    state = initial_state(settings, dims)
    n_dcs = dims["dim_distribution_centers"].num_rows
    net = replace(Network.from_dims(dims), dc_truck_capacity=np.full((n_dcs, 2), 400, dtype=np.int64))
    empty = np.zeros_like(state.store_on_hand)  # every carried product is due
    day = date(2024, 4, 10)
    reorders = store_review_and_allocate(settings, net, state, empty, day)
    has = reorders.allocated > 0
    ships = pd.DataFrame(
        {
            "sid": reorders.shipment_id[has].astype(str),
            "units": reorders.allocated[has],
            "trip": reorders.trip[has],
        }
    )
    per = ships.groupby("sid").agg(units=("units", "sum"), trip=("trip", "first"))
    assert (per.units <= 400).all()
    assert per.trip.max() > 1, "the test needs a visit split over several trips"
    assert all(sid.endswith(str(t)) for sid, t in per.trip.items())
    moves = pd.DataFrame(dispatch_store_shipments(settings, net, reorders, day).truck_moves)
    for _, g in moves.groupby("truck_id"):
        dep = g[g.stop_num == 1].sort_values("event_ts")
        back = g[g.stop_num == 4].set_index("shipment_id_ext").event_ts
        prev = None
        for _, row in dep.iterrows():
            if prev is not None:
                assert row.event_ts >= back[prev] + 30 * 60 * 1_000_000
            prev = row.shipment_id_ext
        # the whole day's trips are home before the next day's 04:00 wave
        next_wave = int(pd.Timestamp(day + timedelta(days=2)).value // 1000) + 4 * 3600 * 1_000_000
        assert g.event_ts.max() < next_wave
