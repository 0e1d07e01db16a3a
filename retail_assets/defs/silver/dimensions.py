"""A Silver copy asset per dimension (group ``silver``), each with a copy check.

Unpartitioned, each depending on its source dimension, and eager: when the dimensions are
rebuilt (a new dataset), the copies follow without anyone clicking. The check
``copy_matches_source`` re-reads both tables after the commit (row count and schema).
"""

from __future__ import annotations

import dagster as dg

from retail_assets.contract.catalog import silver_dimension_spec
from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.defs.generation.metadata import table_metadata, table_schema
from retail_assets.defs.keys import DIM_KEYS, SILVER_DIM_KEYS, SILVER_GROUP
from retail_assets.defs.resources import RetailSettings
from retail_assets.lake import delta
from retail_assets.pipeline import DATASET_METADATA_KEY
from retail_assets.silver.dimensions import (
    COPY_MATCHES_SOURCE,
    compare_copy,
    copy_dimension,
    copy_uri,
)


def build_dimension_copy_asset(name: str) -> dg.AssetsDefinition:
    key = SILVER_DIM_KEYS[name]
    spec = DIMENSION_TABLES[name]
    copy, source = silver_dimension_spec(name).qualified_name, spec.qualified_name

    @dg.asset(
        key=key,
        group_name=SILVER_GROUP,
        description=f"{copy}: plain copy of {source} (full overwrite, no _source)",
        deps=[DIM_KEYS[name]],
        check_specs=[
            dg.AssetCheckSpec(
                COPY_MATCHES_SOURCE,
                asset=key,
                description=f"{copy} has the row count and schema of {source}",
            )
        ],
        automation_condition=dg.AutomationCondition.eager(),
        kinds={"delta", "python"},
        metadata={"dagster/table_name": copy, "dagster/column_schema": table_schema(spec)},
    )
    def _copy(retail_settings: RetailSettings) -> dg.MaterializeResult:
        lake_root = retail_settings.home_settings().lake_root
        try:
            data = copy_dimension(lake_root, name)
        except delta.LakeError as exc:
            raise dg.Failure(description=str(exc)) from exc
        uri = copy_uri(lake_root, name)
        dataset_id = delta.last_commit_metadata(uri).get(DATASET_METADATA_KEY, "unknown")
        comparison = compare_copy(lake_root, name)
        return dg.MaterializeResult(
            asset_key=key,
            metadata=table_metadata(spec, data, uri, dataset_id),
            check_results=[
                dg.AssetCheckResult(
                    asset_key=key,
                    check_name=COPY_MATCHES_SOURCE,
                    passed=comparison.passed,
                    description=comparison.describe(),
                    metadata={
                        "source_rows": comparison.source_rows,
                        "copy_rows": comparison.copy_rows,
                        "schema_differences": dg.MetadataValue.json(comparison.schema_differences),
                    },
                )
            ],
        )

    return _copy


DIMENSION_COPY_ASSETS: list[dg.AssetsDefinition] = [build_dimension_copy_asset(n) for n in DIMENSION_TABLES]
