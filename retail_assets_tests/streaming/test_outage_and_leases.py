"""The outbox under operation: a sink outage spread over many quick runs, leases of a killed run,
leases of a live run, and an outbox file written by the previous version.

Real parts throughout: the DuckDB outbox, the drain, a sink whose TCP connects are refused, the
local Delta sink, and real subprocesses killed with SIGKILL. Wall-clock time is the outbox's
injectable clock, so fifteen minutes of outage take no time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail_assets.lake import delta
from retail_assets.streaming.drain import DrainSettings, drain
from retail_assets.streaming.events import build_day_events
from retail_assets.streaming.lease_owner import dagster_owner, owner_liveness, process_is_alive, process_owner
from retail_assets.streaming.outbox import TABLE, Outbox, OutboxSettings, outbox_path
from retail_assets.streaming.sinks.local import LocalDeltaSink
from retail_assets.streaming.status import read_snapshot, read_status
from retail_assets_tests.streaming.facts import DATASET_ID, DAY, contract_example_day
from retail_assets_tests.streaming.unreachable_sink import UnreachableSink

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def events() -> pa.Table:
    return build_day_events(contract_example_day(), DATASET_ID, date(2024, 1, 1), DAY)


def _attempts(outbox: Outbox) -> dict[int, tuple[str, int]]:
    with outbox.hold(), outbox._session() as conn:
        rows = conn.execute(f"SELECT outbox_seq, status, attempts FROM {TABLE}").fetchall()
    return {seq: (status, attempts) for seq, status, attempts in rows}


def test_an_outage_over_many_quick_runs_kills_nothing_before_the_attempts_and_the_window(tmp_path, events):
    settings = OutboxSettings(max_attempts=5, backoff_base_s=2, backoff_max_s=300, min_retry_window_s=900)
    clock = FakeClock(T0)
    outbox = Outbox.in_state_dir(tmp_path, settings=settings, clock=clock)
    outbox.enqueue_day(DAY, events)
    sink = UnreachableSink()
    quick = DrainSettings(max_events=10**6, max_seconds=60, max_consecutive_failures=3)
    kinds, attempted = [], 0
    for run in range(30):  # a quick run every 30 s for 15 minutes, as a sensor would start them
        clock.now = T0 + timedelta(seconds=30 * run)
        result = drain(outbox, sink, f"run-{run}", quick)
        kinds.append(result.stop_kind)
        attempted += result.attempted
        assert result.stop_kind in ("sink failing", "backoff"), result.stop_reason  # never "drained"
        if result.stop_kind == "backoff":
            assert result.attempted == 0 and result.backoff == events.num_rows
            assert f"{events.num_rows:,} events wait for their retry" in result.stop_reason
            assert result.next_retry_ts is not None and result.next_retry_ts > clock.now
        state = _attempts(outbox)
        # attempts are exactly the sends the sink was asked to make; nothing DEAD inside the window
        assert {seq: a for seq, (_, a) in state.items()} == {seq: sink.sends[seq] for seq in state}
        assert {s for s, _ in state.values()} == {"PENDING"}, f"run {run} at +{30 * run} s: {state}"
        status = outbox.status()
        assert status["state"] == "backoff" and status["backoff"] == events.num_rows
    assert attempted == sum(sink.sends.values())
    assert set(sink.sends.values()) == {5}  # five real attempts were used up early in the outage…
    assert kinds.count("backoff") == 25  # …and the 25 runs since only reported the back-off

    clock.now = T0 + timedelta(seconds=900)  # the window is over: one more failed send, then DEAD
    last = drain(outbox, sink, "run-last", quick)
    assert last.dead == events.num_rows and last.attempted == events.num_rows
    assert {v for v in _attempts(outbox).values()} == {("DEAD", 6)}
    status = outbox.status()
    assert status["dead"] == events.num_rows and status["state"] == "dead"
    assert outbox.not_sent_count() == events.num_rows and outbox.open_count() == 0
    assert "unreachable sink: ConnectionRefusedError" in status["dead_letters"][0]["last_error"]


def test_dead_needs_the_attempts_as_well_as_the_window(tmp_path, events):
    settings = OutboxSettings(max_attempts=3, backoff_base_s=0, min_retry_window_s=60)
    clock = FakeClock(T0)
    outbox = Outbox.in_state_dir(tmp_path, settings=settings, clock=clock)
    outbox.enqueue_day(DAY, events)
    sink = UnreachableSink()
    one_batch = DrainSettings(max_consecutive_failures=1)
    drain(outbox, sink, "first", one_batch)
    clock.now = T0 + timedelta(hours=5)  # a long time, but only the second real attempt
    assert drain(outbox, sink, "second", one_batch).dead == 0
    assert drain(outbox, sink, "third", one_batch).dead == events.num_rows
    assert set(sink.sends.values()) == {3}


def _spawn(state: Path, lake: str, limit: int, mode: str) -> tuple[subprocess.Popen, int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "retail_assets_tests.streaming.lease_and_block", str(state), lake, str(limit), mode],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline().split()
    assert line[:1] == ["leased"], f"the lease holder did not start (exit {proc.poll()})"
    return proc, int(line[1]), line[2]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _bronze_matches_outbox(lake: str, outbox: Outbox) -> None:
    """Every outbox event is SENT and in Bronze exactly once."""
    with outbox.hold(), outbox._session() as conn:
        rows = conn.execute(f"SELECT event_type, event_id, status FROM {TABLE}").fetchall()
    assert {status for _, _, status in rows} == {"SENT"}
    expected: dict[str, set[str]] = {}
    for event_type, event_id, _ in rows:
        expected.setdefault(event_type, set()).add(event_id)
    for event_type, ids in expected.items():
        landed = delta.read_table(delta.table_uri(lake, "cusn", event_type), columns=["event_id"])["event_id"]
        assert len(landed) == len(ids) and set(pc.unique(landed).to_pylist()) == ids, event_type


def test_a_killed_runs_leases_are_reclaimed_at_once_and_land_exactly_once(tmp_path, events, processes):
    state, lake = tmp_path / "state", str(tmp_path / "lake")
    outbox = Outbox.in_state_dir(state)  # default lease: 120 s, which the next run must not wait for
    outbox.enqueue_day(DAY, events)
    proc, leased, owner = _spawn(state, lake, 6, "hold")  # holds the file and 6 leases, 6 events landed
    processes.append(proc)
    assert leased == 6 and owner == process_owner(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = read_status(state)  # a dead run's leases, 120 s from expiring
    assert [(h["owner"], h["events"]) for h in before["lease_holders"]] == [(owner, 6)]
    assert before["state"] != "held" and "held by" not in before["state_text"]  # its holder is gone
    assert f"leased by {owner}, which is no longer running: the next run takes them back at once" in before["state_text"]

    logged: list[str] = []
    result = drain(outbox, LocalDeltaSink(lake), process_owner(), DrainSettings(), log=logged.append)
    assert result.reclaimed == {owner: 6}
    assert any(f"reclaimed 6 leased events of {owner}" in line for line in logged)
    assert result.stop_kind == "drained" and result.sent == events.num_rows
    assert result.duplicates == 6  # the killed run had landed them; the landing skipped the re-sends
    status = outbox.status()
    assert (status["pending"], status["leased"], status["dead"]) == (0, 0, 0)
    assert status["state"] == "drained" and status["lease_holders"] == []
    assert set(_attempts(outbox).values()) == {("SENT", 1)}  # the killed run's send cost no attempt
    _bronze_matches_outbox(lake, outbox)


def test_a_live_owners_leases_are_held_not_drained(tmp_path, events, processes):
    state, lake = tmp_path / "state", str(tmp_path / "lake")
    outbox = Outbox.in_state_dir(state)
    outbox.enqueue_day(DAY, events)
    proc, leased, owner = _spawn(state, lake, 4, "release")  # alive, file closed, 4 leases
    assert leased == 4
    processes.append(proc)

    result = drain(outbox, LocalDeltaSink(lake), "second-run", DrainSettings())
    assert result.sent == events.num_rows - 4 and result.reclaimed == {}
    assert result.stop_kind == "held" and f"held by {owner} until " in result.stop_reason
    assert [(h.owner, h.events) for h in result.held_by] == [(owner, 4)]
    summary = result.leases_and_retries()
    assert summary["stop_kind"] == "held" and summary["held_by"][0]["owner"] == owner
    assert summary["attempted"] == events.num_rows - 4 and json.loads(json.dumps(summary)) == summary
    status = read_status(state)
    assert status["state"] == "held" and f"held by {owner} until " in status["state_text"]
    assert status["leased"] == 4 and status["lease_holders"][0]["owner"] == owner

    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    after = drain(outbox, LocalDeltaSink(lake), "third-run", DrainSettings())
    assert after.reclaimed == {owner: 4} and after.stop_kind == "drained" and after.duplicates == 4
    _bronze_matches_outbox(lake, outbox)


def test_liveness_of_owners(tmp_path, events):
    me = process_owner()
    assert process_is_alive(me)
    host, pid = me.split(":")[1:3]
    assert not process_is_alive(f"process:{host}:{pid}:1")  # same pid, another start time: a reused pid
    assert process_is_alive(f"process:elsewhere:{pid}:1")  # another host: only the lease expiry can tell
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not process_is_alive(f"cli:{host}:{ended.stdout.strip()}:0a1b2c3d")  # the CLI's older owner format
    assert process_is_alive(f"cli:{host}:{pid}:0a1b2c3d")
    outbox = Outbox.in_state_dir(tmp_path)
    outbox.enqueue_day(DAY, events)
    live, failed, killed = dagster_owner("run-live"), dagster_owner("run-failed"), f"dagster:run-live/process:{host}:{pid}:1"
    outbox.lease(live, 3)
    outbox.lease(failed, 2)  # the run ended (Dagster says so), though its process is this one
    outbox.lease(killed, 1)  # Dagster still says "in progress", but its process is gone
    outbox.lease("a-test", 1)
    report = outbox.reclaim_orphaned_leases(owner_liveness(dagster_run_in_progress=lambda run: run == "run-live"))
    assert report.reclaimed == {failed: 2, killed: 1}
    assert sorted((h.owner, h.events) for h in report.held) == [("a-test", 1), (live, 3)]
    assert outbox.status()["leased"] == 4
    assert owner_liveness()(failed)  # without Dagster's answer a run whose process lives is taken as alive


OLD_DDL = """CREATE TABLE streaming_outbox (
    outbox_seq BIGINT NOT NULL, event_date DATE NOT NULL, event_ts TIMESTAMPTZ NOT NULL,
    event_type VARCHAR NOT NULL, event_id VARCHAR NOT NULL USING COMPRESSION zstd,
    partition_key VARCHAR NOT NULL, body VARCHAR NOT NULL USING COMPRESSION zstd,
    status VARCHAR NOT NULL, attempts BIGINT NOT NULL, lease_owner VARCHAR, lease_expires_ts TIMESTAMPTZ,
    last_error VARCHAR, sent_ts TIMESTAMPTZ
);
CREATE TABLE streaming_outbox_days (event_date DATE PRIMARY KEY, events BIGINT NOT NULL, enqueued_ts TIMESTAMPTZ NOT NULL);
"""


def test_an_outbox_written_by_the_previous_version_opens_and_works(tmp_path, events):
    state = tmp_path / "state"
    state.mkdir()
    with duckdb.connect(str(outbox_path(state))) as con:  # the DDL and rows as the previous version wrote them
        con.execute(OLD_DDL)
        con.register("ev", events)
        con.execute("""INSERT INTO streaming_outbox SELECT outbox_seq, event_date, event_ts, event_type, event_id,
                       partition_key, body, 'PENDING', 0, NULL, NULL, NULL, NULL FROM ev""")
        con.execute("INSERT INTO streaming_outbox_days VALUES (?, ?, now())", [DAY, events.num_rows])
    old = read_status(state)  # read-only, before any migration
    assert old["source"] == "outbox" and old["pending"] == events.num_rows and old["backoff"] == 0

    clock = FakeClock(T0)
    outbox = Outbox.in_state_dir(state, settings=OutboxSettings(backoff_base_s=10), clock=clock)
    batch = outbox.lease("new", 4)
    assert outbox.nack(batch["outbox_seq"][:2], ["down", "down"], "new") == {"dead": 0, "retry": 2}
    assert outbox.ack(batch["outbox_seq"][2:]) == 2
    assert outbox.status()["backoff"] == 2
    assert outbox.enqueue_day(DAY, events) == 0  # the old record of enqueued days still holds
    clock.now = T0 + timedelta(seconds=11)
    result = drain(outbox, LocalDeltaSink(str(tmp_path / "lake")), "new", DrainSettings())
    assert result.sent == events.num_rows - 2 and result.stop_kind == "drained"
    assert outbox.status()["sent"] == events.num_rows


class SnapshotPeekingSink(LocalDeltaSink):
    """The real local sink; before each send it reads the status snapshot, as `outbox status` does
    while the drain holds the file."""

    def __init__(self, lake_root: str, state_dir: Path) -> None:
        super().__init__(lake_root)
        self.state_dir = state_dir
        self.seen: list[dict] = []

    def send(self, events: pa.Table):
        self.seen.append(read_snapshot(self.state_dir))
        return super().send(events)


def test_while_a_run_sends_its_snapshot_says_who_holds_the_leases(tmp_path, events):
    state = tmp_path / "state"
    outbox = Outbox.in_state_dir(state)
    outbox.enqueue_day(DAY, events)
    sink = SnapshotPeekingSink(str(tmp_path / "lake"), state)
    result = drain(outbox, sink, "run-7", DrainSettings(batch_size=4, snapshot_every_s=0), state_dir=state)
    assert result.batches == 3 and result.stop_kind == "drained"
    for snap, size in zip(sink.seen, (4, 4, 2), strict=True):
        assert [(h["owner"], h["events"]) for h in snap["lease_holders"]] == [("run-7", size)]
        assert snap["state"] == "held" and snap["state_text"].startswith("held by run-7 until ")
    final = read_snapshot(state)
    assert final["state"] == "drained" and final["lease_holders"] == []
