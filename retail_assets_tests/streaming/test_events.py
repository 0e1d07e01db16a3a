"""Events from facts: ids, canonical bytes, envelope joins and drain order (contract §5)."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from retail_assets.contract.events import EVENT_NAMESPACE
from retail_assets.streaming.events import SEQ_DAY_FACTOR, build_day_events
from retail_assets.streaming.serialize import money_text, uuid5_column
from retail_assets_tests.streaming.facts import DATASET_ID, DAY, contract_example_day, fact_table, ts

# §5.4 examples, as printed in the contract (pretty JSON there, compact on the wire)
RECEIPT_CREATED = {
    "event_id": "791076e7-2b2e-5a6a-bc92-b097478ef4d8", "event_type": "receipt_created",
    "ingest_timestamp": "2024-04-11T17:42:05.123456Z", "schema_version": "2.0", "source": "retail-assets",
    "trace_id": "VIS-20240411-00012-000345", "correlation_id": "RCP-20240411-00012-000345",
    "partition_key": "store:12", "session_id": "VIS-20240411-00012-000345", "parent_event_id": None,
    "payload": {
        "receipt_id": "RCP-20240411-00012-000345", "receipt_type": "SALE", "store_id": 12, "customer_id": 20871,
        "visit_id": "VIS-20240411-00012-000345", "return_for_receipt_id": None, "tender_type": "CREDIT_CARD",
        "item_count": 4, "line_count": 3, "subtotal": 43.97, "discount_amount": 4.4, "tax": 2.31, "total": 41.88,
        "campaign_id": "CMP-20240405-01",
    },
}
AD_IMPRESSION = {
    "event_id": "8ad1a6ad-4072-535d-8d9a-f7e4f3a4f675", "event_type": "ad_impression",
    "ingest_timestamp": "2024-04-11T20:14:33.090871Z", "schema_version": "2.0", "source": "retail-assets",
    "trace_id": "CMP-20240405-01", "correlation_id": "IMP-20240411-0004521", "partition_key": "campaign:CMP-20240405-01",
    "session_id": None, "parent_event_id": None,
    "payload": {
        "impression_id": "IMP-20240411-0004521", "campaign_id": "CMP-20240405-01", "campaign_type": "PRODUCT_LAUNCH",
        "channel": "INSTAGRAM", "creative_id": "CRV-20240405-01-INSTAGRAM-2", "device_type": "MOBILE",
        "customer_ad_id": "AD000G3R", "customer_id": 20871, "cost": 1.265,
    },
}
# ids of the other §5.4 examples built from the same rows
EXAMPLE_IDS = {
    "store_opened": "aae1d700-dd5c-5fbe-87c5-399460e0d452",
    "receipt_line_added": "d290b11f-08fe-581e-9166-dafa554a2761",
    "payment_processed": "feefd658-aca9-5994-9280-81b0344c0803",
    "inventory_updated": "f8bb69d1-cfd8-53d5-b9a7-448687ea6258",
    "stockout_detected": "e32960f5-f50c-5a62-8648-6be48b7e2c9d",
    "promotion_applied": "6d02c617-8e63-5e5e-9404-750124814975",
    "store_closed": "72bdffb3-acec-57b5-8abd-75bab543c333",
}


def _events() -> dict[str, dict]:
    ev = build_day_events(contract_example_day(), DATASET_ID, date(2024, 1, 1), DAY)
    out = {}
    for row in ev.to_pylist():
        body = json.loads(row["body"])
        assert body["event_id"] == row["event_id"] and body["partition_key"] == row["partition_key"]
        out.setdefault(row["event_type"], []).append(row)
    return out


def test_event_id_matches_the_contract_example():
    name = f"{DATASET_ID}|receipt_created|RCP-20240411-00012-000345"
    assert uuid5_column(EVENT_NAMESPACE, pa.array([name])).to_pylist() == ["791076e7-2b2e-5a6a-bc92-b097478ef4d8"]
    names = [f"x|y|{i}" for i in range(50)]
    assert uuid5_column(EVENT_NAMESPACE, pa.array(names)).to_pylist() == [str(uuid.uuid5(EVENT_NAMESPACE, n)) for n in names]


def test_bodies_are_the_contract_examples_byte_for_byte():
    events = _events()
    by_id = {r["event_id"]: r for rows in events.values() for r in rows}
    for example in (RECEIPT_CREATED, AD_IMPRESSION):
        assert by_id[example["event_id"]]["body"] == json.dumps(example, separators=(",", ":"))
    for event_type, event_id in EXAMPLE_IDS.items():
        assert event_id in {r["event_id"] for r in events[event_type]}, event_type


def test_envelope_joins_follow_section_5_3():
    events = _events()
    body = {t: [json.loads(r["body"]) for r in rows] for t, rows in events.items()}
    line = body["receipt_line_added"][0]
    assert (line["trace_id"], line["session_id"], line["parent_event_id"]) == (
        "VIS-20240411-00012-000345", "VIS-20240411-00012-000345", RECEIPT_CREATED["event_id"])
    txn = body["inventory_updated"][0]
    assert txn["parent_event_id"] == EXAMPLE_IDS["receipt_line_added"] and txn["payload"]["dc_id"] is None
    assert txn["payload"]["location_type"] == "STORE"
    stockout = body["stockout_detected"][0]
    assert (stockout["trace_id"], stockout["session_id"], stockout["parent_event_id"]) == (
        "VIS-20240411-00012-000345", None, EXAMPLE_IDS["inventory_updated"])
    promo = body["promotion_applied"][0]
    assert promo["payload"]["product_ids"] == [540, 2063, 2010]  # in line order, not row order
    ret = next(b for b in body["receipt_created"] if b["payload"]["receipt_type"] == "RETURN")
    assert ret["trace_id"] == ret["payload"]["receipt_id"] and ret["session_id"] is None
    assert ret["payload"]["discount_amount"] == 0.0 and '"discount_amount":0.0' in events["receipt_created"][0]["body"]
    assert body["store_opened"][0]["trace_id"] == "SDY-20240411-00012"


def test_outbox_seq_orders_by_time_then_type_rank_then_natural_key():
    ev = build_day_events(contract_example_day(), DATASET_ID, date(2024, 4, 1), DAY)
    seqs = ev["outbox_seq"].to_pylist()
    assert seqs == sorted(seqs) and seqs[0] == 10 * SEQ_DAY_FACTOR + 1
    at_t0 = [t for t, s in zip(ev["event_type"].to_pylist(), ev["event_ts"].to_pylist(), strict=True)
             if s == ts("2024-04-11T17:42:05.123456Z")]
    assert at_t0 == ["receipt_created", "receipt_line_added", "promotion_applied", "inventory_updated", "stockout_detected"]
    # line 2 before line 10 (numeric), store 2 before store 12
    tables = contract_example_day()
    t = ts("2024-04-11T12:00:00.000000Z")
    tables["fact_store_ops"] = fact_table("fact_store_ops", [
        dict(event_ts=t, store_id=12, operation_type="OPENED"), dict(event_ts=t, store_id=2, operation_type="OPENED")])
    ev = build_day_events(tables, DATASET_ID, date(2024, 4, 1), DAY)
    stores = [json.loads(b)["payload"]["store_id"] for b, e in zip(ev["body"].to_pylist(), ev["event_type"].to_pylist(), strict=True)
              if e == "store_opened"]
    assert stores == [2, 12]
    again = build_day_events(tables, DATASET_ID, date(2024, 4, 1), DAY)
    assert again.equals(ev)


@given(st.integers(min_value=-(10**13), max_value=10**13), st.sampled_from([2, 4]))
def test_money_text_is_python_repr_of_the_float(unscaled, scale):
    value = Decimal(unscaled).scaleb(-scale)
    arr = pa.array([value], pa.decimal128(18, scale))
    assert money_text(arr).to_pylist() == [repr(float(value)) if value != 0 else "0.0"]
