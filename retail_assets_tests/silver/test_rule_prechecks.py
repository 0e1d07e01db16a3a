"""Prechecks say "holds" only when the rule's SQL would find nothing, and "cannot tell" otherwise."""

from __future__ import annotations

import pyarrow as pa

from retail_assets.silver.rules.kinds import KeysIn, KeysUnique
from retail_assets.silver.rules.prechecks import holds

DIM = {"dim_stores": pa.table({"store_id": pa.array([3, 1, 2], pa.int64())})}


def test_unique_keys_hold_and_a_duplicate_or_two_null_keys_do_not():
    data = pa.table({"a": ["x", "y", "x"], "b": [1, 1, 2]})
    assert holds(KeysUnique(("a", "b")), data, {})
    assert not holds(KeysUnique(("a",)), data, {})
    nulls = pa.table({"a": pa.array([None, None], pa.string())})
    assert not holds(KeysUnique(("a",)), nulls, {})  # GROUP BY puts NULLs in one group


def test_references_hold_only_when_every_non_null_value_is_a_key():
    rule = KeysIn("store_id", "dim_stores", "store_id")
    assert holds(rule, pa.table({"store_id": pa.array([1, None, 3, 3], pa.int64())}), DIM)
    assert not holds(rule, pa.table({"store_id": pa.array([1, 4], pa.int64())}), DIM)
    assert not holds(rule, pa.table({"store_id": pa.array([0], pa.int64())}), DIM)  # below the smallest key
    assert not holds(rule, pa.table({"store_id": pa.array([1], pa.int64())}), {})  # no reference: run the SQL


def test_references_of_another_type_fall_back_to_hashing():
    rule = KeysIn("store_id", "dim_stores", "store_id")
    assert holds(rule, pa.table({"store_id": pa.array([1, 2], pa.int32())}), DIM)
    assert not holds(rule, pa.table({"store_id": pa.array([9], pa.int32())}), DIM)
