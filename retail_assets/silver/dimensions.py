"""``ag.dim_*``: plain copies of ``cusn.dim_*`` (contract §3, §11.9), and the check that they are.

Why a copy at all: consumers of the ``ag`` schema find every table they join in one place. The copy
is a full overwrite, unpartitioned, without ``_source`` (dimensions have one origin), and carries
the source commit's metadata (the ``dataset_id`` it was built for), so readers of ``ag`` can refuse
to mix datasets exactly as readers of ``cusn`` do. The check re-reads both Delta tables after the
commit: it proves what landed, not what was meant to land.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from retail_assets.contract.catalog import silver_dimension_spec
from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.lake import delta
from retail_assets.lake.paths import table_uri
from retail_assets.pipeline import DATASET_METADATA_KEY

COPY_MATCHES_SOURCE = "copy_matches_source"
"""Name of the check on every ``ag/dim_*`` asset."""


def source_uri(lake_root: str, name: str) -> str:
    return table_uri(lake_root, DIMENSION_TABLES[name])


def copy_uri(lake_root: str, name: str) -> str:
    return table_uri(lake_root, silver_dimension_spec(name))


def copy_dimension(lake_root: str, name: str) -> pa.Table:
    """Replace ``ag.<name>`` with the current ``cusn.<name>``; returns the rows copied."""
    copy = silver_dimension_spec(name)  # KeyError naming the valid dimensions for an unknown name
    spec = DIMENSION_TABLES[name]
    src = table_uri(lake_root, spec)
    if not delta.table_exists(src):
        raise delta.MissingTableError(
            f"{spec.qualified_name} does not exist at {src}; materialize the asset {spec.key_string} "
            "(group 'dimensions') first, then this copy."
        )
    data = delta.read_table(src, spec.arrow_schema)
    dataset_id = delta.last_commit_metadata(src).get(DATASET_METADATA_KEY)
    tags = {DATASET_METADATA_KEY: dataset_id} if dataset_id else None
    delta.replace_table(table_uri(lake_root, copy), data, spec.arrow_schema, tags)
    return data


@dataclass(frozen=True)
class CopyComparison:
    """The copy against its source as they are in the lake now (counts, schema differences)."""

    name: str
    source_rows: int
    copy_rows: int
    schema_differences: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.source_rows == self.copy_rows and not self.schema_differences

    def describe(self) -> str:
        copy, source = silver_dimension_spec(self.name), DIMENSION_TABLES[self.name]
        if self.passed:
            return f"{copy.qualified_name} = {source.qualified_name}: {self.copy_rows} rows, same schema"
        problems = []
        if self.source_rows != self.copy_rows:
            problems.append(f"{self.copy_rows} rows in the copy vs {self.source_rows} in the source")
        problems += self.schema_differences
        return (
            f"{copy.qualified_name} differs from {source.qualified_name}: {'; '.join(problems)}. "
            f"Re-materialize {copy.key_string} to copy the source again."
        )


def _schema_differences(source: pa.Schema, copy: pa.Schema) -> list[str]:
    """Names, order and types (nullability flags ignored, as everywhere in the contract, §11.10)."""
    if source.names != copy.names:
        return [f"columns {copy.names} vs source {source.names}"]
    return [
        f"{s.name}: {c.type} vs source {s.type}"
        for s, c in zip(source, copy, strict=True)
        if s.type != c.type
    ]


def compare_copy(lake_root: str, name: str) -> CopyComparison:
    """Row counts and schemas of ``cusn.<name>`` and ``ag.<name>`` (a missing table counts 0 rows)."""
    counts: dict[str, int] = {}
    schemas: dict[str, pa.Schema] = {}
    for side, uri in (("source", source_uri(lake_root, name)), ("copy", copy_uri(lake_root, name))):
        if delta.table_exists(uri):
            ds = delta.dataset(uri)
            counts[side], schemas[side] = ds.count_rows(), ds.schema
        else:
            counts[side], schemas[side] = 0, pa.schema([])
    return CopyComparison(
        name, counts["source"], counts["copy"], _schema_differences(schemas["source"], schemas["copy"])
    )
