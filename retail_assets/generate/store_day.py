"""One day of every store at once (contract §7.3–7.7, §7.13, §8.3 step 3).

``StoreDay`` makes all of the day's stateless in-store draws up front (traffic, baskets, the due
returns), then steps through the 24 hours: the baskets of hour h are formed against the store
book's on-hand at the start of h, and all store postings of the hour — SALE lines, RETURN restocks
and whatever the other parts hand in (INBOUND, ONLINE_SALE, DAMAGED, ADJUSTMENT via
``add_postings``) — are resolved together by the inventory engine's clipped running sums. The
orchestrator may stop between hours (``run_until``) to run the 23:00 store review against the
book. ``finish`` then assembles the in-store fact tables: receipts and lines (dropped lines
renumbered, empty baskets dropped, ids in event_ts order), promotions, tax, payments, BLE, foot
traffic, store ops, plus the return schedule of today's sales.

Vectorised over all stores; the only Python loops are the 24 hours and the per-store stream
draws (each a handful of numpy calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np
import pyarrow as pa

from retail_assets.config import DatasetSettings
from retail_assets.generate import calendar as cal
from retail_assets.generate import ids
from retail_assets.generate.arrays import lexsort_ints, sorted_group_sum, stable_argsort, within_group_rank
from retail_assets.generate.baskets import BasketDraws, draw_baskets, select_lines
from retail_assets.generate.ble import ZONE_NAMES, simulate_ble
from retail_assets.generate.foot_traffic import browser_lambda, entry_counts, foot_traffic
from retail_assets.generate.inventory import RETURN, SALE, TxnBatch
from retail_assets.generate.money import tax_cents
from retail_assets.generate.payments import (
    DECLINE_REASONS,
    METHODS,
    concat_blocks,
    draw_payment_block,
    in_store_mix,
    latency_ms,
    resolve_attempts,
)
from retail_assets.generate.promotions import PROMO_CODES, PROMO_RULES, apply_promotions
from retail_assets.generate.returns import DueReturns, SaleLines, due_returns, schedule_returns
from retail_assets.generate.rng import rng
from retail_assets.generate.state import RECEIPTS_PER_STORE_DAY
from retail_assets.generate.store_context import ZONES, StoreContext
from retail_assets.generate.table_build import Take, build_fact_table
from retail_assets.generate.traffic import DayTraffic, draw_traffic

HOUR_US = cal.US_PER_HOUR
PAYMENT_ATTEMPTS = 3
METHOD_NAMES = np.array(METHODS, dtype=object)
PROMO_CODE_NAMES = np.array(PROMO_CODES, dtype=object)
PROMO_TYPE_ARRAY = pa.array([r.discount_type for r in PROMO_RULES], type=pa.string())


def expected_traffic(
    settings: DatasetSettings, ctx: StoreContext, day: date
) -> tuple[np.ndarray, np.ndarray]:
    """``λ(s,h)`` of §7.3 and the open fraction ``open(s,h)``, both (S, 24)."""
    dc = cal.day_calendar(day)
    open_frac = cal.open_fraction_matrix(ctx.operating_hours, day)
    weather = np.array(
        [cal.weather_factor(settings.seed, day, r, settings.model_version) for r in ctx.region]
    )
    per_store = RECEIPTS_PER_STORE_DAY * ctx.traffic_multiplier * dc.instore_day_factor * weather
    lam = per_store[:, None] * (dc.hour_weights / dc.w_ref)[None, :] * open_frac
    return lam, open_frac


def receipt_ids(prefix: str, day: date, store_id: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """``{prefix}-{yyyymmdd}-{store_id:05}-{seq:06}`` (RCP / RET / VIS, §1.5)."""
    return ids.join(f"{prefix}-{ids.ymd(day)}-", ids.zpad(store_id, 5), "-", ids.zpad(seq, 6))


class StoreLedger(Protocol):
    """The store posting chain the store day posts into (``logistics.LogisticsDay`` provides it).

    It merges the store day's SALE/RETURN txns of each hour with the other store postings of that
    hour (truck receipts, online allocations, damage, cycle counts) and resolves them together.
    """

    @property
    def store_on_hand_array(self) -> np.ndarray: ...

    def post_store_hour(self, hour: int, batch: TxnBatch) -> np.ndarray: ...


@dataclass(frozen=True)
class InStoreResult:
    """What the store day produces for the orchestrator."""

    tables: dict[str, pa.Table]  # the in-store fact tables (not the inventory txns)
    return_schedule: pa.Table  # RETURN_VISIT rows of today's sales
    provisional_sources: np.ndarray  # per SALE receipt: the source id its SALE txns were posted with
    receipt_ids: np.ndarray  # per SALE receipt: the final RCP id (rename with ``final_sale_sources``)


class StoreDay:
    """The in-store simulation of one day for all stores (see module docstring)."""

    def __init__(
        self,
        settings: DatasetSettings,
        ctx: StoreContext,
        day: date,
        ledger: StoreLedger,
        due_return_rows: pa.Table,
    ) -> None:
        self.settings = settings
        self.ctx = ctx
        self.day = day
        self.ledger = ledger
        self.calendar = cal.day_calendar(day)
        self.day_start_us = cal.day_start_us(day)
        self._next_hour = 0

        self.lam, self.open_frac = expected_traffic(settings, ctx, day)
        open_len = np.floor(self.open_frac * HOUR_US + 0.5).astype(np.int64)
        self.traffic: DayTraffic = draw_traffic(
            settings.seed,
            day,
            ctx.store_id,
            self.day_start_us,
            self.lam,
            open_len,
            browser_lambda(self.lam, self.open_frac, self.calendar.weekend),
        )
        self.draws: BasketDraws = draw_baskets(
            settings.seed, day, ctx, self.traffic.visit_store, self.calendar.weekend, self._tag_active()
        )
        t = self.traffic
        # provisional per-visit source ids: they sort like the final RCP ids (same store, same
        # width, seq in the same event_ts order), which is all the posting order needs
        self._visit_rank = within_group_rank(t.visit_store) + 1
        self._visit_source = receipt_ids("RCP", day, ctx.store_id[t.visit_store], self._visit_rank).astype(
            object
        )
        # today's returns (decided on their sale days)
        self.returns: DueReturns = due_returns(due_return_rows)
        self.return_ids = receipt_ids("RET", day, self.returns.store_id, self.returns.seq).astype(object)
        self._sold: list[tuple[np.ndarray, ...]] = []

    # --- inputs from other parts -----------------------------------------------------------
    def _tag_active(self) -> np.ndarray:
        """Products whose holiday tag window (14 days up to the holiday) contains D (x3 weight)."""
        return cal.holiday_tags_window(self.ctx.tags, self.day)

    # --- the hourly loop --------------------------------------------------------------------
    def run_until(self, hour_end: int) -> None:
        """Run hours ``[next, hour_end)``: form baskets, then post the hour's txns together."""
        t, r = self.traffic, self.returns
        ret_hour = (r.ts - self.day_start_us) // HOUR_US
        for h in range(self._next_hour, hour_end):
            visits = np.flatnonzero(t.visit_hour == h)
            wanted = select_lines(self.draws, visits, t.visit_store, self.ledger.store_on_hand_array)
            parts = [
                TxnBatch(
                    loc=t.visit_store[wanted.visit],
                    product=wanted.product + 1,
                    event_ts=t.visit_ts_us[wanted.visit],
                    txn_type=np.full(len(wanted.visit), SALE, dtype=np.int8),
                    source=self._visit_source[wanted.visit],
                    desired=-wanted.desired,
                )
            ]
            lr = np.flatnonzero((ret_hour[r.line_return] == h) & r.restock)
            parts.append(
                TxnBatch(
                    loc=self.ctx.store_index(r.store_id[r.line_return[lr]]),
                    product=r.product_id[lr],
                    event_ts=r.ts[r.line_return[lr]],
                    txn_type=np.full(len(lr), RETURN, dtype=np.int8),
                    source=self.return_ids[r.line_return[lr]],
                    desired=-r.quantity[lr],
                )
            )
            posted = self.ledger.post_store_hour(h, TxnBatch.concat(parts))
            self._sold.append((wanted.visit, wanted.slot, wanted.product, -posted[: len(parts[0])]))
        self._next_hour = max(self._next_hour, hour_end)

    # --- assembly ---------------------------------------------------------------------------
    def finish(self, attribute=None) -> InStoreResult:
        """Run any remaining hours and build the in-store tables.

        ``attribute(customer_ids, receipt_ts_us) -> campaign ids (object array, None = NULL)`` is
        the marketing attribution hook (§7.4); without it ``campaign_id_ext`` is NULL.
        """
        self.run_until(24)
        ctx, t, day = self.ctx, self.traffic, self.day
        seed = self.settings.seed
        if self._sold:
            visit, slot, product, qty = (np.concatenate(c) for c in zip(*self._sold, strict=True))
        else:
            visit = slot = product = qty = np.zeros(0, np.int64)
        keep = qty > 0
        visit, slot, product, qty = visit[keep], slot[keep], product[keep], qty[keep]
        order = lexsort_ints((slot, visit))
        visit, product, qty = visit[order], product[order], qty[order]
        line_num = within_group_rank(visit) + 1

        # receipts: visits with at least one sold line, numbered per store in event_ts order
        has = np.zeros(t.n_visits, dtype=bool)
        has[visit] = True
        rv = np.flatnonzero(has)  # receipt -> visit (sorted by store, ts, draw order)
        r_store = t.visit_store[rv]
        r_seq = within_group_rank(r_store) + 1
        r_ts = t.visit_ts_us[rv]
        r_sid = ctx.store_id[r_store]
        rcp = receipt_ids("RCP", day, r_sid, r_seq)
        vis = receipt_ids("VIS", day, r_sid, r_seq)
        receipt_of_visit = np.full(t.n_visits, -1, dtype=np.int64)
        receipt_of_visit[rv] = np.arange(len(rv))
        l_rec = receipt_of_visit[visit]
        n_rec = len(rv)
        r_cust = self.draws.customer_id[rv]

        # money, promotions, tax
        unit = ctx.sale_cents[product]
        ext = unit * qty
        promo = apply_promotions(
            day,
            self.calendar.weekend,
            n_rec,
            l_rec,
            line_num,
            qty,
            unit,
            ext,
            ~ctx.is_grocery[product],
            self.draws.promo_u[rv],
            self.draws.promo_code_u[rv],
        )
        disc = promo.line_discount
        tax = tax_cents(ext - disc, ctx.tax_rate_1e5[t.visit_store[visit]], ctx.tax_k2[product])
        r_sub = sorted_group_sum(ext, l_rec, n_rec)
        r_disc = sorted_group_sum(disc, l_rec, n_rec)
        r_tax = sorted_group_sum(tax, l_rec, n_rec)
        r_items = sorted_group_sum(qty, l_rec, n_rec)
        r_lines = np.bincount(l_rec, minlength=n_rec).astype(np.int64)
        r_total = r_sub - r_disc + r_tax

        # payments: per store, SALE receipts then RETURN receipts, blocks of 3 attempts
        ret = self.returns
        n_ret = len(ret.ts)
        ret_store_idx = ctx.store_index(ret.store_id)
        ret_sub = sorted_group_sum(ret.ext_cents, ret.line_return, n_ret)
        ret_disc = sorted_group_sum(ret.discount_cents, ret.line_return, n_ret)
        ret_tax = sorted_group_sum(ret.tax_cents, ret.line_return, n_ret)
        ret_total = ret_sub - ret_disc + ret_tax
        sale_counts = np.bincount(r_store, minlength=ctx.n_stores)
        ret_counts = np.bincount(ret_store_idx, minlength=ctx.n_stores)
        sale_blocks, ret_blocks = [], []
        for s in range(ctx.n_stores):
            k_s, k_r = int(sale_counts[s]), int(ret_counts[s])
            if k_s + k_r == 0:
                continue
            g = rng(seed, "payments", day, int(ctx.store_id[s]))
            blk = draw_payment_block(g, k_s + k_r, PAYMENT_ATTEMPTS)
            sale_blocks.append(_slice_block(blk, 0, k_s))
            ret_blocks.append(_slice_block(blk, k_s, k_s + k_r))
        sale_att = resolve_attempts(
            concat_blocks(sale_blocks, PAYMENT_ATTEMPTS), r_ts, in_store_mix(r_total), cash_last=True
        )
        ret_blk = concat_blocks(ret_blocks, PAYMENT_ATTEMPTS)
        method_index = {m: i for i, m in enumerate(METHODS)}
        ret_method = np.array([method_index[m] for m in ret.payment_method], dtype=np.int64)
        ret_lat = latency_ms(ret_method, ret_blk.u_latency[:, 0]) if n_ret else np.zeros(0, np.int64)

        # campaign attribution
        if attribute is not None and n_rec:
            campaign = np.asarray(attribute(r_cust, r_ts), dtype=object)
        else:
            campaign = np.full(n_rec, None, dtype=object)

        tables: dict[str, pa.Table] = {}
        tables["fact_receipts"] = _receipts_table(
            rcp, vis, r_ts, r_sid, r_cust, METHOD_NAMES[sale_att.doc_method], r_items, r_lines,
            r_sub, r_disc, r_tax, r_total, campaign, ret, self.return_ids, ret_sub, ret_disc, ret_tax, ret_total,
        )  # fmt: skip
        l_promo = np.where(promo.line_rule >= 0, PROMO_CODE_NAMES[np.maximum(promo.line_rule, 0)], None)
        tables["fact_receipt_lines"] = _lines_table(
            rcp,
            l_rec,
            line_num,
            r_sid,
            r_ts,
            product,
            qty,
            unit,
            ext,
            promo.line_rule,
            disc,
            tax,
            ret,
            self.return_ids,
        )
        tables["fact_payments"] = _payments_table(
            rcp, r_sid, r_cust, r_total, sale_att, ret, self.return_ids, ret_total, ret_method, ret_lat
        )
        tables["fact_promotions"], tables["fact_promo_lines"] = _promotion_tables(
            rcp, r_ts, r_sid, r_cust, promo.receipt_rule, l_rec, line_num, product, qty, disc, promo.line_rule
        )

        # BLE: SALE receipts in id order (receipts are sorted by store, seq already)
        zone_mask = np.zeros((n_rec, 3), dtype=bool)
        if len(l_rec):
            zone_mask[l_rec, ctx.zone_of_product[product] - 1] = True
        vis_arr = pa.array(vis, type=pa.string())
        ble = simulate_ble(seed, day, ctx, self.day_start_us, r_store, r_ts, r_cust, r_lines, zone_mask)
        tables["fact_ble_pings"], tables["fact_customer_zone_changes"] = _ble_tables(ble, r_sid, vis_arr, ctx)

        # foot traffic: receipts per (store, hour)
        rph = np.zeros((ctx.n_stores, 24), dtype=np.int64)
        np.add.at(rph, (r_store, t.visit_hour[rv]), 1)
        entries = entry_counts(t, self.draws.lines, self.open_frac, self.day_start_us)
        ft = foot_traffic(t, entries, self.open_frac, rph, ctx.store_format)
        tables["fact_foot_traffic"] = _foot_traffic_table(ft, ctx, self.day_start_us)
        tables["fact_store_ops"] = store_ops_table(ctx, day)

        # returns of today's sales go to the schedule
        sales = SaleLines(
            receipt_id=rcp.astype(object),
            store=r_store,
            customer=r_cust,
            payment_method=METHOD_NAMES[sale_att.doc_method],
            line_receipt=l_rec,
            line_num=line_num,
            product_id=product + 1,
            quantity=qty,
            unit_cents=unit,
            discount_cents=disc,
            tax_cents=tax,
            promo_code=l_promo,
        )
        return_schedule = schedule_returns(
            seed, day, ctx.store_id, ctx.operating_hours, sales, ctx.perishable, ctx.zone_of_product
        )

        return InStoreResult(tables, return_schedule, self._visit_source[rv], rcp.astype(object))


