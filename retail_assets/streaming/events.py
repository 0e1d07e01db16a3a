"""Fact rows of one day → the day's events, ready for the outbox (contract §5, §5.6).

Every streamable fact row becomes exactly one event. What a payload carries and how a partition key
is formed is read from ``retail_assets.contract.events`` (the contract as data); what this module
adds are the §5.3 envelope rules — trace, correlation, session and parent ids — which need the
day's other tables (a receipt line's trace is its receipt's visit, a stockout's trace is its
triggering txn's, …). Those rules live in ``ENVELOPE_RULES``, one small function per event type.

All work is column-wise (Arrow kernels, hash joins, DuckDB's vectorised sha1 for uuid5): a day of
about a million events is built in seconds, without a Python loop over rows.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.contract.events import (
    ENVELOPE_FIELDS,
    ENVELOPE_SOURCE,
    EVENT_NAMESPACE,
    EVENT_TYPES,
    SCHEMA_VERSION,
    Derived,
    EventType,
    JsonType,
    PartitionKeyRule,
)
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.contract.types import BIGINT, DATE, TIMESTAMP, VARCHAR
from retail_assets.streaming import serialize as ser

SEQ_DAY_FACTOR = 10**10
"""outbox_seq = day_ordinal × 10^10 + rank (§5.6)."""

EVENTS_SCHEMA = pa.schema(
    [
        pa.field("outbox_seq", BIGINT, nullable=False),
        pa.field("event_date", DATE, nullable=False),
        pa.field("event_ts", TIMESTAMP, nullable=False),
        pa.field("event_type", VARCHAR, nullable=False),
        pa.field("event_id", VARCHAR, nullable=False),
        pa.field("partition_key", VARCHAR, nullable=False),
        pa.field("body", VARCHAR, nullable=False),
    ]
)
"""The deterministic columns 1–7 of ``streaming_outbox`` (§5.6)."""


class EventBuildError(ValueError):
    """The day's fact tables do not allow a complete event (e.g. a line without its receipt)."""


Arr = pa.Array | pa.ChunkedArray
Part = Arr | str


# --- small column helpers ------------------------------------------------------------------------


def concat(*parts: Part) -> Arr:
    """Element-wise string concatenation; a null part makes the result null."""
    cast = [p if isinstance(p, str) else pc.cast(p, pa.string()) for p in parts]
    if all(isinstance(p, str) for p in cast):
        raise ValueError("concat needs at least one column")
    return pc.binary_join_element_wise(*cast, "")


def pad(values: Arr, width: int) -> Arr:
    """Zero-padded decimal with a *minimum* width (§1.5: larger numbers are written in full)."""
    return pc.utf8_lpad(pc.cast(values, pa.string()), width=width, padding="0")


def yyyymmdd(ts: Arr) -> Arr:
    return pc.strftime(ts, format="%Y%m%d")


