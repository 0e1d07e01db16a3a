"""Silver mappings (§4 "From stream"): registry self-check, mutations it must catch, and a
fact row -> payload -> Bronze row -> mapped row round trip evaluated in Python."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pyarrow as pa
import pytest

from retail_assets.contract import mappings
from retail_assets.contract.events import EVENT_TYPES, Derived, bronze_event_spec
from retail_assets.contract.mappings import (
    SILVER_MAPPINGS,
    Cents,
    EventDate,
    EventTs,
    Field,
    Literal,
    Money,
    Null,
    RegistryError,
    SilverMapping,
    StreamSource,
    mapping_sources,
    validate_registry,
)
from retail_assets.contract.tables import FACT_TABLES, STREAMABLE_TABLES


def test_registry_is_consistent() -> None:
    validate_registry()


def _replace_source(monkeypatch: pytest.MonkeyPatch, table: str, index: int, **changes) -> None:
    mapping = SILVER_MAPPINGS[table]
    sources = list(mapping.sources)
    sources[index] = dataclasses.replace(sources[index], **changes)
    monkeypatch.setitem(SILVER_MAPPINGS, table, SilverMapping(table, tuple(sources)))


def _with_column(source: StreamSource, column: str, expr) -> tuple:
    return tuple((name, expr if name == column else e) for name, e in source.columns)


@pytest.mark.parametrize(
    ("table", "column", "expr", "message"),
    [
        ("fact_receipts", "visit_id_ext", Field("return_for_receipt_id"), "visit_id_ext"),
        ("fact_receipts", "tax_cents", Cents("tax", 4), "Cents"),
        ("fact_marketing", "cost", Money("cost", 2), "Money"),
        ("fact_payments", "customer_id", Null(), "NOT NULL"),
        ("fact_truck_moves", "move_type", Literal("DEPARTED"), "move_type"),
        ("fact_store_inventory_txn", "source_id_ext", Field("source"), "source"),
        ("fact_ble_pings", "rssi", Field("rssi_dbm"), "rssi_dbm"),
        ("fact_stockouts", "event_ts", EventDate(), "EventDate"),
    ],
)
def test_self_check_catches_a_wrong_expression(monkeypatch, table, column, expr, message) -> None:
    source = SILVER_MAPPINGS[table].sources[0]
    _replace_source(monkeypatch, table, 0, columns=_with_column(source, column, expr))
    with pytest.raises(RegistryError, match=message):
        validate_registry()


def test_self_check_catches_order_missing_sources_and_filters(monkeypatch) -> None:
    source = SILVER_MAPPINGS["fact_reorders"].sources[0]
    cols = list(source.columns)
    cols[3], cols[4] = cols[4], cols[3]
    _replace_source(monkeypatch, "fact_reorders", 0, columns=tuple(cols))
    with pytest.raises(RegistryError, match="fact_reorders"):
        validate_registry()
    monkeypatch.undo()

    ops = SILVER_MAPPINGS["fact_store_ops"]
    monkeypatch.setitem(SILVER_MAPPINGS, "fact_store_ops", SilverMapping("fact_store_ops", ops.sources[:1]))
    with pytest.raises(RegistryError, match="store_closed"):
        validate_registry()
    monkeypatch.undo()

    _replace_source(monkeypatch, "fact_dc_inventory_txn", 0, where=(("location_type", "STORE"),))
    with pytest.raises(RegistryError, match="location_type"):
        validate_registry()


def test_mapping_shapes() -> None:
    assert list(SILVER_MAPPINGS) == list(FACT_TABLES)
    assert mapping_sources("fact_promo_lines") == () and mapping_sources("fact_truck_inventory") == ()
    for table in STREAMABLE_TABLES:
        for src in mapping_sources(table):
            assert [n for n, _ in src.columns] == FACT_TABLES[table].column_names
            assert src.columns[0][1] == EventTs() and src.columns[1][1] == EventDate()
    receipts = mapping_sources("fact_receipts")[0].expressions
    assert receipts["receipt_type"] == Field("receipt_type", default="SALE")
    assert receipts["discount_amount"] == Money("discount_amount", 2, 0.0)
    assert receipts["discount_cents"] == Cents("discount_amount", 2, 0.0)
    assert receipts["tax_amount"] == Money("tax", 2)
    lines = mapping_sources("fact_receipt_lines")[0].expressions
    assert lines["discount_amount"] == Money("discount_amount", 2)  # no default on lines
    marketing = mapping_sources("fact_marketing")[0].expressions
    assert (marketing["cost"], marketing["cost_cents"]) == (Money("cost", 4), Cents("cost", 4))
    store_inv, dc_inv = (
        mapping_sources("fact_store_inventory_txn")[0],
        mapping_sources("fact_dc_inventory_txn")[0],
    )
    assert store_inv.where == (("location_type", "STORE"),) and dc_inv.where == (("location_type", "DC"),)
    assert store_inv.expressions["source_id_ext"] == Field("payload_source")
    arrived, departed = mapping_sources("fact_truck_moves")
    assert arrived.expressions["actual_unload_minutes"] == Null()
    assert departed.expressions["estimated_unload_minutes"] == Null()
    with pytest.raises(KeyError, match="fact_receipts"):
        mapping_sources("receipts")


# --- round trip -----------------------------------------------------------------------------

_T0 = datetime(2024, 4, 11, 17, 42, 5, 123456, tzinfo=UTC)


def _cents(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _fact_row(table: str, source: StreamSource) -> dict:
    """A row with a distinct value in every column, consistent with the row-level invariants the
    mapping relies on (cents = cents(amount), literal/Null columns as the event type fixes them)."""
    spec = FACT_TABLES[table]
    row: dict = {}
    exprs = source.expressions
    for i, col in enumerate(spec.columns):
        expr = exprs[col.name]
        if col.name == "event_ts":
            row[col.name] = _T0
        elif col.name == "event_date":
            row[col.name] = _T0.date()
        elif isinstance(expr, Literal):
            row[col.name] = expr.value
        elif isinstance(expr, Null):
            row[col.name] = None
        elif isinstance(expr, Cents):
            row[col.name] = _cents(row[spec.columns[i - 1].name])
        elif col.enum:
            row[col.name] = col.enum[i % len(col.enum)]
        elif col.type == pa.string():
            row[col.name] = f"{col.name}-{i}"
        elif col.type == pa.int64():
            row[col.name] = 1000 + 17 * i
        elif pa.types.is_decimal(col.type):
            row[col.name] = (Decimal(i) + Decimal("0.2650")).quantize(Decimal(1).scaleb(-col.type.scale))
        elif col.type == pa.timestamp("us", tz="UTC"):
            row[col.name] = _T0 - timedelta(minutes=i)
        else:
            raise AssertionError(f"no sample value for {table}.{col.name}: {col.type}")
    return row


def _payload(table: str, event_type: str, row: dict) -> dict:
    """What a producer emits for the row, driven only by the event registry (switch on ``derived``)."""
    et = EVENT_TYPES[event_type]
    out = {}
    for f in et.payload:
        if f.derived is Derived.COLUMN:
            value = row.get(f.column)
            out[f.name] = float(value) if isinstance(value, Decimal) else value
        elif f.derived is Derived.INGEST_TIME:
            out[f.name] = row["event_ts"]
        elif f.derived is Derived.CHECKED_CENTS:
            out[f.name] = row[f.column]
        elif f.derived is Derived.LITERAL:
            out[f.name] = f.literal
        elif f.derived is Derived.SELECTOR:
            out[f.name] = et.selector_value(table)
        elif f.derived is Derived.PROMO_PRODUCT_IDS:
            out[f.name] = [11, 12]
    return out


def _bronze_row(event_type: str, payload: dict, ingest: datetime) -> dict:
    spec = bronze_event_spec(event_type)
    landed = {f.landed_name: payload[f.name] for f in EVENT_TYPES[event_type].payload}
    row = {c.name: None for c in spec.columns}
    row.update(landed, ingest_timestamp=ingest, event_type=event_type)
    return row


def _evaluate(expr, bronze: dict):
    if isinstance(expr, EventTs):
        return bronze["ingest_timestamp"]
    if isinstance(expr, EventDate):
        return bronze["ingest_timestamp"].date()
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Null):
        return None
    if isinstance(expr, Field):
        value = bronze[expr.name]
        return expr.default if value is None else value
    value = bronze[expr.field]
    value = expr.default if value is None else value
    dec = Decimal(repr(value)).quantize(Decimal(1).scaleb(-expr.scale), rounding=ROUND_HALF_UP)
    return dec if isinstance(expr, Money) else _cents(dec)


@pytest.mark.parametrize(
    ("table", "index"),
    [(t, i) for t in STREAMABLE_TABLES for i in range(len(SILVER_MAPPINGS[t].sources))],
)
def test_fact_row_survives_payload_and_mapping(table: str, index: int) -> None:
    source = SILVER_MAPPINGS[table].sources[index]
    row = _fact_row(table, source)
    bronze = _bronze_row(source.event_type, _payload(table, source.event_type, row), row["event_ts"])
    for col, value in source.where:
        assert bronze[col] == value
    mapped = {name: _evaluate(expr, bronze) for name, expr in source.columns}
    assert mapped == row
    # Redundant payload fields agree with the mapped row (what check C12 verifies).
    for f in EVENT_TYPES[source.event_type].payload:
        if f.derived is Derived.CHECKED_CENTS:
            assert bronze[f.landed_name] == mapped[f.column]


def test_round_trip_uses_half_away_rounding_on_the_decimal() -> None:
    source = mapping_sources("fact_marketing")[0]
    row = _fact_row("fact_marketing", source)
    row["cost"], row["cost_cents"] = Decimal("1.2650"), 127
    bronze = _bronze_row("ad_impression", _payload("fact_marketing", "ad_impression", row), _T0)
    assert bronze["cost"] == 1.265
    assert _evaluate(source.expressions["cost_cents"], bronze) == 127
    assert mappings.referenced_fields(source.expressions["cost_cents"]) == ("cost",)
