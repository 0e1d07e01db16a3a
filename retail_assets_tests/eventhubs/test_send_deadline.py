"""A namespace that never answers the put-token: every send ends at its deadline, nothing is lost.

The SDK's own timeouts do not hold while authentication gets no answer (one drain batch took 243 s
with a 10 s send timeout); the sink runs each network call under a hard deadline instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date

from retail_assets.streaming.drain import DrainSettings
from retail_assets.streaming.outbox import Outbox, OutboxSettings
from retail_assets.streaming.runner import StreamSettings, stream_once
from retail_assets.streaming.sinks.eventhub import EventHubSettings, EventHubSink
from retail_assets_tests.eventhubs.conftest import HUB

DEADLINE_S = 1.0
MARGIN_S = 3.0  # thread start + releasing the abandoned client, on a busy 2-core machine


class TimedSink(EventHubSink):
    """The real sink; records how long each whole ``send`` (one drain batch) took."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.durations: list[float] = []

    def send(self, events):
        t0 = time.monotonic()
        try:
            return super().send(events)
        finally:
            self.durations.append(time.monotonic() - t0)


def _wait_until(predicate, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_unanswered_put_token_ends_each_send_at_its_deadline_releases_the_client_and_loses_nothing(
    start_hub, retail_env, dataset_settings
):
    hub = start_hub(answer_put_token=False)
    sink = TimedSink(EventHubSettings(HUB, send_timeout_s=DEADLINE_S, retry_total=2),
                     connection_string=hub.connection_string)
    settings = StreamSettings(
        drain=DrainSettings(max_seconds=30, batch_size=500),  # several drain batches per run
        outbox=OutboxSettings(max_attempts=5, backoff_base_s=600),  # each batch fails once, then waits
    )
    outbox = Outbox.in_state_dir(retail_env.state_dir, settings=settings.outbox)
    try:
        first = stream_once(retail_env, dataset_settings, sink, "run-1", settings, outbox=outbox, log=lambda m: None,
                            today=date(2024, 1, 5))
        assert first.enqueued > 500 and first.drain.sent == 0
        assert first.drain.stop_reason.startswith("sink failing")
        assert f"no answer from {hub.namespace} within 1 s (unreachable, or authentication/put-token unanswered)" in (
            first.drain.last_error)
        assert len(sink.durations) == 3 and max(sink.durations) < DEADLINE_S + MARGIN_S
        assert hub.put_token_requests >= 3 and sink.abandoned == 3  # a fresh client for every send
        assert _wait_until(lambda: hub.open_connections == 0, 5.0), "the abandoned clients' sockets stay open"
        status = outbox.status()
        # failed events wait out their back-off (held as LEASED until it ends), then are PENDING again
        assert status["pending"] + status["leased"] == first.enqueued and status["sent"] == status["dead"] == 0
        second = stream_once(retail_env, dataset_settings, sink, "run-2", settings, outbox=outbox, log=lambda m: None,
                             today=date(2024, 1, 5))
        assert second.generated_day is None and second.drain.sent == 0
        assert second.drain.leased == first.enqueued - first.drain.leased  # the rest of the day, tried once
        rest_batches = -(-second.drain.leased // settings.drain.batch_size)
        assert rest_batches >= 1 and second.drain.batches == rest_batches
        assert len(sink.durations) == 3 + rest_batches and max(sink.durations) < DEADLINE_S + MARGIN_S
        status = outbox.status()
        assert status["pending"] + status["leased"] == first.enqueued and status["sent"] == status["dead"] == 0
    finally:
        sink.close()


def test_the_cli_reports_the_unanswered_namespace_and_keeps_the_day(start_hub, retail_env):
    hub = start_hub(answer_put_token=False)
    env = {**os.environ, "AZURE_EVENTHUB_CONNECTION_STRING": hub.connection_string}
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "retail-assets"), "stream", "--sink", "eventhub",
         "--eventhub-name", HUB, "--send-timeout-s", "1", "--max-seconds", "30"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["enqueued"] > 0 and out["sent"] == 0 and out["failed"] == out["enqueued"]
    assert "no answer from" in out["last_error"] and "put-token unanswered" in out["last_error"]
    assert "fake-key-not-a-secret" not in proc.stdout + proc.stderr
    assert out["outbox"]["pending"] + out["outbox"]["leased"] == out["enqueued"] and out["outbox"]["dead"] == 0
