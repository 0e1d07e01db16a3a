"""Silver checks through Dagster: every check passes on good days, and each deliberate break makes
exactly the check that guards it fail (ephemeral instance, ``materialize``)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from dagster_duckdb import DuckDBResource

from retail_assets.contract.events import bronze_event_spec
from retail_assets.contract.tables import FACT_TABLES, silver_spec
from retail_assets.defs.keys import SILVER_KEYS
from retail_assets.defs.silver.assets import SILVER_ASSETS
from retail_assets.defs.silver.resources import SilverConfig, SilverSparkResource
from retail_assets.lake import delta
from retail_assets.silver import checks as C
from retail_assets.silver.duckdb_compiler import DuckDBDialect
from retail_assets_tests.silver.conftest import DAY1, DAY2, generate, make_home, retail_settings_resource


def silver_resources(home, fail_on_schema_mismatch: str = "false") -> dict[str, object]:
    return {
        "retail_settings": retail_settings_resource(home),
        "silver_config": SilverConfig(engine="duckdb", fail_on_schema_mismatch=fail_on_schema_mismatch),
        "silver_duckdb": DuckDBResource(database=":memory:"),
        "silver_spark": SilverSparkResource(spark_config={}),
    }


def run(home, instance, day, tables=None, **kw) -> dg.ExecuteInProcessResult:
    keys = [SILVER_KEYS[t] for t in (tables or FACT_TABLES)]
    return dg.materialize(
        SILVER_ASSETS,
        selection=keys,
        partition_key=day.isoformat(),
        resources=silver_resources(home, **kw),
        instance=instance,
        raise_on_error=False,
    )


def failures(result: dg.ExecuteInProcessResult) -> set[tuple[str, str]]:
    return {
        (e.asset_key.path[-1], e.check_name) for e in result.get_asset_check_evaluations() if not e.passed
    }


def evaluations(result) -> dict[tuple[str, str], object]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def rewrite_bronze(home, table, day, change) -> None:
    uri = delta.table_uri(home.lake_root, "cusn", table)
    data = delta.read_table(uri, FACT_TABLES[table].arrow_schema, day)
    delta.replace_partition(uri, change(data), FACT_TABLES[table].arrow_schema, day)


def set_value(data: pa.Table, column: str, row: int, value) -> pa.Table:
    values = data.column(column).to_pylist()
    values[row] = value
    return data.set_column(
        data.schema.get_field_index(column), column, pa.array(values, data.schema.field(column).type)
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    home = make_home(tmp_path_factory.mktemp("silver_checks"))
    generate(home, {DAY1: "batch", DAY2: "stream"})
    instance = dg.DagsterInstance.ephemeral()
    baseline = {day: run(home, instance, day) for day in (DAY1, DAY2)}
    return home, instance, baseline


@pytest.mark.parametrize("day", [DAY1, DAY2])
def test_every_check_passes_on_a_good_day(lake, day):
    home, _, baseline = lake
    result = baseline[day]
    assert result.success
    evals = evaluations(result)
    expected = {(t, g) for t in FACT_TABLES for g in C.groups_for(t)}
    assert set(evals) == expected
    assert all(e.passed for e in evals.values()), failures(result)
    for e in evals.values():
        assert e.partition == day.isoformat()
    additivity = evals[("fact_receipts", C.ROW_COUNT_ADDITIVITY)].metadata
    rows = additivity["silver_rows"].value
    assert rows > 0 and rows == additivity["batch_rows"].value + additivity["stream_rows"].value
    written = delta.partition_row_counts(delta.table_uri(home.lake_root, "ag", "fact_receipts"))
    assert written[day] == rows


def test_each_deliberate_break_fails_exactly_its_check(lake):
    home, instance, _ = lake
    # corrupt one value: a line's ext_cents no longer equals its amount
    rewrite_bronze(
        home,
        "fact_receipt_lines",
        DAY1,
        lambda t: set_value(t, "ext_cents", 0, t.column("ext_cents")[0].as_py() + 1),
    )
    # drop one row: the manifest still expects it
    rewrite_bronze(home, "fact_reorders", DAY1, lambda t: t.slice(0, t.num_rows - 1))

    # break one balance (a row that is no stockout trigger)
    def bump_balance(t: pa.Table) -> pa.Table:
        row = pc.index(pc.greater(t.column("balance_after"), 0), True).as_py()
        return set_value(t, "balance_after", row, t.column("balance_after")[row].as_py() + 1)

    rewrite_bronze(home, "fact_store_inventory_txn", DAY1, bump_balance)
    result = run(home, instance, DAY1, ["fact_receipt_lines", "fact_reorders", "fact_store_inventory_txn"])
    assert failures(result) == {
        ("fact_receipt_lines", C.MONEY),
        ("fact_reorders", C.COMPLETENESS),
        ("fact_store_inventory_txn", C.INVENTORY_BALANCE),
    }
    evals = evaluations(result)
    assert evals[("fact_reorders", C.COMPLETENESS)].metadata["missing_rows"].value == 1
    assert evals[("fact_store_inventory_txn", C.INVENTORY_BALANCE)].metadata["violations"].value >= 1
    assert evals[("fact_receipt_lines", C.MONEY)].metadata["offending_keys"].value

    # duplicate one event with different content (stream day): C12 only; de-dup keeps the first
    uri = delta.table_uri(home.lake_root, "cusn", "reorder_triggered")
    first = delta.read_table(uri, partition_value=DAY2).slice(0, 1)
    dup = set_value(first, "current_quantity", 0, first.column("current_quantity")[0].as_py() + 5)
    dup = set_value(dup, "_landed_ts", 0, datetime(2099, 1, 1, tzinfo=UTC))
    delta.append(uri, dup, bronze_event_spec("reorder_triggered").arrow_schema)
    result = run(home, instance, DAY2, ["fact_reorders"])
    assert failures(result) == {("fact_reorders", C.EVENT_REDUNDANCY)}
    meta = evaluations(result)[("fact_reorders", C.EVENT_REDUNDANCY)].metadata
    assert meta["offending_keys"].value == [first.column("event_id")[0].as_py()]


def test_additivity_fails_and_blocks_when_the_build_loses_its_dedup(tmp_path, monkeypatch):
    """C2 guards the build itself: without the first-row-per-event_id filter a re-delivered event
    becomes a second row. The partition is not written; the duplicate key and the surplus row also
    show in C5 and C4, which check the same rows from their side."""
    home = make_home(tmp_path)
    generate(home, {DAY1: "stream"})
    uri = delta.table_uri(home.lake_root, "cusn", "ad_impression")
    delta.append(uri, delta.read_table(uri).slice(0, 1), bronze_event_spec("ad_impression").arrow_schema)
    monkeypatch.setattr(
        DuckDBDialect,
        "first_per_event_id",
        lambda self, rel, where, order: f"(SELECT * FROM {rel} WHERE {where})",
    )
    result = run(home, dg.DagsterInstance.ephemeral(), DAY1, ["fact_marketing"])
    assert not result.success
    assert failures(result) == {
        ("fact_marketing", C.ROW_COUNT_ADDITIVITY),
        ("fact_marketing", C.KEYS_AND_VALUES),
        ("fact_marketing", C.COMPLETENESS),
    }
    assert not delta.table_exists(delta.table_uri(home.lake_root, "ag", "fact_marketing"))


def drift_receipt_created(home, change) -> None:
    """Rewrite cusn.receipt_created with a drifted schema (what a changed producer would land)."""
    uri = delta.table_uri(home.lake_root, "cusn", "receipt_created")
    data = change(delta.read_table(uri))
    import shutil

    shutil.rmtree(uri)
    delta.append(uri, data, data.schema)


@pytest.mark.parametrize(
    ("change", "column"),
    [
        (lambda t: t.append_column("loyalty_tier", pa.array(["GOLD"] * t.num_rows)), "loyalty_tier"),
        (lambda t: t.drop_columns(["tender_type"]), "tender_type"),
        (
            lambda t: t.set_column(
                t.schema.get_field_index("store_id"), "store_id", pc.cast(t.column("store_id"), pa.string())
            ),
            "store_id",
        ),
    ],
    ids=["gains", "loses", "retypes"],
)
@pytest.mark.parametrize("fail_mode", ["true", "false"])
def test_schema_drift_fails_or_falls_back_as_configured(tmp_path, change, column, fail_mode):
    home = make_home(tmp_path)
    generate(home, {DAY1: "stream"})
    drift_receipt_created(home, change)
    result = run(
        home, dg.DagsterInstance.ephemeral(), DAY1, ["fact_receipts"], fail_on_schema_mismatch=fail_mode
    )
    evals = evaluations(result)
    c1 = evals[("fact_receipts", C.SCHEMA_EQUALITY)]
    assert not c1.passed
    assert c1.metadata["schema_mismatch_count"].value >= 1
    assert any(column in c for c in c1.metadata["mismatching_columns"].value)
    # the message an operator reads: which event type, which column, what happened to the day, the fix
    assert "receipt_created" in c1.description and column in c1.description
    assert "contract/mappings.py" in c1.description and "re-materialize the partition" in c1.description
    effect = "Nothing was written" if fail_mode == "true" else "fell back to batch only"
    assert effect in c1.description
    silver_uri = delta.table_uri(home.lake_root, "ag", "fact_receipts")
    if fail_mode == "true":
        assert c1.severity == dg.AssetCheckSeverity.ERROR
        assert not result.success
        assert not delta.table_exists(silver_uri)
    else:
        assert c1.severity == dg.AssetCheckSeverity.WARN
        assert result.success
        written = delta.read_table(silver_uri, silver_spec("fact_receipts").arrow_schema, DAY1)
        assert written.num_rows == 0  # stream day: batch-only fallback has nothing
        assert not evals[("fact_receipts", C.COMPLETENESS)].passed
        assert evals[("fact_receipts", C.ROW_COUNT_ADDITIVITY)].passed
