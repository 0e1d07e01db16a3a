"""``consume_to_bronze`` against a hub: poison events are quarantined without stalling the partition,
and checkpoints let a restarted consumer read only what is new."""

from __future__ import annotations

import json
from datetime import date

from azure.eventhub import EventData, EventHubProducerClient

from retail_assets.lake import delta
from retail_assets.streaming.events import build_day_events
from retail_assets.streaming.landing import REJECTS_TABLE
from retail_assets.streaming.sinks.eventhub import consume_to_bronze
from retail_assets_tests.eventhubs.bronze import bronze_events
from retail_assets_tests.eventhubs.conftest import HUB
from retail_assets_tests.streaming.facts import DATASET_ID, DAY, contract_example_day

NOT_JSON = "this is not json {"


def _good_events() -> list[tuple[str, str, str, str]]:
    """(event_id, event_type, partition_key, body) of a small contract-example day, in outbox order."""
    t = build_day_events(contract_example_day(), DATASET_ID, date(2024, 1, 1), DAY)
    return list(zip(*(t[c].to_pylist() for c in ("event_id", "event_type", "partition_key", "body")), strict=True))


def _wrong_typed(body: str) -> str:
    """A copy of a receipt_created event (new id) whose ``subtotal`` is text instead of a number."""
    event = json.loads(body)
    event["event_id"] = "00000000-0000-5000-8000-000000000001"
    event["payload"]["subtotal"] = "forty-three"
    return json.dumps(event, separators=(",", ":"))


def _send(hub, bodies: list[str], partition_id: str = "0") -> None:
    """Straight to the hub with the SDK (not through the product's sink), in one partition."""
    producer = EventHubProducerClient.from_connection_string(hub.connection_string, eventhub_name=HUB)
    with producer:
        batch = producer.create_batch(partition_id=partition_id)
        for body in bodies:
            batch.add(EventData(body))
        producer.send_batch(batch)


def _consume(hub, lake_root: str, checkpoints, max_events: int):
    return consume_to_bronze(lake_root, checkpoints, HUB, max_events=max_events, max_seconds=30,
                             connection_string=hub.connection_string, max_wait_s=1.0)


def test_poison_events_are_quarantined_their_neighbours_land_and_the_checkpoint_advances(fake_hub, tmp_path):
    good = _good_events()
    receipt = next(body for _, kind, _, body in good if kind == "receipt_created")
    wrong = _wrong_typed(receipt)
    half = len(good) // 2
    bodies = [b for *_, b in good[:half]] + [NOT_JSON] + [b for *_, b in good[half:]] + [wrong]
    _send(fake_hub, bodies)
    lake, checkpoints = str(tmp_path / "lake"), tmp_path / "checkpoints"

    ingest = _consume(fake_hub, lake, checkpoints, max_events=len(bodies))
    assert ingest.error is None and ingest.events == len(bodies)
    assert ingest.report.landed_total == len(good) and ingest.report.rejected_total == 2
    landed = {i for t in bronze_events(lake).values() for i in t["event_id"].to_pylist()}
    assert landed == {event_id for event_id, *_ in good}
    rejects = delta.read_table(delta.table_uri(lake, "cusn", REJECTS_TABLE)).to_pylist()
    assert len(rejects) == 2
    assert any(NOT_JSON in json.dumps(r, default=str) for r in rejects)
    assert any(r["event_id"] == "00000000-0000-5000-8000-000000000001" for r in rejects)

    (checkpoint,) = [json.loads(p.read_text()) for p in checkpoints.glob("*.json")]
    assert checkpoint["partition_id"] == "0" and checkpoint["sequence_number"] == len(bodies) - 1


def test_a_restarted_consumer_reads_only_new_events(fake_hub, tmp_path):
    good = _good_events()
    first, second = good[: len(good) // 2], good[len(good) // 2 :]
    lake, checkpoints = str(tmp_path / "lake"), tmp_path / "checkpoints"
    _send(fake_hub, [b for *_, b in first], partition_id="1")
    one = _consume(fake_hub, lake, checkpoints, max_events=len(first))
    assert one.error is None and one.report.landed_total == len(first)

    _send(fake_hub, [b for *_, b in second], partition_id="1")
    two = _consume(fake_hub, lake, checkpoints, max_events=len(second))  # a new client: a restart
    assert two.error is None and two.events == len(second)
    assert two.report.landed_total == len(second) and two.report.duplicates == 0
    ids = [i for t in bronze_events(lake).values() for i in t["event_id"].to_pylist()]
    assert sorted(ids) == sorted(event_id for event_id, *_ in good)  # all of them, each once
