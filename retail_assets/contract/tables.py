"""The fact tables of §4 and the control tables of §2/§5.5/§8.3, as data.

Column order, types, nullability and primary keys are transcribed from the contract; everything that
writes, reads, maps or checks a table iterates these specs (ARCHITECTURE.md principle 2), so a
mistake here is a mistake everywhere — the tests restate a few tables independently to catch one.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

from retail_assets.contract import enums as E
from retail_assets.contract.types import (
    BIGINT,
    BRONZE_SCHEMA,
    DATE,
    DEC18_2,
    DEC18_4,
    SILVER_SCHEMA,
    TIMESTAMP,
    VARCHAR,
    Column,
    TableSpec,
)

EVENT_TS = Column("event_ts", TIMESTAMP)
EVENT_DATE = Column("event_date", DATE)
SOURCE_COLUMN = Column("_source", VARCHAR, enum=E.SOURCE)
"""Silver's last column: which path produced the row (``'batch'`` or ``'stream'``)."""


def _c(name: str, type_, null: bool = False, enum: tuple[str, ...] | None = None) -> Column:
    """Short constructor so the tables below read like the contract's tables."""
    return Column(name, type_, nullable=null, enum=enum)


def _fact(
    name: str,
    columns: tuple[Column, ...],
    primary_key: tuple[str, ...],
    streamable: bool,
    description: str,
) -> TableSpec:
    """A fact table: always starts with event_ts, event_date (§4.0) and is partitioned by event_date."""
    return TableSpec(
        name=name,
        columns=(EVENT_TS, EVENT_DATE, *columns),
        primary_key=primary_key,
        schema=BRONZE_SCHEMA,
        partition_by="event_date",
        streamable=streamable,
        description=description,
    )


FACT_RECEIPTS = _fact(
    "fact_receipts",
    (
        _c("receipt_id_ext", VARCHAR),
        _c("receipt_type", VARCHAR, enum=E.RECEIPT_TYPE),
        _c("store_id", BIGINT),
        _c("customer_id", BIGINT),
        _c("visit_id_ext", VARCHAR, True),
        _c("return_for_receipt_id_ext", VARCHAR, True),
        _c("payment_method", VARCHAR, enum=E.PAYMENT_METHOD_STORE),
        _c("item_count", BIGINT),
        _c("line_count", BIGINT),
        _c("subtotal_amount", DEC18_2),
        _c("subtotal_cents", BIGINT),
        _c("discount_amount", DEC18_2),
        _c("discount_cents", BIGINT),
        _c("tax_amount", DEC18_2),
        _c("tax_cents", BIGINT),
        _c("total_amount", DEC18_2),
        _c("total_cents", BIGINT),
        _c("campaign_id_ext", VARCHAR, True),
    ),
    ("receipt_id_ext",),
    True,
    "§4.1 one row per POS receipt (SALE or RETURN)",
)

FACT_RECEIPT_LINES = _fact(
    "fact_receipt_lines",
    (
        _c("receipt_id_ext", VARCHAR),
        _c("line_num", BIGINT),
        _c("store_id", BIGINT),
        _c("product_id", BIGINT),
        _c("quantity", BIGINT),
        _c("unit_price", DEC18_2),
        _c("unit_cents", BIGINT),
        _c("ext_price", DEC18_2),
        _c("ext_cents", BIGINT),
        _c("promo_code", VARCHAR, True, E.PROMO_CODE_STORE),
        _c("discount_amount", DEC18_2),
        _c("discount_cents", BIGINT),
        _c("tax_amount", DEC18_2),
        _c("tax_cents", BIGINT),
    ),
    ("receipt_id_ext", "line_num"),
    True,
    "§4.2 one row per receipt line",
)

