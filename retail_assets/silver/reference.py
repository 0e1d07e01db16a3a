"""Reference relations of the Silver checks, loaded once per process and Delta version.

Why a cache: the checks of every (table, day) read the same few reference relations — dimension
keys, yesterday's and today's inventory state, the day's manifest — and reading them from Delta
per table was most of the checks' cost (state alone is ~0.8 M rows per day at scale factor 1).
Entries are keyed by (table URI, Delta version, selection), so a table rewritten between two
Dagster steps (a new version) is simply read again: a stale answer is impossible, only a redundant
read is saved. The cache lives in the process; Dagster's in-process executor and the benchmark
share it across the Silver tables of a day (and the D−1 state across consecutive days), a
multiprocess run pays one read per step, as before. Memory is bounded (least recently used out).
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date

import pyarrow as pa
import pyarrow.dataset as pads

from retail_assets.lake import delta

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
"""Upper bound of cached Arrow bytes (sf 1: one day of state is ~30 MB, all dimension keys ~4 MB)."""

MAX_DATASETS = 64
"""Snapshots kept (a dataset holds a file list, not data: a few KB each)."""

Reader = Callable[[pads.Dataset], pa.Table]


class ReferenceCache:
    """Arrow tables read from Delta, memoised by (uri, version, selection); thread-safe, LRU-bounded."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple, pa.Table] = OrderedDict()
        self._datasets: OrderedDict[tuple, pads.Dataset] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def read(self, uri: str, selection: tuple, reader: Reader) -> pa.Table | None:
        """``reader`` applied to the table's current snapshot; None when the table does not exist."""
        table = None
        if _is_remote(uri):
            # On object storage the version comes from opening the table (one log read over the
            # network); the opened table then serves the read on a miss, so a miss costs one open.
            table = delta.open_if_exists(uri)
            if table is None:
                return None
            version = table.version()
        else:
            if not delta.table_exists(uri):
                return None
            version = _local_version(uri)
        with self._lock:
            key = (uri, version, selection)
            if version is not None and key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
        table = table or delta.open_table(uri)
        data = reader(delta.snapshot_dataset(table, uri))
        with self._lock:
            self.misses += 1
            self._entries[(uri, table.version(), selection)] = data  # the version actually read
            self._evict()
        return data

    def dataset(self, uri: str) -> pads.Dataset | None:
        """The table's current snapshot as a dataset; None when the table does not exist.

        Locally, the snapshot is kept per (uri, version): a parent Silver table read by several
        children of one day (``ag.fact_receipts`` by three) is opened once, not once per child.
        """
        if _is_remote(uri):
            table = delta.open_if_exists(uri)
            return None if table is None else delta.snapshot_dataset(table, uri)
        if not delta.table_exists(uri):
            return None
        version = _local_version(uri)
        key = (uri, version)
        with self._lock:
            if version is not None and key in self._datasets:
                self._datasets.move_to_end(key)
                return self._datasets[key]
        table = delta.open_table(uri)
        data = delta.snapshot_dataset(table, uri)
        with self._lock:
            self._datasets[(uri, table.version())] = data
            while len(self._datasets) > MAX_DATASETS:
                self._datasets.popitem(last=False)
        return data

    def _evict(self) -> None:
        total = sum(t.nbytes for t in self._entries.values())
        while total > self.max_bytes and len(self._entries) > 1:
            _, old = self._entries.popitem(last=False)
            total -= old.nbytes

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._datasets.clear()


_COMMIT_FILE = re.compile(r"^(\d{20})\.json$")


def _is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def _local_version(uri: str) -> int | None:
    """Latest committed version of a local table from its log listing (None: ask delta-rs).

    Why not ``DeltaTable(uri).version()``: opening the table replays the log, ~2 ms per call and
    ~60 calls per day; a commit is an atomic ``<version>.json`` rename, so the highest such file
    is the current version. A miss always reads through delta-rs and stores under the version it
    actually read, so a commit racing this listing costs a re-read, never a stale answer.
    """
    if _is_remote(uri):
        return None
    try:
        names = os.listdir(os.path.join(uri.removeprefix("file://"), "_delta_log"))
    except OSError:
        return None
    versions = [int(m.group(1)) for n in names if (m := _COMMIT_FILE.match(n))]
    return max(versions) if versions else None


def columns_reader(columns: list[str]) -> Reader:
    """Whole table, only ``columns`` (what the rules read: dimension keys)."""
    return lambda ds: ds.to_table(columns=columns)


def partition_reader(partition_col: str, value: date, columns: list[str] | None = None) -> Reader:
    """One partition (pruned through the dataset's partitioning), optionally projected."""
    flt = pads.field(partition_col) == pa.scalar(value, pa.date32())
    return lambda ds: ds.to_table(columns=columns, filter=flt)


REFERENCE_CACHE = ReferenceCache()
"""The process-wide cache the checks use."""
