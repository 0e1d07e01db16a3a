"""The generation ledger: one owner per day, atomic across racing processes."""

from __future__ import annotations

import multiprocessing as mp
from datetime import date, timedelta
from pathlib import Path

import pytest

from retail_assets.lake.ledger import DayClaimedError, Ledger, LedgerError

DAY = date(2024, 1, 5)


def test_claim_then_reclaim_by_same_path_is_allowed(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "state")
    ledger.claim(DAY, "batch", "run-1")
    ledger.claim(DAY, "batch", "run-2")  # re-materializing a batch day is idempotent
    assert ledger.owner_of(DAY) == "batch"
    assert ledger.owner_of(DAY + timedelta(days=1)) is None


def test_other_path_is_refused_with_the_fix(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "state")
    ledger.claim(DAY, "stream", "streaming-run")
    with pytest.raises(DayClaimedError) as info:
        ledger.claim(DAY, "batch", "run-9")
    message = str(info.value)
    assert "day 2024-01-05 is owned by the streaming path" in message
    assert "batch re-generation is refused" in message
    assert "retail-assets ledger release 2024-01-05 --path stream" in message
    assert ledger.owner_of(DAY) == "stream"


def test_latest_and_claimed_days(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "state")
    assert ledger.latest_claimed_day() is None
    ledger.claim(date(2024, 1, 3), "stream", "s")
    ledger.claim(date(2024, 1, 1), "batch", "b")
    ledger.claim(date(2024, 1, 2), "batch", "b")
    assert ledger.latest_claimed_day() == date(2024, 1, 3)
    assert ledger.latest_claimed_day("batch") == date(2024, 1, 2)
    assert ledger.claimed_days() == {
        date(2024, 1, 1): "batch",
        date(2024, 1, 2): "batch",
        date(2024, 1, 3): "stream",
    }
    assert ledger.claimed_days("stream") == {date(2024, 1, 3): "stream"}


def test_release_hands_the_day_to_the_other_path(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "state")
    ledger.claim(DAY, "stream", "s")
    assert not ledger.release(DAY, "batch")  # only the owner's claim can be released
    assert ledger.release(DAY, "stream")
    ledger.claim(DAY, "batch", "b")
    assert ledger.owner_of(DAY) == "batch"


def test_unknown_path_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="path must be one of"):
        Ledger(tmp_path / "state").claim(DAY, "both", "x")  # type: ignore[arg-type]


def test_state_dir_under_a_file_fails_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="RETAIL_ASSETS_HOME"):
        Ledger(blocker / "state").claim(DAY, "batch", "b")


def _race(state_dir: str, day: date, path: str, barrier, results) -> None:
    """One contender: wait for the other, then claim the same day for its own path."""
    ledger = Ledger(Path(state_dir))
    barrier.wait()
    try:
        ledger.claim(day, path, f"proc-{path}")
        results.put((day, path, "won"))
    except DayClaimedError as exc:
        results.put((day, path, f"refused:{exc.owned_by}"))


def test_two_processes_racing_for_one_day_exactly_one_wins(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    state_dir = str(tmp_path / "state")
    days = [DAY + timedelta(days=i) for i in range(4)]
    with ctx.Manager() as manager:
        results = manager.Queue()
        for day in days:
            barrier = manager.Barrier(2)
            procs = [
                ctx.Process(target=_race, args=(state_dir, day, path, barrier, results))
                for path in ("batch", "stream")
            ]
            for p in procs:
                p.start()
            for p in procs:
                p.join(60)
                assert p.exitcode == 0
        outcomes = [results.get(timeout=5) for _ in range(2 * len(days))]
    ledger = Ledger(Path(state_dir))
    for day in days:
        of_day = {path: outcome for d, path, outcome in outcomes if d == day}
        winners = [path for path, outcome in of_day.items() if outcome == "won"]
        assert len(winners) == 1, of_day
        loser = "stream" if winners[0] == "batch" else "batch"
        assert of_day[loser] == f"refused:{winners[0]}"
        assert ledger.owner_of(day) == winners[0]


def _claim_in_child(state_dir: str, day: date, started) -> None:
    started.set()
    Ledger(Path(state_dir)).claim(day, "batch", "child")


def test_claim_waits_for_a_lock_held_by_another_process(tmp_path: Path) -> None:
    """While another process holds the file read-write, a claim retries instead of failing."""
    import duckdb

    from retail_assets.lake.ledger import ledger_path

    state_dir = tmp_path / "state"
    ledger = Ledger(state_dir)
    ledger.claim(DAY, "stream", "parent")  # creates the file
    ctx = mp.get_context("spawn")
    started = ctx.Event()
    holder = duckdb.connect(str(ledger_path(state_dir)))
    try:
        child = ctx.Process(target=_claim_in_child, args=(str(state_dir), DAY + timedelta(days=1), started))
        child.start()
        assert started.wait(30)
        child.join(0.5)  # the child is stuck retrying on the lock while we hold it
        assert child.is_alive() or child.exitcode == 0
    finally:
        holder.close()
    child.join(60)
    assert child.exitcode == 0
    assert ledger.owner_of(DAY + timedelta(days=1)) == "batch"
