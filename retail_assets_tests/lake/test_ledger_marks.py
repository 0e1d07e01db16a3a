"""The ledger's completion marks: set last, cleared by a re-generation, migrated from the previous
ledger format, and rebuilt from the lake when the ledger file is lost or corrupt."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from retail_assets import pipeline
from retail_assets.cli import main
from retail_assets.lake.ledger import LEDGER_TABLE, Ledger, LedgerError, ledger_path
from retail_assets.streaming.outbox import Outbox
from retail_assets_tests.conftest import TEST_START_DATE

DAY1 = TEST_START_DATE
DAY2 = DAY1 + timedelta(days=1)
DAY3 = DAY1 + timedelta(days=2)


def test_a_regeneration_clears_the_marks_until_its_own_last_commit(retail_env) -> None:
    ledger = Ledger(retail_env.state_dir)
    ledger.claim(DAY1, "batch", "first")
    ledger.mark_generated(DAY1, "batch")
    assert ledger.day_record(DAY1).state == "landed"
    ledger.claim(DAY1, "batch", "second")  # a re-run starts
    assert ledger.day_record(DAY1).state == "claimed"
    assert ledger.day_record(DAY1).owner == "second"


def test_a_stream_day_is_landed_only_by_mark_landed_and_only_once_generated(retail_env) -> None:
    ledger = Ledger(retail_env.state_dir)
    ledger.claim(DAY1, "stream", "s")
    assert ledger.mark_landed([DAY1]) == []  # not generated yet: never landed
    ledger.mark_generated(DAY1, "stream")
    assert ledger.day_record(DAY1).state == "generated"
    assert ledger.mark_landed([DAY1, DAY2]) == [DAY1]
    assert ledger.mark_landed([DAY1]) == []  # already landed: the mark keeps its first time


def test_marking_a_released_day_names_the_fix(retail_env) -> None:
    with pytest.raises(LedgerError, match=r"not claimed by the batch path.*re-materialize 2024-01-01"):
        Ledger(retail_env.state_dir).mark_generated(DAY1, "batch")


def test_a_ledger_of_the_previous_format_is_migrated_in_place(retail_env) -> None:
    database = ledger_path(retail_env.state_dir)
    database.parent.mkdir(parents=True)
    with duckdb.connect(str(database)) as conn:  # the previous version's DDL, verbatim
        conn.execute(
            f"CREATE TABLE {LEDGER_TABLE} (event_date DATE PRIMARY KEY, path VARCHAR NOT NULL, "
            "owner VARCHAR NOT NULL, claimed_ts TIMESTAMP NOT NULL)"
        )
        conn.execute(f"INSERT INTO {LEDGER_TABLE} VALUES (?, 'batch', 'old', now()), (?, 'stream', 'old', now())", [DAY1, DAY2])
    records = Ledger(retail_env.state_dir).records()
    assert {d: r.state for d, r in records.items()} == {DAY1: "landed", DAY2: "generated"}


def test_rebuild_restores_the_marks_from_the_manifest_and_the_outbox(retail_env, dataset_settings, capsys) -> None:
    pipeline.build_and_write_dimensions(retail_env, dataset_settings)
    pipeline.generate_and_write_day(retail_env, dataset_settings, DAY1, "batch", "b")
    pipeline.generate_and_write_day(retail_env, dataset_settings, DAY2, "stream", "s")
    Ledger(retail_env.state_dir).claim(DAY3, "batch", "crashed")  # a generation that never finished
    Outbox.in_state_dir(retail_env.state_dir).enqueued_days()  # an outbox that never saw DAY2
    before = {d: r.state for d, r in Ledger(retail_env.state_dir).records().items()}

    database = ledger_path(retail_env.state_dir)
    database.write_bytes(b"this is not a DuckDB file" * 100)  # the ledger is lost

    assert main(["ledger", "rebuild"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["written"] is False and dry["plan"]["days"] == 2
    assert main(["ledger", "rebuild", "--yes"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["written"] is True
    assert report["plan"]["stream_days_not_landed"] == {DAY2.isoformat(): "the outbox has no record of this day"}
    moved = report["old_ledger_moved_to"]
    assert moved and Path(moved).read_bytes().startswith(b"this is not")  # kept for inspection

    after = {d: r.state for d, r in Ledger(retail_env.state_dir).records().items()}
    assert before == {DAY1: "landed", DAY2: "generated", DAY3: "claimed"}
    assert after == {DAY1: "landed", DAY2: "generated"}  # the unfinished claim is dropped: DAY3 is redone
    pipeline.generate_and_write_day(retail_env, dataset_settings, DAY3, "batch", "after-rebuild")


def test_the_next_day_refuses_a_claimed_but_unfinished_day_and_names_it(retail_env, dataset_settings) -> None:
    pipeline.build_and_write_dimensions(retail_env, dataset_settings)
    pipeline.generate_and_write_day(retail_env, dataset_settings, DAY1, "batch", "b")
    Ledger(retail_env.state_dir).claim(DAY2, "batch", "crashed")
    with pytest.raises(
        pipeline.IncompleteDayError, match=r"2024-01-02 cannot be trusted yet.*by crashed.*has not finished.*re-materialize"
    ) as refused:
        pipeline.generate_and_write_day(retail_env, dataset_settings, DAY3, "batch", "next")
    assert (refused.value.unfinished_day, refused.value.owner) == (DAY2, "crashed")  # for the caller that can tell
