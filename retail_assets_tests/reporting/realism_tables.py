"""Small hand-built tables for the realism metric tests: rows given as dicts, typed by the contract.

Only the columns the metrics read (``RELATION_COLUMNS``) are needed; every relation not given is
empty, exactly as a lake without that table.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa

from retail_assets.reporting.realism_report import RealismReport, build_report
from retail_assets.reporting.realism_sources import _spec_schema, connect_tables


def table(name: str, rows: list[dict]) -> pa.Table:
    schema = _spec_schema(name)
    return pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows], schema=schema)


def ts(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def sale(day: date, cents: int, *, tender: str = "CREDIT_CARD", hour: int = 12, store: int = 1) -> dict:
    return {
        "event_date": day,
        "event_ts": ts(day, hour),
        "receipt_type": "SALE",
        "store_id": store,
        "payment_method": tender,
        "subtotal_cents": cents,
        "discount_cents": 0,
        "total_cents": cents,
    }


def refund(day: date, cents: int) -> dict:
    return {**sale(day, -cents), "receipt_type": "RETURN"}


def product(
    pid: int, *, department: str = "Grocery", cold: bool = False, price: int = 100, tags: str | None = None
) -> dict:
    return {
        "product_id": pid,
        "department": department,
        "requires_refrigeration": cold,
        "sale_price_cents": price,
        "launch_date": date(2020, 1, 1),
        "tags": tags,
    }


def report(**relations: list[dict]) -> RealismReport:
    return build_report(connect_tables({name: table(name, rows) for name, rows in relations.items()}))


def result(rep: RealismReport, key: str):
    return next(r for r in rep.results if r.key == key)
