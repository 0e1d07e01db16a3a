"""Build a fact table with exactly its contract schema from numpy/Arrow columns, sorted.

Every producer (in-store, inventory, online, trucks) hands over plain columns; this one function
derives ``event_date`` from ``event_ts``, converts int64 µs / cents to the declared Arrow types,
enforces the column set and order of ``FACT_TABLES[name]``, and sorts by (``event_ts``, primary
key) — the row order contract §2 asks for, so rewrites are byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.contract.tables import FACT_TABLES
from retail_assets.generate.calendar import US_PER_DAY
from retail_assets.generate.money import decimal_array


@dataclass(frozen=True)
class Take:
    """A column given as ``values.take(indices)``: the take happens once, after row ordering.

    A negative index makes a NULL. Small vocabularies (zones, codes, methods) and per-document ids
    repeated on many rows are built this way instead of as Python object arrays.
    """

    values: pa.Array
    indices: np.ndarray

    @classmethod
    def of(cls, vocabulary: tuple[str, ...] | list[str] | np.ndarray, indices: np.ndarray) -> Take:
        return cls(pa.array(list(vocabulary), type=pa.string()), np.asarray(indices, dtype=np.int64))


ColumnValue = np.ndarray | pa.Array | pa.ChunkedArray | list | Take


def timestamps(ts_us: np.ndarray) -> pa.Array:
    """int64 µs since the epoch -> timestamp[us, UTC]."""
    return pa.array(np.asarray(ts_us, dtype=np.int64), type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def dates_of(ts_us: np.ndarray) -> pa.Array:
    """UTC date of each µs instant (``event_date = CAST(event_ts AS DATE)``)."""
    return pa.array((np.asarray(ts_us, dtype=np.int64) // US_PER_DAY).astype(np.int32), type=pa.int32()).cast(
        pa.date32()
    )


def strings(values: ColumnValue, mask: np.ndarray | None = None) -> pa.Array:
    """Any string-ish column (numpy unicode/object array, Arrow array) as Arrow ``string``."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        arr = values if values.type == pa.string() else values.cast(pa.string())
        if mask is not None:
            arr = pa.compute.if_else(pa.array(mask), pa.nulls(len(arr), pa.string()), arr)
        return arr
    v = np.asarray(values)
    if v.dtype.kind == "U":
        arr = pa.array(v, type=pa.string())
        if mask is not None:
            arr = pa.compute.if_else(pa.array(mask), pa.nulls(len(arr), pa.string()), arr)
        return arr
    return pa.array(v, type=pa.string(), mask=mask, from_pandas=True)


def _convert(values: ColumnValue, field: pa.Field) -> pa.Array:
    t = field.type
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == t else values.cast(t)
    if pa.types.is_decimal(t):
        return decimal_array(np.asarray(values, dtype=np.int64), t.precision, t.scale)
    if pa.types.is_timestamp(t):
        return timestamps(values)
    if pa.types.is_string(t):
        return strings(values)
    v = np.asarray(values)
    if pa.types.is_int64(t) and v.dtype.kind in "iu":
        return pa.array(v.astype(np.int64, copy=False), type=t)
    return pa.array(v, type=t)


def _reorder(values: ColumnValue, order: np.ndarray | None) -> ColumnValue:
    if isinstance(values, Take):
        idx = values.indices if order is None else values.indices[order]
        nulls = idx < 0
        return values.values.take(pa.array(idx, type=pa.int64(), mask=nulls if nulls.any() else None))
    if order is None:
        return values
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.take(pa.array(order, type=pa.int64()))
    return np.asarray(values)[order]


