"""Online orders (contract §7.11): candidates, allocation at the node, headers, line lifecycle and
online payments (§7.5).

Why candidates first: every random decision of an order (customer, mode, lines, quantities,
promotion, payment attempts, pick/ship/delivery times) is drawn before any stock is looked at, in
candidate order, so stock only decides which draws are *used*. The payment outcome is decided first:
an abandoned payment allocates nothing and leaves no row. Allocation happens in the node's posting
chain (ONLINE_SALE txns at the order time); lines with nothing available are dropped, and orders
left without lines are not placed and get no number.

While posting, ONLINE_SALE txns carry a *provisional* source id ``ONL-{D}-{dc_id:05}-{candidate:06}``
whose string order equals the final order-number order (both follow (DC, candidate) order), so
posting order is the same; ``rename_sources`` swaps in the final ``order_id_ext`` once placement is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from retail_assets.config import DatasetSettings
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.generate import calendar as cal
from retail_assets.generate import ids, payments
from retail_assets.generate import inventory as inv
from retail_assets.generate.inventory import TxnBatch
from retail_assets.generate.money import cents_to_decimal, percent_of, tax_cents
from retail_assets.generate.replenishment import Network
from retail_assets.generate.rng import rng
from retail_assets.generate.state import SCHEDULE_SCHEMA, make_schedule
from retail_assets.generate.store_context import StoreContext, day_ordinal

US_MIN, US_H, US_DAY = cal.US_PER_MINUTE, cal.US_PER_HOUR, cal.US_PER_DAY

# §7.11 parameters (rules as data). Model 2 calibrates volume and basket to public figures
# (reference/calibration.md): e-commerce ≈ 16 % of US retail sales (Census) and online grocery
# orders of $80-130. Model 1's 653 orders of ≈ 3 lines × 1.35 units ($20) were 0.6 % of sales.
BASE_ORDERS_PER_DAY = 3_300
MODES = ("SHIP_FROM_DC", "SHIP_FROM_STORE", "BOPIS")
SFDC, SFS, BOPIS = range(3)
MODE_P = np.array([0.60, 0.30, 0.10])
# A planned stock-up basket: ≈ 6.8 lines of ≈ 2.9 units (≈ 19 items, ≈ $100 with tax). Few lines of
# several units rather than many lines of one: the order's value is what the references fix, and
# every line costs three lifecycle rows carried in the schedule.
LINE_CLASSES = np.array([[3, 7], [6, 9], [9, 13]], dtype=np.int64)
LINE_CLASS_P = np.array([0.50, 0.35, 0.15])
QTY_VALUES = np.array([1, 2, 3, 4, 6], dtype=np.int64)
QTY_P = np.array([0.20, 0.30, 0.20, 0.15, 0.15])
CANDIDATES_PER_LINE = 3
PROMO_P = 0.15
PROMO_CODES = ("PROMO5", "PROMO10", "PROMO20")
PROMO_PCT = np.array([5, 10, 20], dtype=np.int64)
PROMO_CODE_P = np.array([0.50, 0.35, 0.15])
PAYMENT_ATTEMPTS = 2
PICK_START_MIN = (30, 240)
PICK_GAP_MIN = (1, 3)
STORE_REOPEN_PICK_MIN = (15, 90)
DC_XMAS_RESTART_US, DC_XMAS_JITTER_MIN = 6 * US_H, (0, 60)
SHIP_AFTER_PICK_US = 30 * US_MIN
PICKUPS_STORE_H = (17,)
PICKUPS_DC_H = (6, 18)
SHIP_JITTER_MIN = (0, 20)
DELIVERY_DAYS = {SFDC: (1, 3), SFS: (1, 2)}
DELIVERY_WINDOW_H = (9, 20)
BOPIS_COLLECT_H = (1, 48)
BOPIS_REOPEN_MIN = (0, 120)
LAST_START_US = cal.LAST_RECEIPT_START_US


def _pick(u: np.ndarray, p: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(p)
    cdf[-1] = 1.0
    return np.searchsorted(cdf, u, side="right").astype(np.int64)


def _minutes_us(lo: float, hi: float, u: np.ndarray) -> np.ndarray:
    """U(lo, hi) minutes as whole µs (rounded half away; values are non-negative)."""
    return np.floor((lo + (hi - lo) * np.asarray(u)) * US_MIN + 0.5).astype(np.int64)


@dataclass(frozen=True)
class OnlinePlan:
    """All draws of the day's candidate orders, in candidate order (abandoned ones included)."""

    day: date
    created: np.ndarray  # (N,) µs
    customer: np.ndarray  # (N,) customer_id
    mode: np.ndarray  # (N,) index into MODES
    node_store: np.ndarray  # (N,) store index of the customer's home store
    node_dc: np.ndarray  # (N,) dc index of that store
    promo: np.ndarray  # (N,) index into PROMO_CODES, −1 = none
    attempts: payments.Attempts
    line_order: np.ndarray  # (L,) candidate index per wanted line (L = Σ kept candidates)
    line_slot: np.ndarray  # (L,) 0.. position in the basket
    line_product: np.ndarray  # (L,) product_id
    line_qty: np.ndarray  # (L,) desired quantity
    # lifecycle draws (online_life)
    u_pick_start: np.ndarray
    pick_gap_offsets: np.ndarray  # (N+1,) into u_pick_gap (one gap per line slot)
    u_pick_gap: np.ndarray
    u_reopen: np.ndarray
    u_xmas: np.ndarray
    u_ship: np.ndarray
    u_deliver_day: np.ndarray
    u_deliver_time: np.ndarray
    u_collect: np.ndarray
    u_collect_reopen: np.ndarray
    dc_id: np.ndarray  # (N,) dc_id of the candidate's DC (its home store's DC): the order's shard

    @property
    def n_candidates(self) -> int:
        return len(self.created)

    def provisional_ids(self) -> np.ndarray:
        """``ONL-{D}-{dc_id:05}-{candidate:06}``: sorts like the final order ids (module docstring)."""
        return ids.order_ids(self.day, self.dc_id, within_dc_seq(self.dc_id, np.arange(self.n_candidates)))


