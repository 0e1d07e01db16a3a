"""FROZEN legacy reference: ``retail_assets/silver/checks.py`` as of main 53fdf18, before the rules
became data (``retail_assets/silver/rules``). Do not edit: ``test_rules_equivalence.py`` proves the
registry-driven checks produce the same findings as this if-chain on generated days, with and
without injected violations. Delete it together with that test once the equivalence no longer
needs proving (e.g. when a rule deliberately changes).

Original docstring follows.

The contract's Silver checks (§6.3, C1–C13) as data, evaluated together per table and day.

Why a registry: each rule is one entry (id, check group, severity, SQL that yields offending keys or
a per-row predicate), derived from the contract where possible (not-null from nullability, enums
from ``Column.enum``, cents from money pairs, FKs from ``*_id`` columns). Evaluation is cheap by
construction: every per-row rule of a table is one aggregate in a single scan of the built rows
(offending keys are gathered only for rules that failed), all relational rules run as one UNION ALL
statement, and the reference relations shared by the day's 18 tables (dimension keys, inventory
state, manifest) come from a per-process cache keyed by Delta version (``reference.py``). Results carry numbers (counts, a few offending
keys) so a failing check explains itself in the UI. Rules that need a relation that does not exist
yet (a dimension, yesterday's state, a parent Silver table) are skipped with a note, never guessed.

Everything here is DuckDB SQL over Arrow: the checks run the same whichever engine built the rows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.checks.result import CheckResult, Severity
from retail_assets.contract.events import ENVELOPE_FIELDS, EVENT_TYPES, Derived, bronze_event_spec
from retail_assets.contract.mappings import SILVER_MAPPINGS, Cents
from retail_assets.contract.tables import CONTROL_TABLES, FACT_TABLES, money_pairs
from retail_assets.lake import delta
from retail_assets.silver import compiler
from retail_assets.silver.build import SilverBuild
from retail_assets.silver.duckdb_compiler import DUCKDB
from retail_assets.silver.reference import REFERENCE_CACHE, columns_reader, partition_reader

SAMPLE_SIZE = 5


# --- check groups: the Dagster check specs (names are part of the interface) ------------------

SCHEMA_EQUALITY = "schema_equality"  # C1
ROW_COUNT_ADDITIVITY = "row_count_additivity"  # C2
NO_OVERLAP = "no_overlap"  # C3
COMPLETENESS = "completeness"  # C4
KEYS_AND_VALUES = "keys_and_values"  # C5 keys/nullability, C6 event date, C13 enumerations
MONEY = "money"  # C7
INVENTORY_BALANCE = "inventory_balance"  # C8
RELATIONSHIPS = "relationships"  # C9 references, C10 stockout de-dup, C11 time order
EVENT_REDUNDANCY = "event_redundancy"  # C12

GROUP_DESCRIPTIONS: dict[str, str] = {
    SCHEMA_EQUALITY: "C1: mapped stream relation has the batch table's column names, order and types",
    ROW_COUNT_ADDITIVITY: "C2: silver rows = batch rows + de-duplicated stream rows included",
    NO_OVERLAP: "C3: a day's rows come from one path, the one named in ctl_day_manifest",
    COMPLETENESS: "C4: silver rows = ctl_day_manifest.expected_rows",
    KEYS_AND_VALUES: "C5 primary key unique/not null and NOT NULL columns; C6 event_date; C13 enums",
    MONEY: "C7: cents = amount rounded half away from zero, ext/total identities, document sums",
    INVENTORY_BALANCE: "C8: balance_after >= 0 and the balance chain continues from yesterday's state",
    RELATIONSHIPS: "C9 references (dimensions, parents), C10 stockout de-dup, C11 time order",
    EVENT_REDUNDANCY: "C12: duplicate deliveries identical; payload cents/times/literals agree",
}
BLOCKING_GROUPS = frozenset({SCHEMA_EQUALITY, ROW_COUNT_ADDITIVITY})
"""The groups the contract marks blocking (§6.3 C1, C2)."""


# --- rule registry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RowRule:
    """Must hold on every built row: ``predicate`` is a DuckDB boolean over the ``silver`` relation."""

    rule_id: str
    group: str
    label: str
    predicate: str
    severity: Severity = Severity.ERROR
    not_null_column: str | None = None
    """Set when the rule is exactly ``column IS NOT NULL``: a column whose Arrow null count is 0
    satisfies it without a scan (the count is kept with the array)."""


@dataclass(frozen=True)
class SetRule:
    """A query returning one row (column ``k``) per offending key; ``needs`` are relations it reads.

    ``vacuous_without``: relations whose rows of day D are the only rows the rule can report on.
    When one has no rows for D (e.g. an event table on a batch day), the rule holds without being
    run — same answer, one DuckDB subquery (~2 ms of fixed cost) less.
    """

    rule_id: str
    group: str
    label: str
    sql: str
    needs: tuple[str, ...] = ()
    severity: Severity = Severity.ERROR
    vacuous_without: tuple[str, ...] = ()


def q(ident: str) -> str:
    return DUCKDB.quote(ident)


def key_expr(spec_columns: tuple[str, ...], alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    parts = [f"COALESCE(CAST({prefix}{q(c)} AS VARCHAR), 'NULL')" for c in spec_columns]
    return " || '|' || ".join(parts) if parts else "'<row>'"


FOREIGN_KEYS: dict[str, tuple[str, str]] = {
    "store_id": ("dim_stores", "store_id"),
    "dc_id": ("dim_distribution_centers", "dc_id"),
    "product_id": ("dim_products", "product_id"),
    "customer_id": ("dim_customers", "customer_id"),
    "truck_id": ("dim_trucks", "truck_id"),
}
"""BIGINT reference columns → dimension (§1.1: every ``<entity>_id`` is a dimension key)."""


def _derived_row_rules(table: str, day: date) -> list[RowRule]:
    """Per-row rules that follow from the table spec alone (C5 not-null, C6, C7 cents/identities, C13)."""
    spec = FACT_TABLES[table]
    cols = set(spec.column_names)
    rules = [
        RowRule(
            "C5", KEYS_AND_VALUES, f"{c.name} not null", f"{q(c.name)} IS NOT NULL", not_null_column=c.name
        )
        for c in spec.columns
        if not c.nullable
    ]
    rules.append(
        RowRule(
            "C6",
            KEYS_AND_VALUES,
            "event_date = CAST(event_ts AS DATE) = D",
            # The UTC day as a half-open range: exact, independent of the session time zone, and
            # a plain comparison instead of a per-row time-zone conversion.
            f"event_date = DATE '{day.isoformat()}' AND event_ts >= TIMESTAMPTZ '{day.isoformat()} 00:00:00+00' "
            f"AND event_ts < TIMESTAMPTZ '{(day + timedelta(days=1)).isoformat()} 00:00:00+00'",
        )
    )
    for c in spec.columns:
        if c.enum:
            values = ", ".join(DUCKDB.string_literal(v) for v in c.enum)
            rules.append(
                RowRule(
                    "C13",
                    KEYS_AND_VALUES,
                    f"{c.name} in enum",
                    f"{q(c.name)} IS NULL OR {q(c.name)} IN ({values})",
                )
            )
    for money, cents in money_pairs(spec):
        scale = spec.arrow_schema.field(money).type.scale
        rules.append(RowRule("C7", MONEY, f"{cents} = cents({money})", _cents_predicate(money, cents, scale)))
    if {"ext_cents", "unit_cents", "quantity"} <= cols:
        rules.append(
            RowRule("C7", MONEY, "ext_cents = unit_cents × quantity", "ext_cents = unit_cents * quantity")
        )
    if {"total_cents", "subtotal_cents", "discount_cents", "tax_cents"} <= cols:
        rules.append(
            RowRule(
                "C7",
                MONEY,
                "total = subtotal − discount + tax",
                "total_cents = subtotal_cents - discount_cents + tax_cents",
            )
        )
    if "balance_after" in cols:
        rules.append(RowRule("C8", INVENTORY_BALANCE, "balance_after >= 0", "balance_after >= 0"))
    return rules


def _cents_predicate(money: str, cents: str, scale: int) -> str:
    """``cents = cents(money)`` for a DECIMAL(18, scale) column, as cheaply as exactness allows.

    With scale <= 2, ``money × 100`` is a whole number, so rounding is a no-op and the rule is an
    exact equality in DECIMAL(38, scale) (no overflow: |money × 100| < 10^18). That is ~10× faster
    than ``compiler.cents_sql`` (widen to DECIMAL(38,4), multiply, ROUND), which stays the
    definition for scale 4, where rounding half away from zero matters.
    """
    if scale <= 2:
        return f"CAST({q(cents)} AS DECIMAL(38,{scale})) = CAST({q(money)} AS DECIMAL(38,{scale})) * 100"
    return f"{q(cents)} = {compiler.cents_sql(q(money))}"


def _fk_rules(table: str) -> list[SetRule]:
    spec = FACT_TABLES[table]
    rules = []
    for col, (dim, dim_col) in FOREIGN_KEYS.items():
        if col in spec.column_names:
            rules.append(
                SetRule(
                    "C9",
                    RELATIONSHIPS,
                    f"{col} -> {dim}",
                    f"SELECT DISTINCT CAST(s.{q(col)} AS VARCHAR) AS k FROM silver s ANTI JOIN {dim} d "
                    f"ON s.{q(col)} = d.{q(dim_col)} WHERE s.{q(col)} IS NOT NULL",
                    needs=(dim,),
                )
            )
    if "node_id" in spec.column_names:
        rules.append(
            SetRule(
                "C9",
                RELATIONSHIPS,
                "(node_type, node_id) -> dim_stores / dim_distribution_centers",
                "SELECT DISTINCT s.node_type || ':' || s.node_id AS k FROM silver s "
                "WHERE (s.node_type = 'STORE' AND s.node_id NOT IN (SELECT store_id FROM dim_stores)) "
                "OR (s.node_type = 'DC' AND s.node_id NOT IN (SELECT dc_id FROM dim_distribution_centers))",
                needs=("dim_stores", "dim_distribution_centers"),
            )
        )
    return rules


def _pk_rule(table: str) -> list[SetRule]:
    pk = FACT_TABLES[table].primary_key
    cols = ", ".join(q(c) for c in pk)
    return [
        SetRule(
            "C5",
            KEYS_AND_VALUES,
            f"primary key ({', '.join(pk)}) unique",
            f"SELECT {key_expr(pk)} AS k FROM silver GROUP BY {cols} HAVING count(*) > 1",
        )
    ]


def _balance_chain(location_col: str, location_type: str) -> SetRule:
    """C8: per (location, product) in (event_ts, txn_id_ext) order, each balance continues the last."""
    return SetRule(
        "C8",
        INVENTORY_BALANCE,
        "balance chain continuous from ctl_state_inventory(D-1)",
        f"""
        WITH t AS (
          SELECT s.{location_col} AS loc, s.product_id, s.txn_id_ext, s.quantity, s.balance_after,
                 lag(s.balance_after) OVER w AS prev_balance,
                 row_number() OVER w AS rn
          FROM silver s WINDOW w AS (PARTITION BY s.{location_col}, s.product_id ORDER BY s.event_ts, s.txn_id_ext)
        )
        SELECT t.txn_id_ext AS k FROM t
        LEFT JOIN state_prev p ON p.location_type = '{location_type}' AND p.location_id = t.loc
                               AND p.product_id = t.product_id
        WHERE (t.rn > 1 AND t.balance_after <> t.prev_balance + t.quantity)
           OR (t.rn = 1 AND p.on_hand IS NOT NULL AND t.balance_after <> p.on_hand + t.quantity)
        """,
        needs=("state_prev",),
    )


def _balance_end(location_col: str, location_type: str) -> SetRule:
    return SetRule(
        "C8",
        INVENTORY_BALANCE,
        "last balance of D = ctl_state_inventory(D).on_hand",
        f"""
        WITH last AS (
          SELECT {location_col} AS loc, product_id, arg_max(balance_after, (event_ts, txn_id_ext)) AS bal
          FROM silver GROUP BY ALL
        )
        SELECT last.loc || '|' || last.product_id AS k FROM last
        JOIN state_cur c ON c.location_type = '{location_type}' AND c.location_id = last.loc
                         AND c.product_id = last.product_id
        WHERE c.on_hand <> last.bal
        """,
        needs=("state_cur",),
    )


def _parent_rule(
    label: str,
    child_cols: tuple[str, ...],
    parent: str,
    parent_cols: tuple[str, ...],
    day_filter: str,
    severity: Severity = Severity.ERROR,
    parent_day_in: str | None = None,
    child_where: str | None = None,
) -> SetRule:
    """A child row whose parent row is missing from ``ag.<parent>`` (within ``day_filter``).

    ``parent_day_in`` (cross-day references): the child column whose id embeds the parent's day
    as ``XXX-yyyymmdd-…`` (contract §1.5). A child whose parent day has no Silver partition yet is
    not judged: Silver days may be built in any order (automation rebuilds older days later), and
    an unbuilt day proves nothing about a dangling reference. ``child_where`` restricts the rule
    to the child rows that have such a parent at all (a condition over ``s``).
    """
    on = " AND ".join(f"s.{q(c)} = p.{q(pc)}" for c, pc in zip(child_cols, parent_cols, strict=True))
    not_null = " AND ".join(f"s.{q(c)} IS NOT NULL" for c in child_cols)
    if child_where:
        not_null += f" AND ({child_where})"
    built = ""
    if parent_day_in:
        built = (
            f" AND strptime(substr(s.{q(parent_day_in)}, 5, 8), '%Y%m%d')::DATE IN "
            f"(SELECT DISTINCT event_date FROM ag_{parent} WHERE {day_filter})"
        )
    return SetRule(
        "C9",
        RELATIONSHIPS,
        label,
        f"SELECT DISTINCT {key_expr(child_cols, 's')} AS k FROM silver s "
        f"ANTI JOIN (SELECT * FROM ag_{parent} WHERE {day_filter}) p ON {on} WHERE {not_null}{built}",
        needs=(f"ag_{parent}",),
        severity=severity,
    )


SAME_DAY = "event_date = DATE '{day}'"
UP_TO_DAY = "event_date BETWEEN DATE '{week_ago}' AND DATE '{day}'"
BEFORE_DAY = "event_date < DATE '{day}'"
BEFORE_DAY_OR_DAY = "event_date <= DATE '{day}'"


def _table_rules(table: str) -> list[SetRule]:
    """Relational rules specific to one table (document sums, parents, time order, de-dup)."""
    if table == "fact_receipt_lines":
        return [
            _parent_rule(
                "lines -> same-day receipt",
                ("receipt_id_ext",),
                "fact_receipts",
                ("receipt_id_ext",),
                SAME_DAY,
            ),
            SetRule(
                "C7",
                MONEY,
                "receipt = Σ its lines (subtotal, discount, tax)",
                """
                SELECT r.receipt_id_ext AS k FROM (SELECT * FROM ag_fact_receipts WHERE event_date = DATE '{day}') r
                LEFT JOIN (SELECT receipt_id_ext, sum(ext_cents) ext, sum(discount_cents) disc, sum(tax_cents) tax,
                                  count(*) n FROM silver GROUP BY 1) l USING (receipt_id_ext)
                WHERE l.n IS NULL OR r.subtotal_cents <> l.ext OR r.discount_cents <> l.disc
                   OR r.tax_cents <> l.tax OR r.line_count <> l.n
                """,
                needs=("ag_fact_receipts",),
            ),
        ]
    if table == "fact_receipts":
        return [
            _parent_rule(
                "return -> earlier SALE receipt",
                ("return_for_receipt_id_ext",),
                "fact_receipts",
                ("receipt_id_ext",),
                BEFORE_DAY,
                Severity.WARN,
                parent_day_in="return_for_receipt_id_ext",
            )
        ]
    if table == "fact_promo_lines":
        return [
            _parent_rule(
                "promo line -> receipt line",
                ("receipt_id_ext", "line_num"),
                "fact_receipt_lines",
                ("receipt_id_ext", "line_num"),
                SAME_DAY,
            ),
            SetRule(
                "C7",
                MONEY,
                "promotion = Σ its promo lines",
                """
                SELECT p.receipt_id_ext || '|' || p.promo_code AS k
                FROM (SELECT * FROM ag_fact_promotions WHERE event_date = DATE '{day}') p
                LEFT JOIN (SELECT receipt_id_ext, promo_code, sum(discount_cents) d, count(*) n FROM silver GROUP BY ALL) l
                  USING (receipt_id_ext, promo_code)
                WHERE l.n IS NULL OR p.discount_cents <> l.d OR p.product_count <> l.n
                """,
                needs=("ag_fact_promotions",),
            ),
        ]
    if table == "fact_promotions":
        return [
            _parent_rule(
                "promotion -> same-day receipt",
                ("receipt_id_ext",),
                "fact_receipts",
                ("receipt_id_ext",),
                SAME_DAY,
            ),
            SetRule(
                "C7",
                MONEY,
                "promotion discount = receipt discount",
                "SELECT s.receipt_id_ext AS k FROM silver s JOIN (SELECT * FROM ag_fact_receipts "
                "WHERE event_date = DATE '{day}') r USING (receipt_id_ext) WHERE s.discount_cents <> r.discount_cents",
                needs=("ag_fact_receipts",),
            ),
        ]
    if table == "fact_payments":
        docs = """(SELECT receipt_id_ext AS doc, event_ts, total_cents FROM ag_fact_receipts WHERE event_date = DATE '{day}'
                   UNION ALL SELECT order_id_ext, event_ts, total_cents FROM ag_fact_online_order_headers
                   WHERE event_date = DATE '{day}')"""
        needs = ("ag_fact_receipts", "ag_fact_online_order_headers")
        return [
            SetRule(
                "C7",
                MONEY,
                "payment amount = document total",
                f"SELECT s.transaction_id_ext AS k FROM silver s JOIN {docs} d "
                "ON d.doc = COALESCE(s.receipt_id_ext, s.order_id_ext) WHERE s.amount_cents <> d.total_cents",
                needs=needs,
            ),
            SetRule(
                "C7",
                MONEY,
                "exactly one APPROVED payment per document",
                f"SELECT d.doc AS k FROM {docs} d LEFT JOIN (SELECT COALESCE(receipt_id_ext, order_id_ext) AS doc, "
                "count(*) FILTER (WHERE status = 'APPROVED') AS approved FROM silver GROUP BY 1) p USING (doc) "
                "WHERE COALESCE(p.approved, 0) <> 1",
                needs=needs,
            ),
            SetRule(
                "C9",
                RELATIONSHIPS,
                "payment -> same-day document",
                f"SELECT s.transaction_id_ext AS k FROM silver s ANTI JOIN {docs} d "
                "ON d.doc = COALESCE(s.receipt_id_ext, s.order_id_ext)",
                needs=needs,
            ),
            SetRule(
                "C11",
                RELATIONSHIPS,
                "payment after its receipt/order",
                f"SELECT s.transaction_id_ext AS k FROM silver s JOIN {docs} d "
                "ON d.doc = COALESCE(s.receipt_id_ext, s.order_id_ext) WHERE s.event_ts <= d.event_ts",
                needs=needs,
            ),
        ]
    if table == "fact_stockouts":
        return [
            SetRule(
                "C9",
                RELATIONSHIPS,
                "stockout -> triggering txn (same time, balance 0)",
                """
                SELECT s.txn_id_ext AS k FROM silver s
                ANTI JOIN (SELECT txn_id_ext, event_ts, product_id FROM ag_fact_store_inventory_txn
                             WHERE event_date = DATE '{day}' AND balance_after = 0
                           UNION ALL SELECT txn_id_ext, event_ts, product_id FROM ag_fact_dc_inventory_txn
                             WHERE event_date = DATE '{day}' AND balance_after = 0) t
                  ON t.txn_id_ext = s.txn_id_ext AND t.event_ts = s.event_ts AND t.product_id = s.product_id
                """,
                needs=("ag_fact_store_inventory_txn", "ag_fact_dc_inventory_txn"),
            ),
            SetRule(
                "C10",
                RELATIONSHIPS,
                "no two stockouts of one location/product within 24 h",
                """
                WITH o AS (
                  SELECT s.txn_id_ext, s.event_ts, s.location_type, COALESCE(s.store_id, s.dc_id) AS loc, s.product_id,
                         lag(s.event_ts) OVER (PARTITION BY s.location_type, COALESCE(s.store_id, s.dc_id), s.product_id
                                               ORDER BY s.event_ts) AS prev_ts
                  FROM silver s
                )
                SELECT o.txn_id_ext AS k FROM o
                LEFT JOIN state_prev p ON p.location_type = o.location_type AND p.location_id = o.loc
                                       AND p.product_id = o.product_id
                WHERE o.event_ts - COALESCE(o.prev_ts, p.last_stockout_ts) < INTERVAL 24 HOUR
                """,
                needs=("state_prev",),
            ),
        ]
    if table == "fact_online_order_lines":
        return [
            _parent_rule(
                "order line -> header (same or earlier day)",
                ("order_id_ext",),
                "fact_online_order_headers",
                ("order_id_ext",),
                BEFORE_DAY_OR_DAY,
                Severity.WARN,
                parent_day_in="order_id_ext",
            ),
            SetRule(
                "C11",
                RELATIONSHIPS,
                "PICKED < SHIPPED < DELIVERED per line",
                """
                WITH r AS (SELECT order_id_ext, line_num, line_status, event_ts FROM silver
                           UNION ALL SELECT order_id_ext, line_num, line_status, event_ts FROM ag_fact_online_order_lines
                           WHERE event_date BETWEEN DATE '{week_ago}' AND DATE '{yesterday}'),
                     w AS (SELECT order_id_ext, line_num,
                                  max(event_ts) FILTER (WHERE line_status = 'PICKED') p,
                                  max(event_ts) FILTER (WHERE line_status = 'SHIPPED') sh,
                                  max(event_ts) FILTER (WHERE line_status = 'DELIVERED') dl
                           FROM r GROUP BY ALL)
                SELECT order_id_ext || '|' || line_num AS k FROM w
                WHERE order_id_ext IN (SELECT order_id_ext FROM silver)
                  AND (p >= sh OR sh >= dl OR p >= dl)
                """,
                needs=("ag_fact_online_order_lines",),
            ),
            SetRule(
                "C7",
                MONEY,
                "order header = Σ its PICKED lines (cross-day)",
                """
                SELECT h.order_id_ext AS k FROM ag_fact_online_order_headers h
                JOIN (SELECT order_id_ext, sum(ext_cents) ext, sum(discount_cents) disc, sum(tax_cents) tax,
                             count(*) n
                      FROM (SELECT * FROM silver WHERE line_status = 'PICKED' UNION ALL
                            SELECT * FROM ag_fact_online_order_lines
                            WHERE line_status = 'PICKED' AND event_date BETWEEN DATE '{week_ago}' AND DATE '{yesterday}')
                      GROUP BY 1) l USING (order_id_ext)
                WHERE h.event_date BETWEEN DATE '{week_ago}' AND DATE '{day}'
                  AND h.order_id_ext IN (SELECT order_id_ext FROM silver WHERE line_status = 'PICKED')
                  AND l.n = h.line_count  -- all lines picked by D (picks may span days, §7.11)
                  AND (h.subtotal_cents <> l.ext OR h.discount_cents <> l.disc OR h.tax_cents <> l.tax)
                """,
                needs=("ag_fact_online_order_headers", "ag_fact_online_order_lines"),
                severity=Severity.WARN,
            ),
        ]
    if table == "fact_truck_moves":
        return [
            _parent_rule(
                "DC-to-store move -> reorders of its shipment (review day)",
                ("shipment_id_ext",),
                "fact_reorders",
                ("shipment_id_ext",),
                BEFORE_DAY_OR_DAY,
                Severity.WARN,
                parent_day_in="shipment_id_ext",
                child_where="s.route_type = 'DC_TO_STORE'",
            ),
            SetRule(
                "C11",
                RELATIONSHIPS,
                "truck stops strictly increasing in time",
                """
                SELECT shipment_id_ext || '|' || stop_num AS k FROM (
                  SELECT shipment_id_ext, stop_num, event_ts,
                         lag(event_ts) OVER (PARTITION BY shipment_id_ext ORDER BY stop_num) AS prev_ts FROM silver)
                WHERE prev_ts IS NOT NULL AND event_ts <= prev_ts
                """,
            )
        ]
    if table == "fact_store_ops":
        return [
            SetRule(
                "C11",
                RELATIONSHIPS,
                "OPENED/CLOSED alternate per store",
                """
                SELECT store_id || '|' || event_ts AS k FROM (
                  SELECT store_id, event_ts, operation_type,
                         lag(operation_type) OVER (PARTITION BY store_id ORDER BY event_ts) AS prev FROM silver)
                WHERE prev = operation_type
                """,
            )
        ]
    if table == "fact_store_inventory_txn":
        return [_balance_chain("store_id", "STORE"), _balance_end("store_id", "STORE")]
    if table == "fact_dc_inventory_txn":
        return [_balance_chain("dc_id", "DC"), _balance_end("dc_id", "DC")]
    return []


def _event_rules(table: str) -> list[SetRule]:
    """C12 over the Bronze event rows of D: duplicates identical; redundant payload fields agree."""
    rules: list[SetRule] = []
    for source in SILVER_MAPPINGS[table].sources:
        et = EVENT_TYPES[source.event_type]
        rel = f"ev_{et.name}"
        where = compiler.source_filter(DUCKDB, source, date(2000, 1, 1)).replace("2000-01-01", "{day}")
        content = [*(f.name for f in ENVELOPE_FIELDS), *(pf.landed_name for pf in et.payload)]
        rules.append(
            SetRule(
                "C12",
                EVENT_REDUNDANCY,
                f"{et.name}: deliveries of one event_id identical",
                f"SELECT event_id AS k FROM {rel} WHERE {where} GROUP BY event_id "
                f"HAVING count(DISTINCT hash({', '.join(q(c) for c in content)})) > 1",
                needs=(rel,),
                vacuous_without=(rel,),
            )
        )
        exprs = source.expressions
        conds = []
        for pf in et.payload:
            col = q(pf.landed_name)
            if pf.derived is Derived.INGEST_TIME:
                conds.append(f"{col} IS DISTINCT FROM ingest_timestamp")
            elif pf.derived is Derived.LITERAL:
                conds.append(f"{col} IS DISTINCT FROM {DUCKDB.string_literal(pf.literal or '')}")
            elif pf.derived is Derived.CHECKED_CENTS and isinstance(exprs.get(pf.column or ""), Cents):
                cents = exprs[pf.column]
                conds.append(
                    f"{col} IS DISTINCT FROM {compiler.cents_sql(compiler.money_sql(q(cents.field), cents.scale))}"
                )
        if conds:
            rules.append(
                SetRule(
                    "C12",
                    EVENT_REDUNDANCY,
                    f"{et.name}: payload cents/times/literals agree with the mapped values",
                    f"SELECT DISTINCT event_id AS k FROM {rel} WHERE {where} AND ({' OR '.join(conds)})",
                    needs=(rel,),
                    vacuous_without=(rel,),
                )
            )
    return rules


def rules_for(table: str, day: date) -> tuple[list[RowRule], list[SetRule]]:
    """Every rule that applies to ``table`` (the registry, instantiated for one day)."""
    return _derived_row_rules(table, day), [
        *_pk_rule(table),
        *_fk_rules(table),
        *_table_rules(table),
        *_event_rules(table),
    ]


def groups_for(table: str) -> list[str]:
    """Check groups that exist for ``table`` (the Dagster check specs of its asset)."""
    return list(_groups(table))


@functools.cache
def _groups(table: str) -> tuple[str, ...]:
    """Memoised: the groups depend on the table only, and every evaluation asks twice."""
    rows, sets = rules_for(table, date(2000, 1, 1))
    present = {r.group for r in rows} | {r.group for r in sets}
    fixed = [SCHEMA_EQUALITY, ROW_COUNT_ADDITIVITY, NO_OVERLAP, COMPLETENESS]
    return (*fixed, *(g for g in GROUP_DESCRIPTIONS if g not in fixed and g in present))


def silver_parents(table: str) -> list[str]:
    """Other Silver tables whose same-day rows this table's rules read (build them first)."""
    _, set_rules = rules_for(table, date(2000, 1, 1))
    needed = {n[3:] for r in set_rules for n in r.needs if n.startswith("ag_")}
    return [t for t in FACT_TABLES if t in needed and t != table]


