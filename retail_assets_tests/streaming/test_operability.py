"""What an operator sees in Dagster when streaming goes wrong: a failed run whose message names the
cause and the fix (sink unreachable, outbox locked), the outbox checks (dead letters, stale
backlog), ``outbox requeue-dead``, and the core modules' log lines in the run's logs."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from retail_assets import cli
from retail_assets.defs.keys import OUTBOX_KEY
from retail_assets.defs.resources import RetailSettings
from retail_assets.defs.streaming.checks import OUTBOX_CHECK_NAMES, outbox_checks
from retail_assets.defs.streaming.jobs import OUTBOX_RESOURCE_KEY, outbox_resource, stream_outbox
from retail_assets.streaming.health import BACKLOG_NOT_STALE, NO_DEAD_LETTERS, evaluate_outbox
from retail_assets.streaming.outbox import Outbox, outbox_path
from retail_assets.streaming.sinks import SendResult
from retail_assets.streaming.sinks.local import LocalDeltaSink

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cr3tKEY"


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _resources(home, lock_wait_seconds: float = 30.0) -> dict:
    return {
        "retail_settings": RetailSettings(scale_factor="0.01", start_date="2024-03-04", home=str(home.home)),
        OUTBOX_RESOURCE_KEY: outbox_resource(home, lock_wait_seconds=lock_wait_seconds),
    }


def _run(home, instance, lock_wait_seconds: float = 30.0, **config) -> dg.ExecuteInProcessResult:
    return stream_outbox.execute_in_process(
        run_config={"ops": {"stream_outbox_op": {"config": {"max_seconds": 120, **config}}}},
        resources=_resources(home, lock_wait_seconds),
        instance=instance,
        raise_on_error=False,
    )


def _failure(result: dg.ExecuteInProcessResult):
    data = result.failure_data_for_node("stream_outbox_op")
    assert data is not None and data.user_failure_data is not None, "the run must fail with a dg.Failure"
    return data.user_failure_data


def _check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key == OUTBOX_KEY}


@pytest.fixture
def eventhub_outage(monkeypatch) -> None:
    conn = f"Endpoint=sb://127.0.0.1:{_closed_port()};SharedAccessKeyName=k;SharedAccessKey={SECRET};UseDevelopmentEmulator=true"
    monkeypatch.setenv("AZURE_EVENTHUB_CONNECTION_STRING", conn)


EVENTHUB_CONFIG = {"sink": "eventhub", "eventhub_name": "retail", "send_timeout_s": 2.0, "backoff_s": 0.0}


def test_unreachable_sink_fails_the_run_names_the_fix_and_loses_nothing(home, eventhub_outage):
    with dg.instance_for_test() as instance:
        result = _run(home, instance, max_attempts=5, **EVENTHUB_CONFIG)
        assert not result.success
        failure = _failure(result)
        checks = _check_evaluations(result)
    text = failure.description
    for fragment in ("eventhub sink is unreachable", "Nothing is lost", "AZURE_EVENTHUB_CONNECTION_STRING",
                     "hub name", "network", "retries on its next tick"):
        assert fragment in text, fragment
    meta = {k: v.value for k, v in failure.metadata.items()}
    assert SECRET not in text and SECRET not in json.dumps(meta, default=str)
    status = Outbox.in_state_dir(home.state_dir).status()
    assert status["sent"] == 0 and status["pending"] + status["leased"] > 0  # the whole day is still there
    assert meta["pending"] + meta["leased"] == status["pending"] + status["leased"]
    assert meta["sink"] == "eventhub" and meta["max_attempts_used"] >= 1 and meta["attempt_limit"] == 5
    assert "Event Hubs send failed" in meta["error"]
    assert set(checks) == set(OUTBOX_CHECK_NAMES) and checks[NO_DEAD_LETTERS].passed


def test_dead_letters_fail_their_check_and_requeue_dead_puts_them_back(home, eventhub_outage, monkeypatch, capsys):
    with dg.instance_for_test() as instance:
        result = _run(home, instance, max_attempts=1, min_retry_window_s=0.0, **EVENTHUB_CONFIG)
        dead_check = _check_evaluations(result)[NO_DEAD_LETTERS]
    dead = Outbox.in_state_dir(home.state_dir).status()["dead"]
    assert dead > 0 and not dead_check.passed and dead_check.severity == dg.AssetCheckSeverity.ERROR
    assert f"{dead:,} events are DEAD" in dead_check.description
    assert "requeue-dead --yes" in dead_check.description and "Event Hubs send failed" in dead_check.description
    example = dead_check.metadata["examples"].value[0]
    assert example["event_id"] in dead_check.description

    monkeypatch.setenv("RETAIL_ASSETS_HOME", str(home.home))
    assert cli.main(["outbox", "requeue-dead"]) == 2  # refuses without --yes
    assert cli.main(["outbox", "requeue-dead", "--event-type", "no_such_type", "--yes"]) == 2
    capsys.readouterr()
    assert cli.main(["outbox", "requeue-dead", "--event-type", example["event_type"], "--yes"]) == 0
    one_type = json.loads(capsys.readouterr().out)
    assert one_type["by_event_type"] == {example["event_type"]: one_type["requeued"]} and one_type["requeued"] > 0
    assert cli.main(["outbox", "requeue-dead", "--yes"]) == 0
    rest = json.loads(capsys.readouterr().out)
    assert one_type["requeued"] + rest["requeued"] == dead

    status = Outbox.in_state_dir(home.state_dir).status()
    assert status["dead"] == 0 and status["pending"] == dead
    with Outbox.in_state_dir(home.state_dir).hold() as outbox, outbox._session() as conn:
        attempts, noted = conn.execute(
            "SELECT max(attempts), bool_and(last_error LIKE 'requeued at %Event Hubs send failed%') FROM streaming_outbox"
        ).fetchone()
    assert attempts == 0 and noted


class FailsAfterFirstBatch(LocalDeltaSink):
    """The real local sink for the first batch, then an outage (a sink that dies mid-run)."""

    def __init__(self, lake_root: str) -> None:
        super().__init__(lake_root)
        self.calls = 0

    def send(self, events: pa.Table) -> SendResult:
        self.calls += 1
        if self.calls == 1:
            return super().send(events)
        seqs = events.column("outbox_seq").combine_chunks()
        return SendResult(sent=pa.array([], pa.int64()), failed=seqs, errors=["sink went away"] * len(seqs))


def test_a_sink_failing_part_way_keeps_the_run_green_with_a_warning(home, monkeypatch):
    from retail_assets.streaming.sinks import factory

    monkeypatch.setattr(factory, "build_sink", lambda kind, root, *_, **__: FailsAfterFirstBatch(root))
    with dg.instance_for_test() as instance:
        result = _run(home, instance, batch_size=500, backoff_s=0.0)
        assert result.success
        warnings = [
            e.message for e in instance.all_logs(result.run_id) if e.level == 30 and "failed part-way" in (e.message or "")
        ]
        observation = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"][-1]
    assert warnings and "sink went away" in warnings[0] and "next run retries them" in warnings[0]
    assert observation.event_specific_data.asset_observation.metadata["sink_error"].value == "sink went away"
    status = Outbox.in_state_dir(home.state_dir).status()
    assert status["sent"] == 500 and status["pending"] + status["leased"] > 0


def test_a_locked_outbox_fails_the_run_naming_the_file_the_holder_and_the_fix(home):
    Outbox.in_state_dir(home.state_dir).status()
    database = outbox_path(home.state_dir)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(60)",
         str(database)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with dg.instance_for_test() as instance:
            result = _run(home, instance, lock_wait_seconds=1.0)
            assert not result.success
            failure = _failure(result)
    finally:
        holder.kill()
        holder.wait()
    assert str(database) in failure.description
    assert "retail-assets stream" in failure.description and "re-execute this run" in failure.description
    assert failure.metadata["database"].value == str(database)


def test_backlog_check_warns_once_events_wait_longer_than_the_limit(home, monkeypatch):
    from retail_assets.streaming.events import EVENTS_SCHEMA

    outbox = Outbox.in_state_dir(home.state_dir)
    day = datetime(2024, 3, 4, tzinfo=UTC)
    events = pa.table(
        {
            "outbox_seq": pa.array([1, 2], pa.int64()),
            "event_date": pa.array([day.date()] * 2, pa.date32()),
            "event_ts": pa.array([day, day], EVENTS_SCHEMA.field("event_ts").type),
            "event_type": ["receipt_created"] * 2,
            "event_id": ["e1", "e2"],
            "partition_key": ["s1", "s1"],
            "body": ["{}", "{}"],
        },
        schema=EVENTS_SCHEMA,
    )
    outbox.enqueue_day(day.date(), events)
    status = outbox.status()
    assert status["oldest_open_enqueued_ts"] is not None
    now = datetime.now(UTC)
    fresh = {v.name: v for v in evaluate_outbox(status, now=now, stale=timedelta(minutes=60))}
    late = {v.name: v for v in evaluate_outbox(status, now=now + timedelta(hours=2), stale=timedelta(minutes=60))}
    assert fresh[BACKLOG_NOT_STALE].passed
    assert not late[BACKLOG_NOT_STALE].passed and late[BACKLOG_NOT_STALE].severity == "WARN"
    assert "2 events have waited" in late[BACKLOG_NOT_STALE].description
    assert "outbox_sensor" in late[BACKLOG_NOT_STALE].description

    # the same rules, executed as the outbox's own asset checks (the UI's "Execute" on the Checks tab)
    monkeypatch.setenv("RETAIL_ASSETS_OUTBOX_STALE_MINUTES", "0.0001")
    defs = dg.Definitions(
        asset_checks=[outbox_checks],
        resources={"retail_settings": _resources(home)["retail_settings"]},
    )
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance)
    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evals[NO_DEAD_LETTERS].passed
    assert not evals[BACKLOG_NOT_STALE].passed and evals[BACKLOG_NOT_STALE].severity == dg.AssetCheckSeverity.WARN


def test_the_shipped_dagster_yaml_puts_core_log_lines_in_the_run_logs(home, tmp_path):
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        result = _run(home, instance, max_events=100_000)
        assert result.success
        logs = [e for e in instance.all_logs(result.run_id) if e.user_message]
    lines = [(e.run_id, e.user_message) for e in logs]
    assert any(run == result.run_id and "day 2024-03-04 (stream path): generated" in msg for run, msg in lines)
    assert any("day 2024-03-04 (stream path): wrote" in msg for _, msg in lines)  # the day pipeline's step
    assert any(msg.startswith("drain: ") and "events/s" in msg for _, msg in lines)
    evals = _check_evaluations(result)
    assert set(evals) == set(OUTBOX_CHECK_NAMES) and all(e.passed for e in evals.values())
