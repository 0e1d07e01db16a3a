"""The dimension tables of §3 (``cusn.dim_*``, copied unchanged to ``ag.dim_*``).

Dimensions are written once per dataset as a full overwrite, so they have no partition column.
"""

from __future__ import annotations

from retail_assets.contract import enums
from retail_assets.contract.types import (
    BIGINT,
    BOOLEAN,
    BRONZE_SCHEMA,
    DATE,
    DEC6_3,
    DEC7_5,
    DEC18_2,
    VARCHAR,
    Column,
    TableSpec,
)


def _dim(name: str, columns: tuple[Column, ...], description: str) -> TableSpec:
    return TableSpec(
        name=name,
        columns=columns,
        primary_key=(columns[0].name,),
        schema=BRONZE_SCHEMA,
        partition_by=None,
        description=description,
    )


DIM_GEOGRAPHIES = _dim(
    "dim_geographies",
    (
        Column("geography_id", BIGINT),
        Column("city", VARCHAR),
        Column("state", VARCHAR),
        Column("zip_code", VARCHAR),
        Column("district", VARCHAR),
        Column("region", VARCHAR),
        Column("weight", DEC6_3),
    ),
    "§3.1 sampled geographies",
)

DIM_DISTRIBUTION_CENTERS = _dim(
    "dim_distribution_centers",
    (
        Column("dc_id", BIGINT),
        Column("dc_number", VARCHAR),
        Column("address", VARCHAR),
        Column("geography_id", BIGINT),
    ),
    "§3.2 distribution centers",
)

DIM_STORES = _dim(
    "dim_stores",
    (
        Column("store_id", BIGINT),
        Column("store_number", VARCHAR),
        Column("address", VARCHAR),
        Column("geography_id", BIGINT),
        Column("tax_rate", DEC7_5),
        Column("volume_class", VARCHAR, enum=enums.VOLUME_CLASS),
        Column("store_format", VARCHAR, enum=enums.STORE_FORMAT),
        Column("operating_hours", VARCHAR, enum=enums.OPERATING_HOURS),
        Column("daily_traffic_multiplier", DEC6_3),
        Column("assortment_size", BIGINT),
        Column("dc_id", BIGINT),
        Column("dc_travel_minutes", BIGINT),
    ),
    "§3.3 stores",
)

DIM_TRUCKS = _dim(
    "dim_trucks",
    (
        Column("truck_id", BIGINT),
        Column("license_plate", VARCHAR),
        Column("fleet", VARCHAR, enum=enums.FLEET),
        Column("refrigerated", BOOLEAN),
        Column("dc_id", BIGINT, nullable=True),
        Column("capacity_units", BIGINT),
    ),
    "§3.4 trucks (DC fleet first, then supplier trucks)",
)

DIM_CUSTOMERS = _dim(
    "dim_customers",
    (
        Column("customer_id", BIGINT),
        Column("first_name", VARCHAR),
        Column("last_name", VARCHAR),
        Column("address", VARCHAR),
        Column("geography_id", BIGINT),
        Column("home_store_id", BIGINT),
        Column("loyalty_card_number", VARCHAR),
        Column("phone", VARCHAR),
        Column("ble_id_ext", VARCHAR),
        Column("ad_id_ext", VARCHAR),
        Column("app_user", BOOLEAN),
    ),
    "§3.5 customers",
)

DIM_PRODUCTS = _dim(
    "dim_products",
    (
        Column("product_id", BIGINT),
        Column("product_name", VARCHAR),
        Column("brand", VARCHAR),
        Column("company", VARCHAR),
        Column("department", VARCHAR),
        Column("category", VARCHAR),
        Column("subcategory", VARCHAR),
        Column("msrp", DEC18_2),
        Column("msrp_cents", BIGINT),
        Column("sale_price", DEC18_2),
        Column("sale_price_cents", BIGINT),
        Column("cost", DEC18_2),
        Column("cost_cents", BIGINT),
        Column("requires_refrigeration", BOOLEAN),
        Column("taxability", VARCHAR, enum=enums.TAXABILITY),
        Column("launch_date", DATE),
        Column("tags", VARCHAR, nullable=True),
        Column("popularity_rank", BIGINT),
        Column("case_pack", BIGINT),
    ),
    "§3.6 products",
)

DIMENSION_TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        DIM_GEOGRAPHIES,
        DIM_DISTRIBUTION_CENTERS,
        DIM_STORES,
        DIM_TRUCKS,
        DIM_CUSTOMERS,
        DIM_PRODUCTS,
    )
}
"""The 6 dimensions in §3 order (names and schemas only; the build order is §7.2's)."""
