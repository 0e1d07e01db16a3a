"""The two Dagster instance files the project ships stay one configuration with two storages.

Why: ``dagster.postgres.yaml`` is a full copy of ``dagster.yaml`` plus a ``storage:`` block (a user
copies one file into DAGSTER_HOME), so a setting changed in one (run queue, tag limits, monitoring,
logging) and forgotten in the other would make the production instance behave differently from the
one every test runs. The demo must also install the file it is told to, not put SQLite back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from retail_assets.config import ConfigError, HomeSettings
from retail_assets.demo import INSTANCE_YAML_ENV, ensure_dagster_home

ROOT = Path(__file__).resolve().parents[1]
SQLITE_YAML = ROOT / "dagster.yaml"
POSTGRES_YAML = ROOT / "dagster.postgres.yaml"
PG_ENV_VARS = {"DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"}


def test_the_postgres_instance_is_the_default_one_plus_postgres_storage():
    default = yaml.safe_load(SQLITE_YAML.read_text())
    production = yaml.safe_load(POSTGRES_YAML.read_text())
    assert "storage" not in default, "dagster.yaml stays on Dagster's default (SQLite) storage"
    storage = production.pop("storage")
    assert production == default, "dagster.postgres.yaml must equal dagster.yaml apart from `storage:`"
    custom = storage["custom"]
    assert (custom["module"], custom["class"]) == ("retail_assets.pooled_postgres_storage", "PooledPostgresStorage")
    db = custom["config"]["postgres_db"]
    from_env = {v["env"] for v in db.values() if isinstance(v, dict) and "env" in v}
    assert from_env == PG_ENV_VARS, "every connection setting comes from the environment, no secret in the file"
    assert db["scheme"] == "postgresql+psycopg2"


def test_the_queue_daemon_looks_at_the_queue_every_second(tmp_path, monkeypatch):
    """A clicked run waits in the queue for the daemon's next look; Dagster's default is every 5 s.
    Loaded through Dagster, so a misspelt or ignored key fails here instead of silently costing a
    user seconds per click."""
    import dagster as dg

    (tmp_path / "dagster.yaml").write_text(SQLITE_YAML.read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        assert instance.run_coordinator.dequeue_interval_seconds == 1


def test_the_demo_installs_the_instance_file_it_is_told_to(tmp_path, monkeypatch):
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(tmp_path / "home")})
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv(INSTANCE_YAML_ENV, str(POSTGRES_YAML))
    installed = ensure_dagster_home(home) / "dagster.yaml"
    assert installed.read_bytes() == POSTGRES_YAML.read_bytes()

    monkeypatch.delenv(INSTANCE_YAML_ENV)
    assert (ensure_dagster_home(home) / "dagster.yaml").read_bytes() == SQLITE_YAML.read_bytes()


def test_the_demo_refuses_an_instance_file_that_does_not_exist(tmp_path, monkeypatch):
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(tmp_path / "home")})
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv(INSTANCE_YAML_ENV, str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match=r"RETAIL_ASSETS_DAGSTER_YAML=.*nope\.yaml is not a file"):
        ensure_dagster_home(home)


def test_make_ui_and_the_demo_log_outside_dagsters_telemetry_queue(tmp_path, monkeypatch):
    """Dagster's webserver and daemons move ``$DAGSTER_HOME/<their logs dir>`` away to upload it
    (whatever ``telemetry.enabled`` says): our logs must live elsewhere, and ``make ui`` switches the
    upload off."""
    from dagster_shared.telemetry import get_or_create_dir_from_dagster_home

    from retail_assets.demo import LOGS_DIR_NAME

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    telemetry_queue = Path(get_or_create_dir_from_dagster_home("logs"))
    assert telemetry_queue.parent == tmp_path
    assert telemetry_queue.name != LOGS_DIR_NAME
    makefile = (ROOT / "Makefile").read_text()
    assert f"UI_LOGS := {LOGS_DIR_NAME}\n" in makefile
    ui_recipe = makefile.split("\nui:", 1)[1].split("\n\n", 1)[0]
    assert "tee -a $(UI_LOGS)/ui.log" in ui_recipe
    assert "DAGSTER_DISABLE_TELEMETRY=1" in ui_recipe
