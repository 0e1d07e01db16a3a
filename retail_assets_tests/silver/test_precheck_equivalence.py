"""The array prechecks never say "holds" where the rule's own SQL finds an offender.

Random small days on few keys, so that duplicates, dangling references, NULLs and wrong sums are
common: for each precheck, "holds" must imply that the registry's statement for that rule reports
nothing, and both outcomes must be exercised (a precheck that never proves anything is useless,
one that proves too much changes a finding).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa

from retail_assets.silver.rules import rules_for
from retail_assets.silver.rules.kinds import BalanceWalk, UniqueKey
from retail_assets.silver.rules.prechecks import holds
from retail_assets.silver.rules.statement import table_statement

DAY = date(2024, 1, 2)
BASE = datetime(2024, 1, 2, tzinfo=UTC)
TS = pa.timestamp("us", "UTC")


def _rule(table: str, name: str):
    (rule,) = [r for r in rules_for(table).relational_rules if r.name == name]
    return rule


def _sql_offenders(rule, data: pa.Table, relations: dict[str, pa.Table]) -> list[str]:
    """What the rule's SQL reports on ``data`` with ``relations`` registered (the registry's statement)."""
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.register("silver", data)
        for name, table in relations.items():
            conn.register(name, table)
        _, rel = conn.execute(table_statement(DAY, [], [rule])).fetchall()[0]
    return [k for x in rel or [] for k in x["sample"]]


def _assert_never_proves_an_offender(rule, cases, minimum: int = 15) -> None:
    proven = flagged = 0
    for data, relations in cases:
        offenders = _sql_offenders(rule, data, relations)
        if holds(rule.precheck, data, relations, DAY):
            assert offenders == [], (rule.name, data.to_pylist(), {k: v.to_pylist() for k, v in relations.items()})
            proven += 1
        flagged += bool(offenders)
    assert proven >= minimum and flagged >= minimum, (rule.name, proven, flagged)


def _ids(rng: random.Random, n: int, width_varies: bool) -> list[str | None]:
    """Receipt-like ids: one byte length unless ``width_varies`` (then the fixed-width coding is not used)."""
    pool = [f"RCP-20240102-{i:05d}" for i in range(4)] + (["R-1"] if width_varies else [])
    return [rng.choice(pool) for _ in range(n)]


def test_unique_key_on_fixed_width_strings_decides_exactly_like_distinct_tuples():
    rng = random.Random(3)
    decided = {True: 0, False: 0}
    for _ in range(300):
        n = rng.randint(2, 12)
        ids = _ids(rng, n, width_varies=rng.random() < 0.2)
        nums = [rng.randint(1, 3) for _ in range(n)]
        cut = rng.randint(0, n)
        data = pa.table({"id": pa.chunked_array([ids[:cut], ids[cut:]], pa.string()), "n": pa.array(nums, pa.int64())})
        columns = rng.choice([("id",), ("id", "n")])
        rows = list(zip(*(data.column(c).to_pylist() for c in columns), strict=True))
        unique = len(set(rows)) == len(rows)
        assert holds(UniqueKey(columns), data, {}) == unique, (columns, rows)
        decided[unique] += 1
    assert decided[True] > 30 and decided[False] > 30


def test_node_reference_precheck_agrees_with_its_sql():
    rule = _rule("fact_online_order_lines", "C9 (node_type, node_id) -> dim_stores / dim_distribution_centers")
    rng = random.Random(11)
    cases = []
    for _ in range(100):
        n = rng.randint(0, 5)
        data = pa.table(
            {
                "node_type": pa.array([rng.choice(["STORE", "DC", None]) for _ in range(n)], pa.string()),
                "node_id": pa.array([rng.choice([1, 2, 3, None]) for _ in range(n)], pa.int64()),
            }
        )
        stores = pa.table({"store_id": pa.array(rng.sample([1, 2, 3], rng.randint(1, 3)), pa.int64())})
        dcs = pa.table({"dc_id": pa.array(rng.sample([1, 2, 3], rng.randint(1, 3)), pa.int64())})
        cases.append((data, {"dim_stores": stores, "dim_distribution_centers": dcs}))
    _assert_never_proves_an_offender(rule, cases)


def _receipts(rng: random.Random, ids: list[str | None]) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "event_date": pa.array([rng.choice([DAY, DAY, DAY - timedelta(days=1)]) for _ in range(n)], pa.date32()),
            "receipt_id_ext": pa.array(ids, pa.string()),
            "subtotal_cents": pa.array([rng.randint(0, 2) for _ in range(n)], pa.int64()),
            "discount_cents": pa.array([rng.choice([0, 0, 1, None]) for _ in range(n)], pa.int64()),
            "tax_cents": pa.array([rng.randint(0, 1) for _ in range(n)], pa.int64()),
            "line_count": pa.array([rng.randint(0, 2) for _ in range(n)], pa.int64()),
        }
    )


def _lines(rng: random.Random, ids: list[str | None]) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "receipt_id_ext": pa.array(ids, pa.string()),
            "line_num": pa.array([rng.randint(1, 2) for _ in range(n)], pa.int64()),
            "ext_cents": pa.array([rng.randint(0, 1) for _ in range(n)], pa.int64()),
            "discount_cents": pa.array([rng.choice([0, 0, 1]) for _ in range(n)], pa.int64()),
            "tax_cents": pa.array([rng.randint(0, 1) for _ in range(n)], pa.int64()),
        }
    )


def _receipt_cases(seed: int, consistent: bool) -> list[tuple[pa.Table, dict[str, pa.Table]]]:
    """Lines and the day's receipts; ``consistent``: receipts summed from the lines (a few broken)."""
    rng = random.Random(seed)
    cases = []
    for _ in range(120):
        lines = _lines(rng, _ids(rng, rng.randint(0, 5), width_varies=rng.random() < 0.2))
        if consistent:
            by_id: dict[str, list[int]] = {}
            for row in lines.to_pylist():
                t = by_id.setdefault(row["receipt_id_ext"], [0, 0, 0, 0])
                for i, c in enumerate(("ext_cents", "discount_cents", "tax_cents")):
                    t[i] += row[c]
                t[3] += 1
            receipts = pa.table(
                {
                    "event_date": pa.array([DAY] * len(by_id), pa.date32()),
                    "receipt_id_ext": pa.array(list(by_id), pa.string()),
                    "subtotal_cents": pa.array([t[0] + (rng.random() < 0.1) for t in by_id.values()], pa.int64()),
                    "discount_cents": pa.array([t[1] for t in by_id.values()], pa.int64()),
                    "tax_cents": pa.array([t[2] for t in by_id.values()], pa.int64()),
                    "line_count": pa.array([t[3] - (rng.random() < 0.1) for t in by_id.values()], pa.int64()),
                }
            )
            if rng.random() < 0.2:
                receipts = pa.concat_tables([receipts, _receipts(rng, _ids(rng, 1, False))])
        else:
            receipts = _receipts(rng, _ids(rng, rng.randint(0, 4), width_varies=False))
        cases.append((lines, {"day_fact_receipts": receipts}))
    return cases


