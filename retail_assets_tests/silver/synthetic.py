"""Hand-built contract-shaped rows for Silver unit tests (no generator needed).

``synthetic_facts`` makes rows of any fact table that follow its schema (types, enums, nullability,
money pairs with exact cents); ``facts_to_bronze_events`` turns them into Bronze event rows by
inverting the mapping entries (a test-only inverse — the real producer lives in
``retail_assets.streaming``). Values vary by type so the compilers are exercised on negatives,
zero money, nulls and 4-decimal costs.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pyarrow as pa

from retail_assets.contract import mappings as M
from retail_assets.contract.events import EVENT_TYPES, Derived, bronze_event_spec
from retail_assets.contract.tables import FACT_TABLES, money_pairs

NS = uuid.UUID("00000000-0000-0000-0000-000000000042")


def _cents(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def synthetic_facts(table: str, n: int, day: date, seed: int = 0) -> pa.Table:
    """``n`` rows of ``table`` on ``day`` sorted by (event_ts, pk); keys unique, money exact."""
    spec = FACT_TABLES[table]
    pairs = dict(money_pairs(spec))
    cents_cols = set(pairs.values())
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    cols: dict[str, list] = {}
    for c in spec.columns:
        if c.name in cents_cols:
            continue
        values: list = []
        for i in range(n):
            k = i + seed
            if c.name == "event_ts":
                v = start + timedelta(seconds=37 * i, microseconds=k % 1000)
            elif c.name == "event_date":
                v = day
            elif c.nullable and k % 3 == 2:
                v = None
            elif c.enum:
                v = c.enum[k % len(c.enum)]
            elif pa.types.is_int64(c.type):
                v = (k % 97) + 1 if c.name not in spec.primary_key else k + 1
            elif pa.types.is_string(c.type):
                v = f"{c.name.upper()}-{day:%Y%m%d}-{k:06d}"
            elif pa.types.is_decimal(c.type):
                scale = c.type.scale
                unscaled = ((k * 7919) % 200_003) - 50_000
                v = Decimal(unscaled).scaleb(-scale)
            elif pa.types.is_timestamp(c.type):
                v = start + timedelta(minutes=k)
            else:
                raise NotImplementedError(c)
            values.append(v)
        cols[c.name] = values
    for money, cents in pairs.items():
        cols[cents] = [_cents(v) for v in cols[money]]
    # Row invariants the mapping relies on: a column a source maps to Null() is null on its rows
    # (e.g. estimated_unload_minutes on DEPARTED truck moves).
    for source in M.SILVER_MAPPINGS[table].sources:
        exprs = source.expressions
        literals = {c: e.value for c, e in exprs.items() if isinstance(e, M.Literal)}
        for column in (c for c, e in exprs.items() if isinstance(e, M.Null)):
            for i in range(n):
                if all(cols[c][i] == v for c, v in literals.items()):
                    cols[column][i] = None
    data = pa.table({c.name: cols[c.name] for c in spec.columns}, schema=spec.arrow_schema)
    keys = [("event_ts", "ascending")] + [(k, "ascending") for k in spec.primary_key if k != "event_ts"]
    return data.sort_by(keys)


def facts_to_bronze_events(table: str, facts: pa.Table) -> dict[str, pa.Table]:
    """Bronze event rows (one per fact row) for each stream source of ``table``."""
    out: dict[str, pa.Table] = {}
    spec = FACT_TABLES[table]
    for source in M.SILVER_MAPPINGS[table].sources:
        et = EVENT_TYPES[source.event_type]
        exprs = source.expressions
        rows = facts.to_pylist()
        literal_cols = {c: e.value for c, e in exprs.items() if isinstance(e, M.Literal)}
        rows = [r for r in rows if all(r[c] == v for c, v in literal_cols.items())]
        bspec = bronze_event_spec(source.event_type)
        cols: dict[str, list] = {name: [None] * len(rows) for name in bspec.column_names}
        for i, r in enumerate(rows):
            key = "|".join(str(r[k]) for k in spec.primary_key)
            cols["event_id"][i] = str(uuid.uuid5(NS, f"{source.event_type}|{key}"))
            cols["event_type"][i] = source.event_type
            cols["ingest_timestamp"][i] = r["event_ts"]
            cols["schema_version"][i] = "2.0"
            cols["source"][i] = "retail-assets"
            cols["trace_id"][i] = key
            cols["partition_key"][i] = "test"
            cols["_payload"][i] = "{}"
            cols["_landed_ts"][i] = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(microseconds=i)
            cols["_sink"][i] = "local"
            cols["event_date"][i] = r["event_date"]
            for col, val in source.where:
                cols[col][i] = val
            for column, expr in exprs.items():
                if isinstance(expr, M.Field):
                    cols[expr.name][i] = r[column]
                elif isinstance(expr, M.Money):
                    cols[expr.field][i] = float(r[column])
            for pf in et.payload:
                if pf.derived is Derived.INGEST_TIME:
                    cols[pf.landed_name][i] = r["event_ts"]
                elif pf.derived is Derived.CHECKED_CENTS:
                    cols[pf.landed_name][i] = r[pf.column]
                elif pf.derived is Derived.LITERAL:
                    cols[pf.landed_name][i] = pf.literal
                elif pf.derived is Derived.PROMO_PRODUCT_IDS:
                    cols[pf.landed_name][i] = []
        out[source.event_type] = pa.table(cols, schema=bspec.arrow_schema)
    return out
