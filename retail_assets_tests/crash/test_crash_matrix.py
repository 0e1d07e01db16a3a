"""The crash matrix: kill a real process (SIGKILL) right after each commit point of a batch day and
of a stream day, run the next step, and require a clear refusal or a lake byte-identical to a run
that never crashed.

Commit points (``pipeline`` and ``streaming.runner`` docstrings list them): the ledger claim, a
Bronze partition, the last Bronze partition, each carried-state table, the manifest, the ledger's
generated mark; for a stream day also the outbox enqueue, a landing commit, an outbox ack and the
ledger's landed mark; for a stream day made in shards (``streaming/sharded_day.py``, its own sf-0.08
reference) a shard's staged events, a staged table's commit, the generated mark and the numbered
enqueue. After the crash, the operator's next step is what the product tells them:
generate D+1; when that is refused, the message names D and the fix (re-materialize D / run the
stream again), which is then done, and D+1 generated. The lake must then equal the reference in
every Bronze, state and manifest partition of D and D+1 (event tables compared without the landing
columns, which record when and from where a row landed).
"""

from __future__ import annotations

import multiprocessing
import shutil
import signal
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from retail_assets import pipeline
from retail_assets.config import HomeSettings
from retail_assets.contract.events import EVENT_TYPES, LANDING_COLUMNS, bronze_event_spec
from retail_assets.contract.tables import BATCH_ONLY_TABLES, CONTROL_TABLES, FACT_TABLES
from retail_assets.lake import delta
from retail_assets.lake.ledger import Ledger
from retail_assets.streaming.drain import DrainSettings
from retail_assets.streaming.runner import StreamSettings, stream_once
from retail_assets.streaming.sinks.local import LocalDeltaSink
from retail_assets_tests.conftest import TEST_START_DATE
from retail_assets_tests.crash import crash_child
from retail_assets_tests.crash.crash_child import drain_batch_for, settings_for, shards_for

DAY1 = TEST_START_DATE
DAY2 = DAY1 + timedelta(days=1)
DAY3 = DAY1 + timedelta(days=2)
STATE_TABLES = ("ctl_state_inventory", "ctl_state_schedule")
LAST_BRONZE = list(FACT_TABLES)[-1]

BATCH_POINTS = [
    "claim",
    f"partition:{next(iter(FACT_TABLES))}",
    f"partition:{LAST_BRONZE}",
    "partition:ctl_state_inventory",
    "partition:ctl_state_schedule",
    "partition:ctl_day_manifest",
    "generated",
]
STREAM_POINTS = [
    "claim",
    f"partition:{BATCH_ONLY_TABLES[0]}",
    "partition:ctl_state_inventory",
    "partition:ctl_state_schedule",
    "partition:ctl_day_manifest",
    "generated",
    "enqueue",
    "append",
    "ack",
    "landed",
]
SHARDED_STREAM_POINTS = [  # a stream day made in shards (streaming/sharded_day.py), 2 shards at sf 0.08
    "stage",  # a shard's events staged, nothing committed (as after the claim)
    "commit:ctl_state_inventory",  # some table-days committed (as after any staged table's commit)
    "generated",  # the day whole in the lake, its events only staged
    "enqueue_staged",  # numbered and enqueued, nothing drained
]


def home_at(path: Path) -> HomeSettings:
    return HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(path)})


def stream_until_landed(home: HomeSettings, day, path: str = "stream") -> None:
    """What the outbox_sensor does: stream runs until the day is landed (bounded)."""
    settings = StreamSettings(drain=DrainSettings(batch_size=drain_batch_for(path)), shards=shards_for(path))
    for _ in range(6):
        stream_once(home, settings_for(path), LocalDeltaSink(home.lake_root), "recovery", settings, today=day)
        record = Ledger(home.state_dir).day_record(day)
        if record is not None and record.landed:
            return
        time.sleep(0.5)
    raise AssertionError(f"{day} never landed: {Ledger(home.state_dir).day_record(day)}")


def _homes(root: Path, paths: tuple[str, ...]):
    """A base home with DAY1, and per path a reference that made DAY2 on it uncrashed, then DAY3."""
    settings = settings_for(paths[0])
    base = home_at(root / "base")
    pipeline.build_and_write_dimensions(base, settings)
    pipeline.generate_and_write_day(base, settings, DAY1, "batch", "reference")
    refs = {}
    for path in paths:
        shutil.copytree(base.home, root / f"ref_{path}")
        ref = home_at(root / f"ref_{path}")
        if path == "batch":
            pipeline.generate_and_write_day(ref, settings, DAY2, "batch", "reference")
        else:
            stream_until_landed(ref, DAY2, path)
        pipeline.generate_and_write_day(ref, settings, DAY3, "batch", "reference")
        refs[path] = ref
    return root, base, refs


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    return _homes(tmp_path_factory.mktemp("crash"), ("batch", "stream"))


