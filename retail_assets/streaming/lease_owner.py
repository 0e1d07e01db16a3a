"""Who holds an outbox lease, and whether that holder still runs.

Why: a lease says "this run is sending these events". When the run is killed that is no longer
true, yet the lease would keep the events from every other run until it expires (120 s by
default) — and a run that saw nothing to lease used to call that "drained". An owner string that
says how to check its holder lets the next run take the events back at once, and lets status name
the holder of live leases ("held by … until …").

Owner formats (``kind:rest``):

* ``process:<host>:<pid>:<start>`` — a plain process (the CLI). ``<start>`` is the process's start
  time in clock ticks since boot (field 22 of ``/proc/<pid>/stat``), so a pid the kernel reused for a
  later process is not mistaken for the owner; ``-`` where ``/proc`` is not available.
* ``dagster:<run_id>/process:<host>:<pid>:<start>`` — a Dagster run and the process executing it:
  gone when that process is gone (a run worker killed with ``kill -9`` stays "STARTED" in Dagster
  until run monitoring notices) or when the run is no longer in progress. Only Dagster knows the
  latter, so the job passes the check in (``owner_liveness(dagster_run_in_progress=...)``).
  ``dagster:<run_id>`` alone (older runs) is checked by the run only.
* ``cli:<host>:<pid>:<tag>`` — the CLI's owner before start tokens existed (pid check only).

Anything else (a test's ``"run-1"``, the benchmark's ``"bench"``), a process on another host, or a
Dagster run without a check, is taken as alive: its leases return when they expire, as before.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

LivenessCheck = Callable[[str], bool]
"""``is_alive(owner) -> bool``: False only when the owner is known to be gone."""

PROCESS = "process"
DAGSTER = "dagster"
LEGACY_CLI = "cli"
NO_START_TOKEN = "-"
_PROC = Path("/proc")


def process_start_token(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot, or None when it cannot be read.

    ``/proc/<pid>/stat`` is ``pid (comm) state ppid …``; ``comm`` may hold spaces and parentheses,
    so the fields are counted from the last ``)``: ``state`` is field 3, ``starttime`` field 22.
    """
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] == "Z":  # a zombie has exited; only its exit status remains
        return None
    return fields[19]


def process_owner(pid: int | None = None, host: str | None = None) -> str:
    """The owner string of this process (or ``pid``): ``process:<host>:<pid>:<start>``."""
    pid = os.getpid() if pid is None else pid
    start = process_start_token(pid) or NO_START_TOKEN
    return f"{PROCESS}:{host or socket.gethostname()}:{pid}:{start}"


def dagster_owner(run_id: str, pid: int | None = None) -> str:
    """The owner string of Dagster run ``run_id`` executing in this process (or ``pid``)."""
    return f"{DAGSTER}:{run_id}/{process_owner(pid)}"


def dagster_run_id(owner: str) -> str | None:
    """The run id of a ``dagster:<run_id>[/<process owner>]`` owner, else None."""
    kind, _, rest = owner.partition(":")
    run_id = rest.partition("/")[0]
    return run_id if kind == DAGSTER and run_id else None


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    if _PROC.is_dir():  # a killed child that nobody reaped yet still answers kill(0): a zombie
        stat = _PROC / str(pid) / "stat"
        try:
            text = stat.read_text()
        except OSError:
            return False
        return text[text.rfind(")") + 2 :].split()[:1] != ["Z"]
    return True


def process_is_alive(owner: str, this_host: str | None = None) -> bool:
    """Liveness of a ``process:`` or legacy ``cli:`` owner; True for anything it cannot check."""
    kind, _, rest = owner.partition(":")
    if kind not in (PROCESS, LEGACY_CLI):
        return True
    parts = rest.split(":")
    if len(parts) < 3 or not parts[1].isdigit():
        return True
    host, pid, token = parts[0], int(parts[1]), parts[2]
    if host != (this_host or socket.gethostname()):
        return True  # another machine's process: only its lease expiry can tell
    if not _pid_exists(pid):
        return False
    if kind == PROCESS and token != NO_START_TOKEN:
        now_token = process_start_token(pid)
        if now_token is not None and now_token != token:
            return False  # the pid was reused by a later process
    return True


def owner_liveness(dagster_run_in_progress: Callable[[str], bool] | None = None) -> LivenessCheck:
    """The ``is_alive`` check for ``Outbox.reclaim_orphaned_leases`` and ``drain``.

    ``dagster_run_in_progress(run_id)`` answers for ``dagster:`` owners (the streaming job passes
    "is this run still queued/starting/started"); without it Dagster owners count as alive.
    """
    host = socket.gethostname()

    def is_alive(owner: str) -> bool:
        run_id = dagster_run_id(owner)
        if run_id is None:
            return process_is_alive(owner, host)
        executor = owner.partition("/")[2]
        if executor and not process_is_alive(executor, host):
            return False
        return True if dagster_run_in_progress is None else bool(dagster_run_in_progress(run_id))

    return is_alive
