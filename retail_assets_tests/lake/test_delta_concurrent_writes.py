"""Concurrent partition replaces on one Delta table: every writer's partition lands exactly once.

Two runs may write the same table at once (two days of a backfill in parallel, or the same day
twice); delta-rs then refuses one commit. ``replace_partition`` redoes its idempotent replace
against the new log, so the final table holds exactly each partition's rows.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from retail_assets.lake import delta

SCHEMA = pa.schema(
    [
        pa.field("event_ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("event_date", pa.date32(), nullable=False),
        pa.field("value", pa.int64(), nullable=False),
    ]
)


def _rows(day: date, n: int, offset: int) -> pa.Table:
    ts = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return pa.table(
        {
            "event_ts": pa.array([ts] * n, pa.timestamp("us", tz="UTC")),
            "event_date": pa.array([day] * n, pa.date32()),
            "value": pa.array(range(offset, offset + n), pa.int64()),
        },
        schema=SCHEMA,
    )


def test_parallel_replaces_of_different_and_same_partitions_all_land(tmp_path):
    uri = delta.table_uri(str(tmp_path), "cusn", "t")
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(4)]
    delta.replace_partition(uri, _rows(days[0], 1, 0), SCHEMA, days[0])
    errors: list[BaseException] = []

    def write(day: date, n: int) -> None:
        try:
            for _ in range(3):
                delta.replace_partition(uri, _rows(day, n, 100), SCHEMA, day)
        except BaseException as exc:  # surfaced below with its message
            errors.append(exc)

    # each day written by two threads at once (same content), all days concurrently
    threads = [threading.Thread(target=write, args=(d, 10 + i)) for i, d in enumerate(days) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors, errors
    counts = delta.partition_row_counts(uri)
    assert counts == {d: 10 + i for i, d in enumerate(days)}
    table = delta.read_table(uri, SCHEMA)
    for i, d in enumerate(days):
        values = sorted(r["value"] for r in table.filter(pa.compute.equal(table["event_date"], d)).to_pylist())
        assert values == list(range(100, 110 + i))
