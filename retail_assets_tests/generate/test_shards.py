"""Shard-count independence (contract §8.4): 1, 3 or one-per-DC shards give identical tables and
state, day after day over Christmas, with the state split and merged again between days."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pytest

from retail_assets.config import DatasetSettings
from retail_assets.generate import build_dimensions, generate_day, initial_state
from retail_assets.generate.shards import (
    generate_day_in_shards,
    merge_states,
    plan_shards,
    schedule_home_dc,
    split_state,
)

START = date(2024, 12, 22)
N_DAYS = 5  # Dec 22 .. Dec 26: the Christmas closure, the boxing-day truck gap, online restarts


@pytest.fixture(scope="module")
def world():
    settings = DatasetSettings(seed=42, scale_factor=0.2, start_date=START)
    dims = build_dimensions(settings)
    return settings, dims


def _days(settings, dims, n_shards: int | None):
    state = initial_state(settings, dims)
    out = []
    for i in range(N_DAYS):
        day = START + timedelta(days=i)
        if n_shards is None:
            res = generate_day(settings, dims, state, day)
        else:
            res = generate_day_in_shards(settings, dims, state, day, n_shards)
        out.append(res)
        state = res.state
    return out


def test_the_dataset_has_several_dcs_to_shard(world):
    _, dims = world
    assert dims["dim_distribution_centers"].num_rows >= 4
    assert len(plan_shards(dims, 3)) == 3


@pytest.mark.parametrize("n_shards", [1, 3, 64])
def test_any_shard_count_gives_the_same_tables_and_state(world, n_shards):
    settings, dims = world
    whole = _days(settings, dims, None)
    sharded = _days(settings, dims, n_shards)
    rows = 0
    for a, b in zip(whole, sharded, strict=True):
        for name, table in a.tables.items():
            assert b.tables[name].equals(table), f"{name} of {a.day} differs with {n_shards} shards"
            rows += table.num_rows
        assert b.state.equals(a.state), f"state of {a.day} differs with {n_shards} shards"
    assert rows > 100_000
    # the days really used the seams: online orders of several DCs, supplier slots, returns
    onl = pa.concat_tables([r.tables["fact_online_order_headers"] for r in whole])
    assert len({k.split("-")[2] for k in onl.column("order_id_ext").to_pylist()}) >= 4


def test_split_then_merge_is_the_identity(world):
    settings, dims = world
    state = _days(settings, dims, None)[-1].state
    assert state.schedule.num_rows > 0
    parts = [split_state(state, dims, sh) for sh in plan_shards(dims, 3)]
    assert sum(p.schedule.num_rows for p in parts) == state.schedule.num_rows
    assert merge_states(parts).equals(state)


def test_every_scheduled_action_has_a_home_dc(world):
    settings, dims = world
    state = _days(settings, dims, None)[-1].state
    stores = dims["dim_stores"]
    store_dc = dict(zip(stores.column("store_id").to_pylist(), stores.column("dc_id").to_pylist(), strict=True))
    home = schedule_home_dc(state.schedule, store_dc)
    assert set(np.unique(home).tolist()) <= set(dims["dim_distribution_centers"].column("dc_id").to_pylist())
    bad = state.schedule.slice(0, 1).set_column(
        state.schedule.schema.get_field_index("action_key"), "action_key", pa.array(["XYZ-1-2-3"])
    )
    with pytest.raises(ValueError, match="name no store or DC"):
        schedule_home_dc(bad, store_dc)


def test_shards_cover_each_dc_once(world):
    _, dims = world
    all_dcs = sorted(dims["dim_distribution_centers"].column("dc_id").to_pylist())
    for n in (1, 2, 3, 5, 64):
        shards = plan_shards(dims, n)
        assert sorted(d for sh in shards for d in sh.dc_ids) == all_dcs
        assert [sh.index for sh in shards] == list(range(len(shards)))
