"""Server processes for tests (Azurite, Sail) that cannot outlive the process that started them.

Why ``PR_SET_PDEATHSIG``: a fixture's teardown does not run when pytest is killed (SIGKILL, an OOM,
a CI timeout), and a leftover emulator keeps its port and memory on a shared machine. The kernel
sends the child SIGKILL as soon as its parent dies, whatever way it died. Each server also gets a
lifetime bound (``max_lifetime_s``): a watchdog thread kills it if a test run hangs past it.

Why through ``setpriv --pdeathsig`` rather than a ``preexec_fn``: a ``preexec_fn`` makes Python start
the child with ``fork()``, which runs every library's fork handlers in it. A test process that has
used Spark Connect has gRPC loaded, and gRPC's handler restarts its poller thread in the child,
where ``close_fds`` has already closed the poller's epoll descriptor: the child aborted before it
could ``exec`` ("epoll_wait error: Bad file descriptor", grpc/grpc#43055), and the Sail server
"exited" at start in one CI run out of many. Without a ``preexec_fn`` Python starts the child with
``vfork``, which runs no handlers; ``setpriv`` (util-linux) sets the parent-death signal and execs the
server. Without ``setpriv`` the ``preexec_fn`` remains the fallback.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1
SETPRIV = shutil.which("setpriv")


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: ask the kernel for SIGKILL when the parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class ServerProcess:
    """A started server: its process, its output log and the lifetime watchdog."""

    name: str
    process: subprocess.Popen
    log: Path
    _watchdog: threading.Timer | None = field(default=None, repr=False)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace_s``; idempotent."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(grace_s)


def spawn(name: str, argv: Sequence[str], log: Path, cwd: Path | None = None, env: dict | None = None,
          max_lifetime_s: float = 1800.0) -> ServerProcess:
    """Start ``argv`` with stdout+stderr to ``log``, bound to this process's life and to ``max_lifetime_s``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        if SETPRIV:
            command, preexec = [SETPRIV, "--pdeathsig", "KILL", "--", *argv], None
        else:
            command, preexec = list(argv), _die_with_parent
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, env=env,
            preexec_fn=preexec,
        )
    server = ServerProcess(name, process, log)
    watchdog = threading.Timer(max_lifetime_s, lambda: process.poll() is None and process.kill())
    watchdog.daemon = True
    watchdog.start()
    server._watchdog = watchdog
    return server


def wait_for_output(server: ServerProcess, pattern: str, timeout_s: float) -> re.Match:
    """Wait until the server's log matches ``pattern``; fail with the log when it exits or times out."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        match = regex.search(server.output())
        if match:
            return match
        if not server.alive():
            break
        time.sleep(0.05)
    with contextlib.suppress(Exception):
        server.stop()
    state = "exited" if server.process.returncode is not None else f"did not start within {timeout_s:.0f} s"
    raise RuntimeError(f"{server.name} {state}; its output:\n{server.output()[-3000:]}")