def build_fact_table(
    name: str, columns: dict[str, ColumnValue], order: np.ndarray | None = None, sort: bool = False
) -> pa.Table:
    """A ``FACT_TABLES[name]`` table from columns keyed by column name.

    ``event_ts`` is int64 µs (or timestamps); ``event_date`` is derived and must not be given.
    DECIMAL columns take their unscaled int64 (cents, ten-thousandths). ``order`` (a row
    permutation computed by the producer, usually from integer stand-ins of the key) is applied to
    every column before conversion, which is much cheaper than sorting the Arrow table by its string
    keys; ``sort=True`` sorts the result instead. Raises ``ValueError`` naming missing or unexpected
    columns.
    """
    spec = FACT_TABLES[name]
    schema = spec.arrow_schema
    expected = [n for n in schema.names if n != "event_date"]
    missing = [n for n in expected if n not in columns]
    extra = [n for n in columns if n not in expected]
    if missing or extra:
        raise ValueError(f"{name}: missing columns {missing}, unexpected columns {extra}")
    done: dict[int, ColumnValue] = {}  # amount/cents pairs share one array: reorder it once
    ordered = {}
    for k, v in columns.items():
        if id(v) not in done:
            done[id(v)] = _reorder(v, order)
        ordered[k] = done[id(v)]
    columns = ordered
    ts = columns["event_ts"]
    ts_np = (
        np.asarray(ts.cast(pa.int64()) if isinstance(ts, (pa.Array, pa.ChunkedArray)) else ts, dtype=np.int64)
        if not isinstance(ts, list)
        else np.asarray(ts, dtype=np.int64)
    )
    arrays = []
    for field in schema:
        if field.name == "event_date":
            arrays.append(dates_of(ts_np))
        elif field.name == "event_ts":
            arrays.append(timestamps(ts_np))
        else:
            arrays.append(_convert(columns[field.name], field))
    table = pa.Table.from_arrays(arrays, schema=schema)
    if sort and table.num_rows > 1:
        table = sort_fact_table(name, table)
    return table


def sort_keys(name: str) -> list[str]:
    """(event_ts, primary key…) — the partition row order of contract §2."""
    return ["event_ts"] + [k for k in FACT_TABLES[name].primary_key if k != "event_ts"]


def is_sorted(name: str, table: pa.Table) -> bool:
    """True when rows are already in (event_ts, primary key) order.

    Why two stages: event_ts decides almost every adjacent pair, so one numpy pass over the int64
    µs settles those; only the pairs with equal event_ts are compared on the remaining keys.
    """
    n = table.num_rows
    if n < 2:
        return True
    ts = table.column("event_ts")
    if ts.null_count:
        return _pairs_sorted(name, table, None)
    us = ts.cast(pa.int64()).to_numpy()
    step = us[1:] - us[:-1]
    if (step < 0).any():
        return False
    ties = np.flatnonzero(step == 0)
    if len(ties) == 0:
        return True
    # many ties (lines of one receipt, txns of one instant): comparing zero-copy slices of all
    # pairs beats gathering the tied strings
    return _pairs_sorted(name, table, None if 8 * len(ties) > n else ties)


def _pairs_sorted(name: str, table: pa.Table, first: np.ndarray | None) -> bool:
    """True when each pair of rows (``first``, ``first`` + 1) is in (event_ts, key) order
    (``first`` None: every adjacent pair)."""
    n = table.num_rows
    m = n - 1 if first is None else len(first)
    strictly_before = pa.array(np.zeros(m, dtype=bool))
    equal_so_far = pa.array(np.ones(m, dtype=bool))
    for key in sort_keys(name):
        c = table.column(key)
        if first is None:
            a, b = c.slice(0, n - 1), c.slice(1)
        else:
            a, b = c.take(pa.array(first, type=pa.int64())), c.take(pa.array(first + 1, type=pa.int64()))
        strictly_before = pc.or_(strictly_before, pc.and_(equal_so_far, pc.less(a, b)))
        equal_so_far = pc.and_(equal_so_far, pc.equal(a, b))
    return bool(pc.all(pc.or_(strictly_before, equal_so_far)).as_py())


def sort_fact_table(name: str, table: pa.Table) -> pa.Table:
    """Sort by (event_ts, primary key) unless the rows are already in that order."""
    if is_sorted(name, table):
        return table
    return table.sort_by([(k, "ascending") for k in sort_keys(name)])


def empty_fact_table(name: str) -> pa.Table:
    return FACT_TABLES[name].arrow_schema.empty_table()
