"""The 19 event types of §5 as data: envelope, payload fields, keys, ranks and Bronze layout.

Producers (build a payload from a fact row), the landing code (type the Bronze columns), the outbox
(order by type rank and natural key) and Silver (map back to columns) all read these records, so
the event side of the contract is written down once.  Each payload field says which fact column it
carries and, through ``derived``, how a consumer must treat it — consumers switch on that kind,
never on field names.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

import pyarrow as pa

from retail_assets.contract import enums
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.contract.types import (
    BIGINT,
    BIGINT_ARRAY,
    BRONZE_SCHEMA,
    DATE,
    DOUBLE,
    TIMESTAMP,
    VARCHAR,
    Column,
    TableSpec,
)

EVENT_NAMESPACE = uuid.UUID("dde7a74f-d5f9-53ba-8489-a4bbd5d03d48")
"""§5.2 namespace, = uuid5(NAMESPACE_URL, "urn:retail-assets:event:v2")."""

SCHEMA_VERSION = "2.0"
ENVELOPE_SOURCE = "retail-assets"
PAYLOAD_COLLISION_PREFIX = "payload_"


class JsonType(StrEnum):
    """JSON types of §5.4 and the Bronze column type each lands as (§5.5)."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    TIMESTAMP = "timestamp"
    INTEGER_ARRAY = "array<integer>"

    @property
    def arrow_type(self) -> pa.DataType:
        return _JSON_ARROW[self]


_JSON_ARROW: dict[JsonType, pa.DataType] = {
    JsonType.STRING: VARCHAR,
    JsonType.INTEGER: BIGINT,
    JsonType.NUMBER: DOUBLE,
    JsonType.TIMESTAMP: TIMESTAMP,
    JsonType.INTEGER_ARRAY: BIGINT_ARRAY,
}


class Derived(StrEnum):
    """How a payload field relates to the fact row (what producers emit, what Silver maps).

    * ``COLUMN``: carries ``column`` of the fact row (money columns as JSON numbers); Silver maps it.
      If the event feeds several tables and one lacks ``column`` (inventory_updated's
      ``store_id``/``dc_id``), the value is null for rows of that table.
    * ``INGEST_TIME``: equals the envelope ``ingest_timestamp`` (= ``event_ts``); checked, not mapped.
    * ``CHECKED_CENTS``: equals the fact ``column`` (a ``*_cents`` column) = cents of the money field;
      checked, not mapped (Silver recomputes cents from the amount).
    * ``LITERAL``: constant fixed by the event type (``literal``), equal to fact ``column``; Silver
      maps the literal, the payload value is only checked.
    * ``SELECTOR``: picks the target fact table (inventory_updated ``location_type``); its value is
      the key of ``EventType.table_by_selector`` for the row's table; not a column.
    * ``PROMO_PRODUCT_IDS``: ``product_ids`` of promotion_applied = ``fact_promo_lines.product_id`` of
      the same (``receipt_id_ext``, ``promo_code``) in ``line_num`` order; not a column.
    """

    COLUMN = "column"
    INGEST_TIME = "ingest_time"
    CHECKED_CENTS = "checked_cents"
    LITERAL = "literal"
    SELECTOR = "selector"
    PROMO_PRODUCT_IDS = "promo_product_ids"


@dataclass(frozen=True)
class PayloadField:
    """One payload key of §5.4 in contract order; ``nullable`` is the schema-2.0 rule."""

    name: str
    json_type: JsonType
    nullable: bool
    column: str | None
    derived: Derived = Derived.COLUMN
    literal: str | None = None

    @property
    def landed_name(self) -> str:
        """Bronze column name: prefixed when it collides with an envelope field (§5.5)."""
        if self.name in ENVELOPE_FIELD_NAMES:
            return PAYLOAD_COLLISION_PREFIX + self.name
        return self.name

    @property
    def arrow_type(self) -> pa.DataType:
        return self.json_type.arrow_type

    @property
    def is_mapped(self) -> bool:
        """True when Silver reads this field (``COLUMN`` kind)."""
        return self.derived is Derived.COLUMN


