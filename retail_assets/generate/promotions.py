"""In-store promotion codes and line discounts (contract §7.4), as a registry of rules.

Each code is one ``PromoRule`` row (type, value, active window, minimum basket, eligible lines,
choice weight); the day's code choice and the discounts are computed for all SALE receipts at once:
a (receipts x codes) candidate matrix, one weighted choice per receipt from the pre-drawn basket
uniforms, then exact integer discounts per line (percentages and BOGO by ``round_half_away``,
FIVEOFF40 spread by largest remainder).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from retail_assets.generate.arrays import sorted_group_sum
from retail_assets.generate.calendar import thanksgiving
from retail_assets.generate.money import percent_of, round_half_away

PERCENTAGE, BOGO, FIXED_AMOUNT = "PERCENTAGE", "BOGO", "FIXED_AMOUNT"
ALL_YEAR = frozenset(range(1, 13))


@dataclass(frozen=True)
class PromoRule:
    """One promotion code: ``value`` is a percentage, BOGO's 50 %, or FIXED_AMOUNT's cents."""

    code: str
    discount_type: str
    value: int
    months: frozenset[int] = ALL_YEAR
    min_subtotal_cents: int = 0
    non_grocery_only: bool = False
    weight: int = 0  # choice weight (= the percentage; BOGO50 25, FIVEOFF40 10)
    black_friday_window: bool = False  # active Black Friday .. Cyber Monday only

    def active_on(self, day: date) -> bool:
        if self.black_friday_window:
            tg = thanksgiving(day.year)
            return tg + timedelta(days=1) <= day <= tg + timedelta(days=4)
        return day.month in self.months


PROMO_RULES: tuple[PromoRule, ...] = (
    PromoRule("SAVE10", PERCENTAGE, 10, weight=10),
    PromoRule("SAVE15", PERCENTAGE, 15, min_subtotal_cents=2500, weight=15),
    PromoRule("SAVE20", PERCENTAGE, 20, min_subtotal_cents=5000, weight=20),
    PromoRule("SAVE25", PERCENTAGE, 25, min_subtotal_cents=7500, weight=25),
    PromoRule("BOGO50", BOGO, 50, weight=25),
    PromoRule("CLEARANCE30", PERCENTAGE, 30, frozenset({1, 2, 7, 8}), non_grocery_only=True, weight=30),
    PromoRule("CLEARANCE50", PERCENTAGE, 50, frozenset({1, 2, 7, 8}), non_grocery_only=True, weight=50),
    PromoRule("BFRIDAY30", PERCENTAGE, 30, frozenset({11}), non_grocery_only=True, weight=30),
    PromoRule("BFRIDAY40", PERCENTAGE, 40, non_grocery_only=True, weight=40, black_friday_window=True),
    PromoRule("SUMMER25", PERCENTAGE, 25, frozenset({6, 7, 8}), non_grocery_only=True, weight=25),
    PromoRule("BACKTOSCHOOL", PERCENTAGE, 20, frozenset({8, 9}), non_grocery_only=True, weight=20),
    PromoRule("HOLIDAY20", PERCENTAGE, 20, frozenset({12}), weight=20),
    PromoRule("NEWYEAR15", PERCENTAGE, 15, frozenset({1, 2}), weight=15),
    PromoRule("FIVEOFF40", FIXED_AMOUNT, 500, min_subtotal_cents=4000, weight=10),
)
PROMO_CODES = tuple(r.code for r in PROMO_RULES)
PROMO_MONTH_FACTOR = {1: 1.2, 7: 1.1, 8: 1.1, 11: 1.5, 12: 1.4}
BASE_PROMO_P, MAX_PROMO_P, WEEKEND_BOOST, NON_GROCERY_BOOST = 0.12, 0.60, 1.15, 1.2


@dataclass(frozen=True)
class PromoResult:
    """Per receipt: chosen rule index (-1 none); per line: discount cents and code index (-1 none)."""

    receipt_rule: np.ndarray
    line_discount: np.ndarray
    line_rule: np.ndarray


def apply_promotions(
    day: date,
    weekend: bool,
    n_receipts: int,
    line_receipt: np.ndarray,
    line_num: np.ndarray,
    quantity: np.ndarray,
    unit_cents: np.ndarray,
    ext_cents: np.ndarray,
    non_grocery: np.ndarray,
    promo_u: np.ndarray,
    promo_code_u: np.ndarray,
) -> PromoResult:
    """Decide promotions for SALE receipts (lines grouped by ``line_receipt``, sorted by line_num).

    ``promo_u`` / ``promo_code_u`` are the receipts' pre-drawn basket uniforms (§8.2).
    """
    subtotal = sorted_group_sum(ext_cents, line_receipt, n_receipts)
    any_ng = np.bincount(line_receipt, weights=non_grocery, minlength=n_receipts) > 0
    any_q2 = np.bincount(line_receipt, weights=quantity >= 2, minlength=n_receipts) > 0
    has_lines = np.bincount(line_receipt, minlength=n_receipts) > 0
    p = BASE_PROMO_P * PROMO_MONTH_FACTOR.get(day.month, 1.0) * (WEEKEND_BOOST if weekend else 1.0)
    p_r = np.minimum(MAX_PROMO_P, p * np.where(any_ng, NON_GROCERY_BOOST, 1.0))
    wants = (promo_u < p_r) & has_lines
    # candidate matrix (receipts x rules)
    cand = np.zeros((n_receipts, len(PROMO_RULES)), dtype=bool)
    for k, rule in enumerate(PROMO_RULES):
        if not rule.active_on(day):
            continue
        ok = subtotal >= rule.min_subtotal_cents
        if rule.non_grocery_only:
            ok &= any_ng
        if rule.discount_type == BOGO:
            ok &= any_q2
        cand[:, k] = ok & has_lines
    weights = np.array([r.weight for r in PROMO_RULES], dtype=np.float64)
    cum = np.cumsum(cand * weights, axis=1)
    total = cum[:, -1]
    wants &= total > 0
    pick = (cum <= (promo_code_u * total)[:, None]).sum(axis=1)
    receipt_rule = np.where(wants, np.minimum(pick, len(PROMO_RULES) - 1), -1)

    # line discounts by the receipt's rule
    line_rule_all = receipt_rule[line_receipt] if len(line_receipt) else np.zeros(0, np.int64)
    disc = np.zeros(len(line_receipt), dtype=np.int64)
    for k, rule in enumerate(PROMO_RULES):
        sel = line_rule_all == k
        if not sel.any():
            continue
        elig = sel & (non_grocery if rule.non_grocery_only else True)
        if rule.discount_type == PERCENTAGE:
            disc[elig] = percent_of(ext_cents[elig], rule.value)
        elif rule.discount_type == BOGO:
            elig &= quantity >= 2
            disc[elig] = (quantity[elig] // 2) * round_half_away(unit_cents[elig] * rule.value, 100)
        else:
            disc[sel] = _spread_fixed(rule.value, line_receipt[sel], line_num[sel], ext_cents[sel], subtotal)
    line_rule = np.where(disc > 0, line_rule_all, -1)
    # a promotion whose every line rounded to 0 discounts nothing and is not recorded
    receipt_disc = sorted_group_sum(disc, line_receipt, n_receipts)
    receipt_rule = np.where(receipt_disc > 0, receipt_rule, -1)
    return PromoResult(receipt_rule=receipt_rule, line_discount=disc, line_rule=line_rule)


def _spread_fixed(
    amount: int, receipt: np.ndarray, line_num: np.ndarray, ext: np.ndarray, subtotal: np.ndarray
) -> np.ndarray:
    """Spread ``amount`` cents over each receipt's lines ∝ ext_cents (largest remainder, ties to lower line_num)."""
    sub = subtotal[receipt]
    num = amount * ext
    base = num // sub
    rem = num - base * sub
    left = amount - sorted_group_sum(base, receipt, len(subtotal))
    # order within receipt: remainder desc, line_num asc
    order = np.lexsort((line_num, -rem, receipt))
    r_sorted = receipt[order]
    starts = np.flatnonzero(np.concatenate(([True], r_sorted[1:] != r_sorted[:-1])))
    pos = np.arange(len(order)) - np.repeat(starts, np.diff(np.concatenate((starts, [len(order)]))))
    extra = np.zeros(len(order), dtype=np.int64)
    extra[order] = (pos < left[r_sorted]).astype(np.int64)
    return base + extra
