"""Asset keys and group names of the code location — the only module that builds them.

Why one module: an asset key is a contract table seen by Dagster, ``AssetKey([schema, name])`` of
its ``TableSpec``. Building keys next to each asset (``AssetKey(["cusn", t])``) restated the schema
in every domain and kept several copies of the same maps in step by hand. Here every map is derived
from the contract, so a new table in the contract gets its Bronze and Silver keys without an edit
here, and ``retail_assets_tests/defs/test_keys.py`` fails if a key or a schema name is spelled out
anywhere else in the Dagster layer.

Group names live here too: several domains select by group (the Silver automation sensor, the demo),
and a group spelled twice drifts.
"""

from __future__ import annotations

from types import MappingProxyType

import dagster as dg

from retail_assets.contract.catalog import SILVER_TABLES
from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.contract.events import BRONZE_EVENT_TABLES
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.contract.types import TableSpec

DIMENSIONS_GROUP = "dimensions"
BRONZE_BATCH_GROUP = "bronze_batch"
BRONZE_EVENTS_GROUP = "bronze_events"
SILVER_GROUP = "silver"
STREAMING_GROUP = "streaming"
REPORTS_GROUP = "reports"
MAINTENANCE_GROUP = "maintenance"


def table_key(spec: TableSpec) -> dg.AssetKey:
    """The asset key of a contract table: ``schema/name``, the same path as its Delta table."""
    return dg.AssetKey(list(spec.path))


def _keys(specs: dict[str, TableSpec]) -> MappingProxyType[str, dg.AssetKey]:
    return MappingProxyType({name: table_key(spec) for name, spec in specs.items()})


DIM_KEYS = _keys(DIMENSION_TABLES)
"""Bronze dimensions ``cusn/dim_*`` by table name."""
BRONZE_BATCH_KEYS = _keys(FACT_TABLES)
"""Bronze batch fact tables ``cusn/fact_*`` by table name."""
BRONZE_EVENT_KEYS = _keys(BRONZE_EVENT_TABLES)
"""Landed event tables ``cusn/<event_type>`` by event type."""
SILVER_KEYS = _keys({name: SILVER_TABLES[name] for name in FACT_TABLES})
"""Silver fact tables ``ag/fact_*`` by table name."""
SILVER_DIM_KEYS = _keys({name: SILVER_TABLES[name] for name in DIMENSION_TABLES})
"""Silver dimension copies ``ag/dim_*`` by table name."""

OUTBOX_KEY = dg.AssetKey(["state", "streaming_outbox"])
"""The DuckDB outbox (contract §5.6): state, not a lake table, so it has no ``TableSpec``."""
REPORT_KEY = dg.AssetKey(["report", "daily_retail_report"])
"""The per-day report of charts (not a table)."""
REALISM_KEY = dg.AssetKey(["report", "realism_report"])
"""The realism report over a span of days (not a table)."""
LAKE_MAINTENANCE_KEY = dg.AssetKey(["maintenance", "lake_maintenance"])
"""The weekly upkeep of every Delta table of the lake (not a table)."""

TABLE_KEYS: MappingProxyType[dg.AssetKey, TableSpec] = MappingProxyType(
    {
        **{key: DIMENSION_TABLES[name] for name, key in DIM_KEYS.items()},
        **{key: FACT_TABLES[name] for name, key in BRONZE_BATCH_KEYS.items()},
        **{key: BRONZE_EVENT_TABLES[name] for name, key in BRONZE_EVENT_KEYS.items()},
        **{key: SILVER_TABLES[name] for name, key in SILVER_KEYS.items()},
        **{key: SILVER_TABLES[name] for name, key in SILVER_DIM_KEYS.items()},
    }
)
"""Every table asset's key and the contract spec it stands for (the reverse of the maps above)."""


def spec_of(key: dg.AssetKey) -> TableSpec:
    """The contract spec behind a table asset's key."""
    try:
        return TABLE_KEYS[key]
    except KeyError:
        raise KeyError(
            f"{key.to_user_string()} is not the asset key of a contract table; table assets are "
            "schema/name of a spec in retail_assets/contract (see retail_assets.defs.keys)"
        ) from None
