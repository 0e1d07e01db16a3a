"""Dagster's run tags for "this run materializes partition D" or "the partitions start..end", and
"this run belongs to backfill B".

What a UI backfill of an asset with a single-run backfill policy sets, and what the CLI's
``--partition-range`` sets; ``execute_in_process`` and ``RunRequest`` have no range argument of their
own, so the demo, the backfill CLI and ``silver_day_sensor`` set these tags. Spelled here because
Dagster exports them only from a private module (``retail_assets_tests/test_demo.py`` pins them), and
kept free of imports so the ``retail-assets`` CLI can use them without loading Dagster.
"""

PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"
BACKFILL_TAG = "dagster/backfill"
