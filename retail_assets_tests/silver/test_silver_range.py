"""Silver over a range of days: one run, one step, every table-day materialized and checked on its own.

The sensor groups consecutive ready days into one request (partition range tags), and executing that
request is ONE run of ``silver_facts`` in which every (table, day) has its materialization and its
check evaluations recorded under its partition. A table-day that raises does not stop the others;
a range holding an incomplete day is refused as a whole with nothing written.
"""

from __future__ import annotations

import json
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pytest

from retail_assets import pipeline
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.defs.keys import SILVER_KEYS
from retail_assets.defs.partition_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from retail_assets.defs.silver.assets import SILVER_ASSETS
from retail_assets.defs.silver.gate import (
    SILVER_DAYS_TAG,
    SILVER_FACT_KEYS,
    contiguous_stretches,
    days_of_tag,
    landed_token,
)
from retail_assets.lake import delta
from retail_assets.lake.ledger import Ledger
from retail_assets.silver import checks as C
from retail_assets_tests.silver.conftest import DAY1, SETTINGS, make_home
from retail_assets_tests.silver.test_checks_dagster import silver_resources
from retail_assets_tests.silver.test_silver_gate import evaluate

DAY3 = DAY1 + timedelta(days=2)
DAYS = [DAY1, DAY1 + timedelta(days=1), DAY3]


def generate_batch_days(home, days) -> None:
    pipeline.build_and_write_dimensions(home, SETTINGS)
    for day in days:
        pipeline.generate_and_write_day(home, SETTINGS, day, "batch", owner="range-test")


def run_request(home, instance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Execute a sensor's request as the daemon would: its selection, partition and tags."""
    return dg.materialize(
        SILVER_ASSETS,
        selection=request.asset_selection,
        partition_key=request.partition_key,
        tags=dict(request.tags),
        resources=silver_resources(home),
        instance=instance,
        raise_on_error=False,
    )


def range_tags(first, last) -> dict[str, str]:
    return {PARTITION_RANGE_START_TAG: first.isoformat(), PARTITION_RANGE_END_TAG: last.isoformat()}


@pytest.fixture(scope="module")
def three_days(tmp_path_factory):
    home = make_home(tmp_path_factory.mktemp("silver_range"))
    generate_batch_days(home, DAYS)
    return home


def test_silver_is_one_subsettable_single_run_multi_asset():
    (silver,) = SILVER_ASSETS
    assert silver.backfill_policy == dg.BackfillPolicy.single_run()
    assert silver.can_subset
    assert set(silver.keys) == set(SILVER_FACT_KEYS)
    expected_checks = {dg.AssetCheckKey(SILVER_KEYS[t], g) for t in FACT_TABLES for g in C.groups_for(t)}
    assert set(silver.check_keys) == expected_checks


def test_consecutive_days_form_stretches_capped_in_length():
    d = [DAY1 + timedelta(days=i) for i in (0, 1, 2, 4, 5, 9)]
    assert contiguous_stretches(reversed(d)) == [d[0:3], d[3:5], d[5:6]]
    assert contiguous_stretches(d[:3], max_days=2) == [d[0:2], d[2:3]]
    assert days_of_tag(f"{d[0]}..{d[2]}") == {x.isoformat() for x in d[:3]}
    assert days_of_tag("not a day") == set()


def test_ready_consecutive_days_are_one_run_with_every_table_day_materialized_and_checked(three_days):
    home, instance = three_days, dg.DagsterInstance.ephemeral()
    requests, cursor, _ = evaluate(instance, home, None)
    assert len(requests) == 1, "three consecutive ready days are one run"
    (request,) = requests
    assert request.partition_key is None
    assert {k: request.tags[k] for k in (PARTITION_RANGE_START_TAG, PARTITION_RANGE_END_TAG)} == {
        PARTITION_RANGE_START_TAG: DAY1.isoformat(),
        PARTITION_RANGE_END_TAG: DAY3.isoformat(),
    }
    assert request.tags[SILVER_DAYS_TAG] == f"{DAY1}..{DAY3}"

    result = run_request(home, instance, request)
    assert result.success
    runs = instance.get_run_records()
    assert len(runs) == 1
    steps = {e.step_key for e in result.all_events if e.is_step_start}
    assert len(steps) == 1, f"a range of every table is one step, got {steps}"

    materialized = {(m.asset_key, m.partition) for m in result.asset_materializations_for_node("silver_facts")}
    assert materialized == {(k, d.isoformat()) for k in SILVER_FACT_KEYS for d in DAYS}
    for key in SILVER_FACT_KEYS:  # the instance records them per partition, as the UI shows them
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=10).records
        assert sorted(r.partition_key for r in records) == [d.isoformat() for d in DAYS]
        metadata = records[0].asset_materialization.metadata
        assert {"write_seconds", "build_seconds", "check_seconds", "dagster/row_count"} <= set(metadata)

    evaluations = result.get_asset_check_evaluations()
    assert {(e.asset_key, e.check_name, e.partition) for e in evaluations} == {
        (SILVER_KEYS[t], g, d.isoformat()) for t in FACT_TABLES for g in C.groups_for(t) for d in DAYS
    }
    assert [(e.asset_key.path[-1], e.check_name, e.partition) for e in evaluations if not e.passed] == []
    # batch days: no event table exists, so nearly every table-day has a build note; they are one line per day
    notes = [e.user_message for e in instance.all_logs(result.run_id) if "build notes" in e.user_message]
    assert [line.split()[1] for line in notes] == [d.isoformat() for d in DAYS]
    assert all("fact_receipts: cusn.receipt_created does not exist yet" in line for line in notes)
    written = delta.partition_row_counts(delta.table_uri(home.lake_root, "ag", "fact_receipts"))
    assert sorted(written) == DAYS

    requests, _, skip = evaluate(instance, home, cursor)
    assert requests == [] and "nothing new is complete" in skip


