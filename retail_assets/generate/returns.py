"""Returns (contract §7.6): decided on the sale day, carried in the schedule, emitted on their day.

Sale day: stream ``rng("returns", D, store_id)`` over the store's SALE receipts in id order, in
blocks — gift draw (model 1: return marking), return-day draw, hour draw, within-hour draw (one each per receipt), then
the returned-line uniforms and restocking uniforms (one each per line, receipts and lines in
order). A receipt with a returned line (department rate, model 2) becomes one ``RETURN_VISIT`` schedule row whose body carries everything
the return needs (lines with their original money), so the return day needs no other state.

Return day: the due rows become RETURN receipts numbered ``RET-…`` per (store, day) in event_ts
order (ties: original receipt id); lines renumbered 1..n in original line order; restocked lines
post RETURN txns at the return time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from retail_assets.generate import calendar as cal
from retail_assets.generate.rng import rng
from retail_assets.generate.state import canonical_json, decode_bodies, make_schedule

# Model 2 (issue 12): a line is returned with a probability of its department (ZONES index of the
# product: GROCERY 1, ELECTRONICS 2, CLOTHING 3), higher for holiday-season sales. NRF: clothing and
# electronics are returned an order of magnitude more often than food (≈ 10-20 % vs < 2 % by value).
RETURN_LINE_P = {1: 0.006, 2: 0.07, 3: 0.10}
RETURN_LINE_P_HOLIDAY = {1: 0.012, 2: 0.13, 3: 0.20}
RESTOCK_P = 0.85
RETURN_DAYS = 30  # lag 1 + floor(30 u²): front-loaded, most returns within two weeks
GIFT_P = 0.5  # share of holiday-season returns that are gifts, returned Dec 26 + U{0..GIFT_DAYS-1}
GIFT_DAYS = 21


def _holiday_sale(day: date) -> bool:
    """Sales from Nov 20 to Dec 24 have the seasonal return rate and window."""
    return date(day.year, 11, 20) <= day <= date(day.year, 12, 24)


def _open_day(d: date) -> date:
    """A closed day (all stores closed) moves the return to the next open day."""
    while cal.day_calendar(d).stores_closed:
        d += timedelta(days=1)
    return d


@dataclass(frozen=True)
class SaleLines:
    """The day's SALE receipts and lines, receipts sorted by (store, receipt id)."""

    receipt_id: np.ndarray  # object strings
    store: np.ndarray  # store index
    customer: np.ndarray
    payment_method: np.ndarray  # object strings
    line_receipt: np.ndarray  # receipt index per line (lines grouped by receipt, line_num order)
    line_num: np.ndarray
    product_id: np.ndarray
    quantity: np.ndarray
    unit_cents: np.ndarray
    discount_cents: np.ndarray
    tax_cents: np.ndarray
    promo_code: np.ndarray  # object, None when no code


