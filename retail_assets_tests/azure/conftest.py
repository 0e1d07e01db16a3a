"""Fixtures of the Azure boundary tests: one Azurite blob service per test session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from retail_assets.config import HomeSettings
from retail_assets_tests.azure.azurite import Azurite, start_azurite
from retail_assets_tests.azure.lakes import build_demo_lake

LAKE_CONTAINER = "retail-lake"
CHECKPOINT_CONTAINER = "eventhub-checkpoints"


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite on a free loopback port, in memory, with the lake and checkpoint containers created."""
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        for container in (LAKE_CONTAINER, CHECKPOINT_CONTAINER):
            server.create_container(container)
        yield server
    finally:
        server.stop()


LAKE_PREFIX = "lake"


@dataclass(frozen=True)
class BuiltLake:
    home: HomeSettings
    silver: dict


@pytest.fixture
def azurite_storage_env(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The ``RETAIL_ASSETS_*`` lake settings of the Azurite lake, set for one test."""
    env = azurite.lake_env(LAKE_CONTAINER, LAKE_PREFIX)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="session")
def local_demo_lake(tmp_path_factory: pytest.TempPathFactory) -> BuiltLake:
    """The demo's days built on a local lake (the reference for the Azurite lake)."""
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(tmp_path_factory.mktemp("local_demo"))})
    return BuiltLake(home, build_demo_lake(home))


@pytest.fixture(scope="session")
def azurite_demo_lake(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> BuiltLake:
    """The same days with ``RETAIL_ASSETS_LAKE_ROOT=az://retail-lake/lake`` on Azurite (local state dir)."""
    env = {"RETAIL_ASSETS_HOME": str(tmp_path_factory.mktemp("azure_demo")),
           **azurite.lake_env(LAKE_CONTAINER, LAKE_PREFIX)}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        home = HomeSettings.from_env(env)
        assert home.lake_root == f"az://{LAKE_CONTAINER}/{LAKE_PREFIX}"
        return BuiltLake(home, build_demo_lake(home))
