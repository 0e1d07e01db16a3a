"""Compiler on hand-built rows (nulls, negative and zero money, 4-dp costs): the mapped stream side
reproduces the facts exactly on both engines, without the generator."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from retail_assets.contract.events import bronze_event_spec
from retail_assets.contract.tables import STREAMABLE_TABLES
from retail_assets.lake import delta
from retail_assets.silver.build import build_silver
from retail_assets.silver.engines import DuckDBEngine, SparkEngine
from retail_assets_tests.silver.synthetic import facts_to_bronze_events, synthetic_facts

DAY = date(2024, 3, 1)


@pytest.fixture(scope="module")
def synthetic_lake(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic_lake"))
    facts = {}
    for table in STREAMABLE_TABLES:
        facts[table] = synthetic_facts(table, 30, DAY)
        for event_type, rows in facts_to_bronze_events(table, facts[table]).items():
            delta.append(
                delta.table_uri(root, "cusn", event_type), rows, bronze_event_spec(event_type).arrow_schema
            )
    return root, facts


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_stream_side_reproduces_hand_built_facts(synthetic_lake, engine, request):
    root, facts = synthetic_lake
    for table in STREAMABLE_TABLES:
        if engine == "spark":
            build = build_silver(SparkEngine(request.getfixturevalue("spark")), root, table, DAY)
        else:
            with duckdb.connect() as conn:
                build = build_silver(DuckDBEngine(conn), root, table, DAY)
        assert build.schema.ok, build.schema.describe()
        assert build.stream_rows == facts[table].num_rows > 0
        assert build.data.drop_columns(["_source"]).equals(facts[table]), table