FACT_PAYMENTS = _fact(
    "fact_payments",
    (
        _c("transaction_id_ext", VARCHAR),
        _c("transaction_type", VARCHAR, enum=E.TRANSACTION_TYPE),
        _c("receipt_id_ext", VARCHAR, True),
        _c("order_id_ext", VARCHAR, True),
        _c("store_id", BIGINT, True),
        _c("customer_id", BIGINT),
        _c("attempt_num", BIGINT),
        _c("payment_method", VARCHAR, enum=E.PAYMENT_METHOD),
        _c("amount", DEC18_2),
        _c("amount_cents", BIGINT),
        _c("status", VARCHAR, enum=E.PAYMENT_STATUS),
        _c("decline_reason", VARCHAR, True, E.DECLINE_REASON),
        _c("processing_time_ms", BIGINT),
    ),
    ("transaction_id_ext",),
    True,
    "§4.3 one row per authorisation attempt or refund",
)

FACT_STORE_INVENTORY_TXN = _fact(
    "fact_store_inventory_txn",
    (
        _c("txn_id_ext", VARCHAR),
        _c("store_id", BIGINT),
        _c("product_id", BIGINT),
        _c("txn_type", VARCHAR, enum=E.TXN_TYPE_STORE),
        _c("quantity", BIGINT),
        _c("balance_after", BIGINT),
        _c("source_id_ext", VARCHAR, True),
    ),
    ("txn_id_ext",),
    True,
    "§4.4 one row per on-hand change of a product at a store",
)

FACT_DC_INVENTORY_TXN = _fact(
    "fact_dc_inventory_txn",
    (
        _c("txn_id_ext", VARCHAR),
        _c("dc_id", BIGINT),
        _c("product_id", BIGINT),
        _c("txn_type", VARCHAR, enum=E.TXN_TYPE_DC),
        _c("quantity", BIGINT),
        _c("balance_after", BIGINT),
        _c("source_id_ext", VARCHAR, True),
    ),
    ("txn_id_ext",),
    True,
    "§4.5 one row per on-hand change of a product at a DC",
)

FACT_STOCKOUTS = _fact(
    "fact_stockouts",
    (
        _c("txn_id_ext", VARCHAR),
        _c("location_type", VARCHAR, enum=E.LOCATION_TYPE),
        _c("store_id", BIGINT, True),
        _c("dc_id", BIGINT, True),
        _c("product_id", BIGINT),
        _c("last_known_quantity", BIGINT),
    ),
    ("txn_id_ext",),
    True,
    "§4.6 one row per detected stockout (24 h de-duplicated)",
)

FACT_REORDERS = _fact(
    "fact_reorders",
    (
        _c("reorder_id_ext", VARCHAR),
        _c("store_id", BIGINT),
        _c("dc_id", BIGINT),
        _c("product_id", BIGINT),
        _c("current_quantity", BIGINT),
        _c("in_transit_quantity", BIGINT),
        _c("reorder_point", BIGINT),
        _c("max_stock", BIGINT),
        _c("reorder_quantity", BIGINT),
        _c("allocated_quantity", BIGINT),
        _c("priority", VARCHAR, enum=E.PRIORITY),
        _c("shipment_id_ext", VARCHAR, True),
    ),
    ("reorder_id_ext",),
    True,
    "§4.7 one row per (store, product) replenishment request",
)

FACT_TRUCK_MOVES = _fact(
    "fact_truck_moves",
    (
        _c("shipment_id_ext", VARCHAR),
        _c("stop_num", BIGINT),
        _c("truck_id", BIGINT),
        _c("route_type", VARCHAR, enum=E.ROUTE_TYPE),
        _c("move_type", VARCHAR, enum=E.MOVE_TYPE),
        _c("location_type", VARCHAR, enum=E.LOCATION_TYPE),
        _c("dc_id", BIGINT),
        _c("store_id", BIGINT, True),
        _c("temperature_class", VARCHAR, enum=E.TEMPERATURE_CLASS),
        _c("units", BIGINT),
        _c("planned_ts", TIMESTAMP),
        _c("estimated_unload_minutes", BIGINT, True),
        _c("actual_unload_minutes", BIGINT, True),
    ),
    ("shipment_id_ext", "stop_num"),
    True,
    "§4.8 one row per truck arrival or departure",
)