def schedule_returns(
    seed: int,
    day: date,
    store_ids: np.ndarray,
    hours: tuple[str, ...],
    sales: SaleLines,
    perishable: np.ndarray,
    zone_of_product: np.ndarray,
) -> pa.Table:
    """Draw the returns of the day's sales; returns schedule rows (``RETURN_VISIT``).

    ``perishable`` (bool per product index, ``requires_refrigeration``) forces the restock flag off:
    a store cannot resell chilled or frozen food whose cold chain left its control, so the refund is
    paid but the unit is disposed and never posts a RETURN txn (model 2; model 1 restocked 85 %).
    The restocking uniform is still drawn per line, so the stream's layout is unchanged.
    """
    n = len(sales.receipt_id)
    n_stores = len(store_ids)
    counts = np.bincount(sales.store, minlength=n_stores)
    line_counts = np.bincount(sales.line_receipt, minlength=n)
    lines_per_store = np.bincount(sales.store, weights=line_counts, minlength=n_stores).astype(np.int64)
    u_mark, u_day, u_hour, u_min = (np.empty(n) for _ in range(4))
    u_line = np.empty(len(sales.line_receipt))
    u_restock = np.empty(len(sales.line_receipt))
    r0 = l0 = 0
    for s in range(n_stores):
        k, m = int(counts[s]), int(lines_per_store[s])
        if k == 0:
            continue
        g = rng(seed, "returns", day, int(store_ids[s]))
        for arr in (u_mark, u_day, u_hour, u_min):
            arr[r0 : r0 + k] = g.random(k)
        u_line[l0 : l0 + m] = g.random(m)
        u_restock[l0 : l0 + m] = g.random(m)
        r0 += k
        l0 += m
    holiday = _holiday_sale(day)
    line_p = np.zeros(4)
    for zone, p in (RETURN_LINE_P_HOLIDAY if holiday else RETURN_LINE_P).items():
        line_p[zone] = p
    chosen_all = u_line < line_p[zone_of_product[sales.product_id - 1]]
    marked = np.flatnonzero(np.bincount(sales.line_receipt, weights=chosen_all, minlength=n) > 0)
    if len(marked) == 0:
        return make_schedule(np.zeros(0, np.int64), "RETURN_VISIT", [], [])
    line_starts = np.concatenate(([0], np.cumsum(line_counts)))
    gift = holiday & (u_mark[marked] < GIFT_P)
    due = _return_times(day, gift, hours, sales.store[marked], u_day[marked], u_hour[marked], u_min[marked])
    a, b = line_starts[marked], line_starts[marked + 1]
    line_idx = _ranges(a, b)
    owner = np.repeat(np.arange(len(marked)), b - a)
    chosen = chosen_all[line_idx]
    idx = line_idx[chosen]
    restock = (u_restock[idx] < RESTOCK_P) & ~perishable[sales.product_id[idx] - 1]
    cols = zip(
        sales.line_num[idx].tolist(), sales.product_id[idx].tolist(), sales.quantity[idx].tolist(),
        sales.unit_cents[idx].tolist(), sales.discount_cents[idx].tolist(), sales.tax_cents[idx].tolist(),
        sales.promo_code[idx].tolist(), restock.tolist(), strict=True,
    )  # fmt: skip
    per_return = np.bincount(owner[chosen], minlength=len(marked)).tolist()
    keys, bodies = [], []
    for r, k in zip(marked.tolist(), per_return, strict=True):  # a few hundred JSON bodies a day
        body = {
            "receipt_id_ext": sales.receipt_id[r],
            "store_id": int(store_ids[sales.store[r]]),
            "customer_id": int(sales.customer[r]),
            "payment_method": sales.payment_method[r],
            "lines": [list(next(cols)) for _ in range(k)],
        }
        keys.append(sales.receipt_id[r])
        bodies.append(canonical_json(body))
    return make_schedule(np.array(due, dtype=np.int64), "RETURN_VISIT", keys, bodies)


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(starts[i], ends[i])`` over i (vectorised)."""
    lengths = ends - starts
    total = int(lengths.sum())
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def _return_times(
    day: date,
    gift: np.ndarray,
    hours: tuple[str, ...],
    store: np.ndarray,
    u_day: np.ndarray,
    u_hour: np.ndarray,
    u_min: np.ndarray,
) -> np.ndarray:
    """Return instants (µs) of the marked receipts: day, then hour by the return day's hour weights
    over the store's open fraction, then a uniform offset in the open part of that hour.

    Day: a gift (holiday-season sale) comes back Dec 26 + U{0..20}, spread so the post-Christmas
    spike builds and fades instead of a one-week cliff; any other return after a lag of
    ``1 + floor(30 u²)`` days (front-loaded). Vectorised per distinct (store hours, return day).
    """
    lag = 1 + np.floor(RETURN_DAYS * u_day**2).astype(np.int64)
    gift_lag = (date(day.year, 12, 26) - day).days + np.minimum(
        (u_day * GIFT_DAYS).astype(np.int64), GIFT_DAYS - 1
    )
    offset = np.where(gift, gift_lag, lag)
    base = day
    distinct = sorted(set(hours))
    hours_idx = np.array([distinct.index(h) for h in hours], dtype=np.int64)[
        np.asarray(store, dtype=np.int64)
    ]
    ts = np.empty(len(offset), dtype=np.int64)
    pairs = np.unique(np.stack([hours_idx, offset], axis=1), axis=0)
    for h, off in pairs.tolist():
        sel = np.nonzero((hours_idx == h) & (offset == off))[0]
        store_hours = distinct[h]
        ret_day = _open_day(base + timedelta(days=off))
        frac = cal.open_fraction_by_hour(store_hours, ret_day)
        while frac.sum() == 0:  # store-specific closure (none in this calendar besides Dec 25)
            ret_day = _open_day(ret_day + timedelta(days=1))
            frac = cal.open_fraction_by_hour(store_hours, ret_day)
        w = cal.hour_weights(ret_day) * frac
        cdf = np.cumsum(w) / w.sum()
        hour = np.minimum(np.searchsorted(cdf, u_hour[sel], side="right"), 23)
        open_len = np.floor(frac[hour] * cal.US_PER_HOUR + 0.5).astype(np.int64)
        ts[sel] = (
            cal.day_start_us(ret_day) + hour * cal.US_PER_HOUR + (u_min[sel] * open_len).astype(np.int64)
        )
    return ts


@dataclass(frozen=True)
class DueReturns:
    """RETURN receipts of the day, sorted by (store, event_ts, original receipt id); seq per store."""

    ts: np.ndarray
    store_id: np.ndarray
    seq: np.ndarray
    original_receipt: np.ndarray  # object
    customer: np.ndarray
    payment_method: np.ndarray  # object
    line_return: np.ndarray  # return index per line
    line_num: np.ndarray  # renumbered 1..n
    product_id: np.ndarray
    quantity: np.ndarray  # negative
    unit_cents: np.ndarray
    ext_cents: np.ndarray  # negative
    discount_cents: np.ndarray  # negative or 0
    tax_cents: np.ndarray  # negative or 0
    promo_code: np.ndarray  # object
    restock: np.ndarray  # bool


def due_returns(schedule_rows: pa.Table) -> DueReturns:
    """Parse the day's ``RETURN_VISIT`` rows into RETURN receipts and lines."""
    ts = schedule_rows.column("due_ts").cast(pa.int64()).to_numpy()
    bodies = decode_bodies(schedule_rows.column("body"))
    store = np.array([b["store_id"] for b in bodies], dtype=np.int64)
    orig = np.array([b["receipt_id_ext"] for b in bodies], dtype=object)
    order = np.lexsort((orig.astype(str), ts, store)) if len(bodies) else np.zeros(0, np.int64)
    bodies = [bodies[i] for i in order]
    ts, store, orig = ts[order], store[order], orig[order]
    first = np.ones(len(store), dtype=bool)
    first[1:] = store[1:] != store[:-1]
    idx = np.arange(len(store))
    seq = idx - np.maximum.accumulate(np.where(first, idx, 0)) + 1
    flat = [(i, *ln) for i, b in enumerate(bodies) for ln in sorted(b["lines"], key=lambda x: x[0])]
    cols = list(zip(*flat, strict=True)) if flat else [()] * 9
    line_return = np.array(cols[0], dtype=np.int64)
    qty = np.array(cols[3], dtype=np.int64)
    unit = np.array(cols[4], dtype=np.int64)
    lfirst = np.ones(len(line_return), dtype=bool)
    lfirst[1:] = line_return[1:] != line_return[:-1]
    lidx = np.arange(len(line_return))
    return DueReturns(
        ts=ts.astype(np.int64),
        store_id=store,
        seq=seq.astype(np.int64),
        original_receipt=orig,
        customer=np.array([b["customer_id"] for b in bodies], dtype=np.int64),
        payment_method=np.array([b["payment_method"] for b in bodies], dtype=object),
        line_return=line_return,
        line_num=(lidx - np.maximum.accumulate(np.where(lfirst, lidx, 0)) + 1).astype(np.int64),
        product_id=np.array(cols[2], dtype=np.int64),
        quantity=-qty,
        unit_cents=unit,
        ext_cents=-(unit * qty),
        discount_cents=-np.array(cols[5], dtype=np.int64),
        tax_cents=-np.array(cols[6], dtype=np.int64),
        promo_code=np.array(cols[7], dtype=object),
        restock=np.array(cols[8], dtype=bool),
    )
