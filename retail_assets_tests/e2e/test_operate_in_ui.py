"""Operate the project as its users do: backfill, switch the streaming sensor on, read the checks.

One test, in the order a user works, against the real ``dagster dev`` (webserver + daemon + code
server) on a temporary home:

1. the daemon is alive and ``outbox_sensor`` is stopped until someone switches it on;
2. a backfill of two days of dimensions + Bronze batch tables, launched through GraphQL, completes;
   then a backfill of the next two days with ``sharded_generation_job`` (one run per day, each day's
   shards in two worker processes): the queue runs them one after the other, in date order;
3. switching ``outbox_sensor`` on makes the *daemon* launch ``stream_outbox``, which generates the
   next day into the outbox and lands its events;
4. without anyone clicking, once the day is complete ``silver_day_sensor`` builds that day's 18
   Silver partitions in one run and evaluates their checks — every one of them passes;
5. headless Chromium shows the groups in the asset graph and the checks of ``ag/fact_receipts``
   as passed; screenshots go to ``test-artifacts/e2e/``.

Each wait is bounded and, when it runs out, fails with what it saw (sensor ticks, failed runs and
their errors, the server log's tail). No step asserts on elapsed time.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from retail_assets_tests.e2e.browser import open_browser, open_page, screenshot
from retail_assets_tests.e2e.conftest import E2E_START_DATE
from retail_assets_tests.e2e.graphql_api import AUTOMATION_TAG, SENSOR_TAG, DagsterAPI, RepoSelector
from retail_assets_tests.e2e.server import DagsterDev, E2EError, wait_for

pytestmark = pytest.mark.e2e

OUTBOX_SENSOR = "outbox_sensor"
SILVER_SENSOR = "silver_day_sensor"
STREAM_JOB = "stream_outbox"
GROUPS = ("dimensions", "bronze_batch", "bronze_events", "silver")
BATCH_DAYS = [(E2E_START_DATE + timedelta(days=i)).isoformat() for i in range(2)]
SHARDED_DAYS = [(E2E_START_DATE + timedelta(days=2 + i)).isoformat() for i in range(2)]
SHARDED_JOB = "sharded_generation_job"
STREAM_DAY = (E2E_START_DATE + timedelta(days=4)).isoformat()
CHECKED_ASSET = "ag/fact_receipts"
REPORT_ASSET = "report/daily_retail_report"
REPORT_CHARTS = 5
REQUIRED_DAEMONS = ("SENSOR", "BACKFILL", "ASSET", "QUEUED_RUN_COORDINATOR")
IN_FLIGHT = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED")
BACKFILL_DONE = ("COMPLETED_SUCCESS", "COMPLETED", "COMPLETED_FAILED", "FAILED", "CANCELED")

DAEMON_TIMEOUT_S = 120
BACKFILL_TIMEOUT_S = 420
STREAM_TIMEOUT_S = 300
SILVER_TIMEOUT_S = 480
REPORT_TIMEOUT_S = 180


def _tags(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["tags"]}


def _groups(api: DagsterAPI) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for node in api.asset_nodes():
        groups.setdefault(node["groupName"], []).append("/".join(node["assetKey"]["path"]))
    return groups


def _checks_of(api: DagsterAPI, keys: list[str]) -> dict[str, dict[str, bool]]:
    """asset key -> {check name: whether the check is evaluated per partition (per day)}."""
    out = {}
    for node in api.asset_nodes():
        key = "/".join(node["assetKey"]["path"])
        if key in keys and node["assetChecksOrError"]["__typename"] == "AssetChecks":
            checks = node["assetChecksOrError"]["checks"]
            out[key] = {c["name"]: c["partitionDefinition"] is not None for c in checks}
    return out


def _latest_per_partition(
    executions: list[dict[str, Any]], partitioned: bool
) -> dict[str | None, dict[str, Any]]:
    """Newest execution per partition (the API lists newest first).

    Only executions of the check's own kind count: an unpartitioned check (freshness) that rides
    along in a partitioned Silver run also leaves a "planned" record under the run's partition,
    which Dagster resolves as SKIPPED although the evaluation itself is stored unpartitioned.
    """
    latest: dict[str | None, dict[str, Any]] = {}
    for ex in executions:
        if (ex["partition"] is not None) == partitioned:
            latest.setdefault(ex["partition"], ex)
    return latest


def _describe(ex: dict[str, Any]) -> str:
    ev = ex.get("evaluation") or {}
    meta = {
        m["label"]: m.get("text") or m.get("intValue") or m.get("jsonString")
        for m in ev.get("metadataEntries", [])
    }
    return (
        f"{ex['status']} (severity {ev.get('severity')}, run {ex['runId']}): {ev.get('description')} {meta}"
    )


def _sensor_report(api: DagsterAPI, repo: RepoSelector, name: str) -> str:
    sensor = api.sensor(repo, name)
    ticks = sensor["sensorState"]["ticks"]
    lines = [f"sensor {name} is {sensor['sensorState']['status']}; last {len(ticks)} ticks:"]
    for t in ticks:
        err = (t.get("error") or {}).get("message")
        lines.append(f"  {t['status']} runs={t['runIds']} skip={t['skipReason']!r} error={err!r}")
    return "\n".join(lines)


# -- steps --------------------------------------------------------------------------------------


def wait_for_daemon(api: DagsterAPI) -> None:
    def healthy() -> dict[str, Any] | None:
        statuses = api.daemon_statuses()
        return statuses if all(statuses.get(d, {}).get("healthy") for d in REQUIRED_DAEMONS) else None

    wait_for(
        f"the daemon's {', '.join(REQUIRED_DAEMONS)} loops to report healthy",
        healthy,
        DAEMON_TIMEOUT_S,
        on_timeout=lambda: str(api.daemon_statuses()),
    )


def backfill_two_days(api: DagsterAPI, groups: dict[str, list[str]]) -> dict[str, Any]:
    keys = groups["dimensions"] + groups["bronze_batch"]
    backfill_id = api.launch_backfill(keys, BATCH_DAYS, title="e2e: dimensions + two Bronze batch days")

    def finished() -> dict[str, Any] | None:
        bf = api.backfill(backfill_id)
        return bf if bf["status"] in BACKFILL_DONE else None

    bf = wait_for(
        f"backfill {backfill_id} of {BATCH_DAYS} to finish",
        finished,
        BACKFILL_TIMEOUT_S,
        interval_s=3,
        on_timeout=api.failure_report,
    )
    if bf["status"] not in ("COMPLETED_SUCCESS", "COMPLETED") or any(
        r["status"] != "SUCCESS" for r in bf["runs"]
    ):
        raise E2EError(
            f"backfill {backfill_id} ended {bf['status']}: {bf.get('error')}\n{api.failure_report()}"
        )
    return bf


def backfill_sharded_days(api: DagsterAPI, repo: RepoSelector) -> list[dict[str, Any]]:
    """A job backfill makes one run per day; day D+1 is generated from D's state, so the queue must
    start them one at a time, oldest first (pool ``retail_assets_generation``). Without that, the
    daemon started them together and the second refused its day."""
    backfill_id = api.launch_job_backfill(repo, SHARDED_JOB, SHARDED_DAYS, title="e2e: two sharded days")

    def finished() -> dict[str, Any] | None:
        bf = api.backfill(backfill_id)
        settled = bf["status"] in BACKFILL_DONE and all(r["status"] not in IN_FLIGHT for r in bf["runs"])
        return bf if settled else None

    bf = wait_for(
        f"backfill {backfill_id} of {SHARDED_JOB} over {SHARDED_DAYS} to finish",
        finished,
        BACKFILL_TIMEOUT_S,
        interval_s=3,
        on_timeout=api.failure_report,
    )
    runs = {_tags(r)["dagster/partition"]: r for r in api.runs(tags={"dagster/backfill": backfill_id}, limit=10)}
    if sorted(runs) != SHARDED_DAYS or any(r["status"] != "SUCCESS" for r in runs.values()):
        raise E2EError(f"backfill {backfill_id} ended {bf['status']} with runs {runs}\n{api.failure_report()}")
    first, second = (runs[day] for day in SHARDED_DAYS)
    assert second["startTime"] >= first["endTime"], (
        f"{SHARDED_DAYS[1]} started at {second['startTime']} while {SHARDED_DAYS[0]} ran until {first['endTime']}"
    )
    # Each run's log shows the backfill's progress, counted from the backfill's runs.
    for n, day in enumerate(SHARDED_DAYS, start=1):
        lines = [m for m in api.run_messages(runs[day]["runId"]) if m.startswith("backfill ")]
        expected = f"backfill {n}/{len(SHARDED_DAYS)} days ({100 * n / len(SHARDED_DAYS):.1f}%): {day} "
        assert len(lines) == 1 and lines[0].startswith(expected), f"{day}: progress {lines}, expected {expected}…"
    return [first, second]


def stream_one_day(api: DagsterAPI, repo: RepoSelector) -> dict[str, Any]:
    """Switch the sensor on and wait for a daemon-launched streaming run to succeed."""
    assert api.start_sensor(repo, OUTBOX_SENSOR) == "RUNNING"

    def streamed() -> dict[str, Any] | None:
        runs = api.runs(tags={SENSOR_TAG: OUTBOX_SENSOR}, limit=10)
        failed = [r for r in runs if r["status"] in ("FAILURE", "CANCELED")]
        if failed:
            errors = "\n  ".join(api.run_errors(failed[0]["runId"])[-8:])
            raise E2EError(
                f"streaming run {failed[0]['runId']} launched by {OUTBOX_SENSOR} failed:\n  {errors}"
            )
        done = [r for r in runs if r["status"] == "SUCCESS"]
        return done[-1] if done else None  # the oldest successful one: it generated STREAM_DAY

    def diagnose() -> str:
        return _sensor_report(api, repo, OUTBOX_SENSOR) + "\n" + api.failure_report()

    run = wait_for(
        f"the daemon to run {OUTBOX_SENSOR} and its {STREAM_JOB} run to succeed",
        streamed,
        STREAM_TIMEOUT_S,
        interval_s=3,
        on_timeout=diagnose,
    )
    assert run["jobName"] == STREAM_JOB
    return run


def wait_for_silver_by_automation(
    api: DagsterAPI, silver_keys: list[str], checks: dict[str, dict[str, bool]]
) -> None:
    """Every Silver asset has STREAM_DAY from an automation run, its checks are evaluated, and the
    instance is quiet: no run of any day in flight, no backfill waiting to submit runs (automation
    may rebuild the backfilled days as a backfill whose runs start later), no check evaluation in
    progress — twice in a row, a poll apart — since a later run could still change a result."""
    quiet_polls = [0]

    def settled() -> bool:
        if not _settled_once():
            quiet_polls[0] = 0
            return False
        quiet_polls[0] += 1
        return quiet_polls[0] >= 2

    def _settled_once() -> bool:
        for key in silver_keys:
            mats = api.materializations(key, [STREAM_DAY])
            if not mats:
                return False
        runs = api.runs(tags={"dagster/partition": STREAM_DAY}, limit=50)
        if not any(_tags(r).get(SENSOR_TAG) == SILVER_SENSOR for r in runs):
            return False
        if api.runs(statuses=IN_FLIGHT, limit=1) or api.backfills("REQUESTED", limit=1):
            return False
        for key, names in checks.items():
            for name, partitioned in names.items():
                latest = _latest_per_partition(api.check_executions(key, name), partitioned)
                current = latest.get(STREAM_DAY if partitioned else None)
                if current is None or any(ex["status"] == "IN_PROGRESS" for ex in latest.values()):
                    return False
        return True

    def diagnose() -> str:
        missing = [k for k in silver_keys if not api.materializations(k, [STREAM_DAY])]
        unevaluated = [
            f"{key}:{name}"
            for key, names in checks.items()
            for name, partitioned in names.items()
            if (STREAM_DAY if partitioned else None)
            not in _latest_per_partition(api.check_executions(key, name), partitioned)
        ]
        runs = api.runs(tags={"dagster/partition": STREAM_DAY}, limit=20)
        return (
            f"Silver assets without {STREAM_DAY}: {missing}\nchecks not evaluated: {unevaluated}\n"
            f"runs for {STREAM_DAY}: "
            f"{[(r['runId'][:8], r['status'], _tags(r).get(SENSOR_TAG)) for r in runs]}\n"
            + api.failure_report()
        )

    wait_for(
        f"automation to build Silver for {STREAM_DAY} and evaluate its checks",
        settled,
        SILVER_TIMEOUT_S,
        interval_s=5,
        on_timeout=diagnose,
    )


def assert_every_check_passed(
    api: DagsterAPI, checks: dict[str, dict[str, bool]], required: bool = True
) -> int:
    """The newest evaluation of every check, per partition it was evaluated for, succeeded.

    ``required``: each check must have been evaluated at least once (the Silver fact tables' checks
    must; checks of other Silver-group assets count only where they ran)."""
    failures, evaluated = [], 0
    for key, names in sorted(checks.items()):
        for name, partitioned in names.items():
            latest = _latest_per_partition(api.check_executions(key, name), partitioned)
            assert latest or not required, f"check {key}:{name} was never evaluated"
            for partition, ex in latest.items():
                evaluated += 1
                if ex["status"] != "SUCCEEDED":
                    failures.append(f"{key}:{name} [{partition}] {_describe(ex)}")
    assert not failures, f"{len(failures)} of {evaluated} check evaluations did not pass:\n" + "\n".join(
        failures
    )
    return evaluated


def wait_for_report(api: DagsterAPI) -> dict[str, int]:
    """The day's report is rebuilt by automation after its Silver changed; return its numbers."""

    def reported() -> dict[str, Any] | None:
        mats = api.materializations(REPORT_ASSET, [STREAM_DAY])
        automated = {
            r["runId"] for r in api.runs(tags={AUTOMATION_TAG: "true", "dagster/partition": STREAM_DAY})
        }
        return next((m for m in mats if m["runId"] in automated), None)

    mat = wait_for(
        f"automation to build {REPORT_ASSET} for {STREAM_DAY}",
        reported,
        REPORT_TIMEOUT_S,
        interval_s=5,
        on_timeout=api.failure_report,
    )
    return {
        m["label"]: m["intValue"] for m in mat["metadataEntries"] if m["__typename"] == "IntMetadataEntry"
    }


