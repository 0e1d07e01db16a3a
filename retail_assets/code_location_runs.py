"""Launch runs through the code location, as the UI does, so they show on the UI's Overview.

``job.execute_in_process`` records a run with no code-location origin: the Runs page lists it, but
the Overview timeline and each job's page (which group runs by location and repository) leave it
out. A run launched through a workspace carries that origin. :class:`CodeLocationLauncher` gets one
with public interfaces only: it starts ``dagster-webserver -w workspace.yaml`` on a free local port
(no daemon, so no sensor or schedule fires meanwhile), submits runs with dagster-graphql's
``DagsterGraphQLClient`` and waits for them in the instance.

The webserver runs against a *launch instance*: a ``dagster.yaml`` written next to the persistent
instance that points at the same SQLite storage, artifacts and compute logs, and replaces the run
queue by Dagster's ``DefaultRunCoordinator`` — the queue is dequeued by the daemon, and the
caller waits for each run anyway. Each run then executes in its own process started by the code
server, exactly as a run launched from the UI; its output goes to the webserver's log file, not to
the terminal.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from retail_assets.defs.partition_tags import PARTITION_TAG

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKSPACE_YAML = REPO_ROOT / "workspace.yaml"
LOCATION_NAME = "retail_assets"
"""The code location's name, set in ``workspace.yaml`` (``location_name``)."""
IMPLICIT_ASSET_JOB = "__ASSET_JOB"
"""The job name under which Dagster launches an asset selection (what the UI's Materialize does)."""
LAUNCH_INSTANCE_DIR = "launch_instance"
SERVER_READY_TIMEOUT_S = 300.0
RUN_TIMEOUT_S = 3600.0
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
QUEUE_KEYS = ("run_queue", "run_coordinator", "run_monitoring")
"""Settings of the persistent instance that belong to the daemon's queue, left out of the launch instance."""


class LaunchError(RuntimeError):
    """The launcher could not start, or a run never finished; the message names the log to read."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch_instance_config(dagster_home: Path, instance_yaml: Path | None) -> dict[str, Any]:
    """The persistent instance's settings minus its queue; what it leaves to DAGSTER_HOME's defaults
    (SQLite storage, artifacts, compute logs) is spelled out with the persistent instance's paths, so
    the launch instance reads and writes the same runs (a Postgres ``storage`` is kept as it is)."""
    base = yaml.safe_load(instance_yaml.read_text()) if instance_yaml and instance_yaml.is_file() else {}
    config = {k: v for k, v in (base or {}).items() if k not in QUEUE_KEYS}
    home = str(dagster_home.resolve())
    if not {"storage", "run_storage", "event_log_storage", "schedule_storage"} & set(config):
        config["storage"] = {"sqlite": {"base_dir": home}}
    config.setdefault(
        "local_artifact_storage",
        {"module": "dagster.core.storage.root", "class": "LocalArtifactStorage", "config": {"base_dir": home}},
    )
    config.setdefault(
        "compute_logs",
        {
            "module": "dagster.core.storage.local_compute_log_manager",
            "class": "LocalComputeLogManager",
            "config": {"base_dir": str(Path(home) / "storage")},
        },
    )
    config["run_coordinator"] = {"module": "dagster.core.run_coordinator", "class": "DefaultRunCoordinator"}
    return config


def write_launch_instance(dagster_home: Path) -> Path:
    """Write (or refresh) the launch instance's ``dagster.yaml``; returns its directory."""
    directory = dagster_home / LAUNCH_INSTANCE_DIR
    directory.mkdir(parents=True, exist_ok=True)
    config = launch_instance_config(dagster_home, dagster_home / "dagster.yaml")
    header = "# Written by retail_assets/code_location_runs.py: the instance in .. without its run queue.\n"
    (directory / "dagster.yaml").write_text(header + yaml.safe_dump(config, sort_keys=False))
    return directory