@dataclass(frozen=True)
class EnvelopeField:
    name: str
    json_type: JsonType
    nullable: bool


ENVELOPE_FIELDS: tuple[EnvelopeField, ...] = (
    EnvelopeField("event_id", JsonType.STRING, False),
    EnvelopeField("event_type", JsonType.STRING, False),
    EnvelopeField("ingest_timestamp", JsonType.TIMESTAMP, False),
    EnvelopeField("schema_version", JsonType.STRING, False),
    EnvelopeField("source", JsonType.STRING, False),
    EnvelopeField("trace_id", JsonType.STRING, False),
    EnvelopeField("correlation_id", JsonType.STRING, True),
    EnvelopeField("partition_key", JsonType.STRING, False),
    EnvelopeField("session_id", JsonType.STRING, True),
    EnvelopeField("parent_event_id", JsonType.STRING, True),
)
"""§5.1 envelope in wire order (``payload`` follows as the 11th key)."""

ENVELOPE_FIELD_NAMES: frozenset[str] = frozenset(f.name for f in ENVELOPE_FIELDS)


@dataclass(frozen=True)
class PartitionKeyRule:
    """§5.3 partition key: the first matching rule gives the key.

    A rule matches a fact row when ``table`` is None or the row's table, and ``when`` is None or
    (fact column, value) holds (value None = the column is null).  ``template`` is formatted with the
    fact row's columns.  ``via_order`` means the key is the
    partition key of the row's online order (payments of online orders), which needs a lookup in
    fact_online_order_headers by ``order_id_ext``: ``store:{node_id}`` or ``dc:{node_id}``.
    """

    template: str
    when: tuple[str, str | None] | None = None
    table: str | None = None
    via_order: bool = False


@dataclass(frozen=True)
class EventType:
    """One event type: which fact rows it carries and how.

    ``fact_tables`` lists every table fed; all types feed exactly one table except
    inventory_updated, whose ``selector`` payload field (``location_type``) chooses the table via
    ``table_by_selector``.  ``row_filter`` (fact column, value) selects the rows of a shared table
    that this type carries (truck moves, order lines, store ops).  ``natural_key`` are fact columns
    (§5.2); ``time_field`` is the payload field equal to ``ingest_timestamp`` (None when absent).
    """

    name: str
    type_rank: int
    fact_tables: tuple[str, ...]
    payload: tuple[PayloadField, ...]
    natural_key: tuple[str, ...]
    row_filter: tuple[str, str] | None = None
    time_field: str | None = None
    selector: str | None = None
    table_by_selector: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    partition_key: tuple[PartitionKeyRule, ...] = ()

    @property
    def fact_table(self) -> str:
        """The single table fed; raises for inventory_updated, which must be handled per table."""
        if len(self.fact_tables) != 1:
            raise ValueError(
                f"{self.name} feeds {len(self.fact_tables)} tables {self.fact_tables} chosen by "
                f"payload field {self.selector!r}; use table_by_selector / selector_value(table)"
            )
        return self.fact_tables[0]

    def selector_value(self, table: str) -> str | None:
        """Value of the selector field for rows of ``table`` (None for single-table types)."""
        for value, t in self.table_by_selector.items():
            if t == table:
                return value
        if table not in self.fact_tables:
            raise KeyError(f"{self.name} does not feed {table}; it feeds {self.fact_tables}")
        return None

    def payload_field(self, name: str) -> PayloadField:
        for f in self.payload:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no payload field {name!r}")

    @property
    def payload_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.payload)


# --- compact constructors so the tables below read like §5.4 ---------------------------------

S, INT, N, T = JsonType.STRING, JsonType.INTEGER, JsonType.NUMBER, JsonType.TIMESTAMP


def _f(name: str, json_type: JsonType, nullable: bool, column: str | None = None) -> PayloadField:
    """A field copied to/from a fact column (default: same name)."""
    return PayloadField(name, json_type, nullable, column if column is not None else name)


def _ingest(name: str) -> PayloadField:
    return PayloadField(name, T, False, None, Derived.INGEST_TIME)