def within_dc_seq(dc_id: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """1.. per DC over ``candidates`` (indexes in (DC, creation) order, ascending)."""
    key = np.asarray(dc_id)[candidates]
    if len(key) == 0:
        return np.zeros(0, np.int64)
    starts = np.ones(len(key), dtype=bool)
    starts[1:] = key[1:] != key[:-1]
    idx = np.arange(len(key))
    return idx - np.maximum.accumulate(np.where(starts, idx, 0)) + 1


def expected_candidates(settings: DatasetSettings, day: date) -> float:
    """``BASE_ORDERS_PER_DAY (3,300) × sf × month(D) × online holiday factor``."""
    return BASE_ORDERS_PER_DAY * settings.scale_factor * cal.day_calendar(day).online_day_factor


def plan_day(settings: DatasetSettings, ctx: StoreContext, net: Network, day: date) -> OnlinePlan:
    """Draw the candidate orders of ``day``, DC by DC (model 4: a DC's orders are its own shard, §8.5).

    The candidates of DC ``d`` are the orders of customers homed at its stores; their number is
    Poisson(expected × the DC's share of all customers). Stream ``online, D, dc_id`` (in order):
    count; hour uniforms and in-hour offsets (creation times); then in the DC's candidate order
    (creation time, ties in draw order): customers, modes, line-count classes, line counts, the
    product candidate block (3 per wanted line), quantities (one per wanted line), promotion
    decision, promotion code. Stream ``payments_online, D, dc_id``: the 2-attempt payment block
    (§7.5). Stream ``online_life, D, dc_id``: pick start, pick gaps (one per wanted line),
    store-reopen shift, Dec 25 DC shift, ship jitter, delivery day, delivery time, BOPIS collection
    delay, BOPIS reopen shift. Candidates are in (DC, creation time) order.
    """
    draws = [_draw_dc(settings, ctx, net, day, d) for d in range(net.n_dcs)]

    def cat(i: int) -> np.ndarray:
        return np.concatenate([x[i] for x in draws]) if draws else np.zeros(0)

    created, customer, mode, cls, lines, u_cand, u_qty, promo_u, promo_code_u = (
        cat(i) for i in range(9)
    )
    created, customer, mode, cls, lines = (a.astype(np.int64) for a in (created, customer, mode, cls, lines))
    block = payments.concat_blocks([x[9] for x in draws], PAYMENT_ATTEMPTS)
    u_pick_start, u_pick_gap = cat(10), cat(11)
    rest = [np.concatenate([x[12][k] for x in draws]) for k in range(7)] if draws else [np.zeros(0)] * 7
    dc_of = np.concatenate([np.full(len(x[0]), d, dtype=np.int64) for d, x in enumerate(draws)])
    n = len(created)
    n_cand = CANDIDATES_PER_LINE * lines
    node_store = net.store_index(net.customer_home_store[customer - 1])
    node_dc = net.store_dc[node_store]
    if not np.array_equal(node_dc, dc_of):  # dc_customers and Network disagree: a bug, never data
        raise AssertionError("an online candidate was drawn for a customer of another DC")
    # candidate products by popularity among launched products (store: its assortment prefix)
    by_rank = np.argsort(ctx.popularity_rank, kind="stable")
    launched = ctx.launch_ordinal[by_rank] <= day_ordinal(day)
    cw = np.cumsum(np.where(launched, 1.0 / (ctx.popularity_rank[by_rank] + 10.0), 0.0))
    size = np.where(mode == SFDC, len(by_rank), ctx.assortment_size[node_store])
    cand_order = np.repeat(np.arange(n), n_cand)
    limit = cw[np.maximum(size, 1) - 1][cand_order]
    r = np.minimum(np.searchsorted(cw, u_cand * limit, side="right"), size[cand_order] - 1)
    cand_product = by_rank[r].astype(np.int64) + 1
    valid = limit > 0
    # keep the first occurrence of a product inside a candidate's block, then the first `lines`
    key = cand_order * (len(by_rank) + 1) + cand_product
    _, first = np.unique(key, return_index=True)
    keep = np.zeros(len(key), dtype=bool)
    keep[first] = True
    keep &= valid
    kept = np.nonzero(keep)[0]
    ko = cand_order[kept]
    starts = np.ones(len(ko), dtype=bool)
    starts[1:] = ko[1:] != ko[:-1]
    idx = np.arange(len(ko))
    slot = idx - np.maximum.accumulate(np.where(starts, idx, 0))
    within = slot < lines[ko]
    line_order, line_slot, line_product = ko[within], slot[within], cand_product[kept][within]
    qty_offsets = np.concatenate(([0], np.cumsum(lines)))
    line_qty = QTY_VALUES[_pick(u_qty[qty_offsets[line_order] + line_slot], QTY_P)]
    promo = np.where(promo_u < PROMO_P, _pick(promo_code_u, PROMO_CODE_P), -1)
    # payments decided first (abandoned candidates never allocate)
    attempts = payments.resolve_attempts(block, created, payments.MIX_ONLINE, cash_last=False)
    return OnlinePlan(
        day, created, customer.astype(np.int64), mode, node_store, node_dc, promo, attempts,
        line_order.astype(np.int64), line_slot.astype(np.int64), line_product, line_qty,
        u_pick_start, qty_offsets, u_pick_gap, *rest, net.dc_ids[node_dc],
    )  # fmt: skip


def dc_customers(ctx: StoreContext, net: Network, d: int) -> np.ndarray:
    """Customer ids homed at the stores of DC index ``d``, by (home store_id, customer_id)."""
    stores = net.dc_stores[d]
    parts = [ctx.home_customers_sorted[ctx.home_offsets[s] : ctx.home_offsets[s + 1]] for s in stores.tolist()]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _draw_dc(settings: DatasetSettings, ctx: StoreContext, net: Network, day: date, d: int) -> tuple:
    """The raw draws of DC index ``d``'s candidates (see ``plan_day`` for the streams' order)."""
    mv, dc_id = settings.model_version, int(net.dc_ids[d])
    pool = dc_customers(ctx, net, d)
    g = rng(settings.seed, "online", day, dc_id, model_version=mv)
    share = len(pool) / max(ctx.n_customers, 1)
    n = int(g.poisson(expected_candidates(settings, day) * share)) if len(pool) else 0
    hours = np.arange(24)
    lens = np.clip(LAST_START_US - hours * US_H, 0, US_H)
    w = cal.HOUR_W_ONLINE * lens / US_H
    h = _pick(g.random(n), w / w.sum())
    off = np.floor(g.random(n) * lens[h]).astype(np.int64)
    created_raw = cal.day_start_us(day) + h * US_H + off
    created = created_raw[np.argsort(created_raw, kind="stable")]
    customer = pool[np.floor(g.random(n) * len(pool)).astype(np.int64)] if n else np.zeros(0, np.int64)
    mode = _pick(g.random(n), MODE_P)
    cls = _pick(g.random(n), LINE_CLASS_P)
    lines = LINE_CLASSES[cls, 0] + np.floor(
        g.random(n) * (LINE_CLASSES[cls, 1] - LINE_CLASSES[cls, 0] + 1)
    ).astype(np.int64)
    u_cand = g.random(int(CANDIDATES_PER_LINE * lines.sum()))
    u_qty = g.random(int(lines.sum()))
    promo_u, promo_code_u = g.random(n), g.random(n)
    gp = rng(settings.seed, "payments_online", day, dc_id, model_version=mv)
    block = payments.draw_payment_block(gp, n, PAYMENT_ATTEMPTS)
    gl = rng(settings.seed, "online_life", day, dc_id, model_version=mv)
    u_pick_start = gl.random(n)
    u_pick_gap = gl.random(int(lines.sum()))
    rest = [gl.random(n) for _ in range(7)]
    return (created, customer, mode, cls, lines, u_cand, u_qty, promo_u, promo_code_u, block,
            u_pick_start, u_pick_gap, rest)  # fmt: skip


def allocation_txns(plan: OnlinePlan) -> tuple[TxnBatch, TxnBatch]:
    """ONLINE_SALE txns (desired −quantity) of non-abandoned candidates: (store nodes, DC nodes).

    ``ref`` = the line's index in ``plan.line_*`` so posted quantities can be mapped back.
    """
    live = ~plan.attempts.abandoned[plan.line_order]
    li = np.nonzero(live)[0]
    o = plan.line_order[li]
    is_dc = plan.mode[o] == SFDC
    prov = plan.provisional_ids()
    out = []
    for sel in (~is_dc, is_dc):
        rows = li[sel]
        oo = plan.line_order[rows]
        loc = np.where(plan.mode[oo] == SFDC, plan.node_dc[oo], plan.node_store[oo])
        out.append(
            TxnBatch(
                loc,
                plan.line_product[rows],
                plan.created[oo],
                np.full(len(rows), inv.ONLINE_SALE, dtype=np.int8),
                prov[oo].astype(object),
                -plan.line_qty[rows],
                rows,
            )
        )
    return out[0], out[1]


@dataclass(frozen=True)
class OnlineOrders:
    headers: pa.Table
    lines_today: pa.Table
    payments: pa.Table
    schedule: pa.Table
    source_map: dict[str, str]  # provisional -> final order id


def finalize(
    settings: DatasetSettings, ctx: StoreContext, plan: OnlinePlan, posted: np.ndarray, day: date
) -> OnlineOrders:
    """Turn allocations into placed orders: numbering, lines and money, payments, lifecycle rows.

    ``posted`` is the posted (negative) quantity per plan line (0 = nothing available). Rows of
    ``day`` are returned; later rows become ``ORDER_LINE_ROW`` schedule actions.
    """
    alloc = -np.asarray(posted, dtype=np.int64)
    lk = np.nonzero(alloc > 0)[0]
    n_lines_per = np.bincount(plan.line_order[lk], minlength=plan.n_candidates)
    placed = np.nonzero((n_lines_per > 0) & ~plan.attempts.abandoned)[0]
    seq = np.zeros(plan.n_candidates, dtype=np.int64)
    seq[placed] = within_dc_seq(plan.dc_id, placed)
    order_id = np.full(plan.n_candidates, None, dtype=object)
    if len(placed):
        order_id[placed] = ids.order_ids(day, plan.dc_id[placed], seq[placed])
    prov = plan.provisional_ids()
    source_map = {str(prov[i]): str(order_id[i]) for i in placed}
    # lines (kept, renumbered in slot order)
    lk = lk[np.lexsort((plan.line_slot[lk], plan.line_order[lk]))]
    lo = plan.line_order[lk]
    starts = np.ones(len(lo), dtype=bool)
    starts[1:] = lo[1:] != lo[:-1]
    idx = np.arange(len(lo))
    line_num = idx - np.maximum.accumulate(np.where(starts, idx, 0)) + 1
    prod = plan.line_product[lk]
    qty = alloc[lk]
    unit = ctx.sale_cents[prod - 1]
    ext = unit * qty
    pct = np.where(plan.promo[lo] >= 0, PROMO_PCT[np.maximum(plan.promo[lo], 0)], 0)
    disc = percent_of(ext, pct)
    home = ctx.store_index(ctx.customer_home_store[plan.customer[lo] - 1])
    tax = tax_cents(ext - disc, ctx.tax_rate_1e5[home], ctx.tax_k2[prod - 1])
    # headers
    n_p = len(placed)
    pos = np.searchsorted(placed, lo)
    sums = {k: np.bincount(pos, weights=v, minlength=n_p).astype(np.int64) for k, v in
            (("items", qty), ("sub", ext), ("disc", disc), ("tax", tax))}  # fmt: skip
    total = sums["sub"] - sums["disc"] + sums["tax"]
    method_names = np.asarray(payments.METHODS, dtype=object)
    promo_names = np.asarray((*PROMO_CODES, None), dtype=object)
    node_type = np.where(plan.mode[placed] == SFDC, "DC", "STORE").astype(object)
    node_id = _node_ids(ctx, plan, placed)
    headers = pa.table(
        {
            "event_ts": _ts(plan.created[placed]),
            "event_date": _dt(plan.created[placed]),
            "order_id_ext": pa.array(order_id[placed], type=pa.string()),
            "customer_id": pa.array(plan.customer[placed], type=pa.int64()),
            "fulfillment_mode": pa.array(
                np.asarray(MODES, dtype=object)[plan.mode[placed]], type=pa.string()
            ),
            "node_type": pa.array(node_type, type=pa.string()),
            "node_id": pa.array(node_id, type=pa.int64()),
            "payment_method": pa.array(method_names[plan.attempts.doc_method[placed]], type=pa.string()),
            "promo_code": pa.array(promo_names[plan.promo[placed]], type=pa.string()),
            "item_count": pa.array(sums["items"], type=pa.int64()),
            "line_count": pa.array(n_lines_per[placed], type=pa.int64()),
            "subtotal_amount": cents_to_decimal(sums["sub"]),
            "subtotal_cents": pa.array(sums["sub"], type=pa.int64()),
            "discount_amount": cents_to_decimal(sums["disc"]),
            "discount_cents": pa.array(sums["disc"], type=pa.int64()),
            "tax_amount": cents_to_decimal(sums["tax"]),
            "tax_cents": pa.array(sums["tax"], type=pa.int64()),
            "total_amount": cents_to_decimal(total),
            "total_cents": pa.array(total, type=pa.int64()),
        },
        schema=FACT_TABLES["fact_online_order_headers"].arrow_schema,
    ).sort_by([("event_ts", "ascending"), ("order_id_ext", "ascending")])
    pay = _payments(plan, placed, order_id, total)
    # lifecycle
    times = lifecycle_times(ctx, plan, placed, lo, line_num)
    line_cols = {
        "order_key": lo, "order_id_ext": order_id[lo], "line_num": line_num, "customer_id": plan.customer[lo],
        "fulfillment_mode": np.asarray(MODES, dtype=object)[plan.mode[lo]],
        "node_type": np.where(plan.mode[lo] == SFDC, "DC", "STORE").astype(object),
        "node_id": _node_ids(ctx, plan, lo),
        "product_id": prod, "quantity": qty, "unit_cents": unit, "ext_cents": ext,
        "promo_code": np.where(disc > 0, promo_names[plan.promo[lo]], None), "discount_cents": disc, "tax_cents": tax,
    }  # fmt: skip
    today_parts, sched_rows = [], []
    d_end = cal.day_start_us(day) + US_DAY
    for status, ts in (("PICKED", times.picked), ("SHIPPED", times.shipped), ("DELIVERED", times.delivered)):
        has = ts >= 0
        rows = {k: v[has] for k, v in line_cols.items()}
        rows["event_ts"] = ts[has]
        rows["line_status"] = np.full(int(has.sum()), status, dtype=object)
        now = rows["event_ts"] < d_end
        today_parts.append(_line_table({k: v[now] for k, v in rows.items()}))
        later = {k: v[~now] for k, v in rows.items()}
        sched_rows.append(_line_schedule(later, status))
    lines_today = concat_lines(today_parts)
    schedule = (
        pa.concat_tables(sched_rows)
        if sched_rows
        else make_schedule(np.zeros(0, np.int64), "ORDER_LINE_ROW", [], [])
    )
    return OnlineOrders(headers, lines_today, pay, schedule, source_map)


@dataclass(frozen=True)
class LineTimes:
    picked: np.ndarray  # per kept line
    shipped: np.ndarray  # −1 for BOPIS
    delivered: np.ndarray


def lifecycle_times(
    ctx: StoreContext, plan: OnlinePlan, placed: np.ndarray, lo: np.ndarray, line_num: np.ndarray
) -> LineTimes:
    """PICKED / SHIPPED / DELIVERED instants per kept line (all lines of an order move together)."""
    n = plan.n_candidates
    start = plan.created + _minutes_us(*PICK_START_MIN, plan.u_pick_start)
    # per-line offsets: Σ gaps of the preceding lines
    gap = _minutes_us(*PICK_GAP_MIN, plan.u_pick_gap)
    slot_gap = gap[plan.pick_gap_offsets[lo] + line_num - 1]
    first = line_num == 1
    csum = np.cumsum(slot_gap)
    head = np.maximum.accumulate(np.where(first, np.arange(len(lo)), 0))
    before = csum - slot_gap - (csum[head] - slot_gap[head])
    span = np.zeros(n, dtype=np.int64)
    np.maximum.at(span, lo, before)
    # DC picks run round the clock except Dec 25 (→ Dec 26 06:00 + U(0, 60) min), vectorised
    dc = placed[plan.mode[placed] == SFDC]
    first_day, last_day = start[dc] // US_DAY, (start[dc] + span[dc]) // US_DAY
    last_xmas = _is_christmas_day_no(last_day) == 1
    on_xmas = last_xmas | (_is_christmas_day_no(first_day) == 1)
    restart_day = np.where(last_xmas, last_day, first_day) + 1
    restart = restart_day * US_DAY + DC_XMAS_RESTART_US + _minutes_us(*DC_XMAS_JITTER_MIN, plan.u_xmas[dc])
    start[dc] = np.where(on_xmas, restart, start[dc])
    for i in placed[plan.mode[placed] != SFDC]:  # store picks follow each store's open periods
        start[i] = _store_pick_start(ctx, plan, int(i), int(start[i]), int(span[i]))
    picked = start[lo] + before
    last_pick = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_pick, lo, picked)
    ship = np.full(n, -1, dtype=np.int64)
    deliver = np.full(n, -1, dtype=np.int64)
    for i in placed[plan.mode[placed] == BOPIS]:  # store hours per order: ≈ 10 % of the orders
        lp = int(last_pick[i])
        hours = ctx.operating_hours[int(plan.node_store[i])]
        lo_h, hi_h = BOPIS_COLLECT_H
        t = lp + int(np.floor((lo_h + (hi_h - lo_h) * plan.u_collect[i]) * US_H + 0.5))
        if not cal.is_open_at(hours, t):
            a, b = cal.next_open_period(hours, t)
            t = min(a + int(_minutes_us(*BOPIS_REOPEN_MIN, plan.u_collect_reopen[i : i + 1])[0]), b - 1)
        deliver[i] = t
    # shipped modes, vectorised: carrier pickup, jitter, delivery day (never Dec 25) and time
    for m, pickups in ((SFDC, PICKUPS_DC_H), (SFS, PICKUPS_STORE_H)):
        idx = placed[plan.mode[placed] == m]
        pickup = _next_pickup_vec(last_pick[idx] + SHIP_AFTER_PICK_US, pickups)
        ship[idx] = pickup + _minutes_us(*SHIP_JITTER_MIN, plan.u_ship[idx])
        dlo, dhi = DELIVERY_DAYS[m]
        day_no = ship[idx] // US_DAY + dlo + np.floor(plan.u_deliver_day[idx] * (dhi - dlo + 1)).astype(np.int64)
        day_no += _is_christmas_day_no(day_no)
        wlo, whi = DELIVERY_WINDOW_H
        deliver[idx] = day_no * US_DAY + np.floor((wlo + (whi - wlo) * plan.u_deliver_time[idx]) * US_H + 0.5).astype(
            np.int64
        )
    return LineTimes(picked, ship[lo], deliver[lo])


