"""Fixtures of the end-to-end test: a throw-away home, a running ``dagster dev``, its GraphQL API.

The server is module-scoped and always stopped (process group killed) in the fixture's
``finally``, also when the test fails or is interrupted. On failure the last lines of the server's
log are attached to the report; the whole log stays in ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from retail_assets.config import HomeSettings
from retail_assets_tests.e2e.browser import CHROMIUM, chromium_missing_message
from retail_assets_tests.e2e.graphql_api import DagsterAPI, RepoSelector
from retail_assets_tests.e2e.server import DagsterDev, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "e2e"
E2E_START_DATE = date(2024, 3, 4)  # a Monday; the backfill covers it and the Tuesday
E2E_SCALE_FACTOR = "0.01"
SERVER_READY_TIMEOUT_S = 240


def e2e_environment(home: Path) -> dict[str, str]:
    """The server's environment: the caller's, pointed at ``home`` with the small test dataset."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETAIL_ASSETS_", "DAGSTER_"))}
    settings = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(home)})
    env.update(
        RETAIL_ASSETS_HOME=str(settings.home),
        RETAIL_ASSETS_SCALE_FACTOR=E2E_SCALE_FACTOR,
        RETAIL_ASSETS_START_DATE=E2E_START_DATE.isoformat(),
        RETAIL_ASSETS_SEED="42",
        DAGSTER_HOME=str(settings.dagster_home),
        PYTHONUNBUFFERED="1",
    )
    return env


def prepare_dagster_home(env: dict[str, str]) -> Path:
    """Copy the repo-root ``dagster.yaml`` into the temporary DAGSTER_HOME (as ``make ui`` does)."""
    source = REPO_ROOT / "dagster.yaml"
    if not source.is_file():
        pytest.fail(f"{source} is missing: the e2e test runs the instance the repository ships; restore it.")
    dagster_home = Path(env["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dagster_home / "dagster.yaml")
    return dagster_home


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(chromium_missing_message())
    return CHROMIUM


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[DagsterDev]:
    """``dagster dev`` on a fresh home; yields once the code location loaded; always killed after."""
    home = tmp_path_factory.mktemp("e2e") / "retail_home"
    env = e2e_environment(home)
    prepare_dagster_home(env)
    server = DagsterDev(repo_root=REPO_ROOT, env=env, log_path=artifacts / "dagster_dev.log")
    try:
        server.start()
        api = DagsterAPI("127.0.0.1", server.port)

        def loaded() -> RepoSelector | None:
            server.assert_alive()
            return api.loaded_repository()

        wait_for(
            "the webserver to serve and the code location to load",
            loaded,
            SERVER_READY_TIMEOUT_S,
            on_timeout=server.log_tail,
        )
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(dagster_dev: DagsterDev) -> DagsterAPI:
    return DagsterAPI("127.0.0.1", dagster_dev.port)


@pytest.fixture(scope="module")
def repo(api: DagsterAPI) -> RepoSelector:
    selector = api.loaded_repository()
    assert selector is not None
    return selector
