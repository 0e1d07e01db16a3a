"""The headline metrics of issue 12, each a DuckDB query over the relations of ``realism_sources``.

Why each metric is small and returns ``None`` plus a reason when it cannot be computed: the report
runs over "whatever days the lake holds" — a week in spring has no Thanksgiving, a single day has
no weekday shape — and a missing day must read as "not enough data", never as a failure or as a
fake number. Values are plain floats in the unit of the metric's reference (shares as fractions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pyarrow as pa

from retail_assets.generate.calendar import holiday_tags_window, thanksgiving
from retail_assets.reporting.realism_references import (
    CPM_BENCHMARKS,
    CPM_REFERENCES,
    REFERENCES,
    RETURN_SHARE_REFERENCES,
    Reference,
)

INSIDE, OUTSIDE, NOT_ENOUGH = "inside", "outside", "not enough data"


@dataclass(frozen=True)
class MetricResult:
    """One line of the report: the measured value (or why there is none) against its reference."""

    key: str
    label: str
    value: float | None
    reference: Reference
    detail: str = ""

    @property
    def verdict(self) -> str:
        if self.value is None:
            return NOT_ENOUGH
        return INSIDE if self.reference.contains(self.value) else OUTSIDE


@dataclass(frozen=True)
class Context:
    conn: duckdb.DuckDBPyConnection
    days: tuple[date, ...]
    """Days with SALE receipts in the range (``realism_sources.days_held``)."""

    def scalar(self, sql: str, params: list | None = None) -> float | None:
        row = self.conn.execute(sql, params or []).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.conn.execute(sql, params or []).fetchall()


def _result(key: str, label: str, value: float | None, detail: str = "") -> MetricResult:
    return MetricResult(key, label, value, REFERENCES[key], detail)


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or not den else num / den


# --- online ----------------------------------------------------------------------------------------


def online(ctx: Context) -> list[MetricResult]:
    online_cents, orders = ctx.rows("SELECT sum(total_cents), count(*) FROM fact_online_order_headers")[0]
    store_cents = ctx.scalar("SELECT sum(total_cents) FROM fact_receipts WHERE receipt_type = 'SALE'")
    share = None if not store_cents else (online_cents or 0) / ((online_cents or 0) + store_cents)
    avg = None if not orders else online_cents / orders / 100
    why = "" if store_cents else "no SALE receipts in the range"
    return [
        _result("online_share_of_sales", "online share of sales", share, why),
        _result(
            "avg_online_order", "average online order", avg, "" if orders else "no online orders in the range"
        ),
    ]


# --- marketing -------------------------------------------------------------------------------------


def ad_cpm(ctx: Context) -> list[MetricResult]:
    """Cost per thousand impressions, per channel (a channel without impressions is not judged)."""
    measured = {
        ch: (n, float(cost))
        for ch, n, cost in ctx.rows(
            "SELECT channel, count(*), sum(cost) FROM fact_marketing GROUP BY channel ORDER BY channel"
        )
    }
    out = []
    for channel in sorted(set(CPM_REFERENCES) | set(measured)):
        ref = CPM_REFERENCES.get(channel, Reference(2.0, 30.0, "$", CPM_BENCHMARKS))
        if channel in measured:
            n, cost = measured[channel]
            out.append(
                MetricResult(
                    f"ad_cpm_{channel.lower()}",
                    f"ad CPM {channel}",
                    cost / n * 1000,
                    ref,
                    f"{n:,} impressions",
                )
            )
        else:
            out.append(
                MetricResult(
                    f"ad_cpm_{channel.lower()}", f"ad CPM {channel}", None, ref, "no impressions in the range"
                )
            )
    return out


# --- availability and replenishment ------------------------------------------------------------------

_STORE_ZERO_SHARE = """
    SELECT i.location_id AS store_id, i.state_date, avg(CASE WHEN i.on_hand = 0 THEN 1.0 ELSE 0.0 END) AS share
    FROM ctl_state_inventory i JOIN dim_products p USING (product_id)
    WHERE i.location_type = 'STORE' AND p.launch_date <= i.state_date
    GROUP BY 1, 2
