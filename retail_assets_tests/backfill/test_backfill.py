"""``retail-assets backfill``: one run over a range in date order, with a progress line per day."""

from __future__ import annotations

import re
from datetime import date, timedelta

import dagster as dg
import pytest

from retail_assets import pipeline
from retail_assets.backfill.cli import BackfillCliError, resolve_range
from retail_assets.backfill.progress import BackfillProgress, format_duration
from retail_assets.cli import main
from retail_assets.lake import delta
from retail_assets.lake.ledger import Ledger
from retail_assets_tests.conftest import TEST_START_DATE

FIRST, LAST = TEST_START_DATE, TEST_START_DATE + timedelta(days=400)


def test_progress_lines_count_days_rows_per_second_and_eta() -> None:
    ticks = iter([100.0, 110.0, 130.0, 160.0])
    progress = BackfillProgress(total_days=3, clock=lambda: next(ticks))
    first = progress.day_done(date(2024, 1, 1), 1_000)
    assert first == (
        "backfill 1/3 days (33.3%): 2024-01-01 1,000 rows; 1,000 rows at 100 rows/s; elapsed 10s, ETA 20s"
    )
    second = progress.day_done(date(2024, 1, 2), 3_000)
    assert "2/3 days" in second and "4,000 rows at 133 rows/s" in second and "ETA 15s" in second
    assert progress.day_done(date(2024, 1, 3), 2_000).endswith("elapsed 1m 00s, ETA done")


def test_durations_read_as_seconds_minutes_hours() -> None:
    assert [format_duration(s) for s in (5, 65, 3 * 3600 + 7 * 60 + 20)] == ["5s", "1m 05s", "3h 07m"]


def test_a_year_is_start_plus_364_days() -> None:
    assert resolve_range(FIRST, None, 365, FIRST, LAST) == (FIRST, FIRST + timedelta(days=364))
    assert resolve_range(FIRST, FIRST + timedelta(days=2), None, FIRST, LAST) == (FIRST, FIRST + timedelta(days=2))


@pytest.mark.parametrize(
    ("start", "end", "days", "message"),
    [
        (FIRST, FIRST - timedelta(days=1), None, "is before --start"),
        (FIRST, None, 0, "--days must be at least 1"),
        (FIRST - timedelta(days=1), None, 3, "before the dataset's first day.*RETAIL_ASSETS_START_DATE"),
        (LAST, None, 2, "after the last daily partition.*--end"),
    ],
)
def test_bad_ranges_are_refused_with_the_fix(start, end, days, message) -> None:
    with pytest.raises(BackfillCliError, match=message):
        resolve_range(start, end, days, FIRST, LAST)


def test_cli_refuses_a_non_date(capsys) -> None:
    assert main(["backfill", "--start", "2024-13-01", "--days", "2"]) == 2
    assert "--start '2024-13-01' is not a date; use YYYY-MM-DD" in capsys.readouterr().err


def test_backfill_runs_the_days_in_date_order_and_prints_progress(
    home_settings, dataset_settings, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    pipeline.build_and_write_dimensions(home_settings, dataset_settings)
    assert main(["backfill", "--start", FIRST.isoformat(), "--days", "3"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("backfill ")]
    days = [re.search(r"\): (\d{4}-\d\d-\d\d) ", line).group(1) for line in lines]
    assert days == [(FIRST + timedelta(days=i)).isoformat() for i in range(3)]
    assert [line.split(" days")[0] for line in lines] == ["backfill 1/3", "backfill 2/3", "backfill 3/3"]
    assert all("rows/s" in line and "ETA" in line for line in lines)
    assert "succeeded: 3 day(s)" in out
    # The same lines are in the run's log (what the UI shows), and it is one run over the range.
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        messages = [e.user_message for e in instance.all_logs(run.run_id)]
    assert [m for m in messages if m.startswith("backfill ")] == lines
    ledger = Ledger(home_settings.state_dir)
    assert all(ledger.day_record(FIRST + timedelta(days=i)).generated for i in range(3))
    receipts = delta.partition_row_counts(delta.table_uri(home_settings.lake_root, "cusn", "fact_receipts"))
    assert sorted(receipts) == [FIRST + timedelta(days=i) for i in range(3)]


def test_backfill_that_fails_names_the_cause(home_settings, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    assert main(["backfill", "--start", FIRST.isoformat(), "--days", "2"]) == 1  # no dimensions yet
    assert "materialize the asset cusn/dim_" in capsys.readouterr().err
