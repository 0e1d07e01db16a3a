"""Unit tests of the in-store building blocks (traffic, baskets, promotions, payments, BLE timing)."""

from __future__ import annotations

import functools
import operator
from datetime import date

import numpy as np

from retail_assets.generate import calendar as cal
from retail_assets.generate.baskets import BasketDraws, select_lines
from retail_assets.generate.payments import MIX_IN_STORE, PaymentBlock, resolve_attempts
from retail_assets.generate.promotions import PROMO_CODES, apply_promotions
from retail_assets.generate.traffic import draw_traffic

DAY = date(2024, 4, 11)


def test_visit_times_stay_inside_the_open_part_of_each_hour():
    hours = ["24/7", "08:00-22:00", "09:00-18:00"]
    frac = cal.open_fraction_matrix(hours, date(2024, 12, 24))
    lam = np.where(frac > 0, 400.0, 0.0)
    open_len = np.floor(frac * cal.US_PER_HOUR + 0.5).astype(np.int64)
    start = cal.day_start_us(date(2024, 12, 24))
    t = draw_traffic(1, date(2024, 12, 24), np.array([1, 2, 3]), start, lam, open_len, lam * 0)
    off = t.visit_ts_us - start
    assert t.n_visits > 10_000
    for s, h in enumerate(hours):
        mine = off[t.visit_store == s]
        for a_b in [cal.open_periods(h, date(2024, 12, 24))]:
            a, b = a_b[0]
            assert mine.min() >= a and mine.max() < min(b, cal.LAST_RECEIPT_START_US)
        assert (np.diff(mine) >= 0).all(), "visits of a store are in time order"
    frac_normal = cal.open_fraction_matrix(["24/7"], DAY)
    t2 = draw_traffic(
        1,
        DAY,
        np.array([1]),
        0,
        np.full((1, 24), 2000.0),
        np.floor(frac_normal * cal.US_PER_HOUR).astype(np.int64),
        np.zeros((1, 24)),
    )
    assert t2.visit_ts_us.max() < cal.LAST_RECEIPT_START_US
    assert (t2.visit_ts_us >= 23 * cal.US_PER_HOUR).any()


def _draws(cands: list[list[int]], lines: list[int], qty: list[list[int]]) -> BasketDraws:
    lines_a = np.array(lines)
    return BasketDraws(
        customer_id=np.ones(len(lines), dtype=np.int64),
        behaviour=np.zeros(len(lines), dtype=np.int8),
        lines=lines_a,
        cand_offsets=np.concatenate(([0], np.cumsum([len(c) for c in cands]))),
        cand_product=np.array(functools.reduce(operator.iadd, cands, [])),
        qty_offsets=np.concatenate(([0], np.cumsum(lines_a))),
        desired_qty=np.array(functools.reduce(operator.iadd, qty, [])),
        promo_u=np.zeros(len(lines)),
        promo_code_u=np.zeros(len(lines)),
    )


def test_baskets_skip_repeats_and_out_of_stock_candidates_in_draw_order():
    # visit 0 wants 2 lines from [5, 5, 3, 7, 1, 2]; product 3 is out of stock -> 5, 7
    # visit 1 wants 3 lines from [2, 2, 2, 9, 9, 9, 4, 4, 4] at store 1 -> 2, 9 only (4 out of stock there)
    draws = _draws([[5, 5, 3, 7, 1, 2], [2, 2, 2, 9, 9, 9, 4, 4, 4]], [2, 3], [[1, 2], [3, 1, 2]])
    on_hand = np.ones((2, 10), dtype=np.int64)
    on_hand[0, 3] = 0
    on_hand[1, 4] = 0
    w = select_lines(draws, np.array([0, 1]), np.array([0, 1]), on_hand)
    got = sorted(zip(w.visit.tolist(), w.slot.tolist(), w.product.tolist(), w.desired.tolist(), strict=True))
    assert got == [(0, 0, 5, 1), (0, 1, 7, 2), (1, 0, 2, 3), (1, 1, 9, 1)]


def _promo(day, qty, unit, grocery, u=0.0, code_u=0.0):
    qty, unit = np.array(qty), np.array(unit)
    n = len(qty)
    return apply_promotions(
        day, False, 1, np.zeros(n, dtype=np.int64), np.arange(1, n + 1), qty, unit, qty * unit,
        ~np.array(grocery), np.array([u]), np.array([code_u]),
    )  # fmt: skip


