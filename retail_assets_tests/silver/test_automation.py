"""Silver rebuilds itself for exactly the days whose Bronze inputs were updated (any day, not only
the latest), once per update, and only when nothing upstream is still running."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from retail_assets.definitions import defs as load_defs
from retail_assets.defs.silver.automation import SILVER_AUTOMATION_SENSOR, silver_automation_sensor
from retail_assets_tests.silver.conftest import DAY1

OLD_DAY = (DAY1 + timedelta(days=3)).isoformat()
OTHER_DAY = (DAY1 + timedelta(days=4)).isoformat()
SILVER = dg.AssetSelection.groups("silver")


def land(instance, key: list[str], day: str) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=dg.AssetKey(key), partition=day))


def test_event_landing_requests_that_days_silver_once():
    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=SILVER)
    assert first.total_requested == 0

    land(instance, ["cusn", "receipt_created"], OLD_DAY)  # a streaming run touched an older day
    second = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=SILVER, cursor=first.cursor
    )
    assert second.get_requested_partitions(dg.AssetKey(["ag", "fact_receipts"])) == {OLD_DAY}
    assert second.get_num_requested(dg.AssetKey(["ag", "fact_payments"])) == 0
    assert second.total_requested == 1

    third = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=SILVER, cursor=second.cursor
    )
    assert third.total_requested == 0


def test_batch_write_requests_the_tables_of_that_day():
    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=SILVER)
    for table in ("fact_store_ops", "fact_truck_inventory"):
        land(instance, ["cusn", table], OTHER_DAY)
    second = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=SILVER, cursor=first.cursor
    )
    assert second.get_requested_partitions(dg.AssetKey(["ag", "fact_store_ops"])) == {OTHER_DAY}
    assert second.get_requested_partitions(dg.AssetKey(["ag", "fact_truck_inventory"])) == {OTHER_DAY}
    assert second.total_requested == 2


def test_the_silver_automation_sensor_runs_by_default():
    assert silver_automation_sensor.name == SILVER_AUTOMATION_SENSOR
    assert silver_automation_sensor.default_status == dg.DefaultSensorStatus.RUNNING