def test_same_day_parent_precheck_agrees_with_its_sql():
    rule = _rule("fact_receipt_lines", "C9 lines -> same-day receipt")
    _assert_never_proves_an_offender(rule, _receipt_cases(5, consistent=False))


def test_document_sums_precheck_agrees_with_its_sql():
    rule = _rule("fact_receipt_lines", "C7 receipt = Σ its lines (subtotal, discount, tax)")
    _assert_never_proves_an_offender(rule, _receipt_cases(6, consistent=True))


def test_two_column_parent_and_promotion_sums_agree_with_their_sql():
    parent = _rule("fact_promo_lines", "C9 promo line -> receipt line")
    sums = _rule("fact_promo_lines", "C7 promotion = Σ its promo lines")
    rng = random.Random(9)
    parent_cases, sum_cases = [], []
    for _ in range(120):
        n = rng.randint(0, 5)
        promo_lines = pa.table(
            {
                "receipt_id_ext": pa.array(_ids(rng, n, rng.random() < 0.2), pa.string()),
                "line_num": pa.array([rng.choice([1, 2, None]) for _ in range(n)], pa.int64()),
                "promo_code": pa.array([rng.choice(["P10", "P20"]) for _ in range(n)], pa.string()),
                "discount_cents": pa.array([rng.randint(0, 1) for _ in range(n)], pa.int64()),
            }
        )
        m = rng.randint(0, 5)
        receipt_lines = pa.table(
            {
                "event_date": pa.array([rng.choice([DAY, DAY, DAY + timedelta(days=1)]) for _ in range(m)], pa.date32()),
                "receipt_id_ext": pa.array(_ids(rng, m, False), pa.string()),
                "line_num": pa.array([rng.choice([1, 2]) for _ in range(m)], pa.int64()),
            }
        )
        parent_cases.append((promo_lines, {"day_fact_receipt_lines": receipt_lines}))
        groups: dict[tuple, list[int]] = {}
        for row in promo_lines.to_pylist():
            g = groups.setdefault((row["receipt_id_ext"], row["promo_code"]), [0, 0])
            g[0] += row["discount_cents"]
            g[1] += 1
        promotions = pa.table(
            {
                "receipt_id_ext": pa.array([k[0] for k in groups], pa.string()),
                "promo_code": pa.array([k[1] for k in groups], pa.string()),
                "discount_cents": pa.array([g[0] + (rng.random() < 0.1) for g in groups.values()], pa.int64()),
                "product_count": pa.array([g[1] for g in groups.values()], pa.int64()),
            }
        )
        sum_cases.append((promo_lines, {"day_fact_promotions": promotions}))
    _assert_never_proves_an_offender(parent, parent_cases)
    _assert_never_proves_an_offender(sums, sum_cases)


