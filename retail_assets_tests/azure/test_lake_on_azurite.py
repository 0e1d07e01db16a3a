"""The lake on Azure Storage (Azurite): the demo's days written and read back through ``az://`` URIs.

Two lakes are built by the same code — batch days, a day streamed through the outbox and the local
sink, Silver with its checks — one on a local path and one with ``RETAIL_ASSETS_LAKE_ROOT`` on
Azurite and the storage options from ``RETAIL_ASSETS_STORAGE_OPTION_*``. Every table must exist in
both and hold the same rows (landing timestamps aside), and the Azurite lake must really be in
blob storage (nothing of it on the local disk).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_assets import pipeline
from retail_assets.config import HomeSettings
from retail_assets.lake import delta
from retail_assets_tests.azure.azurite import Azurite
from retail_assets_tests.azure.conftest import LAKE_CONTAINER, LAKE_PREFIX, BuiltLake
from retail_assets_tests.azure.lakes import DAYS, blob_tables, comparable, local_tables
from retail_assets_tests.silver.conftest import SETTINGS


def test_every_table_on_azurite_equals_the_local_run(
    azurite: Azurite, local_demo_lake: BuiltLake, azurite_demo_lake: BuiltLake, azurite_storage_env: dict
) -> None:
    local_root = local_demo_lake.home.lake_root
    expected = local_tables(local_demo_lake.home.home / "lake")
    assert {"cusn/fact_receipts", "cusn/receipt_created", "cusn/ctl_day_manifest", "ag/fact_receipts",
            "ag/dim_stores"} <= expected
    on_azurite = blob_tables(azurite.list_blobs(LAKE_CONTAINER, LAKE_PREFIX), LAKE_PREFIX)
    assert on_azurite == expected
    assert not (azurite_demo_lake.home.home / "lake").exists()  # nothing fell back to a local path

    different = []
    for name in sorted(expected):
        schema, table = name.split("/")
        local = comparable(delta.table_uri(local_root, schema, table))
        remote = comparable(delta.table_uri(azurite_demo_lake.home.lake_root, schema, table))
        if not remote.equals(local):
            different.append(f"{name}: {remote.num_rows} rows on Azurite vs {local.num_rows} local")
    assert different == []


def test_silver_on_azurite_passed_the_same_checks(local_demo_lake: BuiltLake, azurite_demo_lake: BuiltLake) -> None:
    def verdicts(lake: BuiltLake) -> dict:
        return {
            (day, table, r.name): r.passed
            for day in DAYS
            for table, outcome in lake.silver[day].items()
            for r in outcome.results
        }

    remote = verdicts(azurite_demo_lake)
    assert remote == verdicts(local_demo_lake)
    assert all(outcome.written for day in DAYS for outcome in azurite_demo_lake.silver[day].values())
    assert any(o.build.stream_rows for o in azurite_demo_lake.silver[DAYS[-1]].values())  # the streamed day


def test_a_lake_root_in_a_missing_container_is_refused_before_any_write(
    azurite: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"RETAIL_ASSETS_HOME": str(tmp_path), **azurite.lake_env(LAKE_CONTAINER, "unused")}
    env["RETAIL_ASSETS_LAKE_ROOT"] = "az://no-such-container/lake"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    home = HomeSettings.from_env(env)
    with pytest.raises(delta.LakeError, match=r"no-such-container does not exist.*Create the container"):
        pipeline.build_and_write_dimensions(home, SETTINGS)
    assert azurite.list_blobs(LAKE_CONTAINER, "unused") == []