def nulls(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def review_trace(shipment_id: Arr) -> Arr:
    """Trace of a shipment's flow: ``SHP-D-S-…`` → ``REV-D-S`` (store review), ``SUP-D-DC-…`` → ``SRV-D-DC``."""
    rev = pc.replace_substring_regex(shipment_id, r"^SHP-(\d{8})-(\d+)-.*$", r"REV-\1-\2")
    return pc.replace_substring_regex(rev, r"^SUP-(\d{8})-(\d+)-.*$", r"SRV-\1-\2")


def key_text(values: Arr) -> Arr:
    """A natural-key field as text (§5.2): integers in decimal, timestamps in the wire format."""
    if pa.types.is_timestamp(values.type):
        return ser.wire_ts(values)
    return pc.cast(values, pa.string())


def event_ids(
    dataset_id: str, type_name: str, *key_parts: Arr, where: Arr | None = None, repeated: bool = False
) -> Arr:
    """uuid5 ids of ``type_name`` events whose natural key fields are ``key_parts`` (null in → null out).

    ``where``: only rows where it holds get an id (others null) — a parent rule that applies to a
    few rows of a column must not pay a sha1 for every row. ``repeated``: many rows share a key
    (lines → their receipt), so each distinct key is hashed once.
    """
    pieces: list[Part] = [f"{dataset_id}|{type_name}|"]
    for i, part in enumerate(key_parts):
        if i:
            pieces.append("|")
        pieces.append(key_text(part))
    names = concat(*pieces)
    if where is not None:
        names = pc.if_else(pc.fill_null(where, False), names, nulls(len(names)))
    return ser.uuid5_column(EVENT_NAMESPACE, names, repeated=repeated)


def left_join(left: pa.Table, right: pa.Table, keys: list[str], right_keys: list[str] | None = None) -> pa.Table:
    """Hash left join that keeps the left row order and refuses repeated right keys.

    Only the keys and a row index go through Acero's join (it cannot carry list columns); the right
    side's other columns are then gathered with ``take``.
    """
    right_keys = right_keys or keys
    lk = pa.table({**{f"__j{i}": left[k] for i, k in enumerate(keys)}, "__row": np.arange(left.num_rows)})
    rk = pa.table({**{f"__j{i}": right[k] for i, k in enumerate(right_keys)}, "__ridx": np.arange(right.num_rows)})
    names = [f"__j{i}" for i in range(len(keys))]
    joined = lk.join(rk, keys=names, join_type="left outer").sort_by("__row")
    if joined.num_rows != left.num_rows:
        raise EventBuildError(f"join on {keys} is not unique on the right side; a key repeats")
    idx = joined["__ridx"]
    out = left
    for name in right.column_names:
        if name not in right_keys:
            out = out.append_column(name, right[name].take(idx))
    return out


def require(values: Arr, what: str, event_type: str, keys: Arr, mask: Arr | None = None) -> None:
    """Fail loudly when a joined value that the envelope needs is missing."""
    missing = pc.is_null(values)
    if mask is not None:
        missing = pc.and_(missing, pc.fill_null(mask, False))
    n = pc.sum(pc.cast(missing, pa.int64())).as_py() or 0
    if n:
        examples = pc.filter(keys, missing).slice(0, 3).to_pylist()
        raise EventBuildError(
            f"{event_type}: {n} row(s) without {what} in the same day's tables (e.g. {examples}); the "
            "generated day is inconsistent — regenerate it, and report it if it persists."
        )


# --- §5.3 envelope rules -------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    trace_id: Arr
    correlation_id: Arr
    session_id: Arr
    parent_event_id: Arr


@dataclass(frozen=True)
class DayContext:
    dataset_id: str
    tables: dict[str, pa.Table]

    def table(self, name: str) -> pa.Table:
        try:
            return self.tables[name]
        except KeyError:
            return FACT_TABLES[name].arrow_schema.empty_table()


EnvelopeRule = Callable[[pa.Table, str, DayContext], Envelope]


def _receipt_info(rows: pa.Table, key: str, ctx: DayContext) -> pa.Table:
    """Adds ``rc_visit`` and ``rc_type`` of the receipt named by column ``key``."""
    receipts = ctx.table("fact_receipts").select(["receipt_id_ext", "visit_id_ext", "receipt_type"])
    receipts = receipts.rename_columns(["__rk", "rc_visit", "rc_type"])
    return left_join(rows, receipts, [key], ["__rk"])


def _receipt_created(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    sale = pc.equal(t["receipt_type"], "SALE")
    return Envelope(
        trace_id=pc.if_else(sale, t["visit_id_ext"], t["receipt_id_ext"]),
        correlation_id=t["receipt_id_ext"],
        session_id=pc.if_else(sale, t["visit_id_ext"], nulls(t.num_rows)),
        parent_event_id=nulls(t.num_rows),
    )


def _receipt_line_added(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    j = _receipt_info(t, "receipt_id_ext", ctx)
    require(j["rc_type"], "its receipt", "receipt_line_added", j["receipt_id_ext"])
    sale = pc.equal(j["rc_type"], "SALE")
    return Envelope(
        trace_id=pc.if_else(sale, j["rc_visit"], j["receipt_id_ext"]),
        correlation_id=j["receipt_id_ext"],
        session_id=pc.if_else(sale, j["rc_visit"], nulls(t.num_rows)),
        parent_event_id=event_ids(ctx.dataset_id, "receipt_created", j["receipt_id_ext"], repeated=True),
    )


def _payment_processed(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    j = _receipt_info(t, "receipt_id_ext", ctx)
    in_store = pc.is_valid(j["receipt_id_ext"])
    require(j["rc_type"], "its receipt", "payment_processed", j["transaction_id_ext"], in_store)
    doc = pc.coalesce(j["receipt_id_ext"], j["order_id_ext"])
    sale = pc.fill_null(pc.equal(j["rc_type"], "SALE"), False)
    first = pc.equal(j["attempt_num"], 1)
    doc_created = pc.if_else(
        in_store,
        event_ids(ctx.dataset_id, "receipt_created", doc, where=pc.and_(in_store, first)),
        event_ids(ctx.dataset_id, "online_order_created", doc, where=pc.and_(pc.invert(in_store), first)),
    )
    previous = event_ids(
        ctx.dataset_id,
        "payment_processed",
        concat("PAY-", doc, "-", pc.subtract(j["attempt_num"], 1)),
        where=pc.invert(first),
    )
    return Envelope(
        trace_id=pc.if_else(sale, j["rc_visit"], doc),
        correlation_id=doc,
        session_id=pc.if_else(sale, j["rc_visit"], nulls(t.num_rows)),
        parent_event_id=pc.if_else(first, doc_created, previous),
    )


def _promotion_applied(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    j = _receipt_info(t, "receipt_id_ext", ctx)
    require(j["rc_visit"], "its SALE receipt's visit", "promotion_applied", j["receipt_id_ext"])
    return Envelope(
        trace_id=j["rc_visit"],
        correlation_id=j["receipt_id_ext"],
        session_id=j["rc_visit"],
        parent_event_id=event_ids(ctx.dataset_id, "receipt_created", j["receipt_id_ext"], repeated=True),
    )


def _inventory_trace(t: pa.Table, ctx: DayContext) -> tuple[pa.Table, Arr, Arr]:
    """(joined rows, trace_id, session_id) of inventory txns; shared by inventory_updated and stockouts."""
    j = _receipt_info(t, "source_id_ext", ctx)
    kind = j["txn_type"]
    is_sale = pc.equal(kind, "SALE")
    require(j["rc_visit"], "the visit of its SALE receipt", "inventory_updated", j["txn_id_ext"], is_sale)
    by_source = pc.is_in(kind, pa.array(["RETURN", "ONLINE_SALE"]))
    by_review = pc.is_in(kind, pa.array(["INBOUND_SHIPMENT", "OUTBOUND_SHIPMENT"]))
    trace = pc.if_else(
        is_sale,
        j["rc_visit"],
        pc.if_else(by_source, j["source_id_ext"], pc.if_else(by_review, review_trace(j["source_id_ext"]), j["txn_id_ext"])),
    )
    session = pc.if_else(is_sale, j["rc_visit"], nulls(t.num_rows))
    return j, trace, session


def _inventory_updated(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    j, trace, session = _inventory_trace(t, ctx)
    n = t.num_rows
    kind = j["txn_type"]
    ds = ctx.dataset_id
    lines = ctx.table("fact_receipt_lines").select(["receipt_id_ext", "product_id", "line_num"])
    lines = lines.rename_columns(["__lr", "__lp", "rl_line"])
    j = left_join(j, lines, ["source_id_ext", "product_id"], ["__lr", "__lp"])
    by_line = pc.is_in(kind, pa.array(["SALE", "RETURN"]))
    by_order = pc.equal(kind, "ONLINE_SALE")
    inbound = pc.equal(kind, "INBOUND_SHIPMENT")
    outbound = pc.equal(kind, "OUTBOUND_SHIPMENT")
    require(j["rl_line"], "its receipt line", "inventory_updated", j["txn_id_ext"], by_line)
    line_parent = event_ids(ds, "receipt_line_added", j["source_id_ext"], j["rl_line"], where=by_line)
    order_parent = event_ids(ds, "online_order_created", j["source_id_ext"], where=by_order)
    stop = 3 if table == "fact_store_inventory_txn" else 2
    truck_parent = event_ids(
        ds, "truck_departed", j["source_id_ext"], pa.array(np.full(n, stop), pa.int64()), where=inbound
    )
    if table == "fact_dc_inventory_txn":
        reorder_key = concat(
            pc.replace_substring_regex(j["source_id_ext"], r"^SHP-(\d{8})-(\d+)-.*$", r"ROR-\1-\2-"),
            pad(j["product_id"], 7),
        )
        outbound_parent = event_ids(ds, "reorder_triggered", reorder_key, where=outbound)
    else:
        outbound_parent = nulls(n)
    parent = pc.case_when(
        pc.make_struct(by_line, by_order, inbound, outbound),
        line_parent,
        order_parent,
        truck_parent,
        outbound_parent,
        nulls(n),
    )
    return Envelope(
        trace_id=trace,
        correlation_id=pc.coalesce(j["source_id_ext"], j["txn_id_ext"]),
        session_id=session,
        parent_event_id=parent,
    )


def _stockout_detected(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    traces = []
    for txn_table in ("fact_store_inventory_txn", "fact_dc_inventory_txn"):
        txns = ctx.table(txn_table)
        _, trace, _ = _inventory_trace(txns, ctx)
        traces.append(pa.table({"__tx": txns["txn_id_ext"], "tx_trace": trace}))
    j = left_join(t, pa.concat_tables(traces), ["txn_id_ext"], ["__tx"])
    require(j["tx_trace"], "its triggering inventory txn", "stockout_detected", j["txn_id_ext"])
    return Envelope(
        trace_id=j["tx_trace"],
        correlation_id=j["txn_id_ext"],
        session_id=nulls(t.num_rows),
        parent_event_id=event_ids(ctx.dataset_id, "inventory_updated", j["txn_id_ext"]),
    )


def _reorder_triggered(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    return Envelope(
        trace_id=concat("REV-", yyyymmdd(t["event_ts"]), "-", pad(t["store_id"], 5)),
        correlation_id=t["reorder_id_ext"],
        session_id=nulls(t.num_rows),
        parent_event_id=nulls(t.num_rows),
    )


def _store_day(t: pa.Table, correlation: Arr | None) -> Envelope:
    n = t.num_rows
    return Envelope(
        trace_id=concat("SDY-", yyyymmdd(t["event_ts"]), "-", pad(t["store_id"], 5)),
        correlation_id=correlation if correlation is not None else nulls(n),
        session_id=nulls(n),
        parent_event_id=nulls(n),
    )


def _customer_entered(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    return _store_day(t, t["sensor_id_ext"])


def _store_op(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    return _store_day(t, None)


def _ble_ping_detected(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    return Envelope(t["visit_id_ext"], t["visit_id_ext"], t["visit_id_ext"], nulls(t.num_rows))


def _customer_zone_changed(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    pings = ctx.table("fact_ble_pings").select(["visit_id_ext", "event_ts", "zone", "ping_num"])
    first = pings.group_by(["visit_id_ext", "event_ts", "zone"]).aggregate([("ping_num", "min")])
    first = first.rename_columns(["__pv", "__pt", "__pz", "ping_parent"])
    j = left_join(t, first, ["visit_id_ext", "event_ts", "to_zone"], ["__pv", "__pt", "__pz"])
    require(j["ping_parent"], "the BLE ping that showed the new zone", "customer_zone_changed", j["visit_id_ext"])
    return Envelope(
        trace_id=j["visit_id_ext"],
        correlation_id=j["visit_id_ext"],
        session_id=j["visit_id_ext"],
        parent_event_id=event_ids(ctx.dataset_id, "ble_ping_detected", j["visit_id_ext"], j["ping_parent"]),
    )


def _truck_move(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    # Stops alternate between departures and arrivals, so stop k−1 is always the other move type.
    other = {"ARRIVED": "truck_departed", "DEPARTED": "truck_arrived"}
    move = t["move_type"][0].as_py() if t.num_rows else "ARRIVED"
    first_stop = pc.equal(t["stop_num"], 1)
    previous = event_ids(
        ctx.dataset_id, other[move], t["shipment_id_ext"], pc.subtract(t["stop_num"], 1), where=pc.invert(first_stop)
    )
    return Envelope(
        trace_id=review_trace(t["shipment_id_ext"]),
        correlation_id=t["shipment_id_ext"],
        session_id=nulls(t.num_rows),
        parent_event_id=pc.if_else(first_stop, nulls(t.num_rows), previous),
    )


def _ad_impression(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    return Envelope(t["campaign_id_ext"], t["impression_id_ext"], nulls(t.num_rows), nulls(t.num_rows))


def _order(t: pa.Table, parent: Arr) -> Envelope:
    return Envelope(t["order_id_ext"], t["order_id_ext"], nulls(t.num_rows), parent)


def _online_order_created(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    return _order(t, nulls(t.num_rows))


def _online_order_picked(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    return _order(t, event_ids(ctx.dataset_id, "online_order_created", t["order_id_ext"]))


def _online_order_shipped(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    return _order(t, event_ids(ctx.dataset_id, "online_order_picked", t["order_id_ext"], t["line_num"]))


def _online_order_delivered(t: pa.Table, table: str, ctx: DayContext) -> Envelope:
    bopis = pc.equal(t["fulfillment_mode"], "BOPIS")
    picked = event_ids(ctx.dataset_id, "online_order_picked", t["order_id_ext"], t["line_num"], where=bopis)
    shipped = event_ids(
        ctx.dataset_id, "online_order_shipped", t["order_id_ext"], t["line_num"], where=pc.invert(bopis)
    )
    return _order(t, pc.if_else(bopis, picked, shipped))


ENVELOPE_RULES: dict[str, EnvelopeRule] = {
    "store_opened": _store_op,
    "truck_arrived": _truck_move,
    "truck_departed": _truck_move,
    "customer_entered": _customer_entered,
    "ble_ping_detected": _ble_ping_detected,
    "customer_zone_changed": _customer_zone_changed,
    "online_order_created": _online_order_created,
    "receipt_created": _receipt_created,
    "receipt_line_added": _receipt_line_added,
    "promotion_applied": _promotion_applied,
    "inventory_updated": _inventory_updated,
    "stockout_detected": _stockout_detected,
    "payment_processed": _payment_processed,
    "online_order_picked": _online_order_picked,
    "online_order_shipped": _online_order_shipped,
    "online_order_delivered": _online_order_delivered,
    "reorder_triggered": _reorder_triggered,
    "ad_impression": _ad_impression,
    "store_closed": _store_op,
}
"""§5.3 trace / correlation / session / parent per event type (partition keys come from the contract)."""


# --- partition key (contract rules) ----------------------------------------------------------------


def _format_template(template: str, t: pa.Table) -> Arr:
    parts: list[Part] = []
    for literal, field_name, _, _ in string.Formatter().parse(template):
        if literal:
            parts.append(literal)
        if field_name:
            parts.append(t[field_name])
    return concat(*parts)


def _rule_mask(rule: PartitionKeyRule, t: pa.Table, table: str) -> Arr:
    n = t.num_rows
    if rule.when is None:
        return pa.array(np.ones(n, dtype=bool))
    column, value = rule.when
    if value is None:
        return pc.is_null(t[column])
    return pc.fill_null(pc.equal(t[column], value), False)


def _order_partition_keys(t: pa.Table, ctx: DayContext) -> Arr:
    headers = ctx.table("fact_online_order_headers").select(["order_id_ext", "node_type", "node_id"])
    j = left_join(t.select(["order_id_ext", "transaction_id_ext"]), headers, ["order_id_ext"])
    return partition_keys(EVENT_TYPES["online_order_created"], j, "fact_online_order_headers", ctx)


def partition_keys(et: EventType, t: pa.Table, table: str, ctx: DayContext) -> Arr:
    """First matching contract rule wins (rules are applied last-to-first)."""
    result: Arr = nulls(t.num_rows)
    for rule in reversed(et.partition_key):
        if getattr(rule, "table", None) not in (None, table):
            continue  # a rule for the other table of a multi-table type
        value = _order_partition_keys(t, ctx) if rule.via_order else _format_template(rule.template, t)
        result = pc.if_else(_rule_mask(rule, t, table), value, result)
    return result


# --- payload -------------------------------------------------------------------------------------

_ENCODERS: dict[JsonType, Callable[[Arr], Part | list[Part]]] = {
    JsonType.STRING: ser.json_string_parts,
    JsonType.INTEGER: ser.json_int,
    JsonType.NUMBER: ser.json_money,
    JsonType.TIMESTAMP: ser.json_ts,
    JsonType.INTEGER_ARRAY: ser.json_int_list,
}


def _promo_product_ids(t: pa.Table, ctx: DayContext) -> Arr:
    lines = ctx.table("fact_promo_lines").select(["receipt_id_ext", "promo_code", "line_num", "product_id"])
    lines = lines.sort_by([("receipt_id_ext", "ascending"), ("promo_code", "ascending"), ("line_num", "ascending")])
    grouped = lines.group_by(["receipt_id_ext", "promo_code"], use_threads=False).aggregate([("product_id", "list")])
    grouped = grouped.rename_columns(["__r", "__p", "product_ids"])
    j = left_join(t.select(["receipt_id_ext", "promo_code"]), grouped, ["receipt_id_ext", "promo_code"], ["__r", "__p"])
    require(j["product_ids"], "its fact_promo_lines rows", "promotion_applied", j["receipt_id_ext"])
    return j["product_ids"]


def payload_texts(et: EventType, t: pa.Table, table: str, ts_text: Arr, ctx: DayContext) -> list[Part | list[Part]]:
    """Encoded JSON value of every payload field, in contract order (constants as literal text)."""
    texts: list[Part | list[Part]] = []
    for f in et.payload:
        if f.derived is Derived.INGEST_TIME:
            texts.append(ts_text)
        elif f.derived is Derived.SELECTOR:
            texts.append(ser.json_literal(et.selector_value(table)))
        elif f.derived is Derived.PROMO_PRODUCT_IDS:
            texts.append(ser.json_int_list(_promo_product_ids(t, ctx)))
        elif f.derived is Derived.LITERAL:
            texts.append(ser.json_literal(f.literal))
        elif f.column in t.column_names:
            texts.append(_ENCODERS[f.json_type](t[f.column]))
        else:  # a field of a multi-table type that this table lacks (inventory store_id / dc_id)
            texts.append(ser.NULL_TEXT)
    return texts


# --- one event type, then the whole day -----------------------------------------------------------


def _select_rows(et: EventType, table: str, ctx: DayContext) -> pa.Table:
    t = ctx.table(table)
    if et.row_filter is not None:
        column, value = et.row_filter
        t = t.filter(pc.equal(t[column], value))
    return t


def _sort_keys(et: EventType, t: pa.Table) -> dict[str, Arr]:
    """Natural key fields as typed sort columns: strings by code point, ints/timestamps numerically."""
    keys: dict[str, Arr] = {}
    for i in range(2):
        s_col, i_col = nulls(t.num_rows), pa.nulls(t.num_rows, pa.int64())
        if i < len(et.natural_key):
            values = t[et.natural_key[i]]
            if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
                s_col = pc.cast(values, pa.string())
            else:
                i_col = pc.cast(values, pa.int64())
        keys[f"__k{i}s"], keys[f"__k{i}i"] = s_col, i_col
    return keys


def build_type_events(et: EventType, table: str, ctx: DayContext) -> pa.Table | None:
    """Events of one (event type, fact table) with sort keys; None when the day has no such rows."""
    t = _select_rows(et, table, ctx)
    if t.num_rows == 0:
        return None
    n = t.num_rows
    ts_text = ser.json_ts(t["event_ts"])
    ids = event_ids(ctx.dataset_id, et.name, *(t[k] for k in et.natural_key))
    env = ENVELOPE_RULES[et.name](t, table, ctx)
    pkey = partition_keys(et, t, table, ctx)
    require(pkey, "a partition key", et.name, ids)
    require(env.trace_id, "a trace id", et.name, ids)
    payload = ser.object_parts([f.name for f in et.payload], payload_texts(et, t, table, ts_text, ctx))
    # One concatenation per body: literal keys, constants and the quotes of plain ids are merged
    # into literal text, so no column is copied just to be quoted or nested.
    body = ser.json_object(
        [*(f.name for f in ENVELOPE_FIELDS), "payload"],  # §5.1: the envelope in order, then payload
        [
            ser.json_string_parts(ids),
            ser.json_literal(et.name),
            ts_text,
            ser.json_literal(SCHEMA_VERSION),
            ser.json_literal(ENVELOPE_SOURCE),
            ser.json_string_parts(env.trace_id),
            ser.json_string_parts(env.correlation_id),
            ser.json_string_parts(pkey),
            ser.json_string_parts(env.session_id),
            ser.json_string_parts(env.parent_event_id),
            payload,
        ],
    )
    columns = {
        "event_date": t["event_date"],
        "event_ts": t["event_ts"],
        "event_type": pa.array([et.name] * n, pa.string()),
        "event_id": ids,
        "partition_key": pkey,
        "body": body,
        "__rank": pa.array(np.full(n, et.type_rank), pa.int64()),
        **_sort_keys(et, t),
    }
    return pa.table(columns)


SORT_COLUMNS = ("event_ts", "__rank", "__k0s", "__k0i", "__k1s", "__k1i")
"""The drain order of a day's events (§5.6): time, event type rank, then the natural key."""

UNSEQUENCED_SCHEMA = pa.schema(
    [*(f for f in EVENTS_SCHEMA if f.name != "outbox_seq"),
     pa.field("__rank", BIGINT), pa.field("__k0s", VARCHAR), pa.field("__k0i", BIGINT),
     pa.field("__k1s", VARCHAR), pa.field("__k1i", BIGINT)]
)  # fmt: skip
"""A shard's events before the day's ranks are known: ``EVENTS_SCHEMA`` without ``outbox_seq``, plus
the sort keys from which the outbox numbers the whole day (``Outbox.enqueue_staged_day``)."""


def _event_parts(tables: dict[str, pa.Table], dataset_id: str) -> list[pa.Table]:
    ctx = DayContext(dataset_id=dataset_id, tables=tables)
    pool = pa.default_memory_pool()
    parts = []
    for et in EVENT_TYPES.values():
        for table in et.fact_tables:
            if (part := build_type_events(et, table, ctx)) is not None:
                parts.append(part)
            pool.release_unused()  # the type's intermediate text columns: back to the OS, not kept for reuse
    return parts


def _require_day(event_dates: Arr, day: date, what: str) -> None:
    outside = pc.sum(pc.cast(pc.not_equal(event_dates, pa.scalar(day, pa.date32())), pa.int64())).as_py()
    if outside:
        raise EventBuildError(f"{outside} fact row(s) of the {what} given for {day} have another event_date.")


def build_unsequenced_events(tables: dict[str, pa.Table], dataset_id: str, day: date) -> pa.Table:
    """The events of a part of ``day`` (a shard's fact rows) with their sort keys, in no set order
    (schema ``UNSEQUENCED_SCHEMA``). Why: a shard cannot know its events' ranks in the whole day, and
    the day must not be held in memory to find them; the outbox numbers them when every shard is in.
    The events themselves do not depend on the split: every envelope rule joins rows of one store, DC
    or order, which a shard holds whole (§8.5)."""
    parts = _event_parts(tables, dataset_id)
    if not parts:
        return UNSEQUENCED_SCHEMA.empty_table()
    events = pa.concat_tables([p.cast(UNSEQUENCED_SCHEMA) for p in parts])
    del parts
    _require_day(events["event_date"], day, "shard's tables")
    return events


def first_outbox_seq(start_date: date, day: date) -> int:
    """``outbox_seq`` of the day's first event: day ordinal × 10^10 + 1 (§5.6)."""
    ordinal = (day - start_date).days
    if ordinal < 0:
        raise EventBuildError(f"day {day} is before the dataset's start_date {start_date}.")
    return ordinal * SEQ_DAY_FACTOR + 1


def build_day_events(tables: dict[str, pa.Table], dataset_id: str, start_date: date, day: date) -> pa.Table:
    """All events of ``day`` in drain order with their ``outbox_seq`` (schema ``EVENTS_SCHEMA``).

    Rank orders by (event_ts, type rank, natural key) and seq = (day − start_date) × 10^10 + rank,
    so the result depends only on the dataset and the day (§5.6).
    """
    pool = pa.default_memory_pool()
    parts = _event_parts(tables, dataset_id)
    if not parts:
        return EVENTS_SCHEMA.empty_table()
    sort_cols = list(SORT_COLUMNS)
    keys = pa.concat_tables([p.select(["event_date", *sort_cols]) for p in parts])
    _require_day(keys["event_date"], day, "tables")
    first_seq = first_outbox_seq(start_date, day)
    order = pc.sort_indices(keys, sort_keys=[(c, "ascending") for c in sort_cols])
    del keys
    seq = np.arange(len(order), dtype=np.int64) + np.int64(first_seq)
    # Why column by column, dropping each source column as soon as it is gathered: the bodies are
    # ~90% of a day's events (~0.4 GB at scale factor 1); sorting the whole table at once held the
    # parts, their concatenation and the sorted copy together (+1.2 GiB peak RSS). (Gathering
    # straight from the chunks, without the concatenation, measured slower in Arrow 26.)
    columns: dict[str, pa.Array] = {"outbox_seq": pa.array(seq, pa.int64())}
    for name in EVENTS_SCHEMA.names[1:]:
        # chunks flattened: pa.chunked_array() of ChunkedArrays first copies each into one array
        chunks = [c for p in parts for c in p[name].chunks]
        source = pa.chunked_array(chunks, EVENTS_SCHEMA.field(name).type).combine_chunks()
        del chunks
        parts = [p.drop_columns([name]) for p in parts]
        pool.release_unused()  # hand the freed parts' column back to the OS before the gather
        columns[name] = source.take(order)
        del source
        pool.release_unused()
    return pa.table(columns).cast(EVENTS_SCHEMA)
