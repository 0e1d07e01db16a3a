"""Marketing campaigns, ad impressions and campaign attribution (contract §7.12, §7.4, §4.13).

Marketing is stateless: campaigns depend only on the ``campaign, D`` stream of their start day and
impressions only on the ``impressions, D, campaign_id_ext, channel`` streams, never on inventory or
on earlier generated days. So any day can be produced in any order, and the receipts of day D
attribute to impressions of D − 7 … D recomputed on the fly (cached per process so that the 86
stores of a day share one index instead of rebuilding 8 days of impressions each).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

import numpy as np
import pyarrow as pa

from retail_assets.config import DatasetSettings
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.generate import calendar as cal
from retail_assets.generate.dimensions import (
    AD_ID_PREFIX,
    customer_device_ids,
    largest_remainder,
    settings_key,
)
from retail_assets.generate.ids import join, ymd, zpad
from retail_assets.generate.money import round_half_away
from retail_assets.generate.rng import rng
from retail_assets.generate.store_context import customer_index
from retail_assets.generate.table_build import build_fact_table

# --- rules as data (§7.12) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignTypeRule:
    name: str
    channels: tuple[str, ...]
    duration_days: int
    daily_impressions: int  # × sf


CAMPAIGN_TYPES: dict[str, CampaignTypeRule] = {
    r.name: r
    for r in (
        CampaignTypeRule("SEASONAL_SALE", ("FACEBOOK", "GOOGLE", "EMAIL"), 7, 1000),
        CampaignTypeRule("PRODUCT_LAUNCH", ("INSTAGRAM", "YOUTUBE", "DISPLAY"), 14, 2000),
        CampaignTypeRule("LOYALTY_PROGRAM", ("EMAIL", "SOCIAL"), 30, 500),
        CampaignTypeRule("FLASH_SALE", ("SOCIAL", "SEARCH"), 1, 5000),
    )
}
TYPE_ORDER = tuple(CAMPAIGN_TYPES)
CAMPAIGN_START_P = 0.90
DEFAULT_TYPE_WEIGHTS = (1, 1, 1, 1)
TYPE_WEIGHTS_BY_MONTH = {11: (3, 1, 2, 4), 12: (3, 1, 2, 4), 8: (2, 3, 1, 2), 9: (2, 3, 1, 2)}
MAX_DURATION_DAYS = max(r.duration_days for r in CAMPAIGN_TYPES.values())
MIN_IMPRESSIONS_PER_CHANNEL = 100
DAILY_CAP = 8950
DAILY_CAP_FLOOR = 1000
CAP_MULTIPLIER_CLAMP = (0.5, 2.0)
CREATIVES_PER_CHANNEL = 3
#: device, probability, cost multiplier
DEVICES = (("MOBILE", 0.60, 1.0), ("DESKTOP", 0.30, 1.5), ("TABLET", 0.10, 1.2))
#: Cost per thousand impressions (CPM) in dollars, (min, max), by channel: 2024 benchmark ranges
#: (reference/calibration.md). Model 1 used these magnitudes as dollars *per impression* (CPM
#: $100-5,250), which made every campaign cost thousands of times its reach.
CHANNEL_CPM = {
    "EMAIL": (1.50, 3.00),
    "DISPLAY": (2.00, 6.00),
    "SOCIAL": (6.00, 12.00),
    "SEARCH": (12.00, 28.00),
    "FACEBOOK": (7.00, 14.00),
    "GOOGLE": (10.00, 25.00),
    "INSTAGRAM": (6.00, 12.00),
    "YOUTUBE": (5.00, 12.00),
}
#: dollars per impression, (min, max): the CPM range / 1000 (one fact_marketing row = one impression)
CHANNEL_COST = {channel: (lo / 1000, hi / 1000) for channel, (lo, hi) in CHANNEL_CPM.items()}
ATTRIBUTION_WINDOW_US = 7 * cal.US_PER_DAY
ATTRIBUTION_DAYS = 7


@dataclass(frozen=True)
class Campaign:
    campaign_id_ext: str
    campaign_type: str
    start_date: date

    @property
    def rule(self) -> CampaignTypeRule:
        return CAMPAIGN_TYPES[self.campaign_type]

    @property
    def end_date(self) -> date:
        """Last active day (inclusive)."""
        return self.start_date + timedelta(days=self.rule.duration_days - 1)

    @property
    def channels(self) -> tuple[str, ...]:
        return self.rule.channels

    @property
    def body(self) -> str:
        """The id without ``CMP-`` (``20240405-01``), used in creative ids."""
        return self.campaign_id_ext[4:]


def _round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


# --- campaigns ---------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _campaigns_started(seed: int, model_version: str, day: date) -> tuple[Campaign, ...]:
    g = rng(seed, "campaign", day, model_version=model_version)
    u_start, u_type = g.random(2)
    if u_start >= CAMPAIGN_START_P:
        return ()
    w = np.array(TYPE_WEIGHTS_BY_MONTH.get(day.month, DEFAULT_TYPE_WEIGHTS), dtype=np.float64)
    t = int(min(np.searchsorted(np.cumsum(w) / w.sum(), u_type, side="right"), len(w) - 1))
    return (Campaign(f"CMP-{ymd(day)}-01", TYPE_ORDER[t], day),)


def campaigns_started(settings: DatasetSettings, day: date) -> list[Campaign]:
    """Campaigns starting on the day (0 or 1; the process also runs before start_date)."""
    return list(_campaigns_started(int(settings.seed), settings.model_version, day))


def active_campaigns(settings: DatasetSettings, day: date) -> list[Campaign]:
    """Campaigns active on the day (started D − 29 … D and not yet ended), by campaign_id_ext."""
    out: list[Campaign] = []
    for k in range(MAX_DURATION_DAYS - 1, -1, -1):
        for c in campaigns_started(settings, day - timedelta(days=k)):
            if c.end_date >= day:
                out.append(c)
    return out


def daily_cap(settings: DatasetSettings, day: date) -> int:
    lo, hi = CAP_MULTIPLIER_CLAMP
    m = min(max(cal.marketing_multiplier(day), lo), hi)
    return _round_half_up(max(_dec(DAILY_CAP_FLOOR), DAILY_CAP * _dec(m)) * _dec(settings.scale_factor))


def impressions_per_campaign(settings: DatasetSettings, day: date, campaigns: list[Campaign]) -> np.ndarray:
    """round(max(100 × channels, daily × multiplier) × sf) per campaign, scaled down to the daily cap."""
    m = _dec(cal.marketing_multiplier(day))
    sf = _dec(settings.scale_factor)
    counts = np.array(
        [
            _round_half_up(
                max(Decimal(MIN_IMPRESSIONS_PER_CHANNEL * len(c.channels)), c.rule.daily_impressions * m) * sf
            )
            for c in campaigns
        ],
        dtype=np.int64,
    )
    cap = daily_cap(settings, day)
    if counts.sum() > cap:
        # campaigns are in campaign_id_ext order, so ties go to the earlier campaign
        counts = largest_remainder(cap, counts, np.arange(len(counts)))
    return counts


def split_over_channels(total: int, n_channels: int) -> np.ndarray:
    """Even split; the remainder goes to the first channels in the listed order."""
    base, rem = divmod(int(total), n_channels)
    return np.array([base + (1 if i < rem else 0) for i in range(n_channels)], dtype=np.int64)


def cost_cents_of(cost_1e4: np.ndarray) -> np.ndarray:
    """``cost_cents`` = cost × 100 rounded half away from zero, from the exact ten-thousandths (§1.4)."""
    return round_half_away(np.asarray(cost_1e4, dtype=np.int64), 100)


# --- impressions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Impressions:
    """Raw impressions of one day in output order (event_ts, campaign, channel, draw)."""

    ts_us: np.ndarray
    customer_id: np.ndarray
    campaign: np.ndarray  # campaign_id_ext
    campaign_type: np.ndarray
    channel: np.ndarray
    creative: np.ndarray  # 1..3
    device: np.ndarray  # index into DEVICES
    cost_1e4: np.ndarray


_EMPTY = _Impressions(
    *(np.zeros(0, dtype=np.int64) for _ in range(2)),
    *(np.zeros(0, dtype=np.str_) for _ in range(3)),
    *(np.zeros(0, dtype=np.int64) for _ in range(3)),
)


def _draw_block(
    seed: int, model_version: str, day: date, c: Campaign, channel: str, n: int, n_customers: int
):
    """Draws of one (campaign, channel) block, in the documented column order."""
    g = rng(seed, "impressions", day, c.campaign_id_ext, channel, model_version=model_version)
    customer = g.integers(1, n_customers + 1, n)
    creative = g.integers(1, CREATIVES_PER_CHANNEL + 1, n)
    u_device = g.random(n)
    u_hour = g.random(n)
    offset_in_hour = g.integers(0, cal.US_PER_HOUR, n)
    u_cost = g.random(n)
    dev_cum = np.cumsum([p for _, p, _ in DEVICES])
    device = np.minimum(np.searchsorted(dev_cum, u_device, side="right"), len(DEVICES) - 1)
    hour_cum = np.cumsum(cal.HOUR_W_ONLINE) / cal.HOUR_W_ONLINE.sum()
    hour = np.minimum(np.searchsorted(hour_cum, u_hour, side="right"), 23)
    ts = cal.day_start_us(day) + hour * cal.US_PER_HOUR + offset_in_hour
    lo, hi = CHANNEL_COST[channel]
    mult = np.array([m for _, _, m in DEVICES])[device]
    cost_1e4 = np.floor((lo + (hi - lo) * u_cost) * mult * 10_000 + 0.5).astype(np.int64)
    return ts, customer, creative, device, cost_1e4


@lru_cache(maxsize=2)
def _impressions(key: tuple, day: date, n_customers: int) -> _Impressions:
    seed, sf, start_date, model_version, _ = key
    if day < start_date:
        return _EMPTY
    settings = DatasetSettings(seed=seed, scale_factor=sf, start_date=start_date, model_version=model_version)
    campaigns = active_campaigns(settings, day)
    counts = impressions_per_campaign(settings, day, campaigns)
    parts = []
    for c, total in zip(campaigns, counts, strict=True):
        for channel, n in zip(c.channels, split_over_channels(int(total), len(c.channels)), strict=True):
            if n == 0:
                continue
            ts, cust, creative, device, cost = _draw_block(
                seed, model_version, day, c, channel, int(n), n_customers
            )
            parts.append((ts, cust, np.full(n, c.campaign_id_ext), np.full(n, c.campaign_type), np.full(n, channel),
                          creative, device, cost, np.arange(n)))  # fmt: skip
    if not parts:
        return _EMPTY
    cols = [np.concatenate([p[i] for p in parts]) for i in range(9)]
    ts, cust, camp, ctype, chan, creative, device, cost, draw = cols
    order = np.lexsort((draw, chan, camp, ts))
    return _Impressions(
        ts_us=ts[order],
        customer_id=cust[order],
        campaign=camp[order],
        campaign_type=ctype[order],
        channel=chan[order],
        creative=creative[order],
        device=device[order],
        cost_1e4=cost[order],
    )


def impressions_for_day(settings: DatasetSettings, dims: dict[str, pa.Table], day: date) -> pa.Table:
    """fact_marketing rows of the day, sorted by (event_ts, impression_id_ext); empty before start_date."""
    customers = customer_index(dims)
    imp = _impressions(settings_key(settings), day, customers.n_customers)
    n = len(imp.ts_us)
    if n == 0:
        return FACT_TABLES["fact_marketing"].arrow_schema.empty_table()
    app_user = customers.app_user_of(imp.customer_id)
    creative_ids = join(
        "CRV-", np.strings.slice(imp.campaign, 4, None), "-", imp.channel, "-", imp.creative.astype(np.str_)
    )
    return build_fact_table(
        "fact_marketing",
        {
            "event_ts": imp.ts_us,
            "impression_id_ext": join(f"IMP-{ymd(day)}-", zpad(np.arange(1, n + 1), 7)),
            "campaign_id_ext": imp.campaign,
            "campaign_type": imp.campaign_type,
            "channel": imp.channel,
            "creative_id_ext": creative_ids,
            "device_type": np.array([d for d, _, _ in DEVICES])[imp.device],
            "customer_ad_id_ext": customer_device_ids(AD_ID_PREFIX, imp.customer_id),
            "customer_id": pa.array(imp.customer_id, type=pa.int64(), mask=~app_user),
            "cost": imp.cost_1e4,
            "cost_cents": cost_cents_of(imp.cost_1e4),
        },
        sort=False,  # already in (event_ts, impression_id_ext) order by construction
    )


# --- attribution (§7.4) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AttributionIndex:
    """Impressions of D − 7 … D sorted by (customer, ts) as one composite int64 key, with each one's
    campaign as a code into ``campaigns``.

    Why this lean: every shard worker holds it for the whole chain (a store serves anyone), and at
    sf 100 the window holds 5.6 M impressions. Kept as the impressions themselves (three int64 and
    a 15-character string each) and next to the eight days' cached impressions, it cost ≈ 1.6 GiB
    per worker; 12 bytes an impression is ≈ 65 MiB. The customer and the time are in the key.
    """

    key: np.ndarray  # customer_id × SPAN + (ts − base)
    campaign_code: np.ndarray  # int32 index into ``campaigns``
    campaigns: np.ndarray  # the window's campaign_id_ext values
    base_us: int


_SPAN = 16 * cal.US_PER_DAY  # > the 8-day window plus the receipt day


@lru_cache(maxsize=ATTRIBUTION_DAYS + 2)
def _attribution_day(key: tuple, day: date, n_customers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One day's impressions as attribution needs them: the key ``customer_id × SPAN + (ts − the
    day's midnight)``, a campaign code and the campaigns. Cached for the window's days (a backfill
    slides it by a day); the full impressions are not kept (12 bytes an impression instead of ≈ 190)."""
    imp = _impressions.__wrapped__(key, day, n_customers)  # type: ignore[attr-defined]
    campaigns, codes = np.unique(imp.campaign, return_inverse=True)
    return imp.customer_id * _SPAN + (imp.ts_us - cal.day_start_us(day)), codes.astype(np.int32), campaigns


