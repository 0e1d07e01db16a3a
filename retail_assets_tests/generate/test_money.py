from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail_assets.generate.money import (
    cents_to_decimal,
    decimal_array,
    decimal_unscaled,
    percent_of,
    round_half_away,
    tax_cents,
)


def _ref(n: int, d: int) -> int:
    return int((Decimal(n) / Decimal(d)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@given(st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=50), st.integers(1, 10**6))
def test_round_half_away_matches_decimal(ns, d):
    got = round_half_away(np.array(ns, dtype=np.int64), d)
    assert got.tolist() == [_ref(n, d) for n in ns]


def test_round_half_away_ties_go_away_from_zero():
    assert round_half_away(np.array([5, -5, 15, -15, 25, -25, 4, -4]), 10).tolist() == [
        1,
        -1,
        2,
        -2,
        3,
        -3,
        0,
        0,
    ]
    assert round_half_away(np.array([12650, -12650]), 100).tolist() == [127, -127]  # §1.4 cost example


def test_round_half_away_rejects_non_positive_divisor():
    with pytest.raises(ValueError, match="positive divisor"):
        round_half_away(np.array([1]), 0)


@given(st.integers(-(10**9), 10**9), st.integers(0, 15000), st.sampled_from([0, 1, 2]))
def test_tax_matches_decimal(net, rate_1e5, k2):
    expected = Decimal(net) * (Decimal(rate_1e5) / 100000) * (Decimal(k2) / 2)
    want = int(expected.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert tax_cents(np.array([net]), rate_1e5, k2)[0] == want


def test_percent_of_rounds_half_away():
    assert percent_of(np.array([250, -250, 10]), 10).tolist() == [25, -25, 1]
    assert percent_of(np.array([5]), 10).tolist() == [1]  # 0.5 -> 1


@given(st.lists(st.integers(-(10**15), 10**15), max_size=30))
def test_cents_to_decimal_is_exact(values):
    arr = cents_to_decimal(np.array(values, dtype=np.int64))
    assert arr.to_pylist() == [Decimal(v).scaleb(-2) for v in values]
    assert decimal_unscaled(arr).tolist() == values


def test_decimal_array_nulls_and_scale():
    arr = decimal_array(np.array([12650, 7, 0]), 18, 4, mask=np.array([False, False, True]))
    assert arr.to_pylist() == [Decimal("1.2650"), Decimal("0.0007"), None]
    assert arr.null_count == 1
