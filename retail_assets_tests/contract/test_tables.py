"""Fact/dimension/control table specs against column lists restated here from the contract (§3, §4).

The restatements are written independently of ``retail_assets.contract.tables`` so a transcription
error in either place makes these tests fail.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from retail_assets.contract import enums
from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.contract.tables import (
    BATCH_ONLY_TABLES,
    CONTROL_TABLES,
    FACT_TABLES,
    STREAMABLE_TABLES,
    fact_spec,
    money_pairs,
    silver_spec,
)

# Type shorthands for the restated tables: "ts" TIMESTAMP, "d" DATE, "s" VARCHAR, "i" BIGINT,
# "m" DECIMAL(18,2), "m4" DECIMAL(18,4); a trailing "?" means nullable.
_TYPES = {
    "ts": pa.timestamp("us", tz="UTC"),
    "d": pa.date32(),
    "s": pa.string(),
    "i": pa.int64(),
    "m": pa.decimal128(18, 2),
    "m4": pa.decimal128(18, 4),
}

EXPECTED = {
    "fact_receipts": "event_ts:ts event_date:d receipt_id_ext:s receipt_type:s store_id:i customer_id:i "
    "visit_id_ext:s? return_for_receipt_id_ext:s? payment_method:s item_count:i line_count:i "
    "subtotal_amount:m subtotal_cents:i discount_amount:m discount_cents:i tax_amount:m tax_cents:i "
    "total_amount:m total_cents:i campaign_id_ext:s?",
    "fact_payments": "event_ts:ts event_date:d transaction_id_ext:s transaction_type:s receipt_id_ext:s? "
    "order_id_ext:s? store_id:i? customer_id:i attempt_num:i payment_method:s amount:m amount_cents:i "
    "status:s decline_reason:s? processing_time_ms:i",
    "fact_truck_moves": "event_ts:ts event_date:d shipment_id_ext:s stop_num:i truck_id:i route_type:s "
    "move_type:s location_type:s dc_id:i store_id:i? temperature_class:s units:i planned_ts:ts "
    "estimated_unload_minutes:i? actual_unload_minutes:i?",
    "fact_online_order_lines": "event_ts:ts event_date:d order_id_ext:s line_num:i line_status:s "
    "customer_id:i fulfillment_mode:s node_type:s node_id:i product_id:i quantity:i unit_price:m "
    "unit_cents:i ext_price:m ext_cents:i promo_code:s? discount_amount:m discount_cents:i "
    "tax_amount:m tax_cents:i",
    "fact_stockouts": "event_ts:ts event_date:d txn_id_ext:s location_type:s store_id:i? dc_id:i? "
    "product_id:i last_known_quantity:i",
    "fact_marketing": "event_ts:ts event_date:d impression_id_ext:s campaign_id_ext:s campaign_type:s "
    "channel:s creative_id_ext:s device_type:s customer_ad_id_ext:s customer_id:i? cost:m4 cost_cents:i",
    "fact_store_ops": "event_ts:ts event_date:d store_id:i operation_type:s",
}

COLUMN_COUNTS = {
    "fact_receipts": 20,
    "fact_receipt_lines": 16,
    "fact_payments": 15,
    "fact_store_inventory_txn": 9,
    "fact_dc_inventory_txn": 9,
    "fact_stockouts": 8,
    "fact_reorders": 14,
    "fact_truck_moves": 15,
    "fact_truck_inventory": 10,
    "fact_foot_traffic": 7,
    "fact_customer_zone_changes": 9,
    "fact_ble_pings": 10,
    "fact_marketing": 12,
    "fact_promotions": 10,
    "fact_promo_lines": 10,
    "fact_online_order_headers": 19,
    "fact_online_order_lines": 20,
    "fact_store_ops": 4,
}

PRIMARY_KEYS = {
    "fact_receipt_lines": ("receipt_id_ext", "line_num"),
    "fact_truck_inventory": ("shipment_id_ext", "action", "product_id"),
    "fact_foot_traffic": ("sensor_id_ext", "event_ts"),
    "fact_online_order_lines": ("order_id_ext", "line_num", "line_status"),
    "fact_store_ops": ("store_id", "event_ts"),
}


def _parse(expected: str) -> list[tuple[str, pa.DataType, bool]]:
    out = []
    for item in expected.split():
        name, kind = item.split(":")
        out.append((name, _TYPES[kind.rstrip("?")], kind.endswith("?")))
    return out


@pytest.mark.parametrize("table", sorted(EXPECTED))
def test_restated_tables_match_names_order_types_and_nullability(table: str) -> None:
    actual = [(c.name, c.type, c.nullable) for c in FACT_TABLES[table].columns]
    assert actual == _parse(EXPECTED[table])


def test_eighteen_fact_tables_in_contract_order_with_expected_column_counts() -> None:
    assert list(FACT_TABLES) == list(COLUMN_COUNTS)
    assert {t: len(s.columns) for t, s in FACT_TABLES.items()} == COLUMN_COUNTS


@pytest.mark.parametrize("table", list(FACT_TABLES))
def test_fact_tables_start_with_event_ts_event_date_and_partition_by_date(table: str) -> None:
    spec = FACT_TABLES[table]
    first, second = spec.columns[:2]
    assert (first.name, first.type, first.nullable) == ("event_ts", pa.timestamp("us", tz="UTC"), False)
    assert (second.name, second.type, second.nullable) == ("event_date", pa.date32(), False)
    assert spec.partition_by == "event_date"
    assert spec.schema == "cusn"
    assert len(set(spec.column_names)) == len(spec.column_names)


@pytest.mark.parametrize(
    "spec", [*FACT_TABLES.values(), *DIMENSION_TABLES.values(), *CONTROL_TABLES.values()]
)
def test_primary_key_columns_exist_and_are_not_null(spec) -> None:
    for key in spec.primary_key:
        assert not spec.column(key).nullable, f"{spec.name}.{key}"


def test_selected_primary_keys() -> None:
    for table, key in PRIMARY_KEYS.items():
        assert FACT_TABLES[table].primary_key == key


def test_streamable_and_batch_only_partition_the_fact_tables() -> None:
    assert BATCH_ONLY_TABLES == ("fact_truck_inventory", "fact_promo_lines")
    assert len(STREAMABLE_TABLES) == 16
    assert set(STREAMABLE_TABLES) | set(BATCH_ONLY_TABLES) == set(FACT_TABLES)
    assert all(FACT_TABLES[t].streamable for t in STREAMABLE_TABLES)


@pytest.mark.parametrize("table", list(FACT_TABLES))
def test_silver_spec_is_batch_columns_plus_source(table: str) -> None:
    silver = silver_spec(table)
    assert silver.schema == "ag"
    assert silver.column_names == [*FACT_TABLES[table].column_names, "_source"]
    last = silver.columns[-1]
    assert (last.type, last.nullable) == (pa.string(), False)
    assert silver.arrow_schema.field("_source").nullable is False


def test_unknown_table_error_names_the_valid_tables() -> None:
    with pytest.raises(KeyError, match="fact_receipts"):
        silver_spec("fact_reciepts")
    with pytest.raises(KeyError, match="fact_store_ops"):
        fact_spec("receipts")


def test_enum_columns_carry_their_vocabulary() -> None:
    assert FACT_TABLES["fact_payments"].column("payment_method").enum == enums.PAYMENT_METHOD
    assert FACT_TABLES["fact_receipts"].column("payment_method").enum == (
        "CREDIT_CARD",
        "DEBIT_CARD",
        "CASH",
        "MOBILE_PAY",
    )
    assert FACT_TABLES["fact_online_order_headers"].column("promo_code").enum == (
        "PROMO5",
        "PROMO10",
        "PROMO20",
    )
    assert FACT_TABLES["fact_dc_inventory_txn"].column("txn_type").enum == (
        "INBOUND_SHIPMENT",
        "OUTBOUND_SHIPMENT",
        "ONLINE_SALE",
        "ADJUSTMENT",
    )
    assert FACT_TABLES["fact_customer_zone_changes"].column("to_zone").enum == enums.ZONE
    assert len(enums.PROMO_CODE_STORE) == 14 and len(enums.DECLINE_REASON) == 7
    # Every enum column is VARCHAR and its vocabulary has no duplicates.
    for spec in [*FACT_TABLES.values(), *DIMENSION_TABLES.values(), *CONTROL_TABLES.values()]:
        for col in spec.columns:
            if col.enum is not None:
                assert col.type == pa.string(), f"{spec.name}.{col.name}"
                assert len(set(col.enum)) == len(col.enum), f"{spec.name}.{col.name}"


def test_every_dollar_column_has_its_cents_partner_next_to_it() -> None:
    for spec in [*FACT_TABLES.values(), *DIMENSION_TABLES.values()]:
        dollars = [c.name for c in spec.columns if c.type in (pa.decimal128(18, 2), pa.decimal128(18, 4))]
        assert [m for m, _ in money_pairs(spec)] == dollars, spec.name
    assert money_pairs(FACT_TABLES["fact_receipt_lines"])[:2] == (
        ("unit_price", "unit_cents"),
        ("ext_price", "ext_cents"),
    )


def test_dimensions() -> None:
    counts = {
        "dim_geographies": 7,
        "dim_distribution_centers": 4,
        "dim_stores": 12,
        "dim_trucks": 6,
        "dim_customers": 11,
        "dim_products": 19,
    }
    assert {n: len(s.columns) for n, s in DIMENSION_TABLES.items()} == counts
    for name, spec in DIMENSION_TABLES.items():
        assert spec.partition_by is None
        assert spec.primary_key == (spec.columns[0].name,)
        assert not any(c.type == pa.float64() for c in spec.columns), name
    nullable = {(n, c.name) for n, s in DIMENSION_TABLES.items() for c in s.columns if c.nullable}
    assert nullable == {("dim_trucks", "dc_id"), ("dim_products", "tags")}
    assert DIMENSION_TABLES["dim_stores"].column("tax_rate").type == pa.decimal128(7, 5)


def test_control_tables() -> None:
    assert list(CONTROL_TABLES) == [
        "ctl_day_manifest",
        "ctl_state_inventory",
        "ctl_state_schedule",
        "ctl_rejected_events",
    ]
    assert CONTROL_TABLES["ctl_day_manifest"].column_names == [
        "event_date",
        "table_name",
        "path",
        "expected_rows",
        "dataset_id",
        "model_version",
    ]
    assert CONTROL_TABLES["ctl_state_inventory"].partition_by == "state_date"
    assert CONTROL_TABLES["ctl_state_inventory"].column("last_stockout_ts").nullable
    assert CONTROL_TABLES["ctl_state_schedule"].column_names == [
        "state_date",
        "due_ts",
        "action_type",
        "action_key",
        "body",
        "home_dc_id",
    ]
    assert CONTROL_TABLES["ctl_state_inventory"].column_names[-1] == "home_dc_id"
    rejected = CONTROL_TABLES["ctl_rejected_events"]
    assert rejected.partition_by == "landed_date"
    assert rejected.column_names == ["landed_date", "event_type", "event_id", "reason", "raw", "raw_bytes", "raw_sha256"]


def test_every_spec_builds_an_arrow_schema() -> None:
    for spec in [*FACT_TABLES.values(), *DIMENSION_TABLES.values(), *CONTROL_TABLES.values()]:
        schema = spec.arrow_schema
        assert schema.names == spec.column_names
        assert [f.nullable for f in schema] == [c.nullable for c in spec.columns]
