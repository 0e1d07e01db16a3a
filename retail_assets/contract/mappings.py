"""Silver stream-side mappings of §4 ("From stream" columns) as expression data.

Each fact table's Silver build (§6.1) unions the batch rows with one mapped ``SELECT`` per stream
source; the engines (DuckDB, Spark) render these expressions into SQL, so the mapping is written
once here and not per engine.  The target type of every expression is the fact column's type.
``validate_registry()`` proves the mappings agree with the table specs and the event registry.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from retail_assets.contract.events import EVENT_TYPES, Derived, EventType, bronze_event_spec
from retail_assets.contract.tables import FACT_TABLES, fact_spec, money_pairs
from retail_assets.contract.types import BIGINT, DATE, DOUBLE, TIMESTAMP, VARCHAR


@dataclass(frozen=True)
class Field:
    """Copy Bronze column ``name`` and cast to the target type; ``default`` = COALESCE value
    (only ``receipt_created.receipt_type`` → ``'SALE'``, for older producers, §5.7)."""

    name: str
    default: str | int | None = None


@dataclass(frozen=True)
class Money:
    """``decN(COALESCE(field, default))`` = CAST(ROUND(x, N) AS DECIMAL(18, N)) (§6.2)."""

    field: str
    scale: int
    default: float | None = None


@dataclass(frozen=True)
class Cents:
    """``cents(decN(COALESCE(field, default)))`` = CAST(ROUND(decN(x) * 100, 0) AS BIGINT) —
    rounding on the DECIMAL, half away from zero, never on the DOUBLE (§1.4)."""

    field: str
    scale: int
    default: float | None = None


@dataclass(frozen=True)
class Literal:
    """Constant fixed by the event type (``move_type``, ``line_status``, ``operation_type``)."""

    value: str


@dataclass(frozen=True)
class Null:
    """``CAST(NULL AS <target type>)`` (unload minutes on the other truck move type)."""


@dataclass(frozen=True)
class EventTs:
    """``ingest_timestamp`` (the business time, §6.2)."""


@dataclass(frozen=True)
class EventDate:
    """``CAST(ingest_timestamp AS DATE)`` in UTC."""


Expr = Field | Money | Cents | Literal | Null | EventTs | EventDate


@dataclass(frozen=True)
class StreamSource:
    """One Bronze event table feeding a fact table: filter (``where`` Bronze column = value) and
    one expression per fact column, in batch column order."""

    event_type: str
    where: tuple[tuple[str, str], ...]
    columns: tuple[tuple[str, Expr], ...]

    @property
    def expressions(self) -> dict[str, Expr]:
        return dict(self.columns)


@dataclass(frozen=True)
class SilverMapping:
    """Stream sources of one Silver table (empty for the two batch-only tables)."""

    table: str
    sources: tuple[StreamSource, ...]


# --- compact spellings so each source reads like the §4 table ---------------------------------
F = Field


def _d2(field: str, default: float | None = None) -> tuple[Money, Cents]:
    """A dollar column and its cents partner from one JSON number (dec2 / cents(dec2))."""
    return Money(field, 2, default), Cents(field, 2, default)


def _source(
    event_type: str, *exprs: Expr | tuple[Expr, ...], where: tuple[tuple[str, str], ...] = ()
) -> StreamSource:
    """Pair the expressions with the table's columns in order; starts with event_ts, event_date."""
    flat: list[Expr] = [EventTs(), EventDate()]
    for e in exprs:
        flat.extend(e if isinstance(e, tuple) else (e,))
    table = EVENT_TYPES[event_type].fact_tables
    target = _target_table(event_type, where, table)
    names = fact_spec(target).column_names
    if len(names) != len(flat):
        raise ValueError(
            f"mapping {event_type} -> {target}: {len(flat)} expressions for {len(names)} columns; "
            "write one expression per fact column in batch column order"
        )
    return StreamSource(event_type, where, tuple(zip(names, flat, strict=True)))


def _target_table(event_type: str, where: tuple[tuple[str, str], ...], tables: tuple[str, ...]) -> str:
    et = EVENT_TYPES[event_type]
    if len(tables) == 1:
        return tables[0]
    selected = dict(where).get(et.selector or "")
    if selected is None or selected not in et.table_by_selector:
        raise ValueError(f"{event_type} feeds {tables}; give where=(({et.selector!r}, value),)")
    return et.table_by_selector[selected]


