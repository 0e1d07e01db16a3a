"""Public reference ranges the realism report compares the generated data with (issue 12).

Why a module of its own: a reference range is a claim about the real world, not about the model,
so it lives apart from the SQL that measures the model and from the generator that is calibrated
to it. Each range names where it comes from; where a source gives one figure (e.g. NRF's 1.6 %
shrink) the range is that figure with the tolerance stated in ``note``. The generator helpers tune
their parameters against these ranges, so changing a range is a change of the report's meaning and
belongs in its own commit with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """An inclusive range ``[low, high]`` a healthy model's metric falls into, and where it comes from."""

    low: float
    high: float
    unit: str
    source: str
    note: str = ""

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def text(self) -> str:
        """The range as printed in the report, in the metric's unit."""
        return f"{format_in_unit(self.low, self.unit)} – {format_in_unit(self.high, self.unit)}"


def format_in_unit(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.3g} %"
    if unit == "$":
        return f"${value:,.2f}"
    if unit == "x":
        return f"{value:.2f}×"
    if unit == "min":
        return f"{value:.0f} min"
    if unit == "units":
        return f"{value:,.0f}"
    return f"{value:.3g}"


CENSUS_ECOMMERCE = (
    "US Census Bureau, Quarterly Retail E-Commerce Sales (2024: e-commerce ≈ 16 % of retail sales)"
)
ONLINE_GROCERY_BASKET = (
    "US online grocery surveys (Brick Meets Click / Mercatus 2024: average online grocery order ≈ $80–130)"
)
CPM_BENCHMARKS = "public ad-pricing benchmarks as quoted in issue 12 (display / social / video CPM ≈ $2–30)"
EMAIL_COST = "email service provider price lists (a thousand marketing e-mails cost cents to a few dollars)"
OOS_STUDY = "Gruen, Corsten & Bharadwaj, Retail Out-of-Stocks (GMA/FMI 2002): grocery out-of-stock ≈ 8 %"
FILL_RATE = "retail supply-chain benchmarks (DC→store case fill rate 95–99 %)"
SEASONAL_PLAN = (
    "the model's own promise (§7.4: tagged products ×3 in their window); replenishment should follow it"
)
GROCERY_PEAKS = "US grocery industry calendars (FMI / POS panels): Wed before Thanksgiving and Dec 23 are the year's top grocery days"
RETURNS_NRF = "NRF / Appriss Retail, Consumer Returns in the Retail Industry (2023–24): returns ≈ 14–17 % of sales overall, apparel and electronics far above grocery"
HOLIDAY_RETURNS = "NRF / UPS holiday-return reports: returns build after Christmas and peak in early January; they continue before it"
FOOD_SAFETY = "FDA Food Code practice: returned refrigerated food cannot be resold (disposed as shrink)"
NRF_SHRINK = "NRF National Retail Security Survey 2023: shrink 1.6 % of sales (FY2022), 1.4 % (FY2021)"
DWELL = "grocery shopper studies (FMI U.S. Grocery Shopper Trends): an average trip lasts ≈ 20–45 minutes"
FED_DCPC = "Federal Reserve, Diary of Consumer Payment Choice 2024: cash ≈ 14–16 % of payments, concentrated under $25, rare above $100"
BLE_APP_USERS = (
    "retail app adoption surveys: a few % to ≈ 30 % of shoppers carry the retailer's app with BLE enabled"
)
WEEKDAY_SHAPE = "US grocery weekday shares (FMI / POS panels): Sunday ≈ 0.9 of Saturday"

#: Per ad channel: the CPM range in dollars per thousand impressions.
CPM_REFERENCES: dict[str, Reference] = {
    channel: Reference(2.0, 30.0, "$", CPM_BENCHMARKS)
    for channel in ("DISPLAY", "SOCIAL", "FACEBOOK", "INSTAGRAM", "YOUTUBE", "SEARCH", "GOOGLE")
}
CPM_REFERENCES["EMAIL"] = Reference(
    0.05, 10.0, "$", EMAIL_COST, "an e-mail 'impression' is a send, priced per thousand sends"
)