def test_a_gap_in_the_ready_days_makes_two_runs(three_days):
    """DAY2 was already handled at its landed mark: DAY1 and DAY3 are not consecutive ready days."""
    home = three_days
    record = Ledger(home.state_dir).day_record(DAYS[1])
    cursor = json.dumps({DAYS[1].isoformat(): landed_token(record)})
    requests, _, _ = evaluate(dg.DagsterInstance.ephemeral(), home, cursor)
    assert [(r.partition_key, r.tags[SILVER_DAYS_TAG]) for r in requests] == [
        (DAY1.isoformat(), DAY1.isoformat()),
        (DAY3.isoformat(), DAY3.isoformat()),
    ]
    assert all(PARTITION_RANGE_START_TAG not in r.tags for r in requests)


def test_a_range_holding_an_incomplete_day_is_refused_with_nothing_written(tmp_path):
    home = make_home(tmp_path)
    generate_batch_days(home, DAYS[:1])
    Ledger(home.state_dir).claim(DAYS[1], "stream", "someone-streaming")  # claimed, not generated
    result = dg.materialize(
        SILVER_ASSETS,
        selection=SILVER_FACT_KEYS,
        tags=range_tags(DAYS[0], DAYS[1]),
        resources=silver_resources(home),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    error = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert f"{DAYS[0]}..{DAYS[1]} was not built" in error
    assert "still being generated, or its generation stopped part-way" in error
    assert result.asset_materializations_for_node("silver_facts") == []
    assert not delta.table_exists(delta.table_uri(home.lake_root, "ag", "fact_receipts"))


def corrupt_one_data_file(home, table: str) -> Path:
    """What a damaged Bronze file looks like to Silver: a Parquet file of the table that is not Parquet."""
    uri = delta.table_uri(home.lake_root, "cusn", table)
    victim = sorted(Path(uri).rglob("*.parquet"))[0]
    victim.write_bytes(b"this is not parquet")
    return victim


def test_a_table_day_that_raises_does_not_stop_the_others(tmp_path):
    home = make_home(tmp_path)
    generate_batch_days(home, DAYS[:2])
    corrupt_one_data_file(home, "fact_reorders")
    result = dg.materialize(
        SILVER_ASSETS,
        selection=SILVER_FACT_KEYS,
        tags=range_tags(DAYS[0], DAYS[1]),
        resources=silver_resources(home),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    materialized = {(m.asset_key.path[-1], m.partition) for m in result.asset_materializations_for_node("silver_facts")}
    failed = {(t, d.isoformat()) for t in FACT_TABLES for d in DAYS[:2]} - materialized
    assert failed == {("fact_reorders", DAYS[0].isoformat())}, "only the damaged file's table-day"
    evaluated = {(e.asset_key.path[-1], e.partition) for e in result.get_asset_check_evaluations()}
    assert materialized <= evaluated
    error = result.get_step_failure_events()[0].event_specific_data.error.message
    assert f"1 of {len(FACT_TABLES) * 2} Silver table-days were not written" in error
    assert f"ag.fact_reorders {DAYS[0]}: " in error and "Parquet" in error


def test_table_day_connections_are_cursors_that_share_no_registration():
    """The asset gives each table-day a cursor of the run's one database (``defs/silver/assets.py``):
    what one table-day registered (its built rows as ``silver``) or created must not reach the next."""
    database = duckdb.connect()
    with closing(database.cursor()) as first:
        first.register("silver", pa.table({"x": [1]}))
        first.execute("CREATE TEMP TABLE scratch AS SELECT 1 AS y")
        assert first.execute("SELECT count(*) FROM silver").fetchone() == (1,)
    with closing(database.cursor()) as second:
        for name in ("silver", "scratch"):
            with pytest.raises(duckdb.CatalogException):
                second.execute(f"SELECT * FROM {name}")
