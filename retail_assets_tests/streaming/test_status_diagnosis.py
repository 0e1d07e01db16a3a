"""``outbox status`` never serves a stale snapshot as current, nor any snapshot for a damaged file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from retail_assets.cli import main
from retail_assets.config import HomeSettings
from retail_assets.streaming.outbox import Outbox, outbox_path
from retail_assets.streaming.status import read_status, snapshot_path, write_snapshot
from retail_assets_tests.duckdb_holder import held_by_another_process


def _outbox_with_snapshot(state: Path, writer: str, age_s: float = 0.0) -> Path:
    status = Outbox.in_state_dir(state).status()
    write_snapshot(state, {**status, "days": [{"event_date": "2024-01-03", "events": 9, "pending": 4}]}, writer)
    if age_s:
        doc = json.loads(snapshot_path(state).read_text())
        as_of = datetime.now(UTC) - timedelta(seconds=age_s)
        doc["as_of"] = as_of.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        snapshot_path(state).write_text(json.dumps(doc))
    return outbox_path(state)


def _live_writer() -> str:
    return f"cli:{socket.gethostname()}:{os.getpid()}:test"


def _dead_writer() -> str:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return f"cli:{socket.gethostname()}:{int(done.stdout)}:gone"


def test_damaged_outbox_reports_corrupt_not_the_snapshot_and_the_cli_fails(retail_env: HomeSettings, capsys) -> None:
    state = retail_env.state_dir
    database = _outbox_with_snapshot(state, _live_writer(), age_s=659)
    database.write_bytes(database.read_bytes()[:100])  # truncated

    status = read_status(state, lock_attempts=1)
    assert status["source"] == "corrupt" and status["healthy"] is False
    assert "pending" not in status and "sent" not in status  # nothing that reads as "0 pending"
    assert "is damaged" in status["error"] and f"mv {database}" in status["error"]
    assert status["last_snapshot"]["days"][0]["pending"] == 4  # which days still had unsent events
    assert status["last_snapshot"]["age_s"] >= 659

    assert main(["outbox", "status"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["source"] == "corrupt"
    assert "is damaged" in err and "Retrying cannot help" in err


def test_old_snapshot_behind_a_lock_is_marked_stale_with_its_age(tmp_path: Path) -> None:
    database = _outbox_with_snapshot(tmp_path, _live_writer(), age_s=659)
    with held_by_another_process(database):
        status = read_status(tmp_path, lock_attempts=1)
    assert status["source"] == "snapshot" and status["snapshot_age_s"] >= 659
    assert status["stale"] is True and status["writer_alive"] is True
    assert status["note"].startswith("STALE") and "s old, more than 60 s" in status["note"]


def test_snapshot_of_a_dead_writer_is_stale_even_when_fresh(tmp_path: Path) -> None:
    database = _outbox_with_snapshot(tmp_path, _dead_writer())
    with held_by_another_process(database):
        status = read_status(tmp_path, lock_attempts=1)
    assert status["source"] == "snapshot" and status["snapshot_age_s"] < 60
    assert status["stale"] is True and status["writer_alive"] is False
    assert "no longer running" in status["note"]


def test_fresh_snapshot_of_a_live_writer_is_not_stale(tmp_path: Path) -> None:
    database = _outbox_with_snapshot(tmp_path, _live_writer())
    with held_by_another_process(database):
        status = read_status(tmp_path, lock_attempts=1)
    assert status["source"] == "snapshot" and status["stale"] is False and "note" not in status


def test_writer_of_a_dagster_run_cannot_be_told_from_here(tmp_path: Path) -> None:
    database = _outbox_with_snapshot(tmp_path, "dagster:0a1b2c3d")
    with held_by_another_process(database):
        status = read_status(tmp_path, lock_attempts=1)
    assert status["writer_alive"] is None and status["stale"] is False
