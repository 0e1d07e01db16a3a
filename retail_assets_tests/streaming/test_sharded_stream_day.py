"""A stream day made in shards (``streaming/sharded_day.py``) enqueues exactly the one-process
day's events — same ``outbox_seq``, ids and bodies — and lands the same batch-only rows and state;
a lost shard, a repeated run and a crash before the numbering are handled."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import duckdb
import pyarrow as pa
import pytest

from retail_assets import pipeline
from retail_assets.config import HomeSettings
from retail_assets.contract.tables import BATCH_ONLY_TABLES, CONTROL_TABLES, FACT_TABLES
from retail_assets.generate.table_build import sort_keys
from retail_assets.lake import delta
from retail_assets.lake.ledger import Ledger
from retail_assets.lake.paths import bronze_uri
from retail_assets.streaming import outbox as outbox_module
from retail_assets.streaming import runner
from retail_assets.streaming.events import EVENTS_SCHEMA
from retail_assets.streaming.outbox import Outbox, OutboxError, OutboxFullError
from retail_assets_tests.lake.test_sharded_pipeline import SETTINGS, START, STATE_KEYS, TODAY, _home

DAY = START + timedelta(days=1)  # Christmas Eve: a busy day with online orders and supplier trucks


def _outbox_events(home: HomeSettings) -> pa.Table:
    with duckdb.connect(str(home.state_dir / "outbox.duckdb"), read_only=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        cols = ", ".join(EVENTS_SCHEMA.names)
        return conn.sql(f"SELECT {cols}, status FROM streaming_outbox ORDER BY outbox_seq").to_arrow_table()


def _rows(home: HomeSettings, name: str, day: date) -> pa.Table:
    spec = {**FACT_TABLES, **CONTROL_TABLES}[name]
    t = delta.read_table(bronze_uri(home.lake_root, name), spec.arrow_schema, day, spec.partition_by)
    return t.sort_by([(k, "ascending") for k in STATE_KEYS.get(name) or sort_keys(name)])


def _stream_day(home: HomeSettings, shards: int, log: list[str] | None = None) -> tuple[date | None, int, str]:
    return runner.generate_into_outbox(
        home, SETTINGS, Outbox.in_state_dir(home.state_dir), "test", 10_000_000,
        (log if log is not None else []).append, TODAY, shards,
    )  # fmt: skip


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> HomeSettings:
    home = _home(tmp_path_factory.mktemp("base"))
    pipeline.build_and_write_dimensions(home, SETTINGS)
    pipeline.generate_and_write_day(home, SETTINGS, START, "batch", "test", today=TODAY)
    return home


def _copy(base: HomeSettings, dest) -> HomeSettings:
    shutil.copytree(base.home, dest)
    return _home(dest)


@pytest.fixture(scope="module")
def one_process(base, tmp_path_factory) -> HomeSettings:
    home = _copy(base, tmp_path_factory.mktemp("whole") / "home")
    assert _stream_day(home, 1)[:2] != (None, 0)
    return home


def test_shards_enqueue_the_one_process_events_and_land_its_rows(base, one_process, tmp_path, monkeypatch):
    home = _copy(base, tmp_path / "home")
    # the day is numbered in windows of event time, as a large day is (a few here, dozens at sf 30)
    monkeypatch.setattr(outbox_module, "NUMBERING_WINDOW_EVENTS", 3_000)
    log: list[str] = []
    day, n, _ = _stream_day(home, 3, log)
    assert day == DAY
    assert sum("shard" in line and "events staged" in line for line in log) == 3, log
    want, got = _outbox_events(one_process), _outbox_events(home)
    assert n == got.num_rows == want.num_rows > 20_000
    assert got.equals(want), "the sharded day's outbox differs from the one-process day's"
    for name in (*BATCH_ONLY_TABLES, *STATE_KEYS):
        assert _rows(home, name, DAY).equals(_rows(one_process, name, DAY)), name
    assert pipeline.read_manifest(home).sort_by("table_name").equals(
        pipeline.read_manifest(one_process).sort_by("table_name")
    )
    record = Ledger(home.state_dir).day_record(DAY)
    assert record is not None and record.generated and record.path == "stream"
    assert not Outbox.in_state_dir(home.state_dir).staging_path.exists(), "the staging file outlived the enqueue"


def test_a_crash_before_the_numbering_regenerates_the_same_day(base, one_process, tmp_path, monkeypatch):
    home = _copy(base, tmp_path / "home")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed before the numbering")

    monkeypatch.setattr(Outbox, "enqueue_staged_day", killed)
    with pytest.raises(KeyboardInterrupt):
        _stream_day(home, 3)
    monkeypatch.undo()
    outbox = Outbox.in_state_dir(home.state_dir)
    assert outbox.staging_path.exists() and outbox.enqueued_days() == {}
    day, _, _ = _stream_day(home, 2)  # the next run, even with another shard count
    assert day == DAY
    assert _outbox_events(home).equals(_outbox_events(one_process))


def test_a_lost_shard_is_refused_and_nothing_is_enqueued(base, tmp_path):
    home = _copy(base, tmp_path / "home")
    outbox = Outbox.in_state_dir(home.state_dir)
    with pytest.raises(OutboxError, match=r"shards \[\] are staged, the plan has \[0, 1\]"):
        outbox.enqueue_staged_day(DAY, [0, 1], 1)
    assert outbox.enqueued_days() == {}


def test_a_day_enqueued_before_is_not_enqueued_twice(one_process):
    outbox = Outbox.in_state_dir(one_process.state_dir)
    before = _outbox_events(one_process).num_rows
    assert outbox.enqueue_staged_day(DAY, [], 1) == 0
    assert _outbox_events(one_process).num_rows == before


def test_the_cap_refuses_a_staged_day_and_scales_with_the_dataset(base, tmp_path):
    home = _copy(base, tmp_path / "home")
    with pytest.raises(OutboxFullError, match="would exceed the cap of 1,000 pending events"):
        runner.generate_into_outbox(
            home, SETTINGS, Outbox.in_state_dir(home.state_dir), "test", 1_000, lambda _: None, TODAY, 3
        )
    assert Outbox.in_state_dir(home.state_dir).enqueued_days() == {}
    # the default cap takes a large scale factor's day (sf 30 Tuesday: 22,266,148 events), not just sf 1's
    assert runner.max_pending_for(0.2) == runner.DEFAULT_MAX_PENDING < 22_266_148 < runner.max_pending_for(30)
