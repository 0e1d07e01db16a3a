"""Hand-built fact rows that follow the contract schemas, for unit tests of the streaming core.

Rows are given as dicts of the columns that matter; every other column of the contract table gets a
type-correct placeholder, so the tables are real ``FACT_TABLES[...]`` shapes (no mocks of our code).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa

from retail_assets.contract.tables import FACT_TABLES

DATASET_ID = "ds-998a7543beaf8741"
DAY = date(2024, 4, 11)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _default(column) -> object:
    if column.nullable:
        return None
    t = column.type
    if pa.types.is_decimal(t):
        return Decimal(0)
    if pa.types.is_integer(t):
        return 1
    if pa.types.is_string(t):
        return column.enum[0] if column.enum else "X"
    if pa.types.is_boolean(t):
        return False
    raise AssertionError(f"no default for {column.name}")


def fact_table(name: str, rows: list[dict]) -> pa.Table:
    spec = FACT_TABLES[name]
    data: dict[str, list] = {c.name: [] for c in spec.columns}
    for row in rows:
        unknown = set(row) - set(data)
        assert not unknown, f"{name} has no columns {unknown}"
        event_ts = row["event_ts"]
        for c in spec.columns:
            if c.name == "event_date":
                value = row.get("event_date", event_ts.date())
            else:
                value = row[c.name] if c.name in row else _default(c)
            if pa.types.is_decimal(c.type) and value is not None:
                value = Decimal(str(value))
            data[c.name].append(value)
    return pa.table(data, schema=spec.arrow_schema)


def empty_tables() -> dict[str, pa.Table]:
    return {name: spec.arrow_schema.empty_table() for name, spec in FACT_TABLES.items()}


def contract_example_day() -> dict[str, pa.Table]:
    """The rows behind the contract's §5.4 examples (one sale with its line, payment, promotion, txn)."""
    t0 = ts("2024-04-11T17:42:05.123456Z")
    tables = empty_tables()
    tables["fact_receipts"] = fact_table(
        "fact_receipts",
        [
            dict(
                event_ts=t0, receipt_id_ext="RCP-20240411-00012-000345", receipt_type="SALE", store_id=12,
                customer_id=20871, visit_id_ext="VIS-20240411-00012-000345", payment_method="CREDIT_CARD",
                item_count=4, line_count=3, subtotal_amount="43.97", subtotal_cents=4397,
                discount_amount="4.40", discount_cents=440, tax_amount="2.31", tax_cents=231,
                total_amount="41.88", total_cents=4188, campaign_id_ext="CMP-20240405-01",
            ),
            dict(
                event_ts=ts("2024-04-11T09:00:00.000000Z"), receipt_id_ext="RET-20240411-00012-000001",
                receipt_type="RETURN", store_id=12, customer_id=7, return_for_receipt_id_ext="RCP-20240401-00012-000001",
                payment_method="CASH", item_count=1, line_count=1, subtotal_amount="-5.00", subtotal_cents=-500,
                discount_amount="0.00", discount_cents=0, tax_amount="-0.40", tax_cents=-40,
                total_amount="-5.40", total_cents=-540,
            ),
        ],
    )
    tables["fact_receipt_lines"] = fact_table(
        "fact_receipt_lines",
        [
            dict(
                event_ts=t0, receipt_id_ext="RCP-20240411-00012-000345", line_num=2, store_id=12, product_id=2063,
                quantity=1, unit_price="24.99", unit_cents=2499, ext_price="24.99", ext_cents=2499,
                promo_code="SAVE10", discount_amount="2.50", discount_cents=250, tax_amount="1.86", tax_cents=186,
            )
        ],
    )
    tables["fact_payments"] = fact_table(
        "fact_payments",
        [
            dict(
                event_ts=ts("2024-04-11T17:42:07.437456Z"), transaction_id_ext="PAY-RCP-20240411-00012-000345-1",
                transaction_type="PURCHASE", receipt_id_ext="RCP-20240411-00012-000345", store_id=12,
                customer_id=20871, attempt_num=1, payment_method="CREDIT_CARD", amount="41.88", amount_cents=4188,
                status="APPROVED", processing_time_ms=2314,
            )
        ],
    )
    tables["fact_store_inventory_txn"] = fact_table(
        "fact_store_inventory_txn",
        [
            dict(
                event_ts=t0, txn_id_ext="ITX-S-00012-20240411-0004711", store_id=12, product_id=2063,
                txn_type="SALE", quantity=-1, balance_after=0, source_id_ext="RCP-20240411-00012-000345",
            )
        ],
    )
    tables["fact_stockouts"] = fact_table(
        "fact_stockouts",
        [
            dict(
                event_ts=t0, txn_id_ext="ITX-S-00012-20240411-0004711", location_type="STORE", store_id=12,
                product_id=2063, last_known_quantity=1,
            )
        ],
    )
    tables["fact_promotions"] = fact_table(
        "fact_promotions",
        [
            dict(
                event_ts=t0, receipt_id_ext="RCP-20240411-00012-000345", promo_code="SAVE10", store_id=12,
                customer_id=20871, discount_type="PERCENTAGE", product_count=3, discount_amount="4.40",
                discount_cents=440,
            )
        ],
    )
    tables["fact_promo_lines"] = fact_table(
        "fact_promo_lines",
        [
            dict(event_ts=t0, receipt_id_ext="RCP-20240411-00012-000345", line_num=n, promo_code="SAVE10",
                 store_id=12, product_id=p, quantity=1, discount_amount="1.00", discount_cents=100)
            for n, p in ((3, 2010), (1, 540), (2, 2063))
        ],
    )
    tables["fact_store_ops"] = fact_table(
        "fact_store_ops",
        [
            dict(event_ts=ts("2024-04-11T08:00:00.000000Z"), store_id=12, operation_type="OPENED"),
            dict(event_ts=ts("2024-04-11T22:00:00.000000Z"), store_id=12, operation_type="CLOSED"),
        ],
    )
    tables["fact_marketing"] = fact_table(
        "fact_marketing",
        [
            dict(
                event_ts=ts("2024-04-11T20:14:33.090871Z"), impression_id_ext="IMP-20240411-0004521",
                campaign_id_ext="CMP-20240405-01", campaign_type="PRODUCT_LAUNCH", channel="INSTAGRAM",
                creative_id_ext="CRV-20240405-01-INSTAGRAM-2", device_type="MOBILE", customer_ad_id_ext="AD000G3R",
                customer_id=20871, cost="1.2650", cost_cents=127,
            )
        ],
    )
    return tables
