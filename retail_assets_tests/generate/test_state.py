from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail_assets.contract.tables import CONTROL_TABLES
from retail_assets.generate.state import CarryState, StateError, initial_state, stocking_policy
from retail_assets_tests.generate.logistics_sim import SPRING, cached_run


@pytest.fixture(scope="module")
def run():
    return cached_run(*SPRING)


def test_initial_state_is_day_before_start_and_above_reorder_point(run):
    st = run.states[0]
    assert st.state_date == date(2024, 4, 7)
    c = st.store_carried
    assert (st.store_on_hand[c] > st.store_reorder_point[c]).all()
    assert (st.store_on_hand[c] <= st.store_max_stock[c]).all()
    assert (st.store_on_hand[~c] == 0).all()
    assert (st.dc_on_hand > st.dc_reorder_point).all() and (st.dc_on_hand <= st.dc_max_stock).all()
    assert (st.store_in_transit == 0).all() and (st.dc_on_order == 0).all()


def test_policy_levels_respect_the_contract_formulas(run):
    pol = stocking_policy(run.dims)
    cp = run.dims["dim_products"].sort_by("product_id").column("case_pack").to_numpy()
    c = pol.carried
    assert (pol.store_reorder_point[c] >= 2).all()
    assert (pol.store_max_stock - pol.store_reorder_point)[c].min() >= cp.min()
    assert ((pol.dc_max_stock - pol.dc_reorder_point) >= 10 * cp[None, :]).all()
    assert (pol.dc_reorder_point >= 10).all()


def test_initial_state_is_deterministic(run):
    again = initial_state(run.settings, run.dims)
    assert again.equals(run.states[0])


def test_round_trip_through_tables(run):
    st = run.states[-1]
    assert st.schedule.num_rows > 0  # a real schedule with trucks, orders…
    tables = st.to_tables()
    for name, t in tables.items():
        assert t.schema == CONTROL_TABLES[name].arrow_schema
    back = CarryState.from_tables(
        st.state_date, tables["ctl_state_inventory"], tables["ctl_state_schedule"], run.dims
    )
    assert back.equals(st)
    assert back.to_tables()["ctl_state_inventory"].equals(tables["ctl_state_inventory"])
    n_carried = int(st.store_carried.sum())
    assert tables["ctl_state_inventory"].num_rows == n_carried + st.dc_on_hand.size


def _tables(run):
    st = run.states[-1]
    t = st.to_tables()
    return st, t["ctl_state_inventory"], t["ctl_state_schedule"]


def _set(table: pa.Table, col: str, idx: int, value) -> pa.Table:
    vals = table.column(col).to_pylist()
    vals[idx] = value
    return table.set_column(
        table.schema.get_field_index(col), col, pa.array(vals, type=table.schema.field(col).type)
    )


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda inv, sch: (_set(inv, "on_hand", 3, -4), sch), "negative on_hand"),
        (lambda inv, sch: (pa.concat_tables([inv, inv.slice(0, 1)]), sch), "duplicate"),
        (lambda inv, sch: (inv.slice(1), sch), "DC rows"),
        (
            lambda inv, sch: (
                inv.filter(
                    pc.invert(
                        pc.and_(
                            pc.equal(inv.column("location_type"), "STORE"),
                            pc.equal(inv.column("product_id"), 1),
                        )
                    )
                ),
                sch,
            ),
            "STORE rows",
        ),
        (lambda inv, sch: (inv, _set(sch, "body", 0, "{not json")), "not valid JSON"),
        (lambda inv, sch: (inv, _set(sch, "action_type", 0, "TELEPORT")), "unknown action_type"),
        (lambda inv, sch: (inv.slice(0, 0), sch), "no rows"),
    ],
)
def test_corrupted_snapshot_raises_state_error_with_fix(run, corrupt, message):
    st, inv, sch = _tables(run)
    bad_inv, bad_sch = corrupt(inv, sch)
    with pytest.raises(StateError, match=message) as err:
        CarryState.from_tables(st.state_date, bad_inv, bad_sch, run.dims)
    assert f"re-materialize day {st.state_date.isoformat()}" in str(err.value)


def test_wrong_state_date_is_refused(run):
    _st, inv, sch = _tables(run)
    with pytest.raises(StateError, match="expected only"):
        CarryState.from_tables(date(2030, 1, 1), inv, sch, run.dims)


def test_schedule_due_before_end_of_state_date_is_refused(run):
    st, inv, sch = _tables(run)
    early = pa.array(np.full(sch.num_rows, 0), type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    sch = sch.set_column(sch.schema.get_field_index("due_ts"), "due_ts", early)
    with pytest.raises(StateError, match="due before the end"):
        CarryState.from_tables(st.state_date, inv, sch, run.dims)
