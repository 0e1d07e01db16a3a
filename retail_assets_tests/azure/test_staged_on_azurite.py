"""Staged writes on Azure Storage (Azurite): days made in shards and the dimension step's customers
land in a lake at ``az://`` exactly as in a local one — the layout a cluster's workers share."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pyarrow as pa
import pytest

from retail_assets import pipeline, sharded_pipeline
from retail_assets.config import HomeSettings
from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.generate.dimensions import build_dimensions
from retail_assets.lake import delta, staged
from retail_assets.lake.lake_errors import LakeError
from retail_assets.lake.staging_fs import staging_target
from retail_assets_tests.azure.azurite import Azurite
from retail_assets_tests.azure.conftest import LAKE_CONTAINER
from retail_assets_tests.lake.test_sharded_pipeline import SETTINGS, START, TODAY, _assert_same_days, _write


@pytest.fixture
def own_lake_env(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A lake of this test's own on the session's Azurite (under a prefix no other test writes to: the
    demo lake of ``test_lake_on_azurite`` compares every table under its prefix)."""
    env = azurite.lake_env(LAKE_CONTAINER, f"staged-{uuid.uuid4().hex[:12]}")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="module")
def local_days(tmp_path_factory) -> HomeSettings:
    """Two days of the sharded-pipeline dataset in one process on a local lake (the reference)."""
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(tmp_path_factory.mktemp("local"))})
    pipeline.build_and_write_dimensions(home, SETTINGS)
    for i in range(2):
        _write(home, START + timedelta(days=i), None)
    return home


def test_days_made_in_shards_on_azurite_equal_the_local_one_process_days(
    azurite: Azurite, own_lake_env: dict, local_days: HomeSettings, tmp_path
) -> None:
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(tmp_path / "home"), **own_lake_env})
    prefix = home.lake_root.removeprefix(f"az://{LAKE_CONTAINER}/")
    assert prefix.startswith("staged-")
    pipeline.build_and_write_dimensions(home, SETTINGS)
    for i in range(2):
        counts = sharded_pipeline.generate_and_write_day_sharded(home, SETTINGS, START + timedelta(days=i), "t", 3, today=TODAY)
        assert sum(counts.values()) > 0
    _assert_same_days(local_days, home, [START, START + timedelta(days=1)])
    assert not (tmp_path / "home" / "lake").exists()  # every file went to blob storage
    blobs = azurite.list_blobs(LAKE_CONTAINER, f"{prefix}/cusn/fact_receipts/part-{START.isoformat()}-s0")
    assert sum(1 for b in blobs if b.endswith(".parquet")) == 3  # a file per shard (day-clustered: at the root)


def test_the_dimension_step_on_azurite_commits_the_customers_in_order(
    azurite: Azurite, own_lake_env: dict, tmp_path, monkeypatch
) -> None:
    from retail_assets.generate import dimensions

    monkeypatch.setattr(dimensions, "CUSTOMER_BATCH_ROWS", 3_000)
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(tmp_path / "home"), **own_lake_env})
    rows = pipeline.build_and_write_dimensions(home, SETTINGS)
    uri = pipeline._uri(home, "dim_customers")
    table = delta.open_table(uri)
    assert rows["dim_customers"] == 80_600 and len(table.file_uris()) == 7  # 27 batches, 4 a file
    back = delta.read_table(uri, DIMENSION_TABLES["dim_customers"].arrow_schema)
    assert back.equals(build_dimensions(SETTINGS)["dim_customers"])


def test_azure_roots_map_to_the_files_deltalake_reads(azurite: Azurite, own_lake_env: dict) -> None:
    """A file staged through the mapped filesystem is the one the Delta commit names."""
    uri = f"{own_lake_env['RETAIL_ASSETS_LAKE_ROOT']}/staging_probe"
    schema = pa.schema([("id", pa.int64())])
    staged.replace_table_from_batches(uri, schema, iter([pa.table({"id": [1, 2]}, schema)]))
    assert delta.read_table(uri, schema).column("id").to_pylist() == [1, 2]
    target = staging_target(uri, azurite.storage_options())
    assert target.root == uri.removeprefix("az://")


def test_roots_that_cannot_take_staged_files_are_refused_with_the_fix() -> None:
    with pytest.raises(LakeError, match=r"s3:// lake roots are not supported .* shards=1"):
        staging_target("s3://bucket/lake/cusn/fact_receipts")
    with pytest.raises(LakeError, match="the container or the storage account is missing"):
        staging_target("az://container/lake/t", {})
    abfss = staging_target("abfss://lake@acct.dfs.core.windows.net/retail/t", {"azure_storage_account_key": "a2V5"})
    assert abfss.root == "lake/retail/t"


@pytest.mark.parametrize(
    ("lake_root", "expected"),
    [("az://retail-lake/lake", 3), ("abfss://lake@acct.dfs.core.windows.net/retail", 3), ("s3://bucket/lake", 1)],
)
def test_streamed_days_are_made_in_shards_on_every_root_that_takes_staged_files(
    lake_root: str, expected: int, tmp_path, monkeypatch
) -> None:
    """A chain of 200 stores streams in 3 shards on Azure as locally; on S3 in one piece."""
    from retail_assets.config import DatasetSettings
    from retail_assets.sharded_pipeline import day_shard_count

    monkeypatch.setenv("RETAIL_ASSETS_STORAGE_OPTION_AZURE_STORAGE_ACCOUNT_NAME", "acct")
    stores = {"dim_stores": pa.table({"store_id": list(range(1, 201))})}
    monkeypatch.setattr(pipeline, "load_dimensions", lambda home, settings=None, only=None, readers=None: stores)
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(tmp_path), "RETAIL_ASSETS_LAKE_ROOT": lake_root})
    assert day_shard_count(home, DatasetSettings(scale_factor=0.01), None) == expected
