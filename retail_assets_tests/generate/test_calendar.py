"""Calendar facts of contract §7.1 / §7.3 / §7.13: holidays, factors, open periods, store-ops rows."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import numpy as np
import pytest

from retail_assets.generate import calendar as cal

H = cal.US_PER_HOUR
ORDINARY_THURSDAY = date(2024, 4, 11)
ORDINARY_SATURDAY = date(2024, 4, 13)


@pytest.mark.parametrize(
    ("year", "memorial", "labor", "thanksgiving"),
    [
        (2024, date(2024, 5, 27), date(2024, 9, 2), date(2024, 11, 28)),
        (2025, date(2025, 5, 26), date(2025, 9, 1), date(2025, 11, 27)),
    ],
)
def test_moving_holidays(year, memorial, labor, thanksgiving):
    assert cal.memorial_day(year) == memorial
    assert cal.labor_day(year) == labor
    assert cal.thanksgiving(year) == thanksgiving
    assert cal.holiday_name(thanksgiving + timedelta(days=1)) == "BLACK_FRIDAY"
    assert cal.holiday_name(thanksgiving + timedelta(days=4)) == "CYBER_MONDAY"
    for k in (2, 3):
        assert cal.holiday_name(thanksgiving - timedelta(days=k)) == "THANKSGIVING_WINDOW"
    assert cal.holiday_name(thanksgiving - timedelta(days=1)) == "THANKSGIVING_EVE"
    assert cal.holiday_name(memorial - timedelta(days=1)) == "GRILL_WEEKEND"
    assert cal.holiday_name(memorial - timedelta(days=2)) == "GRILL_WEEKEND"
    assert cal.holiday_name(labor - timedelta(days=2)) == "GRILL_WEEKEND"


def test_day_multipliers_of_the_holiday_table():
    bf = cal.day_calendar(date(2024, 11, 29))
    assert (bf.instore, bf.online, bf.marketing) == (1.4, 2.0, 2.5)
    xmas = cal.day_calendar(date(2024, 12, 25))
    assert xmas.stores_closed and xmas.instore == 0.0 and xmas.online == 0.6 and xmas.marketing == 1.0
    eve = cal.day_calendar(date(2024, 12, 24))
    assert eve.christmas_eve and not eve.stores_closed and (eve.instore, eve.marketing) == (2.4, 1.5)
    assert cal.day_calendar(date(2024, 12, 15)).online == 1.3  # Dec 11-23
    assert [cal.day_calendar(date(2024, 12, d)).instore for d in (17, 18, 22, 23)] == [1.0, 1.25, 1.25, 1.9]
    assert cal.day_calendar(date(2024, 11, 27)).instore == 1.9  # the Wednesday before Thanksgiving
    assert cal.day_calendar(date(2024, 12, 26)).instore == 1.3
    ordinary = cal.day_calendar(ORDINARY_THURSDAY)
    assert ordinary.holiday_name is None and (ordinary.instore, ordinary.online, ordinary.marketing) == (
        1,
        1,
        1,
    )
    assert ordinary.instore_day_factor == pytest.approx(1.00 * 1.00)
    sat = cal.day_calendar(ORDINARY_SATURDAY)
    assert sat.weekend and sat.instore_day_factor == pytest.approx(1.27)
    sun = cal.day_calendar(ORDINARY_SATURDAY + timedelta(days=1))
    assert 0.85 <= sun.instore_day_factor / sat.instore_day_factor <= 0.95  # grocery: Sunday ≈ 0.9 × Saturday
    assert cal.day_calendar(date(2024, 12, 2)).instore_day_factor == pytest.approx(0.85 * 1.25)


def test_july_4_keeps_its_own_row_and_grill_days_surround_it():
    # 2026: Jul 4 is a Saturday -> the Saturday "on or before" is Jul 4 itself, which keeps its row
    assert cal.holiday_name(date(2026, 7, 4)) == "INDEPENDENCE_DAY"
    assert cal.holiday_name(date(2026, 7, 5)) == "GRILL_WEEKEND"
    # 2024: Thursday -> Saturday Jun 29 and Sunday Jul 7
    assert cal.holiday_name(date(2024, 6, 29)) == "GRILL_WEEKEND"
    assert cal.holiday_name(date(2024, 7, 7)) == "GRILL_WEEKEND"


def test_hour_curves_and_reference_sums():
    assert cal.HOUR_W_WEEKDAY[8:22].sum() == pytest.approx(cal.W_REF_WEEKDAY)
    assert cal.HOUR_W_WEEKEND[8:22].sum() == pytest.approx(cal.W_REF_WEEKEND)
    for a in (cal.HOUR_W_WEEKDAY, cal.HOUR_W_WEEKEND, cal.HOUR_W_ONLINE):
        assert a.shape == (24,) and (a > 0).all()


def test_coverage_of_the_opening_hours():
    assert cal.coverage("08:00-22:00", ORDINARY_THURSDAY) == pytest.approx(1.0)
    assert cal.coverage("24/7", ORDINARY_THURSDAY) == pytest.approx(1.09, abs=0.005)
    assert cal.coverage("09:00-18:00", ORDINARY_THURSDAY) == pytest.approx(0.68, abs=0.005)
    assert cal.coverage("24/7", date(2024, 12, 25)) == 0.0


def test_open_fraction_stops_at_23_55():
    f = cal.open_fraction_by_hour("24/7", ORDINARY_THURSDAY)
    assert f[23] == pytest.approx(55 / 60) and (f[:23] == 1).all()
    g = cal.open_fraction_by_hour("09:00-21:00", ORDINARY_THURSDAY)
    assert g[:9].sum() == 0 and (g[9:21] == 1).all() and g[21:].sum() == 0
    eve = cal.open_fraction_by_hour("24/7", date(2024, 12, 24))
    assert (eve[:18] == 1).all() and eve[18:].sum() == 0
    m = cal.open_fraction_matrix(["24/7", "09:00-18:00"], ORDINARY_THURSDAY)
    assert m.shape == (2, 24) and np.array_equal(
        m[1], cal.open_fraction_by_hour("09:00-18:00", ORDINARY_THURSDAY)
    )


@pytest.mark.parametrize(
    ("hours", "day", "periods"),
    [
        ("24/7", ORDINARY_THURSDAY, [(0, 24)]),
        ("24/7", date(2024, 12, 24), [(0, 18)]),
        ("24/7", date(2024, 12, 25), []),
        ("24/7", date(2024, 12, 26), [(6, 24)]),
        ("06:00-24:00", date(2024, 12, 24), [(6, 18)]),
        ("09:00-21:00", date(2024, 12, 24), [(9, 18)]),
        ("09:00-18:00", date(2024, 12, 24), [(9, 18)]),
        ("08:00-22:00", date(2024, 12, 26), [(8, 22)]),
    ],
)
def test_open_periods(hours, day, periods):
    assert cal.open_periods(hours, day) == [(a * H, b * H) for a, b in periods]


OPS = {
    # hours: {day: [(hour, op), ...]}
    "24/7": {
        ORDINARY_THURSDAY: [],
        date(2024, 12, 24): [(18, "CLOSED")],
        date(2024, 12, 25): [],
        date(2024, 12, 26): [(6, "OPENED")],
        date(2024, 12, 27): [],
    },
    "06:00-24:00": {
        ORDINARY_THURSDAY: [(0, "CLOSED"), (6, "OPENED")],
        date(2024, 12, 24): [(0, "CLOSED"), (6, "OPENED"), (18, "CLOSED")],
        date(2024, 12, 25): [],
        date(2024, 12, 26): [(6, "OPENED")],
        date(2024, 12, 27): [(0, "CLOSED"), (6, "OPENED")],
    },
    "08:00-22:00": {
        ORDINARY_THURSDAY: [(8, "OPENED"), (22, "CLOSED")],
        date(2024, 12, 24): [(8, "OPENED"), (18, "CLOSED")],
        date(2024, 12, 25): [],
        date(2024, 12, 26): [(8, "OPENED"), (22, "CLOSED")],
        date(2024, 12, 27): [(8, "OPENED"), (22, "CLOSED")],
    },
    "09:00-18:00": {
        ORDINARY_THURSDAY: [(9, "OPENED"), (18, "CLOSED")],
        date(2024, 12, 24): [(9, "OPENED"), (18, "CLOSED")],
        date(2024, 12, 25): [],
        date(2024, 12, 26): [(9, "OPENED"), (18, "CLOSED")],
        date(2024, 12, 27): [(9, "OPENED"), (18, "CLOSED")],
    },
}


@pytest.mark.parametrize(("hours", "day"), [(h, d) for h, days in OPS.items() for d in days])
def test_store_ops_rows(hours, day):
    assert cal.store_ops_rows(hours, day) == [(h * H, op) for h, op in OPS[hours][day]]


def test_store_ops_alternate_over_a_christmas_fortnight():
    """OPENED and CLOSED alternate per store over consecutive days (§4.18 invariant)."""
    for hours in cal.OPERATING_HOURS:
        ops = []
        d = date(2024, 12, 20)
        while d <= date(2025, 1, 2):
            ops += [op for _, op in cal.store_ops_rows(hours, d)]
            d += timedelta(days=1)
        assert all(a != b for a, b in pairwise(ops)), hours


def test_unknown_hours_name_the_fix():
    with pytest.raises(ValueError, match="one of"):
        cal.open_periods("7am-11pm", ORDINARY_THURSDAY)


def test_next_opening():
    eve_night = cal.day_start_us(date(2024, 12, 24)) + 20 * H
    assert cal.next_opening("24/7", eve_night) == cal.day_start_us(date(2024, 12, 26)) + 6 * H
    early = cal.day_start_us(ORDINARY_THURSDAY) + 3 * H
    assert cal.next_opening("09:00-18:00", early) == cal.day_start_us(ORDINARY_THURSDAY) + 9 * H
    inside = cal.day_start_us(ORDINARY_THURSDAY) + 10 * H + 5
    assert cal.next_opening("09:00-18:00", inside) == inside
    late = cal.day_start_us(ORDINARY_THURSDAY) + 19 * H
    assert (
        cal.next_opening("09:00-18:00", late)
        == cal.day_start_us(ORDINARY_THURSDAY + timedelta(days=1)) + 9 * H
    )
    ts = np.array([eve_night, early, inside, late])
    assert list(cal.next_opening_vec("09:00-18:00", ts)) == [
        cal.next_opening("09:00-18:00", int(t)) for t in ts
    ]
    assert list(cal.is_open_vec("09:00-18:00", ts)) == [False, False, True, False]


def test_weather_is_seeded_and_seasonal():
    winter = [cal.weather_factor(42, date(2024, 1, 1) + timedelta(days=k), "West") for k in range(59)]
    spring = [cal.weather_factor(42, date(2024, 4, 1) + timedelta(days=k), "West") for k in range(183)]
    assert all(f == 1.0 or 0.6 <= f < 0.9 for f in winter + spring)
    assert winter == [cal.weather_factor(42, date(2024, 1, 1) + timedelta(days=k), "West") for k in range(59)]
    bad_winter = sum(f < 1 for f in winter) / len(winter)
    bad_spring = sum(f < 1 for f in spring) / len(spring)
    assert 0.1 < bad_winter < 0.45 and 0.03 < bad_spring < 0.25
    assert winter != [cal.weather_factor(43, date(2024, 1, 1) + timedelta(days=k), "West") for k in range(59)]


def test_holiday_tag_windows():
    assert cal.easter(2024) == date(2024, 3, 31) and cal.easter(2025) == date(2025, 4, 20)
    assert "CHRISTMAS" in cal.active_holiday_tags(date(2024, 12, 12))
    assert "CHRISTMAS" not in cal.active_holiday_tags(date(2024, 12, 11))
    assert "CHRISTMAS" not in cal.active_holiday_tags(date(2024, 12, 26))
    assert "NEW_YEAR" in cal.active_holiday_tags(date(2024, 12, 26))
    flags = cal.holiday_tags_window(["THANKSGIVING;CHRISTMAS", None, "EASTER"], date(2024, 11, 20))
    assert list(flags) == [True, False, False]
