"""The checks' per-process reference cache: a table rewritten between two reads is read again."""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from retail_assets.lake import delta
from retail_assets.silver.reference import ReferenceCache, columns_reader, partition_reader

SCHEMA = pa.schema([pa.field("event_date", pa.date32()), pa.field("k", pa.int64())])


def _table(n: int, day: date) -> pa.Table:
    return pa.table({"event_date": pa.array([day] * n, pa.date32()), "k": pa.array(range(n), pa.int64())})


def test_unchanged_table_is_served_from_memory_and_a_new_version_is_reread(tmp_path):
    uri = str(tmp_path / "t")
    day = date(2024, 1, 1)
    cache = ReferenceCache()
    delta.replace_partition(uri, _table(3, day), SCHEMA, day)
    assert cache.read(uri, ("k",), columns_reader(["k"])).num_rows == 3
    assert cache.read(uri, ("k",), columns_reader(["k"])).num_rows == 3
    assert (cache.hits, cache.misses) == (1, 1)
    # another step rewrites the table: the next read must see the new version, not the cached one
    delta.replace_partition(uri, _table(5, day), SCHEMA, day)
    assert cache.read(uri, ("k",), columns_reader(["k"])).column("k").to_pylist() == [0, 1, 2, 3, 4]
    assert cache.misses == 2
    # a different selection of the same version is its own entry
    other = cache.read(uri, ("day", date(2024, 1, 2)), partition_reader("event_date", date(2024, 1, 2)))
    assert other.num_rows == 0


def test_missing_table_reads_as_none_and_memory_stays_bounded(tmp_path):
    cache = ReferenceCache(max_bytes=1)
    assert cache.read(str(tmp_path / "absent"), ("k",), columns_reader(["k"])) is None
    day = date(2024, 1, 1)
    for name in ("a", "b", "c"):
        delta.replace_partition(str(tmp_path / name), _table(10, day), SCHEMA, day)
        cache.read(str(tmp_path / name), ("k",), columns_reader(["k"]))
    assert len(cache) == 1  # only the most recent entry survives a 1-byte budget
