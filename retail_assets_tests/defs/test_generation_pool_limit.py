"""``generation_pool_sensor``: the generation pool's limit is in the instance from the first tick on.

Dagster writes a pool's default limit only when a queued run first asks for it, after its queue has
read which pools are limited; without the limit written ahead, the first backfill on a fresh instance
started all its days at once (operated: three sharded days, two refused)."""

from __future__ import annotations

import dagster as dg

from retail_assets.definitions import defs
from retail_assets.defs.generation.one_at_a_time import GENERATION_POOL
from retail_assets.defs.generation.pool_limit import GENERATION_POOL_SENSOR, generation_pool_sensor

POOLS = {"concurrency": {"pools": {"granularity": "run", "default_limit": 1}}}


def _tick(instance: dg.DagsterInstance) -> str:
    result = generation_pool_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SkipReason)
    return result.skip_message


def test_the_first_tick_writes_the_limit_and_later_ticks_find_it() -> None:
    with dg.instance_for_test(overrides=POOLS) as instance:
        assert GENERATION_POOL not in instance.event_log_storage.get_concurrency_keys()
        assert "wrote the limit" in _tick(instance)
        assert instance.event_log_storage.get_concurrency_info(GENERATION_POOL).slot_count == 1
        assert _tick(instance) == f"pool {GENERATION_POOL!r} is limited to 1 run(s) at a time"


def test_a_limit_the_operator_set_is_kept() -> None:
    with dg.instance_for_test(overrides=POOLS) as instance:
        instance.event_log_storage.set_concurrency_slots(GENERATION_POOL, 3)
        assert _tick(instance) == f"pool {GENERATION_POOL!r} is limited to 3 run(s) at a time"
        assert instance.event_log_storage.get_concurrency_info(GENERATION_POOL).slot_count == 3


def test_an_instance_without_a_default_pool_limit_is_told_the_fix_and_left_alone() -> None:
    with dg.instance_for_test() as instance:
        message = _tick(instance)
        assert "sets no default pool limit" in message and "default_limit: 1" in message
        assert GENERATION_POOL not in instance.event_log_storage.get_concurrency_keys()


def test_the_sensor_is_in_the_code_location_and_on_by_default() -> None:
    sensor = defs().get_sensor_def(GENERATION_POOL_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
