"""Freshness of the Silver fact tables: a ``FreshnessPolicy`` on each of their assets.

Why "last update" freshness on wall-clock time and not on partitions: the dataset's calendar is
synthetic (it may start in 2024), so "yesterday's partition exists" says nothing about whether the
pipeline is alive. What an operator needs to know is that Silver *was rebuilt recently*: by the
daily schedule (once a day) or by the streaming path (every few minutes while the sensor is on).

Why a policy and not freshness *checks*: Dagster's freshness daemon (part of ``dagster dev`` and
``dagster-daemon``) evaluates a ``FreshnessPolicy`` on its own and shows the asset as Fresh / Warn /
Fail on its page and in the asset graph; the older ``build_last_update_freshness_checks`` ran as
unpartitioned checks inside every partitioned Silver run and left a SKIPPED record under each day.
A table whose last materialization is older than ``RETAIL_ASSETS_SILVER_FRESHNESS_HOURS`` (default
26 h: a daily run plus slack) fails its policy; it warns at three quarters of that.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import dagster as dg

from retail_assets.config import positive_number_from_env

FRESHNESS_ENV = "RETAIL_ASSETS_SILVER_FRESHNESS_HOURS"
DEFAULT_FRESHNESS_HOURS = 26.0
WARN_FRACTION = 0.75


def freshness_window(env: dict[str, str] | None = None) -> timedelta:
    """The allowed age of a Silver table's last update, from the environment."""
    return timedelta(hours=positive_number_from_env(FRESHNESS_ENV, DEFAULT_FRESHNESS_HOURS, "hours", "26", env))


def silver_freshness_policy(env: dict[str, str] | None = None) -> dg.FreshnessPolicy:
    window = freshness_window(env)
    return dg.FreshnessPolicy.time_window(fail_window=window, warn_window=window * WARN_FRACTION)


def with_silver_freshness(
    assets: Sequence[dg.AssetsDefinition], env: dict[str, str] | None = None
) -> list[dg.AssetsDefinition]:
    """The same assets with the Silver freshness policy attached to every spec."""
    policy = silver_freshness_policy(env)
    return list(dg.map_asset_specs(lambda spec: spec.replace_attributes(freshness_policy=policy), assets))
