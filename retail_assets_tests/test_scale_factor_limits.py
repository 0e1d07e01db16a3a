"""A scale factor that cannot fit in memory, or that asks for no store, is refused up front with numbers."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from retail_assets.cli import main
from retail_assets.config import (
    GIB,
    ConfigError,
    DatasetSettings,
    machine_memory_bytes,
    require_scale_factor_fits,
)
from retail_assets.defs.generation.assets import dimensions
from retail_assets.defs.resources import RetailSettings
from retail_assets.generate.dimensions import dimension_sizes, scale_round
from retail_assets_tests.defs.test_generation import failure_message, resources


def test_a_scale_factor_beyond_memory_is_refused_with_the_estimate_and_the_largest_that_fits() -> None:
    eight_gib = (8 * GIB, 6 * GIB)
    with pytest.raises(ConfigError) as info:
        require_scale_factor_fits(10.0, memory=eight_gib)
    text = str(info.value)
    assert "RETAIL_ASSETS_SCALE_FACTOR=10 cannot fit in memory" in text
    assert "about 10.6 GiB" in text  # 0.27 + 1.03 × 10
    assert "8.0 GiB in total, 6.0 GiB available now" in text
    assert "largest scale factor that fits is 7.5" in text  # (8 − 0.27) / 1.03 = 7.50
    assert "sharded_generation_job" in text  # the way to generate it anyway
    require_scale_factor_fits(7.5, memory=eight_gib)  # the advertised maximum is accepted


def test_days_in_shards_are_held_to_the_dimensions_guard_only() -> None:
    four_gib = (4 * GIB, None)
    require_scale_factor_fits(100, memory=four_gib, whole_day=False)  # dims of sf 100: 1.3 GiB
    with pytest.raises(ConfigError, match="cannot fit in memory: a day needs"):
        require_scale_factor_fits(100, memory=four_gib)  # but not a whole day of it
    with pytest.raises(ConfigError, match="even in shards: building its dimensions") as info:
        require_scale_factor_fits(500, memory=four_gib, whole_day=False)
    assert "about 4.1 GiB (0.6 GiB base + 0.007 GiB per scale-factor unit" in str(info.value)
    assert "The largest scale factor that fits is 485.71" in str(info.value)  # (4 - 0.6) / 0.007
    huge = RetailSettings(scale_factor="5000")  # not even its dimensions fit anywhere here
    with pytest.raises(ConfigError, match="even in shards"):
        huge.dataset(whole_day=False)


def test_this_machines_memory_is_read_and_a_cgroup_limit_wins(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16384000 kB\nMemFree:  100 kB\nMemAvailable:    8192000 kB\n")
    cgroup = tmp_path / "memory.max"
    cgroup.write_text("max\n")
    assert machine_memory_bytes(meminfo, cgroup) == (16384000 * 1024, 8192000 * 1024)
    cgroup.write_text(f"{4 * GIB}\n")
    assert machine_memory_bytes(meminfo, cgroup)[0] == 4 * GIB


def test_the_environment_refuses_what_this_machine_cannot_hold() -> None:
    total, _ = machine_memory_bytes()
    too_big = round(total / GIB * 2 + 1)
    with pytest.raises(ConfigError, match="cannot fit in memory"):
        DatasetSettings.from_env({"RETAIL_ASSETS_SCALE_FACTOR": str(too_big)})
    assert DatasetSettings.from_env({"RETAIL_ASSETS_SCALE_FACTOR": "0.01"}).scale_factor == 0.01


@pytest.mark.parametrize("sf", ["0.0058", "0.001", "1e-9"])
def test_a_scale_factor_that_asks_for_no_store_is_refused_with_the_minimum(sf: str) -> None:
    assert scale_round(86, float(sf)) == 0  # the generator's own store count for it
    with pytest.raises(ConfigError) as info:
        DatasetSettings.from_env({"RETAIL_ASSETS_SCALE_FACTOR": sf})
    assert "0 stores" in str(info.value) and "at least 0.0059" in str(info.value)


def test_the_advertised_minimum_yields_one_store() -> None:
    assert dimension_sizes(DatasetSettings(scale_factor=0.0059)).stores == 1


@pytest.mark.parametrize(("sf", "expected"), [("100000", "cannot fit in memory"), ("0.001", "0 stores")])
def test_a_dagster_run_fails_with_the_message(retail_env, sf: str, expected: str) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [dimensions], instance=instance, resources=resources(retail_env.home, scale_factor=sf), raise_on_error=False
        )
    assert not result.success
    assert expected in failure_message(result)


def test_the_cli_refuses_in_one_line(retail_env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RETAIL_ASSETS_SCALE_FACTOR", "100000")
    assert main(["stream", "--no-generate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: RETAIL_ASSETS_SCALE_FACTOR=100000 cannot fit in memory")
    assert err.count("\n") == 1


def test_a_chain_too_large_for_a_day_in_one_process_still_builds_dimensions_and_days_in_shards(
    retail_env, monkeypatch
) -> None:
    """The Dagster assets check the dimension step's memory only: a day of a chain larger than one
    shard is made in shards, and only a day made in one piece must fit whole (at sf 25 on a 24 GiB
    machine, the dimensions, the upkeep and `retail-assets backfill` used to be refused up front)."""
    from retail_assets import pipeline, sharded_pipeline
    from retail_assets.defs.generation.assets import resolve_settings

    total, _ = machine_memory_bytes()
    sf = round((total / GIB) / 1.03 + 5)  # a whole day does not fit, its dimensions do
    with pytest.raises(ConfigError, match="cannot fit in memory"):
        require_scale_factor_fits(sf)
    settings, home = resolve_settings(RetailSettings(scale_factor=str(sf), home=str(retail_env.home)))
    assert settings.scale_factor == sf
    stores = {"dim_stores": _stores_table(2000)}
    monkeypatch.setattr(pipeline, "load_dimensions", lambda home, settings=None, only=None, readers=None: stores)
    assert sharded_pipeline.day_shard_count(home, settings) == 23  # 2,000 stores, 90 a shard
    with pytest.raises(ConfigError, match="cannot fit in memory"):
        sharded_pipeline.day_shard_count(home, settings, requested=1)  # the whole day in one piece


def _stores_table(n: int):
    """``dim_stores`` as the shard-count policy reads it (only its row count matters)."""
    import pyarrow as pa

    return pa.table({"store_id": list(range(1, n + 1))})
