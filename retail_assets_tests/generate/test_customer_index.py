"""The customer index a shard worker holds: per home store and bits, yet the same answers as the table."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail_assets import pipeline, sharded_pipeline
from retail_assets.config import DatasetSettings
from retail_assets.generate.customer_index import (
    CUSTOMER_COLUMNS,
    CustomerIndex,
    CustomerLayoutError,
    compact_customers,
)
from retail_assets.generate.dimensions import build_dimensions
from retail_assets.generate.store_context import StoreContext

SETTINGS = DatasetSettings(scale_factor=0.2)


@pytest.fixture(scope="module")
def customers() -> pa.Table:
    return build_dimensions(SETTINGS)["dim_customers"]


def _column(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False)


def test_customer_ids_are_numbered_home_store_by_home_store(customers: pa.Table) -> None:
    assert np.array_equal(_column(customers, "customer_id"), np.arange(1, customers.num_rows + 1))
    home = _column(customers, "home_store_id")
    assert np.all(np.diff(home) >= 0)
    assert len(np.unique(home)) > 10  # many stores, each one run of ids
    share = float(np.mean(_column(customers, "app_user")))
    assert 0.27 < share < 0.33  # the contract's 0.30, still a draw per customer


def test_every_lookup_equals_the_table(customers: pa.Table) -> None:
    index = CustomerIndex.from_table(customers)
    ids = _column(customers, "customer_id")
    assert index.n_customers == customers.num_rows
    assert np.array_equal(index.home_store_of(ids), _column(customers, "home_store_id"))
    assert np.array_equal(index.app_user_of(ids), _column(customers, "app_user"))
    shuffled = np.random.default_rng(1).permutation(ids)
    assert np.array_equal(index.app_user[shuffled - 1], _column(customers, "app_user")[shuffled - 1])
    assert np.array_equal(index.home_store[shuffled - 1], _column(customers, "home_store_id")[shuffled - 1])
    with pytest.raises(IndexError, match=rf"1\.\.{customers.num_rows}"):
        index.home_store_of(np.array([customers.num_rows + 1]))


def test_the_compact_form_is_the_same_from_batches_in_any_order(customers: pa.Table) -> None:
    batches = customers.select(list(CUSTOMER_COLUMNS)).to_batches(max_chunksize=997)
    in_order = compact_customers(batches)
    shuffled = list(batches)
    random.Random(3).shuffle(shuffled)
    assert compact_customers(shuffled).equals(in_order)
    # a row per home store, the flags as bits: no array over every customer
    stores = len(np.unique(_column(customers, "home_store_id")))
    assert in_order.num_rows == stores
    assert in_order.nbytes < customers.num_rows / 8 + 64 * stores + 1024
    a, b = CustomerIndex.from_table(in_order), CustomerIndex.from_table(customers)
    ids = _column(customers, "customer_id")
    assert np.array_equal(a.app_user_of(ids), b.app_user_of(ids))
    assert np.array_equal(a.home_store_of(ids), b.home_store_of(ids))


def test_a_store_context_holds_the_customers_of_its_own_stores(customers: pa.Table) -> None:
    dims = build_dimensions(SETTINGS)
    stores = dims["dim_stores"]
    some = stores.filter(pc.is_in(stores.column("store_id"), pa.array([3, 5, 8, 13], pa.int64())))
    ctx = StoreContext.from_dims({**dims, "dim_stores": some})
    home = _column(dims["dim_customers"], "home_store_id")
    for i, store in enumerate(ctx.store_id.tolist()):
        run = ctx.home_customers_sorted[ctx.home_offsets[i] : ctx.home_offsets[i + 1]]
        assert np.array_equal(run, np.flatnonzero(home == store) + 1), store
    assert ctx.n_customers == dims["dim_customers"].num_rows
    nobody, offsets = CustomerIndex.from_table(dims["dim_customers"]).customers_of(np.array([3, 10**6]))
    assert offsets.tolist() == [0, int(np.sum(home == 3)), int(np.sum(home == 3))]  # a store no one calls home
    assert np.array_equal(nobody, np.flatnonzero(home == 3) + 1)


def test_customers_of_a_model_4_layout_are_refused_with_the_fix(customers: pa.Table) -> None:
    old_layout = customers.set_column(
        customers.schema.get_field_index("home_store_id"),
        "home_store_id",
        pa.array(np.random.default_rng(0).permutation(_column(customers, "home_store_id"))),
    )
    with pytest.raises(CustomerLayoutError, match=r"home store ids decrease.*group:dimensions"):
        CustomerIndex.from_table(old_layout)
    gap = customers.slice(0, 100).select(list(CUSTOMER_COLUMNS)).to_batches()
    later = customers.slice(200, 100).select(list(CUSTOMER_COLUMNS)).to_batches()
    with pytest.raises(CustomerLayoutError, match="customer id 101 is missing"):
        compact_customers([*gap, *later])


def test_a_shard_worker_reads_customers_in_the_compact_form(home_settings, dataset_settings) -> None:
    pipeline.build_and_write_dimensions(home_settings, dataset_settings)
    sharded_pipeline.release_dimensions()
    dims = sharded_pipeline._dims(home_settings, dataset_settings)
    whole = pipeline.load_dimensions(home_settings, dataset_settings)["dim_customers"]
    assert dims["dim_customers"].column_names == ["home_store_id", "first_customer_id", "customer_count", "app_users"]
    index = CustomerIndex.from_table(dims["dim_customers"])
    ids = _column(whole, "customer_id")
    assert np.array_equal(index.app_user_of(ids), _column(whole, "app_user"))
    assert np.array_equal(index.home_store_of(ids), _column(whole, "home_store_id"))
    sharded_pipeline.release_dimensions()
