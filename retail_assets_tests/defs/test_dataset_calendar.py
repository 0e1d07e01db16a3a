"""The dataset calendar: the partitions and the daily schedule offer days that exist or can be built next."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from retail_assets.cli import main
from retail_assets.dataset_calendar import (
    FALLBACK_DAYS,
    CalendarError,
    DatasetCalendar,
    calendar_path,
    extend_calendar,
    init_calendar,
    load_calendar,
    require_calendar,
)
from retail_assets.defs.generation.assets import bronze_batch, dimensions
from retail_assets.defs.generation.jobs import DAILY_GENERATION_JOB, daily_generation_job
from retail_assets.defs.generation.schedule import build_daily_generation_schedule
from retail_assets.defs.partition_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from retail_assets.defs.partitions import daily_partitions_for
from retail_assets.defs.resources import RetailSettings
from retail_assets.lake.ledger import Ledger
from retail_assets_tests.conftest import TEST_START_DATE

SET_UP_DAY = date(2026, 12, 5)  # the wall day the home was set up (UTC)
START = TEST_START_DATE

RESOURCES = {  # never used: a schedule tick only plans runs (bronze_batch needs them to be defined)
    "retail_settings": RetailSettings(scale_factor="0.01", home="/nonexistent-home-never-written"),
    "ledger_duckdb": DuckDBResource(database="/nonexistent-home-never-written/ledger.duckdb"),
}


def _noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def _wall(days_after_set_up: int) -> date:
    return SET_UP_DAY + timedelta(days=days_after_set_up)


def test_calendar_round_trips_through_its_file(tmp_path: Path) -> None:
    created, was_created = init_calendar(tmp_path, START, SET_UP_DAY)
    assert was_created and calendar_path(tmp_path).is_file()
    assert load_calendar(tmp_path) == created == DatasetCalendar(START, SET_UP_DAY, START)
    again, was_created = init_calendar(tmp_path, START, _wall(10))  # once per home: a later init keeps it
    assert not was_created and again == created
    extended, changed = extend_calendar(tmp_path, START, START + timedelta(days=4), SET_UP_DAY)
    assert changed and load_calendar(tmp_path) == extended
    assert extended.last_offered_day(SET_UP_DAY) == START + timedelta(days=4)
    assert extended.lag_days == created.lag_days - 4


def test_an_existing_home_is_anchored_at_the_day_after_its_last_claimed_day(tmp_path: Path) -> None:
    calendar, _ = init_calendar(tmp_path, START, SET_UP_DAY, next_buildable=START + timedelta(days=7))
    assert calendar.last_offered_day(SET_UP_DAY) == START + timedelta(days=7)


def test_extend_never_takes_a_day_back(tmp_path: Path) -> None:
    extend_calendar(tmp_path, START, START + timedelta(days=5), SET_UP_DAY)
    calendar, changed = extend_calendar(tmp_path, START, START + timedelta(days=2), _wall(1))
    assert not changed and calendar.last_offered_day(_wall(1)) == START + timedelta(days=6)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["calendar", "show"], "no dataset calendar at"),
        (["calendar", "extend", "--through", "2024-02-30"], "is not a date; write it as YYYY-MM-DD"),
        (["calendar", "extend", "--through", "2023-12-31"], "is before the dataset start 2024-01-01"),
        (["calendar", "extend", "--through", "2999-01-01"], "is after today"),
    ],
)
def test_bad_requests_fail_with_the_fix(retail_env, capsys, argv: list[str], message: str) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_an_unreadable_or_foreign_calendar_is_refused(tmp_path: Path) -> None:
    calendar_path(tmp_path).write_text("{not json")
    with pytest.raises(CalendarError, match=r"unreadable.*calendar init"):
        load_calendar(tmp_path)
    calendar_path(tmp_path).unlink()
    with pytest.raises(CalendarError, match="retail-assets calendar init"):
        require_calendar(tmp_path)
    init_calendar(tmp_path, START, SET_UP_DAY)
    with pytest.raises(CalendarError, match="a different start date is a different dataset"):
        init_calendar(tmp_path, START + timedelta(days=1), SET_UP_DAY)


def test_cli_init_then_show(retail_env, capsys) -> None:
    assert main(["calendar", "init"]) == 0
    assert main(["calendar", "show"]) == 0
    out = capsys.readouterr().out
    assert "created" in out and f"1 daily partition(s), {START} .. {START}" in out


def test_a_fresh_home_offers_its_start_day_then_one_more_per_wall_day(tmp_path: Path) -> None:
    calendar, _ = init_calendar(tmp_path, START, SET_UP_DAY)
    partitions = daily_partitions_for(calendar)
    assert partitions.get_partition_keys(current_time=_noon(SET_UP_DAY)) == [START.isoformat()]
    keys = partitions.get_partition_keys(current_time=_noon(_wall(3)))
    assert keys == [(START + timedelta(days=i)).isoformat() for i in range(4)]
    just_after_midnight = datetime(2026, 12, 9, 0, 1, tzinfo=UTC)  # the fourth business day is offered
    assert partitions.get_partition_keys(current_time=just_after_midnight)[-1] == (START + timedelta(days=4)).isoformat()


def test_extending_makes_the_last_partition_that_day(tmp_path: Path) -> None:
    calendar, _ = extend_calendar(tmp_path, START, START + timedelta(days=4), SET_UP_DAY)
    keys = daily_partitions_for(calendar).get_partition_keys(current_time=_noon(SET_UP_DAY))
    assert keys[0] == START.isoformat() and keys[-1] == (START + timedelta(days=4)).isoformat() and len(keys) == 5


def test_without_a_calendar_the_partitions_are_a_fixed_window(tmp_path: Path) -> None:
    partitions = daily_partitions_for(None, START)
    for wall in (SET_UP_DAY, _wall(400)):
        keys = partitions.get_partition_keys(current_time=_noon(wall))
        assert len(keys) == FALLBACK_DAYS and keys[0] == START.isoformat()


def _tick(schedule: dg.ScheduleDefinition, wall: datetime) -> dg.RunRequest | str:
    defs = dg.Definitions(
        assets=[dimensions, bronze_batch], jobs=[daily_generation_job], schedules=[schedule], resources=RESOURCES
    )
    context = dg.build_schedule_context(scheduled_execution_time=wall, repository_def=defs.get_repository_def())
    result = defs.resolve_schedule_def(schedule.name).evaluate_tick(context)
    if result.skip_message is not None:
        return result.skip_message
    [request] = result.run_requests
    return request


def _days(request: dg.RunRequest | str) -> tuple[str, str]:
    assert isinstance(request, dg.RunRequest), request
    if request.partition_key is not None:
        return request.partition_key, request.partition_key
    return request.tags[PARTITION_RANGE_START_TAG], request.tags[PARTITION_RANGE_END_TAG]


def test_schedule_ticks_build_the_offered_days_after_the_last_claimed_day(retail_env) -> None:
    calendar, _ = init_calendar(retail_env.home, START, SET_UP_DAY)
    schedule = build_daily_generation_schedule(daily_generation_job, calendar, "calendar_test_schedule")
    assert schedule.job_name == DAILY_GENERATION_JOB
    ledger = Ledger(retail_env.state_dir)

    def at(days_after_set_up: int) -> datetime:
        return datetime.combine(_wall(days_after_set_up), datetime.min.time(), UTC).replace(minute=15)

    day = [(START + timedelta(days=i)).isoformat() for i in range(6)]
    assert _days(_tick(schedule, at(0))) == (day[0], day[0])  # set-up day: the start day
    ledger.claim(START, "batch", "test")
    assert "nothing to build" in _tick(schedule, at(0))
    assert _days(_tick(schedule, at(1))) == (day[1], day[1])  # each midnight one more day
    ledger.claim(START + timedelta(days=1), "batch", "test")
    request = _tick(schedule, at(4))  # the schedule was off for three nights: one run over the range
    assert _days(request) == (day[2], day[4]) and request.partition_key is None
    assert request.run_key == f"{day[2]}...{day[4]}"
    for i in (2, 3, 4, 5):  # the stream path ran ahead to day 5
        ledger.claim(START + timedelta(days=i), "stream" if i == 5 else "batch", "test")
    assert "nothing to build" in _tick(schedule, at(4))
    assert "nothing to build" in _tick(schedule, at(5))
    assert _days(_tick(schedule, at(6))) == ((START + timedelta(days=6)).isoformat(),) * 2


def test_without_a_calendar_the_schedule_skips_and_says_how_to_set_one_up(retail_env) -> None:
    schedule = build_daily_generation_schedule(daily_generation_job, None, "calendar_test_schedule")
    assert "retail-assets calendar init" in _tick(schedule, datetime(2026, 12, 5, 0, 15, tzinfo=UTC))


def test_the_stream_stops_at_the_business_day_the_calendar_offers(retail_env, dataset_settings) -> None:
    from retail_assets.dataset_calendar import wall_today
    from retail_assets.streaming.policy import decide, gather

    extend_calendar(retail_env.home, START, START + timedelta(days=1), wall_today())
    ledger = Ledger(retail_env.state_dir)
    assert decide(gather(retail_env, dataset_settings, [], [])).kind == "generate"
    for i in (0, 1):
        ledger.claim(START + timedelta(days=i), "batch", "test")
    verdict = decide(gather(retail_env, dataset_settings, [], []))
    assert verdict.kind == "caught_up" and verdict.next_day == START + timedelta(days=2)
    assert "the dataset calendar offers" in verdict.reason
