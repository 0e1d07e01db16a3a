"""The production instance: ``dagster dev`` on ``dagster.postgres.yaml`` against a real PostgreSQL.

What it proves, against a server this test starts on loopback (``scripts/local_postgres.sh``) and
always stops: the webserver, the daemon and the run it launches all use PostgreSQL for run storage,
event logs and schedule/sensor storage. The daemon ticks ``silver_day_sensor``; the test stops that
sensor through GraphQL (an instigator state write) and launches a backfill of one Bronze batch day,
which the daemon runs. Then it reads PostgreSQL itself (not through Dagster): the run, its partitioned
materialization events, the backfill, the daemons' heartbeats, the sensor's ticks and stopped state
— and finds no SQLite storage under DAGSTER_HOME.

Lean on purpose: one small day, one run, no browser. The dimensions are written beforehand by the
plain pipeline (no Dagster run, so no automation run of the ``ag/dim_*`` copies either), and the
sensor is stopped before the day lands (no Silver run). The UI, the sensors' behaviour and the
Silver checks are covered by ``test_operate_in_ui.py`` on the default instance; only the storage
differs here.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.contract import FACT_TABLES
from retail_assets.pipeline import build_and_write_dimensions
from retail_assets_tests.e2e.conftest import (
    E2E_START_DATE,
    REPO_ROOT,
    SERVER_READY_TIMEOUT_S,
    e2e_environment,
)
from retail_assets_tests.e2e.graphql_api import DagsterAPI
from retail_assets_tests.e2e.postgres import LocalPostgres
from retail_assets_tests.e2e.server import DagsterDev, E2EError, wait_for

pytestmark = pytest.mark.e2e

DAY = E2E_START_DATE.isoformat()
CHECKED_KEY = dg.AssetKey(["cusn", "fact_receipts"])
TICKING_SENSOR = "silver_day_sensor"  # RUNNING by default, so the daemon ticks it without any click
DAEMONS = ("SENSOR", "BACKFILL", "QUEUED_RUN_COORDINATOR")
BACKFILL_DONE = ("COMPLETED_SUCCESS", "COMPLETED", "COMPLETED_FAILED", "FAILED", "CANCELED")
BACKFILL_TIMEOUT_S = 300
TICK_TIMEOUT_S = 90
BRONZE_TABLES = len(FACT_TABLES)
SQLITE_FILES = ("storage/runs.db", "storage/index.db", "schedules/schedules.db")


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    pg = LocalPostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()
    assert not pg.root.exists(), f"the cluster directory {pg.root} was not removed"


@pytest.fixture(scope="module")
def pg_dagster(
    postgres: LocalPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DagsterDev, Path]]:
    """``dagster dev`` with ``dagster.postgres.yaml`` as its instance; always killed after."""
    home = tmp_path_factory.mktemp("e2e-postgres") / "retail_home"
    env = {**e2e_environment(home), **postgres.env}
    dagster_home = Path(env["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / "dagster.postgres.yaml", dagster_home / "dagster.yaml")
    artifacts = REPO_ROOT / "test-artifacts" / "e2e"
    artifacts.mkdir(parents=True, exist_ok=True)
    server = DagsterDev(repo_root=REPO_ROOT, env=env, log_path=artifacts / "dagster_dev_postgres.log")
    try:
        server.start()
        # while the code location loads: the lake's dimensions, which the Bronze day reads
        build_and_write_dimensions(HomeSettings.from_env(env), DatasetSettings.from_env(env))
        api = DagsterAPI("127.0.0.1", server.port)

        def loaded() -> bool:
            server.assert_alive()
            return api.loaded_repository() is not None

        wait_for(
            "the code location to load on the Postgres instance",
            loaded,
            SERVER_READY_TIMEOUT_S,
            on_timeout=server.log_tail,
        )
        yield server, dagster_home
    finally:
        server.stop()


def _backfill_one_day(api: DagsterAPI) -> dict[str, Any]:
    """One Bronze batch day (all 18 tables, one single-run backfill), run by the daemon."""
    keys = ["/".join(n["assetKey"]["path"]) for n in api.asset_nodes() if n["groupName"] == "bronze_batch"]
    backfill_id = api.launch_backfill(keys, [DAY], title="e2e: Postgres instance")

    def finished() -> dict[str, Any] | None:
        bf = api.backfill(backfill_id)
        return bf if bf["status"] in BACKFILL_DONE else None

    bf = wait_for(
        f"backfill {backfill_id} to finish",
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


def test_runs_events_backfills_and_sensor_state_live_in_postgres(
    pg_dagster: tuple[DagsterDev, Path], postgres: LocalPostgres
):
    server, dagster_home = pg_dagster
    api = DagsterAPI("127.0.0.1", server.port)
    repo = api.loaded_repository()
    assert repo is not None

    # Schedule/sensor storage: the daemon's ticks of a sensor that runs by default, then the state
    # the webserver writes when a user stops it.
    def ticks() -> int | None:
        (n,) = postgres.query(
            "SELECT count(*) FROM job_ticks WHERE type = 'SENSOR' AND tick_body LIKE %s",
            (f"%{TICKING_SENSOR}%",),
        )[0]
        return n or None

    assert wait_for(f"a tick of {TICKING_SENSOR} in job_ticks", ticks, TICK_TIMEOUT_S) >= 1
    api.stop_sensor(repo, TICKING_SENSOR)
    states = postgres.query(
        "SELECT status FROM instigators WHERE instigator_type = 'SENSOR' AND instigator_body LIKE %s",
        (f"%{TICKING_SENSOR}%",),
    )
    assert states == [("STOPPED",)], states

    # Run storage: the backfill and its run, finished, as the daemon recorded them.
    bf = _backfill_one_day(api)
    run_ids = [r["runId"] for r in bf["runs"]]
    assert len(run_ids) == 1, f"a single-run backfill policy gives one run, got {run_ids}"
    rows = postgres.query("SELECT run_id, status FROM runs WHERE run_id = ANY(%s)", (run_ids,))
    assert rows == [(run_ids[0], "SUCCESS")]
    (status,) = postgres.query("SELECT status FROM bulk_actions WHERE key = %s", (bf["id"],))[0]
    assert status in ("COMPLETED_SUCCESS", "COMPLETED")

    # Event log storage: the run process wrote one partitioned materialization per Bronze table.
    materialized = postgres.query(
        "SELECT asset_key, partition FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
        (run_ids[0],),
    )
    assert (CHECKED_KEY.to_string(), DAY) in materialized
    assert len({k for k, _ in materialized}) == BRONZE_TABLES and {p for _, p in materialized} == {DAY}
    assert postgres.query("SELECT 1 FROM asset_keys WHERE asset_key = %s", (CHECKED_KEY.to_string(),))

    # The daemon's own bookkeeping.
    daemons = {d for (d,) in postgres.query("SELECT daemon_type FROM daemon_heartbeats")}
    assert set(DAEMONS) <= daemons, daemons

    # Nothing went to SQLite on the side.
    present = [f for f in SQLITE_FILES if (dagster_home / f).exists()]
    assert not present, f"SQLite storage under {dagster_home}: {present}"


CHECKS_PER_RUN = 20


@pytest.fixture
def postgres_env(postgres: LocalPostgres, monkeypatch: pytest.MonkeyPatch) -> LocalPostgres:
    """The server's ``DAGSTER_PG_*`` variables in this process's environment (the instance file reads them)."""
    for name, value in postgres.env.items():
        monkeypatch.setenv(name, value)
    return postgres


def _home_with(instance_yaml: str | Path, dagster_home: Path) -> Path:
    """A new DAGSTER_HOME holding ``instance_yaml`` (relative to the repository) as its dagster.yaml."""
    dagster_home.mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / instance_yaml, dagster_home / "dagster.yaml")
    return dagster_home


def _connections_opened_by_a_run(instance_yaml: str | Path, dagster_home: Path) -> tuple[int, int]:
    """(DBAPI connections opened, events stored) by one in-process run of an asset with
    ``CHECKS_PER_RUN`` checks, against an instance loaded from ``instance_yaml``."""
    import sqlalchemy

    _home_with(instance_yaml, dagster_home)
    names = [f"rule_{i}" for i in range(CHECKS_PER_RUN)]

    @dg.asset(check_specs=[dg.AssetCheckSpec(n, asset="pooled_probe") for n in names])
    def pooled_probe() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            check_results=[dg.AssetCheckResult(check_name=n, passed=True) for n in names]
        )

    opened = []
    listener = lambda *_: opened.append(1)  # noqa: E731
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", listener)
        try:
            result = dg.materialize([pooled_probe], instance=instance)
        finally:
            sqlalchemy.event.remove(sqlalchemy.engine.Engine, "connect", listener)
        assert result.success
        events = len(instance.all_logs(result.run_id))
        evaluated = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("pooled_probe"), n) for n in names]
        )
        assert len(evaluated) == CHECKS_PER_RUN, "every check evaluation is stored and readable"
    return len(opened), events


def test_a_run_on_the_production_instance_reuses_its_connections(postgres_env: LocalPostgres, tmp_path: Path):
    """dagster-postgres opens a connection per statement (~5 ms each here: a fork and a SCRAM
    exchange); ``dagster.postgres.yaml``'s storage keeps one per storage open for the process."""
    plain_yaml = tmp_path / "plain.postgres.yaml"
    production = yaml.safe_load((REPO_ROOT / "dagster.postgres.yaml").read_text())
    production["storage"] = {"postgres": production["storage"]["custom"]["config"]}
    plain_yaml.write_text(yaml.safe_dump(production))

    pooled, events = _connections_opened_by_a_run("dagster.postgres.yaml", tmp_path / "pooled")
    plain, _ = _connections_opened_by_a_run(plain_yaml, tmp_path / "plain")
    assert events > 2 * CHECKS_PER_RUN
    assert plain > events, f"dagster-postgres's own storage: {plain} connections for {events} events"
    assert pooled <= 6, f"the pooled storage opened {pooled} connections for {events} events"


def test_a_long_lived_process_survives_a_database_restart(postgres_env: LocalPostgres, tmp_path: Path):
    """Kept-open connections die with the server (a restart, a failover, a proxy's idle timeout); the
    daemon and the webserver live through that, so the next run must not fail on a dead connection."""
    dagster_home = _home_with("dagster.postgres.yaml", tmp_path / "dagster_home")

    @dg.asset(check_specs=[dg.AssetCheckSpec("rule", asset="restart_probe")])
    def restart_probe() -> dg.MaterializeResult:
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(check_name="rule", passed=True)])

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert dg.materialize([restart_probe], instance=instance).success
        postgres_env.restart()
        after = dg.materialize([restart_probe], instance=instance)
        assert after.success
        assert instance.get_run_record_by_id(after.run_id) is not None
