"""One day of the lake reduced to the few aggregates the daily report draws.

Why a separate step from drawing: the numbers are what tests can assert exactly (hand-made Delta
tables in, counts out), and the same numbers go into the materialization's metadata so the UI can
plot them over partitions. Every read goes through ``lake.delta`` (the Delta log), one partition,
only the columns needed; a table that does not exist yet reads as empty instead of failing, because
a report of a day with, say, no streamed events is still a valid report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.contract.events import EVENT_TYPES, bronze_event_spec
from retail_assets.contract.tables import FACT_TABLES, silver_spec
from retail_assets.generate.calendar import hour_weights
from retail_assets.lake.delta import read_table, table_exists
from retail_assets.lake.paths import table_uri

HOURS = 24
SOURCES = ("batch", "stream")


@dataclass(frozen=True)
class DailyFigures:
    """Aggregates of one day; arrays are indexed by UTC hour (0..23) unless named otherwise."""

    day: date
    sale_receipts_by_hour: np.ndarray
    expected_sale_receipts_by_hour: np.ndarray
    tender_receipts: dict[str, int]
    tender_cents: dict[str, int]
    stockouts_by_hour: dict[str, np.ndarray]
    reorders_by_priority: dict[str, tuple[int, int, int]]
    """priority -> (reorder rows, requested units, allocated units)."""
    events_per_minute: tuple[np.ndarray, np.ndarray]
    """(minute start as epoch microseconds, events landed in that minute), ascending."""
    events_by_type: dict[str, int]
    silver_rows: dict[str, dict[str, int]]
    """table -> {'batch': n, 'stream': n} for every Silver fact table in contract order."""

    @property
    def sale_receipts(self) -> int:
        return int(self.sale_receipts_by_hour.sum())

    @property
    def stockouts(self) -> int:
        return int(sum(int(v.sum()) for v in self.stockouts_by_hour.values()))

    @property
    def reorders(self) -> int:
        return sum(v[0] for v in self.reorders_by_priority.values())

    @property
    def events_streamed(self) -> int:
        return int(self.events_per_minute[1].sum())

    def silver_total(self, source: str) -> int:
        return sum(counts[source] for counts in self.silver_rows.values())


def _silver(lake_root: str, table: str, day: date, columns: list[str]) -> pa.Table:
    spec = silver_spec(table)
    return read_table(table_uri(lake_root, spec), spec.arrow_schema, day, columns=columns)


def _hour_counts(ts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if len(ts) == 0:
        return np.zeros(HOURS, dtype=np.int64)
    hours = pc.hour(ts).to_numpy(zero_copy_only=False)
    return np.bincount(hours, minlength=HOURS).astype(np.int64)


def _receipts(lake_root: str, day: date) -> tuple[np.ndarray, dict[str, int], dict[str, int]]:
    t = _silver(
        lake_root, "fact_receipts", day, ["event_ts", "receipt_type", "payment_method", "total_cents"]
    )
    sales = t.filter(pc.equal(t.column("receipt_type"), "SALE"))
    by_hour = _hour_counts(sales.column("event_ts"))
    grouped = sales.group_by("payment_method").aggregate([("total_cents", "count"), ("total_cents", "sum")])
    methods = grouped.column("payment_method").to_pylist()
    counts = dict(zip(methods, grouped.column("total_cents_count").to_pylist(), strict=True))
    cents = dict(zip(methods, grouped.column("total_cents_sum").to_pylist(), strict=True))
    order = sorted(methods, key=lambda m: -cents[m])
    return by_hour, {m: int(counts[m]) for m in order}, {m: int(cents[m]) for m in order}


def expected_by_hour(day: date, total: int) -> np.ndarray:
    """The contract's hour-of-day curve (§7.1) for the day's weekday/weekend, scaled to ``total``.

    It is the shape a store open all day would follow; stores with shorter hours shift weight
    away from the night hours, which is exactly what the chart lets a reader see.
    """
    weights = np.asarray(hour_weights(day), dtype=float)
    return weights / weights.sum() * total


def _stockouts(lake_root: str, day: date) -> dict[str, np.ndarray]:
    t = _silver(lake_root, "fact_stockouts", day, ["event_ts", "location_type"])
    out: dict[str, np.ndarray] = {}
    for loc in ("STORE", "DC"):
        out[loc] = _hour_counts(t.filter(pc.equal(t.column("location_type"), loc)).column("event_ts"))
    return out


def _reorders(lake_root: str, day: date) -> dict[str, tuple[int, int, int]]:
    t = _silver(lake_root, "fact_reorders", day, ["priority", "reorder_quantity", "allocated_quantity"])
    grouped = t.group_by("priority").aggregate(
        [("reorder_quantity", "count"), ("reorder_quantity", "sum"), ("allocated_quantity", "sum")]
    )
    rows = {
        p: (int(n), int(req or 0), int(alloc or 0))
        for p, n, req, alloc in zip(
            grouped.column("priority").to_pylist(),
            grouped.column("reorder_quantity_count").to_pylist(),
            grouped.column("reorder_quantity_sum").to_pylist(),
            grouped.column("allocated_quantity_sum").to_pylist(),
            strict=True,
        )
    }
    return {p: rows[p] for p in ("NORMAL", "HIGH", "URGENT") if p in rows}


MINUTE_US = 60_000_000


def _events(lake_root: str, day: date) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, int]]:
    """Wall-clock landing minute of every Bronze event of ``day`` (streamed days only)."""
    minutes: list[np.ndarray] = []
    by_type: dict[str, int] = {}
    for name in EVENT_TYPES:
        spec = bronze_event_spec(name)
        uri = table_uri(lake_root, spec)
        if not table_exists(uri):
            continue
        t = read_table(uri, spec.arrow_schema, day, columns=["_landed_ts"])
        if t.num_rows == 0:
            continue
        landed = t.column("_landed_ts").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        values = landed.to_numpy(zero_copy_only=False)
        minutes.append(values - values % MINUTE_US)
        by_type[name] = t.num_rows
    if not minutes:
        return (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)), by_type
    starts, counts = np.unique(np.concatenate(minutes), return_counts=True)
    return (starts.astype(np.int64), counts.astype(np.int64)), by_type


def _silver_rows(lake_root: str, day: date) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for table in FACT_TABLES:
        t = _silver(lake_root, table, day, ["_source"])
        vc = pc.value_counts(t.column("_source")) if t.num_rows else []
        counts = {s: 0 for s in SOURCES}
        for item in vc:
            counts[item["values"].as_py()] = int(item["counts"].as_py())
        out[table] = counts
    return out


def collect_daily_figures(lake_root: str, day: date) -> DailyFigures:
    """Read ``day`` from the lake at ``lake_root`` and reduce it to the report's aggregates."""
    by_hour, tender_n, tender_c = _receipts(lake_root, day)
    events_per_minute, events_by_type = _events(lake_root, day)
    return DailyFigures(
        day=day,
        sale_receipts_by_hour=by_hour,
        expected_sale_receipts_by_hour=expected_by_hour(day, int(by_hour.sum())),
        tender_receipts=tender_n,
        tender_cents=tender_c,
        stockouts_by_hour=_stockouts(lake_root, day),
        reorders_by_priority=_reorders(lake_root, day),
        events_per_minute=events_per_minute,
        events_by_type=events_by_type,
        silver_rows=_silver_rows(lake_root, day),
    )
