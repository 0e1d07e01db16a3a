"""Hourly zone-sensor counts for every open store-hour (contract §7.7, fact_foot_traffic).

The random parts (browser counts, zone noise, dwell) were drawn with the visits from the
``traffic`` stream; this module only combines them with the purchasing visits and the receipts of
each hour, so it is a pure array computation over (store, hour, zone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_assets.generate.calendar import FOOT_F
from retail_assets.generate.store_context import ZONES
from retail_assets.generate.traffic import DayTraffic

BASE_CONVERSION = 0.20
WEEKEND_CONVERSION = 0.9
CHECKOUT_BROWSER_SHARE = 0.05
# p_zone for GROCERY, ELECTRONICS, CLOTHING by store format (STORE_FORMATS order)
ZONE_SHARE = np.array(
    [[0.80, 0.35, 0.35], [0.80, 0.30, 0.30], [0.80, 0.20, 0.20], [0.85, 0.10, 0.10], [0.70, 0.05, 0.05]]
)


def conversion(weekend: bool) -> np.ndarray:
    """``c_h = 0.20 × f_h × (0.9 on weekends)`` for the 24 hours."""
    return BASE_CONVERSION * FOOT_F * (WEEKEND_CONVERSION if weekend else 1.0)


def browser_lambda(lam: np.ndarray, weekend: bool) -> np.ndarray:
    """Poisson mean of browsers per (store, hour): ``λ × (1 − c_h) / c_h``."""
    c = conversion(weekend)
    return lam * ((1.0 - c) / c)[None, :]


@dataclass(frozen=True)
class FootTrafficRows:
    store: np.ndarray
    hour: np.ndarray
    zone: np.ndarray
    customer_count: np.ndarray
    dwell_seconds: np.ndarray


def foot_traffic(
    traffic: DayTraffic, open_fraction: np.ndarray, receipts_per_hour: np.ndarray, store_format: np.ndarray
) -> FootTrafficRows:
    """One row per (store, open hour, zone), zero counts included, in (store, hour, zone) order."""
    v = traffic.visit_counts + traffic.browsers
    b = traffic.browsers
    counts = np.zeros((*v.shape, 5), dtype=np.int64)
    counts[:, :, 0] = v
    shares = ZONE_SHARE[store_format]  # (S, 3)
    counts[:, :, 1:4] = np.floor(v[:, :, None] * shares[:, None, :] * traffic.zone_noise + 0.5).astype(
        np.int64
    )
    counts[:, :, 4] = receipts_per_hour + np.floor(CHECKOUT_BROWSER_SHARE * b + 0.5).astype(np.int64)
    dwell = np.where(counts > 0, traffic.dwell_seconds, 0)
    s_idx, h_idx = np.nonzero(open_fraction > 0)
    n = len(s_idx)
    return FootTrafficRows(
        store=np.repeat(s_idx, 5),
        hour=np.repeat(h_idx, 5),
        zone=np.tile(np.arange(len(ZONES)), n),
        customer_count=counts[s_idx, h_idx].reshape(-1),
        dwell_seconds=dwell[s_idx, h_idx].reshape(-1),
    )