def _store_key() -> tuple[PartitionKeyRule, ...]:
    return (PartitionKeyRule("store:{store_id}"),)


def _node_key() -> tuple[PartitionKeyRule, ...]:
    return (
        PartitionKeyRule("store:{node_id}", when=("node_type", "STORE")),
        PartitionKeyRule("dc:{node_id}", when=("node_type", "DC")),
    )


def _location_key() -> tuple[PartitionKeyRule, ...]:
    return (
        PartitionKeyRule("store:{store_id}", when=("location_type", "STORE")),
        PartitionKeyRule("dc:{dc_id}", when=("location_type", "DC")),
    )


def _truck_fields(stop_time: str, unload_field: str, unload_column: str) -> tuple[PayloadField, ...]:
    return (
        _f("shipment_id", S, False, "shipment_id_ext"),
        _f("stop_number", INT, False, "stop_num"),
        _f("truck_id", INT, False),
        _f("route_type", S, False),
        _f("location_type", S, False),
        _f("dc_id", INT, False),
        _f("store_id", INT, True),
        _f("temperature_class", S, False),
        _f("units", INT, False),
        _f("planned_time", T, False, "planned_ts"),
        _ingest(stop_time),
        _f(unload_field, INT, True, unload_column),
    )


def _order_line_fields(time_field: str) -> tuple[PayloadField, ...]:
    return (
        _f("order_id", S, False, "order_id_ext"),
        _f("line_number", INT, False, "line_num"),
        _f("customer_id", INT, False),
        _f("fulfillment_mode", S, False),
        _f("node_type", S, False),
        _f("node_id", INT, False),
        _f("product_id", INT, False),
        _f("quantity", INT, False),
        _f("unit_price", N, False),
        _f("extended_price", N, False, "ext_price"),
        _f("promo_code", S, True),
        _f("discount_amount", N, False),
        _f("tax", N, False, "tax_amount"),
        _ingest(time_field),
    )

def _order_status_event(status: str, type_rank: int) -> EventType:
    """online_order_picked / _shipped / _delivered: one event per order line and status (§5.4.16)."""
    time_field = f"{status.lower()}_time"
    return EventType(
        name=f"online_order_{status.lower()}",
        type_rank=type_rank,
        fact_tables=("fact_online_order_lines",),
        payload=_order_line_fields(time_field),
        natural_key=("order_id_ext", "line_num"),
        row_filter=("line_status", status),
        time_field=time_field,
        partition_key=_node_key(),
    )



def _store_op_fields(literal: str) -> tuple[PayloadField, ...]:
    return (
        _f("store_id", INT, False),
        _ingest("operation_time"),
        PayloadField("operation_type", S, False, "operation_type", Derived.LITERAL, literal),
    )


_INVENTORY_TABLES = MappingProxyType({"STORE": "fact_store_inventory_txn", "DC": "fact_dc_inventory_txn"})

