"""Where a contract table lives in the lake: ``{lake_root}/{schema}/{name}`` from its spec.

Why here and not at every caller: the schema of a table is a fact of the contract (its ``TableSpec``),
so a caller names the table and this module looks the rest up. A caller that already holds the spec
uses :func:`table_uri`; one that holds only a name asks :func:`bronze_uri` or :func:`silver_uri`,
which refuse a name the contract does not have (a typo would otherwise read an empty table).
"""

from __future__ import annotations

from retail_assets.contract.catalog import bronze_table, silver_table
from retail_assets.contract.types import TableSpec
from retail_assets.lake import delta


def table_uri(lake_root: str, spec: TableSpec) -> str:
    """The Delta table URI of ``spec`` under ``lake_root`` (a local path or an object-store URI)."""
    return delta.table_uri(lake_root, *spec.path)


def bronze_uri(lake_root: str, name: str) -> str:
    """URI of the Bronze table ``name`` (dimension, fact, control or landed event table)."""
    return table_uri(lake_root, bronze_table(name))


def silver_uri(lake_root: str, name: str) -> str:
    """URI of the Silver table ``name`` (dimension copy or Silver fact table)."""
    return table_uri(lake_root, silver_table(name))