def _documents(rng: random.Random, prefix: str, n: int) -> pa.Table:
    key = "receipt_id_ext" if prefix == "RCP" else "order_id_ext"
    return pa.table(
        {
            key: pa.array([f"{prefix}-20240102-{rng.randint(0, 3):05d}" for _ in range(n)], pa.string()),
            "event_ts": pa.array([BASE + timedelta(hours=rng.randint(0, 3)) for _ in range(n)], TS),
            "total_cents": pa.array([rng.randint(1, 2) for _ in range(n)], pa.int64()),
        }
    )


def test_payment_prechecks_agree_with_their_sql():
    names = (
        "C7 payment amount = document total",
        "C7 exactly one APPROVED payment per document",
        "C9 payment -> same-day document",
        "C11 payment after its receipt/order",
    )
    rng = random.Random(21)
    cases = []
    for _ in range(100):
        receipts, orders = _documents(rng, "RCP", rng.randint(0, 3)), _documents(rng, "ONL", rng.randint(0, 2))
        docs = receipts.column("receipt_id_ext").to_pylist() + orders.column("order_id_ext").to_pylist()
        n = rng.randint(0, 4)
        picks = [rng.choice([*docs, "RCP-20240102-00009"]) if docs else "RCP-20240102-00009" for _ in range(n)]
        data = pa.table(
            {
                "transaction_id_ext": pa.array([f"T{i}" for i in range(n)], pa.string()),
                "receipt_id_ext": pa.array([p if p.startswith("RCP") else None for p in picks], pa.string()),
                "order_id_ext": pa.array([p if p.startswith("ONL") else None for p in picks], pa.string()),
                "amount_cents": pa.array([rng.randint(1, 2) for _ in range(n)], pa.int64()),
                "event_ts": pa.array([BASE + timedelta(hours=rng.randint(0, 4)) for _ in range(n)], TS),
                "status": pa.array([rng.choice(["APPROVED", "APPROVED", "DECLINED", None]) for _ in range(n)], pa.string()),
            }
        )
        cases.append((data, {"day_fact_receipts": receipts, "day_fact_online_order_headers": orders}))
    for name in names:
        _assert_never_proves_an_offender(_rule("fact_payments", name), cases, minimum=10)


