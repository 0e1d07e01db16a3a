"""Outbox status that answers even while a streaming run holds the DuckDB file.

DuckDB lets one process write a file, and while it does, every other open — read-only too — fails
with a lock error. So the drain publishes a small JSON snapshot of the status after its batches
(written to a temp file and renamed, so a reader never sees half a file), and readers (CLI, sensor)
try the database first and fall back to the snapshot when the file is locked.

The snapshot is written by the run that holds the leases, so it is where "held by <owner> until
<time>" is read while a run is live; its ``state`` is re-derived at read time, so a lease that
expired since the snapshot was written is no longer called held.

A snapshot is only as good as its writer: when it is older than ``stale_after_s()`` or the process
that wrote it is gone, it is still served (it is the last known state) but marked ``stale: true``
with a ``note`` saying why. A damaged outbox file is never answered with the snapshot: the reader
gets ``source: "corrupt"``, the error and the restore steps (``OUTBOX_RESTORE``), without counts,
so nothing can mistake it for "0 pending".
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from retail_assets.config import positive_number_from_env
from retail_assets.streaming.lease_owner import DAGSTER, LEGACY_CLI, PROCESS, process_is_alive
from retail_assets.streaming.outbox import (
    OutboxCorruptError,
    OutboxLockedError,
    describe_state,
    outbox_path,
    plain_connection,
    status_query,
)

SNAPSHOT_FILE = "outbox_status.json"
STALE_SNAPSHOT_ENV = "RETAIL_ASSETS_SNAPSHOT_STALE_SECONDS"
# Why 60 s: a drain publishes between batches, at most every ``DrainSettings.snapshot_every_s``
# (1 s); one batch (150k events) takes a few seconds to the local sink and is bounded by the send
# timeout (10 s) per attempt against Event Hubs, so a live writer refreshes well within ~20 s.
# Three such intervals without a refresh means the writer stopped publishing.
DEFAULT_STALE_SNAPSHOT_S = 60.0


def snapshot_path(state_dir: Path) -> Path:
    return Path(state_dir) / SNAPSHOT_FILE


def write_snapshot(state_dir: Path, status: dict[str, Any], writer: str) -> None:
    """Atomically replace the snapshot (temp file in the same directory + ``os.replace``)."""
    path = snapshot_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {**status, "as_of": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "writer": writer}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, default=str))
    os.replace(tmp, path)


def read_snapshot(state_dir: Path) -> dict[str, Any] | None:
    path = snapshot_path(state_dir)
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def empty_status() -> dict[str, Any]:
    return {
        "pending": 0, "leased": 0, "sent": 0, "dead": 0, "backoff": 0, "next_retry_ts": None, "lease_holders": [],
        "oldest_pending_ts": None, "latest_sent_ts": None, "oldest_open_enqueued_ts": None,
        "by_event_type": {}, "dead_letters": [], "days": [], "state": "drained", "state_text": "drained: no events yet",
    }


def read_status(state_dir: Path, lock_attempts: int = 3, pause_s: float = 0.05) -> dict[str, Any]:
    """Status from the database (``source: "outbox"``), or from the snapshot while the file is
    locked (``source: "snapshot"`` with ``snapshot_age_s``). Never blocks for long, never fails on a lock."""
    database = outbox_path(state_dir)
    if not database.exists():
        return {**empty_status(), "source": "empty", "database": str(database)}
    try:
        with plain_connection(database, read_only=True, attempts=lock_attempts, pause_s=pause_s) as conn:
            conn.execute("SET TimeZone = 'UTC'").fetchall()
            try:
                status = status_query(conn)
            except duckdb.CatalogException:  # created but never initialised
                status = empty_status()
        return {**status, "source": "outbox", "database": str(database)}
    except OutboxCorruptError as exc:
        return corrupt_status(state_dir, database, exc)
    except OutboxLockedError as exc:
        snap = read_snapshot(state_dir)
        if snap is None:
            return {
                **empty_status(), "source": "unavailable", "database": str(database),
                "note": f"the outbox is locked by a running stream and no snapshot was published yet ({exc})",
            }
        now = datetime.now(UTC)
        age = snapshot_age_s(snap, now)
        state, state_text = describe_state(snap, now)
        doc = {
            **snap, "state": state, "state_text": state_text,
            "source": "snapshot", "snapshot_age_s": round(age, 3), "database": str(database),
        }
        return {**doc, **staleness(snap, age, stale_after_s())}


def stale_after_s(env: dict[str, str] | None = None) -> float:
    """Age beyond which a snapshot no longer describes a live drain (see DEFAULT_STALE_SNAPSHOT_S)."""
    return positive_number_from_env(STALE_SNAPSHOT_ENV, DEFAULT_STALE_SNAPSHOT_S, "seconds", "60", env)


def snapshot_age_s(snap: dict[str, Any], now: datetime | None = None) -> float:
    as_of = datetime.strptime(snap["as_of"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - as_of).total_seconds()


def writer_alive(writer: str) -> bool | None:
    """Whether the process that wrote a snapshot still runs: True/False for a ``process:``/``cli:``
    owner on this host (``lease_owner``), None when it cannot be told from here (another host, a
    Dagster run id, an owner string of unknown form)."""
    kind, _, rest = writer.partition(":")
    parts = rest.split(":")
    if kind == DAGSTER or kind not in (PROCESS, LEGACY_CLI) or len(parts) < 3 or parts[0] != socket.gethostname():
        return None
    return process_is_alive(writer)


def staleness(snap: dict[str, Any], age_s: float, limit_s: float) -> dict[str, Any]:
    """``stale``, ``writer_alive`` and, when stale, a ``note`` that says why and what to do."""
    writer = str(snap.get("writer", ""))
    alive = writer_alive(writer)
    reasons = []
    if alive is False:
        reasons.append(f"its writer {writer} is no longer running")
    if age_s > limit_s:
        reasons.append(f"it is {age_s:.0f} s old, more than {limit_s:g} s ({STALE_SNAPSHOT_ENV})")
    out: dict[str, Any] = {"stale": bool(reasons), "writer_alive": alive}
    if reasons:
        out["note"] = (
            f"STALE: this snapshot (as of {snap.get('as_of')}) is not current: {' and '.join(reasons)}, while "
            "another process holds the outbox file. The counts are the last ones published, not today's. "
            "Find the holder (the lock error names its PID), let it finish or stop it, then ask again."
        )
    return out


def corrupt_status(state_dir: Path, database: Path, exc: OutboxCorruptError) -> dict[str, Any]:
    """No counts (they would read as "nothing pending"); the error with its restore steps, and the
    last snapshot's per-day picture, which tells which days still had unsent events."""
    doc: dict[str, Any] = {"source": "corrupt", "healthy": False, "database": str(database), "error": str(exc)}
    snap = read_snapshot(state_dir)
    if snap is not None:
        doc["last_snapshot"] = {
            "as_of": snap.get("as_of"), "age_s": round(snapshot_age_s(snap), 3), "days": snap.get("days", []),
        }
    return doc


def wait_unlocked(state_dir: Path, timeout_s: float) -> bool:  # pragma: no cover - convenience for scripts
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if read_status(state_dir, lock_attempts=1)["source"] != "snapshot":
            return True
        time.sleep(0.1)
    return False