def _truck(event_type: str, move_type: str) -> StreamSource:
    arrived = move_type == "ARRIVED"
    return _source(
        event_type,
        F("shipment_id"),
        F("stop_number"),
        F("truck_id"),
        F("route_type"),
        Literal(move_type),
        F("location_type"),
        F("dc_id"),
        F("store_id"),
        F("temperature_class"),
        F("units"),
        F("planned_time"),
        F("estimated_unload_duration") if arrived else Null(),
        Null() if arrived else F("actual_unload_duration"),
    )


def _order_line(event_type: str, line_status: str) -> StreamSource:
    return _source(
        event_type,
        F("order_id"),
        F("line_number"),
        Literal(line_status),
        F("customer_id"),
        F("fulfillment_mode"),
        F("node_type"),
        F("node_id"),
        F("product_id"),
        F("quantity"),
        _d2("unit_price"),
        _d2("extended_price"),
        F("promo_code"),
        _d2("discount_amount"),
        _d2("tax"),
    )


def _inventory(location_type: str, location_column: str) -> StreamSource:
    return _source(
        "inventory_updated",
        F("txn_id"),
        F(location_column),
        F("product_id"),
        F("reason"),
        F("quantity_delta"),
        F("balance_after"),
        F("payload_source"),
        where=(("location_type", location_type),),
    )


def _store_op(event_type: str, operation_type: str) -> StreamSource:
    return _source(event_type, F("store_id"), Literal(operation_type))


_SOURCES: dict[str, tuple[StreamSource, ...]] = {
    "fact_receipts": (
        _source(
            "receipt_created",
            F("receipt_id"),
            F("receipt_type", default="SALE"),
            F("store_id"),
            F("customer_id"),
            F("visit_id"),
            F("return_for_receipt_id"),
            F("tender_type"),
            F("item_count"),
            F("line_count"),
            _d2("subtotal"),
            _d2("discount_amount", 0.0),
            _d2("tax"),
            _d2("total"),
            F("campaign_id"),
        ),
    ),
    "fact_receipt_lines": (
        _source(
            "receipt_line_added",
            F("receipt_id"),
            F("line_number"),
            F("store_id"),
            F("product_id"),
            F("quantity"),
            _d2("unit_price"),
            _d2("extended_price"),
            F("promo_code"),
            _d2("discount_amount"),
            _d2("tax"),
        ),
    ),
    "fact_payments": (
        _source(
            "payment_processed",
            F("transaction_id"),
            F("transaction_type"),
            F("receipt_id"),
            F("order_id"),
            F("store_id"),
            F("customer_id"),
            F("attempt_number"),
            F("payment_method"),
            _d2("amount"),
            F("status"),
            F("decline_reason"),
            F("processing_time_ms"),
        ),
    ),
    "fact_store_inventory_txn": (_inventory("STORE", "store_id"),),
    "fact_dc_inventory_txn": (_inventory("DC", "dc_id"),),
    "fact_stockouts": (
        _source(
            "stockout_detected",
            F("txn_id"),
            F("location_type"),
            F("store_id"),
            F("dc_id"),
            F("product_id"),
            F("last_known_quantity"),
        ),
    ),
    "fact_reorders": (
        _source(
            "reorder_triggered",
            F("reorder_id"),
            F("store_id"),
            F("dc_id"),
            F("product_id"),
            F("current_quantity"),
            F("in_transit_quantity"),
            F("reorder_point"),
            F("max_stock"),
            F("reorder_quantity"),
            F("allocated_quantity"),
            F("priority"),
            F("shipment_id"),
        ),
    ),
    "fact_truck_moves": (_truck("truck_arrived", "ARRIVED"), _truck("truck_departed", "DEPARTED")),
    "fact_truck_inventory": (),
    "fact_foot_traffic": (
        _source(
            "customer_entered",
            F("store_id"),
            F("sensor_id"),
            F("zone"),
            F("customer_count"),
            F("dwell_time"),
        ),
    ),
    "fact_customer_zone_changes": (
        _source(
            "customer_zone_changed",
            F("store_id"),
            F("visit_id"),
            F("change_number"),
            F("customer_ble_id"),
            F("customer_id"),
            F("from_zone"),
            F("to_zone"),
        ),
    ),
    "fact_ble_pings": (
        _source(
            "ble_ping_detected",
            F("store_id"),
            F("visit_id"),
            F("ping_number"),
            F("beacon_id"),
            F("zone"),
            F("customer_ble_id"),
            F("customer_id"),
            F("rssi"),
        ),
    ),
    "fact_marketing": (
        _source(
            "ad_impression",
            F("impression_id"),
            F("campaign_id"),
            F("campaign_type"),
            F("channel"),
            F("creative_id"),
            F("device_type"),
            F("customer_ad_id"),
            F("customer_id"),
            Money("cost", 4),
            Cents("cost", 4),
        ),
    ),
    "fact_promotions": (
        _source(
            "promotion_applied",
            F("receipt_id"),
            F("promo_code"),
            F("store_id"),
            F("customer_id"),
            F("discount_type"),
            F("product_count"),
            _d2("discount_amount"),
        ),
    ),
    "fact_promo_lines": (),
    "fact_online_order_headers": (
        _source(
            "online_order_created",
            F("order_id"),
            F("customer_id"),
            F("fulfillment_mode"),
            F("node_type"),
            F("node_id"),
            F("tender_type"),
            F("promo_code"),
            F("item_count"),
            F("line_count"),
            _d2("subtotal"),
            _d2("discount_amount", 0.0),
            _d2("tax"),
            _d2("total"),
        ),
    ),
    "fact_online_order_lines": (
        _order_line("online_order_picked", "PICKED"),
        _order_line("online_order_shipped", "SHIPPED"),
        _order_line("online_order_delivered", "DELIVERED"),
    ),
    "fact_store_ops": (_store_op("store_opened", "OPENED"), _store_op("store_closed", "CLOSED")),
}