def test_balance_walk_of_rows_in_time_order_agrees_with_the_chain_and_end_sql():
    """Rows listed in event_ts order take the radix-sorted walk and the dense state table."""
    chain = _rule("fact_store_inventory_txn", "C8 balance chain continuous from ctl_state_inventory(D-1)")
    end = _rule("fact_store_inventory_txn", "C8 last balance of D = ctl_state_inventory(D).on_hand")
    assert isinstance(chain.precheck, BalanceWalk) and isinstance(end.precheck, BalanceWalk)
    rng = random.Random(4)
    chain_cases, end_cases = [], []
    for _ in range(120):
        n = rng.randint(1, 6)
        minutes = sorted(rng.randint(0, 5) for _ in range(n))
        stores, products = [rng.choice([1, 2]) for _ in range(n)], [rng.choice([5, 9]) for _ in range(n)]
        quantities = [rng.choice([-1, 1, 2]) for _ in range(n)]
        running: dict[tuple[int, int], int] = {}
        start = {(s, p): rng.randint(0, 3) for s in (1, 2) for p in (5, 9)}
        balances = []
        for s, p, q in zip(stores, products, quantities, strict=True):
            running[(s, p)] = running.get((s, p), start[(s, p)]) + q
            balances.append(running[(s, p)] + (rng.random() < 0.1))
        data = pa.table(
            {
                "event_ts": pa.array([BASE + timedelta(minutes=m) for m in minutes], TS),
                "txn_id_ext": pa.array([f"ITX-{i:03d}" for i in range(n)], pa.string()),
                "store_id": pa.array(stores, pa.int64()),
                "product_id": pa.array(products, pa.int64()),
                "quantity": pa.array(quantities, pa.int64()),
                "balance_after": pa.array(balances, pa.int64()),
            }
        )

        def state(values: dict[tuple[int, int], int]) -> pa.Table:
            keys = [k for k in values if rng.random() < 0.8]
            return pa.table(
                {
                    "location_type": pa.array([rng.choice(["STORE", "STORE", "DC"]) for _ in keys], pa.string()),
                    "location_id": pa.array([k[0] for k in keys], pa.int64()),
                    "product_id": pa.array([k[1] for k in keys], pa.int64()),
                    "on_hand": pa.array([values[k] + (rng.random() < 0.1) for k in keys], pa.int64()),
                    "last_stockout_ts": pa.array([None] * len(keys), TS),
                }
            )

        chain_cases.append((data, {"state_prev": state(start)}))
        end_cases.append((data, {"state_cur": state({**start, **running})}))
    _assert_never_proves_an_offender(chain, chain_cases)
    _assert_never_proves_an_offender(end, end_cases)


