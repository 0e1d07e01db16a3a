"""The simulation calendar (contract §7.1, §7.13): day factors, holidays, weather, opening hours.

Everything here is a pure function of the date (and, for weather, of the seed): the day generator,
the inventory/online code and marketing all ask this module instead of re-deriving holidays or open
periods, so "Dec 24 closes at 18:00" or "Dec 25 nothing opens" is decided in exactly one place.

Times inside a day are integer microsecond offsets from the day's 00:00 UTC (the simulation clock
is UTC, §1.3); absolute instants are integer µs since the Unix epoch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

from retail_assets.config import MODEL_VERSION
from retail_assets.generate.rng import rng

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR
EPOCH = date(1970, 1, 1)

#: In-store receipts never start in the last 5 minutes of a UTC day (§7.3).
LAST_RECEIPT_START_US = 23 * US_PER_HOUR + 55 * US_PER_MINUTE
#: Dec 24: every store closes at 18:00, 24/7 stores included (§7.1).
CHRISTMAS_EVE_CLOSE_US = 18 * US_PER_HOUR
#: Dec 26: 24/7 stores reopen at 06:00 (§7.1).
DEC26_24x7_OPEN_US = 6 * US_PER_HOUR

# --- hour-of-day curves (§7.1) ---------------------------------------------------------------
HOUR_W_WEEKDAY = np.array(
    [0.04, 0.02, 0.02, 0.02, 0.03, 0.08, 0.20, 0.40, 0.60, 0.75, 0.90, 1.00,
     1.15, 1.05, 0.90, 0.90, 1.00, 1.20, 1.25, 1.05, 0.80, 0.55, 0.30, 0.12]
)  # fmt: skip
HOUR_W_WEEKEND = np.array(
    [0.05, 0.03, 0.02, 0.02, 0.02, 0.05, 0.12, 0.25, 0.45, 0.70, 0.95, 1.15,
     1.25, 1.25, 1.20, 1.15, 1.10, 1.05, 0.95, 0.80, 0.60, 0.40, 0.25, 0.10]
)  # fmt: skip
HOUR_W_ONLINE = np.array(
    [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.6, 0.6, 0.6, 0.9, 0.9, 0.9,
     1.1, 1.1, 1.0, 1.0, 1.0, 1.0, 1.4, 1.4, 1.4, 1.4, 0.8, 0.8]
)  # fmt: skip
for _a in (HOUR_W_WEEKDAY, HOUR_W_WEEKEND, HOUR_W_ONLINE):
    _a.setflags(write=False)

#: Reference sums over h = 8..21 (an 08:00-22:00 store), the denominators of λ (§7.3).
W_REF_WEEKDAY = 13.10
W_REF_WEEKEND = 13.00

# --- day factors (§7.1) -----------------------------------------------------------------------
# Monday .. Sunday (date.weekday()). Thursday stays 1.00 (the §7.14 reference day); the weekend shape
# follows grocery visit shares, where Sunday is ≈ 0.9 × Saturday (model 2; model 1 had 0.67, the
# ratio of a general-merchandise week). Sources: reference/calibration.md.
DOW_FACTORS = (0.85, 0.82, 0.90, 1.00, 1.12, 1.27, 1.15)
MONTH_FACTORS = (0.88, 0.90, 0.97, 1.00, 1.02, 1.00, 1.00, 1.04, 0.96, 0.99, 1.10, 1.25)
BAD_WEATHER_P_WINTER = 0.25  # Dec-Feb
BAD_WEATHER_P_OTHER = 0.12
BAD_WEATHER_RANGE = (0.60, 0.90)
WINTER_MONTHS = frozenset({12, 1, 2})


def is_weekend(day: date) -> bool:
    return day.weekday() >= 5


def dow_factor(day: date) -> float:
    return DOW_FACTORS[day.weekday()]


def month_factor(day: date) -> float:
    return MONTH_FACTORS[day.month - 1]


def hour_weights(day: date) -> np.ndarray:
    """In-store receipt weights ``w_h`` for the day (weekend curve on Sat/Sun)."""
    return HOUR_W_WEEKEND if is_weekend(day) else HOUR_W_WEEKDAY


def w_ref(day: date) -> float:
    return W_REF_WEEKEND if is_weekend(day) else W_REF_WEEKDAY


def day_start_us(day: date) -> int:
    """µs since the epoch of the day's 00:00 UTC."""
    return (day - EPOCH).days * US_PER_DAY