SILVER_MAPPINGS: dict[str, SilverMapping] = {
    table: SilverMapping(table, _SOURCES[table]) for table in FACT_TABLES
}
"""A Silver mapping per fact table, in §4 order."""


def mapping_sources(table: str) -> tuple[StreamSource, ...]:
    """Stream sources of ``table`` (empty tuple for fact_truck_inventory / fact_promo_lines)."""
    fact_spec(table)  # raises a KeyError listing the valid names
    return SILVER_MAPPINGS[table].sources


def referenced_fields(expr: Expr) -> tuple[str, ...]:
    """Bronze columns an expression reads (``EventTs``/``EventDate`` read ``ingest_timestamp``)."""
    if isinstance(expr, Field):
        return (expr.name,)
    if isinstance(expr, Money | Cents):
        return (expr.field,)
    if isinstance(expr, EventTs | EventDate):
        return ("ingest_timestamp",)
    return ()


# --- registry self-check ---------------------------------------------------------------------


class RegistryError(AssertionError):
    """The contract registries contradict each other (a transcription error in this package)."""


def _type_problem(expr: Expr, source_type: pa.DataType | None, target: pa.DataType) -> str | None:
    """Why ``expr`` cannot produce ``target`` from a Bronze column of ``source_type`` (None = fine)."""
    if isinstance(expr, EventTs):
        return None if target == TIMESTAMP else f"EventTs needs a TIMESTAMP target, got {target}"
    if isinstance(expr, EventDate):
        return None if target == DATE else f"EventDate needs a DATE target, got {target}"
    if isinstance(expr, Literal):
        return None if target == VARCHAR else f"Literal needs a VARCHAR target, got {target}"
    if isinstance(expr, Null):
        return None
    if isinstance(expr, Money):
        ok = source_type == DOUBLE and pa.types.is_decimal(target) and target.scale == expr.scale
        return None if ok else f"Money(scale {expr.scale}) from {source_type} to {target}"
    if isinstance(expr, Cents):
        ok = source_type == DOUBLE and target == BIGINT and expr.scale in (2, 4)
        return None if ok else f"Cents(scale {expr.scale}) from {source_type} to {target}"
    if isinstance(expr, Field):
        return None if source_type == target else f"Field {expr.name} is {source_type}, target {target}"
    return f"unknown expression {expr!r}"


def _check_payload_origin(
    where: str, et: EventType, name: str, expr: Expr, cents_of: dict[str, str]
) -> list[str]:
    """The payload field an expression reads must be the one §5.4 assigns to this column (a cents
    column reads the field of its dollar partner)."""
    if not isinstance(expr, Field | Money | Cents):
        return []
    landed = {pf.landed_name: pf for pf in et.payload}
    pf = landed.get(referenced_fields(expr)[0])
    if pf is None:
        return []  # reported as a missing Bronze column
    expected = cents_of.get(name) if isinstance(expr, Cents) else name
    if pf.derived is not Derived.COLUMN or pf.column != expected:
        return [f"{where}: {name} reads {pf.name!r}, which §5.4 assigns to {pf.column!r} ({pf.derived})"]
    return []


