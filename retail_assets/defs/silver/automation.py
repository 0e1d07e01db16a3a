"""When Silver rebuilds itself: after events land for a day, and after the day's batch.

``AutomationCondition.eager()`` only looks at the latest partition and misses older days a
streaming run touched; this condition fires for every partition whose upstream was updated since
it was last handled, once nothing upstream is running. Missing Bronze partitions are ignored (a
stream day has no batch partition for the 16 streamable tables; an event table may not exist
yet). Updates of other Silver tables (the parents its checks read) do not re-trigger a rebuild —
the same tick requests both, and the run orders them.
"""

from __future__ import annotations

import dagster as dg

SILVER_GROUP = "silver"
BRONZE_EVENTS_GROUP = "bronze_events"
BRONZE_BATCH_GROUP = "bronze_batch"
SILVER_AUTOMATION_SENSOR = "silver_automation_sensor"


def silver_automation_condition() -> dg.AutomationCondition:
    # include_sources: the Bronze event tables are external (non-executable) specs.
    bronze = dg.AssetSelection.groups(BRONZE_EVENTS_GROUP, BRONZE_BATCH_GROUP, include_sources=True)
    silver = dg.AssetSelection.groups(SILVER_GROUP)
    return (
        dg.AutomationCondition.any_deps_updated().ignore(silver).since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing().ignore(bronze)
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("silver: rebuild touched days")


silver_automation_sensor = dg.AutomationConditionSensorDefinition(
    SILVER_AUTOMATION_SENSOR,
    target=dg.AssetSelection.groups(SILVER_GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
)