"""


def worst_store(ctx: Context) -> list[MetricResult]:
    """The store with the highest mean end-of-day share of launched SKUs at zero on-hand, and its fill rate."""
    rows = ctx.rows(
        f"SELECT store_id, avg(share), count(*) FROM ({_STORE_ZERO_SHARE}) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
    )
    if not rows:
        why = "no carried store inventory (ctl_state_inventory) in the range"
        return [
            _result("worst_store_zero_on_hand_share", "worst store: SKUs at zero on-hand", None, why),
            _result("worst_store_fill_rate", "worst store: DC→store fill rate", None, why),
        ]
    store_id, share, n_days = rows[0]
    alloc, req = ctx.rows(
        "SELECT sum(allocated_quantity), sum(reorder_quantity) FROM fact_reorders WHERE store_id = ?",
        [store_id],
    )[0]
    fill = _ratio(alloc, req)
    return [
        _result(
            "worst_store_zero_on_hand_share",
            "worst store: SKUs at zero on-hand",
            float(share),
            f"store {store_id}, mean of {n_days} end-of-day states",
        ),
        _result(
            "worst_store_fill_rate",
            "worst store: DC→store fill rate",
            fill,
            f"store {store_id}" if fill is not None else f"store {store_id} has no reorders in the range",
        ),
    ]


def dc_store_fill_rate(ctx: Context) -> list[MetricResult]:
    """Units allocated by the DC / units the stores' reviews requested; overall and on the worst day."""
    daily = ctx.rows(
        "SELECT event_date, sum(allocated_quantity), sum(reorder_quantity) FROM fact_reorders GROUP BY 1 ORDER BY 1"
    )
    if not daily:
        why = "no reorders in the range"
        return [
            _result("dc_store_fill_rate", "DC→store fill rate", None, why),
            _result("dc_store_fill_rate_worst_day", "DC→store fill rate, worst day", None, why),
        ]
    overall = sum(a for _, a, _ in daily) / sum(r for _, _, r in daily)
    worst_day, alloc, req = min(daily, key=lambda d: (d[1] / d[2], d[0]))
    return [
        _result("dc_store_fill_rate", "DC→store fill rate", overall, f"{len(daily)} review days"),
        _result(
            "dc_store_fill_rate_worst_day",
            "DC→store fill rate, worst day",
            alloc / req,
            f"review of {worst_day}",
        ),
    ]


# --- seasonal products -----------------------------------------------------------------------------


def seasonal_days(products: pa.Table, days: Iterable[date]) -> pa.Table:
    """(product_id, event_date, in_window) for every tagged product launched on each day (§7.4 windows)."""
    ids = products.column("product_id").to_pylist()
    tags = products.column("tags").to_pylist()
    launch = products.column("launch_date").to_pylist()
    tagged = [i for i, t in enumerate(tags) if t]
    out_ids, out_days, out_in = [], [], []
    for day in days:
        in_window = holiday_tags_window([tags[i] for i in tagged], day)
        for k, i in enumerate(tagged):
            if launch[i] <= day:
                out_ids.append(ids[i])
                out_days.append(day)
                out_in.append(bool(in_window[k]))
    return pa.table(
        {
            "product_id": pa.array(out_ids, pa.int64()),
            "event_date": pa.array(out_days, pa.date32()),
            "in_window": pa.array(out_in, pa.bool_()),
        }
    )


