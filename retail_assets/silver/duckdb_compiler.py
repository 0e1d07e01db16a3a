"""DuckDB spelling of the Silver mappings (the default engine).

Only the dialect lives here; the expressions come from ``compiler.py`` so both engines compile
the same mapping entries. DuckDB has ``QUALIFY`` for "first row per event_id" (§6.1).
"""

from __future__ import annotations

from retail_assets.silver.compiler import Dialect


class DuckDBDialect(Dialect):
    name = "duckdb"
    string_type = "VARCHAR"
    timestamp_type = "TIMESTAMPTZ"
    quote_char = '"'

    def first_per_event_id(self, relation: str, where: str, order_by: str) -> str:
        return (
            f"(SELECT * FROM {relation} WHERE {where} "
            f"QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY {order_by}) = 1)"
        )


DUCKDB = DuckDBDialect()
