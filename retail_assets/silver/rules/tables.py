"""``TABLE_RULES``: the rules specific to one fact table (document sums, parents, time order, de-dup).

One entry per contract fact table, like ``SILVER_MAPPINGS``: what the contract cannot derive from
column specs (``derived.py``) is written here as data. The relations a rule names (``ag_<table>``,
``day_<table>`` — its partition of D —, ``dim_*``, ``state_prev``/``state_cur``) are registered by
the evaluator; ``{day}``-style
placeholders are filled in per checked day (``kinds.render``).
"""

from __future__ import annotations

from retail_assets.checks.result import Severity
from retail_assets.silver.rules.groups import INVENTORY_BALANCE, MONEY, RELATIONSHIPS
from retail_assets.silver.rules.kinds import (
    BalanceWalk,
    DayWindow,
    DocumentSums,
    KeysInParent,
    PaidDocuments,
    ParentRule,
    RelationalRule,
    SetRule,
    SharedRelation,
    StockoutSpacing,
)


def inventory_walk(location_col: str) -> SharedRelation:
    """The day's transactions per (location, product) in (event_ts, txn_id_ext) order, with the
    previous balance, the position and whether the row is the last: one window for both C8 rules."""
    return SharedRelation(
        f"walk_{location_col}",
        f"""
        SELECT s.{location_col} AS loc, s.product_id, s.txn_id_ext, s.quantity, s.balance_after,
               lag(s.balance_after) OVER w AS prev_balance,
               row_number() OVER w AS rn,
               lead(TRUE) OVER w IS NULL AS is_last
        FROM silver s WINDOW w AS (PARTITION BY s.{location_col}, s.product_id ORDER BY s.event_ts, s.txn_id_ext)
        """,
    )


def balance_chain(location_col: str, location_type: str) -> SetRule:
    """C8: per (location, product) in (event_ts, txn_id_ext) order, each balance continues the last,
    and the first continues ``ctl_state_inventory`` of D−1 (only first rows join the state)."""
    walk = inventory_walk(location_col)
    return SetRule(
        "C8",
        INVENTORY_BALANCE,
        "balance chain continuous from ctl_state_inventory(D-1)",
        f"""
        SELECT txn_id_ext AS k FROM {walk.name} WHERE rn > 1 AND balance_after <> prev_balance + quantity
        UNION ALL
        SELECT t.txn_id_ext FROM {walk.name} t
        JOIN state_prev p ON p.location_type = '{location_type}' AND p.location_id = t.loc
                          AND p.product_id = t.product_id
        WHERE t.rn = 1 AND t.balance_after <> p.on_hand + t.quantity
        """,
        needs=("state_prev",),
        shared=(walk,),
        precheck=BalanceWalk(location_col, location_type, "state_prev", end=False),
    )


def balance_end(location_col: str, location_type: str) -> SetRule:
    """C8: the day's last balance per (location, product) is ``ctl_state_inventory(D).on_hand``."""
    walk = inventory_walk(location_col)
    return SetRule(
        "C8",
        INVENTORY_BALANCE,
        "last balance of D = ctl_state_inventory(D).on_hand",
        f"""
        SELECT t.loc || '|' || t.product_id AS k FROM {walk.name} t
        JOIN state_cur c ON c.location_type = '{location_type}' AND c.location_id = t.loc
                         AND c.product_id = t.product_id
        WHERE t.is_last AND c.on_hand <> t.balance_after
        """,
        needs=("state_cur",),
        shared=(walk,),
        precheck=BalanceWalk(location_col, location_type, "state_cur", end=True),
    )


DOCUMENTS = SharedRelation(
    "same_day_documents",
    """SELECT receipt_id_ext AS doc, event_ts, total_cents FROM day_fact_receipts
       UNION ALL SELECT order_id_ext, event_ts, total_cents FROM day_fact_online_order_headers""",
)
"""The receipts and online orders of D, the documents a payment pays (read once for four rules)."""
DOCUMENT_TABLES = ("day_fact_receipts", "day_fact_online_order_headers")


def paid(part: str) -> PaidDocuments:
    """The precheck of one payment rule over ``DOCUMENTS`` (its relations and id columns)."""
    return PaidDocuments(
        part,
        (("day_fact_receipts", "receipt_id_ext"), ("day_fact_online_order_headers", "order_id_ext")),
        ("receipt_id_ext", "order_id_ext"),
    )


ORDER_HEADERS_TO_DAY = SharedRelation(
    "order_headers_to_day",
    "SELECT event_date, order_id_ext, line_count, subtotal_cents, discount_cents, tax_cents "
    f"FROM ag_fact_online_order_headers WHERE {DayWindow.UP_TO_DAY.predicate}",
)
"""The online order headers up to D: the lines' parent rule reads their days and ids, the cross-day
sum rule the last week of them (one dataset scan instead of three)."""
ORDER_LINES_OF_WEEK = SharedRelation(
    "order_lines_of_week",
    "SELECT order_id_ext, line_num, line_status, event_ts, ext_cents, discount_cents, tax_cents "
    "FROM ag_fact_online_order_lines WHERE event_date BETWEEN DATE '{week_ago}' AND DATE '{yesterday}'",
)
"""The online order lines of the week before D, read by the status-order and the cross-day sum rules."""