def seasonal(ctx: Context) -> list[MetricResult]:
    products = ctx.conn.sql("SELECT product_id, tags, launch_date FROM dim_products").to_arrow_table()
    ctx.conn.register("seasonal_days", seasonal_days(products, ctx.days))
    zero = ctx.rows(
        """SELECT avg(CASE WHEN i.on_hand = 0 THEN 1.0 ELSE 0.0 END), count(*)
           FROM ctl_state_inventory i JOIN seasonal_days s ON s.product_id = i.product_id AND s.event_date = i.state_date
           WHERE i.location_type = 'STORE' AND s.in_window"""
    )[0]
    # Lift: a tagged product's share of all units sold, in its window vs outside it, pooled over the
    # products that have days of both kinds (normalising by the day's total removes day-level traffic).
    lift = ctx.scalar(
        """WITH units AS (
               SELECT event_date, product_id, sum(quantity) AS u FROM fact_receipt_lines WHERE quantity > 0 GROUP BY 1, 2),
           totals AS (SELECT event_date, sum(u) AS total FROM units GROUP BY 1),
           both_kinds AS (SELECT product_id FROM seasonal_days GROUP BY 1 HAVING bool_or(in_window) AND NOT bool_and(in_window)),
           pairs AS (
               SELECT s.in_window, coalesce(u.u, 0) AS u, t.total
               FROM seasonal_days s JOIN both_kinds USING (product_id) JOIN totals t USING (event_date)
               LEFT JOIN units u ON u.product_id = s.product_id AND u.event_date = s.event_date)
           SELECT (sum(u) FILTER (WHERE in_window) / sum(total) FILTER (WHERE in_window))
                / nullif(sum(u) FILTER (WHERE NOT in_window) / sum(total) FILTER (WHERE NOT in_window), 0)
           FROM pairs"""
    )
    return [
        _result(
            "seasonal_zero_on_hand_share",
            "seasonal SKUs at zero on-hand in their window",
            None if not zero[1] else float(zero[0]),
            f"{zero[1]:,} store-SKU-days"
            if zero[1]
            else "no tagged SKU in its window with carried state in the range",
        ),
        _result(
            "seasonal_lift",
            "seasonal lift in window",
            lift,
            "" if lift is not None else "needs tagged products sold both inside and outside their window",
        ),
    ]


# --- peak days -------------------------------------------------------------------------------------


def is_normal_day(day: date) -> bool:
    """Outside Thanksgiving week (Thanksgiving − 3 … + 4) and the holidays (Dec 15 – Jan 2)."""
    tg = thanksgiving(day.year)
    if tg - timedelta(days=3) <= day <= tg + timedelta(days=4):
        return False
    return not ((day.month == 12 and day.day >= 15) or (day.month == 1 and day.day <= 2))


def _daily_sales(ctx: Context) -> dict[date, float]:
    return {
        d: float(v)
        for d, v in ctx.rows(
            "SELECT event_date, sum(total_cents) FROM fact_receipts WHERE receipt_type = 'SALE' GROUP BY 1"
        )
    }


def _peak(key: str, label: str, daily: dict[date, float], wanted: list[date]) -> MetricResult:
    """Sales of the latest held ``wanted`` day over the mean of normal days of the same weekday."""
    for day in sorted(wanted, reverse=True):
        if day not in daily:
            continue
        normal = [v for d, v in daily.items() if d.weekday() == day.weekday() and is_normal_day(d)]
        if normal:
            return _result(
                key,
                label,
                daily[day] / (sum(normal) / len(normal)),
                f"{day} vs {len(normal)} normal {day:%A}s",
            )
        return _result(key, label, None, f"{day} is held but no normal {day:%A} to compare with")
    return _result(key, label, None, "needs " + " or ".join(str(d) for d in wanted))


def peak_days(ctx: Context) -> list[MetricResult]:
    daily = _daily_sales(ctx)
    years = sorted({d.year for d in ctx.days}) or [2024]
    return [
        _peak(
            "peak_wed_before_thanksgiving",
            "Wed before Thanksgiving / normal Wed",
            daily,
            [thanksgiving(y) - timedelta(days=1) for y in years],
        ),
        _peak("peak_dec_21", "Dec 21 / normal same weekday", daily, [date(y, 12, 21) for y in years]),
        _peak("peak_dec_23", "Dec 23 / normal same weekday", daily, [date(y, 12, 23) for y in years]),
        _peak("peak_dec_24", "Dec 24 / normal same weekday", daily, [date(y, 12, 24) for y in years]),
    ]


# --- returns ---------------------------------------------------------------------------------------


