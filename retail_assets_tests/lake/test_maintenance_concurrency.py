"""Maintenance while a writer commits (the drain appends all day): nothing of the writer's is lost.

Found operating the lake: the compaction guard compared the whole table's rows before and after, so
an append landing meanwhile looked like a compaction that changed rows, and the "fix" restored the
table to its version before the compaction — deleting the append the drain had already counted as
landed. The writer here is a real second Delta writer, made to commit at the chosen moment.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from retail_assets.lake import delta, maintenance
from retail_assets.lake.maintenance import MaintenanceError, MaintenancePolicy, TableShape, maintain_table

DAY = date(2024, 2, 1)
SCHEMA = pa.schema([("n", pa.int64()), ("event_date", pa.date32())])
THROWAWAY = MaintenancePolicy(vacuum_retention=timedelta(0), log_retention=timedelta(0), allow_short_retention=True)


def _rows(start: int, count: int) -> pa.Table:
    return pa.table({"n": list(range(start, start + count)), "event_date": [DAY] * count}, SCHEMA)


def _small_files(tmp_path: Path, appends: int = 6) -> str:
    uri = str(tmp_path / "events")
    for i in range(appends):
        delta.append(uri, _rows(i * 10, 10), SCHEMA)
    return uri


def _other_writer_appends(uri: str, start: int) -> None:
    """Another process's drain: a plain delta-rs append by URI (no handle of ours)."""
    write_deltalake(uri, _rows(start, 5), mode="append")


def _all_n(uri: str) -> list[int]:
    return sorted(DeltaTable(uri).to_pyarrow_table().column("n").to_pylist())


def test_an_append_landing_before_the_compaction_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = _small_files(tmp_path)
    real = maintenance.apply_properties

    def then_a_writer_commits(table, policy, tags):  # after maintenance read the table's shape
        changed = real(table, policy, tags)
        _other_writer_appends(uri, 1000)
        return changed

    monkeypatch.setattr(maintenance, "apply_properties", then_a_writer_commits)
    report = maintain_table(uri, THROWAWAY)
    assert _all_n(uri) == sorted([*range(60), *range(1000, 1005)]), "the concurrent append was lost"
    assert report.after.rows == 65 and report.after.files < 7


def _writer_commits_as_vacuum_starts(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real_vacuum = DeltaTable.vacuum

    def writer_then_vacuum(self, *args, **kwargs):
        _other_writer_appends(uri, 2000)
        return real_vacuum(self, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "vacuum", writer_then_vacuum)


def test_an_append_landing_as_vacuum_starts_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = _small_files(tmp_path)
    _writer_commits_as_vacuum_starts(uri, monkeypatch)
    report = maintain_table(uri, MaintenancePolicy(vacuum_retention=timedelta(hours=24)))
    assert _all_n(uri) == sorted([*range(60), *range(2000, 2005)])
    assert report.before.rows == 60 and report.after.rows == 65


def test_a_zero_retention_vacuum_racing_a_writer_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Retention 0 (throw-away lakes only) lets vacuum delete a file committed after its snapshot was
    read; the check after vacuum names it instead of reporting a successful maintenance."""
    uri = _small_files(tmp_path)
    _writer_commits_as_vacuum_starts(uri, monkeypatch)
    with pytest.raises(MaintenanceError, match=r"after vacuum .* lacks 1 file\(s\) of its current snapshot"):
        maintain_table(uri, THROWAWAY)


def _a_compaction_that_loses_a_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard's input as a broken compaction would make it: the compacted version has a row less."""
    real = maintenance._shape_at

    def shape_at(uri: str, version: int) -> TableShape:
        shape = real(uri, version)
        compactions = {c["version"] for c in DeltaTable(uri).history() if delta.MAINTENANCE_COMMIT_KEY in c}
        if version in compactions:  # a day-clustered table's compaction (lake.month_compaction)
            return TableShape(shape.rows - 1, "broken", shape.files, shape.bytes, shape.log_files)
        return shape

    monkeypatch.setattr(maintenance, "_shape_at", shape_at)


def test_a_bad_compaction_with_no_writer_since_is_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = _small_files(tmp_path)
    _a_compaction_that_loses_a_row(monkeypatch)
    with pytest.raises(MaintenanceError, match="restored to version"):
        maintain_table(uri, THROWAWAY)
    table = DeltaTable(uri)
    assert table.history(1)[0]["operation"] == "RESTORE" and _all_n(uri) == list(range(60))
    assert len(table.file_uris()) == 6, "the files before the compaction are live again"


def test_a_bad_compaction_is_not_restored_over_a_writers_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = _small_files(tmp_path)
    _a_compaction_that_loses_a_row(monkeypatch)
    real = maintenance._check_compaction

    def writer_commits_first(uri_: str, table, compaction_version: int, pre) -> None:
        _other_writer_appends(uri, 3000)
        real(uri_, table, compaction_version, pre)

    monkeypatch.setattr(maintenance, "_check_compaction", writer_commits_first)
    with pytest.raises(MaintenanceError, match=r"not restored, because writers committed versions \[\d+\]") as info:
        maintain_table(uri, THROWAWAY)
    assert "restore(" in str(info.value) and "Nothing was vacuumed" in str(info.value)
    assert DeltaTable(uri).history(1)[0]["operation"] == "WRITE"
    assert _all_n(uri) == sorted([*range(60), *range(3000, 3005)]), "the writer's rows are still there"
