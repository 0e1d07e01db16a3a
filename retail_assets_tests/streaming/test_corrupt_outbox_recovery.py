"""A damaged outbox: the run fails with the restore steps, and following them loses and duplicates nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pyarrow.compute as pc
import pytest

from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.defs.resources import RetailSettings
from retail_assets.defs.streaming.jobs import OUTBOX_RESOURCE_KEY, outbox_resource, stream_outbox
from retail_assets.lake import delta
from retail_assets.streaming.drain import DrainSettings
from retail_assets.streaming.outbox import Outbox, OutboxCorruptError, outbox_path
from retail_assets.streaming.runner import StreamSettings, stream_once
from retail_assets.streaming.sinks.local import LocalDeltaSink

DAY = date(2024, 3, 4)


def _garbage_header(path: Path) -> None:
    with path.open("r+b") as f:
        f.write(b"\xa5" * 4096)


def test_a_streaming_run_on_a_damaged_outbox_fails_with_the_restore(home: HomeSettings) -> None:
    Outbox.in_state_dir(home.state_dir).status()
    database = outbox_path(home.state_dir)
    _garbage_header(database)
    with dg.instance_for_test() as instance:
        result = stream_outbox.execute_in_process(
            run_config={"ops": {"stream_outbox_op": {"config": {"max_seconds": 60}}}},
            resources={
                "retail_settings": RetailSettings(scale_factor="0.01", start_date=DAY.isoformat(), home=str(home.home)),
                OUTBOX_RESOURCE_KEY: outbox_resource(home, lock_wait_seconds=1.0),
            },
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    failure = result.failure_data_for_node("stream_outbox_op").user_failure_data
    assert f"the outbox {database} is damaged" in failure.description
    assert f"mv {database}" in failure.description and "locked" not in failure.description


def _run(home: HomeSettings, dataset: DatasetSettings, max_events: int):
    settings = StreamSettings(drain=DrainSettings(max_events=max_events, max_seconds=120))
    sink = LocalDeltaSink(home.lake_root)
    try:
        return stream_once(home, dataset, sink, "test", settings, log=lambda _: None, today=date(2024, 3, 20))
    finally:
        sink.close()


def test_moving_a_damaged_outbox_aside_regenerates_the_unsent_events_without_duplicates(
    home: HomeSettings, dataset: DatasetSettings
) -> None:
    first = _run(home, dataset, max_events=500)
    assert first.generated_day == DAY and first.drain.sent == 500 and first.status["pending"] > 0
    expected = {t: c["pending"] + c["sent"] for t, c in first.status["by_event_type"].items()}
    database = outbox_path(home.state_dir)
    _garbage_header(database)
    with pytest.raises(OutboxCorruptError) as info:
        Outbox(database).open_count()
    assert "the next run regenerates it" in str(info.value)

    database.rename(database.with_name(database.name + ".corrupt-test"))  # the advised restore
    second = _run(home, dataset, max_events=10_000_000)
    assert second.generated_day == DAY  # the latest stream day, claimed but not in the fresh outbox
    assert second.drain.duplicates == 500  # the events that had landed before were skipped
    assert second.status["pending"] == second.status["leased"] == second.status["dead"] == 0

    for event_type, n in expected.items():
        ids = delta.read_table(delta.table_uri(home.lake_root, "cusn", event_type), columns=["event_id"])["event_id"]
        assert len(ids) == n and len(pc.unique(ids)) == n, event_type  # every event once: none lost, none twice
