"""Demand calibration (model 2, issue 12): generated days land in the public reference ranges.

A week at scale factor 0.1 (Mon Dec 9 .. Sun Dec 15 2024, ≈ 14 k receipts) measured with DuckDB the
way an analyst would; the references are listed in retail_assets/generate/reference/calibration.md.
The calendar-level peak-day test needs no generation: it ranks the expected demand of every day.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from retail_assets.config import DatasetSettings
from retail_assets.generate import calendar as cal
from retail_assets.generate.foot_traffic import MEAN_PURCHASE_DWELL_MIN, expected_entries
from retail_assets.generate.payments import CASH, METHODS, MIX_IN_STORE, in_store_mix
from retail_assets_tests.generate.day_checks import run_days

TABLES = ("fact_receipts", "fact_online_order_headers", "fact_marketing", "fact_ble_pings", "fact_foot_traffic")


@pytest.fixture(scope="module")
def week():
    settings = DatasetSettings(seed=42, scale_factor=0.1, start_date=date(2024, 12, 9))
    dims, days = run_days(settings, 7)
    con = duckdb.connect()
    for name in TABLES:
        con.register(name, pa.concat_tables([res.tables[name] for _, res in days]))
    con.register("dim_customers", dims["dim_customers"])
    return con


def one(con, sql: str):
    return con.sql(sql).fetchall()[0]


def test_online_share_and_order_value_are_in_the_reference_ranges(week):
    share, avg_order = one(week, """
        select o.c / (o.c + i.c), o.a / 100
        from (select sum(total_cents) c from fact_receipts where receipt_type = 'SALE') i,
             (select sum(total_cents) c, avg(total_cents) a from fact_online_order_headers) o""")  # fmt: skip
    assert 0.10 <= share <= 0.20, f"online share of sales {share:.1%}, reference 10-20 % (Census ≈ 16 %)"
    assert 80 <= avg_order <= 130, f"average online order ${avg_order:.2f}, reference $80-130"


def test_ad_cost_per_thousand_impressions_is_in_the_benchmark_range(week):
    rows = week.sql("select channel, sum(cost) * 1000 / count(*) from fact_marketing group by 1").fetchall()
    assert len(rows) >= 4
    for channel, cpm in rows:
        assert 2 <= cpm <= 30, f"{channel}: CPM ${cpm:.2f}, benchmark $2-30"


def test_cash_is_concentrated_in_small_tickets(week):
    rows = week.sql("""
        select total_cents < 2500 small, total_cents >= 10000 large, avg((payment_method = 'CASH')::int)
        from fact_receipts where receipt_type = 'SALE' group by 1, 2""").fetchall()
    share = {(s, big): c for s, big, c in rows}
    small, large = share[(True, False)], share[(False, True)]
    assert small >= 0.20 and large <= 0.10 and small >= 3 * large, (small, large)


def test_ble_tracks_only_app_users_and_a_minority_of_visits(week):
    detected, receipts = one(week, """
        select (select count(distinct visit_id_ext) from fact_ble_pings),
               (select count(*) from fact_receipts where receipt_type = 'SALE')""")
    assert 0.05 <= detected / receipts <= 0.30, f"BLE-detected share {detected / receipts:.1%}"
    not_app = one(week, """
        select count(*) from fact_ble_pings p join dim_customers c using (customer_id) where not c.app_user""")[0]
    assert not_app == 0


def test_entrances_lead_receipts_by_a_dwell(week):
    entrance_h, receipt_h = one(week, """
        select (select sum((hour(event_ts) + 0.5) * customer_count) / sum(customer_count)
                from fact_foot_traffic where zone = 'ENTRANCE'),
               (select avg(hour(event_ts) + minute(event_ts) / 60 + second(event_ts) / 3600)
                from fact_receipts where receipt_type = 'SALE')""")
    lead_min = (receipt_h - entrance_h) * 60
    assert 5 <= lead_min <= 25, f"entrances lead receipts by {lead_min:.1f} min"
    peaks = week.sql("""
        with e as (select hour(event_ts) h, sum(customer_count) c from fact_foot_traffic
                   where zone = 'ENTRANCE' group by 1)
        select h from e order by c desc limit 3""").fetchall()
    assert {h for (h,) in peaks} <= set(range(10, 20)), f"entrance peaks at {peaks} (model 1: 09:00 and 20:00)"


def test_sunday_is_about_nine_tenths_of_saturday(week):
    ratio = one(week, """
        select sum((dayofweek(event_date) = 0)::int) / sum((dayofweek(event_date) = 6)::int)
        from fact_receipts where receipt_type = 'SALE'""")[0]
    assert 0.8 <= ratio <= 1.0, f"Sunday / Saturday receipts {ratio:.2f}, grocery reference ≈ 0.9"


@pytest.mark.parametrize("year", [2024, 2025])
def test_grocery_peak_days_are_the_top_days_of_the_year(year):
    days = [date(year, 1, 1) + timedelta(days=k) for k in range(365)]
    expected = {d: cal.day_calendar(d).instore_day_factor * cal.coverage("08:00-22:00", d) for d in days}
    top = sorted(expected, key=expected.get, reverse=True)[:5]
    wednesday_before_thanksgiving = cal.thanksgiving(year) - timedelta(days=1)
    for peak in (wednesday_before_thanksgiving, date(year, 12, 23), date(year, 12, 24)):
        assert peak in top, f"{peak} not among the top days {top}"


def test_in_store_tender_mix_follows_the_ticket_size():
    mix = in_store_mix(np.array([500, 3_000, 7_500, 25_000]))
    assert np.allclose(mix.sum(axis=1), 1.0)
    assert (np.diff(mix[:, CASH]) < 0).all(), "cash share falls as the ticket grows"
    card = METHODS.index("CREDIT_CARD"), METHODS.index("DEBIT_CARD")
    assert np.allclose(mix[:, card[0]] / mix[:, card[1]], MIX_IN_STORE[card[0]] / MIX_IN_STORE[card[1]])


def test_expected_entries_move_a_dwell_of_buyers_into_the_previous_open_hour():
    lam = np.zeros((1, 24))
    lam[0, 8:22] = 10.0
    open_fraction = (lam > 0).astype(float)
    entries = expected_entries(lam, open_fraction)
    assert entries.sum() == pytest.approx(lam.sum())
    assert entries[0, 7] == 0 and entries[0, 21] == pytest.approx(10 * (1 - MEAN_PURCHASE_DWELL_MIN / 60))
    hours = np.arange(24) + 0.5
    lead_h = (lam[0] @ hours - entries[0] @ hours) / lam.sum()
    assert lead_h * 60 == pytest.approx(MEAN_PURCHASE_DWELL_MIN * 13 / 14)