TABLE_RULES: dict[str, tuple[RelationalRule, ...]] = {
    "fact_receipts": (
        ParentRule(
            "return -> earlier SALE receipt",
            ("return_for_receipt_id_ext",),
            "fact_receipts",
            ("receipt_id_ext",),
            DayWindow.BEFORE_DAY,
            Severity.WARN,
            parent_day_in="return_for_receipt_id_ext",
        ),
    ),
    "fact_store_inventory_txn": (balance_chain("store_id", "STORE"), balance_end("store_id", "STORE")),
    "fact_dc_inventory_txn": (balance_chain("dc_id", "DC"), balance_end("dc_id", "DC")),
    "fact_reorders": (),
    "fact_truck_inventory": (),
    "fact_foot_traffic": (),
    "fact_customer_zone_changes": (),
    "fact_ble_pings": (),
    "fact_marketing": (),
    "fact_online_order_headers": (),
    "fact_store_ops": (
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
        ),
    ),
    "fact_receipt_lines": (
        ParentRule(
            "lines -> same-day receipt",
            ("receipt_id_ext",),
            "fact_receipts",
            ("receipt_id_ext",),
            DayWindow.SAME_DAY,
            precheck=KeysInParent(("receipt_id_ext",), "day_fact_receipts", ("receipt_id_ext",)),
        ),
        SetRule(
            "C7",
            MONEY,
            "receipt = Σ its lines (subtotal, discount, tax)",
            """
            SELECT r.receipt_id_ext AS k FROM day_fact_receipts r
            LEFT JOIN (SELECT receipt_id_ext, sum(ext_cents) ext, sum(discount_cents) disc, sum(tax_cents) tax,
                              count(*) n FROM silver GROUP BY 1) l USING (receipt_id_ext)
            WHERE l.n IS NULL OR r.subtotal_cents <> l.ext OR r.discount_cents <> l.disc
               OR r.tax_cents <> l.tax OR r.line_count <> l.n
            """,
            needs=("day_fact_receipts",),
            precheck=DocumentSums(
                "day_fact_receipts",
                ("receipt_id_ext",),
                (("subtotal_cents", "ext_cents"), ("discount_cents", "discount_cents"), ("tax_cents", "tax_cents")),
                "line_count",
            ),
        ),
    ),
    "fact_payments": (
        SetRule(
            "C7",
            MONEY,
            "payment amount = document total",
            f"SELECT s.transaction_id_ext AS k FROM silver s JOIN {DOCUMENTS.name} d "
            "ON d.doc = COALESCE(s.receipt_id_ext, s.order_id_ext) WHERE s.amount_cents <> d.total_cents",
            needs=DOCUMENT_TABLES,
            shared=(DOCUMENTS,),
            precheck=paid("amount"),
        ),
        SetRule(
            "C7",
            MONEY,
            "exactly one APPROVED payment per document",
            f"SELECT d.doc AS k FROM {DOCUMENTS.name} d LEFT JOIN (SELECT COALESCE(receipt_id_ext, order_id_ext) "
            "AS doc, count(*) FILTER (WHERE status = 'APPROVED') AS approved FROM silver GROUP BY 1) p USING (doc) "
            "WHERE COALESCE(p.approved, 0) <> 1",
            needs=DOCUMENT_TABLES,
            shared=(DOCUMENTS,),
            precheck=paid("approved"),
        ),
        SetRule(
            "C9",
            RELATIONSHIPS,
            "payment -> same-day document",
            f"SELECT s.transaction_id_ext AS k FROM silver s ANTI JOIN {DOCUMENTS.name} d "
            "ON d.doc = COALESCE(s.receipt_id_ext, s.order_id_ext)",
            needs=DOCUMENT_TABLES,
            shared=(DOCUMENTS,),
            precheck=paid("exists"),
        ),
        SetRule(
            "C11",
            RELATIONSHIPS,
            "payment after its receipt/order",
            f"SELECT s.transaction_id_ext AS k FROM silver s JOIN {DOCUMENTS.name} d "
            "ON d.doc = COALESCE(s.receipt_id_ext, s.order_id_ext) WHERE s.event_ts <= d.event_ts",
            needs=DOCUMENT_TABLES,
            shared=(DOCUMENTS,),
            precheck=paid("after"),
        ),
    ),
    "fact_stockouts": (
        SetRule(
            "C9",
            RELATIONSHIPS,
            "stockout -> triggering txn (same time, balance 0)",
            """
            SELECT s.txn_id_ext AS k FROM silver s
            ANTI JOIN (SELECT txn_id_ext, event_ts, product_id FROM day_fact_store_inventory_txn
                         WHERE balance_after = 0
                       UNION ALL SELECT txn_id_ext, event_ts, product_id FROM day_fact_dc_inventory_txn
                         WHERE balance_after = 0) t
              ON t.txn_id_ext = s.txn_id_ext AND t.event_ts = s.event_ts AND t.product_id = s.product_id
            """,
            needs=("day_fact_store_inventory_txn", "day_fact_dc_inventory_txn"),
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
            precheck=StockoutSpacing("state_prev", 24),
        ),
    ),
    "fact_truck_moves": (
        ParentRule(
            "DC-to-store move -> reorders of its shipment (review day)",
            ("shipment_id_ext",),
            "fact_reorders",
            ("shipment_id_ext",),
            DayWindow.UP_TO_DAY,
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
        ),
    ),
    "fact_promotions": (
        ParentRule(
            "promotion -> same-day receipt",
            ("receipt_id_ext",),
            "fact_receipts",
            ("receipt_id_ext",),
            DayWindow.SAME_DAY,
            precheck=KeysInParent(("receipt_id_ext",), "day_fact_receipts", ("receipt_id_ext",)),
        ),
        SetRule(
            "C7",
            MONEY,
            "promotion discount = receipt discount",
            "SELECT s.receipt_id_ext AS k FROM silver s JOIN day_fact_receipts r USING (receipt_id_ext) "
            "WHERE s.discount_cents <> r.discount_cents",
            needs=("day_fact_receipts",),
        ),
    ),
    "fact_online_order_lines": (
        ParentRule(
            "order line -> header (same or earlier day)",
            ("order_id_ext",),
            "fact_online_order_headers",
            ("order_id_ext",),
            DayWindow.UP_TO_DAY,
            Severity.WARN,
            parent_day_in="order_id_ext",
            shared=(ORDER_HEADERS_TO_DAY,),
            parent_rows=ORDER_HEADERS_TO_DAY,
        ),
        SetRule(
            "C11",
            RELATIONSHIPS,
            "PICKED < SHIPPED < DELIVERED per line",
            """
            WITH r AS (SELECT order_id_ext, line_num, line_status, event_ts FROM silver
                       UNION ALL SELECT order_id_ext, line_num, line_status, event_ts FROM order_lines_of_week),
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
            shared=(ORDER_LINES_OF_WEEK,),
        ),
        SetRule(
            "C7",
            MONEY,
            "order header = Σ its PICKED lines (cross-day)",
            """
            SELECT h.order_id_ext AS k FROM order_headers_to_day h
            JOIN (SELECT order_id_ext, sum(ext_cents) ext, sum(discount_cents) disc, sum(tax_cents) tax,
                         count(*) n
                  FROM (SELECT order_id_ext, ext_cents, discount_cents, tax_cents FROM silver
                        WHERE line_status = 'PICKED' UNION ALL
                        SELECT order_id_ext, ext_cents, discount_cents, tax_cents FROM order_lines_of_week
                        WHERE line_status = 'PICKED')
                  GROUP BY 1) l USING (order_id_ext)
            WHERE h.event_date BETWEEN DATE '{week_ago}' AND DATE '{day}'
              AND h.order_id_ext IN (SELECT order_id_ext FROM silver WHERE line_status = 'PICKED')
              AND l.n = h.line_count  -- all lines picked by D (picks may span days, §7.11)
              AND (h.subtotal_cents <> l.ext OR h.discount_cents <> l.disc OR h.tax_cents <> l.tax)
            """,
            needs=("ag_fact_online_order_headers", "ag_fact_online_order_lines"),
            severity=Severity.WARN,
            shared=(ORDER_HEADERS_TO_DAY, ORDER_LINES_OF_WEEK),
        ),
    ),
    "fact_promo_lines": (
        ParentRule(
            "promo line -> receipt line",
            ("receipt_id_ext", "line_num"),
            "fact_receipt_lines",
            ("receipt_id_ext", "line_num"),
            DayWindow.SAME_DAY,
            precheck=KeysInParent(("receipt_id_ext", "line_num"), "day_fact_receipt_lines", ("receipt_id_ext", "line_num")),
        ),
        SetRule(
            "C7",
            MONEY,
            "promotion = Σ its promo lines",
            """
            SELECT p.receipt_id_ext || '|' || p.promo_code AS k
            FROM day_fact_promotions p
            LEFT JOIN (SELECT receipt_id_ext, promo_code, sum(discount_cents) d, count(*) n FROM silver GROUP BY ALL) l
              USING (receipt_id_ext, promo_code)
            WHERE l.n IS NULL OR p.discount_cents <> l.d OR p.product_count <> l.n
            """,
            needs=("day_fact_promotions",),
            precheck=DocumentSums(
                "day_fact_promotions", ("receipt_id_ext", "promo_code"), (("discount_cents", "discount_cents"),), "product_count"
            ),
        ),
    ),
}
"""Per contract fact table, its table-specific relational rules (empty: derived rules only)."""
