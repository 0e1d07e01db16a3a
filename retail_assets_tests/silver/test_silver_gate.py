"""The Silver gate: a day's Silver is requested only once the day is complete, all 18 tables in one
run, and then every check of every table passes.

The stream day is the real streaming path (generate → outbox → two bounded drains into the local
Delta sink); the sensor is the real ``silver_day_sensor`` evaluated between the two runs.
"""

from __future__ import annotations

import dagster as dg
import pytest

from retail_assets import pipeline
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.defs.silver.assets import SILVER_ASSETS
from retail_assets.defs.silver.gate import SILVER_DAYS_TAG, SILVER_FACT_KEYS, silver_day_sensor
from retail_assets.lake.ledger import Ledger
from retail_assets.streaming.drain import DrainSettings
from retail_assets.streaming.runner import StreamSettings, stream_once
from retail_assets.streaming.sinks.local import LocalDeltaSink
from retail_assets_tests.silver.conftest import DAY1, DAY2, SETTINGS, make_home, retail_settings_resource
from retail_assets_tests.silver.test_checks_dagster import silver_resources


def evaluate(instance, home, cursor):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"retail_settings": retail_settings_resource(home)}
    )
    result = silver_day_sensor(context)
    if isinstance(result, dg.SkipReason):
        return [], context.cursor, result.skip_message
    skip = result.skip_reason.skip_message if result.skip_reason else None
    return list(result.run_requests or []), result.cursor or context.cursor, skip


def stream(home, max_events):
    settings = StreamSettings(drain=DrainSettings(max_events=max_events, batch_size=max(1, max_events // 2)))
    return stream_once(home, SETTINGS, LocalDeltaSink(home.lake_root), "gate-test", settings)


@pytest.fixture(scope="module")
def two_run_day(tmp_path_factory):
    home = make_home(tmp_path_factory.mktemp("silver_gate"))
    pipeline.build_and_write_dimensions(home, SETTINGS)
    pipeline.generate_and_write_day(home, SETTINGS, DAY1, "batch", owner="gate-test")
    return home


def test_a_stream_day_is_requested_only_once_complete_and_then_all_checks_pass(two_run_day):
    home = two_run_day
    instance = dg.DagsterInstance.ephemeral()

    requests, cursor, _ = evaluate(instance, home, None)
    assert [(r.partition_key, sorted(r.asset_selection)) for r in requests] == [(DAY1.isoformat(), sorted(SILVER_FACT_KEYS))]

    first = stream(home, max_events=2_000)  # generates DAY2, lands part of it
    assert first.generated_day == DAY2
    assert first.status["pending"] > 0, "the first run must leave part of the day in the outbox"
    assert Ledger(home.state_dir).day_record(DAY2).state == "generated"

    requests, cursor, skip = evaluate(instance, home, cursor)
    assert requests == [], "Silver must not be requested for a half-landed day"
    assert DAY2.isoformat() in skip and "not all landed" in skip and "pending" in skip

    # building it by hand is refused too, with nothing written
    manual = dg.materialize(
        SILVER_ASSETS, selection=SILVER_FACT_KEYS[:1], partition_key=DAY2.isoformat(),
        resources=silver_resources(home), instance=instance, raise_on_error=False,
    )
    assert not manual.success
    assert "not all landed" in str(manual.get_step_failure_events()[0].event_specific_data.error)

    second = stream(home, max_events=10_000_000)
    assert second.status["pending"] == second.status["leased"] == second.status["dead"] == 0
    assert second.landed_days == [DAY2]

    requests, cursor, _ = evaluate(instance, home, cursor)
    assert len(requests) == 1, "one run for the whole day"
    request = requests[0]
    assert request.partition_key == DAY2.isoformat()
    assert sorted(request.asset_selection) == sorted(SILVER_FACT_KEYS)
    assert request.tags[SILVER_DAYS_TAG] == DAY2.isoformat()

    result = dg.materialize(
        SILVER_ASSETS, selection=request.asset_selection, partition_key=request.partition_key,
        resources=silver_resources(home), instance=instance, raise_on_error=False,
    )
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert {e.asset_key for e in evaluations} == set(SILVER_FACT_KEYS)
    assert [(e.asset_key.path[-1], e.check_name) for e in evaluations if not e.passed] == []
    assert len(result.get_asset_materialization_events()) == len(FACT_TABLES)

    requests, _, skip = evaluate(instance, home, cursor)
    assert requests == [] and "nothing new is complete" in skip


def test_a_rematerialized_batch_day_is_requested_again_as_a_whole(tmp_path):
    home = make_home(tmp_path)
    pipeline.build_and_write_dimensions(home, SETTINGS)
    pipeline.generate_and_write_day(home, SETTINGS, DAY1, "batch", owner="gate-test")
    instance = dg.DagsterInstance.ephemeral()
    requests, cursor, _ = evaluate(instance, home, None)
    assert [r.partition_key for r in requests] == [DAY1.isoformat()]
    assert evaluate(instance, home, cursor)[0] == []

    pipeline.generate_and_write_day(home, SETTINGS, DAY1, "batch", owner="gate-test")  # re-materialized
    requests, _, _ = evaluate(instance, home, cursor)
    assert [(r.partition_key, len(r.asset_selection)) for r in requests] == [(DAY1.isoformat(), len(FACT_TABLES))]


def test_a_day_whose_generation_stopped_part_way_is_not_requested(tmp_path):
    home = make_home(tmp_path)
    pipeline.build_and_write_dimensions(home, SETTINGS)
    Ledger(home.state_dir).claim(DAY1, "batch", "crashed-run")  # claimed; the process died before its last commit
    requests, _, skip = evaluate(dg.DagsterInstance.ephemeral(), home, None)
    assert requests == []
    assert "still being generated, or its generation stopped part-way" in skip


def test_a_day_whose_silver_is_already_current_is_not_requested_again(tmp_path):
    home = make_home(tmp_path)
    pipeline.build_and_write_dimensions(home, SETTINGS)
    pipeline.generate_and_write_day(home, SETTINGS, DAY1, "batch", owner="gate-test")
    instance = dg.DagsterInstance.ephemeral()
    built = dg.materialize(  # e.g. the demo built Silver before the sensor ever ran
        SILVER_ASSETS, selection=SILVER_FACT_KEYS, partition_key=DAY1.isoformat(),
        resources=silver_resources(home), instance=instance,
    )
    assert built.success
    requests, cursor, skip = evaluate(instance, home, None)
    assert requests == [] and "nothing new is complete" in skip
    assert DAY1.isoformat() in cursor