def build_order() -> list[str]:
    """The 18 tables with every parent before its children (a stable topological order)."""
    done: list[str] = []
    pending = list(FACT_TABLES)
    while pending:
        ready = [t for t in pending if all(p in done for p in silver_parents(t))]
        if not ready:
            raise RuntimeError(f"Silver check rules form a cycle among {pending}")
        done.extend(ready)
        pending = [t for t in pending if t not in ready]
    return done


# --- evaluation ------------------------------------------------------------------------------


@dataclass
class CheckContext:
    """Where the checks find their reference relations (the lake) and what to expect."""

    lake_root: str
    dataset_id: str | None = None
    fail_on_schema_mismatch: bool = False


STATE_COLUMNS = ["location_type", "location_id", "product_id", "on_hand", "last_stockout_ts"]
"""The ``ctl_state_inventory`` columns the state rules read (C8 chain/end, C10 carried stockout)."""


def _dimension_keys(name: str) -> list[str]:
    """The key columns of a dimension that some rule joins on (nothing else is read)."""
    keys = {dim_col for dim, dim_col in FOREIGN_KEYS.values() if dim == name}
    return sorted(keys)


def _state(ctx: CheckContext, state_day: date) -> pa.Table | None:
    uri = delta.table_uri(ctx.lake_root, "cusn", "ctl_state_inventory")
    schema = CONTROL_TABLES["ctl_state_inventory"].arrow_schema
    wanted = pa.schema([schema.field(c) for c in STATE_COLUMNS])
    data = REFERENCE_CACHE.read(
        uri,
        ("state", state_day),
        lambda ds: partition_reader("state_date", state_day, STATE_COLUMNS)(ds).cast(wanted),
    )
    return data if data is not None and data.num_rows else None


