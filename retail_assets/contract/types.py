"""The building blocks of the contract: typed columns and table specs.

Everything else in the package (generator, Delta writes, events, Silver SQL, checks) iterates
these objects instead of restating column lists (ARCHITECTURE.md principle 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

BIGINT = pa.int64()
VARCHAR = pa.string()
BOOLEAN = pa.bool_()
DATE = pa.date32()
TIMESTAMP = pa.timestamp("us", tz="UTC")
DOUBLE = pa.float64()
DEC18_2 = pa.decimal128(18, 2)
DEC18_4 = pa.decimal128(18, 4)
DEC7_5 = pa.decimal128(7, 5)
DEC6_3 = pa.decimal128(6, 3)
BIGINT_ARRAY = pa.list_(pa.int64())

BRONZE_SCHEMA = "cusn"
"""Schema of everything the generator and the landing write (contract §2): facts, dimensions,
control tables and landed event tables."""
SILVER_SCHEMA = "ag"
"""Schema of the Silver facts (batch ∪ mapped stream rows) and the dimension copies (contract §4.0)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool = False
    enum: tuple[str, ...] | None = None

    @property
    def field(self) -> pa.Field:
        return pa.field(self.name, self.type, nullable=self.nullable)


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract: schema (Bronze or Silver), name, ordered columns, key.

    The spec is the one place a table's name lives: its qualified name, its path in the lake
    (``retail_assets.lake.paths``) and its Dagster asset key (``retail_assets.defs.keys``) are all
    derived from ``schema`` and ``name`` here, never restated.
    """

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    schema: str = BRONZE_SCHEMA
    partition_by: str | None = "event_date"
    streamable: bool = False
    description: str = ""

    @property
    def path(self) -> tuple[str, str]:
        """``(schema, name)``: the table's location under the lake root and its asset key path."""
        return (self.schema, self.name)

    @property
    def qualified_name(self) -> str:
        """``schema.name`` as readers and messages spell it (``cusn.fact_receipts``)."""
        return f"{self.schema}.{self.name}"

    @property
    def key_string(self) -> str:
        """``schema/name``: how the Dagster UI and CLI print the table's asset key."""
        return "/".join(self.path)

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([c.field for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")