def _slice_block(blk, a: int, b: int):
    from retail_assets.generate.payments import PaymentBlock

    return PaymentBlock(*(getattr(blk, f)[a:b] for f in PaymentBlock.__dataclass_fields__))


def final_sale_sources(txn: pa.Table, provisional: np.ndarray, final: np.ndarray) -> pa.Table:
    """Replace provisional per-visit SALE sources by the final RCP ids (an order-preserving rename)."""
    if txn.num_rows == 0 or len(final) == 0:
        return txn
    src = txn.column("source_id_ext")
    prov = pa.array(provisional.astype(str) if provisional.dtype == object else provisional, type=pa.string())
    idx = pa.compute.index_in(src, value_set=prov)
    mapped = pa.array(final, type=pa.string()).take(idx)
    new_src = pa.compute.coalesce(mapped, src)
    return txn.set_column(
        txn.schema.get_field_index("source_id_ext"), txn.schema.field("source_id_ext"), new_src
    )


def store_ops_table(ctx: StoreContext, day: date) -> pa.Table:
    """fact_store_ops rows of every store from the calendar (§7.13)."""
    base = cal.day_start_us(day)
    store, ts, op = [], [], []
    for s, hours in enumerate(ctx.operating_hours):
        for off, kind in cal.store_ops_rows(hours, day):
            store.append(int(ctx.store_id[s]))
            ts.append(base + off)
            op.append(kind)
    store_a, ts_a = np.array(store, dtype=np.int64), np.array(ts, dtype=np.int64)
    return build_fact_table(
        "fact_store_ops",
        {"event_ts": ts_a, "store_id": store_a, "operation_type": np.array(op, dtype=object)},
        order=np.lexsort((store_a, ts_a)),
    )


