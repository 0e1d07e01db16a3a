"""Marketing (contract §7.12, §4.13) and campaign attribution (§7.4)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pyarrow as pa
import pytest

from retail_assets.config import DatasetSettings
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.generate import calendar as cal
from retail_assets.generate import marketing as mk
from retail_assets.generate.dimensions import build_dimensions
from retail_assets.generate.money import decimal_unscaled

TINY = DatasetSettings(scale_factor=0.01)
FULL = DatasetSettings(scale_factor=1.0)
START = TINY.start_date  # 2024-01-01


@pytest.fixture(scope="module")
def dims() -> dict[str, pa.Table]:
    return build_dimensions(TINY)


def _campaign(kind: str, start: date, n: int = 1) -> mk.Campaign:
    return mk.Campaign(f"CMP-{start:%Y%m%d}-{n:02}", kind, start)


def test_campaign_process_is_stationary_and_seasonal():
    days = [date(2023, 1, 1) + timedelta(days=k) for k in range(730)]
    started = [c for d in days for c in mk.campaigns_started(FULL, d)]
    assert 0.86 < len(started) / len(days) < 0.94
    assert all(re.fullmatch(r"CMP-\d{8}-01", c.campaign_id_ext) for c in started)
    holiday = Counter(c.campaign_type for c in started if c.start_date.month in (11, 12))
    other = Counter(c.campaign_type for c in started if c.start_date.month in (3, 4, 5, 6))
    assert holiday["FLASH_SALE"] > holiday["PRODUCT_LAUNCH"]  # 4 : 1 in Nov-Dec
    assert other["FLASH_SALE"] < 2 * other["PRODUCT_LAUNCH"]  # 1 : 1 otherwise
    # before start_date the process runs too, so the first day already has long-running campaigns
    assert any(c.start_date < START for c in mk.active_campaigns(TINY, START))


def test_active_campaigns_respect_duration():
    for d in (date(2024, 4, 11), date(2024, 12, 20)):
        for c in mk.active_campaigns(FULL, d):
            assert c.start_date <= d <= c.end_date
        ids = [c.campaign_id_ext for c in mk.active_campaigns(FULL, d)]
        assert ids == sorted(ids)


@pytest.mark.parametrize(
    ("day", "multiplier"),
    [(date(2024, 4, 11), 1.0), (date(2024, 11, 29), 2.5), (date(2024, 12, 24), 1.5), (date(2024, 12, 25), 1.0),
     (date(2024, 11, 26), 1.7), (date(2024, 12, 15), 1.5)],
)  # fmt: skip
def test_marketing_multipliers_drive_impressions(day, multiplier):
    assert cal.marketing_multiplier(day) == multiplier
    one = [_campaign("SEASONAL_SALE", day)]
    assert list(mk.impressions_per_campaign(FULL, day, one)) == [
        int(Decimal(1000) * Decimal(str(multiplier)))
    ]
    flash = [_campaign("LOYALTY_PROGRAM", day)]  # max(100 × 2 channels, 500 × m)
    assert list(mk.impressions_per_campaign(FULL, day, flash)) == [max(200, round(500 * multiplier))]


def test_daily_cap_and_rounding():
    assert mk.daily_cap(FULL, date(2024, 4, 11)) == 8950
    assert mk.daily_cap(FULL, date(2024, 11, 29)) == 17900  # multiplier clamped to 2.0
    assert mk.daily_cap(TINY, date(2024, 4, 11)) == 90  # 89.5 rounds half away from zero
    assert mk.daily_cap(DatasetSettings(scale_factor=0.05), date(2024, 4, 11)) == 448  # 447.5


def test_cap_scales_every_campaign_down_by_largest_remainder():
    day = date(2024, 4, 11)
    camps = [_campaign("FLASH_SALE", day - timedelta(days=k)) for k in range(3)]  # 3 × 5000 > 8950
    camps.sort(key=lambda c: c.campaign_id_ext)
    counts = mk.impressions_per_campaign(FULL, day, camps)
    assert counts.sum() == 8950
    assert list(counts) == [2984, 2983, 2983]  # 8950 / 3: the remainder goes to the earliest id


def test_channel_split_remainder_to_first_channels():
    assert list(mk.split_over_channels(1000, 3)) == [334, 333, 333]
    assert list(mk.split_over_channels(2501, 2)) == [1251, 1250]


def test_cost_cents_rounds_half_away_on_exact_half_cents():
    cost_1e4 = np.array([12650, -12650, 12649, 12550, 50, 149, 0])
    assert list(mk.cost_cents_of(cost_1e4)) == [127, -127, 126, 126, 1, 1, 0]


def test_impression_table(dims):
    day = date(2024, 11, 29)
    t = mk.impressions_for_day(TINY, dims, day)
    assert t.schema == FACT_TABLES["fact_marketing"].arrow_schema
    assert 0 < t.num_rows <= mk.daily_cap(TINY, day)
    rows = t.to_pylist()
    keys = [(r["event_ts"], r["impression_id_ext"]) for r in rows]
    assert keys == sorted(keys)
    assert [r["impression_id_ext"] for r in rows] == [f"IMP-20241129-{k:07}" for k in range(1, len(rows) + 1)]
    assert all(r["event_date"] == day for r in rows)
    cust = dims["dim_customers"]
    ad = dict(zip(cust.column("ad_id_ext").to_pylist(), cust.column("customer_id").to_pylist(), strict=True))
    app = dict(zip(cust.column("customer_id").to_pylist(), cust.column("app_user").to_pylist(), strict=True))
    active = {c.campaign_id_ext: c for c in mk.active_campaigns(TINY, day)}
    for r in rows:
        cid = ad[r["customer_ad_id_ext"]]
        assert r["customer_id"] == (cid if app[cid] else None)
        c = active[r["campaign_id_ext"]]
        assert r["campaign_type"] == c.campaign_type and r["channel"] in c.channels
        assert re.fullmatch(rf"CRV-{c.body}-{r['channel']}-[123]", r["creative_id_ext"])
        lo, hi = mk.CHANNEL_COST[r["channel"]]
        mult = {d: m for d, _, m in mk.DEVICES}[r["device_type"]]
        assert (
            Decimal(str(lo * mult)) - Decimal("0.0001")
            <= r["cost"]
            <= Decimal(str(hi * mult)) + Decimal("0.0001")
        )
        assert r["cost_cents"] == int((r["cost"] * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert (decimal_unscaled(t.column("cost")) >= 0).all()


def test_no_impressions_before_start_date(dims):
    assert mk.impressions_for_day(TINY, dims, START - timedelta(days=1)).num_rows == 0
    assert mk.impressions_for_day(TINY, dims, START).num_rows > 0


def test_impressions_do_not_depend_on_the_cache(dims):
    day = date(2024, 3, 5)
    first = mk.impressions_for_day(TINY, dims, day)
    mk._impressions.cache_clear()
    assert mk.impressions_for_day(TINY, dims, day).equals(first)


def _us(ts: datetime) -> int:
    """Exact µs since the epoch (no float seconds)."""
    return (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _brute_force(dims, day, customers, ts):
    """Reference attribution straight from the fact_marketing tables of D − 7 … D."""
    tables = [
        mk.impressions_for_day(TINY, dims, day - timedelta(days=k))
        for k in range(8)
        if day - timedelta(days=k) >= START
    ]
    imp = pa.concat_tables(tables).to_pylist()
    ad_to_id = dict(
        zip(
            dims["dim_customers"].column("ad_id_ext").to_pylist(),
            dims["dim_customers"].column("customer_id").to_pylist(),
            strict=True,
        )
    )
    out = []
    for c, t in zip(customers, ts, strict=True):
        best = None
        for r in imp:
            its = _us(r["event_ts"])
            in_window = ad_to_id[r["customer_ad_id_ext"]] == c and t - mk.ATTRIBUTION_WINDOW_US <= its < t
            if in_window and (best is None or its >= best[0]):
                best = (its, r["campaign_id_ext"])
        out.append(best[1] if best else None)
    return out


def test_attribution_picks_the_latest_earlier_impression(dims):
    day = date(2024, 1, 9)
    window = pa.concat_tables([mk.impressions_for_day(TINY, dims, day - timedelta(days=k)) for k in range(8)])
    ad_to_id = dict(
        zip(
            dims["dim_customers"].column("ad_id_ext").to_pylist(),
            dims["dim_customers"].column("customer_id").to_pylist(),
            strict=True,
        )
    )
    imp_cust = np.array([ad_to_id[a] for a in window.column("customer_ad_id_ext").to_pylist()])
    day0 = cal.day_start_us(day)
    g = np.random.default_rng(0)
    customers = np.concatenate([imp_cust[:60], g.integers(1, 4031, 60)])
    ts = day0 + g.integers(0, cal.US_PER_DAY, len(customers))
    got = mk.attribute_receipts(TINY, dims, day, customers, ts)
    assert list(got) == _brute_force(dims, day, customers, ts)
    assert any(x is not None for x in got)


def test_attribution_window_edges(dims):
    day = date(2024, 1, 9)
    first_day = mk.impressions_for_day(TINY, dims, date(2024, 1, 2))
    ad_to_id = dict(
        zip(
            dims["dim_customers"].column("ad_id_ext").to_pylist(),
            dims["dim_customers"].column("customer_id").to_pylist(),
            strict=True,
        )
    )
    # pick an impression whose customer has no other impression in Jan 1 .. Jan 9
    window = pa.concat_tables(
        [mk.impressions_for_day(TINY, dims, date(2024, 1, 1) + timedelta(days=k)) for k in range(9)]
    )
    counts = Counter(window.column("customer_ad_id_ext").to_pylist())
    row = next(r for r in first_day.to_pylist() if counts[r["customer_ad_id_ext"]] == 1)
    cust = ad_to_id[row["customer_ad_id_ext"]]
    its = _us(row["event_ts"])
    seven = mk.ATTRIBUTION_WINDOW_US
    # exactly 7 days later (on Jan 9) the impression is still inside [ts − 7 days, ts); 1 µs later it is not
    edge = mk.attribute_receipts(
        TINY, dims, day, np.array([cust, cust]), np.array([its + seven, its + seven + 1])
    )
    assert list(edge) == [row["campaign_id_ext"], None]
    # same instant as the impression: not earlier, so not attributed
    same = mk.attribute_receipts(
        TINY, dims, date(2024, 1, 2), np.array([cust, cust]), np.array([its, its + 1])
    )
    assert list(same) == [None, row["campaign_id_ext"]]


def test_attribution_ignores_days_before_start(dims):
    got = mk.attribute_receipts(TINY, dims, START, np.array([1, 2]), np.array([cal.day_start_us(START)] * 2))
    assert list(got) == [None, None]
    empty = mk.attribute_receipts(
        TINY, dims, START, np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    )
    assert len(empty) == 0
