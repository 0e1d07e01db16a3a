"""Automation of the Silver group's unpartitioned assets (the ``ag/dim_*`` copies, eager).

The partitioned Silver fact tables are NOT automated by conditions on Bronze updates: a
streamed day lands over several runs, and a condition firing on each landing built Silver from
half-landed days. They are built by ``silver_day_sensor`` (``defs/silver/gate.py``) once a day is
complete. This sensor covers the rest of the group.
"""

from __future__ import annotations

import dagster as dg

from retail_assets.defs.keys import SILVER_GROUP

SILVER_AUTOMATION_SENSOR = "silver_automation_sensor"


silver_automation_sensor = dg.AutomationConditionSensorDefinition(
    SILVER_AUTOMATION_SENSOR,
    target=dg.AssetSelection.groups(SILVER_GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
)
