"""Event Hubs benchmark: one day through the real ``azure-eventhub`` client against the test suite's
fake namespace (real AMQP 1.0 over loopback), then back into Bronze with ``consume_to_bronze``.

Measures (issue 11):
* the ceiling: the client's own offline batch-building rate (``EventData`` + ``EventDataBatch.add``
  grouped by partition key, as the sink does, no network);
* send throughput: ``EventHubSink.send`` of the day in drain-sized leases (events/s);
* ingest throughput: ``consume_to_bronze`` from the first partition link to the last landed batch.
The fake endpoint runs in this process (one Python thread), so the figures are a floor for what the
client does against a real namespace, not a prediction of one.

    .venv/bin/python bench/bench_eventhub.py [--scale-factor 0.1] [--day 2024-03-05] [--hub-max-bytes 1048576]
        [--ingest-batch-size 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fake endpoint lives in the test package

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.generate.day import generate_day
from retail_assets.generate.dimensions import build_dimensions
from retail_assets.streaming.drain import DEFAULT_BATCH_SIZE
from retail_assets.streaming.events import build_day_events
from retail_assets.streaming.sinks.eventhub import (
    EventHubSettings,
    EventHubSink,
    consume_to_bronze,
    event_data,
)
from retail_assets_tests.eventhubs.fake_endpoint import FakeEventHub


def offline_batch_rate(events: pa.Table, max_bytes: int) -> tuple[float, int]:
    """Events/s of building the batches alone (the client-side ceiling of any send), and batches built."""
    from azure.eventhub import EventDataBatch

    from retail_assets.streaming.sinks.eventhub import _groups_by_key

    bodies, ids, types = (events[c].to_pylist() for c in ("body", "event_id", "event_type"))
    batches = 0
    t0 = time.perf_counter()
    for key, rows in _groups_by_key(events["partition_key"]):
        batch = EventDataBatch(max_size_in_bytes=max_bytes, partition_key=key)
        batches += 1
        for i in rows:
            data = event_data(bodies[i], ids[i], types[i])
            try:
                batch.add(data)
            except ValueError:
                batch = EventDataBatch(max_size_in_bytes=max_bytes, partition_key=key)
                batches += 1
                batch.add(data)
    return events.num_rows / (time.perf_counter() - t0), batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale-factor", type=float, default=0.1)
    ap.add_argument("--day", default="2024-03-05")
    ap.add_argument("--hub-max-bytes", type=int, default=1_048_576, help="the link's max message size (Standard: 1 MB)")
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="events per lease (drain default)")
    ap.add_argument("--ingest-batch-size", type=int, default=1000, help="consume_to_bronze max_batch_size")
    args = ap.parse_args()
    day = date.fromisoformat(args.day)
    dataset = DatasetSettings(scale_factor=args.scale_factor, start_date=day)
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": tempfile.mkdtemp(prefix="bench_eventhub_")})
    pipeline.build_and_write_dimensions(home, dataset)
    dims = build_dimensions(dataset)
    result = generate_day(dataset, dims, pipeline.load_prev_state(home, dataset, dims, day), day)
    events = build_day_events(result.tables, dataset.dataset_id, dataset.start_date, day)
    del result, dims
    n = events.num_rows

    ceiling, offline_batches = offline_batch_rate(events, args.hub_max_bytes)
    with FakeEventHub(max_message_size=args.hub_max_bytes, lifetime_s=3600) as hub:
        sink = EventHubSink(EventHubSettings("retail", send_timeout_s=60), connection_string=hub.connection_string)
        t0 = time.perf_counter()
        sent = 0
        for start in range(0, n, args.batch_size):
            outcome = sink.send(events.slice(start, args.batch_size))
            assert len(outcome.failed) == 0, outcome.errors[:1]
            sent += len(outcome.sent)
        t_send = time.perf_counter() - t0
        sink.close()
        assert sent == n and len(hub.events()) == n
        transfers, biggest = len(hub.transfer_sizes), max(hub.transfer_sizes)
        t0 = time.perf_counter()
        ingest = consume_to_bronze(home.lake_root, Path(home.state_dir) / "checkpoints", "retail", max_events=n,
                                   max_seconds=3600, connection_string=hub.connection_string,
                                   max_batch_size=args.ingest_batch_size, max_wait_s=1.0)
        t_ingest = time.perf_counter() - t0
    assert ingest.error is None and ingest.report.landed_total == n, (ingest.error, ingest.report.landed_total)
    print(json.dumps({
        "scale_factor": args.scale_factor,
        "day": day.isoformat(),
        "events": n,
        "hub_max_message_bytes": args.hub_max_bytes,
        "offline_batch_build_events_per_s": round(ceiling),
        "offline_batches": offline_batches,
        "send_s": round(t_send, 2),
        "send_events_per_s": round(n / t_send),
        "send_share_of_ceiling": round((n / t_send) / ceiling, 3),
        "transfers": transfers,
        "largest_transfer_bytes": biggest,
        "ingest_s": round(t_ingest, 2),
        "ingest_events_per_s": round(n / t_ingest),
        "ingest_batch_size": args.ingest_batch_size,
        "ingest_batches": ingest.batches,
    }, indent=2))


if __name__ == "__main__":
    main()