def _register_context(
    conn: Any, ctx: CheckContext, table: str, day: date, needs: set[str]
) -> tuple[dict[str, str], set[str]]:
    """Register each needed relation; returns ({relation: reason} for those that are unavailable,
    the event relations known from the Delta log to hold no rows of ``day``).

    Dimension keys, state and the manifest come from the per-process ``REFERENCE_CACHE`` (they are
    the same for all 18 tables of a day); Silver parents and event tables are registered as Delta
    datasets (they change between the tables' steps, and DuckDB pushes the day filter into them).
    """
    unavailable: dict[str, str] = {}
    empty_for_day: set[str] = set()
    for name in sorted(needs):
        if name.startswith("dim_"):
            uri = delta.table_uri(ctx.lake_root, "cusn", name)
            keys = _dimension_keys(name)
            data = REFERENCE_CACHE.read(uri, ("columns", *keys), columns_reader(keys))
            if data is None:
                unavailable[name] = f"{uri} does not exist yet"
            else:
                conn.register(name, data)
        elif name in ("state_prev", "state_cur"):
            state_day = day - timedelta(days=1) if name == "state_prev" else day
            data = _state(ctx, state_day)
            if data is None:
                # Soft need: the within-day part of a rule still runs against an empty state; the
                # continuity part is reported as not checked (e.g. D-1 before the start date).
                schema = CONTROL_TABLES["ctl_state_inventory"].arrow_schema
                conn.register(name, pa.schema([schema.field(c) for c in STATE_COLUMNS]).empty_table())
                unavailable[name] = f"ctl_state_inventory has no state_date={state_day}"
            else:
                conn.register(name, data)
        elif name.startswith("ev_"):
            uri = delta.table_uri(ctx.lake_root, "cusn", name[3:])
            events = delta.open_if_exists(uri)
            if events is not None:
                partitioned_by_day = "event_date" in events.metadata().partition_columns
                if partitioned_by_day and not events.file_uris(
                    file_pruning_predicate=[("event_date", "=", day)]
                ):
                    empty_for_day.add(name)  # pruning on the partition column is exact: no file, no row of D
                conn.register(name, delta.snapshot_dataset(events, uri))
            else:
                empty_for_day.add(name)
                conn.register(name, bronze_event_spec(name[3:]).arrow_schema.empty_table())
        elif name.startswith("ag_"):
            uri = delta.table_uri(ctx.lake_root, "ag", name[3:])
            copy = delta.open_if_exists(uri)
            if copy is not None:
                conn.register(name, delta.snapshot_dataset(copy, uri))
            else:
                unavailable[name] = f"{uri} does not exist yet"
        else:
            raise KeyError(f"rule needs unknown relation {name!r}")
    return unavailable, empty_for_day


