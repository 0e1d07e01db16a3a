"""The first screen after ``make demo`` + ``make ui``: the demo's runs on the Overview, its days' reports
built, partitions that end at the next day to build, a code location named once.

The demo runs first (as ``make demo`` does, in its own process, on a fresh home), then ``dagster dev``
starts on that home like ``make ui``. Headless Chromium opens the Overview; the screenshot goes to
``test-artifacts/e2e/overview.png``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from retail_assets_tests.e2e.browser import open_browser, open_page, screenshot
from retail_assets_tests.e2e.conftest import (
    E2E_START_DATE,
    REPO_ROOT,
    SERVER_READY_TIMEOUT_S,
    e2e_environment,
    prepare_dagster_home,
)
from retail_assets_tests.e2e.graphql_api import DagsterAPI, RepoSelector
from retail_assets_tests.e2e.server import DagsterDev, wait_for

pytestmark = pytest.mark.e2e

LOCATION = "retail_assets"
DEMO_BATCH_DAYS, DEMO_STREAM_DAYS = 1, 1
DEMO_DAYS = [(E2E_START_DATE + timedelta(days=i)).isoformat() for i in range(DEMO_BATCH_DAYS + DEMO_STREAM_DAYS)]
NEXT_DAY = (E2E_START_DATE + timedelta(days=len(DEMO_DAYS))).isoformat()
DEMO_TIMEOUT_S = 1800
REPORT_ASSET = "report/daily_retail_report"
TIMELINE_JOBS = ("daily_generation_job", "stream_outbox")


@pytest.fixture(scope="module")
def after_demo(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[tuple[DagsterDev, str]]:
    """A fresh home after ``retail-assets demo``, served by ``dagster dev``; yields (server, demo output)."""
    home = tmp_path_factory.mktemp("first_screen") / "retail_home"
    env = e2e_environment(home)
    prepare_dagster_home(env)
    demo = subprocess.run(
        [str(Path(sys.executable).with_name("retail-assets")), "demo", "--days", str(DEMO_BATCH_DAYS),
         "--stream-days", str(DEMO_STREAM_DAYS)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S,
    )
    (artifacts / "first_screen_demo.log").write_text(demo.stdout + demo.stderr)
    assert demo.returncode == 0, f"the demo failed:\n{demo.stdout[-3000:]}\n{demo.stderr[-3000:]}"
    server = DagsterDev(repo_root=REPO_ROOT, env=env, log_path=artifacts / "first_screen_dagster_dev.log")
    try:
        server.start()
        api = DagsterAPI("127.0.0.1", server.port)

        def loaded() -> RepoSelector | None:
            server.assert_alive()
            return api.loaded_repository()

        wait_for("the code location to load", loaded, SERVER_READY_TIMEOUT_S, on_timeout=server.log_tail)
        yield server, demo.stdout
    finally:
        server.stop()


def test_the_first_screen_after_the_demo(after_demo: tuple[DagsterDev, str], artifacts: Path, chromium: Path) -> None:
    server, demo_output = after_demo
    api = DagsterAPI("127.0.0.1", server.port)
    assert api.loaded_repository().location == LOCATION, "workspace.yaml names the code location"

    runs = api.runs(limit=100)
    assert runs and all(r["status"] == "SUCCESS" for r in runs), [(r["jobName"], r["status"]) for r in runs]
    no_origin = [r["jobName"] for r in runs if (r["repositoryOrigin"] or {}).get("repositoryLocationName") != LOCATION]
    assert not no_origin, f"demo runs without the code location's origin (left off the Overview): {no_origin}"
    assert {"daily_generation_job", "stream_outbox", "__ASSET_JOB"} <= {r["jobName"] for r in runs}

    for day in DEMO_DAYS:  # the demo builds each day's report
        assert api.materializations(REPORT_ASSET, [day]), f"the demo did not build the report of {day}"
    # the calendar: partitions end at the day after the demo's last, the next one that can be built
    assert api.partition_keys("cusn/fact_receipts") == [*DEMO_DAYS, NEXT_DAY]
    assert "business days offered through " + NEXT_DAY in demo_output

    api.dismiss_welcome_dialog()
    with open_browser() as browser, open_page(browser) as page:
        page.goto(f"{server.url}/overview/activity/timeline")
        location_row = page.get_by_text(LOCATION, exact=True).first
        expect(location_row, "the code location's row on the Overview timeline").to_be_visible()
        for job in TIMELINE_JOBS:
            expect(page.get_by_role("link", name=job).first, f"{job} on the Overview timeline").to_be_visible()
        screenshot(page, artifacts, "overview")

    log = server.log_path.read_text(errors="replace")
    assert "does not match" not in log, "the code location name is set in two places that disagree"
