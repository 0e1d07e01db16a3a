"""Each realism metric on small hand-built tables whose answer is known (and can be wrong)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from retail_assets.reporting.realism_metrics import INSIDE, NOT_ENOUGH, OUTSIDE, MetricResult
from retail_assets.reporting.realism_references import REFERENCES
from retail_assets.reporting.realism_report import RealismReport, format_table
from retail_assets_tests.reporting.realism_tables import product, refund, report, result, sale, ts

D = date(2024, 11, 13)  # a normal Wednesday


def test_online_share_and_average_order():
    rep = report(
        fact_receipts=[sale(D, 9000)],
        fact_online_order_headers=[
            {"event_date": D, "total_cents": 600},
            {"event_date": D, "total_cents": 400},
        ],
    )
    share, avg = result(rep, "online_share_of_sales"), result(rep, "avg_online_order")
    assert share.value == pytest.approx(0.10) and share.verdict == INSIDE
    assert avg.value == pytest.approx(5.0) and avg.verdict == OUTSIDE


def test_ad_cpm_per_channel_and_a_channel_without_impressions():
    rows = [{"event_date": D, "channel": "DISPLAY", "cost": Decimal("0.0050")}] * 4
    rows += [{"event_date": D, "channel": "EMAIL", "cost": Decimal("0.1000")}] * 2
    rep = report(fact_receipts=[sale(D, 100)], fact_marketing=rows)
    display, email, youtube = (result(rep, f"ad_cpm_{c}") for c in ("display", "email", "youtube"))
    assert display.value == pytest.approx(5.0) and display.verdict == INSIDE
    assert email.value == pytest.approx(100.0) and email.verdict == OUTSIDE
    assert youtube.verdict == NOT_ENOUGH and "no impressions" in youtube.detail


def _state(day: date, loc: int, pid: int, on_hand: int, loc_type: str = "STORE") -> dict:
    return {
        "state_date": day,
        "location_type": loc_type,
        "location_id": loc,
        "product_id": pid,
        "on_hand": on_hand,
    }


def test_worst_store_is_the_one_with_most_launched_skus_at_zero_and_its_fill_rate():
    unlaunched = {**product(3), "launch_date": D + timedelta(days=30)}
    rep = report(
        fact_receipts=[sale(D, 100)],
        dim_products=[product(1), product(2), unlaunched],
        ctl_state_inventory=[
            _state(D, 1, 1, 5),
            _state(D, 1, 2, 5),
            _state(D, 1, 3, 0),  # unlaunched zero: not counted
            _state(D, 2, 1, 0),
            _state(D, 2, 2, 5),
            _state(D, 3, 1, 0, "DC"),
            _state(D, 3, 2, 0, "DC"),  # DCs are not stores
        ],
        fact_reorders=[
            {"event_date": D, "store_id": 1, "reorder_quantity": 100, "allocated_quantity": 100},
            {
                "event_date": D + timedelta(days=1),
                "store_id": 2,
                "reorder_quantity": 100,
                "allocated_quantity": 50,
            },
        ],
    )
    worst = result(rep, "worst_store_zero_on_hand_share")
    assert worst.value == pytest.approx(0.5) and "store 2" in worst.detail and worst.verdict == OUTSIDE
    assert result(rep, "worst_store_fill_rate").value == pytest.approx(0.5)
    assert result(rep, "dc_store_fill_rate").value == pytest.approx(0.75)
    worst_day = result(rep, "dc_store_fill_rate_worst_day")
    assert worst_day.value == pytest.approx(0.5) and str(D + timedelta(days=1)) in worst_day.detail


def test_peak_days_compare_with_normal_days_of_the_same_weekday():
    wed_before_tg, dec23 = date(2024, 11, 27), date(2024, 12, 23)
    receipts = [sale(date(2024, 11, 13), 1000), sale(date(2024, 11, 20), 3000), sale(wed_before_tg, 4000)]
    receipts += [sale(dec23, 5000)]  # held, but no normal Monday to compare with
    rep = report(fact_receipts=receipts)
    wed = result(rep, "peak_wed_before_thanksgiving")
    assert wed.value == pytest.approx(2.0) and wed.verdict == INSIDE and "2 normal Wednesdays" in wed.detail
    assert (
        result(rep, "peak_dec_21").verdict == NOT_ENOUGH
        and "needs 2024-12-21" in result(rep, "peak_dec_21").detail
    )
    assert "no normal Monday" in result(rep, "peak_dec_23").detail


def test_return_value_share_by_department():
    def line(pid: int, qty: int, cents: int) -> dict:
        return {
            "event_date": D,
            "store_id": 1,
            "product_id": pid,
            "quantity": qty,
            "ext_cents": cents,
            "discount_cents": 0,
        }

    rep = report(
        fact_receipts=[sale(D, 100)],
        dim_products=[product(1, department="Clothing"), product(2)],
        fact_receipt_lines=[line(1, 1, 1000), line(1, -1, -100), line(2, 2, 1000), line(2, -1, -500)],
    )
    assert result(rep, "return_share_clothing").value == pytest.approx(0.10)
    assert result(rep, "return_share_clothing").verdict == INSIDE
    assert result(rep, "return_share_grocery").value == pytest.approx(0.50)
    assert result(rep, "return_share_grocery").verdict == OUTSIDE
    assert result(rep, "return_share_electronics").verdict == NOT_ENOUGH


def test_christmas_return_curve():
    receipts = []
    for i in range(31):
        day = date(2024, 12, 1) + timedelta(days=i)
        if day.day == 25:
            continue
        receipts.append(sale(day, 10_000))
        receipts.append(refund(day, 200 if day.day >= 26 else 100))
    rep = report(fact_receipts=receipts)
    assert result(rep, "returns_dec20_24_vs_dec1_19").value == pytest.approx(1.0)
    assert "warm-up" in result(rep, "returns_dec20_24_vs_dec1_19").detail  # no November sales in this range
    assert result(rep, "returns_dec26_31_vs_dec1_19").value == pytest.approx(2.0)
    share = result(rep, "returns_dec26_31_share_of_sales")
    assert share.value == pytest.approx(0.02) and share.verdict == OUTSIDE
    assert result(rep, "returns_dec26_vs_dec27_31").value == pytest.approx(1.0)


def test_return_curve_without_december_says_which_days_it_needs():
    rep = report(fact_receipts=[sale(D, 100), refund(D, 10)])
    assert result(rep, "returns_dec20_24_vs_dec1_19").detail == "needs Dec 1 … Dec 24"
    assert result(rep, "returns_dec26_31_share_of_sales").verdict == NOT_ENOUGH


def test_returned_refrigerated_units_put_back_on_the_shelf_are_counted():
    line = {
        "event_date": D,
        "store_id": 1,
        "product_id": 1,
        "quantity": -3,
        "ext_cents": -300,
        "discount_cents": 0,
    }
    restock = {"event_date": D, "store_id": 1, "product_id": 1, "txn_type": "RETURN", "quantity": 3}
    common = {
        "fact_receipts": [sale(D, 100)],
        "dim_products": [product(1, cold=True)],
        "fact_receipt_lines": [line],
    }
    restocked = result(report(**common, fact_store_inventory_txn=[restock]), "refrigerated_units_restocked")
    assert restocked.value == 3 and restocked.verdict == OUTSIDE
    disposed = result(report(**common), "refrigerated_units_restocked")
    assert disposed.value == 0 and disposed.verdict == INSIDE
    assert result(report(fact_receipts=[sale(D, 100)]), "refrigerated_units_restocked").verdict == NOT_ENOUGH


def test_shrink_is_net_loss_outside_sales_and_deliveries_at_sale_price():
    def txn(pid: int, kind: str, qty: int) -> dict:
        return {"event_date": D, "store_id": 1, "product_id": pid, "txn_type": kind, "quantity": qty}

    rep = report(
        fact_receipts=[sale(D, 10_000)],
        dim_products=[product(1, price=100), product(2, price=150)],
        fact_store_inventory_txn=[
            txn(1, "DAMAGED", -3),
            txn(2, "ADJUSTMENT", 1),  # lost 300, found 150
            txn(1, "INBOUND_SHIPMENT", 100),
            txn(1, "RETURN", 5),
            txn(1, "SALE", -7),  # not shrink
        ],
    )
    shrink = result(rep, "shrink_share_of_sales")
    assert shrink.value == pytest.approx(0.015) and shrink.verdict == INSIDE


def _footfall(entrances: dict[int, int], receipts: dict[int, int]):
    ff = [
        {"event_date": D, "event_ts": ts(D, h), "zone": "ENTRANCE", "customer_count": n}
        for h, n in entrances.items()
    ]
    ff.append(
        {"event_date": D, "event_ts": ts(D, 3), "zone": "GROCERY", "customer_count": 999}
    )  # not an entrance
    rec = [sale(D, 100, hour=h) for h, n in receipts.items() for _ in range(n)]
    rep = report(fact_receipts=rec, fact_foot_traffic=ff)
    return result(rep, "footfall_receipts_profile_distance"), result(rep, "footfall_lead_minutes")


def test_entrances_that_lead_receipts_by_half_an_hour_have_the_same_shape():
    receipts = {10: 10, 11: 30, 12: 30, 13: 10}
    # receipts moved 30 min earlier: half of each hour's shoppers entered in the hour before; ×2 browsers
    entrances = {9: 10, 10: 40, 11: 60, 12: 40, 13: 10}
    distance, lead = _footfall(entrances, receipts)
    assert lead.value == 30 and lead.verdict == INSIDE
    assert distance.value == pytest.approx(0.0, abs=1e-12) and distance.verdict == INSIDE


def test_entrances_peaking_when_receipts_do_not_are_out_of_phase():
    distance, _ = _footfall({9: 40, 11: 5, 12: 5, 14: 40}, {10: 10, 11: 30, 12: 30, 13: 10})
    assert distance.value > 0.3 and distance.verdict == OUTSIDE


def test_cash_share_by_ticket_band():
    small = [sale(D, 2000, tender="CASH")] + [sale(D, 2000)] * 3
    large = [sale(D, 20_000, tender="CASH"), sale(D, 20_000)]
    rep = report(fact_receipts=[*small, *large, sale(D, 5000, tender="CASH")])  # $50: in neither band
    assert result(rep, "cash_share_under_25").value == pytest.approx(0.25)
    assert result(rep, "cash_share_under_25").verdict == INSIDE
    assert result(rep, "cash_share_over_100").value == pytest.approx(0.5)
    assert result(rep, "cash_share_over_100").verdict == OUTSIDE


def test_ble_detected_share_counts_distinct_visits():
    pings = [{"event_date": D, "visit_id_ext": v} for v in ("VIS-1", "VIS-1", "VIS-2")]
    rep = report(fact_receipts=[sale(D, 100)] * 10, fact_ble_pings=pings)
    assert result(rep, "ble_detected_share_of_visits").value == pytest.approx(0.2)


def test_sunday_saturday_ratio_uses_normal_weekends_only():
    sat, sun, black_saturday = date(2024, 11, 16), date(2024, 11, 17), date(2024, 11, 30)
    rep = report(fact_receipts=[sale(sat, 1)] * 10 + [sale(sun, 1)] * 9 + [sale(black_saturday, 1)] * 50)
    ratio = result(rep, "sunday_saturday_receipts")
    assert ratio.value == pytest.approx(0.9) and ratio.verdict == INSIDE


def test_seasonal_lift_and_seasonal_skus_at_zero_in_their_window():
    out_day, in_day = date(2024, 12, 1), date(2024, 12, 20)  # CHRISTMAS window: Dec 12 … Dec 25

    def units(day: date, pid: int, qty: int) -> dict:
        return {
            "event_date": day,
            "store_id": 1,
            "product_id": pid,
            "quantity": qty,
            "ext_cents": qty,
            "discount_cents": 0,
        }

    rep = report(
        fact_receipts=[sale(out_day, 100), sale(in_day, 100)],
        dim_products=[product(1, tags="CHRISTMAS"), product(2)],
        fact_receipt_lines=[
            units(out_day, 1, 10),
            units(out_day, 2, 90),
            units(in_day, 1, 30),
            units(in_day, 2, 70),
        ],
        ctl_state_inventory=[_state(out_day, 1, 1, 0), _state(in_day, 1, 1, 0), _state(in_day, 1, 2, 0)],
    )
    lift = result(rep, "seasonal_lift")
    assert lift.value == pytest.approx(3.0) and lift.verdict == INSIDE
    zero = result(rep, "seasonal_zero_on_hand_share")  # only the tagged SKU on its in-window day
    assert zero.value == pytest.approx(1.0) and "1 store-SKU-days" in zero.detail


def test_an_empty_source_judges_nothing_and_says_why():
    rep = report()
    assert rep.days == ()
    assert {r.verdict for r in rep.results} == {NOT_ENOUGH}
    assert all(r.detail for r in rep.results)
    assert rep.exit_code == 2
    assert "no days with sales: 0 inside" in format_table(rep)


def test_exit_code_is_zero_only_when_every_metric_is_inside():
    ref = REFERENCES["online_share_of_sales"]
    inside = MetricResult("a", "a", 0.15, ref)
    assert RealismReport((D,), (inside, inside)).exit_code == 0
    assert RealismReport((D,), (inside, MetricResult("b", "b", 0.5, ref))).exit_code == 2
    assert RealismReport((D,), (inside, MetricResult("c", "c", None, ref, "why"))).exit_code == 2


def test_every_reference_names_its_source_and_is_a_range():
    for key, ref in REFERENCES.items():
        assert ref.low <= ref.high, key
        assert len(ref.source) > 20, key
