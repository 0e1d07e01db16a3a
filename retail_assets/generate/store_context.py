"""Static per-store and per-product arrays the in-store simulation reads (derived from the dims).

Why a separate object: every in-store step (traffic, baskets, promotions, tax, BLE, foot traffic)
indexes the same few dimension columns by *store index* (0..S-1, store_id order) or *product index*
(product_id - 1). Converting the Arrow dimension tables to numpy once per day keeps those steps
vectorised and free of Arrow bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from retail_assets.generate import dims_cache
from retail_assets.generate.customer_index import CustomerIndex, CustomerLookup
from retail_assets.generate.money import TAX_K2, decimal_unscaled

STORE_FORMATS = ("HYPERMARKET", "SUPERSTORE", "STANDARD", "NEIGHBORHOOD", "EXPRESS")
ZONES = ("ENTRANCE", "GROCERY", "ELECTRONICS", "CLOTHING", "CHECKOUT")
EPOCH = date(1970, 1, 1)


def day_ordinal(d: date) -> int:
    """Days since 1970-01-01 (the date32 value)."""
    return (d - EPOCH).days


def _np(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


def _decimal_scaled(table: pa.Table, name: str, scale: int) -> np.ndarray:
    """A DECIMAL column as exact scaled int64 (e.g. tax_rate DECIMAL(7,5) -> rate x 100000)."""
    col = table.column(name)
    if col.type.scale != scale:
        raise ValueError(f"{name} has scale {col.type.scale}, expected {scale}")
    return decimal_unscaled(col)


def location_index(location_ids: np.ndarray, wanted: np.ndarray | int, kind: str) -> np.ndarray:
    """Positions of ``wanted`` ids in the ascending id array ``location_ids``.

    Why: the arrays of a shard (§8.5) cover only its own stores and DCs, so ``id − 1`` is no
    longer an index; an id outside the shard is a bug in the shard's coupling and raises.
    """
    w = np.asarray(wanted, dtype=np.int64)
    idx = np.searchsorted(location_ids, w)
    ok = idx < len(location_ids)
    if not (ok.all() and np.array_equal(location_ids[np.where(ok, idx, 0)], w)):
        missing = np.setdiff1d(w, location_ids)[:5].tolist()
        raise KeyError(f"{kind} ids {missing} are not in this shard ({len(location_ids)} {kind}s)")
    return idx


def customer_index(dims: dict[str, pa.Table]) -> CustomerIndex:
    """The ``CustomerIndex`` of the dims' customers, cached per customers table (shared by shards)."""
    return dims_cache.derived(
        "CustomerIndex", {"dim_customers": dims["dim_customers"]}, lambda d: CustomerIndex.from_table(d["dim_customers"])
    )


