"""Prechecks say "holds" only when the rule's SQL would find nothing, and "cannot tell" otherwise."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa

from retail_assets.silver.rules.kinds import (
    BalanceWalk,
    CentsOf,
    EventDay,
    InSet,
    KeysIn,
    NotBelow,
    ProductOf,
    SumOf,
    UniqueKey,
)
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


def _day_rows(stamps: list[datetime | None], dates: list | None = None) -> pa.Table:
    day = date(2024, 1, 2)
    return pa.table(
        {
            "event_date": pa.array(dates if dates is not None else [day] * len(stamps), pa.date32()),
            "event_ts": pa.array(stamps, pa.timestamp("us", "UTC")),
        }
    )


def test_event_day_holds_only_inside_the_utc_day():
    day, start = date(2024, 1, 2), datetime(2024, 1, 2, tzinfo=UTC)
    inside = [start, start + timedelta(days=1, microseconds=-1)]
    assert holds(EventDay(), _day_rows(inside), {}, day)
    assert not holds(EventDay(), _day_rows(inside), {})  # no day given: cannot tell
    assert not holds(EventDay(), _day_rows([start + timedelta(days=1)]), {}, day)  # next midnight is D+1
    assert not holds(EventDay(), _day_rows([start - timedelta(microseconds=1)]), {}, day)
    assert not holds(EventDay(), _day_rows(inside, [day, day + timedelta(days=1)]), {}, day)
    assert not holds(EventDay(), _day_rows([start, None]), {}, day)  # NULL is a violation
    naive = pa.table({"event_date": pa.array([day], pa.date32()), "event_ts": pa.array([start], pa.timestamp("us"))})
    assert not holds(EventDay(), naive, {}, day)  # compared in the session time zone by SQL: not judged


def test_enumerations_hold_when_every_non_null_value_is_listed():
    rule = InSet("zone", ("A", "B"))
    assert holds(rule, pa.table({"zone": ["A", None, "B", "A"]}), {})
    assert not holds(rule, pa.table({"zone": ["A", "C"]}), {})
    assert not holds(rule, pa.table({"zone": pa.array([1], pa.int64())}), {})  # not a string column


def test_not_below_sum_and_product_identities():
    assert holds(NotBelow("b", 0), pa.table({"b": pa.array([0, 3], pa.int64())}), {})
    assert not holds(NotBelow("b", 0), pa.table({"b": pa.array([0, -1], pa.int64())}), {})
    assert not holds(NotBelow("b", 0), pa.table({"b": pa.array([1, None], pa.int64())}), {})
    total = SumOf("t", ("s", "x"), ("d",))
    good = pa.table({"t": [10, 5], "s": [9, 5], "x": [2, 1], "d": [1, 1]})
    assert holds(total, good, {})
    assert not holds(total, good.set_column(0, "t", pa.array([10, 6])), {})
    huge = pa.table({"t": [0], "s": [2**62], "x": [0], "d": [2**62]})
    assert not holds(total, huge, {})  # could overflow: let the SQL decide
    ext = ProductOf("e", "u", "q")
    assert holds(ext, pa.table({"e": [6, -4], "u": [3, 2], "q": [2, -2]}), {})
    assert not holds(ext, pa.table({"e": [6, 4], "u": [3, 2], "q": [2, -2]}), {})
    assert not holds(ext, pa.table({"e": [2**32], "u": [2**31], "q": [2]}), {})  # factor too large to prove
    assert not holds(ext, pa.table({"e": pa.array([None], pa.int64()), "u": [1], "q": [1]}), {})


def test_balance_walk_orders_rows_of_one_instant_by_txn_id_like_the_sql():
    """Two transactions of one store and product at the same event_ts: the SQL's last ORDER BY key,
    txn_id_ext, orders them. Rows 0 and 1 share an instant and their ids run against the row order,
    so a sort that kept the row order for equal instants would walk them the wrong way round."""
    data = _txns([0, 0, 0], [2, 2, -3], [1, 1, 1])
    instant = data.column("event_ts")[1].as_py()
    data = data.set_column(2, "event_ts", pa.array([instant, instant, data.column("event_ts")[2].as_py()], pa.timestamp("us", "UTC")))
    data = data.set_column(3, "txn_id_ext", pa.array(["T1", "T0", "T2"]))
    chain = BalanceWalk("store_id", "STORE", "state_prev", end=False)
    prev = {"state_prev": _state({1: 12})}
    # the SQL's order: row 2 (earliest), row 1 (T0), row 0 (T1): 12 - 3 = 9, + 2 = 11, + 2 = 13
    assert holds(chain, data.set_column(5, "balance_after", pa.array([13, 11, 9], pa.int64())), prev)
    # the row order for the tie (row 0 before row 1) is not the SQL's: never proven
    assert not holds(chain, data.set_column(5, "balance_after", pa.array([11, 13, 9], pa.int64())), prev)


def test_unique_key_holds_only_without_duplicates_or_nulls():
    rule = UniqueKey(("k", "n"))
    assert holds(rule, pa.table({"k": ["a", "a", "b"], "n": [1, 2, 1]}), {})
    assert not holds(rule, pa.table({"k": ["a", "a"], "n": [1, 1]}), {})
    assert not holds(rule, pa.table({"k": ["a", None], "n": [1, 1]}), {})  # NULL keys: the SQL groups them
    assert not holds(UniqueKey(("k",), max_rows=2), pa.table({"k": ["a", "b", "c"]}), {})  # over the limit given: not tried
    assert holds(UniqueKey(("k",), max_rows=None), pa.table({"k": ["a", "b", "c"]}), {})  # no limit: proven
    assert not holds(UniqueKey(("f",)), pa.table({"f": [0.0, -0.0]}), {})  # floats are not judged
    assert not holds(UniqueKey(("k",), max_rows=None), pa.table({"k": ["a", "b", "a"]}), {})  # one column
    assert not holds(UniqueKey(("k",), max_rows=None), pa.table({"k": pa.chunked_array([["a"], ["b", "a"]])}), {})


def test_references_into_a_whole_range_of_keys_use_the_range_and_into_a_gappy_one_search():
    rule = KeysIn("store_id", "dim_stores", "store_id")
    dense = {"dim_stores": pa.table({"store_id": pa.array([4, 2, 3, 2], pa.int64())})}  # 2..4, one repeated
    assert holds(rule, pa.table({"store_id": pa.array([2, 4, None], pa.int64())}), dense)
    assert not holds(rule, pa.table({"store_id": pa.array([2, 5], pa.int64())}), dense)
    assert not holds(rule, pa.table({"store_id": pa.array([1, 3], pa.int64())}), dense)
    gappy = {"dim_stores": pa.table({"store_id": pa.array([1, 2, 4], pa.int64())})}
    assert not holds(rule, pa.table({"store_id": pa.array([1, 3, 4], pa.int64())}), gappy)  # 3 is in no row
    assert holds(rule, pa.table({"store_id": pa.array([4, 1], pa.int64())}), gappy)


C10_DAY = date(2024, 1, 2)


def _stockouts(rows: list[tuple[str, int, int, datetime]]) -> pa.Table:
    """(location_type, location id, product_id, event_ts): a STORE's id goes to store_id, a DC's to dc_id."""
    return pa.table(
        {
            "txn_id_ext": [f"S{i}" for i in range(len(rows))],
            "location_type": [r[0] for r in rows],
            "store_id": pa.array([r[1] if r[0] == "STORE" else None for r in rows], pa.int64()),
            "dc_id": pa.array([r[1] if r[0] == "DC" else None for r in rows], pa.int64()),
            "product_id": pa.array([r[2] for r in rows], pa.int64()),
            "event_ts": pa.array([r[3] for r in rows], pa.timestamp("us", "UTC")),
        }
    )


def _stockout_state(rows: list[tuple[str, int, int, datetime | None]]) -> pa.Table:
    return pa.table(
        {
            "location_type": [r[0] for r in rows],
            "location_id": pa.array([r[1] for r in rows], pa.int64()),
            "product_id": pa.array([r[2] for r in rows], pa.int64()),
            "on_hand": pa.array([0] * len(rows), pa.int64()),
            "last_stockout_ts": pa.array([r[3] for r in rows], pa.timestamp("us", "UTC")),
        }
    )


def _c10_sql_offenders(data: pa.Table, state: pa.Table) -> list[str]:
    """What the C10 rule's own SQL reports on ``data`` and ``state`` (the registry's statement)."""
    import duckdb

    from retail_assets.silver.rules import rules_for
    from retail_assets.silver.rules.statement import table_statement

    (rule,) = [r for r in rules_for("fact_stockouts").relational_rules if r.name.startswith("C10")]
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.register("silver", data)
        conn.register("state_prev", state)
        _, rel = conn.execute(table_statement(C10_DAY, [], [rule])).fetchall()[0]
    return [k for x in rel or [] for k in x["sample"]]


def test_stockout_spacing_holds_only_when_the_c10_sql_finds_nothing():
    from retail_assets.silver.rules.kinds import StockoutSpacing

    rule = StockoutSpacing("state_prev", 24)
    t = datetime(2024, 1, 2, 1, tzinfo=UTC)
    spaced = _stockouts([("STORE", 1, 5, t), ("DC", 1, 5, t + timedelta(hours=1)), ("STORE", 1, 6, t)])
    long_ago = _stockout_state([("STORE", 1, 5, t - timedelta(hours=30)), ("DC", 1, 5, None)])
    assert holds(rule, spaced, {"state_prev": long_ago}) and _c10_sql_offenders(spaced, long_ago) == []
    # one store and product twice within a day: the SQL flags it and the precheck cannot tell
    twice = _stockouts([("STORE", 1, 5, t), ("STORE", 1, 5, t + timedelta(hours=23))])
    assert _c10_sql_offenders(twice, long_ago) and not holds(rule, twice, {"state_prev": long_ago})
    # the first stockout of D within 24 h of the state's last one (D-1)
    recent = _stockout_state([("STORE", 1, 5, t - timedelta(hours=2))])
    assert _c10_sql_offenders(spaced, recent) and not holds(rule, spaced, {"state_prev": recent})
    # a STORE's last stockout is no DC's: same ids, other location type
    other_type = _stockout_state([("DC", 1, 6, t - timedelta(hours=2))])
    assert _c10_sql_offenders(spaced, other_type) == [] and holds(rule, spaced, {"state_prev": other_type})
    # a state key that repeats: the LEFT JOIN sees two rows, the precheck leaves it to the SQL
    repeated = _stockout_state([("STORE", 1, 5, None), ("STORE", 1, 5, None)])
    assert not holds(rule, spaced, {"state_prev": repeated})


def test_stockout_spacing_never_says_holds_where_the_c10_sql_finds_an_offender():
    """Random days on few keys and hours, so that collisions are common: "holds" implies no offender."""
    import random

    from retail_assets.silver.rules.kinds import StockoutSpacing

    rng = random.Random(10)
    base = datetime(2024, 1, 2, tzinfo=UTC)
    proven = flagged = 0
    for _ in range(150):
        rows = [
            (rng.choice(["STORE", "DC"]), rng.randint(1, 3), rng.randint(1, 3), base + timedelta(minutes=rng.randint(0, 1439)))
            for _ in range(rng.randint(0, 4))
        ]
        keys = {(lt, loc, p) for lt in ("STORE", "DC") for loc in (1, 2, 3) for p in (1, 2, 3)}
        state = [
            (lt, loc, p, rng.choice([None, base - timedelta(hours=rng.randint(1, 40))]))
            for lt, loc, p in sorted(keys)
            if rng.random() < 0.5
        ]
        data, state_table = _stockouts(rows), _stockout_state(state)
        offenders = _c10_sql_offenders(data, state_table)
        if holds(StockoutSpacing("state_prev", 24), data, {"state_prev": state_table}):
            assert offenders == [], (rows, state)
            proven += 1
        flagged += bool(offenders)
    assert proven > 20 and flagged > 20  # both outcomes were exercised


def test_unique_key_of_several_columns_decides_exactly_like_distinct_tuples():
    """The combined integer key (strings by dictionary index, integers by offset) is unique exactly
    when the rows' key tuples are; ranges too wide for one int64 fall back to a grouping."""
    import random

    rng = random.Random(7)
    decided = {True: 0, False: 0}
    for _ in range(200):
        n = rng.randint(2, 30)
        wide = rng.random() < 0.3
        ids = [rng.choice(["R1", "R2", "R3", "R10", ""]) for _ in range(n)]
        nums = [rng.choice([-(2**62), 2**62]) if wide and rng.random() < 0.5 else rng.randint(-3, 3) for _ in range(n)]
        status = [rng.choice(["PICKED", "SHIPPED"]) for _ in range(n)]
        data = pa.table({"id": ids, "n": pa.array(nums, pa.int64()), "s": status})
        columns = rng.choice([("id", "n"), ("id", "n", "s"), ("n", "s")])
        rows = list(zip(*(data.column(c).to_pylist() for c in columns), strict=True))
        unique = len(set(rows)) == len(rows)
        assert holds(UniqueKey(columns), data, {}) == unique, (columns, rows)
        decided[unique] += 1
    assert decided[True] > 20 and decided[False] > 20
