"""Event Hubs: the real SDK against a closed port (outage), and batching at the client boundary."""

from __future__ import annotations

import json
import socket
import time
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
from azure.eventhub import EventDataBatch

from retail_assets.lake.ledger import Ledger
from retail_assets.streaming.drain import DrainSettings
from retail_assets.streaming.outbox import Outbox, OutboxSettings
from retail_assets.streaming.runner import StreamSettings, stream_once
from retail_assets.streaming.sinks.eventhub import EventHubSettings, EventHubSink

TIMEOUT_S = 2.0


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there any more
    return port


class TimedSink(EventHubSink):
    """The real sink; records how long each send (one drain batch) of the real producer took."""

    durations: list[float]

    def send(self, *args, **kwargs):
        t0 = time.monotonic()
        try:
            return super().send(*args, **kwargs)
        finally:
            self.durations.append(time.monotonic() - t0)


def test_outage_keeps_events_pending_until_dead_and_generates_no_new_day(home, dataset):
    conn = f"Endpoint=sb://127.0.0.1:{_closed_port()};SharedAccessKeyName=k;SharedAccessKey=s3cr3t;UseDevelopmentEmulator=true"
    sink = TimedSink(EventHubSettings("retail", send_timeout_s=TIMEOUT_S, retry_total=1), connection_string=conn)
    sink.durations = []
    settings = StreamSettings(
        drain=DrainSettings(max_events=10**6, max_seconds=60, batch_size=10**6, max_consecutive_failures=1),
        outbox=OutboxSettings(max_attempts=3, backoff_base_s=0, min_retry_window_s=0),
    )
    outbox = Outbox.in_state_dir(home.state_dir, settings=settings.outbox)
    today = date(2024, 3, 10)
    first = stream_once(home, dataset, sink, "run-1", settings, outbox=outbox, log=lambda m: None, today=today)
    assert first.generated_day == dataset.start_date and first.enqueued > 0
    assert first.drain.sent == 0 and first.drain.failed == first.enqueued
    assert "Event Hubs send failed" in first.drain.last_error and "s3cr3t" not in first.drain.last_error
    s = outbox.status()
    assert s["pending"] == first.enqueued and s["sent"] == 0

    for attempt in (2, 3):
        again = stream_once(home, dataset, sink, f"run-{attempt}", settings, outbox=outbox, log=lambda m: None, today=today)
        assert again.generated_day is None  # pending events block generation
        assert Ledger(home.state_dir).latest_claimed_day() == dataset.start_date
        assert outbox.enqueued_days() == {dataset.start_date: first.enqueued}
    s = outbox.status()
    assert s["dead"] == first.enqueued and s["pending"] == 0
    assert {d["attempts"] for d in s["dead_letters"]} == {3}
    assert all("ConnectError" in d["last_error"] or "send failed" in d["last_error"] for d in s["dead_letters"])
    assert sink.durations and max(sink.durations) < TIMEOUT_S + 1.5  # each send ends at its deadline
    sink.close()


class RecordingClient:
    """Test double at the producer-client boundary: records the batches it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[dict]]] = []

    def create_batch(self, partition_key: str | None = None, max_size_in_bytes: int | None = None) -> EventDataBatch:
        return EventDataBatch(max_size_in_bytes=max_size_in_bytes or 1_048_576, partition_key=partition_key)

    def send_batch(self, batch: EventDataBatch, timeout: float | None = None) -> None:
        assert timeout == 5.0
        events = [json.loads(e.body_as_str()) | {"_props": e.properties, "_mid": e.message_id} for e in batch._internal_events]
        self.sent.append((batch._partition_key, events))

    def close(self) -> None:
        pass


def _events(n_keys: int, per_key: int) -> pa.Table:
    rows = []
    seq = 0
    for t in range(per_key):
        for k in range(n_keys):
            seq += 1
            body = json.dumps({"event_id": f"id-{seq}", "event_type": "store_opened", "partition_key": f"store:{k}",
                               "ingest_timestamp": f"2024-01-01T00:00:{t:02d}.000000Z", "pad": "x" * 300})
            rows.append({"outbox_seq": seq, "event_type": "store_opened", "event_id": f"id-{seq}",
                         "partition_key": f"store:{k}", "body": body})
    return pa.Table.from_pylist(rows)


def test_batches_group_by_partition_key_split_at_size_and_keep_order():
    client = RecordingClient()
    sink = EventHubSink(EventHubSettings("hub", send_timeout_s=5.0, max_batch_bytes=4_000), client=client)
    events = _events(n_keys=3, per_key=25)
    result = sink.send(events)
    assert len(result.sent) == events.num_rows and len(result.failed) == 0
    assert all(len({pk} | {e["partition_key"] for e in evs}) == 1 for pk, evs in client.sent)
    assert len(client.sent) > 3  # 25 events of ~400 bytes per key do not fit one 4 kB batch
    per_key: dict[str, list[str]] = {}
    for pk, evs in client.sent:
        assert sum(len(json.dumps(e)) for e in evs) < 4_000 + 1_000
        per_key.setdefault(pk, []).extend(e["ingest_timestamp"] for e in evs)
    assert all(ts == sorted(ts) and len(ts) == 25 for ts in per_key.values())
    first = client.sent[0][1][0]
    assert first["_props"] == {b"Table": b"store_opened", b"schema_version": b"2.0"} or first["_props"] == {
        "Table": "store_opened", "schema_version": "2.0"}
    assert first["_mid"] == first["event_id"]
    assert sorted(result.sent.tolist()) == sorted(pc.unique(events["outbox_seq"]).to_pylist())


def test_the_table_property_is_read_from_bytes_or_text_keys():
    from retail_assets.streaming.sinks.eventhub import table_property

    assert table_property({b"Table": b"receipt_created"}) == "receipt_created"
    assert table_property({"Table": "store_opened"}) == "store_opened"
    assert table_property({b"Table": b"\xff"}) is None and table_property(None) is None
