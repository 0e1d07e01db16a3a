"""The registry-driven checks (``retail_assets.silver.rules``) find exactly what the frozen if-chain
(``legacy_checks.py``) found: same check results and same per-group findings, for every table on a
batch day and a stream day, clean and with violations injected into the built rows and the events."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from retail_assets.contract.events import bronze_event_spec
from retail_assets.contract.tables import FACT_TABLES, money_pairs
from retail_assets.lake import delta
from retail_assets.silver import checks
from retail_assets.silver.build import SilverBuild, build_silver
from retail_assets.silver.engines import DuckDBEngine
from retail_assets.silver.rules.findings import TableFindings
from retail_assets_tests.silver import legacy_checks
from retail_assets_tests.silver.conftest import DAY1, DAY2, SETTINGS, build_day, generate, make_home


def _set(data: pa.Table, column: str, row: int, value: object) -> pa.Table:
    values = data.column(column).to_pylist()
    values[row] = value
    i = data.schema.get_field_index(column)
    return data.set_column(i, column, pa.array(values, data.schema.field(column).type))


def inject_violations(data: pa.Table, table: str) -> pa.Table:
    """Break one row per rule kind the table has: a duplicate key, a null, wrong cents, a day
    outside D, an unknown enum value, a dangling dimension id, a broken balance."""
    if data.num_rows < 2:
        return data
    spec = FACT_TABLES[table]
    n = data.num_rows
    data = pa.concat_tables([data, data.slice(0, 1)])  # C5 duplicate key, C2/C4 row counts
    nullable_victims = [c.name for c in spec.columns if not c.nullable and c.name not in spec.primary_key]
    nullable_victims = [c for c in nullable_victims if c not in ("event_ts", "event_date")]
    if nullable_victims:
        data = _set(data, nullable_victims[-1], 1 % n, None)
    for _, cents in money_pairs(spec)[:1]:
        data = _set(data, cents, 2 % n, (data.column(cents)[2 % n].as_py() or 0) + 1)
    data = _set(data, "event_date", 3 % n, data.column("event_date")[3 % n].as_py() + timedelta(days=1))
    enums = [c.name for c in spec.columns if c.enum]
    if enums:
        data = _set(data, enums[0], 4 % n, "NOT_IN_ENUM")
    for fk in ("product_id", "store_id", "customer_id", "truck_id", "dc_id"):
        if fk in spec.column_names and data.column(fk)[5 % n].as_py() is not None:
            data = _set(data, fk, 5 % n, 987_654_321)
            break
    if "balance_after" in spec.column_names:
        data = _set(data, "balance_after", 6 % n, -1)
    return data


def legacy_shape(findings: TableFindings) -> dict[str, dict]:
    """The typed findings in the legacy dict shape, to compare field by field."""
    return {
        group: {
            "rules": g.rules_evaluated,
            "failed": [{"rule": v.rule, "violations": v.violations, "sample": list(v.sample)} for v in g.failed],
            "skipped": list(g.skipped),
            "severity": g.severity,
        }
        for group, g in findings.items()
    }


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """Day 1 batch, day 2 stream, Silver built for both; then one event re-delivered with other content."""
    home = make_home(tmp_path_factory.mktemp("rules_equivalence"))
    generate(home, {DAY1: "batch", DAY2: "stream"})
    for day in (DAY1, DAY2):
        build_day(home, day)
    uri = delta.table_uri(home.lake_root, "cusn", "reorder_triggered")
    first = delta.read_table(uri, partition_value=DAY2).slice(0, 1)
    dup = _set(first, "current_quantity", 0, first.column("current_quantity")[0].as_py() + 5)
    dup = _set(dup, "_landed_ts", 0, datetime(2099, 1, 1, tzinfo=UTC))
    delta.append(uri, dup, bronze_event_spec("reorder_triggered").arrow_schema)
    return home


def _compare(home, build: SilverBuild) -> list:
    ctx = checks.CheckContext(home.lake_root, SETTINGS.dataset_id)
    with duckdb.connect() as old_conn, duckdb.connect() as new_conn:
        old_findings = legacy_checks.evaluate_rules(old_conn, ctx, build)
        new_findings = checks.evaluate_rules(new_conn, ctx, build)
        assert legacy_shape(new_findings) == old_findings
        old = legacy_checks.evaluate_checks(old_conn, ctx, build)
        new = checks.evaluate_checks(new_conn, ctx, build)
    assert [r.name for r in new] == [r.name for r in old]
    for o, n in zip(old, new, strict=True):
        assert n == o, (build.table, o.name)
    return new


@pytest.mark.parametrize("day", [DAY1, DAY2], ids=["batch_day", "stream_day"])
@pytest.mark.parametrize("table", list(FACT_TABLES))
def test_same_findings_as_the_legacy_if_chain(lake, table, day):
    with duckdb.connect() as conn:
        build = build_silver(DuckDBEngine(conn), lake.lake_root, table, day)
    clean = _compare(lake, build)
    broken = _compare(lake, dataclasses.replace(build, data=inject_violations(build.data, table)))
    if build.data.num_rows >= 2:
        assert sum(not r.passed for r in broken) > sum(not r.passed for r in clean), "injection had no effect"


def test_the_injected_event_redelivery_is_found_by_both(lake):
    with duckdb.connect() as conn:
        build = build_silver(DuckDBEngine(conn), lake.lake_root, "fact_reorders", DAY2)
    results = {r.name: r for r in _compare(lake, build)}
    assert not results[checks.EVENT_REDUNDANCY].passed