def _is_christmas_day_no(day_no: np.ndarray) -> np.ndarray:
    """Per day number since the epoch: is it Dec 25 (as int64 0/1)."""
    d = np.asarray(day_no, dtype=np.int64).astype("datetime64[D]")  # day numbers count from cal.EPOCH
    month_start = d.astype("datetime64[M]")
    month = month_start.astype(np.int64) % 12 + 1
    dom = (d - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    return ((month == 12) & (dom == 25)).astype(np.int64)


def _next_pickup_vec(t: np.ndarray, hours: tuple[int, ...]) -> np.ndarray:
    """The first carrier pickup at or after each t (pickups at ``hours`` daily, none on Dec 25).

    Every other day has all its pickups, so the answer lies on t's day or one of the next two.
    """
    day0 = t // US_DAY
    best = np.full(len(t), np.iinfo(np.int64).max, dtype=np.int64)
    for k in range(3):
        day_no = day0 + k
        open_day = _is_christmas_day_no(day_no) == 0
        for h in hours:
            p = day_no * US_DAY + h * US_H
            best = np.where(open_day & (p >= t) & (p < best), p, best)
    return best


def _store_pick_start(ctx: StoreContext, plan: OnlinePlan, i: int, start: int, span: int) -> int:
    """Start of a store order's sequential picks: all picks inside one open period of the store
    (else next opening + U(15, 90) min)."""
    hours = ctx.operating_hours[int(plan.node_store[i])]
    period = cal.open_period_at(hours, start)
    if period is not None and start + span < period[1]:
        return start
    shift = int(_minutes_us(*STORE_REOPEN_PICK_MIN, plan.u_reopen[i : i + 1])[0])
    t = start if period is None else period[1]
    for _ in range(30):
        a, b = cal.next_open_period(hours, t)
        if a + shift + span < b:
            return a + shift
        t = b
    raise RuntimeError(f"no open period long enough to pick order candidate {i} at {hours}")


def _node_ids(ctx: StoreContext, plan: OnlinePlan, orders: np.ndarray) -> np.ndarray:
    """``node_id`` of orders: the DC's id for ship-from-DC, else the home store's id."""
    store = plan.node_store[orders]
    return np.where(plan.mode[orders] == SFDC, ctx.dc_id[store], ctx.store_id[store])


def _ts(us: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64), type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def _dt(us: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64) // US_DAY, type=pa.int32()).cast(pa.date32())


LINE_INT_COLS = ("line_num", "customer_id", "node_id", "product_id", "quantity", "unit_cents", "ext_cents",
                 "discount_cents", "tax_cents", "event_ts")  # fmt: skip
LINE_STR_COLS = ("order_id_ext", "line_status", "fulfillment_mode", "node_type", "promo_code")


def _int64(values) -> np.ndarray:
    if isinstance(values, pa.Array):
        return values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return np.asarray(values, dtype=np.int64)


def _str(values) -> pa.Array:
    return values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())


