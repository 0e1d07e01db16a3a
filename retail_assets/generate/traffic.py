"""In-store traffic of one day (contract §7.3, §7.7 draws): purchasing visits and their times.

Every store draws from its own stream ``rng("traffic", D, store_id)`` in the documented block
order — the 24 hourly visit counts, then all visit times (hours in order), then the 24 browser
counts, then the zone noise (24 x 3), then the dwell draws (24 x 5) — so a store's visits do not
depend on which other stores are generated with it. The per-store loop only makes those five numpy
calls; everything after it works on the concatenated arrays of all stores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_assets.generate.rng import rng

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
# dwell_seconds U{a..b} per zone, in store_context.ZONES order (§7.7)
DWELL_RANGE_S = np.array([[30, 90], [180, 420], [120, 300], [120, 300], [90, 240]], dtype=np.int64)


@dataclass(frozen=True)
class DayTraffic:
    """Purchasing visits of all stores, ordered by (store, event_ts, draw order)."""

    visit_store: np.ndarray  # int64 store index per visit
    visit_ts_us: np.ndarray  # int64 absolute µs (UTC)
    visit_hour: np.ndarray  # int64 0..23
    visit_counts: np.ndarray  # int64 (S, 24) purchasing visits N(s,h)
    browsers: np.ndarray  # int64 (S, 24)
    zone_noise: np.ndarray  # float64 (S, 24, 3) U(0.9, 1.1) for GROCERY, ELECTRONICS, CLOTHING
    dwell_seconds: np.ndarray  # int64 (S, 24, 5) per zone

    @property
    def n_visits(self) -> int:
        return len(self.visit_ts_us)


def draw_traffic(
    seed: int,
    day,
    store_ids: np.ndarray,
    day_start_us: int,
    lam: np.ndarray,
    open_len_us: np.ndarray,
    browser_lam: np.ndarray,
) -> DayTraffic:
    """Draw visits for all stores.

    ``lam`` (S, 24) is λ(s,h) of §7.3; ``open_len_us`` (S, 24) the length of the open part of each
    hour, which always starts at the hour start because opening hours are whole hours (the 23:55
    cut only shortens hour 23); ``browser_lam`` (S, 24) the Poisson mean of browsers (§7.7).
    """
    n_stores = len(store_ids)
    counts = np.zeros((n_stores, 24), dtype=np.int64)
    browsers = np.zeros((n_stores, 24), dtype=np.int64)
    noise = np.empty((n_stores, 24, 3), dtype=np.float64)
    dwell = np.empty((n_stores, 24, 5), dtype=np.int64)
    ts_parts: list[np.ndarray] = []
    hour_parts: list[np.ndarray] = []
    hours = np.arange(24, dtype=np.int64)
    for i, sid in enumerate(store_ids):
        g = rng(seed, "traffic", day, int(sid))
        counts[i] = g.poisson(lam[i])
        vh = np.repeat(hours, counts[i])
        offs = g.integers(0, np.maximum(open_len_us[i][vh], 1), dtype=np.int64)
        ts = day_start_us + vh * HOUR_US + offs
        order = np.argsort(ts, kind="stable")
        ts_parts.append(ts[order])
        hour_parts.append(vh[order])
        browsers[i] = g.poisson(browser_lam[i])
        noise[i] = g.uniform(0.9, 1.1, size=(24, 3))
        dwell[i] = g.integers(DWELL_RANGE_S[:, 0], DWELL_RANGE_S[:, 1] + 1, size=(24, 5), dtype=np.int64)
    visit_store = np.repeat(np.arange(n_stores, dtype=np.int64), counts.sum(axis=1))
    return DayTraffic(
        visit_store=visit_store,
        visit_ts_us=np.concatenate(ts_parts) if ts_parts else np.zeros(0, np.int64),
        visit_hour=np.concatenate(hour_parts) if hour_parts else np.zeros(0, np.int64),
        visit_counts=counts,
        browsers=browsers,
        zone_noise=noise,
        dwell_seconds=dwell,
    )
