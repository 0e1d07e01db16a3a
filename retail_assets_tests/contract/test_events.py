"""Event registry (§5): types, ranks, keys, payload fields and the Bronze event table layout."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pytest

from retail_assets.contract.events import (
    ENVELOPE_FIELDS,
    EVENT_NAMESPACE,
    EVENT_TYPES,
    Derived,
    JsonType,
    bronze_event_spec,
    event_id,
    event_type,
    events_for_table,
)
from retail_assets.contract.tables import BATCH_ONLY_TABLES, FACT_TABLES, STREAMABLE_TABLES

RANK_ORDER = [
    "store_opened",
    "truck_arrived",
    "truck_departed",
    "customer_entered",
    "ble_ping_detected",
    "customer_zone_changed",
    "online_order_created",
    "receipt_created",
    "receipt_line_added",
    "promotion_applied",
    "inventory_updated",
    "stockout_detected",
    "payment_processed",
    "online_order_picked",
    "online_order_shipped",
    "online_order_delivered",
    "reorder_triggered",
    "ad_impression",
    "store_closed",
]

LANDING_TAIL = ["_payload", "_landed_ts", "_sink", "_eh_partition_id", "_eh_sequence_number", "event_date"]


def test_nineteen_event_types_in_type_rank_order() -> None:
    assert list(EVENT_TYPES) == RANK_ORDER
    assert [e.type_rank for e in EVENT_TYPES.values()] == list(range(1, 20))


def test_envelope_fields_in_wire_order() -> None:
    assert [f.name for f in ENVELOPE_FIELDS] == [
        "event_id",
        "event_type",
        "ingest_timestamp",
        "schema_version",
        "source",
        "trace_id",
        "correlation_id",
        "partition_key",
        "session_id",
        "parent_event_id",
    ]
    assert {f.name for f in ENVELOPE_FIELDS if f.nullable} == {
        "correlation_id",
        "session_id",
        "parent_event_id",
    }


def test_namespace_and_documented_event_id_example() -> None:
    assert uuid.uuid5(uuid.NAMESPACE_URL, "urn:retail-assets:event:v2") == EVENT_NAMESPACE
    got = event_id("ds-998a7543beaf8741", "receipt_created", "RCP-20240411-00012-000345")
    assert got == "791076e7-2b2e-5a6a-bc92-b097478ef4d8"


@pytest.mark.parametrize("name", RANK_ORDER)
def test_bronze_event_spec_layout(name: str) -> None:
    spec = bronze_event_spec(name)
    et = EVENT_TYPES[name]
    names = spec.column_names
    assert names[:10] == [f.name for f in ENVELOPE_FIELDS]
    assert names[-6:] == LANDING_TAIL
    assert len(names) == 10 + len(et.payload) + 6
    assert len(set(names)) == len(names), "a payload column collides with another column"
    assert spec.name == name and spec.schema == "cusn" and spec.partition_by == "event_date"
    types = {c.name: c.type for c in spec.columns}
    assert types["ingest_timestamp"] == pa.timestamp("us", tz="UTC")
    assert types["_eh_sequence_number"] == pa.int64()
    assert types["event_date"] == pa.date32()
    assert all(types[n] == pa.string() for n in names[:10] if n != "ingest_timestamp")
    expected_payload = {
        JsonType.STRING: pa.string(),
        JsonType.INTEGER: pa.int64(),
        JsonType.NUMBER: pa.float64(),
        JsonType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
        JsonType.INTEGER_ARRAY: pa.list_(pa.int64()),
    }
    assert [types[f.landed_name] for f in et.payload] == [expected_payload[f.json_type] for f in et.payload]


def test_payload_source_is_the_only_rename() -> None:
    renamed = {
        (e.name, f.name, f.landed_name)
        for e in EVENT_TYPES.values()
        for f in e.payload
        if f.name != f.landed_name
    }
    assert renamed == {("inventory_updated", "source", "payload_source")}
    names = bronze_event_spec("inventory_updated").column_names
    assert names.count("source") == 1 and names.index("source") == 4  # the envelope's
    assert names[10:19] == [
        "txn_id",
        "location_type",
        "store_id",
        "dc_id",
        "product_id",
        "quantity_delta",
        "reason",
        "balance_after",
        "payload_source",
    ]


def test_restated_payloads() -> None:
    assert list(EVENT_TYPES["payment_processed"].payload_names) == [
        "transaction_id",
        "transaction_type",
        "receipt_id",
        "order_id",
        "store_id",
        "customer_id",
        "attempt_number",
        "payment_method",
        "amount",
        "amount_cents",
        "status",
        "decline_reason",
        "processing_time",
        "processing_time_ms",
    ]
    assert list(EVENT_TYPES["truck_departed"].payload_names) == [
        "shipment_id",
        "stop_number",
        "truck_id",
        "route_type",
        "location_type",
        "dc_id",
        "store_id",
        "temperature_class",
        "units",
        "planned_time",
        "departure_time",
        "actual_unload_duration",
    ]
    assert list(EVENT_TYPES["promotion_applied"].payload_names) == [
        "receipt_id",
        "promo_code",
        "store_id",
        "customer_id",
        "discount_type",
        "product_count",
        "product_ids",
        "discount_amount",
        "discount_cents",
    ]
    nullable = {f.name for f in EVENT_TYPES["receipt_created"].payload if f.nullable}
    assert nullable == {"visit_id", "return_for_receipt_id", "campaign_id"}


def test_special_payload_fields_have_explicit_kinds() -> None:
    special = {
        (e.name, f.name): (f.derived, f.column, f.literal)
        for e in EVENT_TYPES.values()
        for f in e.payload
        if f.derived not in (Derived.COLUMN, Derived.INGEST_TIME)
    }
    assert special == {
        ("payment_processed", "amount_cents"): (Derived.CHECKED_CENTS, "amount_cents", None),
        ("promotion_applied", "discount_cents"): (Derived.CHECKED_CENTS, "discount_cents", None),
        ("promotion_applied", "product_ids"): (Derived.PROMO_PRODUCT_IDS, None, None),
        ("store_opened", "operation_type"): (Derived.LITERAL, "operation_type", "OPENED"),
        ("store_closed", "operation_type"): (Derived.LITERAL, "operation_type", "CLOSED"),
        ("inventory_updated", "location_type"): (Derived.SELECTOR, None, None),
    }
    assert not any(
        f.is_mapped for (e, n), (d, *_) in special.items() for f in [EVENT_TYPES[e].payload_field(n)]
    )


@pytest.mark.parametrize("name", RANK_ORDER)
def test_keys_filters_and_time_fields_refer_to_real_columns(name: str) -> None:
    et = EVENT_TYPES[name]
    for table in et.fact_tables:
        spec = FACT_TABLES[table]
        assert set(et.natural_key) <= set(spec.column_names)
        # natural key = primary key minus the column fixed by the type (line_status only, §5.2)
        fixed = {et.row_filter[0]} if et.row_filter and et.row_filter[0] == "line_status" else set()
        assert tuple(k for k in spec.primary_key if k not in fixed) == et.natural_key
        for f in et.payload:
            if (
                f.derived in (Derived.COLUMN, Derived.CHECKED_CENTS, Derived.LITERAL)
                and len(et.fact_tables) == 1
            ):
                assert f.column in spec.column_names, f"{name}.{f.name} -> {f.column}"
    if et.row_filter:
        col, value = et.row_filter
        assert value in FACT_TABLES[et.fact_table].column(col).enum
    if et.time_field is None:
        assert not any(f.derived is Derived.INGEST_TIME for f in et.payload)
    else:
        assert et.payload_field(et.time_field).derived is Derived.INGEST_TIME
        assert et.payload_field(et.time_field).json_type is JsonType.TIMESTAMP


def test_time_fields() -> None:
    assert {n: e.time_field for n, e in EVENT_TYPES.items() if e.time_field} == {
        "store_opened": "operation_time",
        "truck_arrived": "arrival_time",
        "truck_departed": "departure_time",
        "customer_zone_changed": "timestamp",
        "stockout_detected": "detection_time",
        "payment_processed": "processing_time",
        "online_order_picked": "picked_time",
        "online_order_shipped": "shipped_time",
        "online_order_delivered": "delivered_time",
        "store_closed": "operation_time",
    }


def test_inventory_updated_feeds_two_tables_by_location_type() -> None:
    inv = EVENT_TYPES["inventory_updated"]
    assert dict(inv.table_by_selector) == {"STORE": "fact_store_inventory_txn", "DC": "fact_dc_inventory_txn"}
    assert inv.selector == "location_type"
    assert inv.selector_value("fact_dc_inventory_txn") == "DC"
    with pytest.raises(ValueError, match="location_type"):
        _ = inv.fact_table
    assert EVENT_TYPES["stockout_detected"].fact_table == "fact_stockouts"
    assert EVENT_TYPES["stockout_detected"].selector_value("fact_stockouts") is None


def test_every_streamable_table_is_fed_and_batch_only_tables_are_not() -> None:
    for table in STREAMABLE_TABLES:
        assert events_for_table(table), table
    for table in BATCH_ONLY_TABLES:
        assert events_for_table(table) == ()
    assert [e.name for e in events_for_table("fact_online_order_lines")] == [
        "online_order_picked",
        "online_order_shipped",
        "online_order_delivered",
    ]
    # Types sharing a table split it with distinct row filters covering the column's vocabulary.
    for table in STREAMABLE_TABLES:
        feeders = [e for e in events_for_table(table) if len(e.fact_tables) == 1]
        if len(feeders) > 1:
            cols = {e.row_filter[0] for e in feeders}
            assert len(cols) == 1
            assert sorted(e.row_filter[1] for e in feeders) == sorted(
                FACT_TABLES[table].column(cols.pop()).enum
            )


def test_unknown_event_type_error_lists_valid_names() -> None:
    with pytest.raises(KeyError, match="receipt_created"):
        event_type("receipt_create")
    with pytest.raises(KeyError, match="receipt_created"):
        bronze_event_spec("nope")
