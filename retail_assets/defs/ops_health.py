"""Freshness checks on the 18 Silver tables, and the sensor that evaluates them.

Why "last update" freshness on wall-clock time and not on partitions: the dataset's calendar is
synthetic (it may start in 2024), so "yesterday's partition exists" says nothing about whether the
pipeline is alive. What an operator needs to know is that Silver *was rebuilt recently*: by the
daily schedule (once a day) or by the streaming path (every few minutes while the sensor is on).
A table whose last materialization is older than ``RETAIL_ASSETS_SILVER_FRESHNESS_HOURS`` (default
26 h: a daily run plus slack) gets a WARN check result in the UI, with the time of the last update
and how overdue it is in the check's metadata.

The checks also run inside every Silver run (they target the Silver assets), so a rebuild turns
them green at once; the sensor only re-evaluates a check once its previous pass can have expired.
"""

import os
from datetime import timedelta

import dagster as dg

from retail_assets.config import ConfigError
from retail_assets.contract.tables import FACT_TABLES

SILVER_KEYS = [dg.AssetKey(["ag", table]) for table in FACT_TABLES]
FRESHNESS_ENV = "RETAIL_ASSETS_SILVER_FRESHNESS_HOURS"
DEFAULT_FRESHNESS_HOURS = 26.0


def freshness_window(env: dict[str, str] | None = None) -> timedelta:
    """The allowed age of a Silver table's last update, from the environment."""
    raw = (os.environ if env is None else env).get(FRESHNESS_ENV, str(DEFAULT_FRESHNESS_HOURS))
    try:
        hours = float(raw)
    except ValueError:
        raise ConfigError(f"{FRESHNESS_ENV}={raw!r} is not a number of hours; use e.g. 26.") from None
    if not hours > 0:
        raise ConfigError(f"{FRESHNESS_ENV}={raw!r} must be > 0 hours (e.g. 26 for a daily pipeline).")
    return timedelta(hours=hours)


silver_freshness_checks = dg.build_last_update_freshness_checks(
    assets=SILVER_KEYS,
    lower_bound_delta=freshness_window(),
    severity=dg.AssetCheckSeverity.WARN,
)

silver_freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=silver_freshness_checks,
    name="silver_freshness_sensor",
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
