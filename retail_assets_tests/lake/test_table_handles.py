"""Kept Delta handles (lake.table_handles): reused between commits, never stale, never shared."""

from __future__ import annotations

import shutil
import threading
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from retail_assets.lake import delta, table_handles

DAY = date(2024, 5, 6)
SCHEMA = pa.schema([("n", pa.int64()), ("event_date", pa.date32())])


def _rows(count: int, day: date = DAY, start: int = 0) -> pa.Table:
    return pa.table({"n": list(range(start, start + count)), "event_date": [day] * count}, SCHEMA)


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every fresh open of a table by the lake module, in order."""
    table_handles.forget()
    seen: list[str] = []
    real = delta._open_unchecked

    def counting(uri: str):
        seen.append(uri)
        return real(uri)

    monkeypatch.setattr(delta, "_open_unchecked", counting)
    yield seen
    table_handles.forget()


def test_commits_and_counts_of_one_thread_reuse_one_handle(tmp_path: Path, opens: list[str]) -> None:
    uri = str(tmp_path / "t")
    delta.append(uri, _rows(3), SCHEMA)  # creates the table: nothing to open
    for i in range(4):
        delta.append(uri, _rows(2, start=10 + i), SCHEMA)
    delta.replace_partition(uri, _rows(5, DAY + timedelta(days=1)), SCHEMA, DAY + timedelta(days=1))
    assert delta.partition_row_counts(uri) == {DAY: 11, DAY + timedelta(days=1): 5}
    assert opens == [uri], "one open, then the kept handle for every later commit and count"


def test_another_writers_commits_are_seen(tmp_path: Path, opens: list[str]) -> None:
    uri = str(tmp_path / "t")
    delta.append(uri, _rows(3), SCHEMA)
    assert delta.partition_row_count(uri, DAY) == 3
    write_deltalake(uri, _rows(4, start=100), mode="append")  # another process
    assert delta.partition_row_count(uri, DAY) == 7
    delta.replace_partition(uri, _rows(2), SCHEMA, DAY)
    assert delta.partition_row_count(uri, DAY) == 2
    assert delta.open_table(uri).to_pyarrow_table().num_rows == 2


def test_a_table_written_anew_under_the_handle_is_opened_afresh(tmp_path: Path, opens: list[str]) -> None:
    uri = str(tmp_path / "t")
    delta.append(uri, _rows(3), SCHEMA)
    delta.append(uri, _rows(3, start=3), SCHEMA)
    assert delta.partition_row_count(uri, DAY) == 6  # the kept handle is at version 1
    shutil.rmtree(uri)
    other = DAY + timedelta(days=3)
    write_deltalake(uri, _rows(4, other), mode="append")
    write_deltalake(uri, _rows(4, other, 4), mode="append")  # version 1 again
    assert delta.partition_row_counts(uri) == {other: 8}, "a stale handle would still see the old table"
    delta.replace_partition(uri, _rows(1, other), SCHEMA, other)
    assert delta.open_table(uri).to_pyarrow_table().num_rows == 1


def test_a_log_cleaned_past_the_handle_opens_afresh(tmp_path: Path, opens: list[str]) -> None:
    uri = str(tmp_path / "t")
    delta.append(uri, _rows(3), SCHEMA)
    delta.append(uri, _rows(3, start=3), SCHEMA)  # the kept handle is at version 1
    write_deltalake(uri, _rows(3, start=6), mode="append")
    delta._open_unchecked(uri).create_checkpoint()
    opens.clear()
    for version in (0, 1):  # what log clean-up does to commits older than the retention
        (Path(uri) / "_delta_log" / f"{version:020d}.json").unlink()
    delta.append(uri, _rows(1, start=9), SCHEMA)
    assert opens == [uri], "a handle whose version's log file is gone is not trusted"
    assert delta.partition_row_count(uri, DAY) == 10


def test_threads_do_not_share_a_handle(tmp_path: Path, opens: list[str]) -> None:
    uri = str(tmp_path / "t")
    delta.append(uri, _rows(3), SCHEMA)
    mine = delta.open_if_exists(uri)
    theirs: list[object] = []
    worker = threading.Thread(target=lambda: theirs.append(delta.open_if_exists(uri)))
    worker.start()
    worker.join()
    assert theirs and theirs[0] is not None and theirs[0] is not mine
    assert delta.open_if_exists(uri) is mine
