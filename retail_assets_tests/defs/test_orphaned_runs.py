"""``orphaned_run_sensor``: a STARTED run whose worker is gone is marked failed; a live one is not.

Real processes stand for the run workers (a ``sleep`` that runs, one that was killed), and a real
Dagster instance holds the runs with the pid Dagster records when it starts a worker. The whole
sequence (``dagster dev`` killed in a generation run, restarted, the queued day going on) was run by
hand against the UI; see the closing note of the stop that added the sensor.
"""

from __future__ import annotations

import subprocess
import sys
import time

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.test_utils import create_run_for_test

from retail_assets.code_location_runs import LOCATION_NAME
from retail_assets.defs.generation.backfill_runs import CLI_BACKFILL_TAG
from retail_assets.defs.orphaned_runs import (
    fail_orphaned_runs,
    orphaned_run_sensor,
    worker_is_gone,
    worker_pid,
)


def _origin(location: str) -> RemoteJobOrigin:
    repository = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin(location), "__repository__")
    return RemoteJobOrigin(repository, "sharded_generation_job")


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def _started_run(
    instance: dg.DagsterInstance, pid: int, location: str | None = LOCATION_NAME, tags: dict[str, str] | None = None
) -> str:
    """A run as Dagster records one whose worker ``pid`` started: the pid event, then RUN_START.
    ``location`` None: a run executed in a process of its own (``execute_job``), with no code location."""
    run = create_run_for_test(
        instance, job_name="sharded_generation_job", remote_job_origin=_origin(location) if location else None,
        tags=tags,
    )  # fmt: skip
    instance.report_engine_event(
        "Started process for run", run, EngineEventData(metadata={"pid": dg.MetadataValue.text(str(pid))})
    )
    instance.report_dagster_event(
        DagsterEvent(event_type_value=DagsterEventType.RUN_START.value, job_name=run.job_name), run_id=run.run_id
    )
    return run.run_id


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_a_run_whose_worker_is_gone_is_failed_and_a_live_one_is_left_alone(instance):
    live, dead = _sleeper(), _sleeper()
    try:
        live_run, dead_run = _started_run(instance, live.pid), _started_run(instance, dead.pid)
        dead.kill()
        dead.wait()
        assert worker_pid(instance, dead_run) == dead.pid
        later = time.time() + 60  # past the grace period of a just-started run
        assert fail_orphaned_runs(instance, now=time.time()) == []  # too young to judge
        assert fail_orphaned_runs(instance, now=later) == [dead_run]
        assert instance.get_run_by_id(dead_run).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(live_run).status == dg.DagsterRunStatus.STARTED
        failure = [e for e in instance.all_logs(dead_run) if e.dagster_event and e.dagster_event.is_run_failure]
        assert f"pid {dead.pid}" in failure[-1].message and "orphaned_run_sensor" in failure[-1].message
        assert fail_orphaned_runs(instance, now=later) == []  # once only
    finally:
        live.kill()
        live.wait()


def test_a_pid_taken_by_a_later_process_counts_as_gone():
    later = _sleeper()
    try:
        assert not worker_is_gone(later.pid, run_started_at=time.time())
        assert worker_is_gone(later.pid, run_started_at=time.time() - 3600)  # the run is older than it
    finally:
        later.kill()
        later.wait()


def test_runs_of_other_code_locations_are_not_touched(instance):
    gone = _sleeper()
    gone.kill()
    gone.wait()
    other = _started_run(instance, gone.pid, location="someone_elses_location")
    assert fail_orphaned_runs(instance, now=time.time() + 60) == []
    assert instance.get_run_by_id(other).status == dg.DagsterRunStatus.STARTED


def test_runs_of_a_killed_cli_backfill_are_failed_by_the_next_one_and_other_runs_are_left(instance):
    """``retail-assets backfill --workers`` runs in its own process (no code location): killed, its run
    said STARTED for ever. The next such command fails it at once (no grace: its pid is this machine's
    and was recorded before the run started); a run of the code location or anyone's run without the
    command's tag is left to the sensor, or alone."""
    gone = _sleeper()
    gone.kill()
    gone.wait()
    cli = _started_run(instance, gone.pid, location=None, tags={CLI_BACKFILL_TAG: "cli-1"})
    script = _started_run(instance, gone.pid, location=None)
    daemon = _started_run(instance, gone.pid)
    assert fail_orphaned_runs(instance, now=time.time(), grace_seconds=0, cli_runs_only=True) == [cli]
    assert instance.get_run_by_id(cli).status == dg.DagsterRunStatus.FAILURE
    assert fail_orphaned_runs(instance, now=time.time() + 60) == [daemon]  # the sensor's pass
    assert instance.get_run_by_id(script).status == dg.DagsterRunStatus.STARTED


def test_the_sensor_runs_by_default_and_says_what_it_did(instance):
    assert orphaned_run_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    result = orphaned_run_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SkipReason) and "live run worker" in result.skip_message