def _line_table(cols: dict[str, np.ndarray]) -> pa.Table:
    """fact_online_order_lines rows from integer/str columns (cents -> DECIMAL)."""
    spec = FACT_TABLES["fact_online_order_lines"]
    c = {k: _int64(cols[k]) for k in LINE_INT_COLS}
    s = {k: cols[k] if isinstance(cols[k], pa.Array) else np.asarray(cols[k], dtype=object) for k in LINE_STR_COLS}
    return pa.table(
        {
            "event_ts": _ts(c["event_ts"]),
            "event_date": _dt(c["event_ts"]),
            "order_id_ext": _str(s["order_id_ext"]),
            "line_num": pa.array(c["line_num"]),
            "line_status": _str(s["line_status"]),
            "customer_id": pa.array(c["customer_id"]),
            "fulfillment_mode": _str(s["fulfillment_mode"]),
            "node_type": _str(s["node_type"]),
            "node_id": pa.array(c["node_id"]),
            "product_id": pa.array(c["product_id"]),
            "quantity": pa.array(c["quantity"]),
            "unit_price": cents_to_decimal(c["unit_cents"]),
            "unit_cents": pa.array(c["unit_cents"]),
            "ext_price": cents_to_decimal(c["ext_cents"]),
            "ext_cents": pa.array(c["ext_cents"]),
            "promo_code": _str(s["promo_code"]),
            "discount_amount": cents_to_decimal(c["discount_cents"]),
            "discount_cents": pa.array(c["discount_cents"]),
            "tax_amount": cents_to_decimal(c["tax_cents"]),
            "tax_cents": pa.array(c["tax_cents"]),
        },
        schema=spec.arrow_schema,
    )


