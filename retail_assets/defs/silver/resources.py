"""Silver resources: engine choice, the DuckDB resource, and a lazy Spark (Connect) resource.

``RETAIL_ASSETS_SILVER_ENGINE`` = ``duckdb`` (default) or ``spark``. The Spark resource is lazy: no
session (and no Sail server) exists until an asset asks for ``spark_session``, so DuckDB runs never
start Spark. With ``RETAIL_ASSETS_SPARK_REMOTE`` unset it talks to an in-process Sail server; set it
to ``sc://host:port`` for any Spark Connect endpoint.

The session itself is owned by dagster-pyspark's ``LazyPySparkResource``
(``retail_assets/silver/pyspark_resource.py``), imported only when a session is created: importing
dagster_pyspark imports pyspark (about a second of CPU), and this module is loaded by every run,
sensor tick and ``dg check defs`` of the code location, nearly all of which never touch Spark.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

ENGINES = ("duckdb", "spark")
ENGINE_ENV = "RETAIL_ASSETS_SILVER_ENGINE"
SPARK_REMOTE_ENV = "RETAIL_ASSETS_SPARK_REMOTE"
FAIL_ON_SCHEMA_MISMATCH_ENV = "FAIL_ON_SCHEMA_MISMATCH"
MEMORY_LIMIT_ENV = "RETAIL_ASSETS_SILVER_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "4GB"
"""Silver's DuckDB holds at most this much and spills the rest of a sort, join or aggregate to disk
(``<RETAIL_ASSETS_HOME>/state/duckdb_spill``), so a large scale factor costs time, not the machine."""


def silver_duckdb_config(env: dict[str, str] | None = None) -> dict[str, Any]:
    """DuckDB settings of the Silver database: a memory limit and a spill directory under the home."""
    from retail_assets.config import HomeSettings

    env = dict(os.environ if env is None else env)
    spill = HomeSettings.from_env(env).state_dir / "duckdb_spill"
    # DuckDB creates the last level only; in an unwritable home its own error names the directory
    with contextlib.suppress(OSError):
        spill.mkdir(parents=True, exist_ok=True)
    return {"memory_limit": env.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT), "temp_directory": str(spill)}


class SilverConfig(dg.ConfigurableResource):
    """Engine and schema-mismatch policy; validated when used so a typo fails the run, not loading."""

    engine: str = "duckdb"
    fail_on_schema_mismatch: str = "false"

    def engine_name(self) -> str:
        name = self.engine.strip().lower()
        if name not in ENGINES:
            raise dg.Failure(
                description=f"{ENGINE_ENV}={self.engine!r} is not an engine; set it to one of {', '.join(ENGINES)}."
            )
        return name

    def fail_on_mismatch(self) -> bool:
        value = self.fail_on_schema_mismatch.strip().lower()
        if value not in ("true", "false", "1", "0", "yes", "no", ""):
            raise dg.Failure(
                description=f"{FAIL_ON_SCHEMA_MISMATCH_ENV}={self.fail_on_schema_mismatch!r}: use true or false."
            )
        return value in ("true", "1", "yes")


class SilverSparkResource(dg.ConfigurableResource):
    """A Spark Connect session created on first use: ``remote`` or, if empty, an in-process Sail server."""

    spark_config: dict[str, Any] = Field(default_factory=dict)
    remote: str = ""
    _spark_session: Any = PrivateAttr(default=None)

    @property
    def spark_session(self) -> Any:
        if self._spark_session is None:
            from retail_assets.silver.pyspark_resource import connect_session

            self._spark_session = connect_session(self.remote, dict(self.spark_config))
        return self._spark_session

    @property
    def spark_context(self) -> Any:
        raise dg.Failure(description="Spark Connect sessions have no SparkContext; use spark_session.")


def silver_resources_from_env() -> dict[str, Any]:
    return {
        "silver_config": SilverConfig(
            engine=os.environ.get(ENGINE_ENV, "duckdb"),
            fail_on_schema_mismatch=os.environ.get(FAIL_ON_SCHEMA_MISMATCH_ENV, "false"),
        ),
        "silver_duckdb": DuckDBResource(database=":memory:", connection_config=silver_duckdb_config()),
        "silver_spark": SilverSparkResource(spark_config={}, remote=os.environ.get(SPARK_REMOTE_ENV, "")),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=silver_resources_from_env())