FACT_TRUCK_INVENTORY = _fact(
    "fact_truck_inventory",
    (
        _c("shipment_id_ext", VARCHAR),
        _c("truck_id", BIGINT),
        _c("action", VARCHAR, enum=E.TRUCK_ACTION),
        _c("location_type", VARCHAR, enum=E.LOCATION_TYPE),
        _c("dc_id", BIGINT, True),
        _c("store_id", BIGINT, True),
        _c("product_id", BIGINT),
        _c("quantity", BIGINT),
    ),
    ("shipment_id_ext", "action", "product_id"),
    False,
    "§4.9 one row per product loaded/unloaded (batch only)",
)

FACT_FOOT_TRAFFIC = _fact(
    "fact_foot_traffic",
    (
        _c("store_id", BIGINT),
        _c("sensor_id_ext", VARCHAR),
        _c("zone", VARCHAR, enum=E.ZONE),
        _c("customer_count", BIGINT),
        _c("dwell_seconds", BIGINT),
    ),
    ("sensor_id_ext", "event_ts"),
    True,
    "§4.10 one row per (store, zone sensor, open hour)",
)

FACT_CUSTOMER_ZONE_CHANGES = _fact(
    "fact_customer_zone_changes",
    (
        _c("store_id", BIGINT),
        _c("visit_id_ext", VARCHAR),
        _c("change_num", BIGINT),
        _c("customer_ble_id_ext", VARCHAR),
        _c("customer_id", BIGINT, True),
        _c("from_zone", VARCHAR, enum=E.ZONE),
        _c("to_zone", VARCHAR, enum=E.ZONE),
    ),
    ("visit_id_ext", "change_num"),
    True,
    "§4.11 one row per zone transition in a BLE-tracked visit",
)

FACT_BLE_PINGS = _fact(
    "fact_ble_pings",
    (
        _c("store_id", BIGINT),
        _c("visit_id_ext", VARCHAR),
        _c("ping_num", BIGINT),
        _c("beacon_id_ext", VARCHAR),
        _c("zone", VARCHAR, enum=E.ZONE),
        _c("customer_ble_id_ext", VARCHAR),
        _c("customer_id", BIGINT, True),
        _c("rssi", BIGINT),
    ),
    ("visit_id_ext", "ping_num"),
    True,
    "§4.12 one row per BLE beacon detection",
)

FACT_MARKETING = _fact(
    "fact_marketing",
    (
        _c("impression_id_ext", VARCHAR),
        _c("campaign_id_ext", VARCHAR),
        _c("campaign_type", VARCHAR, enum=E.CAMPAIGN_TYPE),
        _c("channel", VARCHAR, enum=E.CHANNEL),
        _c("creative_id_ext", VARCHAR),
        _c("device_type", VARCHAR, enum=E.DEVICE_TYPE),
        _c("customer_ad_id_ext", VARCHAR),
        _c("customer_id", BIGINT, True),
        _c("cost", DEC18_4),
        _c("cost_cents", BIGINT),
    ),
    ("impression_id_ext",),
    True,
    "§4.13 one row per ad impression",
)

FACT_PROMOTIONS = _fact(
    "fact_promotions",
    (
        _c("receipt_id_ext", VARCHAR),
        _c("promo_code", VARCHAR, enum=E.PROMO_CODE_STORE),
        _c("store_id", BIGINT),
        _c("customer_id", BIGINT),
        _c("discount_type", VARCHAR, enum=E.DISCOUNT_TYPE),
        _c("product_count", BIGINT),
        _c("discount_amount", DEC18_2),
        _c("discount_cents", BIGINT),
    ),
    ("receipt_id_ext", "promo_code"),
    True,
    "§4.14 one row per promotion code applied to a SALE receipt",
)

FACT_PROMO_LINES = _fact(
    "fact_promo_lines",
    (
        _c("receipt_id_ext", VARCHAR),
        _c("line_num", BIGINT),
        _c("promo_code", VARCHAR, enum=E.PROMO_CODE_STORE),
        _c("store_id", BIGINT),
        _c("product_id", BIGINT),
        _c("quantity", BIGINT),
        _c("discount_amount", DEC18_2),
        _c("discount_cents", BIGINT),
    ),
    ("receipt_id_ext", "line_num"),
    False,
    "§4.15 one row per receipt line discounted by a promotion (batch only)",
)