_EVENT_TYPES: tuple[EventType, ...] = (
    EventType(
        name="store_opened",
        type_rank=1,
        fact_tables=("fact_store_ops",),
        payload=_store_op_fields("OPENED"),
        natural_key=("store_id", "event_ts"),
        row_filter=("operation_type", "OPENED"),
        time_field="operation_time",
        partition_key=_store_key(),
    ),
    EventType(
        name="truck_arrived",
        type_rank=2,
        fact_tables=("fact_truck_moves",),
        payload=_truck_fields("arrival_time", "estimated_unload_duration", "estimated_unload_minutes"),
        natural_key=("shipment_id_ext", "stop_num"),
        row_filter=("move_type", "ARRIVED"),
        time_field="arrival_time",
        partition_key=(PartitionKeyRule("truck:{truck_id}"),),
    ),
    EventType(
        name="truck_departed",
        type_rank=3,
        fact_tables=("fact_truck_moves",),
        payload=_truck_fields("departure_time", "actual_unload_duration", "actual_unload_minutes"),
        natural_key=("shipment_id_ext", "stop_num"),
        row_filter=("move_type", "DEPARTED"),
        time_field="departure_time",
        partition_key=(PartitionKeyRule("truck:{truck_id}"),),
    ),
    EventType(
        name="customer_entered",
        type_rank=4,
        fact_tables=("fact_foot_traffic",),
        payload=(
            _f("store_id", INT, False),
            _f("sensor_id", S, False, "sensor_id_ext"),
            _f("zone", S, False),
            _f("customer_count", INT, False),
            _f("dwell_time", INT, False, "dwell_seconds"),
        ),
        natural_key=("sensor_id_ext", "event_ts"),
        partition_key=_store_key(),
    ),
    EventType(
        name="ble_ping_detected",
        type_rank=5,
        fact_tables=("fact_ble_pings",),
        payload=(
            _f("store_id", INT, False),
            _f("visit_id", S, False, "visit_id_ext"),
            _f("ping_number", INT, False, "ping_num"),
            _f("beacon_id", S, False, "beacon_id_ext"),
            _f("zone", S, False),
            _f("customer_ble_id", S, False, "customer_ble_id_ext"),
            _f("customer_id", INT, True),
            _f("rssi", INT, False),
        ),
        natural_key=("visit_id_ext", "ping_num"),
        partition_key=_store_key(),
    ),
    EventType(
        name="customer_zone_changed",
        type_rank=6,
        fact_tables=("fact_customer_zone_changes",),
        payload=(
            _f("store_id", INT, False),
            _f("visit_id", S, False, "visit_id_ext"),
            _f("change_number", INT, False, "change_num"),
            _f("customer_ble_id", S, False, "customer_ble_id_ext"),
            _f("customer_id", INT, True),
            _f("from_zone", S, False),
            _f("to_zone", S, False),
            _ingest("timestamp"),
        ),
        natural_key=("visit_id_ext", "change_num"),
        time_field="timestamp",
        partition_key=_store_key(),
    ),
    EventType(
        name="online_order_created",
        type_rank=7,
        fact_tables=("fact_online_order_headers",),
        payload=(
            _f("order_id", S, False, "order_id_ext"),
            _f("customer_id", INT, False),
            _f("fulfillment_mode", S, False),
            _f("node_type", S, False),
            _f("node_id", INT, False),
            _f("tender_type", S, False, "payment_method"),
            _f("promo_code", S, True),
            _f("item_count", INT, False),
            _f("line_count", INT, False),
            _f("subtotal", N, False, "subtotal_amount"),
            _f("discount_amount", N, False),
            _f("tax", N, False, "tax_amount"),
            _f("total", N, False, "total_amount"),
        ),
        natural_key=("order_id_ext",),
        partition_key=_node_key(),
    ),
    EventType(
        name="receipt_created",
        type_rank=8,
        fact_tables=("fact_receipts",),
        payload=(
            _f("receipt_id", S, False, "receipt_id_ext"),
            _f("receipt_type", S, False),
            _f("store_id", INT, False),
            _f("customer_id", INT, False),
            _f("visit_id", S, True, "visit_id_ext"),
            _f("return_for_receipt_id", S, True, "return_for_receipt_id_ext"),
            _f("tender_type", S, False, "payment_method"),
            _f("item_count", INT, False),
            _f("line_count", INT, False),
            _f("subtotal", N, False, "subtotal_amount"),
            _f("discount_amount", N, False),
            _f("tax", N, False, "tax_amount"),
            _f("total", N, False, "total_amount"),
            _f("campaign_id", S, True, "campaign_id_ext"),
        ),
        natural_key=("receipt_id_ext",),
        partition_key=_store_key(),
    ),
    EventType(
        name="receipt_line_added",
        type_rank=9,
        fact_tables=("fact_receipt_lines",),
        payload=(
            _f("receipt_id", S, False, "receipt_id_ext"),
            _f("line_number", INT, False, "line_num"),
            _f("store_id", INT, False),
            _f("product_id", INT, False),
            _f("quantity", INT, False),
            _f("unit_price", N, False),
            _f("extended_price", N, False, "ext_price"),
            _f("promo_code", S, True),
            _f("discount_amount", N, False),
            _f("tax", N, False, "tax_amount"),
        ),
        natural_key=("receipt_id_ext", "line_num"),
        partition_key=_store_key(),
    ),
    EventType(
        name="promotion_applied",
        type_rank=10,
        fact_tables=("fact_promotions",),
        payload=(
            _f("receipt_id", S, False, "receipt_id_ext"),
            _f("promo_code", S, False),
            _f("store_id", INT, False),
            _f("customer_id", INT, False),
            _f("discount_type", S, False),
            _f("product_count", INT, False),
            PayloadField("product_ids", JsonType.INTEGER_ARRAY, False, None, Derived.PROMO_PRODUCT_IDS),
            _f("discount_amount", N, False),
            PayloadField("discount_cents", INT, False, "discount_cents", Derived.CHECKED_CENTS),
        ),
        natural_key=("receipt_id_ext", "promo_code"),
        partition_key=_store_key(),
    ),
    EventType(
        name="inventory_updated",
        type_rank=11,
        fact_tables=tuple(_INVENTORY_TABLES.values()),
        payload=(
            _f("txn_id", S, False, "txn_id_ext"),
            PayloadField("location_type", S, False, None, Derived.SELECTOR),
            _f("store_id", INT, True),
            _f("dc_id", INT, True),
            _f("product_id", INT, False),
            _f("quantity_delta", INT, False, "quantity"),
            _f("reason", S, False, "txn_type"),
            _f("balance_after", INT, False),
            _f("source", S, True, "source_id_ext"),
        ),
        natural_key=("txn_id_ext",),
        selector="location_type",
        table_by_selector=_INVENTORY_TABLES,
        partition_key=(
            PartitionKeyRule("store:{store_id}", table="fact_store_inventory_txn"),
            PartitionKeyRule("dc:{dc_id}", table="fact_dc_inventory_txn"),
        ),
    ),
    EventType(
        name="stockout_detected",
        type_rank=12,
        fact_tables=("fact_stockouts",),
        payload=(
            _f("txn_id", S, False, "txn_id_ext"),
            _f("location_type", S, False),
            _f("store_id", INT, True),
            _f("dc_id", INT, True),
            _f("product_id", INT, False),
            _f("last_known_quantity", INT, False),
            _ingest("detection_time"),
        ),
        natural_key=("txn_id_ext",),
        time_field="detection_time",
        partition_key=_location_key(),
    ),
    EventType(
        name="payment_processed",
        type_rank=13,
        fact_tables=("fact_payments",),
        payload=(
            _f("transaction_id", S, False, "transaction_id_ext"),
            _f("transaction_type", S, False),
            _f("receipt_id", S, True, "receipt_id_ext"),
            _f("order_id", S, True, "order_id_ext"),
            _f("store_id", INT, True),
            _f("customer_id", INT, False),
            _f("attempt_number", INT, False, "attempt_num"),
            _f("payment_method", S, False),
            _f("amount", N, False),
            PayloadField("amount_cents", INT, False, "amount_cents", Derived.CHECKED_CENTS),
            _f("status", S, False),
            _f("decline_reason", S, True),
            _ingest("processing_time"),
            _f("processing_time_ms", INT, False),
        ),
        natural_key=("transaction_id_ext",),
        time_field="processing_time",
        partition_key=(
            PartitionKeyRule("store:{store_id}", when=("order_id_ext", None)),
            PartitionKeyRule("", via_order=True),
        ),
    ),
    *(
        _order_status_event(status, rank)
        for rank, status in ((14, "PICKED"), (15, "SHIPPED"), (16, "DELIVERED"))
    ),
    EventType(
        name="reorder_triggered",
        type_rank=17,
        fact_tables=("fact_reorders",),
        payload=(
            _f("reorder_id", S, False, "reorder_id_ext"),
            _f("store_id", INT, False),
            _f("dc_id", INT, False),
            _f("product_id", INT, False),
            _f("current_quantity", INT, False),
            _f("in_transit_quantity", INT, False),
            _f("reorder_point", INT, False),
            _f("max_stock", INT, False),
            _f("reorder_quantity", INT, False),
            _f("allocated_quantity", INT, False),
            _f("priority", S, False),
            _f("shipment_id", S, True, "shipment_id_ext"),
        ),
        natural_key=("reorder_id_ext",),
        partition_key=_store_key(),
    ),
    EventType(
        name="ad_impression",
        type_rank=18,
        fact_tables=("fact_marketing",),
        payload=(
            _f("impression_id", S, False, "impression_id_ext"),
            _f("campaign_id", S, False, "campaign_id_ext"),
            _f("campaign_type", S, False),
            _f("channel", S, False),
            _f("creative_id", S, False, "creative_id_ext"),
            _f("device_type", S, False),
            _f("customer_ad_id", S, False, "customer_ad_id_ext"),
            _f("customer_id", INT, True),
            _f("cost", N, False),
        ),
        natural_key=("impression_id_ext",),
        partition_key=(PartitionKeyRule("campaign:{campaign_id_ext}"),),
    ),
    EventType(
        name="store_closed",
        type_rank=19,
        fact_tables=("fact_store_ops",),
        payload=_store_op_fields("CLOSED"),
        natural_key=("store_id", "event_ts"),
        row_filter=("operation_type", "CLOSED"),
        time_field="operation_time",
        partition_key=_store_key(),
    ),
)

