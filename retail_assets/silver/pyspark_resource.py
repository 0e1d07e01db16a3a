"""dagster-pyspark's lazy resource, speaking Spark Connect (Sail in-process, or any ``sc://`` endpoint).

Why a module of its own: importing ``dagster_pyspark`` imports pyspark (about a second of CPU), and
the code location's resources are built by every run, sensor tick and ``dg check defs``. Only
``SilverSparkResource.spark_session`` imports this module, i.e. only a Spark run pays for pyspark.
"""

from __future__ import annotations

from typing import Any

from dagster_pyspark import LazyPySparkResource


class SparkConnectPySparkResource(LazyPySparkResource):
    """``LazyPySparkResource`` whose session is a Spark Connect session to ``remote`` (default: local Sail)."""

    remote: str = ""

    def _init_session(self) -> None:
        if self._spark_session is None:
            from retail_assets.silver.sail import spark_connect_session

            self._spark_session = spark_connect_session(
                self.remote, {k: str(v) for k, v in self.spark_config.items()}
            )


def connect_session(remote: str, spark_config: dict[str, Any]) -> Any:
    """The Spark session of a dagster-pyspark resource for ``remote``, created now."""
    return SparkConnectPySparkResource(spark_config=spark_config, remote=remote).spark_session
