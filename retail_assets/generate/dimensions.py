"""Build the six dimension tables (contract §3, build order §7.2) from settings and reference data.

Dimensions are a pure function of (seed, scale factor, start_date, model_version, reference data):
every draw comes from a named stream (§8.2), nothing depends on process, set or dict order, and
money is held in exact integer cents (§1.4). The result is cached per settings in the process, and
the tables are immutable Arrow tables with exactly the ``DIMENSION_TABLES`` schemas.

Stream layout (documented because it *is* the data):

* ``dim_geographies``: one weighted sample without replacement of the reference rows.
* ``dim_stores``: the class permutation; ``dim_stores, store_id``: 6 uniforms per store
  (hours, traffic multiplier, street number, street, suffix, DC travel time).
* ``dim_distribution_centers, dc_id``: 2 uniforms (street number, street).
* ``dim_trucks, truck_id``: license-plate draws (3 letters + 4 digits, redrawn on collision).
* ``dim_customers``: column blocks over customer_id order (geography, home store, first name, last
  name, house number, street, suffix, loyalty check, area code, exchange, line, app user). One
  stream per customer (as §3.5 words it) would cost ~10 µs × 403,000 = 4 s for stream set-up
  alone; block draws from the table stream keep the build under a second (decision noted for §10).
* ``dim_products``: the combination sample, then the popularity permutation; ``dim_products,
  product_id``: 6 uniforms per product (msrp, sale-equal, discount, cost, launch, case pack).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.config import STORES_AT_SCALE_1, DatasetSettings
from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.generate import reference_data as ref
from retail_assets.generate.ids import base36
from retail_assets.generate.money import cents_to_decimal, decimal_array
from retail_assets.generate.rng import rng

EPOCH = date(1970, 1, 1)

# --- rules as data (§3, §7.1) ---------------------------------------------------------------------

VOLUME_CLASSES = ("FLAGSHIP", "HIGH_VOLUME", "MEDIUM_VOLUME", "LOW_VOLUME", "KIOSK")
VOLUME_CLASS_PERCENT = (5, 15, 50, 25, 5)
FORMAT_BY_CLASS = {
    "FLAGSHIP": "HYPERMARKET",
    "HIGH_VOLUME": "SUPERSTORE",
    "MEDIUM_VOLUME": "STANDARD",
    "LOW_VOLUME": "NEIGHBORHOOD",
    "KIOSK": "EXPRESS",
}
#: daily_traffic_multiplier range per class, in thousandths
MULTIPLIER_RANGE_MILLI = {
    "FLAGSHIP": (2500, 3000),
    "HIGH_VOLUME": (1800, 2400),
    "MEDIUM_VOLUME": (800, 1200),
    "LOW_VOLUME": (400, 700),
    "KIOSK": (250, 350),
}
HOURS_BY_FORMAT: dict[str, tuple[tuple[str, float], ...]] = {
    "HYPERMARKET": (("24/7", 0.6), ("06:00-24:00", 0.4)),
    "SUPERSTORE": (("06:00-24:00", 0.6), ("08:00-22:00", 0.4)),
    "STANDARD": (("08:00-22:00", 0.8), ("09:00-21:00", 0.2)),
    "NEIGHBORHOOD": (("08:00-22:00", 0.5), ("09:00-21:00", 0.5)),
    "EXPRESS": (("09:00-21:00", 0.5), ("09:00-18:00", 0.5)),
}
#: share of the catalogue carried, in percent (assortment_size = ceil(share × N products))
ASSORTMENT_PERCENT = {
    "HYPERMARKET": 100,
    "SUPERSTORE": 100,
    "STANDARD": 80,
    "NEIGHBORHOOD": 50,
    "EXPRESS": 20,
}
#: dc_travel_minutes U{lo..hi} by how close the DC is
TRAVEL_MINUTES = {"geography": (30, 90), "state": (60, 150), "other": (120, 180)}
DC_TRUCK_CAPACITY = 30_000
#: model 3 (issue 12): a DC that serves a FLAGSHIP store (traffic ×2.5-3.0) runs double trailers on
#: both its trucks. With 30,000 units a flagship far from its DC could get one load a day per class
#: and was filled at 80 % in December; back-to-back trips cannot help when a round trip takes 10 h.
DOUBLE_TRAILER_CLASS = "FLAGSHIP"
DOUBLE_TRAILER_CAPACITY = 60_000
SUPPLIER_TRUCK_CAPACITY = 40_000
APP_USER_SHARE = 0.30
MSRP_SPREAD = 0.15
SALE_EQUALS_MSRP_P = 0.60
SALE_DISCOUNT_RANGE = (0.05, 0.35)
COST_SHARE_RANGE = (0.50, 0.85)
#: launch_date groups by product_id share: (cumulative tenths, first offset, last offset) in days
#: relative to start_date (negative = before)
LAUNCH_GROUPS = ((6, -730, -180), (9, 0, 180), (10, 180, 365))
_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
_B36_ASCII = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)


# --- sizes (§3.7) -----------------------------------------------------------------------------------


def scale_round(base: float, scale_factor: float) -> int:
    """``round(base · sf)`` half away from zero, exact on the decimal value of sf (no float error)."""
    value = Decimal(repr(float(base))) * Decimal(repr(float(scale_factor)))
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class DimensionSizes:
    geographies: int
    stores: int
    dcs: int
    supplier_refrigerated: int
    supplier_dry: int
    customers: int
    products: int

    @property
    def trucks(self) -> int:
        return 2 * self.dcs + self.supplier_refrigerated + self.supplier_dry


def dimension_sizes(settings: DatasetSettings) -> DimensionSizes:
    """Row counts of §3.7, clamped to what the shipped reference holds."""
    sf = settings.scale_factor
    n_ref_geo = len(ref.geographies())
    n_combos = ref.catalogue().n_combinations
    return DimensionSizes(
        geographies=min(max(scale_round(20, sf), 1), min(579, n_ref_geo)),
        stores=max(1, scale_round(STORES_AT_SCALE_1, sf)),
        dcs=max(1, scale_round(20, sf)),
        # model 4: one supplier truck of each class per DC, so that each DC owns a lane of supplier
        # slots (§7.10) as wide as the pool it shared in model 3 (4 + 6 trucks at sf 1)
        supplier_refrigerated=max(1, scale_round(20, sf)),
        supplier_dry=max(1, scale_round(20, sf)),
        customers=max(1000, scale_round(403_000, sf)),
        products=min(max(scale_round(10_000, sf), 500), min(64_947, n_combos)),
    )


def settings_key(settings: DatasetSettings) -> tuple:
    """A hashable identity of the settings (``DatasetSettings`` holds a dict, so is not hashable)."""
    return (
        int(settings.seed),
        float(settings.scale_factor),
        settings.start_date,
        settings.model_version,
        json.dumps(settings.overrides, sort_keys=True),
    )


# --- small exact helpers ------------------------------------------------------------------------------


def largest_remainder(total: int, weights: np.ndarray, tie_order: np.ndarray) -> np.ndarray:
    """Integer counts summing to ``total`` in proportion to integer ``weights``.

    Floors first, then one extra unit each to the largest remainders; equal remainders go in
    ``tie_order`` (an array of indices, earliest first). Exact: no float enters the comparison.
    """
    w = np.asarray(weights, dtype=np.int64)
    s = int(w.sum())
    if s <= 0:
        raise ValueError("largest_remainder needs positive total weight")
    scaled = total * w
    counts = scaled // s
    rem = scaled % s
    leftover = total - int(counts.sum())
    pos = np.empty(len(w), dtype=np.int64)
    pos[np.asarray(tie_order)] = np.arange(len(w))
    order = np.lexsort((pos, -rem))
    counts[order[:leftover]] += 1
    return counts


def _round_pos(x: np.ndarray) -> np.ndarray:
    """Half-away rounding of non-negative floats to int64 (draw × amount rounding points, §7)."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def _utf8(values: np.ndarray) -> pa.Array:
    # a list, not an object ndarray: pyarrow converts object ndarrays through pandas (slow import)
    return pa.array(np.asarray(values).tolist(), type=pa.string())


