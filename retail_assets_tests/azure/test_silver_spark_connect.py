"""Silver on a separate Spark Connect server: Sail started as its own process (``sail spark server``).

The Spark engine is chosen and pointed at the server only through the settings a cluster user sets
(``RETAIL_ASSETS_SILVER_ENGINE=spark``, ``RETAIL_ASSETS_SPARK_REMOTE=sc://…``). It builds every
Silver table of the streamed day — batch and mapped stream rows — from the local lake and then from
the lake on Azurite (the server reaching Azurite through the ``AZURE_STORAGE_*`` environment that
``object_store_env`` derives from the lake's storage options), and the rows must equal DuckDB's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import duckdb
import pytest

from retail_assets.contract.tables import FACT_TABLES
from retail_assets.defs.silver.resources import ENGINE_ENV, SPARK_REMOTE_ENV, silver_resources_from_env
from retail_assets.silver.build import build_silver
from retail_assets.silver.engines import DuckDBEngine, SparkEngine
from retail_assets.silver.sail import object_store_env
from retail_assets_tests.azure.azurite import Azurite
from retail_assets_tests.azure.conftest import BuiltLake
from retail_assets_tests.azure.lakes import STREAM_DAY
from retail_assets_tests.azure.sail_server import SailServer, start_sail


@pytest.fixture(scope="module")
def sail_server(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SailServer]:
    server = start_sail(tmp_path_factory.mktemp("sail"), env=object_store_env(azurite.storage_options()))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def spark_from_settings(sail_server: SailServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[SparkEngine]:
    """The Spark engine exactly as the Silver assets get it from the environment."""
    monkeypatch.setenv(ENGINE_ENV, "spark")
    monkeypatch.setenv(SPARK_REMOTE_ENV, sail_server.remote)
    resources = silver_resources_from_env()
    assert resources["silver_config"].engine_name() == "spark"
    assert resources["silver_spark"].remote == sail_server.remote
    session = resources["silver_spark"].spark_session
    try:
        yield SparkEngine(session)
    finally:
        session.stop()


def _spark_vs_duckdb(spark: SparkEngine, lake_root: str) -> list[str]:
    different = []
    for table in FACT_TABLES:
        with duckdb.connect() as conn:
            expected = build_silver(DuckDBEngine(conn), lake_root, table, STREAM_DAY)
        built = build_silver(spark, lake_root, table, STREAM_DAY)
        if not (built.data.equals(expected.data) and built.stream_included == expected.stream_included):
            different.append(f"{table}: {built.data.num_rows} rows on Spark vs {expected.data.num_rows} on DuckDB")
        assert built.data.num_rows > 0 or table in ("fact_stockouts", "fact_truck_moves")
    return different


def test_silver_on_a_separate_sail_server_reads_the_local_lake(
    spark_from_settings: SparkEngine, local_demo_lake: BuiltLake, sail_server: SailServer
) -> None:
    assert _spark_vs_duckdb(spark_from_settings, local_demo_lake.home.lake_root) == []
    assert sail_server.server.alive()  # the builds went to the separate server, which is still up


def test_silver_on_a_separate_sail_server_reads_the_lake_on_azurite(
    spark_from_settings: SparkEngine, azurite_demo_lake: BuiltLake, azurite_storage_env: dict
) -> None:
    assert azurite_demo_lake.home.lake_root.startswith("az://")
    assert _spark_vs_duckdb(spark_from_settings, azurite_demo_lake.home.lake_root) == []


def test_object_store_env_maps_the_lake_options_to_what_sail_reads() -> None:
    env = object_store_env(
        {"azure_storage_account_name": "acct", "AZURE_STORAGE_ACCOUNT_KEY": "k", "allow_http": "true", "timeout": "5s"}
    )
    assert env == {
        "AZURE_STORAGE_ACCOUNT_NAME": "acct",
        "AZURE_STORAGE_ACCOUNT_KEY": "k",
        "AZURE_ALLOW_HTTP": "true",
        "AWS_ALLOW_HTTP": "true",
    }


def test_the_in_process_sail_reaches_the_lake_on_azurite_from_the_lake_settings_alone(
    azurite_demo_lake: BuiltLake, azurite_storage_env: dict
) -> None:
    """The default Spark setup (no RETAIL_ASSETS_SPARK_REMOTE): a fresh process whose only lake settings
    are RETAIL_ASSETS_LAKE_ROOT and RETAIL_ASSETS_STORAGE_OPTION_* builds Silver through its own Sail."""
    root = azurite_demo_lake.home.lake_root
    script = (
        "import sys\n"
        "from datetime import date\n"
        "from retail_assets.silver.build import build_silver\n"
        "from retail_assets.silver.engines import SparkEngine\n"
        "from retail_assets.silver.sail import spark_connect_session\n"
        f"b = build_silver(SparkEngine(spark_connect_session()), {root!r}, 'fact_receipts', date.fromisoformat({STREAM_DAY.isoformat()!r}))\n"
        "print('ROWS', b.data.num_rows, b.stream_rows, flush=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AWS_"))}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    with duckdb.connect() as conn:
        expected = build_silver(DuckDBEngine(conn), root, "fact_receipts", STREAM_DAY)
    assert f"ROWS {expected.data.num_rows} {expected.stream_rows}" in done.stdout
    assert expected.stream_rows > 0
