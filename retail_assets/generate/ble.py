"""BLE pings and zone changes of the day's SALE visits (contract §7.7).

Stream ``rng("ble", D, store_id)`` over the store's SALE receipts in id order, in blocks: detection
uniforms, zone-order keys (n x 3), dwell factors, pings per zone slot (n x 5), then — for the
detected visits only, a block whose size follows from the earlier draws — ping offsets and rssi.
Everything after the per-store draws is computed on the concatenated arrays of all stores.

Only app users are detected (model 2): store beacons are heard by the retailer's app, so a visit is
tracked iff its customer is an app user and the app was listening (``APP_DETECT_P``). Model 1
detected 90 % of all visits and invented anonymous device ids for the others, which no beacon
deployment can do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.generate.dimensions import BLE_ID_PREFIX, customer_device_ids
from retail_assets.generate.rng import rng
from retail_assets.generate.store_context import ZONES, StoreContext

#: P(an app user's visit is detected): Bluetooth on and the app allowed to range beacons. With 30 %
#: app users (§3.5) ≈ 21 % of visits are tracked (reference/calibration.md).
APP_DETECT_P = 0.7
FORMAT_PING_FACTOR = np.array([1.6, 1.3, 1.0, 0.8, 0.65])  # STORE_FORMATS order
MINUTE_US = 60_000_000
ENTRANCE, CHECKOUT = 0, 4
DEPT_ZONES = np.array([1, 2, 3])  # GROCERY, ELECTRONICS, CLOTHING


@dataclass(frozen=True)
class BleResult:
    """Ping rows and zone-change rows (indices refer to the SALE receipts passed in)."""

    ping_receipt: np.ndarray
    ping_num: np.ndarray
    ping_ts_us: np.ndarray
    ping_zone: np.ndarray
    ping_rssi: np.ndarray
    change_receipt: np.ndarray
    change_num: np.ndarray
    change_ts_us: np.ndarray
    change_from: np.ndarray
    change_to: np.ndarray
    device_id: pa.Array  # per receipt: the app user's ble_id_ext (null when not detected)
    device_customer: np.ndarray  # per receipt customer_id, -1 = not detected


def simulate_ble(
    seed: int,
    day,
    ctx: StoreContext,
    day_start_us: int,
    receipt_store: np.ndarray,
    receipt_ts_us: np.ndarray,
    receipt_customer: np.ndarray,
    receipt_line_count: np.ndarray,
    receipt_zone_mask: np.ndarray,
) -> BleResult:
    """Pings and zone changes for SALE receipts sorted by (store, receipt id).

    ``receipt_zone_mask`` (n, 3) says which department zones (GROCERY, ELECTRONICS, CLOTHING) the
    basket touches.
    """
    n = len(receipt_ts_us)
    counts = np.bincount(receipt_store, minlength=ctx.n_stores)
    detect_u = np.empty(n)
    zone_keys = np.empty((n, 3))
    dwell_f = np.empty(n)
    ppz = np.empty((n, 5), dtype=np.int64)
    gens: list[tuple[int, slice, np.random.Generator]] = []
    start = 0
    for s in range(ctx.n_stores):
        k = int(counts[s])
        if k == 0:
            continue
        sl = slice(start, start + k)
        start += k
        g = rng(seed, "ble", day, int(ctx.store_id[s]))
        detect_u[sl] = g.random(k)
        zone_keys[sl] = g.random((k, 3))
        dwell_f[sl] = g.uniform(0.8, 1.25, k)
        ppz[sl] = g.integers(2, 6, size=(k, 5))
        gens.append((s, sl, g))
    detected = (detect_u < APP_DETECT_P) & ctx.customer_app_user[receipt_customer - 1]

    # zone sequence per visit: ENTRANCE, department zones by key, CHECKOUT (slot 0..n_zones-1)
    keys = np.where(receipt_zone_mask, zone_keys, np.inf)
    dept_order = np.argsort(keys, axis=1, kind="stable")
    n_dept = receipt_zone_mask.sum(axis=1)
    n_zones = n_dept + 2
    slot_zone = np.full((n, 5), -1, dtype=np.int64)
    slot_zone[:, 0] = ENTRANCE
    for j in range(3):
        slot_zone[:, 1 + j] = np.where(j < n_dept, DEPT_ZONES[dept_order[:, j]], -1)
    slot_zone[np.arange(n), n_zones - 1] = CHECKOUT

    # timeline in integer µs
    dwell = np.floor((4.0 + 0.9 * receipt_line_count) * dwell_f * MINUTE_US + 0.5).astype(np.int64)
    entry = np.maximum(day_start_us, receipt_ts_us - dwell)
    co_start = np.maximum(
        entry, receipt_ts_us - np.minimum(3 * MINUTE_US, np.floor(0.15 * dwell).astype(np.int64))
    )
    co_end = receipt_ts_us + MINUTE_US
    span = co_start - entry
    ent_end = entry + span // 10
    dept_len = (co_start - ent_end) // np.maximum(n_dept, 1)

    # pings per zone slot
    ping_factor = FORMAT_PING_FACTOR[ctx.store_format[receipt_store]] * np.clip(
        ctx.traffic_multiplier[receipt_store], 0.6, 1.8
    )
    pings = np.maximum(1, np.floor(ppz * ping_factor[:, None] + 0.5).astype(np.int64))
    slot_used = np.arange(5)[None, :] < n_zones[:, None]
    pings = np.where(slot_used & detected[:, None], pings, 0)

    # zone segments per (visit, zone slot), computed on the (n, 5) grid and gathered per ping:
    # the same integers as per-ping arithmetic, at a fraction of the rows
    j = np.arange(5)[None, :]
    is_co_slot = j == (n_zones - 1)[:, None]
    grid_start = np.where(
        j == 0,
        entry[:, None],
        np.where(is_co_slot, co_start[:, None], ent_end[:, None] + (j - 1) * dept_len[:, None]),
    )
    grid_end = np.where(
        j == 0,
        ent_end[:, None],
        np.where(
            is_co_slot,
            co_end[:, None],
            np.where(j == (n_zones - 2)[:, None], co_start[:, None], grid_start + dept_len[:, None]),
        ),
    )
    grid_len = np.maximum(grid_end - grid_start, 1)

    flat_idx = np.flatnonzero(pings)
    per = pings.reshape(-1)[flat_idx]
    p_flat = np.repeat(flat_idx, per)
    p_rec = p_flat // 5
    p_slot = p_flat - p_rec * 5
    p_zone = slot_zone.reshape(-1)[p_flat]
    seg_start = grid_start.reshape(-1)[p_flat]
    seg_len = grid_len.reshape(-1)[p_flat]

    # per-store draws of ping offsets then rssi (pings are grouped by receipt, receipts by store)
    ping_counts_store = (
        np.bincount(receipt_store[p_rec], minlength=ctx.n_stores)
        if len(p_rec)
        else np.zeros(ctx.n_stores, np.int64)
    )
    offs = np.empty(len(p_rec), dtype=np.int64)
    rssi = np.empty(len(p_rec), dtype=np.int64)
    pos = 0
    for s, _sl, g in gens:
        k = int(ping_counts_store[s])
        if k == 0:
            continue
        offs[pos : pos + k] = g.integers(0, seg_len[pos : pos + k])
        rssi[pos : pos + k] = g.integers(-80, -29, size=k)
        pos += k
    p_ts = seg_start + offs

    # time order inside each visit (ties: zone slot); one int64 key instead of a 3-key lexsort
    rel = p_ts - day_start_us
    if n < (1 << 22):
        order = np.argsort((p_rec << 41) | (rel << 3) | p_slot, kind="stable")
    else:  # beyond 4 M receipts a day the packed key would overflow
        order = np.lexsort((p_slot, p_ts, p_rec))
    p_rec, p_ts, p_zone, rssi = p_rec[order], p_ts[order], p_zone[order], rssi[order]
    first = np.ones(len(p_rec), dtype=bool)
    first[1:] = p_rec[1:] != p_rec[:-1]
    starts = np.flatnonzero(first)
    ping_num = np.arange(len(p_rec)) - np.repeat(starts, np.diff(np.append(starts, len(p_rec)))) + 1

    change = np.zeros(len(p_rec), dtype=bool)
    change[1:] = (~first[1:]) & (p_zone[1:] != p_zone[:-1])
    c_idx = np.flatnonzero(change)
    c_rec = p_rec[c_idx]
    c_first = np.ones(len(c_rec), dtype=bool)
    c_first[1:] = c_rec[1:] != c_rec[:-1]
    c_starts = np.flatnonzero(c_first)
    change_num = np.arange(len(c_rec)) - np.repeat(c_starts, np.diff(np.append(c_starts, len(c_rec)))) + 1

    # device identity per visit: the detected app user's ble_id_ext
    device_ids = customer_device_ids(BLE_ID_PREFIX, np.where(detected, receipt_customer, 1))
    device_arr = pc.if_else(pa.array(detected), device_ids, pa.scalar(None, pa.string()))
    device_customer = np.where(detected, receipt_customer, -1)
    return BleResult(
        ping_receipt=p_rec,
        ping_num=ping_num,
        ping_ts_us=p_ts,
        ping_zone=p_zone,
        ping_rssi=rssi,
        change_receipt=c_rec,
        change_num=change_num,
        change_ts_us=p_ts[c_idx],
        change_from=p_zone[c_idx - 1],
        change_to=p_zone[c_idx],
        device_id=device_arr,
        device_customer=device_customer,
    )


ZONE_NAMES = np.array(ZONES, dtype=object)