# Row order: every builder below receives its rows already in primary-key order — SALE receipts in
# (store, seq) order, then RETURN receipts in (store, seq) order, which is the string order of the
# ``RCP-…``/``RET-…`` ids of one day (fixed widths); lines, attempts, pings and changes in their
# ordinal order inside each document — so one stable sort by event_ts yields (event_ts, key).
# ``finalize_tables`` verifies the order in one linear pass and falls back to a real sort if the
# key order ever disagrees (e.g. ids wider than their minimum width).


def _by_time(ts: np.ndarray) -> np.ndarray:
    """Stable permutation by event_ts: rows already in key order end up in (event_ts, key) order."""
    return stable_argsort(ts)


def _receipts_table(rcp, vis, r_ts, r_sid, r_cust, r_method, r_items, r_lines, r_sub, r_disc, r_tax, r_total,
                    campaign, ret: DueReturns, ret_ids, ret_sub, ret_disc, ret_tax, ret_total) -> pa.Table:  # fmt: skip
    n_s, n_r = len(rcp), len(ret.ts)
    ret_items = sorted_group_sum(-ret.quantity, ret.line_return, n_r)
    ret_lines = np.bincount(ret.line_return, minlength=n_r).astype(np.int64)
    cat = np.concatenate
    ts = cat([r_ts, ret.ts])
    return build_fact_table(
        "fact_receipts",
        {
            "event_ts": ts,
            "receipt_id_ext": cat([rcp.astype(object), ret_ids]),
            "receipt_type": Take.of(
                ("SALE", "RETURN"), cat([np.zeros(n_s, np.int64), np.ones(n_r, np.int64)])
            ),
            "store_id": cat([r_sid, ret.store_id]),
            "customer_id": cat([r_cust, ret.customer]),
            "visit_id_ext": cat([vis.astype(object), np.full(n_r, None, dtype=object)]),
            "return_for_receipt_id_ext": cat([np.full(n_s, None, dtype=object), ret.original_receipt]),
            "payment_method": cat([r_method, ret.payment_method]),
            "item_count": cat([r_items, ret_items]),
            "line_count": cat([r_lines, ret_lines]),
            "subtotal_amount": cat([r_sub, ret_sub]),
            "subtotal_cents": cat([r_sub, ret_sub]),
            "discount_amount": cat([r_disc, ret_disc]),
            "discount_cents": cat([r_disc, ret_disc]),
            "tax_amount": cat([r_tax, ret_tax]),
            "tax_cents": cat([r_tax, ret_tax]),
            "total_amount": cat([r_total, ret_total]),
            "total_cents": cat([r_total, ret_total]),
            "campaign_id_ext": cat([campaign, np.full(n_r, None, dtype=object)]),
        },
        order=_by_time(ts),
    )