FACT_ONLINE_ORDER_HEADERS = _fact(
    "fact_online_order_headers",
    (
        _c("order_id_ext", VARCHAR),
        _c("customer_id", BIGINT),
        _c("fulfillment_mode", VARCHAR, enum=E.FULFILLMENT_MODE),
        _c("node_type", VARCHAR, enum=E.NODE_TYPE),
        _c("node_id", BIGINT),
        _c("payment_method", VARCHAR, enum=E.PAYMENT_METHOD_ONLINE),
        _c("promo_code", VARCHAR, True, E.PROMO_CODE_ONLINE),
        _c("item_count", BIGINT),
        _c("line_count", BIGINT),
        _c("subtotal_amount", DEC18_2),
        _c("subtotal_cents", BIGINT),
        _c("discount_amount", DEC18_2),
        _c("discount_cents", BIGINT),
        _c("tax_amount", DEC18_2),
        _c("tax_cents", BIGINT),
        _c("total_amount", DEC18_2),
        _c("total_cents", BIGINT),
    ),
    ("order_id_ext",),
    True,
    "§4.16 one row per online order placed",
)

FACT_ONLINE_ORDER_LINES = _fact(
    "fact_online_order_lines",
    (
        _c("order_id_ext", VARCHAR),
        _c("line_num", BIGINT),
        _c("line_status", VARCHAR, enum=E.LINE_STATUS),
        _c("customer_id", BIGINT),
        _c("fulfillment_mode", VARCHAR, enum=E.FULFILLMENT_MODE),
        _c("node_type", VARCHAR, enum=E.NODE_TYPE),
        _c("node_id", BIGINT),
        _c("product_id", BIGINT),
        _c("quantity", BIGINT),
        _c("unit_price", DEC18_2),
        _c("unit_cents", BIGINT),
        _c("ext_price", DEC18_2),
        _c("ext_cents", BIGINT),
        _c("promo_code", VARCHAR, True, E.PROMO_CODE_ONLINE),
        _c("discount_amount", DEC18_2),
        _c("discount_cents", BIGINT),
        _c("tax_amount", DEC18_2),
        _c("tax_cents", BIGINT),
    ),
    ("order_id_ext", "line_num", "line_status"),
    True,
    "§4.17 one row per status change of an online order line",
)

FACT_STORE_OPS = _fact(
    "fact_store_ops",
    (
        _c("store_id", BIGINT),
        _c("operation_type", VARCHAR, enum=E.OPERATION_TYPE),
    ),
    ("store_id", "event_ts"),
    True,
    "§4.18 one row per store opening or closing",
)

FACT_TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        FACT_RECEIPTS,
        FACT_RECEIPT_LINES,
        FACT_PAYMENTS,
        FACT_STORE_INVENTORY_TXN,
        FACT_DC_INVENTORY_TXN,
        FACT_STOCKOUTS,
        FACT_REORDERS,
        FACT_TRUCK_MOVES,
        FACT_TRUCK_INVENTORY,
        FACT_FOOT_TRAFFIC,
        FACT_CUSTOMER_ZONE_CHANGES,
        FACT_BLE_PINGS,
        FACT_MARKETING,
        FACT_PROMOTIONS,
        FACT_PROMO_LINES,
        FACT_ONLINE_ORDER_HEADERS,
        FACT_ONLINE_ORDER_LINES,
        FACT_STORE_OPS,
    )
}
"""The fact tables in §4 order (the order every per-table loop and the manifest use)."""

STREAMABLE_TABLES: tuple[str, ...] = tuple(n for n, t in FACT_TABLES.items() if t.streamable)
BATCH_ONLY_TABLES: tuple[str, ...] = tuple(n for n, t in FACT_TABLES.items() if not t.streamable)


# --- control tables ------------------------------------------------------------------------------