def day_of_us(ts_us: int) -> date:
    return EPOCH + timedelta(days=int(ts_us) // US_PER_DAY)


# --- holidays (§7.1) --------------------------------------------------------------------------


@dataclass(frozen=True)
class HolidayRule:
    """One row of the holiday table: multipliers that replace 1.0 on the days the rule covers."""

    name: str
    instore: float = 1.0
    online: float = 1.0
    marketing: float = 1.0


HOLIDAY_RULES: dict[str, HolidayRule] = {
    r.name: r
    for r in (
        HolidayRule("NEW_YEARS_DAY", instore=0.5, online=0.8),
        HolidayRule("MEMORIAL_DAY", instore=1.15),
        HolidayRule("INDEPENDENCE_DAY", instore=0.7, online=0.8),
        HolidayRule("LABOR_DAY", instore=1.15),
        HolidayRule("GRILL_WEEKEND", marketing=1.5),
        HolidayRule("THANKSGIVING_WINDOW", instore=1.15, marketing=1.7),
        # the Wednesday before Thanksgiving: the busiest grocery day of the year (≈ 1.9× a normal Wednesday)
        HolidayRule("THANKSGIVING_EVE", instore=1.9, marketing=1.7),
        HolidayRule("THANKSGIVING", instore=0.6, online=1.2, marketing=1.7),
        # a big general-merchandise day, but for a grocer below the Thanksgiving and Christmas peaks
        HolidayRule("BLACK_FRIDAY", instore=1.4, online=2.0, marketing=2.5),
        HolidayRule("CYBER_MONDAY", online=2.5, marketing=1.7),
        HolidayRule("CHRISTMAS_SEASON", online=1.3, marketing=1.5),
        # the last week before Christmas builds to Dec 23/24, the top grocery days after Thanksgiving Eve
        HolidayRule("CHRISTMAS_RUSH", instore=1.25, online=1.3, marketing=1.5),
        HolidayRule("DEC_23", instore=1.9, online=1.3, marketing=1.5),
        # Dec 24 closes at 18:00 (≈ 0.72 of a day's weights), so 2.4 makes it ≈ 1.75× a December weekday
        HolidayRule("CHRISTMAS_EVE", instore=2.4, marketing=1.5),
        HolidayRule("CHRISTMAS_DAY", instore=0.0, online=0.6),
        HolidayRule("BOXING_DAY", instore=1.3),
    )
}


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def memorial_day(year: int) -> date:
    return _last_weekday(year, 5, 0)


def labor_day(year: int) -> date:
    return _nth_weekday(year, 9, 0, 1)


def thanksgiving(year: int) -> date:
    return _nth_weekday(year, 11, 3, 4)


@lru_cache(maxsize=64)
def holidays_of_year(year: int) -> dict[date, str]:
    """Date -> holiday rule name for one year; single-day holidays win over windows."""
    out: dict[date, str] = {}
    md, ld, tg = memorial_day(year), labor_day(year), thanksgiving(year)
    jul4 = date(year, 7, 4)
    # windows first, single days overwrite them
    for d in (md - timedelta(days=2), md - timedelta(days=1), ld - timedelta(days=2), ld - timedelta(days=1)):
        out[d] = "GRILL_WEEKEND"
    sat_on_or_before = jul4 - timedelta(days=(jul4.weekday() - 5) % 7)
    sun_after = jul4 + timedelta(days=(6 - jul4.weekday()) % 7 or 7)
    out[sat_on_or_before] = "GRILL_WEEKEND"
    out[sun_after] = "GRILL_WEEKEND"
    for k in (3, 2):
        out[tg - timedelta(days=k)] = "THANKSGIVING_WINDOW"
    out[tg - timedelta(days=1)] = "THANKSGIVING_EVE"
    for dd in range(11, 18):
        out[date(year, 12, dd)] = "CHRISTMAS_SEASON"
    for dd in range(18, 23):
        out[date(year, 12, dd)] = "CHRISTMAS_RUSH"
    out[date(year, 12, 23)] = "DEC_23"
    out[date(year, 1, 1)] = "NEW_YEARS_DAY"
    out[md] = "MEMORIAL_DAY"
    out[jul4] = "INDEPENDENCE_DAY"
    out[ld] = "LABOR_DAY"
    out[tg] = "THANKSGIVING"
    out[tg + timedelta(days=1)] = "BLACK_FRIDAY"
    out[tg + timedelta(days=4)] = "CYBER_MONDAY"
    out[date(year, 12, 24)] = "CHRISTMAS_EVE"
    out[date(year, 12, 25)] = "CHRISTMAS_DAY"
    out[date(year, 12, 26)] = "BOXING_DAY"
    return out


def holiday_name(day: date) -> str | None:
    return holidays_of_year(day.year).get(day)


def is_christmas_eve(day: date) -> bool:
    return day.month == 12 and day.day == 24


def is_christmas(day: date) -> bool:
    return day.month == 12 and day.day == 25


def is_boxing_day(day: date) -> bool:
    return day.month == 12 and day.day == 26


@dataclass(frozen=True)
class DayCalendar:
    """The calendar facts of one day.

    ``instore``/``online``/``marketing`` are the *holiday* multipliers (1.0 on ordinary days). The
    combined day factors (without weather, which is per region) are ``instore_day_factor`` =
    dow × month × instore and ``online_day_factor`` = month × online (§7.1, §7.3, §7.11).
    """

    day: date
    instore: float
    online: float
    marketing: float
    stores_closed: bool
    christmas_eve: bool
    holiday_name: str | None
    weekend: bool
    dow: float
    month: float

    @property
    def instore_day_factor(self) -> float:
        return self.dow * self.month * self.instore

    @property
    def online_day_factor(self) -> float:
        return self.month * self.online

    @property
    def hour_weights(self) -> np.ndarray:
        return HOUR_W_WEEKEND if self.weekend else HOUR_W_WEEKDAY

    @property
    def w_ref(self) -> float:
        return W_REF_WEEKEND if self.weekend else W_REF_WEEKDAY


@lru_cache(maxsize=4096)
def day_calendar(day: date) -> DayCalendar:
    name = holiday_name(day)
    rule = HOLIDAY_RULES[name] if name else HolidayRule("NONE")
    return DayCalendar(
        day=day,
        instore=rule.instore,
        online=rule.online,
        marketing=rule.marketing,
        stores_closed=is_christmas(day),
        christmas_eve=is_christmas_eve(day),
        holiday_name=name,
        weekend=is_weekend(day),
        dow=dow_factor(day),
        month=month_factor(day),
    )


def marketing_multiplier(day: date) -> float:
    return day_calendar(day).marketing


# --- weather (§7.1, stream ``weather, D, region``) ---------------------------------------------


@lru_cache(maxsize=8192)
def weather_factor(seed: int, day: date, region: str, model_version: str = MODEL_VERSION) -> float:
    """In-store weather factor of (day, region): U(0.60, 0.90) on a bad-weather day, else 1.0.

    Draw order in the stream: the bad-weather uniform, then the factor uniform (always both, so
    the layout does not depend on the outcome).
    """
    g = rng(seed, "weather", day, region, model_version=model_version)
    u, f = g.random(2)
    p = BAD_WEATHER_P_WINTER if day.month in WINTER_MONTHS else BAD_WEATHER_P_OTHER
    if u < p:
        lo, hi = BAD_WEATHER_RANGE
        return float(lo + (hi - lo) * f)
    return 1.0


# --- opening hours (§7.1, §7.13) --------------------------------------------------------------


@dataclass(frozen=True)
class OperatingHours:
    """A parsed ``dim_stores.operating_hours`` value: daily session [open_hour, close_hour)."""

    text: str
    open_hour: int
    close_hour: int
    round_the_clock: bool

    @property
    def closes_at_midnight(self) -> bool:
        return self.close_hour == 24 and not self.round_the_clock


OPERATING_HOURS: dict[str, OperatingHours] = {
    "24/7": OperatingHours("24/7", 0, 24, True),
    "06:00-24:00": OperatingHours("06:00-24:00", 6, 24, False),
    "08:00-22:00": OperatingHours("08:00-22:00", 8, 22, False),
    "09:00-21:00": OperatingHours("09:00-21:00", 9, 21, False),
    "09:00-18:00": OperatingHours("09:00-18:00", 9, 18, False),
}


def parse_hours(operating_hours: str | OperatingHours) -> OperatingHours:
    if isinstance(operating_hours, OperatingHours):
        return operating_hours
    try:
        return OPERATING_HOURS[operating_hours]
    except KeyError:
        raise ValueError(
            f"operating_hours {operating_hours!r} is not a known schedule; use one of "
            f"{sorted(OPERATING_HOURS)} (contract §1.6)."
        ) from None


@lru_cache(maxsize=1024)
def _open_periods(hours: str, day: date) -> tuple[tuple[int, int], ...]:
    oh = parse_hours(hours)
    if is_christmas(day):
        return ()
    if oh.round_the_clock:
        start, end = (DEC26_24x7_OPEN_US if is_boxing_day(day) else 0), US_PER_DAY
    else:
        start, end = oh.open_hour * US_PER_HOUR, oh.close_hour * US_PER_HOUR
    if is_christmas_eve(day):
        end = min(end, CHRISTMAS_EVE_CLOSE_US)
    return ((start, end),) if end > start else ()


def open_periods(operating_hours: str, day: date) -> list[tuple[int, int]]:
    """Open sessions of day D as half-open [start, end) µs offsets from D 00:00 (§7.13).

    A 24/7 store is open [0, 24h) on ordinary days; Dec 24 every store closes at 18:00; Dec 25
    there is no session; Dec 26 24/7 stores open at 06:00.
    """
    return list(_open_periods(parse_hours(operating_hours).text, day))


@lru_cache(maxsize=1024)
def _open_fraction(hours: str, day: date) -> np.ndarray:
    frac = np.zeros(24)
    starts = np.arange(24, dtype=np.int64) * US_PER_HOUR
    ends = np.minimum(starts + US_PER_HOUR, LAST_RECEIPT_START_US)
    for a, b in _open_periods(hours, day):
        overlap = np.minimum(ends, b) - np.maximum(starts, a)
        frac += np.clip(overlap, 0, None) / US_PER_HOUR
    frac.setflags(write=False)
    return frac


def open_fraction_by_hour(operating_hours: str, day: date) -> np.ndarray:
    """Fraction of each hour h inside an open period and before 23:55 (``open(s,h)`` of §7.3)."""
    return _open_fraction(parse_hours(operating_hours).text, day)


def open_fraction_matrix(operating_hours: Iterable[str], day: date) -> np.ndarray:
    """``open(s,h)`` for many stores at once: shape (n_stores, 24)."""
    hours = np.asarray(list(operating_hours), dtype=object)
    out = np.zeros((len(hours), 24))
    for kind in np.unique(hours) if len(hours) else ():
        out[hours == kind] = open_fraction_by_hour(str(kind), day)
    return out


def coverage(operating_hours: str, day: date) -> float:
    """``cov_s`` = Σ_h w_h · open(s,h) / W_ref: the store's share of an 08:00-22:00 day (§7.3)."""
    return float(hour_weights(day) @ open_fraction_by_hour(operating_hours, day) / w_ref(day))


def coverage_ordinary(operating_hours: str, weekend: bool = False) -> float:
    """Coverage on an ordinary (non-holiday) weekday or weekend day, for calibration and docs."""
    # 2024-04-11 is an ordinary Thursday, 2024-04-13 an ordinary Saturday.
    return coverage(operating_hours, date(2024, 4, 13) if weekend else date(2024, 4, 11))


@lru_cache(maxsize=1024)
def _store_ops(hours: str, day: date) -> tuple[tuple[int, str], ...]:
    oh = parse_hours(hours)
    if is_christmas(day):
        return ()
    rows: list[tuple[int, str]] = []
    # A 06:00-24:00 session ending at 24:00 is recorded at 00:00 of the next day. It exists on
    # every day except after Dec 24 (closed at 18:00) and after Dec 25 (no session); on
    # start_date it is emitted too (the previous day's session is assumed, §7.13).
    if oh.closes_at_midnight and not (is_christmas(day) or is_boxing_day(day)):
        rows.append((0, "CLOSED"))
    for start, end in _open_periods(oh.text, day):
        if start > 0:
            rows.append((start, "OPENED"))
        if end < US_PER_DAY:
            rows.append((end, "CLOSED"))
    return tuple(rows)


def store_ops_rows(operating_hours: str, day: date) -> list[tuple[int, str]]:
    """fact_store_ops rows of one store on day D: (µs offset from D 00:00, OPENED/CLOSED), in time order."""
    return list(_store_ops(parse_hours(operating_hours).text, day))


# --- instants: open checks and next opening (BOPIS, returns, picks) -----------------------------


def open_period_at(operating_hours: str, ts_us: int) -> tuple[int, int] | None:
    """The absolute [start, end) µs of the open period containing instant ts, or None if closed."""
    day = day_of_us(ts_us)
    base = day_start_us(day)
    off = int(ts_us) - base
    for a, b in _open_periods(parse_hours(operating_hours).text, day):
        if a <= off < b:
            return base + a, base + b
    return None


def is_open_at(operating_hours: str, ts_us: int) -> bool:
    return open_period_at(operating_hours, ts_us) is not None


def next_open_period(operating_hours: str, ts_us: int, max_days: int = 14) -> tuple[int, int]:
    """The absolute [start, end) of the first open period that ends after ts (containing ts or later).

    Periods are per UTC day, so for a 24/7 store the period ends at the day's midnight.
    """
    text = parse_hours(operating_hours).text
    day = day_of_us(ts_us)
    for k in range(max_days + 1):
        d = day + timedelta(days=k)
        base = day_start_us(d)
        for a, b in _open_periods(text, d):
            if base + b > ts_us:
                return max(base + a, int(ts_us)), base + b
    raise ValueError(f"no open period for {operating_hours!r} within {max_days} days after {ts_us}")


def next_opening(operating_hours: str, ts_us: int) -> int:
    """The first instant ≥ ts at which the store is open (ts itself when it is open)."""
    return next_open_period(operating_hours, ts_us)[0]


def next_opening_vec(operating_hours: str, ts_us: np.ndarray) -> np.ndarray:
    """Vectorised ``next_opening`` for one schedule; loops only over distinct days."""
    ts = np.asarray(ts_us, dtype=np.int64)
    out = np.empty_like(ts)
    days = ts // US_PER_DAY
    for dd in np.unique(days):
        sel = days == dd
        base = int(dd) * US_PER_DAY
        t = ts[sel]
        res = np.full(t.shape, -1, dtype=np.int64)
        # candidates: periods of this day and the following days, in time order
        for k in range(15):
            d = EPOCH + timedelta(days=int(dd) + k)
            b0 = base + k * US_PER_DAY
            for a, b in _open_periods(parse_hours(operating_hours).text, d):
                todo = res < 0
                hit = todo & (t < b0 + b)
                res[hit] = np.maximum(t[hit], b0 + a)
            if (res >= 0).all():
                break
        out[sel] = res
    return out


def is_open_vec(operating_hours: str, ts_us: np.ndarray) -> np.ndarray:
    """Boolean array: is the store open at each instant."""
    ts = np.asarray(ts_us, dtype=np.int64)
    return next_opening_vec(operating_hours, ts) == ts


# --- holiday tags of products (§3.6 tags, §7.4 tag boost) ---------------------------------------

#: A tagged product is boosted in the 14 days up to and including its holiday (§7.4).
TAG_WINDOW_DAYS = 14


def easter(year: int) -> date:
    """Western Easter Sunday (anonymous Gregorian computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


#: Holiday tag -> its date in a given year. The product overlay reference may only use these tags.
HOLIDAY_TAG_DATES: dict[str, object] = {
    "NEW_YEAR": lambda y: date(y, 1, 1),
    "SUPER_BOWL": lambda y: _nth_weekday(y, 2, 6, 2),
    "VALENTINES_DAY": lambda y: date(y, 2, 14),
    "EASTER": easter,
    "MOTHERS_DAY": lambda y: _nth_weekday(y, 5, 6, 2),
    "MEMORIAL_DAY": memorial_day,
    "FATHERS_DAY": lambda y: _nth_weekday(y, 6, 6, 3),
    "INDEPENDENCE_DAY": lambda y: date(y, 7, 4),
    "LABOR_DAY": labor_day,
    "HALLOWEEN": lambda y: date(y, 10, 31),
    "THANKSGIVING": thanksgiving,
    "CHRISTMAS": lambda y: date(y, 12, 25),
}


def holiday_tag_date(tag: str, year: int) -> date:
    try:
        return HOLIDAY_TAG_DATES[tag](year)  # type: ignore[operator]
    except KeyError:
        raise ValueError(f"unknown holiday tag {tag!r}; known tags: {sorted(HOLIDAY_TAG_DATES)}") from None


@lru_cache(maxsize=1024)
def active_holiday_tags(day: date) -> frozenset[str]:
    """Tags whose window [holiday − 13 days, holiday] contains the day (NEW_YEAR's window spans Dec)."""
    active = set()
    for tag in HOLIDAY_TAG_DATES:
        for year in (day.year, day.year + 1):
            h = holiday_tag_date(tag, year)
            if timedelta(0) <= h - day < timedelta(days=TAG_WINDOW_DAYS):
                active.add(tag)
    return frozenset(active)


def holiday_tags_window(tags: Iterable[str | None], day: date) -> np.ndarray:
    """Per product: does its ``tags`` value (``;``-separated, or None) contain a tag active on day?"""
    active = active_holiday_tags(day)
    cache: dict[str | None, bool] = {}
    out = []
    for t in tags:
        if t not in cache:
            cache[t] = bool(t) and any(x in active for x in str(t).split(";"))
        out.append(cache[t])
    return np.array(out, dtype=bool)