def test_fiveoff40_spreads_500_cents_by_largest_remainder_ties_to_lower_line():
    # three equal lines of $15: 500/3 = 166.67 each -> 167, 167, 166 (ties to lower line_num)
    # FIVEOFF40 is the last code; on an April weekday the candidates are SAVE10..SAVE25, BOGO50 (no
    # qty >= 2 here), FIVEOFF40: weights 10+15+20 (subtotal 4500 < 7500) + 10 -> code_u near 1 picks it
    res = _promo(date(2024, 4, 11), [1, 1, 1], [1500, 1500, 1500], [True] * 3, code_u=0.999)
    assert PROMO_CODES[res.receipt_rule[0]] == "FIVEOFF40"
    assert res.line_discount.tolist() == [167, 167, 166]


def test_bogo_discounts_every_second_unit_at_half_price_rounded():
    res = _promo(date(2024, 4, 11), [3, 1], [199, 500], [True, True], code_u=0.3)
    # candidates: SAVE10 (10), BOGO50 (25): total 35; u*35 = 10.5 -> BOGO50
    assert PROMO_CODES[res.receipt_rule[0]] == "BOGO50"
    assert res.line_discount.tolist() == [100, 0]  # floor(3/2) x round(199 / 2) = 100
    assert res.line_rule.tolist()[1] == -1


def test_no_promotion_when_the_decision_draw_is_above_p():
    res = _promo(date(2024, 4, 11), [1], [1000], [True], u=0.5)
    assert res.receipt_rule[0] == -1 and res.line_discount.sum() == 0


def test_seasonal_codes_only_in_their_window_and_for_non_grocery_lines():
    # Black Friday 2024 = Nov 29: BFRIDAY40 is a candidate only for a basket with a non-grocery line
    day = date(2024, 11, 29)
    for code_u in np.linspace(0.0, 0.999, 25):
        res = _promo(day, [1], [1000], [True], code_u=code_u)
        assert PROMO_CODES[res.receipt_rule[0]] not in {"BFRIDAY40", "BFRIDAY30", "CLEARANCE30", "SUMMER25"}
    seen = {
        PROMO_CODES[_promo(day, [1], [1000], [False], code_u=u).receipt_rule[0]]
        for u in np.linspace(0, 0.999, 60)
    }
    assert "BFRIDAY40" in seen and "SUMMER25" not in seen


def _block(u_method, u_decline):
    n = len(u_method)
    z = np.zeros((n, 3))
    return PaymentBlock(
        np.array(u_method, float), np.array(u_decline, float), np.zeros((n, 3), np.int64), z + 0.5, z + 0.5
    )


def test_declined_shoppers_retry_with_another_method_and_third_attempt_is_cash():
    # doc 0: approved at once; doc 1: credit declined, then debit declined, then cash
    blk = _block([[0.1, 0.1, 0.1], [0.1, 0.1, 0.1]], [[0.9, 0.9, 0.9], [0.0, 0.0, 0.9]])
    a = resolve_attempts(blk, np.array([0, 1_000_000]), MIX_IN_STORE, cash_last=True)
    assert a.doc.tolist() == [0, 1, 1, 1]
    assert a.attempt_num.tolist() == [1, 1, 2, 3]
    assert a.approved.tolist() == [True, False, False, True]
    assert a.method.tolist()[1:] == [0, 1, 2]  # CREDIT_CARD, DEBIT_CARD (credit excluded), CASH
    assert a.doc_method.tolist() == [0, 2]
    ts = a.event_ts_us[1:]
    assert (np.diff(ts) > 10_000_000).all() and ts[0] > 1_000_000


def test_online_mode_abandons_after_the_second_decline():
    blk = _block([[0.1, 0.1], [0.1, 0.1]], [[0.0, 0.0], [0.0, 0.9]])
    blk = PaymentBlock(
        blk.u_method[:, :2], blk.u_decline[:, :2], blk.reason[:, :2], blk.u_latency[:, :2], blk.u_gap[:, :2]
    )
    from retail_assets.generate.payments import MIX_ONLINE

    a = resolve_attempts(blk, np.array([0, 0]), MIX_ONLINE, cash_last=False)
    assert a.abandoned.tolist() == [True, False]
    assert a.doc_method[0] == -1 and a.doc_method[1] >= 0


def test_sorted_group_sum_is_exact_and_refuses_unsorted_groups():
    import pytest

    from retail_assets.generate.arrays import sorted_group_sum

    big = 2**53 + 1  # not representable as float64: a float-based sum would lose the +1
    got = sorted_group_sum(np.array([big, 1, 5, -2]), np.array([0, 0, 2, 2]), 4)
    assert got.tolist() == [big + 1, 0, 3, 0]
    with pytest.raises(ValueError, match="ascending"):
        sorted_group_sum(np.array([1, 2]), np.array([1, 0]), 2)
