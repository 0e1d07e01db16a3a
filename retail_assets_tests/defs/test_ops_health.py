"""Silver freshness is a FreshnessPolicy on every ``ag/fact_*`` asset (evaluated by the daemon), not
checks that ride along in partitioned Silver runs; the outbox's checks are declared on its asset."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest

from retail_assets.config import ConfigError
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.defs.keys import OUTBOX_KEY
from retail_assets.defs.ops_health import FRESHNESS_ENV, freshness_window, with_silver_freshness
from retail_assets.defs.silver.assets import SILVER_ASSETS, build_silver_facts


def _policies(assets) -> dict[dg.AssetKey, object]:
    return {spec.key: spec.freshness_policy for a in assets for spec in a.specs}


def test_every_silver_fact_table_carries_the_freshness_policy():
    policies = _policies(SILVER_ASSETS)
    assert set(policies) == {dg.AssetKey(["ag", t]) for t in FACT_TABLES}
    for key, policy in policies.items():
        assert policy is not None, f"{key.to_user_string()} has no freshness policy"
        assert policy.fail_window.to_timedelta() == timedelta(hours=26)
        assert policy.warn_window.to_timedelta() < policy.fail_window.to_timedelta()


def test_the_window_follows_the_environment_and_bad_values_name_the_variable():
    assets = with_silver_freshness([build_silver_facts()], env={FRESHNESS_ENV: "6"})
    windows = {p.fail_window.to_timedelta() for p in _policies(assets).values()}
    assert windows == {timedelta(hours=6)}
    for bad in ("soon", "0", "-3"):
        with pytest.raises(ConfigError, match=FRESHNESS_ENV):
            freshness_window({FRESHNESS_ENV: bad})


def test_the_code_location_has_no_silver_freshness_checks_and_the_outbox_checks():
    from retail_assets.definitions import defs as load_defs

    defs = load_defs()
    graph = defs.resolve_asset_graph()
    check_keys = graph.asset_check_keys
    silver = {dg.AssetKey(["ag", t]) for t in FACT_TABLES}
    assert not [k for k in check_keys if k.asset_key in silver and "fresh" in k.name]
    assert {k.name for k in check_keys if k.asset_key == OUTBOX_KEY} == {"no_dead_letters", "backlog_not_stale"}
    assert all(graph.get(k).freshness_policy is not None for k in silver)
    assert "silver_freshness_sensor" not in {s.name for s in defs.sensors or []}
    assert "outbox_sensor" in {s.name for s in defs.sensors or []}