def _lines_table(rcp, l_rec, line_num, r_sid, r_ts, product, qty, unit, ext, line_rule, disc, tax,
                 ret: DueReturns, ret_ids) -> pa.Table:  # fmt: skip
    cat = np.concatenate
    code_index = {c: i for i, c in enumerate(PROMO_CODES)}
    ret_rule = np.array([-1 if c is None else code_index[c] for c in ret.promo_code], dtype=np.int64)
    n_s = len(rcp)
    doc_ids = pa.concat_arrays([pa.array(rcp, type=pa.string()), pa.array(ret_ids, type=pa.string())])
    doc = cat([l_rec, n_s + ret.line_return])
    ts = cat([r_ts[l_rec], ret.ts[ret.line_return]])
    num = cat([line_num, ret.line_num])
    return build_fact_table(
        "fact_receipt_lines",
        {
            "event_ts": ts,
            "receipt_id_ext": Take(doc_ids, doc),
            "line_num": num,
            "store_id": cat([r_sid[l_rec], ret.store_id[ret.line_return]]),
            "product_id": cat([product + 1, ret.product_id]),
            "quantity": cat([qty, ret.quantity]),
            "unit_price": cat([unit, ret.unit_cents]),
            "unit_cents": cat([unit, ret.unit_cents]),
            "ext_price": cat([ext, ret.ext_cents]),
            "ext_cents": cat([ext, ret.ext_cents]),
            "promo_code": Take.of(PROMO_CODES, cat([line_rule, ret_rule])),
            "discount_amount": cat([disc, ret.discount_cents]),
            "discount_cents": cat([disc, ret.discount_cents]),
            "tax_amount": cat([tax, ret.tax_cents]),
            "tax_cents": cat([tax, ret.tax_cents]),
        },
        order=_by_time(ts),
    )


