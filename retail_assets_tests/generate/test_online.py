from datetime import date

import numpy as np
import pandas as pd
import pytest

from retail_assets.generate import online
from retail_assets.generate.replenishment import Network
from retail_assets.generate.store_context import StoreContext
from retail_assets_tests.generate.logistics_sim import CHRISTMAS, SPRING, cached_run


@pytest.fixture(scope="module")
def run():
    return cached_run(*SPRING)


@pytest.fixture(scope="module")
def frames(run):
    return (
        run.table("fact_online_order_headers").to_pandas(),
        run.table("fact_online_order_lines").to_pandas(),
    )


def test_header_equals_sum_of_picked_lines_in_cents(frames):
    h, lines = frames
    picked = lines[lines.line_status == "PICKED"]
    sums = picked.groupby("order_id_ext")[["ext_cents", "discount_cents", "tax_cents", "quantity"]].sum()
    count = picked.groupby("order_id_ext").size()
    hh = h.set_index("order_id_ext")
    complete = [o for o in hh.index if o in count.index and count[o] == hh.line_count[o]]
    assert len(complete) > 0.9 * len(hh)
    c = hh.loc[complete]
    s = sums.loc[complete]
    assert (c.subtotal_cents == s.ext_cents).all()
    assert (c.discount_cents == s.discount_cents).all()
    assert (c.tax_cents == s.tax_cents).all()
    assert (c.item_count == s.quantity).all()
    assert (h.total_cents == h.subtotal_cents - h.discount_cents + h.tax_cents).all()
    assert (h.total_cents > 0).all()
    assert ((h.node_type == "DC") == (h.fulfillment_mode == "SHIP_FROM_DC")).all()


def test_line_lifecycle_order_and_bopis(frames):
    _, lines = frames
    piv = lines.pivot_table(
        index=["order_id_ext", "line_num"], columns="line_status", values="event_ts", aggfunc="first"
    )
    a = piv.dropna(subset=["PICKED", "SHIPPED"])
    assert len(a) > 0 and (a.PICKED < a.SHIPPED).all()
    b = piv.dropna(subset=["SHIPPED", "DELIVERED"])
    assert len(b) > 0 and (b.SHIPPED < b.DELIVERED).all()
    c = piv.dropna(subset=["PICKED", "DELIVERED"])
    assert (c.PICKED < c.DELIVERED).all()
    bopis = lines[lines.fulfillment_mode == "BOPIS"]
    assert len(bopis) > 0 and (bopis.line_status != "SHIPPED").all()
    # columns 6-20 identical on all rows of a line
    cols = ["customer_id", "product_id", "quantity", "ext_cents", "discount_cents", "tax_cents", "node_id"]
    assert (lines.groupby(["order_id_ext", "line_num"])[cols].nunique() == 1).all().all()


def test_orders_numbered_per_day_in_creation_order(frames):
    h, _ = frames
    for _, g in h.groupby("event_date"):
        g = g.sort_values(["event_ts", "order_id_ext"])
        seq = g.order_id_ext.str.rsplit("-", n=1).str[1].astype(int)
        assert seq.tolist() == list(range(1, len(g) + 1))


def test_online_sale_txns_match_picked_lines(run, frames):
    _, lines = frames
    st = run.table("fact_store_inventory_txn").to_pandas()
    dc = run.table("fact_dc_inventory_txn").to_pandas()
    txn = pd.concat([st[st.txn_type == "ONLINE_SALE"], dc[dc.txn_type == "ONLINE_SALE"]])
    q = txn.groupby(["source_id_ext", "product_id"]).quantity.sum()
    picked = lines[lines.line_status == "PICKED"].set_index(["order_id_ext", "product_id"]).quantity
    common = q.index.intersection(picked.index)
    assert len(common) > 0.9 * len(q)
    assert (q.loc[common] == -picked.loc[common]).all()
    h = run.table("fact_online_order_headers").to_pandas()
    assert set(txn.source_id_ext) <= set(h.order_id_ext)


def test_payments_one_approved_last_attempt_with_order_total(run, frames):
    h, _ = frames
    pay = pd.concat([p.to_pandas() for p in run.payments])
    assert set(pay.order_id_ext) == set(h.order_id_ext)
    last = pay.sort_values("attempt_num").groupby("order_id_ext").last()
    assert (last.status == "APPROVED").all()
    assert (pay.groupby("order_id_ext").status.apply(lambda s: (s == "APPROVED").sum()) == 1).all()
    tot = h.set_index("order_id_ext").total_cents
    assert (pay.amount_cents.to_numpy() == tot.loc[pay.order_id_ext].to_numpy()).all()
    assert pay.receipt_id_ext.isna().all() and pay.store_id.isna().all()
    created = h.set_index("order_id_ext").event_ts
    assert (pay.event_ts.to_numpy() > created.loc[pay.order_id_ext].to_numpy()).all()


def test_abandoned_candidates_allocate_nothing(run):
    ctx = StoreContext.from_dims(run.dims)
    net = Network.from_dims(run.dims)
    plan = online.plan_day(run.settings, ctx, net, date(2024, 4, 10))
    store, dc = online.allocation_txns(plan)
    refs = np.concatenate([store.ref, dc.ref])
    abandoned = plan.attempts.abandoned[plan.line_order[refs]]
    assert not abandoned.any()
    n_live_lines = int((~plan.attempts.abandoned[plan.line_order]).sum())
    assert len(refs) == n_live_lines
    again = online.plan_day(run.settings, ctx, net, date(2024, 4, 10))
    assert np.array_equal(again.created, plan.created) and np.array_equal(
        again.line_product, plan.line_product
    )


def test_christmas_orders_are_placed_but_not_picked():
    xmas = cached_run(*CHRISTMAS)
    h = xmas.table("fact_online_order_headers").to_pandas()
    lines = xmas.table("fact_online_order_lines").to_pandas()
    assert (h.event_date == date(2024, 12, 25)).sum() > 0
    assert not (lines.event_date == date(2024, 12, 25)).any()