# -- UI ---------------------------------------------------------------------------------------------


def assert_asset_graph_shows_groups(page: Page, url: str, artifacts: Path) -> None:
    page.goto(f"{url}/asset-groups")
    graph_groups = page.locator("[class*='CollapsedGroupNode_collapsedGroupNodeBox']")
    expect(graph_groups.first).to_be_visible()
    for group in GROUPS:
        node = graph_groups.filter(has=page.get_by_text(group, exact=True))
        expect(node, f"group {group} in the asset graph").to_have_count(1)
    screenshot(page, artifacts, "asset_graph")


def assert_checks_page_shows_passed(page: Page, url: str, check_names: list[str], artifacts: Path) -> None:
    """The Checks tab lists every check of the asset, each with the status "Succeeded"."""
    page.goto(f"{url}/assets/{CHECKED_ASSET}?view=checks")
    expect(page.get_by_text(f"Checks ({len(check_names)})")).to_be_visible()
    rows = page.locator("[class*='AssetChecks_checkRow']")
    expect(rows).to_have_count(len(check_names))
    for name in check_names:
        row = rows.filter(has=page.get_by_text(name, exact=True))
        expect(row, f"check {name} is listed").to_have_count(1)
        expect(row, f"check {name} is listed as passed").to_contain_text("Succeeded")
    rows.first.click()
    expect(
        page.get_by_text("Passed", exact=True).first, "the selected check's latest evaluation"
    ).to_be_visible()
    screenshot(page, artifacts, "fact_receipts_checks")


