"""Prechecks say "holds" only when the rule's SQL would find nothing, and "cannot tell" otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa

from retail_assets.silver.rules.kinds import BalanceWalk, CentsOf, KeysIn
from retail_assets.silver.rules.prechecks import holds

DIM = {"dim_stores": pa.table({"store_id": pa.array([3, 1, 2], pa.int64())})}


def _txns(balances: list[int], quantities: list[int], products: list[int]) -> pa.Table:
    n = len(balances)
    base = datetime(2024, 1, 2, 8, tzinfo=UTC)
    return pa.table(
        {
            "store_id": pa.array([7] * n, pa.int64()),
            "product_id": pa.array(products, pa.int64()),
            "event_ts": pa.array([base + timedelta(minutes=n - i) for i in range(n)], pa.timestamp("us", "UTC")),
            "txn_id_ext": [f"T{i}" for i in range(n)],
            "quantity": pa.array(quantities, pa.int64()),
            "balance_after": pa.array(balances, pa.int64()),
        }
    )


def _state(on_hand: dict[int, int]) -> pa.Table:
    return pa.table(
        {
            "location_type": ["STORE"] * len(on_hand),
            "location_id": pa.array([7] * len(on_hand), pa.int64()),
            "product_id": pa.array(list(on_hand), pa.int64()),
            "on_hand": pa.array(list(on_hand.values()), pa.int64()),
        }
    )


def test_balance_walk_proves_chain_and_end_only_when_they_hold():
    # rows are listed latest first: in time order product 1 goes 10 -> 7 -> 12, product 2 goes 5 -> 4
    data = _txns([12, 7, 4, 10], [5, -3, -1, 0], [1, 1, 2, 1])
    chain = BalanceWalk("store_id", "STORE", "state_prev", end=False)
    end = BalanceWalk("store_id", "STORE", "state_cur", end=True)
    prev, cur = {"state_prev": _state({1: 10, 2: 5})}, {"state_cur": _state({1: 12, 2: 4})}
    assert holds(chain, data, prev) and holds(end, data, cur)
    assert not holds(chain, data, {"state_prev": _state({1: 9, 2: 5})})  # first row does not continue D-1
    assert not holds(end, data, {"state_cur": _state({1: 12, 2: 3})})
    broken = data.set_column(5, "balance_after", pa.array([13, 7, 4, 10], pa.int64()))
    assert not holds(chain, broken, prev)
    assert holds(chain, data, {"state_prev": _state({})})  # no state row: nothing to continue
    assert not holds(chain, data, {})  # no state relation: let the SQL decide


def test_balance_walk_cannot_tell_on_a_tie_or_repeated_state_keys():
    data = _txns([12, 7, 4, 10], [5, -3, -1, 0], [1, 1, 2, 1])
    chain = BalanceWalk("store_id", "STORE", "state_prev", end=False)
    tied = pa.concat_tables([data, data.slice(0, 1)])
    assert not holds(chain, tied, {"state_prev": _state({1: 10, 2: 5})})
    twice = pa.concat_tables([_state({1: 10, 2: 5}), _state({1: 10})])
    assert not holds(chain, data, {"state_prev": twice})


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


def test_cents_of_two_decimal_money_hold_only_when_every_row_agrees():
    rule = CentsOf("amount", "amount_cents", 2)
    money = pa.array([Decimal("1.25"), Decimal("-0.07"), Decimal("0.00")], pa.decimal128(18, 2))
    good = pa.table({"amount": money, "amount_cents": pa.array([125, -7, 0], pa.int64())})
    assert holds(rule, good, {})
    assert holds(rule, good.slice(1), {})  # a sliced array starts at its offset
    assert not holds(rule, good.set_column(1, "amount_cents", pa.array([125, -7, 1], pa.int64())), {})
    nulls = pa.array([Decimal("1.25"), None, Decimal("0")], pa.decimal128(18, 2))
    assert not holds(rule, good.set_column(0, "amount", nulls), {})  # NULL is a violation the SQL counts
    one_decimal = pa.table(
        {"amount": pa.array([Decimal("2.5")], pa.decimal128(18, 1)), "amount_cents": pa.array([250], pa.int64())}
    )
    assert holds(CentsOf("amount", "amount_cents", 1), one_decimal, {})