@dataclass(frozen=True)
class LaunchedRun:
    """A finished run: what the demo reads of it (its id, status and check evaluations)."""

    run_id: str
    status: str
    instance: Any  # dagster.DagsterInstance

    @property
    def success(self) -> bool:
        return self.status == "SUCCESS"

    def get_asset_check_evaluations(self) -> list[Any]:
        """The run's ``AssetCheckEvaluation``s, read from the event log."""
        import dagster as dg

        entries = self.instance.all_logs(self.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        return [e.asset_check_evaluation for e in entries if e.asset_check_evaluation is not None]


class CodeLocationLauncher:
    """A private ``dagster-webserver`` for launching runs; use as a context manager (always stopped)."""

    def __init__(self, instance: Any, dagster_home: Path, log_path: Path, env: Mapping[str, str] | None = None):
        self.instance = instance
        self.dagster_home = Path(dagster_home)
        self.log_path = Path(log_path)
        self.env = dict(os.environ if env is None else env)
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._client: Any = None

    def __enter__(self) -> CodeLocationLauncher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        launch_home = write_launch_instance(self.dagster_home)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # DAGSTER_DISABLE_TELEMETRY: otherwise the webserver queues and uploads $DAGSTER_HOME/logs
        # (see demo.LOGS_DIR_NAME), telemetry switched off in dagster.yaml or not
        env = {**self.env, "DAGSTER_HOME": str(launch_home), "DAGSTER_DISABLE_TELEMETRY": "1"}
        command = [
            sys.executable, "-m", "dagster_webserver", "-w", str(WORKSPACE_YAML),
            "-h", "127.0.0.1", "-p", str(self.port),
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_until_loaded()
        from dagster_graphql import DagsterGraphQLClient

        self._client = DagsterGraphQLClient("127.0.0.1", port_number=self.port)

    def _location_status(self) -> str | None:
        """'LOADED', 'ERROR: …', or None while the webserver or the location is still starting."""
        import json
        import urllib.request

        query = (
            "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
            "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": query}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        for entry in entries:
            if entry["name"] != LOCATION_NAME or entry["loadStatus"] != "LOADED":
                continue
            loaded = entry["locationOrLoadError"] or {}
            if loaded.get("__typename") == "PythonError":
                return f"ERROR: {loaded.get('message', '')}"
            return "LOADED"
        return None

    def _wait_until_loaded(self) -> None:
        deadline = time.monotonic() + SERVER_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise LaunchError(
                    f"dagster-webserver exited with code {self._process.returncode} before the code location "
                    f"'{LOCATION_NAME}' loaded; see {self.log_path}."
                )
            status = self._location_status()
            if status == "LOADED":
                return
            if status is not None:
                raise LaunchError(f"the code location '{LOCATION_NAME}' failed to load: {status[7:]}")
            time.sleep(1.0)
        raise LaunchError(
            f"the code location '{LOCATION_NAME}' did not load within {SERVER_READY_TIMEOUT_S:.0f} s; see {self.log_path}."
        )

    def run(
        self,
        job_name: str,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        asset_selection: Sequence[Any] | None = None,
        partition_key: str | None = None,
        timeout_s: float = RUN_TIMEOUT_S,
    ) -> LaunchedRun:
        """Submit one run through the code location and wait until it has finished."""
        all_tags = dict(tags or {})
        if partition_key is not None:
            all_tags[PARTITION_TAG] = partition_key
        run_id = self._client.submit_job_execution(
            job_name,
            repository_location_name=LOCATION_NAME,
            run_config=dict(run_config or {}),
            tags=all_tags,
            asset_selection=list(asset_selection) if asset_selection is not None else None,
        )
        return self.wait(run_id, timeout_s)

    def wait(self, run_id: str, timeout_s: float = RUN_TIMEOUT_S) -> LaunchedRun:
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.instance.get_run_by_id(run_id)
            status = run.status.value if run is not None else "UNKNOWN"
            if status in TERMINAL:
                return LaunchedRun(run_id, status, self.instance)
            if time.monotonic() > deadline:
                raise LaunchError(f"run {run_id} is still {status} after {timeout_s:.0f} s; see {self.log_path}.")
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the webserver and its code server (one process group), politely first."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue
