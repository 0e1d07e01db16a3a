"""Spark SQL spelling of the Silver mappings (scale-out engine; Sail locally).

Only the dialect lives here; the expressions come from ``compiler.py`` so both engines compile
the same mapping entries. Spark SQL has no ``QUALIFY``, so "first row per event_id" is a window
column filtered in an outer query (§6.1); the helper column never reaches the mapped SELECT.
"""

from __future__ import annotations

from retail_assets.silver.compiler import Dialect

ROW_NUMBER_COL = "__retail_rn"


class SparkDialect(Dialect):
    name = "spark"
    string_type = "STRING"
    timestamp_type = "TIMESTAMP"
    quote_char = "`"

    def first_per_event_id(self, relation: str, where: str, order_by: str) -> str:
        return (
            f"(SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY {order_by}) "
            f"AS {ROW_NUMBER_COL} FROM {relation} WHERE {where}) WHERE {ROW_NUMBER_COL} = 1)"
        )


SPARK = SparkDialect()
