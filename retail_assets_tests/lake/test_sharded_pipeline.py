"""A batch day generated in shards and committed once per table (contract §8.5) lands the same rows
as the one-process pipeline, can follow or precede it, and a crash before the commit leaves the lake
as it was."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from retail_assets import pipeline, sharded_pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.contract.tables import CONTROL_TABLES, FACT_TABLES
from retail_assets.generate.table_build import sort_keys
from retail_assets.lake import delta
from retail_assets.lake.ledger import Ledger
from retail_assets.lake.paths import bronze_uri

START = date(2024, 12, 23)
TODAY = date(2025, 1, 31)
SETTINGS = DatasetSettings(seed=42, scale_factor=0.2, start_date=START)  # 4 DCs: real shards
STATE_KEYS = {
    "ctl_state_inventory": ["location_type", "location_id", "product_id"],
    "ctl_state_schedule": ["due_ts", "action_type", "action_key"],
}


def _home(root) -> HomeSettings:
    return HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(root)})


def _day_rows(home: HomeSettings, name: str, day: date) -> pa.Table:
    spec = {**FACT_TABLES, **CONTROL_TABLES}[name]
    t = delta.read_table(bronze_uri(home.lake_root, name), spec.arrow_schema, day, spec.partition_by)
    keys = STATE_KEYS.get(name) or sort_keys(name)
    return t.sort_by([(k, "ascending") for k in keys])


def _write(home: HomeSettings, day: date, shards: int | None) -> None:
    if shards is None:
        pipeline.generate_and_write_day(home, SETTINGS, day, "batch", owner="test", today=TODAY)
    else:
        sharded_pipeline.generate_and_write_day_sharded(home, SETTINGS, day, "test", shards, today=TODAY)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> HomeSettings:
    home = _home(tmp_path_factory.mktemp("one_process"))
    pipeline.build_and_write_dimensions(home, SETTINGS)
    for i in range(3):
        _write(home, START + timedelta(days=i), None)
    return home


def _assert_same_days(a: HomeSettings, b: HomeSettings, days: list[date]) -> None:
    rows = 0
    for day in days:
        for name in (*FACT_TABLES, *STATE_KEYS):
            left, right = _day_rows(a, name, day), _day_rows(b, name, day)
            assert right.equals(left), f"{name} of {day} differs"
            rows += left.num_rows
    assert rows > 50_000


def test_three_shards_land_what_one_process_lands(reference, tmp_path):
    home = _home(tmp_path)
    pipeline.build_and_write_dimensions(home, SETTINGS)
    for i in range(3):
        _write(home, START + timedelta(days=i), 3)
    _assert_same_days(reference, home, [START + timedelta(days=i) for i in range(3)])
    manifest = pipeline.read_manifest(home).sort_by("table_name")
    assert manifest.equals(pipeline.read_manifest(reference).sort_by("table_name"))
    assert all(Ledger(home.state_dir).day_record(START + timedelta(days=i)).generated for i in range(3))


def test_sharded_and_one_process_days_continue_each_other(reference, tmp_path):
    home = _home(tmp_path)
    pipeline.build_and_write_dimensions(home, SETTINGS)
    _write(home, START, 2)
    _write(home, START + timedelta(days=1), None)
    _write(home, START + timedelta(days=2), 4)
    _assert_same_days(reference, home, [START + timedelta(days=i) for i in range(3)])


def test_one_commit_per_table_day_and_a_crash_before_it_changes_nothing(reference, tmp_path, monkeypatch):
    home = _home(tmp_path)
    pipeline.build_and_write_dimensions(home, SETTINGS)
    _write(home, START, 3)
    day = START + timedelta(days=1)
    uris = {name: bronze_uri(home.lake_root, name) for name in (*FACT_TABLES, *STATE_KEYS)}
    before = {name: delta.table_version(uri) for name, uri in uris.items()}

    calls = []
    real = sharded_pipeline.generate_shard

    def crash_after_two_shards(home_, settings_, day_, shard):
        if len(calls) == 2:
            raise KeyboardInterrupt("killed between shard writes")
        calls.append(shard.index)
        return real(home_, settings_, day_, shard)

    monkeypatch.setattr(sharded_pipeline, "generate_shard", crash_after_two_shards)
    with pytest.raises(KeyboardInterrupt):
        _write(home, day, 3)
    assert calls == [0, 1]
    assert {name: delta.table_version(uri) for name, uri in uris.items()} == before
    assert not Ledger(home.state_dir).day_record(day).generated
    with pytest.raises(pipeline.IncompleteDayError):
        _write(home, day + timedelta(days=1), 3)

    monkeypatch.setattr(sharded_pipeline, "generate_shard", real)
    _write(home, day, 3)
    after = {name: delta.table_version(uri) for name, uri in uris.items()}
    assert all(after[n] == before[n] + 1 for n in uris), "every table-day must be exactly one commit"
    _write(home, day + timedelta(days=1), 3)
    _assert_same_days(reference, home, [START + timedelta(days=i) for i in range(3)])


def test_a_lost_shard_is_refused_before_any_commit(reference, tmp_path):
    home = _home(tmp_path)
    pipeline.build_and_write_dimensions(home, SETTINGS)
    shards = sharded_pipeline.begin_day(home, SETTINGS, START, "test", 3, today=TODAY)
    outputs = [sharded_pipeline.generate_shard(home, SETTINGS, START, s) for s in shards[:2]]
    with pytest.raises(pipeline.PipelineError, match="shards \\[0, 1\\] came back, the plan has \\[0, 1, 2\\]"):
        sharded_pipeline.commit_day(home, SETTINGS, START, shards, outputs)
    twice = [outputs[0], outputs[0], outputs[1]]
    with pytest.raises(pipeline.PipelineError, match="ran twice"):
        sharded_pipeline.commit_day(home, SETTINGS, START, shards, twice)
    assert delta.table_version(bronze_uri(home.lake_root, "fact_receipts")) is None


def test_maintenance_removes_the_staged_files_of_a_day_that_never_committed(reference, tmp_path):
    from retail_assets.lake.maintenance import MaintenancePolicy, maintain_table

    home = _home(tmp_path)
    pipeline.build_and_write_dimensions(home, SETTINGS)
    _write(home, START, 2)
    day = START + timedelta(days=1)
    shards = sharded_pipeline.begin_day(home, SETTINGS, day, "test", 2, today=TODAY)
    sharded_pipeline.generate_shard(home, SETTINGS, day, shards[0])  # then the process dies: no commit
    uri = bronze_uri(home.lake_root, "fact_receipts")
    orphans = sorted(Path(uri).glob(f"part-{day.isoformat()}-s0000-*.parquet"))
    assert len(orphans) == 1
    before = _day_rows(home, "fact_receipts", START)
    policy = MaintenancePolicy(vacuum_retention=timedelta(0), log_retention=timedelta(0), allow_short_retention=True)
    maintain_table(uri, policy)
    assert not orphans[0].exists(), "the uncommitted shard file must be vacuumed"
    assert _day_rows(home, "fact_receipts", START).equals(before)
    assert _day_rows(home, "fact_receipts", day).num_rows == 0
