"""When the stream generates, how far it goes, and what the operator sees (``streaming/policy.py``).

DEAD events block the next day in every place an operator looks (CLI exit code, ``outbox status``,
the sensor's skip reason, the run's failure); the stream stops at its end and says how to extend
it; the disk guard refuses a day with free vs needed; ``retail-assets stream`` exit codes; and the
first tests of paced drains (``replay`` and ``realtime``), measured at a recording sink shim.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pyarrow as pa
import pytest

from retail_assets import cli
from retail_assets.config import ConfigError, parse_stream_until, stream_until_from_env
from retail_assets.defs.resources import RetailSettings
from retail_assets.defs.streaming.jobs import OUTBOX_RESOURCE_KEY, outbox_resource, stream_outbox
from retail_assets.defs.streaming.sensors import outbox_sensor
from retail_assets.lake.ledger import Ledger
from retail_assets.streaming.drain import DrainSettings, drain
from retail_assets.streaming.events import EVENTS_SCHEMA
from retail_assets.streaming.outbox import Outbox, OutboxSettings
from retail_assets.streaming.runner import StreamSettings, stream_once
from retail_assets.streaming.sinks import SendResult
from retail_assets_tests.streaming.recording_sink import RecordingSink

START = date(2024, 3, 4)
FIX = "retail-assets outbox requeue-dead --yes"


@pytest.fixture
def env(home, monkeypatch):
    """The CLI, the sensor and the job read the same home and dataset (sf 0.01, start 2024-03-04)."""
    monkeypatch.setenv("RETAIL_ASSETS_HOME", str(home.home))
    monkeypatch.setenv("RETAIL_ASSETS_SCALE_FACTOR", "0.01")
    monkeypatch.setenv("RETAIL_ASSETS_START_DATE", START.isoformat())
    for name in ("RETAIL_ASSETS_LAKE_ROOT", "RETAIL_ASSETS_STREAM_UNTIL", "RETAIL_ASSETS_MIN_FREE_GB",
                 "RETAIL_ASSETS_STREAM_SINK"):
        monkeypatch.delenv(name, raising=False)
    return home


def _events(day: date, stamps: list[datetime], first_seq: int = 1) -> pa.Table:
    n = len(stamps)
    return pa.table(
        {
            "outbox_seq": pa.array(range(first_seq, first_seq + n), pa.int64()),
            "event_date": pa.array([day] * n, pa.date32()),
            "event_ts": pa.array(stamps, EVENTS_SCHEMA.field("event_ts").type),
            "event_type": ["receipt_created"] * n,
            "event_id": [f"e{first_seq + i}" for i in range(n)],
            "partition_key": ["store:1"] * n,
            "body": ["{}"] * n,
        },
        schema=EVENTS_SCHEMA,
    )


def _streamed_day(home, day: date, n: int = 3, status: str | None = None) -> Outbox:
    """A day claimed by the stream path and enqueued; optionally every event forced to ``status``."""
    Ledger(home.state_dir).claim(day, "stream", "test")
    outbox = Outbox.in_state_dir(home.state_dir)
    base = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    outbox.enqueue_day(day, _events(day, [base + timedelta(minutes=i) for i in range(n)]))
    if status is not None:
        with outbox.hold(), outbox._session() as conn:
            conn.execute("UPDATE streaming_outbox SET status = ?, last_error = 'sink said no'", [status])
    return outbox


def _settings(home) -> RetailSettings:
    return RetailSettings(scale_factor="0.01", start_date=START.isoformat(), home=str(home.home))


def _sensor(home, instance):
    return outbox_sensor(dg.build_sensor_context(instance=instance, resources={"retail_settings": _settings(home)}))


def _skip_text(result) -> str:
    skip = result.skip_reason if isinstance(result, dg.SensorResult) else result
    return getattr(skip, "skip_message", None) or str(skip)


def _job(home, instance, **config) -> dg.ExecuteInProcessResult:
    return stream_outbox.execute_in_process(
        run_config={"ops": {"stream_outbox_op": {"config": {"max_seconds": 60, **config}}}},
        resources={"retail_settings": _settings(home), OUTBOX_RESOURCE_KEY: outbox_resource(home)},
        instance=instance,
        raise_on_error=False,
    )


def _job_failure(result: dg.ExecuteInProcessResult):
    assert not result.success
    data = result.failure_data_for_node("stream_outbox_op")
    assert data is not None and data.user_failure_data is not None, "the run must fail with a dg.Failure"
    return data.user_failure_data


def _cli(capsys, *argv: str) -> tuple[int, dict]:
    code = cli.main(list(argv))
    return code, json.loads(capsys.readouterr().out)


# --- DEAD events block the next day, and every view says so ------------------------------------


def test_dead_events_block_the_next_day_in_the_cli_the_status_the_sensor_and_the_job(env, capsys):
    home = env
    _streamed_day(home, START, n=3, status="DEAD")

    code, out = _cli(capsys, "stream", "--max-seconds", "30")
    assert (code, out["outcome"], out["generated_day"]) == (6, "blocked", None)
    assert f"day {START.isoformat()} has 3 DEAD events" in out["blocked_reason"] and FIX in out["blocked_reason"]

    code, status = _cli(capsys, "outbox", "status")
    assert code == 0 and status["blocked"] is True and status["next_day"] == "2024-03-05"
    assert START.isoformat() in status["blocked_reason"] and "dead 3" in status["blocked_reason"]

    with dg.instance_for_test() as instance:
        tick = _sensor(home, instance)
        assert not tick.run_requests
        reason = _skip_text(tick)
        assert START.isoformat() in reason and "dead 3" in reason and FIX in reason

        failure = _job_failure(_job(home, instance))
    assert START.isoformat() in failure.description and FIX in failure.description
    assert failure.metadata["blocked_day"].value == START.isoformat()
    assert Ledger(home.state_dir).claimed_days() == {START: "stream"}  # no new day anywhere


def test_requeued_events_unblock_the_stream(env, capsys):
    home = env
    _streamed_day(home, START, n=3, status="DEAD")
    assert cli.main(["outbox", "requeue-dead", "--yes"]) == 0
    capsys.readouterr()
    _, status = _cli(capsys, "outbox", "status")
    assert status["blocked"] is False and status["blocked_reason"] is None
    with dg.instance_for_test() as instance:
        assert len(_sensor(home, instance).run_requests) == 1  # a run is launched to send them


# --- the stream end ----------------------------------------------------------------------------


def test_the_stream_stops_generating_at_its_end_and_the_sensor_says_how_to_extend_it(env, dataset, monkeypatch):
    home = env
    monkeypatch.setenv("RETAIL_ASSETS_STREAM_UNTIL", "+1")  # one day past "the day before the start": the start only
    settings = StreamSettings(drain=DrainSettings(max_events=10**7, max_seconds=120))
    sink = RecordingSink()
    first = stream_once(home, dataset, sink, "run-1", settings, log=lambda m: None)
    assert first.generated_day == START and first.drain.sent == first.enqueued > 0

    second = stream_once(home, dataset, sink, "run-2", settings, log=lambda m: None)
    assert second.generated_day is None and second.refusal is not None and second.refusal.kind == "end"
    assert "the next day 2024-03-05 is after 2024-03-04" in second.note
    assert "RETAIL_ASSETS_STREAM_UNTIL=+1: 1 day(s) from the start date 2024-03-04" in second.note
    assert second.blocked is None  # the end is not an error: everything was sent
    assert Ledger(home.state_dir).claimed_days() == {START: "stream"}

    with dg.instance_for_test() as instance:
        tick = _sensor(home, instance)
        assert not tick.run_requests
        assert "stream end is reached" in _skip_text(tick) and "RETAIL_ASSETS_STREAM_UNTIL" in _skip_text(tick)
        monkeypatch.setenv("RETAIL_ASSETS_STREAM_UNTIL", "2024-03-05")  # extended: the sensor streams again
        assert len(_sensor(home, instance).run_requests) == 1


def test_the_default_end_is_three_days_past_the_last_batch_day_and_bad_values_name_the_forms():
    until = stream_until_from_env({})
    assert until.kind == "days" and until.last_day(date(2024, 1, 3)) == date(2024, 1, 6)
    assert parse_stream_until("2024-02-01").last_day(date(2024, 1, 3)) == date(2024, 2, 1)
    assert parse_stream_until("today").last_day(date(2024, 1, 3)) is None
    with pytest.raises(ConfigError, match=r"YYYY|2024-03-31.*\+N.*today"):
        parse_stream_until("next week", "RETAIL_ASSETS_STREAM_UNTIL")


# --- the disk guard ----------------------------------------------------------------------------


def test_the_disk_guard_refuses_a_new_day_with_free_and_needed_space(env, capsys, monkeypatch):
    home = env
    monkeypatch.setenv("RETAIL_ASSETS_MIN_FREE_GB", "1000000")  # far above any real free space
    code, out = _cli(capsys, "stream", "--max-seconds", "30")
    assert (code, out["outcome"], out["generated_day"]) == (7, "disk", None)
    assert "GB free under RETAIL_ASSETS_HOME, 1000000.00 GB needed" in out["blocked_reason"]
    assert "RETAIL_ASSETS_MIN_FREE_GB" in out["blocked_reason"]
    with dg.instance_for_test() as instance:
        tick = _sensor(home, instance)
        assert not tick.run_requests and "not enough free disk" in _skip_text(tick)
        failure = _job_failure(_job(home, instance))
    assert "not enough free disk" in failure.description and failure.metadata["needed_gb"].value == 1_000_000
    assert Ledger(home.state_dir).claimed_days() == {}  # nothing generated, not even claimed


# --- exit codes of `retail-assets stream` ------------------------------------------------------


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_stream_exits_3_when_the_event_hubs_sink_sends_nothing(env, capsys, monkeypatch):
    _streamed_day(env, START, n=3)
    monkeypatch.setenv(
        "AZURE_EVENTHUB_CONNECTION_STRING",
        f"Endpoint=sb://127.0.0.1:{_closed_port()};SharedAccessKeyName=k;SharedAccessKey=s3cr3t;UseDevelopmentEmulator=true",
    )
    code, out = _cli(
        capsys, "stream", "--sink", "eventhub", "--eventhub-name", "retail", "--send-timeout-s", "3",
        "--backoff-s", "600", "--max-seconds", "60", "--no-generate",
    )
    assert (code, out["outcome"], out["sent"], out["failed"]) == (3, "sink_failed", 0, 3)


def test_stream_exits_4_at_max_events_and_0_once_drained(env, capsys, monkeypatch):
    from retail_assets.streaming import cli as stream_cli

    _streamed_day(env, START, n=3)
    monkeypatch.setattr(stream_cli, "build_sink", lambda *_, **__: RecordingSink())
    code, out = _cli(capsys, "stream", "--max-events", "2", "--batch-size", "2", "--no-generate")
    assert (code, out["outcome"], out["sent"]) == (4, "limit", 2)
    code, out = _cli(capsys, "stream", "--no-generate")
    assert (code, out["outcome"], out["sent"]) == (0, "drained", 1)


def test_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["stream", "--help"])
    text = capsys.readouterr().out
    assert all(f"  {code}  {name}" in text for code, name in ((0, "drained"), (3, "sink_failed"), (6, "blocked")))


# --- pacing ------------------------------------------------------------------------------------


def test_replay_sends_in_order_at_business_time_divided_by_the_speedup(home):
    import time

    day, speedup, step_s, n = START, 1800.0, 30, 121  # one business hour in 2 wall seconds
    base = datetime(2024, 3, 4, 8, tzinfo=UTC)
    outbox = Outbox.in_state_dir(home.state_dir)
    outbox.enqueue_day(day, _events(day, [base + timedelta(seconds=step_s * i) for i in range(n)]))
    sink = RecordingSink()
    t0 = time.monotonic()
    result = drain(outbox, sink, "pace", DrainSettings(pacing="replay", speedup=speedup, batch_size=4, max_seconds=60))

    assert result.sent == n and sink.seqs == list(range(1, n + 1))  # all, once, in order
    for h in sink.handoffs:  # never early: every event handed over after its replay time
        assert (max(h.event_ts) - base).total_seconds() / speedup <= h.wall_monotonic - t0 + 1e-3
    business_span = (sink.event_ts[-1] - sink.event_ts[0]).total_seconds()
    wall_span = sink.handoffs[-1].wall_monotonic - sink.handoffs[0].wall_monotonic
    assert speedup / 3 <= business_span / wall_span <= speedup * 1.25


def test_realtime_sends_past_events_at_once_and_future_ones_when_the_wall_clock_reaches_them(home):
    now = datetime.now(UTC)
    stamps = [now - timedelta(hours=1, minutes=-i) for i in range(4)] + [now + timedelta(seconds=0.4 * i) for i in (1, 2, 3)]
    outbox = Outbox.in_state_dir(home.state_dir)
    outbox.enqueue_day(now.date(), _events(now.date(), stamps))
    sink = RecordingSink()
    result = drain(outbox, sink, "live", DrainSettings(pacing="realtime", batch_size=4, max_seconds=60))

    assert result.sent == 7 and sink.seqs == list(range(1, 8)) and result.stop_reason == "drained"
    assert sink.handoffs[0].seqs == [1, 2, 3, 4]  # the past: as fast as the sink takes it
    for h in sink.handoffs:  # the future: never before its business time on the wall clock
        assert max(h.event_ts) <= h.wall_utc


class AlwaysFails(RecordingSink):
    def send(self, events: pa.Table) -> SendResult:
        super().send(events)
        seqs = events["outbox_seq"].to_numpy()
        return SendResult(failed=seqs, errors=["sink went away"] * len(seqs))


def test_a_paced_drain_does_not_wait_out_its_run_for_events_in_retry_back_off(home):
    base = datetime(2024, 3, 4, 8, tzinfo=UTC)
    outbox = Outbox.in_state_dir(home.state_dir, settings=OutboxSettings(backoff_base_s=600))
    outbox.enqueue_day(START, _events(START, [base + timedelta(seconds=i) for i in range(5)]))
    result = drain(
        outbox, AlwaysFails(), "pace",
        DrainSettings(pacing="replay", speedup=1e6, max_seconds=5, max_consecutive_failures=10),
    )
    assert result.failed == 5 and result.sent == 0
    assert not result.stop_reason.startswith("max_seconds"), result.stop_reason


# --- one streaming run at a time ---------------------------------------------------------------


def test_dagster_yaml_limits_the_streaming_jobs_and_the_sensors_runs_to_one_at_a_time(env, dataset):
    """The job's tags, the sensor's run requests and dagster.yaml's tag concurrency limit must agree,
    or two runs would race for the outbox."""
    from pathlib import Path

    import yaml

    from retail_assets.defs.streaming.assets import STREAMING_TAG

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "dagster.yaml").read_text())
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    ((key, value),) = STREAMING_TAG.items()
    assert {"key": key, "value": value, "limit": 1} in limits
    assert stream_outbox.tags.get(key) == value
    with dg.instance_for_test() as instance:
        requests = _sensor(env, instance).run_requests
    assert requests and all(r.tags.get(key) == value for r in requests)


def test_the_rules_apply_in_order_open_events_then_dead_then_today_then_the_end_then_the_disk():
    from retail_assets.streaming.policy import DayBacklog, Inputs, decide

    def kind(**changes) -> str:
        base = dict(
            next_day=date(2024, 1, 8), backlog=(), today=date(2024, 1, 7), until=parse_stream_until("+3"),
            anchor=date(2024, 1, 3), free_bytes=0, needed_bytes=1, needed_source="test",
        )
        return decide(Inputs(**{**base, **changes})).kind

    dead, open_ = DayBacklog(date(2024, 1, 5), dead=2), DayBacklog(date(2024, 1, 6), pending=1)
    assert kind(backlog=(dead, open_)) == "draining"  # a run still has work: drain first
    assert kind(backlog=(dead,)) == "blocked"
    assert kind() == "caught_up"
    assert kind(today=date(2024, 2, 1)) == "end"
    assert kind(today=date(2024, 2, 1), until=parse_stream_until("today")) == "disk"
    assert kind(today=date(2024, 2, 1), until=parse_stream_until("today"), free_bytes=2) == "generate"


# --- leases of finished Dagster runs -----------------------------------------------------------


@dg.op
def _noop() -> None:
    return None


@dg.job
def _finished_job() -> None:
    _noop()


def test_the_job_reclaims_leases_of_a_finished_run_but_not_of_one_in_progress(env, monkeypatch):
    from retail_assets.streaming.sinks import factory

    monkeypatch.setattr(factory, "build_sink", lambda *_, **__: RecordingSink())
    outbox = _streamed_day(env, START, n=4)
    with dg.instance_for_test() as instance:
        finished = _finished_job.execute_in_process(instance=instance).run_id
        in_progress = instance.create_run_for_job(_finished_job).run_id  # NOT_STARTED: still in progress
        outbox.lease(f"dagster:{finished}", 2)
        outbox.lease(f"dagster:{in_progress}", 2)

        result = _job(env, instance, generate=False)
        assert result.success
        logs = [e.message or "" for e in instance.all_logs(result.run_id)]
        observation = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"][-1]
    metadata = observation.event_specific_data.asset_observation.metadata
    assert metadata["reclaimed_leases"].value == 2
    assert metadata["leases_and_retries"].value["reclaimed"] == {f"dagster:{finished}": 2}
    assert any("reclaimed leases" in m and finished in m for m in logs)
    status = outbox.status()
    assert (status["sent"], status["leased"]) == (2, 2)  # the live run's leases are left alone
    assert {h["owner"] for h in status["lease_holders"]} == {f"dagster:{in_progress}"}