@dataclass(frozen=True)
class StoreContext:
    """Store- and product-level arrays; index i of a store array is store_id i+1."""

    store_id: np.ndarray  # int64 (S,)
    traffic_multiplier: np.ndarray  # float64 (S,), daily_traffic_multiplier
    store_format: np.ndarray  # int8 (S,), index into STORE_FORMATS
    operating_hours: tuple[str, ...]
    tax_rate_1e5: np.ndarray  # int64 (S,), tax_rate x 100000
    assortment_size: np.ndarray  # int64 (S,)
    geography_id: np.ndarray  # int64 (S,)
    region: tuple[str, ...]  # region of the store's geography (weather is per region)
    dc_id: np.ndarray  # int64 (S,)
    product_id: np.ndarray  # int64 (P,)
    popularity_rank: np.ndarray  # int64 (P,)
    launch_ordinal: np.ndarray  # int32 (P,), days since epoch
    sale_cents: np.ndarray  # int64 (P,)
    tax_k2: np.ndarray  # int64 (P,), 2 x taxability factor
    is_grocery: np.ndarray  # bool (P,)
    perishable: np.ndarray  # bool (P,), requires_refrigeration: a returned unit is disposed, not restocked
    zone_of_product: np.ndarray  # int8 (P,), GROCERY / ELECTRONICS / CLOTHING index into ZONES
    tags: tuple[str | None, ...]
    customer_home_store: CustomerLookup  # [customer_id − 1] -> home store_id (any customer of the chain)
    customer_app_user: CustomerLookup  # [customer_id − 1] -> app_user
    home_customers_sorted: np.ndarray  # customer_id sorted by (home_store_id, customer_id)
    home_offsets: np.ndarray  # (S+1,) CSR offsets into home_customers_sorted

    @property
    def n_stores(self) -> int:
        return len(self.store_id)

    @property
    def n_products(self) -> int:
        return len(self.product_id)

    @property
    def n_customers(self) -> int:
        return len(self.customer_home_store)

    def store_index(self, store_ids: np.ndarray | int) -> np.ndarray:
        """Index into the store arrays of each ``store_id`` (a shard's stores are not 1..S)."""
        return location_index(self.store_id, store_ids, "store")

    @classmethod
    def from_dims(cls, dims: dict[str, pa.Table]) -> StoreContext:
        stores = dims["dim_stores"].sort_by("store_id")
        products = dims["dim_products"].sort_by("product_id")
        store_id = _np(stores, "store_id").astype(np.int64)
        if len(store_id) == 0 or (np.diff(store_id) <= 0).any() or store_id[0] < 1:
            raise ValueError("dim_stores.store_id must be distinct positive integers (contract §3)")
        product_id = _np(products, "product_id").astype(np.int64)
        if not np.array_equal(product_id, np.arange(1, len(product_id) + 1)):
            raise ValueError("dim_products.product_id must be 1..N without gaps (contract §3)")
        fmt_index = {f: i for i, f in enumerate(STORE_FORMATS)}
        store_format = np.array(
            [fmt_index[f] for f in stores.column("store_format").to_pylist()], dtype=np.int8
        )
        dept = products.column("department").to_pylist()
        zone_of_product = np.array(
            [2 if d == "Electronics" else 3 if d == "Clothing" else 1 for d in dept], dtype=np.int8
        )
        cust = customer_index(dims)
        # CSR over this context's stores only (a shard holds a subset of the chain's stores, §8.5)
        homed, offsets = cust.customers_of(store_id)
        geo = dims["dim_geographies"]
        region_of = dict(
            zip(geo.column("geography_id").to_pylist(), geo.column("region").to_pylist(), strict=True)
        )
        launch = products.column("launch_date").cast(pa.int32()).to_numpy().astype(np.int32)
        return cls(
            store_id=store_id,
            traffic_multiplier=_decimal_scaled(stores, "daily_traffic_multiplier", 3) / 1000.0,
            store_format=store_format,
            operating_hours=tuple(stores.column("operating_hours").to_pylist()),
            tax_rate_1e5=_decimal_scaled(stores, "tax_rate", 5),
            assortment_size=_np(stores, "assortment_size").astype(np.int64),
            geography_id=_np(stores, "geography_id").astype(np.int64),
            region=tuple(region_of[g] for g in stores.column("geography_id").to_pylist()),
            dc_id=_np(stores, "dc_id").astype(np.int64),
            product_id=product_id,
            popularity_rank=_np(products, "popularity_rank").astype(np.int64),
            launch_ordinal=launch,
            sale_cents=_np(products, "sale_price_cents").astype(np.int64),
            tax_k2=np.array([TAX_K2[t] for t in products.column("taxability").to_pylist()], dtype=np.int64),
            is_grocery=np.array([d == "Grocery" for d in dept], dtype=bool),
            perishable=_np(products, "requires_refrigeration").astype(bool),
            zone_of_product=zone_of_product,
            tags=tuple(products.column("tags").to_pylist()),
            customer_home_store=cust.home_store,
            customer_app_user=cust.app_user,
            home_customers_sorted=homed,
            home_offsets=offsets.astype(np.int64),
        )
