"""Start ``dagster dev`` (webserver + daemon + code server) for a test, and always stop all of it.

Why a process group: ``dagster dev`` starts the webserver, the daemon and a code server, and the
daemon starts one process per run; none of them call ``setsid``, so every one of them stays in the
group we create with ``start_new_session=True`` (``setsid(2)``). Stopping is therefore one
``killpg``: first SIGINT (what Ctrl-C sends), then SIGKILL for whatever ignores it — ``dagster dev``
is known to linger — and finally any descendant that somehow left the group, by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import psutil

T = TypeVar("T")


class E2EError(AssertionError):
    """An end-to-end step did not reach its goal; the message carries what was seen."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout_s: float,
    interval_s: float = 2.0,
    on_timeout: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` until it returns something other than None/False; fail after ``timeout_s``.

    The failure names what was awaited and appends ``on_timeout()`` (diagnostics such as recent
    run failures or sensor ticks), so a red test explains itself without re-running it.
    """
    deadline = time.monotonic() + timeout_s
    last_exc: Exception | None = None
    while True:
        try:
            value = probe()
            if value is not None and value is not False:
                return value
        except E2EError:
            raise
        except Exception as exc:  # a probe may hit a server that is still starting
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = on_timeout() if on_timeout else ""
            cause = f"\nlast probe error: {last_exc!r}" if last_exc else ""
            raise E2EError(f"timed out after {timeout_s:.0f}s waiting for {what}.{cause}\n{detail}")
        time.sleep(interval_s)


DEFAULT_SIGINT = [shutil.which("env") or "/usr/bin/env", "--default-signal=INT"]
"""Undo an inherited "ignore SIGINT" (background jobs of a non-interactive shell have it), so the
polite first stop signal reaches dagster dev like a Ctrl-C would. Why coreutils' ``env`` and not a
``preexec_fn``: a ``preexec_fn`` makes Python fork and run Python code in the child, where fork
handlers of libraries the test process loaded (gRPC's) run too; that made a server "exit" at start
in the Azure helper (``retail_assets_tests.azure.processes``). ``env`` resets the signal and execs."""


@dataclass
class DagsterDev:
    """One ``dagster dev`` process group serving ``workspace`` on ``127.0.0.1:port``."""

    repo_root: Path
    env: Mapping[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    argv: list[str] | None = None
    """Command to run instead of ``dagster dev`` (tests of this harness use a stand-in)."""
    process: subprocess.Popen[bytes] | None = None
    _log: IO[Any] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        dagster_cli = Path(sys.executable).with_name("dagster")
        workspace = self.repo_root / "workspace.yaml"
        cmd = self.argv or [
            str(dagster_cli),
            "dev",
            "-w",
            str(workspace),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*DEFAULT_SIGINT, *cmd],
            cwd=self.repo_root,
            env=dict(self.env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def assert_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise E2EError(f"dagster dev exited (code {code}).\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no dagster dev log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"--- last {lines} lines of {self.log_path} ---\n" + "\n".join(text[-lines:])

    def stop(self, grace_s: float = 8.0) -> None:
        """Stop the whole process group: SIGINT, then SIGKILL, then stragglers by pid."""
        proc = self.process
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: the leader's pid is the group id
        try:
            descendants = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            descendants = []
        for sig in (signal.SIGINT, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=grace_s)
                _, alive = psutil.wait_procs(descendants, timeout=grace_s if sig == signal.SIGINT else 5)
                if not alive:
                    break
            except subprocess.TimeoutExpired:
                continue
        for child in descendants:
            try:
                if child.is_running():
                    child.kill()
            except psutil.NoSuchProcess:
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
        self.process = None
