"""Batches take their size from the hub: the send link's advertised max message size."""

from __future__ import annotations

import json

import pyarrow as pa

from retail_assets.contract.events import SCHEMA_VERSION
from retail_assets.streaming.sinks.eventhub import EventHubSettings, EventHubSink
from retail_assets_tests.eventhubs.conftest import HUB

SMALL_HUB_BYTES = 16_384


def outbox_rows(n_keys: int, per_key: int, pad: int = 300) -> pa.Table:
    """Outbox-shaped rows (the columns the sink reads), keys interleaved as the outbox orders them."""
    rows = []
    for t in range(per_key):
        for k in range(n_keys):
            seq = len(rows) + 1
            body = json.dumps({"event_id": f"id-{seq}", "event_type": "store_opened", "partition_key": f"store:{k}",
                               "ingest_timestamp": f"2024-01-01T00:00:{t:02d}.000000Z", "pad": "x" * pad})
            rows.append({"outbox_seq": seq, "event_type": "store_opened", "event_id": f"id-{seq}",
                         "partition_key": f"store:{k}", "body": body})
    return pa.Table.from_pylist(rows)


def test_a_small_hub_limit_splits_batches_that_all_fit_and_keep_each_keys_order(start_hub):
    hub = start_hub(max_message_size=SMALL_HUB_BYTES)
    events = outbox_rows(n_keys=3, per_key=60)  # ≈ 26 kB per key: cannot go in one message
    sink = EventHubSink(EventHubSettings(HUB, send_timeout_s=10.0), connection_string=hub.connection_string)
    try:
        result = sink.send(events)
    finally:
        sink.close()
    assert len(result.failed) == 0, result.errors[:1]
    assert sorted(result.sent.tolist()) == events["outbox_seq"].to_pylist()
    assert hub.rejected_transfers == 0
    assert hub.transfer_sizes and max(hub.transfer_sizes) <= SMALL_HUB_BYTES
    assert len(hub.transfer_sizes) > 3  # split: more than one batch per key
    stored = hub.events()
    assert len(stored) == events.num_rows
    by_key: dict[str, list[dict]] = {}
    for event in stored:
        message = event.message()
        body = json.loads(bytes(message.body))
        assert event.partition_key == body["partition_key"]
        assert message.id == body["event_id"]
        assert message.properties == {"Table": "store_opened", "schema_version": SCHEMA_VERSION}
        by_key.setdefault(event.partition_key, []).append((event.partition_id, event.sequence_number, body))
    assert len({pid for rows in by_key.values() for pid, _, _ in rows}) >= 1
    for key, rows in by_key.items():
        assert len({pid for pid, _, _ in rows}) == 1, f"{key} went to more than one partition"
        in_hub_order = [body["ingest_timestamp"] for _, _, body in sorted(rows, key=lambda r: r[1])]
        assert in_hub_order == sorted(in_hub_order) and len(in_hub_order) == 60


def test_an_explicit_cap_below_the_hubs_limit_is_kept(start_hub):
    hub = start_hub(max_message_size=SMALL_HUB_BYTES)
    sink = EventHubSink(EventHubSettings(HUB, send_timeout_s=10.0, max_batch_bytes=4_000),
                        connection_string=hub.connection_string)
    try:
        result = sink.send(outbox_rows(n_keys=1, per_key=30))
    finally:
        sink.close()
    assert len(result.failed) == 0 and len(result.sent) == 30
    assert max(hub.transfer_sizes) <= 4_000 and len(hub.transfer_sizes) > 1
