"""A test server cannot outlive the process that started it, and is started without fork handlers."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from retail_assets_tests.azure import processes

PARENT = """
import os, sys
from pathlib import Path
from retail_assets_tests.azure.processes import spawn
server = spawn("sleeper", ["sleep", "120"], Path(sys.argv[1]))
# Die only once the server runs (setpriv has set the parent-death signal and exec'd it): a parent
# that exits before setpriv's prctl leaves no parent to die, which this test is not about (seen once
# in CI on a loaded machine).
import time, psutil
deadline = time.monotonic() + 30
while psutil.Process(server.process.pid).name() != "sleep" and time.monotonic() < deadline:
    time.sleep(0.01)
print(server.process.pid, flush=True)
os._exit(0)  # no teardown, as when pytest is killed
"""


def test_a_server_is_killed_when_the_process_that_started_it_dies(tmp_path):
    started = subprocess.run(
        [sys.executable, "-c", PARENT, str(tmp_path / "sleeper.log")], capture_output=True, text=True, timeout=60
    )
    assert started.returncode == 0, started.stderr
    pid = int(started.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        psutil.Process(pid).kill()
        raise AssertionError(f"the server (pid {pid}) outlived the process that started it")


def test_a_server_is_started_without_a_preexec_function_where_setpriv_exists(tmp_path, monkeypatch):
    """A ``preexec_fn`` forces ``fork()``, which runs gRPC's fork handler in the child: it crashed the
    Sail server's start once a test process had used Spark Connect (see the module docstring)."""
    seen: dict = {}
    real_popen = subprocess.Popen

    def recording_popen(args, **kwargs):
        seen.update(args=list(args), preexec_fn=kwargs.get("preexec_fn"))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(processes.subprocess, "Popen", recording_popen)
    server = processes.spawn("true", ["true"], tmp_path / "true.log")
    server.process.wait(10)
    server.stop()
    if processes.SETPRIV:
        assert seen["preexec_fn"] is None
        assert seen["args"][:4] == [processes.SETPRIV, "--pdeathsig", "KILL", "--"]
    else:
        assert seen["preexec_fn"] is processes._die_with_parent