def concat_lines(parts: list[pa.Table]) -> pa.Table:
    """Concatenate line tables, sorted by (event_ts, order_id_ext, line_num, line_status)."""
    spec = FACT_TABLES["fact_online_order_lines"]
    parts = [p for p in parts if p is not None]
    t = pa.concat_tables(parts) if parts else spec.arrow_schema.empty_table()
    return t.sort_by(
        [
            ("event_ts", "ascending"),
            ("order_id_ext", "ascending"),
            ("line_num", "ascending"),
            ("line_status", "ascending"),
        ]
    )


def _json_list_items(values: pa.Array) -> pa.Array:
    """Each value as its JSON text: integers in decimal, strings quoted, nulls as ``null``.

    Strings are ids and enum values of this generator; one that would need escaping is refused
    rather than written as invalid JSON.
    """
    if pa.types.is_string(values.type):
        if len(values) and pc.any(pc.match_substring_regex(values, r'["\\\x00-\x1f]')).as_py():
            raise ValueError("an online line string value needs JSON escaping; ids and enums must not contain quotes")
        text = pc.binary_join_element_wise('"', values, '"', "")
    else:
        text = pc.cast(values, pa.string())
    return pc.fill_null(text, "null")


def _canonical_bodies(cols: dict[str, pa.Array], offsets: np.ndarray) -> pa.Array:
    """The canonical JSON (``state.canonical_json``) of ``{column: [values of the group]}`` per group.

    Why not ``json``: with calibrated online volumes tens of thousands of line rows a day are carried
    to later days; building the same bytes with Arrow string kernels is an order of magnitude faster
    than one Python encoder call per (order, status, day).
    """
    off = pa.array(offsets.astype(np.int32), type=pa.int32())
    pieces: list[pa.Array | str] = []
    for i, name in enumerate(sorted(cols)):
        pieces.append(("{" if i == 0 else "],") + f'"{name}":[')
        pieces.append(pc.binary_join(pa.ListArray.from_arrays(off, _json_list_items(cols[name])), ","))
    pieces.append("]}")
    return pc.binary_join_element_wise(*pieces, "")