EVENT_TYPES: dict[str, EventType] = {e.name: e for e in _EVENT_TYPES}
"""The 19 event types in outbox type-rank order (§5.6)."""


def event_type(name: str) -> EventType:
    """Look up an event type with an error that lists the valid names (bad config / bad event)."""
    try:
        return EVENT_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown event_type {name!r}; valid event types: {', '.join(EVENT_TYPES)}") from None


def events_for_table(table: str) -> tuple[EventType, ...]:
    """Event types that carry rows of ``table`` (empty for the two batch-only tables)."""
    if table not in FACT_TABLES:
        raise KeyError(f"unknown fact table {table!r}; valid: {', '.join(FACT_TABLES)}")
    return tuple(e for e in _EVENT_TYPES if table in e.fact_tables)


def event_id(dataset_id: str, event_type_name: str, natural_key: str) -> str:
    """§5.2 deterministic event id; ``natural_key`` = key fields joined by ``|`` (wire formats)."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{dataset_id}|{event_type_name}|{natural_key}"))


# --- Bronze event tables (§5.5) --------------------------------------------------------------

LANDING_COLUMNS: tuple[Column, ...] = (
    Column("_payload", VARCHAR),
    Column("_landed_ts", TIMESTAMP),
    Column("_sink", VARCHAR, enum=enums.SINK),
    Column("_eh_partition_id", VARCHAR, nullable=True),
    Column("_eh_sequence_number", BIGINT, nullable=True),
)
"""Landing metadata after the payload columns; ``event_date`` (partition) follows them."""

BRONZE_EVENT_DATE = Column("event_date", DATE)


def _envelope_columns() -> tuple[Column, ...]:
    return tuple(Column(f.name, f.json_type.arrow_type, nullable=f.nullable) for f in ENVELOPE_FIELDS)


def bronze_event_spec(event_type_name: str) -> TableSpec:
    """Declared schema of ``cusn.<event_type>`` (§5.5), never inferred from a batch.

    Payload columns are nullable in storage even where schema 2.0 says "no": older (1.x) producers
    may omit fields and still land (§5.7); the 2.0 null rule is enforced at landing from
    ``PayloadField.nullable`` (violations go to ctl_rejected_events), not by the Delta schema.
    """
    et = event_type(event_type_name)
    payload_cols = tuple(Column(f.landed_name, f.arrow_type, nullable=True) for f in et.payload)
    return TableSpec(
        name=et.name,
        columns=(*_envelope_columns(), *payload_cols, *LANDING_COLUMNS, BRONZE_EVENT_DATE),
        primary_key=("event_id",),
        schema=BRONZE_SCHEMA,
        partition_by="event_date",
        streamable=False,
        description=f"§5.5 landed {et.name} events (one row per delivered event, de-duplicated)",
    )


BRONZE_EVENT_TABLES: dict[str, TableSpec] = {name: bronze_event_spec(name) for name in EVENT_TYPES}
