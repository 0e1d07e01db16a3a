"""Build one Silver partition (table T, day D) by the rule of contract §6.1, on any engine.

The day's Bronze batch partition UNION ALL the day's de-duplicated, mapped stream rows, exactly
the batch columns in order plus ``_source``. Schema equality (C1) and the two independent counts
needed by row-count additivity (C2) are computed here because they decide *what* is built: a
mismatching stream side is left out (WARN mode) or nothing may be written (blocking mode). All
other checks are computed afterwards on the built rows (``checks.py``), before the Delta commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.contract.events import bronze_event_spec
from retail_assets.contract.mappings import SILVER_MAPPINGS
from retail_assets.contract.tables import FACT_TABLES, silver_spec
from retail_assets.lake.paths import table_uri
from retail_assets.silver import compiler
from retail_assets.silver.engines import SilverEngine
from retail_assets.silver.schema import SchemaDiff, SchemaReport, compare_schemas


def batch_relation(table: str) -> str:
    return f"bronze_batch__{table}"


def event_relation(event_type: str) -> str:
    return f"bronze_event__{event_type}"


@dataclass
class SilverBuild:
    """The built rows of one (table, day) and the facts the checks need about how they were built."""

    table: str
    day: date
    data: pa.Table
    schema: SchemaReport
    stream_included: bool
    batch_input_rows: int
    stream_input_rows: int
    """De-duplicated stream rows of D that the mapping yields (counted even when left out)."""
    missing_event_tables: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def batch_rows(self) -> int:
        return _count_source(self.data, "batch")

    @property
    def stream_rows(self) -> int:
        return _count_source(self.data, "stream")

    @property
    def expected_rows(self) -> int:
        """C2's right-hand side: batch + stream rows *included in the build*."""
        return self.batch_input_rows + (self.stream_input_rows if self.stream_included else 0)


def _count_source(data: pa.Table, value: str) -> int:
    if data.num_rows == 0:
        return 0
    return int(pc.sum(pc.equal(data.column(compiler.SOURCE_COL), value)).as_py() or 0)


def build_silver(engine: SilverEngine, lake_root: str, table: str, day: date) -> SilverBuild:
    """Compute the Silver rows of (table, day); nothing is written here."""
    spec = FACT_TABLES[table]
    d = engine.dialect
    mapping = SILVER_MAPPINGS[table]
    engine.register(batch_relation(table), table_uri(lake_root, spec), spec.arrow_schema)

    report = SchemaReport()
    stream_queries: list[compiler.StreamQuery] = []
    missing: list[str] = []
    count_sql = [f"(SELECT count(*) FROM {batch_relation(table)} WHERE event_date = {d.date_literal(day)})"]
    for source in mapping.sources:
        event_spec = bronze_event_spec(source.event_type)
        declared = event_spec.arrow_schema
        rel = event_relation(source.event_type)
        actual, exists = engine.register(rel, table_uri(lake_root, event_spec), declared)
        if not exists:
            missing.append(source.event_type)
        report.diffs.append(compare_schemas(actual, declared, context=event_spec.qualified_name))
        query = compiler.stream_select(d, spec, source, rel, day, actual, declared)
        stream_queries.append(query)
        bare = compiler.stream_select(d, spec, source, rel, day, actual, declared, with_source=False)
        report.diffs.append(_mapped_diff(engine, bare, spec.arrow_schema))
        dedup_key = "event_id" if "event_id" in actual.names else "*"
        count_sql.append(
            f"(SELECT count(DISTINCT {dedup_key}) FROM {rel} WHERE {compiler.source_filter(d, source, day)})"
        )

    counts = engine.query("SELECT " + ", ".join(f"{q} AS c{i}" for i, q in enumerate(count_sql))).to_pylist()[
        0
    ]
    batch_input = int(counts["c0"])
    stream_input = sum(int(counts[f"c{i}"]) for i in range(1, len(count_sql)))

    stream_included = report.ok and bool(stream_queries)
    parts = [compiler.batch_select(d, spec, batch_relation(table), day)]
    if stream_included:
        parts += [q.sql for q in stream_queries]
    sql = f"SELECT * FROM ({compiler.union_all(parts)}) AS u {compiler.order_clause(d, spec)}"
    data = _conform(engine.query(sql), silver_spec(table).arrow_schema)

    notes = [f"{bronze_event_spec(e).qualified_name} does not exist yet: its stream side is empty (batch only)" for e in missing]
    if not report.ok:
        notes.append(f"stream side left out: {report.describe()}")
    return SilverBuild(table, day, data, report, stream_included, batch_input, stream_input, missing, notes)


def _mapped_diff(engine: SilverEngine, query: compiler.StreamQuery, expected: pa.Schema) -> SchemaDiff:
    """C1 on the mapped relation (evaluated with no rows); a query that cannot even run is a mismatch."""
    context = f"mapped {query.event_type}"
    try:
        actual = engine.query_schema(query.sql)
    except Exception as exc:  # the engine's own error names the offending column
        first_line = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        return SchemaDiff(retyped=(("<query>", first_line, "a query that runs"),), context=context)
    return compare_schemas(actual, expected, context=context)


def _conform(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """Engine output → the Silver schema (engines differ on nullability flags and string types)."""
    if data.schema.names != schema.names:
        raise ValueError(f"Silver query returned columns {data.schema.names}, expected {schema.names}")
    arrays = [data.column(i).cast(f.type) for i, f in enumerate(schema)]
    return pa.Table.from_arrays(arrays, schema=schema) if data.num_rows else schema.empty_table()