def _payments_table(rcp, r_sid, r_cust, r_total, att, ret: DueReturns, ret_ids, ret_total, ret_method,
                    ret_lat) -> pa.Table:  # fmt: skip
    cat = np.concatenate
    n_a, n_r, n_s = len(att.doc), len(ret.ts), len(rcp)
    doc = cat([att.doc, n_s + np.arange(n_r)])
    doc_ids = cat([rcp.astype(object), ret_ids])[doc]
    attempt = cat([att.attempt_num, np.ones(n_r, dtype=np.int64)])
    tx_ids = ids.payment_ids(doc_ids.astype(str), attempt) if len(doc_ids) else np.zeros(0, dtype=str)
    approved = cat([att.approved, np.ones(n_r, dtype=bool)])
    ts = cat([att.event_ts_us, ret.ts + ret_lat * 1000])
    return build_fact_table(
        "fact_payments",
        {
            "event_ts": ts,
            "transaction_id_ext": tx_ids,
            "transaction_type": Take.of(
                ("PURCHASE", "REFUND"), cat([np.zeros(n_a, np.int64), np.ones(n_r, np.int64)])
            ),
            "receipt_id_ext": doc_ids,
            "order_id_ext": pa.nulls(n_a + n_r, pa.string()),
            "store_id": cat([r_sid[att.doc], ret.store_id]),
            "customer_id": cat([r_cust[att.doc], ret.customer]),
            "attempt_num": attempt,
            "payment_method": Take.of(METHODS, cat([att.method, ret_method])),
            "amount": cat([r_total[att.doc], ret_total]),
            "amount_cents": cat([r_total[att.doc], ret_total]),
            "status": Take.of(("APPROVED", "DECLINED"), (~approved).astype(np.int64)),
            "decline_reason": Take.of(DECLINE_REASONS, cat([att.reason, np.full(n_r, -1, dtype=np.int64)])),
            "processing_time_ms": cat([att.processing_ms, ret_lat]),
        },
        order=_by_time(ts),
    )


