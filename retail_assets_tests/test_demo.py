"""``retail-assets demo`` records its runs in the persistent instance and reports what landed."""

from __future__ import annotations

import re
from datetime import date, timedelta

from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from retail_assets.cli import main
from retail_assets.code_location_runs import LOCATION_NAME
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.defs.keys import BRONZE_BATCH_KEYS, DIM_KEYS, SILVER_KEYS
from retail_assets.defs.report.daily_retail_report import REPORT_KEY
from retail_assets.demo import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG, format_counts
from retail_assets_tests.conftest import TEST_START_DATE


def test_the_demos_partition_range_tags_are_the_ones_dagster_reads() -> None:
    """The demo spells Dagster's documented range tags instead of importing them from dagster._core
    (private); this test is where a Dagster upgrade that renames them would show."""
    assert (PARTITION_RANGE_START_TAG, PARTITION_RANGE_END_TAG) == (
        ASSET_PARTITION_RANGE_START_TAG,
        ASSET_PARTITION_RANGE_END_TAG,
    )


def test_format_counts_lays_out_days_as_columns_with_totals() -> None:
    text = format_counts("t", {"a": {date(2024, 1, 2): 5, date(2024, 1, 1): 1000}, "b": {date(2024, 1, 2): 2}})
    lines = text.splitlines()
    assert lines[1].split() == ["table", "2024-01-01", "2024-01-02"]
    assert lines[3].split() == ["a", "1,000", "5"]
    assert lines[4].split() == ["b", "0", "2"]
    assert lines[-1].split() == ["total", "1,000", "7"]


def test_demo_records_runs_in_the_persistent_instance(retail_env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(retail_env.dagster_home))  # restored after the test
    assert main(["demo", "--days", "2", "--stream-days", "0"]) == 0
    out = capsys.readouterr().out
    for name in FACT_TABLES:
        assert name in out
    for day in ("2024-01-01", "2024-01-02"):  # Silver ran per day with its checks, all passing
        verdict = re.search(rf"Silver {day}: (\d+)/(\d+) checks passed", out)
        assert verdict and verdict.group(1) == verdict.group(2) and int(verdict.group(2)) > 0, out[-2000:]
    dagster_home = retail_env.dagster_home
    assert (dagster_home / "dagster.yaml").is_file()
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        runs = instance.get_runs()
        assert all(r.is_success for r in runs), [(r.job_name, r.status) for r in runs]
        # launched through the code location, so the UI's Overview (grouped by location) lists them
        assert {r.remote_job_origin.location_name if r.remote_job_origin else None for r in runs} == {LOCATION_NAME}
        assert sum(r.job_name == "daily_generation_job" for r in runs) == 1  # both days in one run
        days = {(TEST_START_DATE + timedelta(days=i)).isoformat() for i in range(2)}
        assert instance.get_materialized_partitions(BRONZE_BATCH_KEYS["fact_receipts"]) == days
        assert all(instance.get_latest_materialization_event(k) for k in DIM_KEYS.values())
        silver_runs = [r for r in runs if SILVER_KEYS["fact_receipts"] in (r.asset_selection or ())]
        assert len(silver_runs) == 1, "the demo's Silver days are one run (a partition range)"
        assert all(instance.get_materialized_partitions(k) == days for k in SILVER_KEYS.values())
        assert instance.get_materialized_partitions(REPORT_KEY) == days  # each demo day's report
    assert "business days offered through 2024-01-03" in out  # the calendar offers the next day


def test_demo_rejects_a_non_positive_day_count(retail_env, capsys) -> None:
    assert main(["demo", "--days", "0"]) == 2
    assert "--days must be >= 1" in capsys.readouterr().err


def test_the_code_location_is_named_once_for_every_tool() -> None:
    """workspace.yaml (dagster dev, the demo) and pyproject's [tool.dg.project] (dg) agree, so no
    tool warns that the names differ."""
    import tomllib

    import yaml

    from retail_assets.code_location_runs import REPO_ROOT, WORKSPACE_YAML

    [entry] = yaml.safe_load(WORKSPACE_YAML.read_text())["load_from"]
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    assert entry["python_module"]["location_name"] == project["code_location_name"] == LOCATION_NAME
