"""Each ``spark_connect_session`` call is a session of its own, to the remote it names.

pyspark's Connect ``getOrCreate`` hands back the process's active session whatever remote is asked
for; a caller that stopped "its" session then stopped everybody's.
"""

from __future__ import annotations

from retail_assets.silver.sail import spark_connect_session


def test_stopping_another_session_leaves_the_shared_one_working(spark):
    other = spark_connect_session()
    assert other is not spark
    other.stop()
    assert spark.sql("SELECT 41 + 1 AS answer").collect()[0]["answer"] == 42