def _line_schedule(rows: dict[str, np.ndarray], status: str) -> pa.Table:
    """``ORDER_LINE_ROW`` actions: one per (order, status, day) holding that day's line rows."""
    n = len(rows["event_ts"])
    if n == 0:
        return make_schedule(np.zeros(0, np.int64), "ORDER_LINE_ROW", [], [])
    day_no = rows["event_ts"] // US_DAY
    # order ids of one day sort like their candidate index (fixed-width sequence numbers)
    order = np.lexsort((rows["line_num"], day_no, rows["order_key"]))
    k2, d2 = np.asarray(rows["order_id_ext"], dtype=object)[order], day_no[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = (k2[1:] != k2[:-1]) | (d2[1:] != d2[:-1])
    heads = np.nonzero(starts)[0]
    offsets = np.append(heads, n)
    cols = {}
    for c in LINE_INT_COLS:
        cols[c] = pa.array(np.asarray(rows[c], dtype=np.int64)[order])
    for c in LINE_STR_COLS:
        cols[c] = pa.array(np.asarray(rows[c], dtype=object)[order], type=pa.string())
    due = np.minimum.reduceat(np.asarray(rows["event_ts"], dtype=np.int64)[order], heads)
    day_text = pc.strftime(pa.array(d2[heads].astype(np.int32), type=pa.date32()), format="%Y-%m-%d")
    akey = pc.binary_join_element_wise(pa.array(k2[heads], type=pa.string()), status, day_text, "|")
    return pa.table(
        [
            pa.array(due, type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            pa.array(np.full(len(heads), "ORDER_LINE_ROW", dtype=object), type=pa.string()),
            akey,
            _canonical_bodies(cols, offsets),
        ],
        schema=SCHEDULE_SCHEMA,
    )


_BODY_SCHEMA = pa.schema(
    [pa.field(c, pa.list_(pa.int64())) for c in LINE_INT_COLS]
    + [pa.field(c, pa.list_(pa.string())) for c in LINE_STR_COLS]
)


def due_line_rows(due: pa.Table) -> pa.Table:
    """fact_online_order_lines rows of ``ORDER_LINE_ROW`` actions due today.

    The bodies are parsed as one newline-delimited JSON document by Arrow's reader (typed by
    ``_BODY_SCHEMA``), not one ``json.loads`` object per order.
    """
    rows = due.filter(pc.equal(due.column("action_type"), "ORDER_LINE_ROW"))
    if rows.num_rows == 0:
        return concat_lines([])
    # one newline after each body; the string array's value buffer is then the NDJSON document
    lines = pc.binary_join_element_wise(rows.column("body").combine_chunks(), "\n", "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    text = lines.buffers()[2][int(offsets[0]) : int(offsets[-1])]
    parsed = pa_json.read_json(
        pa.BufferReader(text),
        read_options=pa_json.ReadOptions(use_threads=False, block_size=max(1 << 20, text.size + 1)),
        parse_options=pa_json.ParseOptions(explicit_schema=_BODY_SCHEMA, unexpected_field_behavior="error"),
    )
    return _line_table({c: pc.list_flatten(parsed.column(c)).combine_chunks() for c in _BODY_SCHEMA.names})


def _payments(plan: OnlinePlan, placed: np.ndarray, order_id: np.ndarray, total: np.ndarray) -> pa.Table:
    """fact_payments rows of placed orders (every attempt; amount = order total)."""
    att = plan.attempts
    is_placed = np.zeros(plan.n_candidates, dtype=bool)
    is_placed[placed] = True
    keep = is_placed[att.doc]
    doc = att.doc[keep]
    tot = np.zeros(plan.n_candidates, dtype=np.int64)
    tot[placed] = total
    amount = tot[doc]
    oid = order_id[doc].astype(str) if len(doc) else np.zeros(0, dtype=str)
    n = len(doc)
    reasons = np.asarray(payments.DECLINE_REASONS, dtype=object)
    reason = att.reason[keep]
    t = pa.table(
        {
            "event_ts": _ts(att.event_ts_us[keep]),
            "event_date": _dt(att.event_ts_us[keep]),
            "transaction_id_ext": pa.array(
                ids.payment_ids(oid, att.attempt_num[keep]) if n else [], type=pa.string()
            ),
            "transaction_type": pa.array(["PURCHASE"] * n, type=pa.string()),
            "receipt_id_ext": pa.nulls(n, type=pa.string()),
            "order_id_ext": pa.array(oid.astype(object), type=pa.string()),
            "store_id": pa.nulls(n, type=pa.int64()),
            "customer_id": pa.array(plan.customer[doc], type=pa.int64()),
            "attempt_num": pa.array(att.attempt_num[keep], type=pa.int64()),
            "payment_method": pa.array(
                np.asarray(payments.METHODS, dtype=object)[att.method[keep]], type=pa.string()
            ),
            "amount": cents_to_decimal(amount),
            "amount_cents": pa.array(amount, type=pa.int64()),
            "status": pa.array(
                np.where(att.approved[keep], "APPROVED", "DECLINED").astype(object), type=pa.string()
            ),
            "decline_reason": pa.array(
                np.where(reason >= 0, reasons[np.maximum(reason, 0)], None), type=pa.string()
            ),
            "processing_time_ms": pa.array(att.processing_ms[keep], type=pa.int64()),
        },
        schema=FACT_TABLES["fact_payments"].arrow_schema,
    )
    return t.sort_by([("event_ts", "ascending"), ("transaction_id_ext", "ascending")])


def rename_sources(table: pa.Table, source_map: dict[str, str]) -> pa.Table:
    """Replace provisional ONLINE_SALE source ids by the final ``order_id_ext`` (same sort order)."""
    if not source_map or table.num_rows == 0:
        return table
    col = table.column("source_id_ext")
    keys = pa.array(list(source_map.keys()), type=pa.string())
    vals = pa.array(list(source_map.values()), type=pa.string())
    idx = pc.index_in(col, value_set=keys)
    mapped = pc.take(vals, idx)
    new = pc.if_else(pc.is_valid(idx), mapped, col)
    return table.set_column(table.schema.get_field_index("source_id_ext"), "source_id_ext", new)
