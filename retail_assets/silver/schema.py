"""Logical schema comparison for check C1 (schema equality, contract §1.2 and §6.3).

Why not ``pa.Schema.equals``: the engines disagree on details that the contract declares
irrelevant — nullable flags of computed columns, ``string`` vs ``large_string``, the spelling of the
UTC zone of a timestamp. Comparing *logical* types (names, order, type) is what the contract asks;
nullability is checked separately by the not-null rules (C5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

_UTC_NAMES = {"UTC", "Etc/UTC", "+00:00", "Z", "utc"}


def logical_type(t: pa.DataType) -> str:
    """The contract's name of an Arrow type (``BIGINT``, ``DECIMAL(18,2)``, ``TIMESTAMP``, …)."""
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "VARCHAR"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_date32(t):
        return "DATE"
    if pa.types.is_float64(t):
        return "DOUBLE"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        if t.tz in _UTC_NAMES:
            return "TIMESTAMP" if t.unit == "us" else f"TIMESTAMP[{t.unit}]"
        return f"TIMESTAMP[{t.unit},{t.tz or 'naive'}]"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"ARRAY<{logical_type(t.value_type)}>"
    if pa.types.is_null(t):
        return "NULL"
    return str(t).upper()


@dataclass(frozen=True)
class SchemaDiff:
    """How an actual relation differs from the expected one; empty lists mean equal."""

    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    retyped: tuple[tuple[str, str, str], ...] = ()  # (column, actual, expected)
    order_differs: bool = False
    context: str = ""

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.retyped or self.order_differs)

    @property
    def mismatching_columns(self) -> list[str]:
        cols = [*self.missing, *self.unexpected, *(c for c, _, _ in self.retyped)]
        return cols or (["<column order>"] if self.order_differs else [])

    @property
    def mismatch_count(self) -> int:
        """Number of mismatching columns (an order-only difference counts as one)."""
        return len(self.mismatching_columns)

    def describe(self) -> str:
        if self.ok:
            return f"{self.context}: schema equal" if self.context else "schema equal"
        parts = []
        if self.missing:
            parts.append(f"missing {list(self.missing)}")
        if self.unexpected:
            parts.append(f"unexpected {list(self.unexpected)}")
        for name, actual, expected in self.retyped:
            parts.append(f"{name} is {actual}, contract says {expected}")
        if self.order_differs:
            parts.append("column order differs")
        prefix = f"{self.context}: " if self.context else ""
        return prefix + "; ".join(parts)


@dataclass
class SchemaReport:
    """All diffs of one table's C1 evaluation (mapped relation + each source event table)."""

    diffs: list[SchemaDiff] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.diffs)

    @property
    def mismatch_count(self) -> int:
        return sum(d.mismatch_count for d in self.diffs)

    def mismatching_columns(self) -> list[str]:
        return [f"{d.context}.{c}" if d.context else c for d in self.diffs for c in d.mismatching_columns]

    def describe(self) -> str:
        return " | ".join(d.describe() for d in self.diffs if not d.ok) or "schema equal"


def compare_schemas(actual: pa.Schema, expected: pa.Schema, context: str = "") -> SchemaDiff:
    """Compare names, order and logical types (never nullability)."""
    actual_names, expected_names = list(actual.names), list(expected.names)
    missing = tuple(n for n in expected_names if n not in actual_names)
    unexpected = tuple(n for n in actual_names if n not in expected_names)
    retyped = tuple(
        (n, logical_type(actual.field(n).type), logical_type(expected.field(n).type))
        for n in expected_names
        if n in actual_names and logical_type(actual.field(n).type) != logical_type(expected.field(n).type)
    )
    common_actual = [n for n in actual_names if n in expected_names]
    common_expected = [n for n in expected_names if n in actual_names]
    return SchemaDiff(missing, unexpected, retyped, common_actual != common_expected, context)