def _promotion_tables(rcp, r_ts, r_sid, r_cust, receipt_rule, l_rec, line_num, product, qty, disc, line_rule):
    pr = np.flatnonzero(receipt_rule >= 0)
    pl = np.flatnonzero(line_rule >= 0)
    n_rec = len(rcp)
    count = np.bincount(l_rec[pl], minlength=n_rec)
    total = sorted_group_sum(disc[pl], l_rec[pl], n_rec)
    rcp_arr = pa.array(rcp, type=pa.string())
    promotions = build_fact_table(
        "fact_promotions",
        {
            "event_ts": r_ts[pr],
            "receipt_id_ext": Take(rcp_arr, pr),
            "promo_code": Take.of(PROMO_CODES, receipt_rule[pr]),
            "store_id": r_sid[pr],
            "customer_id": r_cust[pr],
            "discount_type": Take(PROMO_TYPE_ARRAY, receipt_rule[pr]),
            "product_count": count[pr].astype(np.int64),
            "discount_amount": total[pr],
            "discount_cents": total[pr],
        },
        order=_by_time(r_ts[pr]),
    )
    promo_lines = build_fact_table(
        "fact_promo_lines",
        {
            "event_ts": r_ts[l_rec[pl]],
            "receipt_id_ext": Take(rcp_arr, l_rec[pl]),
            "line_num": line_num[pl],
            "promo_code": Take.of(PROMO_CODES, line_rule[pl]),
            "store_id": r_sid[l_rec[pl]],
            "product_id": product[pl] + 1,
            "quantity": qty[pl],
            "discount_amount": disc[pl],
            "discount_cents": disc[pl],
        },
        order=_by_time(r_ts[l_rec[pl]]),
    )
    return promotions, promo_lines