CTL_DAY_MANIFEST = TableSpec(
    name="ctl_day_manifest",
    columns=(
        _c("event_date", DATE),
        _c("table_name", VARCHAR, enum=tuple(FACT_TABLES)),
        _c("path", VARCHAR, enum=E.MANIFEST_PATH),
        _c("expected_rows", BIGINT),
        _c("dataset_id", VARCHAR),
        _c("model_version", VARCHAR),
    ),
    primary_key=("event_date", "table_name"),
    partition_by="event_date",
    description="§2 one row per (day, fact table): path and expected row count",
)

CTL_STATE_INVENTORY = TableSpec(
    name="ctl_state_inventory",
    columns=(
        _c("state_date", DATE),
        _c("location_type", VARCHAR, enum=E.LOCATION_TYPE),
        _c("location_id", BIGINT),
        _c("product_id", BIGINT),
        _c("on_hand", BIGINT),
        _c("in_transit", BIGINT),
        _c("reorder_point", BIGINT),
        _c("max_stock", BIGINT),
        _c("last_stockout_ts", TIMESTAMP, True),
        # model 4: the DC whose shard carries the row (§8.5), so a shard reads its rows by a filter
        _c("home_dc_id", BIGINT, True),
    ),
    primary_key=("state_date", "location_type", "location_id", "product_id"),
    partition_by="state_date",
    description="§8.3 carry-over inventory state at 24:00 of state_date",
)

CTL_STATE_SCHEDULE = TableSpec(
    name="ctl_state_schedule",
    columns=(
        _c("state_date", DATE),
        _c("due_ts", TIMESTAMP),
        _c("action_type", VARCHAR, enum=E.SCHEDULE_ACTION_TYPE),
        _c("action_key", VARCHAR),
        _c("body", VARCHAR),
        _c("home_dc_id", BIGINT, True),  # model 4: the DC whose shard carries the action (§8.5)
    ),
    primary_key=("state_date", "action_type", "action_key"),
    partition_by="state_date",
    description="§8.3 scheduled future actions after state_date",
)

CTL_REJECTED_EVENTS = TableSpec(
    name="ctl_rejected_events",
    columns=(
        _c("landed_date", DATE),
        # event_type / event_id are unknown when the message does not even parse.
        _c("event_type", VARCHAR, True),
        _c("event_id", VARCHAR, True),
        _c("reason", VARCHAR),
        # a bounded prefix of the body (REJECT_RAW_PREFIX_BYTES); the two columns below identify the
        # whole body. Nullable: rows written before they existed read as NULL.
        _c("raw", VARCHAR),
        _c("raw_bytes", BIGINT, True),
        _c("raw_sha256", VARCHAR, True),
    ),
    primary_key=(),
    partition_by="landed_date",
    description="§5.5 events that failed to parse or violated the contract (append only; one reason each)",
)

CONTROL_TABLES: dict[str, TableSpec] = {
    t.name: t for t in (CTL_DAY_MANIFEST, CTL_STATE_INVENTORY, CTL_STATE_SCHEDULE, CTL_REJECTED_EVENTS)
}


def money_pairs(spec: TableSpec) -> tuple[tuple[str, str], ...]:
    """(dollar column, cents column) pairs of a table: a DECIMAL(18,2)/(18,4) column and the BIGINT
    ``*_cents`` column that directly follows it (§1.1 "Money pair"), for the C7 cents checks."""
    pairs = []
    cols = spec.columns
    for money, cents in pairwise(cols):
        if money.type in (DEC18_2, DEC18_4) and cents.type == BIGINT and cents.name.endswith("_cents"):
            pairs.append((money.name, cents.name))
    return tuple(pairs)


def fact_spec(name: str) -> TableSpec:
    """The Bronze batch spec of a fact table, with an error that lists the valid names."""
    try:
        return FACT_TABLES[name]
    except KeyError:
        raise KeyError(
            f"unknown fact table {name!r}; use one of the contract's fact tables: {', '.join(FACT_TABLES)}"
        ) from None


def silver_spec(name: str) -> TableSpec:
    """``ag.<name>``: the batch columns in the same order plus a final ``_source`` (§4.0)."""
    spec = fact_spec(name)
    return replace(spec, schema=SILVER_SCHEMA, columns=(*spec.columns, SOURCE_COLUMN))