SOFT_NEEDS = frozenset({"state_prev", "state_cur"})
"""Relations registered empty when missing: rules reading them still check the day itself."""


def _fmt(sql: str, day: date) -> str:
    return sql.format(
        day=day.isoformat(),
        yesterday=(day - timedelta(days=1)).isoformat(),
        week_ago=(day - timedelta(days=7)).isoformat(),
    )


def evaluate_rules(conn: Any, ctx: CheckContext, build: SilverBuild) -> dict[str, dict[str, Any]]:
    """Run all row and set rules of the table in two statements; returns per-group findings."""
    table, day = build.table, build.day
    row_rules, set_rules = rules_for(table, day)
    conn.register("silver", build.data)
    pk = FACT_TABLES[table].primary_key
    findings: dict[str, dict[str, Any]] = {}

    def add(group: str, rule_id: str, label: str, severity: Severity, count: int, sample: list[str]) -> None:
        g = findings.setdefault(group, {"rules": 0, "failed": [], "skipped": [], "severity": Severity.WARN})
        g["rules"] += 1
        if count:
            g["failed"].append({"rule": f"{rule_id} {label}", "violations": int(count), "sample": sample})
            if severity is Severity.ERROR:
                g["severity"] = Severity.ERROR

    # NOT NULL rules on columns without nulls (Arrow keeps the count) hold without a scan; one scan
    # counts the violations of the other per-row rules; the offending keys are collected in a
    # second scan only for the rules that failed (building a key string per row for every rule
    # was most of the cost of a passing day).
    scanned = [
        r for r in row_rules if r.not_null_column is None or build.data.column(r.not_null_column).null_count
    ]
    for r in row_rules:
        if r not in scanned:
            add(r.group, r.rule_id, r.label, r.severity, 0, [])
    if scanned:
        bad = [f"NOT COALESCE(({r.predicate}), FALSE)" for r in scanned]
        counts = conn.sql(
            "SELECT "
            + ", ".join(f"count(*) FILTER (WHERE {b}) AS n{i}" for i, b in enumerate(bad))
            + " FROM silver"
        ).fetchall()[0]
        failing = [i for i, n in enumerate(counts) if n]
        samples: dict[int, list[str]] = {}
        if failing:
            row = conn.sql(
                "SELECT "
                + ", ".join(
                    f"(list({key_expr(pk)}) FILTER (WHERE {bad[i]}))[1:{SAMPLE_SIZE}]" for i in failing
                )
                + " FROM silver"
            ).fetchall()[0]
            samples = {i: list(s or []) for i, s in zip(failing, row, strict=True)}
        for i, r in enumerate(scanned):
            add(r.group, r.rule_id, r.label, r.severity, counts[i] or 0, samples.get(i, []))

    needs = {n for r in set_rules for n in r.needs}
    unavailable, empty_for_day = _register_context(conn, ctx, table, day, needs)
    for diff in build.schema.diffs:
        if diff.context.startswith("cusn.") and not diff.ok:
            # A drifted event table cannot be read by the declared-schema rules; C1 reports it.
            unavailable[f"ev_{diff.context[5:]}"] = (
                f"{diff.context} does not match its declared schema (see C1)"
            )
    runnable: list[SetRule] = []
    for r in set_rules:
        missing = [n for n in r.needs if n in unavailable]
        soft = [n for n in missing if n in SOFT_NEEDS]
        if soft and len(soft) == len(missing):
            g = findings.setdefault(
                r.group, {"rules": 0, "failed": [], "skipped": [], "severity": Severity.WARN}
            )
            g["skipped"].append(f"{r.rule_id} {r.label}: partly — {unavailable[soft[0]]}")
            runnable.append(r)
        elif missing:
            g = findings.setdefault(
                r.group, {"rules": 0, "failed": [], "skipped": [], "severity": Severity.WARN}
            )
            g["skipped"].append(f"{r.rule_id} {r.label}: {unavailable[missing[0]]}")
        elif any(n in empty_for_day for n in r.vacuous_without):
            add(r.group, r.rule_id, r.label, r.severity, 0, [])
        else:
            runnable.append(r)
    if runnable:
        union = "\nUNION ALL\n".join(
            f"SELECT {i} AS rule, CAST(k AS VARCHAR) AS k FROM ({_fmt(r.sql, day)})"
            for i, r in enumerate(runnable)
        )
        rows = conn.sql(
            f"SELECT rule, count(*) AS n, (list(k ORDER BY k))[1:{SAMPLE_SIZE}] AS sample FROM ({union}) GROUP BY rule"
        ).fetchall()
        by_rule = {int(i): (n, s) for i, n, s in rows}
        for i, r in enumerate(runnable):
            n, s = by_rule.get(i, (0, []))
            add(r.group, r.rule_id, r.label, r.severity, n, list(s or []))
    return findings