ZONE_NAME_ARRAY = pa.array(ZONE_NAMES, type=pa.string())


def _store_zone_ids(prefix: str, ctx: StoreContext) -> pa.Array:
    """``{prefix}{store:05}-{zone}`` for every (store, zone), store-major (§1.5 sensor/beacon ids)."""
    return pa.array(
        ids.join(
            prefix,
            np.repeat(ids.zpad(ctx.store_id, 5), len(ZONES)),
            "-",
            np.tile(np.array(ZONES), ctx.n_stores),
        ),
        type=pa.string(),
    )


def _ble_tables(ble, r_sid, vis_arr: pa.Array, ctx: StoreContext) -> tuple[pa.Table, pa.Table]:
    beacon_names = _store_zone_ids("BEACON-", ctx)
    pr = ble.ping_receipt
    cust_p = ble.device_customer[pr]
    pings = build_fact_table(
        "fact_ble_pings",
        {
            "event_ts": ble.ping_ts_us,
            "store_id": r_sid[pr],
            "visit_id_ext": Take(vis_arr, pr),
            "ping_num": ble.ping_num,
            "beacon_id_ext": Take(beacon_names, ctx.store_index(r_sid[pr]) * len(ZONES) + ble.ping_zone),
            "zone": Take(ZONE_NAME_ARRAY, ble.ping_zone),
            "customer_ble_id_ext": Take(ble.device_id, pr),
            "customer_id": pa.array(cust_p, type=pa.int64(), mask=cust_p < 0),
            "rssi": ble.ping_rssi,
        },
        order=_by_time(ble.ping_ts_us),
    )
    cr = ble.change_receipt
    cust_c = ble.device_customer[cr]
    changes = build_fact_table(
        "fact_customer_zone_changes",
        {
            "event_ts": ble.change_ts_us,
            "store_id": r_sid[cr],
            "visit_id_ext": Take(vis_arr, cr),
            "change_num": ble.change_num,
            "customer_ble_id_ext": Take(ble.device_id, cr),
            "customer_id": pa.array(cust_c, type=pa.int64(), mask=cust_c < 0),
            "from_zone": Take(ZONE_NAME_ARRAY, ble.change_from),
            "to_zone": Take(ZONE_NAME_ARRAY, ble.change_to),
        },
        order=_by_time(ble.change_ts_us),
    )
    return pings, changes


ZONE_NAME_RANK = np.argsort(np.argsort(np.array(ZONES)))  # rank of each zone name in string order


def _foot_traffic_table(ft, ctx: StoreContext, day_start_us: int) -> pa.Table:
    sensor_names = _store_zone_ids("SENSOR-", ctx)
    ts = day_start_us + ft.hour * HOUR_US
    return build_fact_table(
        "fact_foot_traffic",
        {
            "event_ts": ts,
            "store_id": ctx.store_id[ft.store],
            "sensor_id_ext": Take(sensor_names, ft.store * len(ZONES) + ft.zone),
            "zone": Take(ZONE_NAME_ARRAY, ft.zone),
            "customer_count": ft.customer_count,
            "dwell_seconds": ft.dwell_seconds,
        },
        order=np.lexsort((ZONE_NAME_RANK[ft.zone], ft.store, ts)),
    )