@lru_cache(maxsize=2)
def _attribution_index(key: tuple, day: date, n_customers: int) -> _AttributionIndex:
    start_date = key[2]
    first = max(start_date, day - timedelta(days=ATTRIBUTION_DAYS))
    days = [first + timedelta(days=k) for k in range((day - first).days + 1)] if day >= start_date else []
    base = cal.day_start_us(day) - ATTRIBUTION_DAYS * cal.US_PER_DAY
    parts = [(d, *_attribution_day(key, d, n_customers)) for d in days]
    if sum(len(p[1]) for p in parts) == 0:
        return _AttributionIndex(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.str_), base)
    campaigns = np.unique(np.concatenate([p[3] for p in parts]))
    # re-based on the window's base: the day's midnight − base is within the SPAN, so the key stays
    # customer × SPAN + (ts − base), ordered by (customer, ts)
    keys = np.concatenate([k + (cal.day_start_us(d) - base) for d, k, _, _ in parts])
    code = np.concatenate([np.searchsorted(campaigns, names).astype(np.int32)[c] for _, _, c, names in parts])
    # stable: among equal (customer, ts) the later-listed impression counts as latest
    order = np.argsort(keys, kind="stable")
    return _AttributionIndex(keys[order], code[order], campaigns, base)


def attribute_receipts(
    settings: DatasetSettings,
    dims: dict[str, pa.Table],
    day: date,
    customer_ids: np.ndarray,
    receipt_ts_us: np.ndarray,
) -> np.ndarray:
    """campaign_id_ext of the latest impression to each customer in [ts − 7 days, ts), else None.

    Vectorised: one ``searchsorted`` on the (customer, ts) index of the day's window.
    Returns an object array of str / None, aligned with the inputs.
    """
    cust = np.asarray(customer_ids, dtype=np.int64)
    ts = np.asarray(receipt_ts_us, dtype=np.int64)
    out = np.full(len(cust), None, dtype=object)
    if len(cust) == 0:
        return out
    index = _attribution_index(settings_key(settings), day, customer_index(dims).n_customers)
    if len(index.key) == 0:
        return out
    rel = ts - index.base_us
    if rel.min() < 0 or rel.max() >= _SPAN:
        raise ValueError(
            f"receipt timestamps must lie on {day.isoformat()} (UTC) to be attributed with that day's index"
        )
    pos = (
        np.searchsorted(index.key, cust * _SPAN + rel, side="left") - 1
    )  # last impression strictly before ts
    ok = pos >= 0
    p = np.where(ok, pos, 0)
    found = index.key[p]
    ok &= (found // _SPAN == cust) & (found % _SPAN + index.base_us >= ts - ATTRIBUTION_WINDOW_US)
    out[ok] = index.campaigns[index.campaign_code[p[ok]]]
    return out