def _manifest_row(ctx: CheckContext, table: str, day: date) -> dict[str, Any] | None:
    uri = delta.table_uri(ctx.lake_root, "cusn", "ctl_day_manifest")
    data = REFERENCE_CACHE.read(uri, ("partition", day), partition_reader("event_date", day))
    if data is None:
        return None
    rows = data.filter(pc.equal(data.column("table_name"), table)).to_pylist()
    return rows[0] if rows else None


def evaluate_checks(conn: Any, ctx: CheckContext, build: SilverBuild) -> list[CheckResult]:
    """All check groups of ``build.table`` for ``build.day``, in ``groups_for`` order."""
    table, day = build.table, build.day
    results: dict[str, CheckResult] = {}
    silver_rows = build.data.num_rows

    # C1 — decided during the build (it chose whether the stream side is included).
    mismatch = build.schema.mismatch_count
    results[SCHEMA_EQUALITY] = CheckResult(
        SCHEMA_EQUALITY,
        build.schema.ok,
        Severity.ERROR if ctx.fail_on_schema_mismatch else Severity.WARN,
        build.schema.describe()
        + (
            ""
            if build.schema.ok
            else (
                " — blocking (FAIL_ON_SCHEMA_MISMATCH=true)"
                if ctx.fail_on_schema_mismatch
                else " — stream side left out of Silver for this day (WARN mode)"
            )
        ),
        {
            "schema_mismatch_count": mismatch,
            "mismatching_columns": build.schema.mismatching_columns(),
            "stream_included": build.stream_included,
            "missing_event_tables": build.missing_event_tables,
            "notes": build.notes,
        },
    )

    # C2 — the built rows against two independent counts of the inputs.
    results[ROW_COUNT_ADDITIVITY] = CheckResult(
        ROW_COUNT_ADDITIVITY,
        silver_rows == build.expected_rows,
        Severity.ERROR,
        f"silver {silver_rows} vs batch {build.batch_input_rows} + stream "
        f"{build.stream_input_rows if build.stream_included else 0}",
        {
            "silver_rows": silver_rows,
            "batch_rows": build.batch_input_rows,
            "stream_rows": build.stream_input_rows if build.stream_included else 0,
            "stream_rows_available": build.stream_input_rows,
            "silver_batch_rows": build.batch_rows,
            "silver_stream_rows": build.stream_rows,
        },
    )

    # C3 / C4 — against the manifest.
    manifest = _manifest_row(ctx, table, day)
    path = manifest["path"] if manifest else None
    both = build.batch_input_rows > 0 and build.stream_input_rows > 0
    wrong_side = (path == "batch" and build.stream_input_rows > 0) or (
        path == "stream" and build.batch_input_rows > 0
    )
    results[NO_OVERLAP] = CheckResult(
        NO_OVERLAP,
        not both and not wrong_side,
        Severity.ERROR,
        f"manifest path {path or 'unknown (no manifest row)'}; batch rows {build.batch_input_rows}, "
        f"stream rows {build.stream_input_rows}",
        {
            "manifest_path": path or "",
            "batch_rows": build.batch_input_rows,
            "stream_rows": build.stream_input_rows,
        },
    )
    if manifest is None:
        results[COMPLETENESS] = CheckResult(
            COMPLETENESS,
            False,
            Severity.WARN,
            f"no ctl_day_manifest row for ({day}, {table}): generate day {day} first",
            {"silver_rows": silver_rows, "expected_rows": -1},
        )
    else:
        expected = int(manifest["expected_rows"])
        wrong_dataset = ctx.dataset_id is not None and manifest["dataset_id"] != ctx.dataset_id
        short_stream = path == "stream" and silver_rows < expected
        results[COMPLETENESS] = CheckResult(
            COMPLETENESS,
            silver_rows == expected and not wrong_dataset,
            Severity.WARN if short_stream and not wrong_dataset else Severity.ERROR,
            (
                f"manifest dataset {manifest['dataset_id']} != configured {ctx.dataset_id}; rebuild the day "
                "for this dataset"
                if wrong_dataset
                else f"silver {silver_rows} rows, manifest expects {expected}"
                + (" (stream day: events may still be landing)" if short_stream else "")
            ),
            {
                "silver_rows": silver_rows,
                "expected_rows": expected,
                "missing_rows": expected - silver_rows,
                "dataset_id": manifest["dataset_id"],
            },
        )

    findings = evaluate_rules(conn, ctx, build)
    for group in groups_for(table):
        if group in results:
            continue
        f = findings.get(group, {"rules": 0, "failed": [], "skipped": [], "severity": Severity.WARN})
        failed = f["failed"]
        violations = sum(x["violations"] for x in failed)
        desc = GROUP_DESCRIPTIONS[group]
        if failed:
            desc = "; ".join(
                f"{x['rule']}: {x['violations']} (e.g. {', '.join(x['sample'][:3])})" for x in failed
            )
        results[group] = CheckResult(
            group,
            not failed,
            f["severity"] if failed else Severity.ERROR,
            desc,
            {
                "rules_evaluated": f["rules"],
                "violations": violations,
                "failed_rules": [x["rule"] for x in failed],
                "offending_keys": [k for x in failed for k in x["sample"]][: 2 * SAMPLE_SIZE],
                "skipped_rules": f["skipped"],
            },
        )
    # the contract marks C1 and C2 blocking: a failed ERROR there keeps the partition from being written
    return [replace(results[g], blocking=g in BLOCKING_GROUPS) for g in groups_for(table)]


__all__ = [
    "BLOCKING_GROUPS",
    "COMPLETENESS",
    "EVENT_REDUNDANCY",
    "INVENTORY_BALANCE",
    "KEYS_AND_VALUES",
    "MONEY",
    "NO_OVERLAP",
    "RELATIONSHIPS",
    "ROW_COUNT_ADDITIVITY",
    "SCHEMA_EQUALITY",
    "CheckContext",
    "CheckResult",
    "Severity",
    "build_order",
    "evaluate_checks",
    "groups_for",
    "rules_for",
    "silver_parents",
]
