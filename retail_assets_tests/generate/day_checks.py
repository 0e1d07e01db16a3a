"""Shared helpers of the day-generator tests: run a chain of days, hash tables, small frames.

Kept out of conftest.py so the generator tests of other parts are not affected.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from retail_assets.config import DatasetSettings
from retail_assets.generate import DayResult, build_dimensions, generate_day, initial_state


def run_days(
    settings: DatasetSettings, n_days: int, dims: dict[str, pa.Table] | None = None
) -> tuple[dict, list]:
    """Dims and the list of (prev_state, DayResult) for start_date .. start_date + n_days - 1."""
    dims = dims if dims is not None else build_dimensions(settings)
    state = initial_state(settings, dims)
    out = []
    for i in range(n_days):
        day = settings.start_date + timedelta(days=i)
        res = generate_day(settings, dims, state, day)
        out.append((state, res))
        state = res.state
    return dims, out


def table_digest(table: pa.Table) -> str:
    """sha256 of the table's Arrow IPC stream bytes (schema + values + order)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def day_digests(result: DayResult) -> dict[str, str]:
    digests = {name: table_digest(t) for name, t in result.tables.items()}
    for name, t in result.state.to_tables().items():
        digests[name] = table_digest(t)
    return digests


def col(table: pa.Table, name: str) -> np.ndarray:
    """A column as numpy (strings as object, timestamps as int64 µs, decimals as unscaled int64)."""
    c = table.column(name).combine_chunks()
    if pa.types.is_timestamp(c.type):
        return c.cast(pa.int64()).to_numpy(zero_copy_only=False)
    if pa.types.is_decimal(c.type):
        from retail_assets.generate.money import decimal_unscaled

        return decimal_unscaled(c)
    return c.to_numpy(zero_copy_only=False)


def day_us(day: date) -> int:
    return (day - date(1970, 1, 1)).days * 86_400_000_000
