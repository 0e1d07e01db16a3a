"""``ag/dim_*``: copies of ``cusn/dim_*`` through Dagster, and the copy check failing on drift."""

from __future__ import annotations

import dagster as dg
import pytest

from retail_assets import pipeline
from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.defs.keys import SILVER_DIM_KEYS
from retail_assets.defs.silver.dimensions import DIMENSION_COPY_ASSETS
from retail_assets.lake import delta
from retail_assets.silver.dimensions import (
    COPY_MATCHES_SOURCE,
    compare_copy,
    copy_dimension,
    copy_uri,
    source_uri,
)
from retail_assets_tests.silver.conftest import SETTINGS, make_home, retail_settings_resource


def resources(home) -> dict[str, object]:
    return {
        "retail_settings": retail_settings_resource(home)
    }


@pytest.fixture
def home(tmp_path):
    home = make_home(tmp_path)
    pipeline.build_and_write_dimensions(home, SETTINGS)
    return home


def test_copies_equal_their_sources_and_the_checks_pass(home):
    result = dg.materialize(
        DIMENSION_COPY_ASSETS, resources=resources(home), instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    evals = {e.asset_key: e for e in result.get_asset_check_evaluations()}
    assert set(evals) == set(SILVER_DIM_KEYS.values())
    for name, key in SILVER_DIM_KEYS.items():
        source = delta.read_table(source_uri(home.lake_root, name))
        copy = delta.read_table(copy_uri(home.lake_root, name))
        assert copy.num_rows > 0
        assert copy.equals(source), name
        assert "_source" not in copy.column_names
        assert evals[key].passed and evals[key].check_name == COPY_MATCHES_SOURCE
        assert evals[key].metadata["copy_rows"].value == source.num_rows
        row_counts = [
            e.materialization.metadata["dagster/row_count"].value
            for e in result.get_asset_materialization_events()
            if e.asset_key == key
        ]
        assert row_counts == [source.num_rows]
        commit = delta.last_commit_metadata(copy_uri(home.lake_root, name))
        assert commit[pipeline.DATASET_METADATA_KEY] == SETTINGS.dataset_id


def test_copy_check_fails_when_the_copy_drifts_from_the_source(home):
    name = "dim_stores"
    spec = DIMENSION_TABLES[name]
    copy_dimension(home.lake_root, name)
    assert compare_copy(home.lake_root, name).passed
    # lose one row of the copy
    data = delta.read_table(copy_uri(home.lake_root, name), spec.arrow_schema)
    delta.replace_table(copy_uri(home.lake_root, name), data.slice(1), spec.arrow_schema)
    short = compare_copy(home.lake_root, name)
    assert not short.passed
    assert (short.source_rows, short.copy_rows) == (data.num_rows, data.num_rows - 1)
    assert "Re-materialize ag/dim_stores" in short.describe()
    # same rows, one column retyped
    retyped = data.set_column(0, spec.columns[0].name, data.column(0).cast("int32"))
    delta.replace_table(copy_uri(home.lake_root, name), retyped, retyped.schema)
    drift = compare_copy(home.lake_root, name)
    assert not drift.passed and drift.copy_rows == drift.source_rows
    assert drift.schema_differences == [f"{spec.columns[0].name}: int32 vs source int64"]


def test_copy_without_source_names_the_asset_to_materialize(tmp_path):
    home = make_home(tmp_path)
    with pytest.raises(delta.MissingTableError, match="materialize the asset cusn/dim_trucks"):
        copy_dimension(home.lake_root, "dim_trucks")
    result = dg.materialize(
        DIMENSION_COPY_ASSETS[:1],
        resources=resources(home),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    assert not delta.table_exists(copy_uri(home.lake_root, next(iter(DIMENSION_TABLES))))
