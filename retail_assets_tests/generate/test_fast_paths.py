"""The generator's fast paths (sorts, cdf search, sort checks, id strings, source ranks) must give
exactly the reference answers of the numpy / Arrow calls they replace.

Generated tables are byte-identical across versions only if these permutations and positions
equal the reference ones, ties, negative keys and fall-backs included.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail_assets.generate import ids
from retail_assets.generate.arrays import lexsort_ints, stable_argsort
from retail_assets.generate.baskets import CdfSearch
from retail_assets.generate.inventory import source_rank
from retail_assets.generate.table_build import is_sorted


@pytest.mark.parametrize(
    ("low", "high", "n"),
    [(0, 5, 1000), (-(10**6), 10**6, 5000), (0, 2**40, 3000), (-(2**62), 2**62, 500), (0, 1, 1)],
)
def test_stable_argsort_equals_numpy_stable_argsort_with_ties(low, high, n):
    keys = np.random.default_rng(n).integers(low, high, size=n, dtype=np.int64)
    np.testing.assert_array_equal(stable_argsort(keys), np.argsort(keys, kind="stable"))


def test_stable_argsort_of_empty_and_float_keys():
    assert len(stable_argsort(np.zeros(0, dtype=np.int64))) == 0
    f = np.array([0.5, 0.1, 0.5, -1.0])
    np.testing.assert_array_equal(stable_argsort(f), np.argsort(f, kind="stable"))


def test_lexsort_ints_equals_numpy_lexsort():
    g = np.random.default_rng(7)
    keys = (g.integers(0, 4, 2000), g.integers(-3, 3, 2000), g.integers(0, 2**50, 2000) // 2**47)
    np.testing.assert_array_equal(lexsort_ints(keys), np.lexsort(keys))


@pytest.mark.parametrize("n_products", [1, 7, 2000, 10000])
def test_cdf_search_equals_searchsorted_right(n_products):
    g = np.random.default_rng(n_products)
    cdf = np.cumsum(1.0 / (g.permutation(n_products) + 10.0))
    x = g.random(20000) * cdf[-1]
    x[:3] = [0.0, cdf[0], cdf[-1]]  # exact hits and the top of the range
    x[3:8] = cdf[g.integers(0, n_products, 5)]
    np.testing.assert_array_equal(CdfSearch(cdf)(x), np.searchsorted(cdf, x, side="right"))


def test_cdf_search_with_repeated_cdf_values():
    cdf = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 3.0])
    x = np.array([0.0, 0.5, 1.0, 2.999, 3.0, 10.0])
    np.testing.assert_array_equal(CdfSearch(cdf)(x), np.searchsorted(cdf, x, side="right"))


def _receipts(ts: list[int], ids: list[str]) -> pa.Table:
    """The sort-key columns of fact_receipts (event_ts, receipt_id_ext) — all ``is_sorted`` reads."""
    return pa.table(
        {
            "event_ts": pa.array(ts, type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "receipt_id_ext": pa.array(ids, type=pa.string()),
        }
    )


def test_is_sorted_checks_keys_only_on_equal_timestamps():
    assert is_sorted("fact_receipts", _receipts([1, 2, 2, 3], ["Z", "A", "B", "A"]))
    assert not is_sorted("fact_receipts", _receipts([1, 2, 2, 3], ["A", "B", "A", "C"]))
    assert not is_sorted("fact_receipts", _receipts([1, 3, 2], ["A", "B", "C"]))


@pytest.mark.parametrize(
    ("values", "width"),
    [
        ([0, 7, 23, 99999], 5),
        ([5], 1),
        ([12, 3], 1),
        (list(range(0, 5000, 37)), 6),
        ([10**12 + 5], 14),
        ([123456], 5),
    ],
)
def test_zpad_fast_path_gives_the_general_path_strings_and_dtype(values, width):
    v = np.array(values, dtype=np.int64)
    fast, general = ids.zpad(v, width), ids._zfill(v.astype(np.str_), width)
    assert fast.dtype == general.dtype
    assert fast.tolist() == general.tolist()


def test_fixed_width_ids_match_the_string_ufunc_ids():
    g = np.random.default_rng(3)
    loc, seq = g.integers(1, 99999, 500), g.integers(1, 9_999_999, 500)
    fast = ids.txn_ids_arrow("S", loc, date(2024, 12, 24), seq)
    assert fast.to_pylist() == ids.txn_ids("S", loc, date(2024, 12, 24), seq).tolist()


def test_source_rank_equals_arrow_dense_rank_with_nulls_last():
    src = np.array(["RCP-b", "RCP-a", None, "RCP-b", "ONL-c", None, "RET-a"], dtype=object)
    reference = pc.rank(
        pa.array(src, type=pa.string()), sort_keys=[("", "ascending", "at_end")], tiebreaker="dense"
    )
    np.testing.assert_array_equal(source_rank(src), reference.to_numpy())
    np.testing.assert_array_equal(source_rank(np.array([None, None], dtype=object)), [1, 1])
