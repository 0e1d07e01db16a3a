"""Crash safety (kill -9 mid-drain) and status while another process holds the outbox file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.compute as pc

from retail_assets.lake import delta
from retail_assets.streaming.outbox import outbox_path
from retail_assets.streaming.status import read_snapshot, read_status

ROOT = Path(__file__).resolve().parents[2]


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RETAIL_ASSETS_HOME": str(home),
        "RETAIL_ASSETS_SCALE_FACTOR": "0.01",
        "RETAIL_ASSETS_START_DATE": "2024-03-04",
        "PYTHONPATH": str(ROOT),
    }


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "retail_assets.cli", *args]


def test_kill_9_mid_drain_then_rerun_lands_every_event_exactly_once(tmp_path):
    home = tmp_path / "home"
    env = _env(home)
    proc = subprocess.Popen(
        _cli("stream", "--batch-size", "40", "--max-seconds", "600"),  # leases of 120 s
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    state = home / "state"
    deadline = time.monotonic() + 180
    snap = None
    while time.monotonic() < deadline:
        snap = read_snapshot(state)
        if snap and snap["sent"] >= 200 and snap["pending"] > 0:
            break
        assert proc.poll() is None, "the stream finished before it could be killed; use a smaller batch size"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = read_status(state)
    assert killed["sent"] > 0 and killed["pending"] + killed["leased"] > 0  # really mid-drain

    # no waiting for the dead run's leases to expire: the rerun sees their owner is gone
    out = subprocess.run(_cli("stream"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    if killed["leased"]:  # killed mid-send (nearly always): its leases were taken back at once
        assert f":{proc.pid}:" in out.stderr and "which is no longer running" in out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["generated_day"] is None  # the rerun finished the day instead of generating another

    status = read_status(state)
    assert status["pending"] == status["leased"] == status["dead"] == 0
    with duckdb.connect(str(outbox_path(state)), read_only=True) as con:
        expected = dict(con.execute("SELECT event_type, count(*) FROM streaming_outbox GROUP BY 1").fetchall())
    lake = str(home / "lake")
    for event_type, n in expected.items():
        ids = delta.read_table(delta.table_uri(lake, "cusn", event_type), columns=["event_id"])["event_id"]
        assert len(ids) == n, event_type
        assert len(pc.unique(ids)) == n, event_type


def test_status_answers_while_another_process_holds_the_file(tmp_path):
    home = tmp_path / "home"
    env = _env(home)
    first = subprocess.run(_cli("stream", "--max-events", "500"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert first.returncode == 4, first.stderr  # 4: stopped at --max-events with events left
    state = home / "state"
    direct = read_status(state)
    assert direct["source"] == "outbox" and direct["sent"] == 500

    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(60)",
         str(outbox_path(state))],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with_lock = subprocess.run(_cli("outbox", "status"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert with_lock.returncode == 0, with_lock.stderr
        doc = json.loads(with_lock.stdout)
        assert doc["source"] == "snapshot"
        assert {k: doc[k] for k in ("pending", "leased", "sent", "dead")} == {
            k: direct[k] for k in ("pending", "leased", "sent", "dead")}
        assert isinstance(doc["by_event_type"], dict) and doc["oldest_pending_ts"] == direct["oldest_pending_ts"]
    finally:
        holder.kill()
        holder.wait()
    assert read_status(state)["source"] == "outbox"