def _date32(days_since_epoch: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days_since_epoch, dtype=np.int32), type=pa.date32())


def _table(name: str, columns: dict[str, pa.Array]) -> pa.Table:
    spec = DIMENSION_TABLES[name]
    if list(columns) != spec.column_names:
        raise AssertionError(
            f"{name}: built columns {list(columns)} differ from the contract {spec.column_names}"
        )
    return pa.Table.from_arrays(list(columns.values()), schema=spec.arrow_schema)


def _index_of(row: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Index into a reference list for uniform draws u ∈ [0, 1)."""
    return np.minimum((row * len(table)).astype(np.int64), len(table) - 1)


# --- the build --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Geo:
    ref_index: np.ndarray
    weight_milli: np.ndarray
    city: np.ndarray
    state: np.ndarray
    zip_code: np.ndarray
    region: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ref_index)

    @property
    def place(self) -> np.ndarray:
        """``City, ST 01234`` per geography, for addresses."""
        return np.array(
            [f"{c}, {s} {z}" for c, s, z in zip(self.city, self.state, self.zip_code, strict=True)]
        )


def _geographies(settings: DatasetSettings, n: int) -> tuple[_Geo, pa.Table]:
    geo_ref = ref.geographies()
    w = geo_ref.weight_milli
    g = rng(settings.seed, "dim_geographies", model_version=settings.model_version)
    idx = g.choice(len(w), size=n, replace=False, p=w / w.sum())
    geo = _Geo(
        ref_index=idx,
        weight_milli=w[idx].astype(np.int64),
        city=geo_ref.city[idx],
        state=geo_ref.state[idx],
        zip_code=geo_ref.zip_code[idx],
        region=geo_ref.region[idx],
    )
    table = _table(
        "dim_geographies",
        {
            "geography_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
            "city": _utf8(geo.city),
            "state": _utf8(geo.state),
            "zip_code": _utf8(geo.zip_code),
            "district": _utf8(geo_ref.district[idx]),
            "region": _utf8(geo.region),
            "weight": decimal_array(geo.weight_milli, 6, 3),
        },
    )
    return geo, table


def _weight_order(geo: _Geo) -> np.ndarray:
    """Geography indices by weight desc, then geography_id (the §3.2/§7.2 tie rule)."""
    return np.lexsort((np.arange(geo.n), -geo.weight_milli))


def _stores_per_geography(geo: _Geo, n_stores: int) -> np.ndarray:
    order = _weight_order(geo)
    counts = np.zeros(geo.n, dtype=np.int64)
    if n_stores <= geo.n:
        counts[order[:n_stores]] = 1
    else:
        counts = 1 + largest_remainder(n_stores - geo.n, geo.weight_milli, order)
    return counts


def _pick_hours(fmt: str, u: float) -> str:
    acc = 0.0
    options = HOURS_BY_FORMAT[fmt]
    for hours, p in options:
        acc += p
        if u < acc:
            return hours
    return options[-1][0]


def _uniform_int(u: float, lo: int, hi: int) -> int:
    """U{lo..hi} from one uniform draw (keeps each stream's draw layout fixed)."""
    return lo + min(int(u * (hi - lo + 1)), hi - lo)


@dataclass(frozen=True)
class _Stores:
    geo_index: np.ndarray  # per store, 0-based geography index
    multiplier_milli: np.ndarray
    street_u: np.ndarray  # (S, 3) address uniforms
    travel_u: np.ndarray
    volume_class: np.ndarray
    store_format: np.ndarray
    hours: np.ndarray


def _store_attributes(settings: DatasetSettings, geo: _Geo, n_stores: int) -> _Stores:
    counts = _stores_per_geography(geo, n_stores)
    geo_index = np.repeat(np.arange(geo.n), counts)
    class_counts = largest_remainder(n_stores, np.array(VOLUME_CLASS_PERCENT), np.arange(len(VOLUME_CLASSES)))
    perm = rng(settings.seed, "dim_stores", model_version=settings.model_version).permutation(n_stores)
    volume_class = np.empty(n_stores, dtype=object)
    volume_class[perm] = np.repeat(np.array(VOLUME_CLASSES, dtype=object), class_counts)
    fmt = np.array([FORMAT_BY_CLASS[c] for c in volume_class], dtype=object)
    draws = np.array(
        [
            rng(settings.seed, "dim_stores", sid, model_version=settings.model_version).random(6)
            for sid in range(1, n_stores + 1)
        ]
    ).reshape(n_stores, 6)
    hours = np.array([_pick_hours(f, u) for f, u in zip(fmt, draws[:, 0], strict=True)], dtype=object)
    lo = np.array([MULTIPLIER_RANGE_MILLI[c][0] for c in volume_class], dtype=np.float64)
    hi = np.array([MULTIPLIER_RANGE_MILLI[c][1] for c in volume_class], dtype=np.float64)
    multiplier = _round_pos(lo + (hi - lo) * draws[:, 1])
    return _Stores(geo_index, multiplier, draws[:, 2:5], draws[:, 5], volume_class, fmt, hours)


def _dc_geographies(geo: _Geo, stores: _Stores, n_dcs: int) -> np.ndarray:
    per_geo = np.bincount(stores.geo_index, minlength=geo.n)
    counts = largest_remainder(n_dcs, per_geo, _weight_order(geo))
    return np.repeat(np.arange(geo.n), counts)


def _assign_dcs(geo: _Geo, stores: _Stores, dc_geo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Store -> DC (fewest assigned so far, then lowest dc_id) and the travel minutes (§3.3)."""
    assigned = np.zeros(len(dc_geo), dtype=np.int64)
    dc_of_store = np.empty(len(stores.geo_index), dtype=np.int64)
    travel = np.empty(len(stores.geo_index), dtype=np.int64)
    dc_state = geo.state[dc_geo]
    dc_region = geo.region[dc_geo]
    for s, gi in enumerate(stores.geo_index):
        for mask in (
            dc_geo == gi,
            dc_state == geo.state[gi],
            dc_region == geo.region[gi],
            np.ones(len(dc_geo), dtype=bool),
        ):
            if mask.any():
                break
        cands = np.flatnonzero(mask)
        best = cands[np.lexsort((cands, assigned[cands]))[0]]
        assigned[best] += 1
        dc_of_store[s] = best + 1
        # closeness of the chosen DC, not of the fallback level used to find it
        if dc_geo[best] == gi:
            closeness = "geography"
        elif dc_state[best] == geo.state[gi]:
            closeness = "state"
        else:
            closeness = "other"
        travel[s] = _uniform_int(float(stores.travel_u[s]), *TRAVEL_MINUTES[closeness])
    return dc_of_store, travel


def _pa_int_str(values: np.ndarray, width: int = 0) -> pa.Array:
    """Integers as Arrow strings, zero-padded to ``width`` (Arrow kernels: ~10× numpy's U strings)."""
    out = pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())
    return pc.utf8_lpad(out, width=width, padding="0") if width else out


BLE_ID_PREFIX, AD_ID_PREFIX = "BLE", "AD"
"""§3.4: a customer's device ids are these prefixes + the customer id in 6 base-36 digits."""


def customer_device_ids(prefix: str, customer_ids: np.ndarray) -> pa.Array:
    """``ble_id_ext`` (``BLE_ID_PREFIX``) or ``ad_id_ext`` (``AD_ID_PREFIX``) of these customers.

    Why a function the day generator calls, not a column it reads: the two columns are pure
    functions of ``customer_id``, and holding them for the whole chain cost every shard worker
    ≈ 25 bytes a customer (1 GB at sf 100, 40 M customers) for the few thousand a day looks up."""
    return _pa_concat(prefix, _base36_fixed(customer_ids, 6))


def _pa_concat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of Arrow string arrays and literal strings."""
    return pc.binary_join_element_wise(*(pa.scalar(p) if isinstance(p, str) else p for p in parts), "")


def _pick(values: np.ndarray, index: np.ndarray) -> pa.Array:
    """``values[index]`` as an Arrow string array, via ``take`` on the small reference list."""
    return pa.array([str(v) for v in values], type=pa.string()).take(
        pa.array(np.asarray(index, dtype=np.int64))
    )


def _addresses(numbers: np.ndarray, streets: pa.Array, suffixes: pa.Array, places: pa.Array) -> pa.Array:
    """``{number} {street} {suffix}, {City}, {ST} {zip}``."""
    return _pa_concat(_pa_int_str(numbers), " ", streets, " ", suffixes, ", ", places)


def _base36_fixed(values: np.ndarray, width: int = 6) -> pa.Array:
    """base36 (digits then A-Z) zero-padded to ``width``, built as ASCII bytes (no per-row Python)."""
    v = np.asarray(values, dtype=np.int64)
    if len(v) and int(v.max()) >= 36**width:
        return pa.array(base36(v, width).tolist(), type=pa.string())  # longer ids: the general path
    digits = np.empty((len(v), width), dtype=np.uint8)
    rest = v.copy()
    for i in range(width - 1, -1, -1):
        digits[:, i] = _B36_ASCII[rest % 36]
        rest //= 36
    return pa.array(digits.view(f"S{width}").reshape(-1), type=pa.binary()).cast(pa.string())


def _stores_table(
    geo: _Geo, stores: _Stores, sizes: DimensionSizes, dc_of_store: np.ndarray, travel: np.ndarray
) -> pa.Table:
    n = sizes.stores
    names = ref.names()
    streets, suffixes = names.street_names, names.commercial_suffixes
    u = stores.street_u
    numbers = 100 + np.minimum((u[:, 0] * 9900).astype(np.int64), 9899)
    address = _addresses(
        numbers,
        _pick(streets, _index_of(u[:, 1], streets)),
        _pick(suffixes, _index_of(u[:, 2], suffixes)),
        _pick(geo.place, stores.geo_index),
    )
    tax = np.array(
        [ref.tax_rate_1e5(str(geo.state[g]), str(geo.city[g])) for g in stores.geo_index], dtype=np.int64
    )
    assortment = np.array(
        [-((-ASSORTMENT_PERCENT[f] * sizes.products) // 100) for f in stores.store_format], dtype=np.int64
    )
    ids = np.arange(1, n + 1, dtype=np.int64)
    return _table(
        "dim_stores",
        {
            "store_id": pa.array(ids),
            "store_number": _pa_concat("S", _pa_int_str(ids, 6)),
            "address": address,
            "geography_id": pa.array(stores.geo_index + 1),
            "tax_rate": decimal_array(tax, 7, 5),
            "volume_class": _utf8(stores.volume_class),
            "store_format": _utf8(stores.store_format),
            "operating_hours": _utf8(stores.hours),
            "daily_traffic_multiplier": decimal_array(stores.multiplier_milli, 6, 3),
            "assortment_size": pa.array(assortment),
            "dc_id": pa.array(dc_of_store),
            "dc_travel_minutes": pa.array(travel),
        },
    )


def _dcs_table(settings: DatasetSettings, geo: _Geo, dc_geo: np.ndarray) -> pa.Table:
    n = len(dc_geo)
    ids = np.arange(1, n + 1, dtype=np.int64)
    names = ref.names()
    industrial = names.industrial_streets.astype(np.str_)
    u = np.array(
        [
            rng(settings.seed, "dim_distribution_centers", i, model_version=settings.model_version).random(2)
            for i in ids
        ]
    ).reshape(n, 2)
    numbers = 1000 + np.minimum((u[:, 0] * 9000).astype(np.int64), 8999)
    address = _pa_concat(
        _pa_int_str(numbers),
        " ",
        _pick(industrial, _index_of(u[:, 1], industrial)),
        ", ",
        _pick(geo.place, dc_geo),
    )
    return _table(
        "dim_distribution_centers",
        {
            "dc_id": pa.array(ids),
            "dc_number": _pa_concat("DC", _pa_int_str(ids, 3)),
            "address": address,
            "geography_id": pa.array(dc_geo + 1),
        },
    )


def _trucks_table(
    settings: DatasetSettings, sizes: DimensionSizes, stores: _Stores, dc_of_store: np.ndarray
) -> pa.Table:
    d = sizes.dcs
    dc_ids = np.arange(1, d + 1, dtype=np.int64)
    n_sup = sizes.supplier_refrigerated + sizes.supplier_dry
    fleet = ["DC_TO_STORE"] * (2 * d) + ["SUPPLIER"] * n_sup
    refrigerated = np.concatenate(
        [np.tile([True, False], d), np.arange(n_sup) < sizes.supplier_refrigerated]
    ).astype(bool)
    dc_id = np.concatenate([np.repeat(dc_ids, 2), np.zeros(n_sup, dtype=np.int64)])
    double = np.zeros(d, dtype=bool)
    double[dc_of_store[stores.volume_class == DOUBLE_TRAILER_CLASS] - 1] = True
    dc_capacity = np.where(double, DOUBLE_TRAILER_CAPACITY, DC_TRUCK_CAPACITY)
    capacity = np.concatenate([np.repeat(dc_capacity, 2), np.full(n_sup, SUPPLIER_TRUCK_CAPACITY)]).astype(
        np.int64
    )
    plates: list[str] = []
    used: set[str] = set()
    for tid in range(1, sizes.trucks + 1):
        g = rng(settings.seed, "dim_trucks", tid, model_version=settings.model_version)
        while True:
            letters = "".join(_LETTERS[g.integers(0, 26, 3)])
            digits = "".join(str(x) for x in g.integers(0, 10, 4))
            plate = letters + digits
            if plate not in used:
                break
        used.add(plate)
        plates.append(plate)
    return _table(
        "dim_trucks",
        {
            "truck_id": pa.array(np.arange(1, sizes.trucks + 1, dtype=np.int64)),
            "license_plate": pa.array(plates, type=pa.string()),
            "fleet": pa.array(fleet, type=pa.string()),
            "refrigerated": pa.array(refrigerated),
            "dc_id": pa.array(dc_id, mask=dc_id == 0),
            "capacity_units": pa.array(capacity),
        },
    )


def _home_store_tables(geo: _Geo, stores: _Stores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flattened per-geography candidate stores with cumulative probability keys.

    Key of candidate j of geography g = g + (cumulative multiplier share up to j), so one
    ``searchsorted(keys, g + u)`` picks a store ∝ multiplier among g's candidates for every customer.
    """
    keys: list[np.ndarray] = []
    cand: list[np.ndarray] = []
    store_geo = stores.geo_index
    st_state = geo.state[store_geo]
    st_region = geo.region[store_geo]
    for gi in range(geo.n):
        for mask in (
            store_geo == gi,
            st_state == geo.state[gi],
            st_region == geo.region[gi],
            np.ones(len(store_geo), bool),
        ):
            if mask.any():
                break
        idx = np.flatnonzero(mask)
        w = stores.multiplier_milli[idx].astype(np.float64)
        cum = np.cumsum(w) / w.sum()
        cum[-1] = 1.0
        keys.append(gi + cum)
        cand.append(idx + 1)
    return np.concatenate(keys), np.concatenate(cand), np.array([len(c) for c in cand])


CUSTOMER_BATCH_ROWS = 1 << 20
"""Customers a batch of ``StreamedDimensions.customer_batches`` holds (≈ 270 bytes a finished row)."""


@dataclass(frozen=True)
class _CustomerDraws:
    """Every customer's draws, in customer_id order (home store by home store), each in the narrowest
    unsigned type that holds it: 16–18 bytes a customer, against ≈ 270 for the finished row (names,
    address, phone and ids as strings), so the rows can be built a batch at a time (§3.5)."""

    geo_index: np.ndarray
    home_store: np.ndarray
    first: np.ndarray
    last: np.ndarray
    house: np.ndarray
    street: np.ndarray
    suffix: np.ndarray
    check: np.ndarray
    area: np.ndarray
    exchange: np.ndarray
    line: np.ndarray
    app_user: np.ndarray

    @property
    def n(self) -> int:
        return len(self.home_store)


DRAW_CHUNK = 1 << 20
"""Values a block of customer draws is made in at a time (see ``_drawn``)."""


def _drawn(n: int, dtype: np.dtype, draw: Callable[[int, int], np.ndarray]) -> np.ndarray:
    """A block of ``n`` draws made ``DRAW_CHUNK`` at a time into an array of ``dtype``:
    ``draw(lo, hi)`` makes values ``lo`` to ``hi``. The values are the block's drawn whole: numpy's
    ``random`` and bounded 64-bit ``integers`` take one output of the bit generator per value, with
    nothing buffered across calls (the golden digests hold it), so a block never exists at 8 bytes a
    value — at sf 100, 40 M customers, that was 0.3 GiB per block."""
    out = np.empty(n, dtype)
    for lo in range(0, n, DRAW_CHUNK):
        hi = min(n, lo + DRAW_CHUNK)
        out[lo:hi] = draw(lo, hi)
    return out


def _customer_draws(settings: DatasetSettings, geo: _Geo, stores: _Stores, n: int) -> _CustomerDraws:
    """The draws of every customer, in the documented block order, then in customer_id order."""
    names = ref.names()
    g = rng(settings.seed, "dim_customers", model_version=settings.model_version)
    cum_geo = np.cumsum(geo.weight_milli) / geo.weight_milli.sum()
    cum_geo[-1] = 1.0
    geo_index = _drawn(
        n, np.min_scalar_type(geo.n), lambda lo, hi: np.searchsorted(cum_geo, g.random(hi - lo), side="right")
    )
    keys, cand, _ = _home_store_tables(geo, stores)

    def home_stores(lo: int, hi: int) -> np.ndarray:
        pick = np.searchsorted(keys, geo_index[lo:hi] + g.random(hi - lo), side="right")
        return cand[np.minimum(pick, len(keys) - 1)]

    home_store = _drawn(n, np.min_scalar_type(int(cand.max()) + 1), home_stores)
    # Customer ids are numbered home store by home store (model 5, §3.5): a store's customers are
    # one range of ids, so a day's generator knows every customer's home store from a count per
    # store instead of holding a chain-wide array per worker (memory flat in the scale factor, §8.5).
    order = np.argsort(home_store, kind="stable")

    def block(lo: int, hi: int) -> np.ndarray:
        return _drawn(n, np.min_scalar_type(hi), lambda a, b: g.integers(lo, hi, b - a))[order]

    first = block(0, len(names.first_names))
    last = block(0, len(names.last_names))
    house = block(1, 10_000)
    street = block(0, len(names.street_names))
    suffix = block(0, len(names.residential_suffixes))
    check = block(0, 1000)
    area = block(0, len(names.phone_area_codes))
    exchange = block(200, 1000)
    line = block(0, 10_000)
    app_user = _drawn(n, np.dtype(bool), lambda a, b: g.random(b - a) < APP_USER_SHARE)[order]
    return _CustomerDraws(
        geo_index[order], home_store[order], first, last, house, street, suffix, check, area, exchange, line, app_user
    )


def _customer_rows(draws: _CustomerDraws, geo: _Geo, lo: int, hi: int) -> pa.Table:
    """The finished rows of customers ``lo + 1`` to ``hi`` (ids are 1-based)."""
    names = ref.names()
    s = slice(lo, hi)
    ids = np.arange(lo + 1, hi + 1, dtype=np.int64)
    address = _addresses(
        draws.house[s],
        _pick(names.street_names, draws.street[s]),
        _pick(names.residential_suffixes, draws.suffix[s]),
        _pick(geo.place, draws.geo_index[s]),
    )
    loyalty = _pa_concat("LC", _pa_int_str(ids, 6), _pa_int_str(draws.check[s], 3))
    phone = _pa_concat(
        "(", _pick(names.phone_area_codes, draws.area[s]), ") ", _pa_int_str(draws.exchange[s]), "-",
        _pa_int_str(draws.line[s], 4),
    )  # fmt: skip
    b36 = _base36_fixed(ids, 6)
    return _table(
        "dim_customers",
        {
            "customer_id": pa.array(ids),
            "first_name": _pick(names.first_names, draws.first[s]),
            "last_name": _pick(names.last_names, draws.last[s]),
            "address": address,
            "geography_id": pa.array(draws.geo_index[s].astype(np.int64) + 1),
            "home_store_id": pa.array(draws.home_store[s].astype(np.int64)),
            "loyalty_card_number": loyalty,
            "phone": phone,
            "ble_id_ext": _pa_concat(BLE_ID_PREFIX, b36),
            "ad_id_ext": _pa_concat(AD_ID_PREFIX, b36),
            "app_user": pa.array(draws.app_user[s]),
        },
    )


def _customers_table(settings: DatasetSettings, geo: _Geo, stores: _Stores, n: int) -> pa.Table:
    return _customer_rows(_customer_draws(settings, geo, stores, n), geo, 0, n)


def taxability_of(department: str, category: str, rules: ref.ProductRules | None = None) -> str:
    """§3.6: food keyword -> NON_TAXABLE; clothing keyword -> REDUCED_RATE; else the stable sha256 rule."""
    rules = rules or ref.product_rules()
    text = f"{department} {category}".lower()
    if any(k in text for k in rules.food_keywords):
        return "NON_TAXABLE"
    if any(k in text for k in rules.clothing_keywords):
        return "REDUCED_RATE"
    h = int(hashlib.sha256(f"{department}:{category}".encode()).hexdigest(), 16)
    return "REDUCED_RATE" if h % 100 < rules.reduced_rate_hash_percent else "TAXABLE"


def _base_product_attributes(
    cat: ref.Catalogue, rules: ref.ProductRules
) -> tuple[np.ndarray, list[str], list[str | None]]:
    """Per base product: refrigeration flag, taxability, tags (None when no overlay matches)."""
    fridge = np.array(
        [
            c in rules.refrigerated_categories or s in rules.refrigerated_subcategories
            for c, s in zip(cat.category, cat.subcategory, strict=True)
        ],
        dtype=bool,
    )
    tax = [taxability_of(d, c, rules) for d, c in zip(cat.department, cat.category, strict=True)]
    fields = {"item": cat.item, "subcategory": cat.subcategory, "category": cat.category}
    tags: list[str | None] = []
    for i in range(len(cat.item)):
        found: list[str] = []
        for field_name, keyword, t in rules.tag_overlays:
            if keyword in fields[field_name][i]:
                found.extend(x for x in t.split(";") if x not in found)
        tags.append(";".join(found) if found else None)
    return fridge, tax, tags


def _products_table(settings: DatasetSettings, n: int) -> pa.Table:
    cat = ref.catalogue()
    rules = ref.product_rules()
    g = rng(settings.seed, "dim_products", model_version=settings.model_version)
    combo = g.choice(cat.n_combinations, size=n, replace=False)
    popularity = g.permutation(n).astype(np.int64) + 1
    base = cat.combo_base[combo]
    brand = cat.combo_brand[combo]
    ids = np.arange(1, n + 1, dtype=np.int64)
    u = np.array(
        [
            rng(settings.seed, "dim_products", int(i), model_version=settings.model_version).random(6)
            for i in ids
        ]
    ).reshape(n, 6)

    base_cents = cat.base_price_cents[base]
    msrp = np.maximum(_round_pos(base_cents * (1.0 + MSRP_SPREAD * (2.0 * u[:, 0] - 1.0))), 2)
    lo, hi = SALE_DISCOUNT_RANGE
    discounted = _round_pos(msrp * (1.0 - (lo + (hi - lo) * u[:, 2])))
    sale = np.clip(np.where(u[:, 1] < SALE_EQUALS_MSRP_P, msrp, discounted), 2, msrp)
    lo, hi = COST_SHARE_RANGE
    cost = _round_pos(sale * (lo + (hi - lo) * u[:, 3]))
    cost = np.maximum(np.where(cost >= sale, sale - 1, cost), 1)

    # launch dates by product_id group (§3.6)
    launch_offset = np.empty(n, dtype=np.int64)
    tenths = (ids - 1) * 10
    prev = np.zeros(n, dtype=bool)
    for cum_tenths, first, last in LAUNCH_GROUPS:
        sel = (tenths < cum_tenths * n) & ~prev
        span = last - first + 1
        launch_offset[sel] = first + np.minimum((u[sel, 4] * span).astype(np.int64), span - 1)
        prev |= sel
    # first group counts days *before* start: U{180..730} days before == offset −730..−180
    launch = (settings.start_date - EPOCH).days + launch_offset

    cum_pack = np.cumsum(rules.case_pack_probabilities)
    pack_idx = np.minimum(np.searchsorted(cum_pack, u[:, 5], side="right"), len(rules.case_pack_sizes) - 1)
    case_pack = np.array(rules.case_pack_sizes, dtype=np.int64)[pack_idx]

    fridge, tax, tags = _base_product_attributes(cat, rules)
    base_idx = pa.array(base)
    brand_idx = pa.array(brand)

    def by_base(values: np.ndarray | list) -> pa.Array:
        return pa.array(list(values), type=pa.string()).take(base_idx)

    brand_names = pa.array(list(cat.brand), type=pa.string())
    product_name = _pa_concat(_pick(cat.brand, brand), " ", _pick(cat.item, base))
    return _table(
        "dim_products",
        {
            "product_id": pa.array(ids),
            "product_name": product_name,
            "brand": brand_names.take(brand_idx),
            "company": pa.array(list(cat.company), type=pa.string()).take(brand_idx),
            "department": by_base(cat.department),
            "category": by_base(cat.category),
            "subcategory": by_base(cat.subcategory),
            "msrp": cents_to_decimal(msrp),
            "msrp_cents": pa.array(msrp),
            "sale_price": cents_to_decimal(sale),
            "sale_price_cents": pa.array(sale),
            "cost": cents_to_decimal(cost),
            "cost_cents": pa.array(cost),
            "requires_refrigeration": pa.array(fridge[base]),
            "taxability": by_base(tax),
            "launch_date": _date32(launch),
            "tags": by_base(tags),
            "popularity_rank": pa.array(popularity),
            "case_pack": pa.array(case_pack),
        },
    )


@dataclass(frozen=True)
class _Chain:
    """What every dimension is drawn from: the geographies, the stores and their DCs."""

    settings: DatasetSettings
    sizes: DimensionSizes
    geo: _Geo
    geographies: pa.Table
    stores: _Stores
    dc_geo: np.ndarray
    dc_of_store: np.ndarray
    travel: np.ndarray


def _chain(settings: DatasetSettings) -> _Chain:
    sizes = dimension_sizes(settings)
    geo, geographies = _geographies(settings, sizes.geographies)
    stores = _store_attributes(settings, geo, sizes.stores)
    dc_geo = _dc_geographies(geo, stores, sizes.dcs)
    dc_of_store, travel = _assign_dcs(geo, stores, dc_geo)
    return _Chain(settings, sizes, geo, geographies, stores, dc_geo, dc_of_store, travel)


def _settings_of(key: tuple) -> DatasetSettings:
    seed, sf, start_date, model_version, overrides = key
    return DatasetSettings(
        seed=seed,
        scale_factor=sf,
        start_date=start_date,
        model_version=model_version,
        overrides=json.loads(overrides),
    )


def _small_tables(chain: _Chain) -> dict[str, pa.Table]:
    """Every dimension but dim_customers (their sizes are bounded or grow with the stores only)."""
    settings, sizes = chain.settings, chain.sizes
    return {
        "dim_geographies": chain.geographies,
        "dim_distribution_centers": _dcs_table(settings, chain.geo, chain.dc_geo),
        "dim_stores": _stores_table(chain.geo, chain.stores, sizes, chain.dc_of_store, chain.travel),
        "dim_trucks": _trucks_table(settings, sizes, chain.stores, chain.dc_of_store),
        "dim_products": _products_table(settings, sizes.products),
    }


@lru_cache(maxsize=4)
def _build_cached(key: tuple) -> dict[str, pa.Table]:
    chain = _chain(_settings_of(key))
    tables = {
        **_small_tables(chain),
        "dim_customers": _customers_table(chain.settings, chain.geo, chain.stores, chain.sizes.customers),
    }
    return {name: tables[name] for name in DIMENSION_TABLES}


class StreamedDimensions:
    """The dimensions as the lake writer takes them: ``dim_customers`` — the one that grows with the
    scale factor, 403,000 rows per unit (≈ 10 GiB of finished rows at sf 100) — as batches in
    customer_id order, the five others whole.

    Why: the dimension step runs once for the whole chain before any day, so its peak memory decided
    the largest scale factor a machine could start, while the days themselves are made in shards
    whose memory does not grow with it (§8.5). The batches are exactly the rows of
    ``build_dimensions``' ``dim_customers`` (same draws, same order); only the draws of every customer
    are held (16–18 bytes each), never all the finished rows. Nothing is cached in the process.
    """

    def __init__(self, settings: DatasetSettings) -> None:
        self._chain = _chain(settings)
        self.tables = _small_tables(self._chain)
        self.customers = self._chain.sizes.customers

    def customer_batches(self, rows_per_batch: int | None = None) -> Iterator[pa.Table]:
        """dim_customers in id order, ``rows_per_batch`` (default ``CUSTOMER_BATCH_ROWS``) rows at a
        time; the draws are made on first use."""
        rows_per_batch = CUSTOMER_BATCH_ROWS if rows_per_batch is None else rows_per_batch
        if rows_per_batch < 1:
            raise ValueError(f"rows_per_batch must be at least 1, got {rows_per_batch}")
        chain = self._chain
        draws = _customer_draws(chain.settings, chain.geo, chain.stores, self.customers)
        for lo in range(0, draws.n, rows_per_batch):
            yield _customer_rows(draws, chain.geo, lo, min(draws.n, lo + rows_per_batch))


def build_dimensions(settings: DatasetSettings) -> dict[str, pa.Table]:
    """All six dimension tables (§3) for the settings, in ``DIMENSION_TABLES`` order.

    Cached per settings within the process (Arrow tables are immutable, so sharing is safe).
    """
    return dict(_build_cached(settings_key(settings)))