def _order_tables(rng: random.Random) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(lines of D, Silver lines of earlier days, Silver headers up to D) on a few orders and days."""
    orders = [(DAY - timedelta(days=d), i) for d in (0, 1, 3, 9) for i in (1, 2)]

    def order_id(o: tuple[date, int]) -> str:
        return f"ONL-{o[0]:%Y%m%d}-00001-{o[1]:06d}"

    def lines(n: int, days: list[date]) -> pa.Table:
        picked = [rng.choice(orders) for _ in range(n)]
        dates = [rng.choice(days) for _ in range(n)]
        return pa.table(
            {
                "event_ts": pa.array([datetime(d.year, d.month, d.day, rng.randint(0, 3), tzinfo=UTC) for d in dates], TS),
                "event_date": pa.array(dates, pa.date32()),
                "order_id_ext": pa.array([order_id(o) for o in picked], pa.string()),
                "line_num": pa.array([rng.randint(1, 2) for _ in range(n)], pa.int64()),
                "line_status": pa.array([rng.choice(["PICKED", "SHIPPED", "DELIVERED"]) for _ in range(n)], pa.string()),
                "ext_cents": pa.array([rng.randint(0, 1) for _ in range(n)], pa.int64()),
                "discount_cents": pa.array([0] * n, pa.int64()),
                "tax_cents": pa.array([rng.randint(0, 1) for _ in range(n)], pa.int64()),
            }
        )

    headers_of = [o for o in orders if rng.random() < 0.8]
    headers = pa.table(
        {
            "event_date": pa.array([o[0] for o in headers_of], pa.date32()),
            "order_id_ext": pa.array([order_id(o) for o in headers_of], pa.string()),
            "line_count": pa.array([rng.randint(1, 3) for _ in headers_of], pa.int64()),
            "subtotal_cents": pa.array([rng.randint(0, 2) for _ in headers_of], pa.int64()),
            "discount_cents": pa.array([0] * len(headers_of), pa.int64()),
            "tax_cents": pa.array([rng.randint(0, 1) for _ in headers_of], pa.int64()),
        }
    )
    earlier = [DAY - timedelta(days=d) for d in (1, 2, 8)]
    return lines(rng.randint(1, 6), [DAY]), lines(rng.randint(0, 6), earlier), headers


def test_order_line_rules_reading_shared_relations_find_what_the_legacy_sql_found():
    """The order lines' parent, status-order and cross-day sum rules read the Silver tables once
    (shared relations); the frozen legacy rules scanned them per rule: same offenders, same counts."""
    from retail_assets_tests.silver import legacy_checks

    names = (
        "C9 order line -> header (same or earlier day)",
        "C11 PICKED < SHIPPED < DELIVERED per line",
        "C7 order header = Σ its PICKED lines (cross-day)",
    )
    _, legacy_rules = legacy_checks.rules_for("fact_online_order_lines", DAY)
    legacy = {f"{r.rule_id} {r.label}": r for r in legacy_rules}
    rng = random.Random(13)
    found = dict.fromkeys(names, 0)
    for _ in range(60):
        silver, earlier, headers = _order_tables(rng)
        relations = {"ag_fact_online_order_lines": earlier, "ag_fact_online_order_headers": headers}
        for name in names:
            rule = _rule("fact_online_order_lines", name)
            with duckdb.connect() as conn:
                conn.register("silver", silver)
                for relation, table in relations.items():
                    conn.register(relation, table)
                _, rel = conn.execute(table_statement(DAY, [], [rule])).fetchall()[0]
                mine = (rel[0]["n"], rel[0]["sample"]) if rel else (0, [])
                n, keys = conn.execute(
                    f"SELECT count(*), list(k ORDER BY k) FROM ({legacy_checks._fmt(legacy[name].sql, DAY)})"
                ).fetchall()[0]
            assert mine == (n, list(keys or [])[:5]), (name, silver.to_pylist(), earlier.to_pylist(), headers.to_pylist())
            found[name] += bool(n)
    assert all(n >= 5 for n in found.values()), found


def test_same_day_parent_prechecks_and_shared_parent_rows_match_their_rules():
    """A ``KeysInParent`` proves a plain same-day parent rule (no child filter, no parent day) over
    that rule's own relation and columns; a rule's ``parent_rows`` is shared and is its window."""
    from retail_assets.contract.tables import FACT_TABLES
    from retail_assets.silver.rules.kinds import DayWindow, KeysInParent, ParentRule

    seen = 0
    for table in FACT_TABLES:
        for rule in rules_for(table).relational_rules:
            if isinstance(rule.precheck, KeysInParent):
                assert isinstance(rule, ParentRule) and rule.window is DayWindow.SAME_DAY, rule.name
                assert rule.child_where is None and rule.parent_day_in is None, rule.name
                assert rule.precheck.relation == rule.parent_relation, rule.name
                assert (rule.precheck.child, rule.precheck.parent) == (rule.child_cols, rule.parent_cols), rule.name
                seen += 1
            if isinstance(rule, ParentRule) and rule.parent_rows is not None:
                assert rule.parent_rows in rule.shared, rule.name
                assert rule.window.predicate in rule.parent_rows.sql and rule.parent_relation in rule.parent_rows.sql
                seen += 1
    assert seen >= 4
