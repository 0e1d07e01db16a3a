"""The landing function: typed Bronze rows, idempotence, quarantine of every malformed kind."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pyarrow as pa

from retail_assets.contract.events import bronze_event_spec
from retail_assets.lake import delta
from retail_assets.streaming.events import build_day_events
from retail_assets.streaming.landing import Lander
from retail_assets_tests.streaming.facts import DATASET_ID, DAY, contract_example_day


def _bodies() -> list[str]:
    return build_day_events(contract_example_day(), DATASET_ID, date(2024, 1, 1), DAY)["body"].to_pylist()


def _read(root: str, table: str) -> pa.Table:
    return delta.read_table(delta.table_uri(root, "cusn", table))


def test_lands_typed_rows_with_the_raw_payload(tmp_path):
    root = str(tmp_path)
    bodies = _bodies()
    report = Lander(root, "local").land(bodies)
    assert report.landed_total == len(bodies) and report.rejected_total == 0
    t = _read(root, "receipt_created")
    assert t.schema.names == bronze_event_spec("receipt_created").column_names
    row = next(r for r in t.to_pylist() if r["event_id"] == "791076e7-2b2e-5a6a-bc92-b097478ef4d8")
    assert (row["subtotal"], row["store_id"], row["event_date"], row["_sink"]) == (43.97, 12, DAY, "local")
    body = next(b for b in bodies if row["event_id"] in b)
    assert row["_payload"] == json.dumps(json.loads(body)["payload"], separators=(",", ":"))
    inv = _read(root, "inventory_updated").to_pylist()[0]
    assert inv["payload_source"] == "RCP-20240411-00012-000345" and inv["source"] == "retail-assets"
    promo = _read(root, "promotion_applied").to_pylist()[0]
    assert promo["product_ids"] == [540, 2063, 2010]


def test_redelivery_never_adds_a_row_and_a_differing_copy_is_rejected(tmp_path):
    root = str(tmp_path)
    bodies = _bodies()
    Lander(root, "local").land(bodies)
    fresh = Lander(root, "local")  # a new process: reads the landed ids from Delta
    report = fresh.land(bodies + bodies[:2])
    assert report.landed_total == 0 and report.duplicates == len(bodies) + 2
    changed = next(b for b in bodies if '"receipt_line_added"' in b).replace('"quantity":1', '"quantity":7')
    report = fresh.land([changed])
    assert report.rejected == {"conflicting redelivery": 1}
    assert _read(root, "receipt_line_added").num_rows == 1
    assert _read(root, "receipt_line_added")["quantity"].to_pylist() == [1]


def test_each_malformed_kind_is_quarantined_and_good_events_around_it_land(tmp_path):
    root = str(tmp_path)
    bodies = _bodies()
    receipt = next(b for b in bodies if '"receipt_id":"RCP-20240411-00012-000345","receipt_type"' in b)
    bad = {
        "bad JSON": receipt[:-7],
        "unknown event_type": receipt.replace('"event_type":"receipt_created"', '"event_type":"receipt_voided"'),
        "missing required field": receipt.replace('"customer_id":20871,', ""),
        "wrong type": receipt.replace('"store_id":12', '"store_id":"twelve"'),
    }
    assert all(b != receipt for b in bad.values())
    mixed = bodies[:3] + list(bad.values()) + bodies[3:]
    mixed = [b for b in mixed if b != receipt]
    report = Lander(root, "local").land(mixed)
    assert report.landed_total == len(bodies) - 1
    assert report.rejected == dict.fromkeys(bad, 1)
    rejects = _read(root, "ctl_rejected_events").to_pylist()
    reasons = {r["reason"].split(":")[0].split(" payload")[0]: r for r in rejects}
    assert "missing required field" in {k[: len("missing required field")] for k in reasons}
    raw_by_reason = {r["reason"]: r["raw"] for r in rejects}
    assert set(raw_by_reason.values()) == set(bad.values())  # the raw body is kept, nothing lost
    assert any("payload.customer_id" in r for r in raw_by_reason)
    assert any("payload.store_id" in r and "integer" in r for r in raw_by_reason)
    assert _read(root, "receipt_created").num_rows == 1  # the RETURN receipt, next to the bad ones


def test_eventhub_landing_keeps_transport_columns(tmp_path):
    root = str(tmp_path)
    bodies = _bodies()
    n = len(bodies)
    Lander(root, "eventhub").land(
        [b.encode() for b in bodies],
        eh_partition_ids=pa.array(["3"] * n),
        eh_sequence_numbers=pa.array(range(100, 100 + n), pa.int64()),
    )
    row = _read(root, "store_opened").to_pylist()[0]
    assert (row["_sink"], row["_eh_partition_id"], row["_eh_sequence_number"]) == ("eventhub", "3", 100)


def test_a_type_hint_is_only_trusted_when_the_body_carries_it(tmp_path):
    root = str(tmp_path)
    bodies = _bodies()
    true_types = [json.loads(b)["event_type"] for b in bodies]
    hints: list[str | None] = list(true_types)
    wrong = true_types.index("receipt_created")
    hints[wrong] = "store_closed"  # a lying hint must not misfile the event
    hints[0] = None  # a missing hint: typed from the body
    report = Lander(root, "local").land(bodies, event_types=hints)
    assert report.landed_total == len(bodies) and report.rejected_total == 0
    landed = {t: set(_read(root, t)["event_id"].to_pylist()) for t in set(true_types)}
    for body, t in zip(bodies, true_types, strict=True):
        assert json.loads(body)["event_id"] in landed[t]


def test_payload_text_is_kept_as_received_for_non_canonical_bodies(tmp_path):
    root = str(tmp_path)
    body = json.loads(next(b for b in _bodies() if '"receipt_line_added"' in b))
    payload = body.pop("payload")
    spaced = json.dumps({"payload": payload, **body}, indent=1)  # payload first, with newlines
    report = Lander(root, "local").land([spaced])
    assert report.landed_total == 1
    row = _read(root, "receipt_line_added").to_pylist()[0]
    assert json.loads(row["_payload"]) == payload and "\n" in row["_payload"]


def test_payload_cut_out_matches_the_decoder_for_every_body_shape():
    """The byte-offset cut-out must give exactly the payload text a JSON decoder finds, whatever the
    shape: canonical, non-ASCII, nested, spaced, payload not last, null payload, and on a slice."""
    from retail_assets.streaming.landing import _payload_texts

    shapes = [
        '{"a":"é€","payload":{"x":"ü","n":1}}',
        '{"a":1,"payload":{"x":{"y":[1,2]}}}',
        '{"a":1, "payload": {"x":1} }',
        '{"payload":{"x":2},"a":3}',
        '{"a":1,"payload":null}',
        *_bodies()[:5],
    ]
    bodies = pa.array(["{}", *shapes, "{}"], pa.string()).slice(1, len(shapes))
    texts = _payload_texts(bodies).to_pylist()
    for body, text in zip(shapes, texts, strict=True):
        assert json.loads(text) == json.loads(body)["payload"]
        assert text in body  # cut out as received, not re-serialised


def test_a_fingerprint_collision_never_drops_a_new_event(tmp_path, monkeypatch):
    """Every id gets the same fingerprint: a new event of a partition that has rows is a "maybe
    landed" hit, which the landing must confirm against the rows before skipping it."""
    from retail_assets.streaming import landing

    monkeypatch.setattr(landing, "fingerprints", lambda ids: np.zeros(len(ids), dtype=np.uint64))
    root = str(tmp_path)
    first, second = [b for b in _bodies() if '"event_type":"receipt_created"' in b]
    assert Lander(root, "local").land([first]).landed_total == 1
    lander = Lander(root, "local")  # reads the partition's fingerprints: one, equal to every other
    report = lander.land([first, second])
    assert (report.landed_total, report.duplicates, report.rejected_total) == (1, 1, 0)
    report = lander.land([second, first])  # now from the fingerprints it appended itself
    assert (report.landed_total, report.duplicates) == (0, 2)
    assert sorted(_read(root, "receipt_created")["event_id"].to_pylist()) == sorted(
        json.loads(b)["event_id"] for b in (first, second)
    )
