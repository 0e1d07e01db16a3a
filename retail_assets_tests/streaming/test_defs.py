"""Dagster wiring: the sensor's launch/skip decisions and one real stream_outbox run."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg

from retail_assets.defs.keys import BRONZE_EVENT_KEYS, OUTBOX_KEY
from retail_assets.defs.resources import RetailSettings
from retail_assets.defs.streaming.jobs import OUTBOX_RESOURCE_KEY, outbox_resource, stream_outbox
from retail_assets.defs.streaming.sensors import outbox_sensor
from retail_assets.streaming.outbox import Outbox, outbox_path


def _settings(home) -> RetailSettings:
    return RetailSettings(scale_factor="0.01", start_date="2024-03-04", home=str(home.home))


def _evaluate(instance, home):
    ctx = dg.build_sensor_context(instance=instance, resources={"retail_settings": _settings(home)})
    return outbox_sensor(ctx)


def test_sensor_launches_when_idle_and_observes_the_outbox(home):
    Outbox.in_state_dir(home.state_dir).status()  # an initialised, empty outbox
    with dg.instance_for_test() as instance:
        result = _evaluate(instance, home)
    assert isinstance(result, dg.SensorResult)
    assert len(result.run_requests) == 1
    assert result.run_requests[0].tags["retail_assets/streaming"] == "true"
    assert result.asset_events[0].asset_key == OUTBOX_KEY


def test_sensor_skips_while_a_streaming_run_is_in_flight(home):
    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(stream_outbox, run_config={}, status=dg.DagsterRunStatus.STARTED)
        result = _evaluate(instance, home)
    assert isinstance(result, dg.SkipReason)
    assert run.run_id in result.skip_message and "at most one streaming run" in result.skip_message


def test_sensor_skips_on_a_duckdb_lock_without_failing(home):
    Outbox.in_state_dir(home.state_dir).status()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(60)",
         str(outbox_path(home.state_dir))],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with dg.instance_for_test() as instance:
            result = _evaluate(instance, home)
    finally:
        holder.kill()
        holder.wait()
    assert isinstance(result, dg.SkipReason) and "locked by another process" in result.skip_message


def test_stream_outbox_job_lands_events_and_reports_partitions(home):
    resources = {"retail_settings": _settings(home), OUTBOX_RESOURCE_KEY: outbox_resource(home)}
    with dg.instance_for_test() as instance:
        result = stream_outbox.execute_in_process(
            run_config={"ops": {"stream_outbox_op": {"config": {"max_events": 100_000, "max_seconds": 120}}}},
            resources=resources,
            instance=instance,
        )
        assert result.success
        mats = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
        landed = {(m.asset_key, m.partition) for m in mats if m.asset_key in BRONZE_EVENT_KEYS.values()}
        assert (BRONZE_EVENT_KEYS["receipt_created"], "2024-03-04") in landed
        assert all(m.metadata["dagster/row_count"].value > 0 for m in mats if m.asset_key in BRONZE_EVENT_KEYS.values())
        obs = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
        assert obs and obs[-1].event_specific_data.asset_observation.metadata["pending"].value == 0
    status = Outbox.in_state_dir(home.state_dir).status()
    assert status["sent"] > 0 and status["pending"] == 0
