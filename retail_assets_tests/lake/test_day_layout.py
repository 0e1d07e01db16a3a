"""The day-clustered layout: a day's replace, months compacted a row group per day, counts, old tables.

What must hold (contract §2): replacing a day changes that day's rows only and is one commit, also
after its month was compacted into a file shared with other days, on the one-process path and the
sharded one; compaction keeps every day's rows in their order; counts never scan a table; a table
partitioned by day (made before this layout) keeps its layout through every write and maintenance.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from retail_assets.lake import day_layout, delta, staged
from retail_assets.lake.lake_errors import MissingDataFileError
from retail_assets.lake.maintenance import MaintenancePolicy, maintain_table

SCHEMA = pa.schema([("id", pa.string()), ("event_ts", pa.timestamp("us", tz="UTC")), ("n", pa.int64()), ("event_date", pa.date32())])
THROWAWAY = MaintenancePolicy(vacuum_retention=timedelta(0), log_retention=timedelta(0), allow_short_retention=True)
KEEP_LOG = MaintenancePolicy(vacuum_retention=timedelta(0), allow_short_retention=True)  # the log's commit info stays
JAN = [date(2024, 1, 1) + timedelta(days=i) for i in range(5)]
FEB = [date(2024, 2, 1) + timedelta(days=i) for i in range(3)]


def rows(day: date, count: int, tag: str = "a") -> pa.Table:
    """``count`` rows of ``day`` whose ids say which write made them, in a deliberate (unsorted) order."""
    order = [(i * 7) % count for i in range(count)] if count else []
    return pa.table(
        {
            "id": [f"{tag}-{day}-{i}" for i in order],
            "event_ts": pa.array([pa.scalar(0, pa.timestamp("us", tz="UTC")).as_py()] * count, pa.timestamp("us", tz="UTC")),
            "n": pa.array(order, pa.int64()),
            "event_date": pa.array([day] * count, pa.date32()),
        },
        SCHEMA,
    )


def day_rows(uri: str, day: date) -> pa.Table:
    return delta.read_table(uri, SCHEMA, partition_value=day)


def lake_of(tmp_path: Path, days: list[date]) -> str:
    uri = str(tmp_path / "cusn" / "fact_things")
    for i, day in enumerate(days):
        delta.replace_partition(uri, rows(day, 10 + i), SCHEMA, day)
    return uri


def test_a_new_dated_table_is_day_clustered_with_a_file_per_day(tmp_path: Path) -> None:
    uri = lake_of(tmp_path, JAN)
    table = delta.open_table(uri)
    assert table.metadata().partition_columns == []
    files = day_layout.dated_files(table, "event_date")
    assert sorted(f.first_day for f in files if f.one_day) == JAN and len(files) == len(JAN)
    assert delta.partition_row_counts(uri) == {d: 10 + i for i, d in enumerate(JAN)}
    assert day_rows(uri, JAN[2]).equals(rows(JAN[2], 12)), "a day reads back in the order it was written"


def test_compaction_merges_a_month_a_row_group_per_day_and_keeps_every_days_order(tmp_path: Path) -> None:
    uri = lake_of(tmp_path, [*JAN, *FEB])
    delta.replace_partition(uri, rows(JAN[1], 4, "b"), SCHEMA, JAN[1])  # a replaced day: a tombstone
    before = {d: day_rows(uri, d) for d in [*JAN, *FEB]}
    report = maintain_table(uri, KEEP_LOG)
    files = day_layout.dated_files(delta.open_table(uri), "event_date")
    assert sorted((f.first_day, f.last_day) for f in files) == [(JAN[0], JAN[-1]), (FEB[0], FEB[-1])]
    assert report.before.files == 8 and report.after.files == 2 and report.tombstones_removed >= 1
    for d, expected in before.items():
        assert day_rows(uri, d).equals(expected), d
    (jan,) = [f for f in delta.dataset(uri).get_fragments() if "2024-01" in f.path]
    jan.ensure_complete_metadata()
    groups = [(g.statistics["event_date"]["min"], g.statistics["event_date"]["max"], g.num_rows) for g in jan.row_groups]
    assert groups == [(d, d, before[d].num_rows) for d in JAN]
    assert delta.partition_row_counts(uri) == {d: t.num_rows for d, t in before.items()}
    assert delta.partition_row_count(uri, JAN[3]) == 13
    history = DeltaTable(uri).history()
    assert any(c.get("lake_maintenance") == "compaction" for c in history)
    assert "lake_maintenance" not in delta.last_commit_metadata(uri), "the latest *data* commit is a day's write"
    again = maintain_table(uri, THROWAWAY)
    assert again.files_compacted_away == 0 and again.after.files == 2


@pytest.mark.parametrize("path", ["one-process", "sharded"])
def test_a_day_replaced_inside_a_compacted_month_changes_that_day_only(tmp_path: Path, path: str) -> None:
    uri = lake_of(tmp_path, JAN)
    maintain_table(uri, THROWAWAY)  # January is one file now
    before = {d: day_rows(uri, d) for d in JAN}
    version = delta.table_version(uri)
    new = rows(JAN[2], 6, "new")
    if path == "one-process":
        delta.replace_partition(uri, new, SCHEMA, JAN[2])
    else:
        files = [staged.stage_partition(uri, new.slice(i * 3, 3), SCHEMA, "event_date", JAN[2], f"s{i}") for i in range(2)]
        assert staged.commit_partition(uri, SCHEMA, "event_date", JAN[2], [f for f in files if f]) == 6
    assert delta.table_version(uri) == version + 1, "one commit"
    assert day_rows(uri, JAN[2]).equals(new)
    for d in JAN:
        if d != JAN[2]:
            assert day_rows(uri, d).equals(before[d]), d
    assert delta.partition_row_counts(uri) == {**{d: t.num_rows for d, t in before.items()}, JAN[2]: 6}
    delta.replace_partition(uri, rows(JAN[2], 0), SCHEMA, JAN[2])  # a day that now has no rows
    assert JAN[2] not in delta.partition_row_counts(uri) and day_rows(uri, JAN[0]).equals(before[JAN[0]])


def test_staged_files_of_a_day_never_committed_leave_the_table_as_it_was(tmp_path: Path) -> None:
    uri = lake_of(tmp_path, JAN[:2])
    version = delta.table_version(uri)
    staged.stage_partition(uri, rows(JAN[1], 5, "lost"), SCHEMA, "event_date", JAN[1], "s0")  # then a crash
    assert delta.table_version(uri) == version
    assert day_rows(uri, JAN[1]).equals(rows(JAN[1], 11))


def test_a_missing_compacted_file_names_its_days_and_the_repair(tmp_path: Path) -> None:
    uri = lake_of(tmp_path, JAN)
    maintain_table(uri, THROWAWAY)
    (month,) = day_layout.dated_files(delta.open_table(uri), "event_date")
    (Path(uri) / month.path).unlink()
    with pytest.raises(MissingDataFileError) as info:
        delta.read_table(uri, SCHEMA)
    text = str(info.value)
    assert f"event_date={JAN[0]}..{JAN[-1]}" in text and "repair(dry_run=False)" in text


def test_a_table_partitioned_by_day_keeps_its_layout_through_writes_and_maintenance(tmp_path: Path) -> None:
    uri = str(tmp_path / "old")
    write_deltalake(uri, rows(JAN[0], 10), partition_by=["event_date"])  # made by an earlier version
    delta.replace_partition(uri, rows(JAN[1], 11), SCHEMA, JAN[1])
    delta.append(uri, rows(JAN[1], 2, "late"), SCHEMA)
    files = [staged.stage_partition(uri, rows(JAN[2], 4, f"s{i}"), SCHEMA, "event_date", JAN[2], f"s{i}") for i in range(2)]
    assert all(f is not None and f.in_partition for f in files)
    staged.commit_partition(uri, SCHEMA, "event_date", JAN[2], [f for f in files if f])
    maintain_table(uri, THROWAWAY)
    table = DeltaTable(uri)
    assert table.metadata().partition_columns == ["event_date"]
    assert delta.partition_row_counts(uri) == {JAN[0]: 10, JAN[1]: 13, JAN[2]: 8}
    assert (Path(uri) / f"event_date={JAN[2]}").is_dir()


def test_compaction_keeps_a_days_appends_in_the_order_they_landed(tmp_path: Path) -> None:
    """An event table's day lands in many appends, some holding two days; merged, a day reads back
    oldest append first (delta-rs lists a table's files newest first, so the read order before the
    merge is not the landing order)."""
    uri = str(tmp_path / "events")
    landed: dict[date, list[int]] = {FEB[0]: [], FEB[1]: []}
    for i in range(9):
        days = [FEB[0]] * 3 + [FEB[1]] * 2 if i % 3 else [FEB[0]] * 4
        ns = [i * 10 + j for j in range(len(days))]
        for d, n in zip(days, ns, strict=True):
            landed[d].append(n)
        block = pa.table({"id": [str(n) for n in ns], "event_ts": rows(FEB[0], len(ns)).column("event_ts"), "n": ns, "event_date": days}, SCHEMA)
        delta.append(uri, block, SCHEMA)
    maintain_table(uri, THROWAWAY)
    assert len(delta.open_table(uri).file_uris()) == 1
    for d, ns in landed.items():
        assert day_rows(uri, d).column("n").to_pylist() == ns, d
    assert delta.partition_row_counts(uri) == {d: len(ns) for d, ns in landed.items()}


def test_the_days_application_transactions_expire_instead_of_piling_up(tmp_path: Path) -> None:
    uri = lake_of(tmp_path, JAN[:2])
    table = delta.open_table(uri)
    assert table.transaction_version(f"retail_assets:event_date={JAN[1]}") is not None  # a fresh one is there
    stale = f"retail_assets:event_date={JAN[0]}"
    from deltalake import CommitProperties
    from deltalake.transaction import Transaction

    old_ms = 1_000_000_000_000  # 2001: far beyond the table's one-day retention
    table.create_write_transaction([], "append", table.schema(), commit_properties=CommitProperties(app_transactions=[Transaction(stale, 1, old_ms)]))
    assert DeltaTable(uri).transaction_version(stale) is None


def test_only_files_under_the_small_file_size_are_merged(tmp_path: Path) -> None:
    uri = lake_of(tmp_path, JAN)
    sizes = sorted(f.size for f in day_layout.dated_files(delta.open_table(uri), "event_date"))
    between = MaintenancePolicy(
        vacuum_retention=timedelta(0), log_retention=timedelta(0), allow_short_retention=True, small_file_bytes=sizes[2] + 1
    )
    report = maintain_table(uri, between)  # the three smallest days merge; the two larger stay a file each
    assert (report.before.files, report.after.files) == (5, 3)
    assert delta.partition_row_counts(uri) == {d: 10 + i for i, d in enumerate(JAN)}