def assert_report_charts_render(page: Page, url: str, artifacts: Path) -> None:
    """The report's markdown opens in the UI and its embedded PNG charts actually decode."""
    page.goto(f"{url}/assets/{REPORT_ASSET}?view=events&partition={STREAM_DAY}")
    page.get_by_text("[Show Markdown]").first.click()
    dialog = page.get_by_role("dialog")
    images = dialog.locator("img[src^='data:image/png']")
    expect(images).to_have_count(REPORT_CHARTS)
    for i in range(REPORT_CHARTS):
        width = images.nth(i).evaluate("img => img.complete ? img.naturalWidth : 0")
        assert width > 0, f"chart {i} of the report did not render in the UI"
    screenshot(page, artifacts, "daily_report")


def test_backfill_stream_silver_checks_and_ui(
    dagster_dev: DagsterDev, api: DagsterAPI, repo: RepoSelector, artifacts: Path, chromium: Path
) -> None:
    started = time.monotonic()
    wait_for_daemon(api)
    assert api.sensor(repo, OUTBOX_SENSOR)["sensorState"]["status"] == "STOPPED", (
        "the streaming sensor must start stopped"
    )

    groups = _groups(api)
    missing_groups = [g for g in GROUPS if g not in groups]
    assert not missing_groups, (
        f"asset groups missing from the code location: {missing_groups} (have {sorted(groups)})"
    )
    silver_keys = sorted(
        k for k in groups["silver"] if k.startswith("ag/fact_")
    )  # the group also holds ag/dim_*
    assert len(silver_keys) == 18, silver_keys

    backfill_two_days(api, groups)
    backfill_sharded_days(api, repo)
    stream_run = stream_one_day(api, repo)
    api.stop_sensor(repo, OUTBOX_SENSOR)  # one streamed day is enough; each further tick streams another
    checks = _checks_of(api, silver_keys)
    other_checks = _checks_of(api, [k for k in groups["silver"] if k not in silver_keys])
    assert all(checks.get(k) for k in silver_keys), (
        f"Silver assets without checks: {[k for k in silver_keys if not checks.get(k)]}"
    )
    wait_for_silver_by_automation(api, silver_keys, checks)

    for key in silver_keys:
        mats = api.materializations(key, [STREAM_DAY])
        run_tags = {r["runId"]: _tags(r) for r in api.runs(tags={"dagster/partition": STREAM_DAY}, limit=50)}
        assert any(run_tags.get(m["runId"], {}).get(SENSOR_TAG) == SILVER_SENSOR for m in mats), (
            f"{key} {STREAM_DAY} was not materialized by a {SILVER_SENSOR} run"
        )
    silver_runs = {
        r["runId"] for r in api.runs(tags={"dagster/partition": STREAM_DAY, SENSOR_TAG: SILVER_SENSOR}, limit=50)
    }
    assert len(silver_runs) == 1, f"{STREAM_DAY}'s Silver must be built in one run, got {sorted(silver_runs)}"
    evaluated = assert_every_check_passed(api, checks) + assert_every_check_passed(
        api, other_checks, required=False
    )
    report = wait_for_report(api)
    assert report["events_streamed"] > 0 and report["silver_rows_stream"] > 0, (
        f"{STREAM_DAY} was not streamed: {report}"
    )

    api.dismiss_welcome_dialog()
    with open_browser() as browser, open_page(browser) as page:
        assert_asset_graph_shows_groups(page, dagster_dev.url, artifacts)
        assert_checks_page_shows_passed(page, dagster_dev.url, list(checks[CHECKED_ASSET]), artifacts)
        assert_report_charts_render(page, dagster_dev.url, artifacts)

    (artifacts / "summary.txt").write_text(
        f"stream run {stream_run['runId']} streamed {STREAM_DAY}; {evaluated} check evaluations passed; "
        f"e2e body took {time.monotonic() - started:.0f}s\n"
    )
