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
    """One table of the contract: schema (``cusn``/``ag``), name, ordered columns, key."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    schema: str = "cusn"
    partition_by: str | None = "event_date"
    streamable: bool = False
    description: str = ""

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
