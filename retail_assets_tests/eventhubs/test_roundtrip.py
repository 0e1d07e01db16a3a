"""The real producer path end to end: ``retail-assets stream --sink eventhub`` → a hub speaking
AMQP 1.0 → ``consume_to_bronze`` → the same Bronze as the local sink gives for the same day."""

from __future__ import annotations

import json

from retail_assets.contract.events import SCHEMA_VERSION
from retail_assets.streaming.sinks.eventhub import consume_to_bronze
from retail_assets.streaming.sinks.local import LocalDeltaSink
from retail_assets_tests.eventhubs.bronze import bronze_events, outbox_table, run_cli
from retail_assets_tests.eventhubs.conftest import HUB
from retail_assets_tests.eventhubs.fake_endpoint import BASIC_TIER_MAX_MESSAGE_SIZE


def test_stream_through_the_hub_then_ingest_equals_the_local_sinks_bronze(
    start_hub, retail_env, tmp_path
):
    hub = start_hub()  # a Basic-tier limit (256 KB): the day's busiest store key holds ≈1.2 MB
    proc = run_cli("stream", "--sink", "eventhub", "--eventhub-name", HUB, "--max-seconds", "60",
                   env={"AZURE_EVENTHUB_CONNECTION_STRING": hub.connection_string})
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["enqueued"] > 0 and out["sent"] == out["enqueued"], (out, proc.stderr[-2000:])
    assert hub.rejected_transfers == 0 and max(hub.transfer_sizes) <= BASIC_TIER_MAX_MESSAGE_SIZE

    # what the hub holds: one message per event, id/properties/partition key from the outbox row
    outbox = outbox_table(retail_env.state_dir)
    sent = list(zip(*(outbox[c].to_pylist() for c in ("event_id", "partition_key", "body")), strict=True))
    body_by_id = {event_id: body for event_id, _, body in sent}
    stored = hub.events()
    assert len(stored) == len(sent)
    for event in stored:
        message = event.message()
        body = bytes(message.body).decode("utf-8")
        assert body == body_by_id[message.id]
        envelope = json.loads(body)
        assert message.properties == {"Table": envelope["event_type"], "schema_version": SCHEMA_VERSION}
        assert event.partition_key == envelope["partition_key"]

    ingest = consume_to_bronze(retail_env.lake_root, tmp_path / "checkpoints", HUB, max_events=len(sent),
                               max_seconds=60, connection_string=hub.connection_string, max_wait_s=1.0)
    assert ingest.error is None and ingest.events == len(sent)
    assert ingest.report.landed_total == len(sent) and ingest.report.rejected_total == 0

    # the same day's events through the local sink (what `stream --sink local` lands)
    reference_lake = str(tmp_path / "reference_lake")
    local = LocalDeltaSink(reference_lake).send(outbox)
    assert len(local.sent) == len(sent) and local.landing.landed_total == len(sent)
    via_hub, via_local = bronze_events(retail_env.lake_root), bronze_events(reference_lake)
    assert sorted(via_hub) == sorted(via_local)
    for name, table in via_local.items():
        assert via_hub[name].equals(table), name

    # per partition key, the hub delivered the events in the order the outbox sent them
    landed = [row for t in bronze_events(retail_env.lake_root, keep_transport=True).values()
              for row in t.select(["event_id", "partition_key", "_eh_partition_id", "_eh_sequence_number"]).to_pylist()]
    by_key: dict[str, list[tuple[str, int, str]]] = {}
    for row in landed:
        by_key.setdefault(row["partition_key"], []).append(
            (row["_eh_partition_id"], row["_eh_sequence_number"], row["event_id"]))
    expected: dict[str, list[str]] = {}
    for event_id, key, _ in sent:
        expected.setdefault(key, []).append(event_id)
    assert {k: [e for _, _, e in sorted(rows)] for k, rows in by_key.items()} == expected
    assert all(len({pid for pid, _, _ in rows}) == 1 for rows in by_key.values())
