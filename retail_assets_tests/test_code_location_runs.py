"""The demo's launch instance shares the persistent instance's storage and drops only its queue."""

from __future__ import annotations

from pathlib import Path

import yaml

from retail_assets.code_location_runs import REPO_ROOT, launch_instance_config, write_launch_instance


def test_a_sqlite_instance_is_spelled_out_with_the_persistent_paths(tmp_path: Path) -> None:
    config = launch_instance_config(tmp_path, REPO_ROOT / "dagster.yaml")
    assert config["storage"] == {"sqlite": {"base_dir": str(tmp_path.resolve())}}
    assert config["compute_logs"]["config"]["base_dir"] == str(tmp_path.resolve() / "storage")
    assert config["run_coordinator"]["class"] == "DefaultRunCoordinator"
    assert "run_queue" not in config and "run_monitoring" not in config
    assert config["python_logs"] == yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())["python_logs"]


def test_a_postgres_instance_keeps_its_storage(tmp_path: Path) -> None:
    postgres = yaml.safe_load((REPO_ROOT / "dagster.postgres.yaml").read_text())
    config = launch_instance_config(tmp_path, REPO_ROOT / "dagster.postgres.yaml")
    assert config["storage"] == postgres["storage"]
    assert config["run_coordinator"]["class"] == "DefaultRunCoordinator"


def test_the_launch_instance_is_written_next_to_the_persistent_one(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    directory = write_launch_instance(tmp_path)
    assert directory.parent == tmp_path
    assert yaml.safe_load((directory / "dagster.yaml").read_text())["storage"]["sqlite"]["base_dir"] == str(tmp_path.resolve())
