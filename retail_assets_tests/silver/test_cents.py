"""Cents from JSON doubles: exact, rounded half away from zero on the DECIMAL, never truncated."""

from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_assets.silver.compiler import cents_sql, money_sql


def expected(json_number: float, scale: int) -> tuple[Decimal, int]:
    """What parsing the JSON text as DECIMAL gives (the contract's reference, §6.2)."""
    amount = Decimal(repr(json_number)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    return amount, int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def duckdb_eval(values: list[float], scale: int) -> list[tuple[Decimal, int]]:
    with duckdb.connect() as conn:
        rows = conn.execute(
            f"SELECT {money_sql('x', scale)}, {cents_sql(money_sql('x', scale))} FROM unnest(?::DOUBLE[]) AS t(x)",
            [values],
        ).fetchall()
    return [(a, c) for a, c in rows]


EXAMPLES = [0.29, 12.99, 1.005, -1.005, 0.285, -0.005, 4.4, 41.88, 1.265, 9999999999999.99, -123456789012.35]
"""Large values stay inside the contract's exactness bound (L2): |amount| < 10^13 for dec2."""
COST_EXAMPLES = [*EXAMPLES[:9], 99999999999.9999, -12345678901.2345]
"""dec4 is exact below 10^11 (L2)."""


def examples(scale: int) -> list[float]:
    return EXAMPLES if scale == 2 else COST_EXAMPLES


@pytest.mark.parametrize("scale", [2, 4])
def test_known_awkward_amounts_duckdb(scale):
    got = duckdb_eval(examples(scale), scale)
    assert got == [expected(x, scale) for x in examples(scale)]
    # the values that trip binary rounding and truncation
    if scale == 2:
        assert got[0] == (Decimal("0.29"), 29)  # CAST(0.29 * 100 AS BIGINT) would be 28
        assert got[2] == (Decimal("1.01"), 101)  # ROUND(1.005::DOUBLE, 2) is 1.0 in DuckDB
        assert got[3] == (Decimal("-1.01"), -101)  # half away from zero
    else:
        assert got[8] == (Decimal("1.2650"), 127)  # contract §1.4: 1.2650 -> 127


@pytest.mark.parametrize("scale", [2, 4])
def test_known_awkward_amounts_spark(spark, scale):
    values = examples(scale)
    cols = ", ".join(
        f"{money_sql(f'CAST({x!r} AS DOUBLE)', scale)} AS a{i}, "
        f"{cents_sql(money_sql(f'CAST({x!r} AS DOUBLE)', scale))} AS c{i}"
        for i, x in enumerate(values)
    )
    row = spark.sql(f"SELECT {cols}").toArrow().to_pylist()[0]
    got = [(row[f"a{i}"], row[f"c{i}"]) for i in range(len(values))]
    assert got == [expected(x, scale) for x in values]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1), min_size=1, max_size=50),
)
def test_two_decimal_amounts_are_exact(unscaled):
    """Any conforming DECIMAL(18,2) amount below 10^13, sent as its nearest double, round-trips."""
    amounts = [Decimal(u).scaleb(-2) for u in unscaled]
    got = duckdb_eval([float(a) for a in amounts], 2)
    assert got == [(a, int(a * 100)) for a in amounts]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1), min_size=1, max_size=50))
def test_four_decimal_costs_round_half_away_from_zero(unscaled):
    costs = [Decimal(u).scaleb(-4) for u in unscaled]
    got = duckdb_eval([float(c) for c in costs], 4)
    want = [(c, int((c * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))) for c in costs]
    assert got == want


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=-(10**6), max_value=10**6), min_size=1, max_size=50))
def test_three_decimal_json_text_rounds_like_the_text(unscaled):
    """Non-conforming 3-dp numbers (1.005) round as their JSON text, not as the binary double."""
    values = [float(Decimal(u).scaleb(-3)) for u in unscaled]
    assert duckdb_eval(values, 2) == [expected(x, 2) for x in values]
