"""The two Silver engines behind one small interface: register Delta tables, run SQL, get Arrow.

Why an interface: the build (``build.py``) is written once; an engine only knows how to expose a
Delta table under a name and how to run its dialect's SQL. Reads always go through the Delta log
(``deltalake`` datasets for DuckDB, ``format("delta")`` for Spark), never by globbing parquet files.
A table that does not exist yet is registered as an empty relation with its declared schema
(contract §6.1), so the stream side and check C1 can always be evaluated.
"""

from __future__ import annotations

from typing import Any, Protocol

import pyarrow as pa

from retail_assets.lake import delta
from retail_assets.silver.compiler import Dialect
from retail_assets.silver.duckdb_compiler import DUCKDB
from retail_assets.silver.spark_compiler import SPARK


class SilverEngine(Protocol):
    dialect: Dialect

    def register(self, name: str, uri: str, declared: pa.Schema) -> tuple[pa.Schema, bool]:
        """Expose the table at ``uri`` as ``name``; returns (actual schema, table exists)."""

    def query(self, sql: str) -> pa.Table: ...

    def query_schema(self, sql: str) -> pa.Schema: ...


class DuckDBEngine:
    """DuckDB over Arrow datasets of the Delta tables (filters are pushed into the dataset scan)."""

    dialect = DUCKDB

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        conn.execute("SET TimeZone = 'UTC'")

    def register(self, name: str, uri: str, declared: pa.Schema) -> tuple[pa.Schema, bool]:
        opened = delta.open_if_exists(uri)
        if opened is not None:
            ds = delta.snapshot_dataset(opened, uri)
            self.conn.register(name, ds)
            return ds.schema, True
        self.conn.register(name, declared.empty_table())
        return declared, False

    def register_arrow(self, name: str, data: pa.Table) -> None:
        self.conn.register(name, data)

    def query(self, sql: str) -> pa.Table:
        return self.conn.sql(sql).to_arrow_table()

    def query_schema(self, sql: str) -> pa.Schema:
        return self.conn.sql(f"SELECT * FROM ({sql}) LIMIT 0").to_arrow_table().schema


class SparkEngine:
    """Spark (Connect, e.g. Sail) reading Delta with ``format("delta")``; session time zone UTC."""

    dialect = SPARK

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        spark.conf.set("spark.sql.session.timeZone", "UTC")

    def register(self, name: str, uri: str, declared: pa.Schema) -> tuple[pa.Schema, bool]:
        opened = delta.open_if_exists(uri)
        if opened is not None:
            self.spark.read.format("delta").load(uri).createOrReplaceTempView(name)
            return delta.snapshot_dataset(opened, uri).schema, True
        self.spark.createDataFrame([], schema=self._ddl(declared)).createOrReplaceTempView(name)
        return declared, False

    def _ddl(self, schema: pa.Schema) -> str:
        """A Spark DDL schema string (Spark cannot infer a schema from an empty Arrow table)."""
        return ", ".join(f"{self.dialect.quote(f.name)} {self.dialect.type_sql(f.type)}" for f in schema)

    def query(self, sql: str) -> pa.Table:
        return self.spark.sql(sql).toArrow()

    def query_schema(self, sql: str) -> pa.Schema:
        return self.spark.sql(sql).limit(0).toArrow().schema