@pytest.fixture(scope="module")
def sharded_homes(tmp_path_factory):
    return _homes(tmp_path_factory.mktemp("crash_sharded"), ("stream_sharded",))


@pytest.fixture(scope="module")
def forkserver():
    """Children are forked from a server process that imported the product once (multiprocessing's
    forkserver): each is still a separate process killed by a real SIGKILL, without paying the
    3–4 s of imports per crash point. The server imports only; no thread pool exists before a fork."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["retail_assets_tests.crash.crash_child"])
    return ctx


def crash(ctx, home: HomeSettings, path: str, point: str) -> None:
    child = ctx.Process(target=crash_child.main, args=(str(home.home), path, DAY2.isoformat(), point))
    child.start()
    child.join(timeout=300)
    if child.is_alive():  # pragma: no cover - a hung child: fail with what is known, never hang the suite
        child.kill()
        child.join()
        pytest.fail(f"the child hung at crash point {point!r}")
    assert child.exitcode == -signal.SIGKILL, f"the child was not killed at {point!r} (exit {child.exitcode})"


def _partition(home: HomeSettings, table: str, day) -> pa.Table:
    spec = FACT_TABLES.get(table) or CONTROL_TABLES[table]
    return delta.read_table(
        delta.table_uri(home.lake_root, "cusn", table), spec.arrow_schema, partition_value=day,
        partition_col=spec.partition_by,
    )


def _events(home: HomeSettings, event_type: str) -> pa.Table:
    uri = delta.table_uri(home.lake_root, "cusn", event_type)
    if not delta.table_exists(uri):
        return pa.table({})
    data = delta.read_table(uri, bronze_event_spec(event_type).arrow_schema)
    data = data.drop_columns([c.name for c in LANDING_COLUMNS])
    return data.sort_by("event_id")


def assert_same_lake(home: HomeSettings, ref: HomeSettings, path: str) -> None:
    differ = []
    for day in (DAY2, DAY3):
        for table in (*FACT_TABLES, *STATE_TABLES, "ctl_day_manifest"):
            got, want = _partition(home, table, day), _partition(ref, table, day)
            if not got.equals(want):
                differ.append(f"{table} {day}: {got.num_rows} rows vs {want.num_rows} in the reference")
    if path != "batch":
        for event_type in EVENT_TYPES:
            got, want = _events(home, event_type), _events(ref, event_type)
            if not got.equals(want):
                differ.append(f"event table {event_type}: {got.num_rows} rows vs {want.num_rows}")
    assert not differ, "the lake differs from the uncrashed reference:\n" + "\n".join(differ)


CASES = (
    [("batch", p) for p in BATCH_POINTS]
    + [("stream", p) for p in STREAM_POINTS]
    + [("stream_sharded", p) for p in SHARDED_STREAM_POINTS]
)


@pytest.mark.parametrize(("path", "point"), CASES)
def test_crash_after_each_commit_point_is_refused_or_recovers_identically(request, forkserver, path, point):
    root, base, refs = request.getfixturevalue("sharded_homes" if path == "stream_sharded" else "homes")
    settings = settings_for(path)
    case = root / f"case_{path}_{point.replace(':', '_')}"
    shutil.copytree(base.home, case)
    home = home_at(case)
    crash(forkserver, home, path, point)

    try:  # the next step: generate the next day
        pipeline.generate_and_write_day(home, settings, DAY3, "batch", "next-step")
        refused = None
    except pipeline.PipelineError as exc:
        refused = str(exc)
    if refused is not None:
        assert DAY2.isoformat() in refused and "Fix:" in refused, refused
        if path == "batch":  # the fix the message names
            pipeline.generate_and_write_day(home, settings, DAY2, "batch", "operator")
        else:
            stream_until_landed(home, DAY2, path)
        pipeline.generate_and_write_day(home, settings, DAY3, "batch", "next-step")
    elif path != "batch":
        stream_until_landed(home, DAY2, path)
    assert_same_lake(home, refs[path], path)
    record = Ledger(home.state_dir).day_record(DAY2)
    assert record is not None and record.landed, record
    if point in ("claim", "stage", "partition:ctl_state_inventory", "partition:ctl_state_schedule") or point.startswith(
        "commit:"
    ):
        assert refused is not None, f"a crash after {point} must be refused, not built upon"