#: Departments whose return share has a reference (others are not judged).
RETURN_SHARE_REFERENCES: dict[str, Reference] = {
    "Grocery": Reference(0.0, 0.03, "%", RETURNS_NRF, "food is rarely returned"),
    "Clothing": Reference(0.08, 0.30, "%", RETURNS_NRF),
    "Electronics": Reference(0.05, 0.20, "%", RETURNS_NRF),
}

REFERENCES: dict[str, Reference] = {
    "online_share_of_sales": Reference(
        0.10, 0.22, "%", CENSUS_ECOMMERCE, "≈ 16 % ± a band for a grocery-led retailer"
    ),
    "avg_online_order": Reference(80.0, 130.0, "$", ONLINE_GROCERY_BASKET),
    "worst_store_zero_on_hand_share": Reference(
        0.0, 0.12, "%", OOS_STUDY, "industry average ≈ 8 %; the worst store may sit a little above"
    ),
    "worst_store_fill_rate": Reference(0.95, 1.0, "%", FILL_RATE),
    "dc_store_fill_rate": Reference(0.95, 1.0, "%", FILL_RATE),
    "dc_store_fill_rate_worst_day": Reference(
        0.90, 1.0, "%", FILL_RATE, "one bad day may dip below the 95 % norm"
    ),
    "seasonal_zero_on_hand_share": Reference(
        0.0, 0.10, "%", OOS_STUDY, "a seasonal SKU in its window should be no worse than the average shelf"
    ),
    "seasonal_lift": Reference(2.0, 4.0, "x", SEASONAL_PLAN),
    "peak_wed_before_thanksgiving": Reference(
        1.3, 2.5, "x", GROCERY_PEAKS, "vs the mean of normal Wednesdays"
    ),
    "peak_dec_21": Reference(1.15, 2.0, "x", GROCERY_PEAKS, "vs the mean of normal Saturdays"),
    "peak_dec_23": Reference(1.3, 2.5, "x", GROCERY_PEAKS, "vs the mean of normal Mondays"),
    "peak_dec_24": Reference(
        1.1, 2.0, "x", GROCERY_PEAKS, "vs the mean of normal Tuesdays, despite closing at 18:00"
    ),
    "returns_dec20_24_vs_dec1_19": Reference(
        0.5, 2.0, "x", HOLIDAY_RETURNS, "daily return value; no empty week before Christmas"
    ),
    "returns_dec26_31_vs_dec1_19": Reference(
        1.2,
        4.0,
        "x",
        HOLIDAY_RETURNS,
        "daily return value after Christmas vs early December: a spike, not a flood",
    ),
    "returns_dec26_31_share_of_sales": Reference(
        0.03, 0.12, "%", HOLIDAY_RETURNS, "return value / sales value over Dec 26–31"
    ),
    "returns_dec26_vs_dec27_31": Reference(
        0.5, 1.5, "x", HOLIDAY_RETURNS, "Dec 26 vs the mean of Dec 27–31: the spike builds, no cliff"
    ),
    "refrigerated_units_restocked": Reference(0.0, 0.0, "units", FOOD_SAFETY),
    "shrink_share_of_sales": Reference(
        0.010, 0.020, "%", NRF_SHRINK, "DAMAGED, net negative ADJUSTMENT and other loss txns at sale price"
    ),
    "footfall_receipts_profile_distance": Reference(
        0.0,
        0.05,
        "",
        DWELL,
        "total variation distance of the hourly curves at the best lead: the same shape, moved",
    ),
    "footfall_lead_minutes": Reference(
        5.0, 60.0, "min", DWELL, "the shift that best maps receipts onto entrances"
    ),
    "cash_share_under_25": Reference(0.15, 0.40, "%", FED_DCPC),
    "cash_share_over_100": Reference(0.0, 0.10, "%", FED_DCPC),
    "ble_detected_share_of_visits": Reference(0.02, 0.30, "%", BLE_APP_USERS),
    "sunday_saturday_receipts": Reference(0.80, 1.0, "x", WEEKDAY_SHAPE, "normal weekends only"),
}
