"""A small driver for ``LogisticsDay`` without the in-store simulation (test helper).

Why: the logistics tests should fail only for logistics bugs. This driver posts synthetic SALE
txns (popularity-weighted, seeded, only while the store is open) into the store chain hour by
hour, exactly as the store day does, so reviews, trucks, suppliers and online orders run on
realistic stock levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from retail_assets.config import DatasetSettings
from retail_assets.generate import calendar as cal
from retail_assets.generate.dimensions import build_dimensions
from retail_assets.generate.inventory import SALE, TxnBatch
from retail_assets.generate.logistics import LogisticsDay
from retail_assets.generate.state import CarryState, initial_state
from retail_assets.generate.store_context import StoreContext

UNITS_PER_STORE_DAY = 3600


def synthetic_sales(ctx: StoreContext, state: CarryState, day: date, hour: int, seed: int) -> TxnBatch:
    """Seeded SALE txns of one hour for every open store (≈ 3,600 units per store-day)."""
    g = np.random.default_rng([seed, day.toordinal(), hour])
    w = 1.0 / (ctx.popularity_rank + 10.0)
    parts = []
    for s in range(ctx.n_stores):
        frac = cal.open_fraction_by_hour(ctx.operating_hours[s], day)[hour]
        if frac <= 0:
            continue
        carried = np.nonzero(state.store_carried[s])[0]
        p = w[carried] / w[carried].sum()
        n = int(g.poisson(UNITS_PER_STORE_DAY / 2 * frac / 14))
        prod = carried[g.choice(len(carried), size=n, p=p)] + 1
        ts = (
            cal.day_start_us(day)
            + hour * cal.US_PER_HOUR
            + g.integers(0, int(frac * cal.US_PER_HOUR), size=n)
        )
        src = np.array([f"RCP-{day:%Y%m%d}-{s + 1:05}-{i:06}" for i in range(n)], dtype=object)
        parts.append(TxnBatch(np.full(n, s), prod, ts, np.full(n, SALE), src, -g.integers(1, 4, size=n)))
    return TxnBatch.concat(parts)


@dataclass
class SimRun:
    settings: DatasetSettings
    dims: dict[str, pa.Table]
    states: list[CarryState] = field(default_factory=list)
    tables: dict[str, list[pa.Table]] = field(default_factory=dict)
    payments: list[pa.Table] = field(default_factory=list)

    def table(self, name: str) -> pa.Table:
        return pa.concat_tables(self.tables[name])


def run_days(scale_factor: float, start: date, n_days: int, seed: int = 42) -> SimRun:
    settings = DatasetSettings(seed=seed, scale_factor=scale_factor, start_date=start)
    dims = build_dimensions(settings)
    ctx = StoreContext.from_dims(dims)
    state = initial_state(settings, dims)
    run = SimRun(settings, dims, [state])
    for i in range(n_days):
        day = start + timedelta(days=i)
        lg = LogisticsDay(settings, dims, state, day, ctx)
        for h in range(24):
            lg.post_store_hour(h, synthetic_sales(ctx, lg.state, day, h, seed))
        res = lg.finish()
        for k, v in res.tables.items():
            run.tables.setdefault(k, []).append(v)
        run.payments.append(res.online_payments)
        state = res.state
        run.states.append(state)
    return run


_CACHE: dict[tuple, SimRun] = {}


def cached_run(scale_factor: float, start: date, n_days: int) -> SimRun:
    """Runs are deterministic, so tests of one module share them."""
    key = (scale_factor, start, n_days)
    if key not in _CACHE:
        _CACHE[key] = run_days(scale_factor, start, n_days)
    return _CACHE[key]


# 26 days: the DCs start in the upper half of their stock band (model 3), so their first supplier
# deliveries arrive after about three weeks
SPRING = (0.05, date(2024, 4, 8), 26)
CHRISTMAS = (0.05, date(2024, 12, 22), 6)