def return_share_by_department(ctx: Context) -> list[MetricResult]:
    """Returned value / sold value (net of discounts) per department, over the range."""
    measured = {
        dep: (ret, sold)
        for dep, ret, sold in ctx.rows(
            """SELECT p.department,
                  -sum(l.ext_cents - l.discount_cents) FILTER (WHERE l.quantity < 0),
                  sum(l.ext_cents - l.discount_cents) FILTER (WHERE l.quantity > 0)
           FROM fact_receipt_lines l JOIN dim_products p USING (product_id) GROUP BY 1"""
        )
    }
    out = []
    for dep, ref in RETURN_SHARE_REFERENCES.items():
        ret, sold = measured.get(dep, (None, None))
        value = None if not sold else (ret or 0) / sold
        out.append(
            MetricResult(
                f"return_share_{dep.lower()}",
                f"return value share {dep}",
                value,
                ref,
                "" if sold else f"no {dep} sales in the range",
            )
        )
    return out


def _span(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def return_curve(ctx: Context) -> list[MetricResult]:
    """The shape of returns around Christmas, from the latest year whose needed days are all held."""
    held = set(ctx.days)
    daily = {
        d: (float(r or 0), float(s or 0))
        for d, r, s in ctx.rows(
            """SELECT event_date, -sum(total_cents) FILTER (WHERE receipt_type = 'RETURN'),
                  sum(total_cents) FILTER (WHERE receipt_type = 'SALE')
           FROM fact_receipts GROUP BY 1"""
        )
    }
    years = sorted({d.year for d in ctx.days}, reverse=True) or [2024]

    def first_year(needed: Callable[[int], list[date]]) -> int | None:
        return next((y for y in years if set(needed(y)) <= held), None)

    def mean_returns(days: list[date]) -> float:
        return sum(daily[d][0] for d in days) / len(days)

    def baseline_note(y: int) -> str:
        """Returns come up to 30 days after the sale: a range starting after Nov 1 lacks part of early December's."""
        first = min(ctx.days)
        if first > date(y, 11, 1):
            return f"{y}; warm-up: no sales before {first}, so the Dec 1–19 baseline is low"
        return str(y)

    out = []
    pre = lambda y: _span(date(y, 12, 1), date(y, 12, 24))  # noqa: E731
    y = first_year(pre)
    out.append(
        _result(
            "returns_dec20_24_vs_dec1_19",
            "returns Dec 20–24 / Dec 1–19 (per day)",
            None
            if y is None
            else _ratio(
                mean_returns(_span(date(y, 12, 20), date(y, 12, 24))),
                mean_returns(_span(date(y, 12, 1), date(y, 12, 19))),
            ),
            "needs Dec 1 … Dec 24" if y is None else baseline_note(y),
        )
    )
    spike = lambda y: [*_span(date(y, 12, 1), date(y, 12, 19)), *_span(date(y, 12, 26), date(y, 12, 31))]  # noqa: E731
    y = first_year(spike)
    out.append(
        _result(
            "returns_dec26_31_vs_dec1_19",
            "returns Dec 26–31 / Dec 1–19 (per day)",
            None
            if y is None
            else _ratio(
                mean_returns(_span(date(y, 12, 26), date(y, 12, 31))),
                mean_returns(_span(date(y, 12, 1), date(y, 12, 19))),
            ),
            "needs Dec 1 … Dec 19 and Dec 26 … Dec 31" if y is None else baseline_note(y),
        )
    )
    post = lambda y: _span(date(y, 12, 26), date(y, 12, 31))  # noqa: E731
    y = first_year(post)
    if y is None:
        why = "needs Dec 26 … Dec 31"
        out.append(_result("returns_dec26_31_share_of_sales", "returns / sales Dec 26–31", None, why))
        out.append(_result("returns_dec26_vs_dec27_31", "returns Dec 26 / Dec 27–31 (per day)", None, why))
    else:
        days = post(y)
        out.append(
            _result(
                "returns_dec26_31_share_of_sales",
                "returns / sales Dec 26–31",
                _ratio(sum(daily[d][0] for d in days), sum(daily[d][1] for d in days)),
                str(y),
            )
        )
        out.append(
            _result(
                "returns_dec26_vs_dec27_31",
                "returns Dec 26 / Dec 27–31 (per day)",
                _ratio(daily[days[0]][0], mean_returns(days[1:])),
                str(y),
            )
        )
    return out


def refrigerated_restocked(ctx: Context) -> list[MetricResult]:
    returned = ctx.scalar(
        """SELECT -sum(l.quantity) FROM fact_receipt_lines l JOIN dim_products p USING (product_id)
           WHERE l.quantity < 0 AND p.requires_refrigeration"""
    )
    restocked = ctx.scalar(
        """SELECT coalesce(sum(t.quantity), 0) FROM fact_store_inventory_txn t JOIN dim_products p USING (product_id)
           WHERE t.txn_type = 'RETURN' AND p.requires_refrigeration"""
    )
    if not returned:
        return [
            _result(
                "refrigerated_units_restocked",
                "returned refrigerated units restocked",
                None,
                "no refrigerated product was returned in the range",
            )
        ]
    return [
        _result(
            "refrigerated_units_restocked",
            "returned refrigerated units restocked",
            restocked,
            f"of {returned:,.0f} returned",
        )
    ]


# --- shrink ----------------------------------------------------------------------------------------

#: Store txn types that move goods for a customer or a delivery; every other type is a loss or a count.
NON_SHRINK_TXN_TYPES = ("SALE", "RETURN", "ONLINE_SALE", "INBOUND_SHIPMENT")


def shrink(ctx: Context) -> list[MetricResult]:
    """Net stock lost in stores outside sales and deliveries, at sale price, over in-store net sales."""
    excluded = ", ".join(f"'{t}'" for t in NON_SHRINK_TXN_TYPES)
    lost = ctx.scalar(
        f"""SELECT -sum(t.quantity * p.sale_price_cents) FROM fact_store_inventory_txn t
            JOIN dim_products p USING (product_id) WHERE t.txn_type NOT IN ({excluded})"""
    )
    sales = ctx.scalar(
        "SELECT sum(subtotal_cents - discount_cents) FROM fact_receipts WHERE receipt_type = 'SALE'"
    )
    return [
        _result(
            "shrink_share_of_sales",
            "shrink / in-store sales",
            _ratio(lost or 0.0, sales),
            "" if sales else "no SALE receipts in the range",
        )
    ]


# --- footfall --------------------------------------------------------------------------------------


def shifted_earlier(shares: list[float], minutes: int) -> list[float]:
    """An hourly distribution moved ``minutes`` earlier (mass spread linearly within the hour)."""
    k, f = divmod(minutes, 60)
    frac = f / 60

    def at(h: int) -> float:
        return shares[h] if 0 <= h < len(shares) else 0.0

    return [(1 - frac) * at(h + k) + frac * at(h + k + 1) for h in range(len(shares))]


def profile_distance(a: list[float], b: list[float]) -> float:
    """Total variation distance of two hourly distributions (each normalised to sum 1): 0 = same shape."""
    sa, sb = sum(a), sum(b)
    return 0.5 * sum(abs(x / sa - y / sb) for x, y in zip(a, b, strict=True))


LEAD_CANDIDATES = range(0, 121, 5)


def footfall_phase(ctx: Context) -> list[MetricResult]:
    """Entrances by hour against SALE receipts by hour (network totals over the range).

    If every shopper enters a dwell time before paying, the entrance curve is the receipt curve moved
    earlier by that dwell. The lead is the shift (0–120 min, 5-min steps) that makes the two curves
    closest; the distance left at that lead says whether they have the same shape at all.
    """
    entrances = dict(
        ctx.rows(
            "SELECT hour(event_ts), sum(customer_count) FROM fact_foot_traffic WHERE zone = 'ENTRANCE' GROUP BY 1"
        )
    )
    receipts = dict(
        ctx.rows("SELECT hour(event_ts), count(*) FROM fact_receipts WHERE receipt_type = 'SALE' GROUP BY 1")
    )
    if not sum(float(v) for v in entrances.values()) or not receipts:
        why = "needs foot traffic and SALE receipts in the range"
        return [
            _result(
                "footfall_receipts_profile_distance",
                "entrances vs receipts: hourly shape distance",
                None,
                why,
            ),
            _result("footfall_lead_minutes", "entrances lead receipts by", None, why),
        ]
    e = [float(entrances.get(h, 0)) for h in range(24)]
    r = [float(receipts.get(h, 0)) for h in range(24)]
    r_shares = [x / sum(r) for x in r]
    distance, lead = min((profile_distance(e, shifted_earlier(r_shares, m)), m) for m in LEAD_CANDIDATES)
    peak_in = max(range(24), key=lambda h: (e[h], -h))
    peak_rc = max(range(24), key=lambda h: (r[h], -h))
    return [
        _result(
            "footfall_receipts_profile_distance",
            "entrances vs receipts: hourly shape distance",
            distance,
            f"entrance peak {peak_in:02d}:00, receipt peak {peak_rc:02d}:00",
        ),
        _result(
            "footfall_lead_minutes",
            "entrances lead receipts by",
            float(lead),
            f"best of {LEAD_CANDIDATES.start}–{LEAD_CANDIDATES.stop - 1} min",
        ),
    ]


# --- tender, BLE, weekday shape --------------------------------------------------------------------


def cash_by_ticket(ctx: Context) -> list[MetricResult]:
    def share(cond: str) -> tuple[float | None, int]:
        v, n = ctx.rows(
            f"""SELECT avg(CASE WHEN payment_method = 'CASH' THEN 1.0 ELSE 0.0 END), count(*)
                FROM fact_receipts WHERE receipt_type = 'SALE' AND {cond}"""
        )[0]
        return (None if not n else float(v)), n

    small, n_small = share("total_cents < 2500")
    large, n_large = share("total_cents > 10000")
    return [
        _result(
            "cash_share_under_25",
            "cash share of tickets under $25",
            small,
            f"{n_small:,} tickets" if n_small else "no ticket under $25",
        ),
        _result(
            "cash_share_over_100",
            "cash share of tickets over $100",
            large,
            f"{n_large:,} tickets" if n_large else "no ticket over $100",
        ),
    ]


def ble_share(ctx: Context) -> list[MetricResult]:
    visits = ctx.scalar("SELECT count(*) FROM fact_receipts WHERE receipt_type = 'SALE'")
    detected = ctx.scalar("SELECT count(DISTINCT visit_id_ext) FROM fact_ble_pings")
    return [
        _result(
            "ble_detected_share_of_visits",
            "BLE-detected share of visits",
            _ratio(detected, visits),
            "" if visits else "no SALE receipts in the range",
        )
    ]


def sunday_saturday(ctx: Context) -> list[MetricResult]:
    counts = dict(
        ctx.rows("SELECT event_date, count(*) FROM fact_receipts WHERE receipt_type = 'SALE' GROUP BY 1")
    )
    sat = [float(v) for d, v in counts.items() if d.weekday() == 5 and is_normal_day(d)]
    sun = [float(v) for d, v in counts.items() if d.weekday() == 6 and is_normal_day(d)]
    if not sat or not sun:
        return [
            _result(
                "sunday_saturday_receipts",
                "Sunday / Saturday receipts",
                None,
                "needs a normal Saturday and a normal Sunday",
            )
        ]
    return [
        _result(
            "sunday_saturday_receipts",
            "Sunday / Saturday receipts",
            (sum(sun) / len(sun)) / (sum(sat) / len(sat)),
            f"{len(sun)} Sundays, {len(sat)} Saturdays",
        )
    ]


#: Report order = issue 12's table order.
METRIC_GROUPS: tuple[Callable[[Context], list[MetricResult]], ...] = (
    online,
    ad_cpm,
    worst_store,
    dc_store_fill_rate,
    seasonal,
    peak_days,
    return_share_by_department,
    return_curve,
    refrigerated_restocked,
    shrink,
    footfall_phase,
    cash_by_ticket,
    ble_share,
    sunday_saturday,
)
