"""Every table of the contract by layer: look a table up by name and get its one spec.

Why a catalog: callers that only hold a table's name (a landing writing ``receipt_created``, a check
reading ``ctl_day_manifest``, a demo counting rows) need its schema and location. Asking the catalog
instead of writing ``"cusn"`` next to the name keeps the name in one place, the spec, so a renamed
schema or a new table changes the contract and nothing that reads it.

Bronze holds the dimensions, the fact tables, the control tables and the landed event tables (one
schema, so their names must not collide — checked at import). Silver holds a copy of every dimension
and the Silver version of every fact table (``silver_spec``: the batch columns plus ``_source``).
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.contract.events import BRONZE_EVENT_TABLES
from retail_assets.contract.tables import CONTROL_TABLES, FACT_TABLES, silver_spec
from retail_assets.contract.types import SILVER_SCHEMA, TableSpec


def _union(*groups: dict[str, TableSpec]) -> MappingProxyType[str, TableSpec]:
    merged: dict[str, TableSpec] = {}
    for group in groups:
        clash = sorted(set(merged) & set(group))
        if clash:
            raise ValueError(f"the contract names two tables of one schema alike: {', '.join(clash)}; rename one")
        merged.update(group)
    return MappingProxyType(merged)


def silver_dimension_spec(name: str) -> TableSpec:
    """``ag.<dim>``: the dimension's columns unchanged (a plain copy, no ``_source``; §3, §11.9)."""
    try:
        spec = DIMENSION_TABLES[name]
    except KeyError:
        raise KeyError(f"unknown dimension {name!r}; use one of {', '.join(DIMENSION_TABLES)}") from None
    return replace(spec, schema=SILVER_SCHEMA)


BRONZE_TABLES = _union(DIMENSION_TABLES, FACT_TABLES, CONTROL_TABLES, BRONZE_EVENT_TABLES)
"""Every table written under the Bronze schema, by name."""

SILVER_TABLES = _union(
    {name: silver_dimension_spec(name) for name in DIMENSION_TABLES},
    {name: silver_spec(name) for name in FACT_TABLES},
)
"""Every table written under the Silver schema, by name."""


def _lookup(tables: MappingProxyType[str, TableSpec], name: str, layer: str) -> TableSpec:
    try:
        return tables[name]
    except KeyError:
        raise KeyError(
            f"{name!r} is not a {layer} table of the contract; use one of {', '.join(sorted(tables))} "
            "(or add the table to retail_assets/contract first)"
        ) from None


def bronze_table(name: str) -> TableSpec:
    """The Bronze spec of ``name`` (a dimension, fact, control or landed event table)."""
    return _lookup(BRONZE_TABLES, name, "Bronze")


def silver_table(name: str) -> TableSpec:
    """The Silver spec of ``name`` (a dimension copy or a Silver fact table)."""
    return _lookup(SILVER_TABLES, name, "Silver")
