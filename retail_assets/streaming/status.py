"""Outbox status that answers even while a streaming run holds the DuckDB file.

DuckDB lets one process write a file, and while it does, every other open — read-only too — fails
with a lock error. So the drain publishes a small JSON snapshot of the status after its batches
(written to a temp file and renamed, so a reader never sees half a file), and readers (CLI, sensor)
try the database first and fall back to the snapshot when the file is locked.

The snapshot is written by the run that holds the leases, so it is where "held by <owner> until
<time>" is read while a run is live; its ``state`` is re-derived at read time, so a lease that
expired since the snapshot was written is no longer called held.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from retail_assets.streaming.outbox import (
    OutboxLockedError,
    describe_state,
    outbox_path,
    plain_connection,
    status_query,
)

SNAPSHOT_FILE = "outbox_status.json"


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
    except OutboxLockedError as exc:
        snap = read_snapshot(state_dir)
        if snap is None:
            return {
                **empty_status(), "source": "unavailable", "database": str(database),
                "note": f"the outbox is locked by a running stream and no snapshot was published yet ({exc})",
            }
        as_of = datetime.strptime(snap["as_of"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        now = datetime.now(UTC)
        age = (now - as_of).total_seconds()
        state, state_text = describe_state(snap, now)
        return {
            **snap, "state": state, "state_text": state_text,
            "source": "snapshot", "snapshot_age_s": round(age, 3), "database": str(database),
        }


def wait_unlocked(state_dir: Path, timeout_s: float) -> bool:  # pragma: no cover - convenience for scripts
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if read_status(state_dir, lock_attempts=1)["source"] != "snapshot":
            return True
        time.sleep(0.1)
    return False
