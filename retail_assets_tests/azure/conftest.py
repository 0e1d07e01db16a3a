"""Fixtures of the Azure boundary tests: one Azurite blob service per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from retail_assets_tests.azure.azurite import Azurite, start_azurite

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
