"""Dialect-neutral compilation of the Silver mappings (contract §6.1/§6.2) into SQL.

The mapping entries in ``retail_assets.contract.mappings`` are data; this module turns one entry
into the SELECTs of the build rule. The two engines differ only in a handful of spellings (type
names, identifier quotes, how "first row per event_id" is written), which a ``Dialect`` supplies —
so DuckDB and Spark run the *same* expressions and the parity test has something to prove.

Money follows §1.4/§6.2 with one deliberate refinement: ``decN(x)`` is
``CAST(ROUND(CAST(x AS DECIMAL(38,9)), N) AS DECIMAL(18,N))``. The DOUBLE is first turned into a
DECIMAL (both engines produce the JSON text's value, e.g. 1.005 → 1.005000000) and only then rounded
half away from zero — never ``ROUND`` on the binary double (DuckDB gives 1.0 for ``ROUND(1.005, 2)``).
For conforming producers (≤ 2 resp. 4 fraction digits) this equals the contract's
``CAST(ROUND(x, N) AS DECIMAL(18,N))``; for others it is "parsing the JSON text as DECIMAL", which the
contract names as equivalent. ``cents(d) = CAST(ROUND(d * 100, 0) AS BIGINT)`` on the DECIMAL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pyarrow as pa

from retail_assets.contract import mappings as M
from retail_assets.contract.types import Column, TableSpec
from retail_assets.silver.schema import logical_type

SOURCE_COL = "_source"
EXACT_DECIMAL = "DECIMAL(38,9)"
"""Intermediate DECIMAL for JSON doubles: 9 fraction digits, room for |x| < 10^29."""


class Dialect:
    """The spellings that differ between engines. Subclasses: DuckDB, Spark."""

    name = "abstract"
    string_type = "VARCHAR"
    timestamp_type = "TIMESTAMP"
    quote_char = '"'

    def quote(self, ident: str) -> str:
        q = self.quote_char
        return f"{q}{ident.replace(q, q + q)}{q}"

    def type_sql(self, t: pa.DataType) -> str:
        lt = logical_type(t)
        if lt == "VARCHAR":
            return self.string_type
        if lt == "TIMESTAMP":
            return self.timestamp_type
        if pa.types.is_list(t):
            return f"ARRAY<{self.type_sql(t.value_type)}>"
        if lt in ("BIGINT", "BOOLEAN", "DATE", "DOUBLE") or lt.startswith("DECIMAL("):
            return lt
        raise ValueError(f"type {t} has no SQL spelling in the contract (§1.2); map it to a contract type")

    @staticmethod
    def string_literal(value: str) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    def date_literal(self, day: date) -> str:
        return f"DATE '{day.isoformat()}'"

    def first_per_event_id(self, relation: str, where: str, order_by: str) -> str:
        """A subquery yielding the first row per ``event_id`` among rows matching ``where``."""
        raise NotImplementedError


@dataclass(frozen=True)
class StreamQuery:
    """One compiled stream source: its SQL and what it needed from the Bronze relation."""

    event_type: str
    sql: str
    missing_fields: tuple[str, ...]


def _decimal(scale: int, raw: str) -> str:
    return f"CAST(ROUND(CAST({raw} AS {EXACT_DECIMAL}), {scale}) AS DECIMAL(18,{scale}))"


def money_sql(raw: str, scale: int) -> str:
    """``decN(raw)``: DOUBLE (or DECIMAL) → DECIMAL(18,N), rounded half away from zero on a DECIMAL."""
    return _decimal(scale, raw)


def cents_sql(money: str) -> str:
    """``cents(d)`` on a DECIMAL expression: × 100, round half away from zero, BIGINT.

    ``d`` is widened to DECIMAL(38,4) first (exact for the contract's scales 2 and 4) so that × 100
    cannot overflow DuckDB's DECIMAL(18,·) arithmetic near the type's upper bound.
    """
    return f"CAST(ROUND(CAST({money} AS DECIMAL(38,4)) * 100, 0) AS BIGINT)"


class ExprRenderer:
    """Renders mapping expressions against one Bronze relation's *actual* columns.

    A field the relation lacks renders as an untyped NULL (not a typed default), so a payload that
    lost a field surfaces as a type mismatch in C1 instead of silently becoming NULL data. A plain
    ``Field`` is a copy of the landed column; it is cast only when the landed type is the declared
    Bronze type but that type differs from the target — a drifted type is left visible to C1.
    """

    def __init__(self, dialect: Dialect, actual: pa.Schema, declared: pa.Schema) -> None:
        self.d = dialect
        self.actual = actual
        self.declared = declared
        self.missing: list[str] = []

    def column_ref(self, name: str) -> str | None:
        if name not in self.actual.names:
            if name not in self.missing:
                self.missing.append(name)
            return None
        return self.d.quote(name)

    def _with_default(self, field: str, default: object) -> str:
        ref = self.column_ref(field) or "NULL"
        if default is None:
            return ref
        value = self.d.string_literal(default) if isinstance(default, str) else repr(default)
        return f"COALESCE({ref}, {value})"

    def render(self, expr: object, target: Column) -> str:
        d = self.d
        if isinstance(expr, M.Field):
            ref = self.column_ref(expr.name)
            if ref is None:
                return "NULL"
            actual_t = logical_type(self.actual.field(expr.name).type)
            declared_t = (
                logical_type(self.declared.field(expr.name).type)
                if expr.name in self.declared.names
                else None
            )
            if getattr(expr, "default", None) is not None:
                ref = self._with_default(expr.name, expr.default)
            if actual_t != logical_type(target.type) and actual_t == declared_t:
                return f"CAST({ref} AS {d.type_sql(target.type)})"
            return ref
        if isinstance(expr, M.Money):
            return money_sql(self._with_default(expr.field, expr.default), expr.scale)
        if isinstance(expr, M.Cents):
            return cents_sql(money_sql(self._with_default(expr.field, expr.default), expr.scale))
        if isinstance(expr, M.Literal):
            return f"CAST({d.string_literal(expr.value)} AS {d.type_sql(target.type)})"
        if isinstance(expr, M.Null):
            return f"CAST(NULL AS {d.type_sql(target.type)})"
        if isinstance(expr, M.EventTs):
            return self.column_ref("ingest_timestamp") or "NULL"
        if isinstance(expr, M.EventDate):
            ref = self.column_ref("ingest_timestamp")
            return f"CAST({ref} AS DATE)" if ref else "NULL"
        raise TypeError(
            f"unknown mapping expression {expr!r}; add a case to ExprRenderer.render for it "
            "(both dialects share this renderer)"
        )


def batch_select(
    dialect: Dialect, spec: TableSpec, relation: str, day: date, with_source: bool = True
) -> str:
    """``SELECT b.<batch columns>, 'batch' AS _source FROM relation WHERE event_date = D``."""
    cols = ", ".join(dialect.quote(c) for c in spec.column_names)
    source = f", {dialect.string_literal('batch')} AS {SOURCE_COL}" if with_source else ""
    return f"SELECT {cols}{source} FROM {relation} WHERE event_date = {dialect.date_literal(day)}"


def source_conditions(dialect: Dialect, source: M.StreamSource) -> list[str]:
    """The source's row filter without the day (e.g. ``location_type = 'STORE'``)."""
    return [f"{dialect.quote(col)} = {dialect.string_literal(val)}" for col, val in source.where]


def source_filter(dialect: Dialect, source: M.StreamSource, day: date) -> str:
    """The day plus the source's row filter (e.g. ``location_type = 'STORE'``)."""
    return " AND ".join([f"event_date = {dialect.date_literal(day)}", *source_conditions(dialect, source)])


def dedup_order(actual: pa.Schema, dialect: Dialect) -> str:
    """Order for "first delivery wins": landing time, then Event Hubs sequence (§6.1)."""
    keys = [dialect.quote(c) for c in ("_landed_ts", "_eh_sequence_number") if c in actual.names]
    return ", ".join(keys) if keys else dialect.quote("event_id")


def stream_select(
    dialect: Dialect,
    spec: TableSpec,
    source: M.StreamSource,
    relation: str,
    day: date,
    actual: pa.Schema,
    declared: pa.Schema,
    with_source: bool = True,
) -> StreamQuery:
    """The mapped, de-duplicated SELECT of one event type for day D, in batch column order."""
    renderer = ExprRenderer(dialect, actual, declared)
    mapped = dict(source.columns)
    if list(mapped) != spec.column_names:
        raise ValueError(
            f"mapping of {spec.name} from {source.event_type} lists columns {list(mapped)}, but the "
            f"table has {spec.column_names}; fix retail_assets/contract/mappings.py"
        )
    select = ", ".join(
        f"{renderer.render(mapped[c.name], c)} AS {dialect.quote(c.name)}" for c in spec.columns
    )
    if with_source:
        select += f", {dialect.string_literal('stream')} AS {SOURCE_COL}"
    if "event_id" in actual.names:
        inner = dialect.first_per_event_id(
            relation, source_filter(dialect, source, day), dedup_order(actual, dialect)
        )
    else:
        inner = f"(SELECT * FROM {relation} WHERE {source_filter(dialect, source, day)})"
    sql = f"SELECT {select} FROM {inner} AS e"
    return StreamQuery(source.event_type, sql, tuple(renderer.missing))


def union_all(parts: list[str]) -> str:
    return "\nUNION ALL\n".join(f"({p})" for p in parts)


def order_clause(dialect: Dialect, spec: TableSpec) -> str:
    """Rows sorted by (event_ts, primary key) so rewrites give the same order (§2)."""
    keys = ["event_ts", *[k for k in spec.primary_key if k != "event_ts"]]
    return "ORDER BY " + ", ".join(dialect.quote(k) for k in keys)
