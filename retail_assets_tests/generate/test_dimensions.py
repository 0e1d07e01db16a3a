"""Dimension tables (contract §3, §7.2): sizes, schemas, keys, FKs, class shares, money, determinism."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from fractions import Fraction

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail_assets.config import DatasetSettings
from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.generate import reference_data as ref
from retail_assets.generate.dimensions import (
    ASSORTMENT_PERCENT,
    FORMAT_BY_CLASS,
    HOURS_BY_FORMAT,
    MULTIPLIER_RANGE_MILLI,
    VOLUME_CLASS_PERCENT,
    VOLUME_CLASSES,
    build_dimensions,
    dimension_sizes,
    largest_remainder,
)
from retail_assets.generate.money import decimal_unscaled

TINY = DatasetSettings(scale_factor=0.01)
SMALL = DatasetSettings(scale_factor=0.2)


@pytest.fixture(scope="module")
def tiny() -> dict[str, pa.Table]:
    return build_dimensions(TINY)


@pytest.fixture(scope="module")
def small() -> dict[str, pa.Table]:
    return build_dimensions(SMALL)


def col(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist()


def test_sizes_at_scale_factor_1_follow_the_contract():
    s = dimension_sizes(DatasetSettings())
    assert (s.geographies, s.stores, s.dcs, s.trucks, s.customers, s.products) == (
        20,
        86,
        20,
        80,
        403_000,
        10_000,
    )
    assert (s.supplier_refrigerated, s.supplier_dry) == (20, 20)


def test_row_counts_at_scale_factor_001(tiny):
    counts = {name: t.num_rows for name, t in tiny.items()}
    assert counts == {
        "dim_geographies": 1,
        "dim_distribution_centers": 1,
        "dim_stores": 1,
        "dim_trucks": 4,
        "dim_customers": 4030,
        "dim_products": 500,
    }


def test_scale_factor_rounds_half_away_from_zero():
    # 86 × 0.25 = 21.5 -> 22 stores; 20 × 0.025 = 0.5 -> 1 geography
    assert dimension_sizes(DatasetSettings(scale_factor=0.25)).stores == 22
    assert dimension_sizes(DatasetSettings(scale_factor=0.025)).geographies == 1
    big = dimension_sizes(DatasetSettings(scale_factor=100))
    assert big.products == ref.catalogue().n_combinations  # clamped to what the reference holds
    assert big.geographies == len(ref.geographies())


@pytest.mark.parametrize("which", ["tiny", "small"])
def test_schemas_keys_and_not_nulls(which, request):
    dims = request.getfixturevalue(which)
    assert list(dims) == list(DIMENSION_TABLES)
    for name, table in dims.items():
        spec = DIMENSION_TABLES[name]
        assert table.schema == spec.arrow_schema, name
        key = col(table, spec.primary_key[0])
        assert key == list(range(1, table.num_rows + 1)), name
        for c in spec.columns:
            if not c.nullable:
                assert table.column(c.name).null_count == 0, (name, c.name)
            if c.enum:
                assert set(col(table, c.name)) <= set(c.enum), (name, c.name)


def test_foreign_keys(small):
    geo_ids = set(col(small["dim_geographies"], "geography_id"))
    store_ids = set(col(small["dim_stores"], "store_id"))
    dc_ids = set(col(small["dim_distribution_centers"], "dc_id"))
    assert set(col(small["dim_stores"], "geography_id")) <= geo_ids
    assert set(col(small["dim_stores"], "dc_id")) <= dc_ids
    assert set(col(small["dim_distribution_centers"], "geography_id")) <= geo_ids
    assert set(col(small["dim_customers"], "geography_id")) <= geo_ids
    assert set(col(small["dim_customers"], "home_store_id")) <= store_ids
    assert set(x for x in col(small["dim_trucks"], "dc_id") if x is not None) == dc_ids


def test_geographies_are_distinct_reference_rows_with_normalised_weights(small):
    geo_ref = ref.geographies()
    assert sum(int(w) for w in geo_ref.weight_milli) == pytest.approx(1000 * len(geo_ref), abs=len(geo_ref))
    g = small["dim_geographies"]
    triples = list(zip(col(g, "city"), col(g, "state"), col(g, "zip_code"), strict=True))
    assert len(set(triples)) == g.num_rows
    assert all(re.fullmatch(r"\d{5}", z) for z in col(g, "zip_code"))


def _expected_class_counts(n: int) -> list[int]:
    """Largest remainder, ties in the listed class order — computed with exact fractions."""
    quotas = [Fraction(n * p, 100) for p in VOLUME_CLASS_PERCENT]
    counts = [int(q) for q in quotas]
    order = sorted(range(5), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def test_volume_classes_formats_hours_and_multipliers(small, tiny):
    for dims in (small, tiny):
        s = dims["dim_stores"]
        classes = Counter(col(s, "volume_class"))
        expected = _expected_class_counts(s.num_rows)
        assert [classes.get(c, 0) for c in VOLUME_CLASSES] == expected
        n_products = dims["dim_products"].num_rows
        mult = decimal_unscaled(s.column("daily_traffic_multiplier"))
        for i, (vc, fmt, hours) in enumerate(
            zip(col(s, "volume_class"), col(s, "store_format"), col(s, "operating_hours"), strict=True)
        ):
            assert FORMAT_BY_CLASS[vc] == fmt
            assert hours in {h for h, _ in HOURS_BY_FORMAT[fmt]}
            lo, hi = MULTIPLIER_RANGE_MILLI[vc]
            assert lo <= mult[i] <= hi
            assert col(s, "assortment_size")[i] == -(-ASSORTMENT_PERCENT[fmt] * n_products // 100)
    assert _expected_class_counts(86) == [4, 13, 43, 22, 4]


def test_store_tax_rates_come_from_the_reference(small):
    s, g = small["dim_stores"], small["dim_geographies"]
    city_rates, state_avg = ref.tax_rates()
    geo = {
        gid: (st, c)
        for gid, st, c in zip(col(g, "geography_id"), col(g, "state"), col(g, "city"), strict=True)
    }
    for gid, rate in zip(col(s, "geography_id"), decimal_unscaled(s.column("tax_rate")), strict=True):
        st, city = geo[gid]
        assert rate == city_rates.get((st, city), state_avg.get(st, 7407))


def test_stores_and_dcs_are_placed_by_weight(small):
    g, s, d = small["dim_geographies"], small["dim_stores"], small["dim_distribution_centers"]
    per_geo = Counter(col(s, "geography_id"))
    assert set(per_geo) == set(col(g, "geography_id"))  # every geography has a store when S >= N
    heaviest = max(col(g, "geography_id"), key=lambda i: (decimal_unscaled(g.column("weight"))[i - 1], -i))
    assert per_geo[heaviest] == max(per_geo.values())
    dc_per_geo = Counter(col(d, "geography_id"))
    assert set(dc_per_geo) <= set(per_geo)  # DCs only where stores are


def test_store_dc_assignment_prefers_same_geography_and_balances(small):
    s, d = small["dim_stores"], small["dim_distribution_centers"]
    dc_geo = dict(zip(col(d, "dc_id"), col(d, "geography_id"), strict=True))
    load = Counter()
    for sid, gid, dc, travel in zip(
        col(s, "store_id"), col(s, "geography_id"), col(s, "dc_id"), col(s, "dc_travel_minutes"), strict=True
    ):
        local = sorted(k for k, v in dc_geo.items() if v == gid)
        if local:
            assert dc in local, sid
            assert dc == min(local, key=lambda k: (load[k], k))
            assert 30 <= travel <= 90
        else:
            assert 60 <= travel <= 180
        load[dc] += 1


def test_trucks_layout(small):
    t = small["dim_trucks"]
    n_dc = small["dim_distribution_centers"].num_rows
    rows = t.to_pylist()
    stores = small["dim_stores"].to_pylist()
    flagship_dcs = {s["dc_id"] for s in stores if s["volume_class"] == "FLAGSHIP"}
    for dc in range(1, n_dc + 1):
        r, dry = rows[2 * dc - 2], rows[2 * dc - 1]
        assert (r["truck_id"], r["dc_id"], r["refrigerated"], r["fleet"]) == (
            2 * dc - 1,
            dc,
            True,
            "DC_TO_STORE",
        )
        assert (dry["truck_id"], dry["dc_id"], dry["refrigerated"], dry["fleet"]) == (
            2 * dc,
            dc,
            False,
            "DC_TO_STORE",
        )
        # model 3: double trailers (60,000) at a DC serving a FLAGSHIP store, else 30,000, both trucks
        expected = 60_000 if dc in flagship_dcs else 30_000
        assert r["capacity_units"] == dry["capacity_units"] == expected, dc
    supplier = rows[2 * n_dc :]
    assert [x["refrigerated"] for x in supplier] == [True] * 4 + [False] * 4  # round(20·0.2)=4 of each class
    assert all(
        x["fleet"] == "SUPPLIER" and x["dc_id"] is None and x["capacity_units"] == 40_000 for x in supplier
    )
    plates = col(t, "license_plate")
    assert len(set(plates)) == len(plates) and all(re.fullmatch(r"[A-Z]{3}\d{4}", p) for p in plates)


def test_customers(small):
    c = small["dim_customers"]
    assert c.num_rows == 80_600
    row = c.slice(20870, 1).to_pylist()[0]
    assert row["customer_id"] == 20871
    assert row["ble_id_ext"] == "BLE000G3R" and row["ad_id_ext"] == "AD000G3R"
    assert re.fullmatch(r"LC020871\d{3}", row["loyalty_card_number"])
    assert all(re.fullmatch(r"\((555|800|888|877|866)\) \d{3}-\d{4}", p) for p in col(c, "phone")[:2000])
    assert len(set(col(c, "ad_id_ext"))) == c.num_rows
    share = pc.mean(c.column("app_user").cast(pa.int8())).as_py()
    assert 0.29 < share < 0.31
    # home store in the customer's own geography (every geography has a store here)
    store_geo = dict(
        zip(col(small["dim_stores"], "store_id"), col(small["dim_stores"], "geography_id"), strict=True)
    )
    assert all(
        store_geo[h] == g for h, g in zip(col(c, "home_store_id"), col(c, "geography_id"), strict=True)
    )
    # home stores are chosen ∝ traffic multiplier: the busiest store gets more customers than the quietest
    s = small["dim_stores"]
    mult = dict(zip(col(s, "store_id"), decimal_unscaled(s.column("daily_traffic_multiplier")), strict=True))
    homes = Counter(col(c, "home_store_id"))
    by_geo: dict[int, list[int]] = {}
    for sid, gid in store_geo.items():
        by_geo.setdefault(gid, []).append(sid)
    for stores in by_geo.values():
        if len(stores) >= 3:
            hi, lo = max(stores, key=mult.get), min(stores, key=mult.get)
            if mult[hi] > 2 * mult[lo]:
                assert homes[hi] > homes[lo]


def test_product_money_invariants_in_cents(small):
    p = small["dim_products"]
    msrp, sale, cost = (p.column(x).to_numpy() for x in ("msrp_cents", "sale_price_cents", "cost_cents"))
    assert ((cost > 0) & (cost < sale) & (sale <= msrp)).all()
    for dec, cents in (("msrp", msrp), ("sale_price", sale), ("cost", cost)):
        assert (decimal_unscaled(p.column(dec)) == cents).all()
    equal_share = (sale == msrp).mean()
    assert 0.55 < equal_share < 0.65


def test_product_rules(small):
    p = small["dim_products"]
    rules = ref.product_rules()
    import hashlib as _h

    for dept, category, tax in set(
        zip(col(p, "department"), col(p, "category"), col(p, "taxability"), strict=True)
    ):
        text = f"{dept} {category}".lower()
        if any(k in text for k in rules.food_keywords):
            want = "NON_TAXABLE"
        elif any(k in text for k in rules.clothing_keywords):
            want = "REDUCED_RATE"
        else:
            h = int(_h.sha256(f"{dept}:{category}".encode()).hexdigest(), 16)
            want = "REDUCED_RATE" if h % 100 < 10 else "TAXABLE"
        assert tax == want, (dept, category)
    grocery = sum(d == "Grocery" for d in col(p, "department")) / p.num_rows
    assert 0.85 < grocery < 0.95
    for cat, fridge in zip(col(p, "category"), col(p, "requires_refrigeration"), strict=True):
        if cat in rules.refrigerated_categories:
            assert fridge
    tagged = 1 - p.column("tags").null_count / p.num_rows
    assert 0.05 < tagged < 0.15
    assert sorted(col(p, "popularity_rank")) == list(range(1, p.num_rows + 1))
    assert set(col(p, "case_pack")) == {6, 12, 24}
    names = set(zip(col(p, "product_name"), col(p, "brand"), strict=True))
    assert len(names) == p.num_rows and all(n.startswith(b + " ") for n, b in names)


def test_launch_dates_by_product_id_group(small):
    p = small["dim_products"]
    start = SMALL.start_date
    n = p.num_rows
    for pid, launch in zip(col(p, "product_id"), col(p, "launch_date"), strict=True):
        days = (launch - start).days
        if (pid - 1) * 10 < 6 * n:
            assert -730 <= days <= -180
        elif (pid - 1) * 10 < 9 * n:
            assert 0 <= days <= 180
        else:
            assert 180 <= days <= 365
    assert min(col(p, "launch_date")) >= start - timedelta(days=730)


def test_largest_remainder_ties_follow_the_given_order():
    import numpy as np

    assert list(largest_remainder(3, np.array([1, 1, 1, 1]), np.array([3, 2, 1, 0]))) == [0, 1, 1, 1]
    assert list(largest_remainder(10, np.array([1, 2, 7]), np.arange(3))) == [1, 2, 7]


_DIGEST_SCRIPT = """
import hashlib, sys
import pyarrow as pa
from retail_assets.config import DatasetSettings
from retail_assets.generate.dimensions import build_dimensions
h = hashlib.sha256()
for name, t in build_dimensions(DatasetSettings(scale_factor=float(sys.argv[1]))).items():
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t.combine_chunks())
    h.update(name.encode()); h.update(sink.getvalue().to_pybytes())
print(h.hexdigest())
"""


def _digest_here(dims: dict[str, pa.Table]) -> str:
    h = hashlib.sha256()
    for name, t in dims.items():
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, t.schema) as w:
            w.write_table(t.combine_chunks())
        h.update(name.encode())
        h.update(sink.getvalue().to_pybytes())
    return h.hexdigest()


def test_deterministic_across_processes(tiny):
    outs = [
        subprocess.run(
            [sys.executable, "-c", _DIGEST_SCRIPT, "0.01"], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert outs[0] == outs[1] == _digest_here(tiny)


def test_seed_changes_the_data():
    other = build_dimensions(DatasetSettings(scale_factor=0.01, seed=7))
    assert _digest_here(other) != _digest_here(build_dimensions(TINY))
