"""Hourly zone-sensor counts for every open store-hour (contract §7.7, fact_foot_traffic).

Why entrances are counted at *entry* time: a shopper passes the entrance sensor a dwell before the
till, so the ENTRANCE curve must lead the receipt curve (model 1 counted buyers in their receipt
hour and shaped browsers with an hour factor, which put the entrance peaks at 09:00 and 20:00).
A purchasing visit enters at ``receipt ts − (4 + 0.9 × wanted lines) min`` — the BLE dwell of §7.7 at
its mean factor — never before the store's opening (or the day's start); browsers, who buy nothing,
arrive on the same entry curve, so the expected browsers of hour h follow the expected purchasing
entries of h. The random parts (browser counts, zone noise, dwell) were drawn with the visits from
the ``traffic`` stream; this module is a pure array computation over (store, hour, zone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_assets.generate.baskets import BEHAVIOUR_WEIGHTS_WEEKDAY, LINE_RANGE
from retail_assets.generate.store_context import ZONES
from retail_assets.generate.traffic import HOUR_US, DayTraffic

MINUTE_US = 60_000_000
BASE_CONVERSION = 0.20
WEEKEND_CONVERSION = 0.9
CHECKOUT_BROWSER_SHARE = 0.05
# purchase dwell = (4 + 0.9 × lines) minutes, as the BLE timeline of §7.7 (at its mean factor ≈ 1)
DWELL_BASE_MIN = 4.0
DWELL_PER_LINE_MIN = 0.9
#: Mean purchase dwell in minutes over the weekday behaviour mix (≈ 13.7): the share of an hour's
#: purchases whose shoppers entered during the previous hour is this / 60.
MEAN_PURCHASE_DWELL_MIN = DWELL_BASE_MIN + DWELL_PER_LINE_MIN * float(
    BEHAVIOUR_WEIGHTS_WEEKDAY @ LINE_RANGE.mean(axis=1)
)
# p_zone for GROCERY, ELECTRONICS, CLOTHING by store format (STORE_FORMATS order)
ZONE_SHARE = np.array(
    [[0.80, 0.35, 0.35], [0.80, 0.30, 0.30], [0.80, 0.20, 0.20], [0.85, 0.10, 0.10], [0.70, 0.05, 0.05]]
)


def conversion(weekend: bool) -> float:
    """``c = 0.20 × (0.9 on weekends)``: the share of entering visitors who buy, flat over the day."""
    return BASE_CONVERSION * (WEEKEND_CONVERSION if weekend else 1.0)


def expected_entries(lam: np.ndarray, open_fraction: np.ndarray) -> np.ndarray:
    """Expected purchasing *entries* per (store, hour) from the receipt rates ``λ`` (S, 24).

    A share ``MEAN_PURCHASE_DWELL_MIN / 60`` of hour h's buyers entered in hour h − 1 when the store
    was open then; at the opening hour (or 00:00) they are held at the door and count in h.
    """
    lead = MEAN_PURCHASE_DWELL_MIN / 60.0
    moved = np.zeros_like(lam)
    moved[:, 1:] = lead * lam[:, 1:] * (open_fraction[:, :-1] > 0)
    entries = lam - moved
    entries[:, :-1] += moved[:, 1:]
    return entries


def browser_lambda(lam: np.ndarray, open_fraction: np.ndarray, weekend: bool) -> np.ndarray:
    """Poisson mean of browsers per (store, hour): expected entries × (1 − c) / c."""
    c = conversion(weekend)
    return expected_entries(lam, open_fraction) * ((1.0 - c) / c)


def entry_counts(
    traffic: DayTraffic, wanted_lines: np.ndarray, open_fraction: np.ndarray, day_start_us: int
) -> np.ndarray:
    """Purchasing visits per (store, entry hour), (S, 24): receipt ts minus the purchase dwell."""
    n_stores = open_fraction.shape[0]
    if traffic.n_visits == 0:
        return np.zeros((n_stores, 24), dtype=np.int64)
    dwell = np.floor((DWELL_BASE_MIN + DWELL_PER_LINE_MIN * wanted_lines) * MINUTE_US + 0.5).astype(np.int64)
    first_open_hour = np.argmax(open_fraction > 0, axis=1)
    opens_us = day_start_us + first_open_hour[traffic.visit_store] * HOUR_US
    entry = np.maximum(traffic.visit_ts_us - dwell, opens_us)
    hour = (entry - day_start_us) // HOUR_US
    return np.bincount(traffic.visit_store * 24 + hour, minlength=n_stores * 24).reshape(n_stores, 24)


@dataclass(frozen=True)
class FootTrafficRows:
    store: np.ndarray
    hour: np.ndarray
    zone: np.ndarray
    customer_count: np.ndarray
    dwell_seconds: np.ndarray


def foot_traffic(
    traffic: DayTraffic,
    entries: np.ndarray,
    open_fraction: np.ndarray,
    receipts_per_hour: np.ndarray,
    store_format: np.ndarray,
) -> FootTrafficRows:
    """One row per (store, open hour, zone), zero counts included, in (store, hour, zone) order.

    ``entries`` (S, 24) are the purchasing visits by entry hour (``entry_counts``).
    """
    b = traffic.browsers
    v = entries + b
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
