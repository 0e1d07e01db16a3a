"""Visits -> baskets (contract §7.4): customer, behaviour, line count, candidate products, quantities.

All draws come from ``rng("basket", D, store_id)`` in one fixed block order over the store's
purchasing visits in time order: customers (choice u, pick u), behaviours, line counts, the
candidate blocks (3 x lines uniforms per visit), desired quantities (one per line slot), then the
promotion decision and code uniforms. They are all made up front, before any stock is looked at,
so stock-outs change which draws are *used*, never which are *made* (§8.2).

Basket formation itself (``select_lines``) runs once per hour over every store at once: a candidate
is kept if it is the first occurrence of its product in the visit's block and the product had stock
at the start of the hour; the basket is the first ``lines`` kept candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from retail_assets.generate.arrays import stable_argsort
from retail_assets.generate.rng import rng
from retail_assets.generate.store_context import StoreContext, day_ordinal

QUICK_TRIP, GROCERY_RUN, FAMILY_SHOPPING, BULK_SHOPPING = range(4)
BEHAVIOURS = ("QUICK_TRIP", "GROCERY_RUN", "FAMILY_SHOPPING", "BULK_SHOPPING")
LINE_RANGE = np.array([[1, 3], [5, 15], [10, 30], [20, 50]], dtype=np.int64)
BEHAVIOUR_WEIGHTS_WEEKDAY = np.array([0.35, 0.40, 0.18, 0.07])
BEHAVIOUR_WEIGHTS_WEEKEND = np.array([0.30, 0.40, 0.22, 0.08])
# quantity 1..6 probabilities per behaviour (BULK: U{4..6} with 0.20 -> 1/15 each)
QTY_PROBS = np.array(
    [
        [0.75, 0.18, 0.05, 0.02, 0.0, 0.0],
        [0.75, 0.18, 0.05, 0.02, 0.0, 0.0],
        [0.65, 0.22, 0.09, 0.04, 0.0, 0.0],
        [0.40, 0.25, 0.15, 0.20 / 3, 0.20 / 3, 0.20 / 3],
    ]
)
QTY_CDF = np.cumsum(QTY_PROBS, axis=1)
QTY_CDF[:, -1] = 1.0
# line-count multiplier by store format (STORE_FORMATS order); EXPRESS is forced to QUICK_TRIP
FORMAT_LINE_MULT = np.array([1.3, 1.1, 1.0, 0.8, 1.0])
EXPRESS = 4
HOME_STORE_SHARE = 0.85
CANDIDATES_PER_LINE = 3
TAG_BOOST = 3.0


@dataclass(frozen=True)
class BasketDraws:
    """Per-visit draws for all visits of the day (same order as ``DayTraffic``)."""

    customer_id: np.ndarray  # int64 (V,)
    behaviour: np.ndarray  # int8 (V,)
    lines: np.ndarray  # int64 (V,) wanted distinct products
    cand_offsets: np.ndarray  # int64 (V+1,) into cand_product
    cand_product: np.ndarray  # int64 product index per candidate
    qty_offsets: np.ndarray  # int64 (V+1,) into desired_qty
    desired_qty: np.ndarray  # int64 per line slot
    promo_u: np.ndarray  # float64 (V,) promotion decision
    promo_code_u: np.ndarray  # float64 (V,) code choice


def product_weights(ctx: StoreContext, day: date, tag_active: np.ndarray | None) -> np.ndarray:
    """Demand weight ``w_p = 1 / (rank + 10)`` (x 3 for products whose holiday window contains D)."""
    w = 1.0 / (ctx.popularity_rank + 10.0)
    if tag_active is not None:
        w = np.where(tag_active, w * TAG_BOOST, w)
    return w


def launched_assortment(ctx: StoreContext, store_idx: int, day: date) -> np.ndarray:
    """Product indices the store can sell on D (carried and launched), in product_id order."""
    mask = (ctx.popularity_rank <= ctx.assortment_size[store_idx]) & (ctx.launch_ordinal <= day_ordinal(day))
    return np.flatnonzero(mask)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s+l) for each (s, l), without a Python loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    rep_start = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return np.arange(total, dtype=np.int64) + rep_start


class CdfSearch:
    """Exactly ``np.searchsorted(cdf, x, side="right")`` for a fixed non-decreasing ``cdf``, x ≥ 0.

    Why: ~0.7 M candidate draws a day each binary-search a cdf of up to 10⁴ products with
    cache-missing random probes. A guide table of 2·len(cdf) equal-width value buckets, built once
    per assortment (stores of one assortment size share it), narrows each query to the few cdf
    entries inside its bucket, which a handful of vectorised bisection steps finish. Queries the
    float bucket estimate does not bracket fall back to the plain search: results never differ.
    """

    def __init__(self, cdf: np.ndarray) -> None:
        self.cdf = cdf
        n = len(cdf)
        self.k = 2 * n
        self.total = float(cdf[-1]) if n else 0.0
        self.edges = np.empty(self.k + 2)
        self.edges[: self.k + 1] = np.arange(self.k + 1) * (self.total / self.k) if n else 0.0
        self.edges[self.k + 1] = np.inf
        self.count = np.searchsorted(cdf, self.edges, side="right")  # count(cdf <= edge)
        self.steps = int((self.count[1:] - self.count[:-1]).max()).bit_length() if n else 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        cdf, edges, k, n = self.cdf, self.edges, self.k, len(self.cdf)
        if n == 0 or self.total <= 0 or len(x) == 0:
            return np.searchsorted(cdf, x, side="right")
        b = np.minimum((x * (k / self.total)).astype(np.int64), k)
        b -= edges[b] > x
        b += edges[b + 1] <= x
        if (b < 0).any() or not ((edges[b] <= x) & (x < edges[b + 1])).all():
            return np.searchsorted(cdf, x, side="right")
        lo, hi = self.count[b], self.count[b + 1]
        for _ in range(self.steps):
            mid = (lo + hi) >> 1
            go_right = (mid < hi) & (cdf[np.minimum(mid, n - 1)] <= x)
            lo = np.where(go_right, mid + 1, lo)
            hi = np.where(go_right, hi, mid)
        return lo


def draw_baskets(
    seed: int,
    day: date,
    ctx: StoreContext,
    visit_store: np.ndarray,
    weekend: bool,
    tag_active: np.ndarray | None = None,
) -> BasketDraws:
    """Make every basket draw of the day, store by store (one stream each), in the §8.2 order."""
    weights = product_weights(ctx, day, tag_active)
    beh_cdf = np.cumsum(BEHAVIOUR_WEIGHTS_WEEKEND if weekend else BEHAVIOUR_WEIGHTS_WEEKDAY)
    beh_cdf[-1] = 1.0
    n_visits = len(visit_store)
    counts = np.bincount(visit_store, minlength=ctx.n_stores)
    cust = np.empty(n_visits, dtype=np.int64)
    beh = np.empty(n_visits, dtype=np.int8)
    lines = np.empty(n_visits, dtype=np.int64)
    promo_u = np.empty(n_visits)
    promo_code_u = np.empty(n_visits)
    cand_parts: list[np.ndarray] = []
    by_size: dict[int, tuple[np.ndarray, CdfSearch]] = {}
    qty_parts: list[np.ndarray] = []
    start = 0
    for s in range(ctx.n_stores):
        n = int(counts[s])
        if n == 0:
            continue
        sl = slice(start, start + n)
        start += n
        g = rng(seed, "basket", day, int(ctx.store_id[s]))
        # customers: home-store customer with p 0.85 (if the store has any), else anyone
        u_choice, u_pick = g.random(n), g.random(n)
        lo, hi = ctx.home_offsets[s], ctx.home_offsets[s + 1]
        home_n = hi - lo
        anyone = np.floor(u_pick * ctx.n_customers).astype(np.int64) + 1
        if home_n > 0:
            home = ctx.home_customers_sorted[lo + np.floor(u_pick * home_n).astype(np.int64)]
            cust[sl] = np.where(u_choice < HOME_STORE_SHARE, home, anyone)
        else:
            cust[sl] = anyone
        # behaviours
        b = np.searchsorted(beh_cdf, g.random(n), side="right").astype(np.int8)
        if ctx.store_format[s] == EXPRESS:
            b[:] = QUICK_TRIP
        beh[sl] = b
        # line counts: U{a..b} x format multiplier, round half away, clamp to [1, launched assortment]
        size = int(ctx.assortment_size[s])
        if size not in by_size:  # stores of one assortment size sell the same launched products
            assortment = launched_assortment(ctx, s, day)
            by_size[size] = (assortment, CdfSearch(np.cumsum(weights[assortment])))
        assortment, search = by_size[size]
        u_lines = g.random(n)
        lo_l, hi_l = LINE_RANGE[b, 0], LINE_RANGE[b, 1]
        raw = lo_l + np.floor(u_lines * (hi_l - lo_l + 1)).astype(np.int64)
        scaled = np.floor(raw * FORMAT_LINE_MULT[ctx.store_format[s]] + 0.5).astype(np.int64)
        lc = np.clip(scaled, 1, max(1, len(assortment)))
        lines[sl] = lc
        # candidate blocks: inverse CDF over the launched assortment
        u_cand = g.random(int(lc.sum()) * CANDIDATES_PER_LINE)
        if len(assortment):
            pos = search(u_cand * search.cdf[-1])
            cand_parts.append(assortment[np.minimum(pos, len(assortment) - 1)])
        else:  # nothing launched yet: every candidate is unusable (index -1 never stocks)
            cand_parts.append(np.full(len(u_cand), -1, dtype=np.int64))
        # desired quantities, one per line slot
        beh_rep = np.repeat(b, lc)
        q_u = g.random(int(lc.sum()))
        qty_parts.append((QTY_CDF[beh_rep] < q_u[:, None]).sum(axis=1).astype(np.int64) + 1)
        # promotion decision and code
        promo_u[sl] = g.random(n)
        promo_code_u[sl] = g.random(n)
    cand_offsets = np.concatenate(([0], np.cumsum(lines * CANDIDATES_PER_LINE))).astype(np.int64)
    qty_offsets = np.concatenate(([0], np.cumsum(lines))).astype(np.int64)
    empty = np.zeros(0, dtype=np.int64)
    return BasketDraws(
        customer_id=cust,
        behaviour=beh,
        lines=lines,
        cand_offsets=cand_offsets,
        cand_product=np.concatenate(cand_parts) if cand_parts else empty,
        qty_offsets=qty_offsets,
        desired_qty=np.concatenate(qty_parts) if qty_parts else empty,
        promo_u=promo_u,
        promo_code_u=promo_code_u,
    )


@dataclass(frozen=True)
class WantedLines:
    """Basket lines of a set of visits before stock limits: one row per (visit, basket slot)."""

    visit: np.ndarray  # int64 visit index
    slot: np.ndarray  # int64 0-based basket order
    product: np.ndarray  # int64 product index
    desired: np.ndarray  # int64 desired quantity ≥ 1


def select_lines(
    draws: BasketDraws,
    visits: np.ndarray,
    visit_store: np.ndarray,
    on_hand: np.ndarray,
) -> WantedLines:
    """Form the baskets of ``visits`` (one hour, all stores) against ``on_hand[store, product]``.

    ``on_hand`` is the dense store x product book at the start of the hour. Walking each visit's
    candidate block in draw order, a candidate is skipped when its product already occurred in the
    block (the repeat of an independent weighted draw) or had no stock; the first ``lines`` kept
    candidates form the basket.
    """
    n_products = on_hand.shape[1]
    lens = draws.lines[visits] * CANDIDATES_PER_LINE
    idx = _ranges(draws.cand_offsets[visits], lens)
    cand_visit = np.repeat(visits, lens)
    prod = draws.cand_product[idx]
    valid = prod >= 0
    safe_prod = np.where(valid, prod, 0)
    in_stock = valid & (on_hand[visit_store[cand_visit], safe_prod] > 0)
    key = cand_visit * n_products + safe_prod
    order = stable_argsort(key)
    ks = key[order]
    first_sorted = np.ones(len(ks), dtype=bool)
    first_sorted[1:] = ks[1:] != ks[:-1]
    first = np.empty(len(ks), dtype=bool)
    first[order] = first_sorted
    keep = first & in_stock
    # rank of each kept candidate within its visit's block
    csum = np.cumsum(keep)
    block_start = np.concatenate(([0], np.cumsum(lens)[:-1])) if len(lens) else np.zeros(0, np.int64)
    before = np.where(block_start > 0, csum[block_start - 1], 0) if len(idx) else block_start
    rank = csum - 1 - np.repeat(before, lens)
    chosen = keep & (rank < draws.lines[cand_visit])
    v = cand_visit[chosen]
    slot = rank[chosen]
    return WantedLines(
        visit=v,
        slot=slot,
        product=prod[chosen],
        desired=draws.desired_qty[draws.qty_offsets[v] + slot],
    )