def _check_source(table: str, src: StreamSource) -> list[str]:
    problems: list[str] = []
    spec = fact_spec(table)
    where = f"{table} <- {src.event_type}"
    et = EVENT_TYPES.get(src.event_type)
    if et is None:
        return [f"{where}: unknown event type"]
    if table not in et.fact_tables:
        problems.append(f"{where}: event type feeds {et.fact_tables}, not {table}")
    names = [name for name, _ in src.columns]
    if names != spec.column_names:
        problems.append(f"{where}: columns {names} != fact columns {spec.column_names}")
    bronze = {c.name: c.type for c in bronze_event_spec(src.event_type).columns}
    for col, value in src.where:
        if col not in bronze:
            problems.append(f"{where}: filter column {col!r} is not in the Bronze table")
        if et.selector == col and et.table_by_selector.get(value) != table:
            problems.append(f"{where}: filter {col}={value!r} selects {et.table_by_selector.get(value)}")
    if et.selector and not any(col == et.selector for col, _ in src.where):
        problems.append(f"{where}: shared event type needs a where on {et.selector!r}")
    exprs = src.expressions
    cents_of = {cents: amount for amount, cents in money_pairs(spec)}
    for name, expr in src.columns:
        if name not in spec.column_names:
            continue
        column = spec.column(name)
        refs = referenced_fields(expr)
        for ref in refs:
            if ref not in bronze:
                problems.append(f"{where}: {name} reads {ref!r}, not a column of {bronze_event_spec(src.event_type).qualified_name}")
        source_type = bronze.get(refs[0]) if refs else None
        problem = _type_problem(expr, source_type, column.type)
        if problem:
            problems.append(f"{where}: {name}: {problem}")
        if isinstance(expr, Null) and not column.nullable:
            problems.append(f"{where}: {name} is NOT NULL but mapped to Null()")
        if isinstance(expr, Literal) and column.enum and expr.value not in column.enum:
            problems.append(f"{where}: literal {expr.value!r} not in enum of {name}")
        problems.extend(_check_payload_origin(where, et, name, expr, cents_of))
        if isinstance(expr, Cents):
            partner = cents_of.get(name)
            scale = spec.column(partner).type.scale if partner else None
            if scale != expr.scale:
                problems.append(f"{where}: {name}: Cents scale {expr.scale} != scale {scale} of {partner}")
    # Agreement with the event registry: every carried payload field lands in its column ...
    for pf in et.payload:
        if (
            pf.derived is Derived.COLUMN
            and pf.column in exprs
            and pf.landed_name not in referenced_fields(exprs[pf.column])
        ):
            problems.append(f"{where}: {pf.column} should read payload field {pf.landed_name!r}")
        if pf.derived is Derived.LITERAL and exprs.get(pf.column) != Literal(pf.literal or ""):
            problems.append(f"{where}: {pf.column} should be the literal {pf.literal!r}")
    # ... and the type's row filter is the literal of its column.
    if et.row_filter and exprs.get(et.row_filter[0]) != Literal(et.row_filter[1]):
        problems.append(f"{where}: {et.row_filter[0]} should be Literal({et.row_filter[1]!r})")
    return problems


def validate_registry() -> None:
    """Assert that tables, events and mappings agree; raise RegistryError listing every problem.

    Checked: one mapping per fact table, in table order; batch-only tables have no source and streamable ones do;
    every source covers each fact column exactly once in order; referenced Bronze columns exist;
    expression and column types are compatible; payload fields, literals and filters agree with
    EVENT_TYPES; every event type feeding a table is used by exactly one source of it.
    """
    problems: list[str] = []
    if list(SILVER_MAPPINGS) != list(FACT_TABLES):
        problems.append("SILVER_MAPPINGS must list every fact table in FACT_TABLES order")
    for table, mapping in SILVER_MAPPINGS.items():
        spec = fact_spec(table)
        if mapping.table != table:
            problems.append(f"{table}: mapping names {mapping.table}")
        if bool(mapping.sources) != spec.streamable:
            problems.append(f"{table}: streamable={spec.streamable} but {len(mapping.sources)} sources")
        for src in mapping.sources:
            problems.extend(_check_source(table, src))
        used = sorted(s.event_type for s in mapping.sources)
        feeding = sorted(e.name for e in EVENT_TYPES.values() if table in e.fact_tables)
        if used != feeding:
            problems.append(f"{table}: sources {used} != event types feeding it {feeding}")
    if problems:
        raise RegistryError("contract registry inconsistent:\n  " + "\n  ".join(problems))
