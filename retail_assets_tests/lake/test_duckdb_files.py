"""A damaged DuckDB state file is diagnosed as damaged (with the restore), a held one as locked.

Real files only: a ledger / outbox written by the code, then truncated, its header overwritten,
emptied, or replaced by text; a real lock is a subprocess holding a connection open.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from retail_assets.defs.generation.assets import dimensions
from retail_assets.defs.resources import LedgerDuckDBResource
from retail_assets.defs.streaming.jobs import OutboxDuckDBResource
from retail_assets.lake.duckdb_files import DuckDBFileCorruptError, DuckDBFileLockedError
from retail_assets.lake.ledger import (
    Ledger,
    LedgerCorruptError,
    LedgerError,
    LedgerLockedError,
    _plain_connection,
    ledger_path,
)
from retail_assets.streaming.outbox import (
    Outbox,
    OutboxCorruptError,
    OutboxError,
    OutboxLockedError,
    outbox_path,
    plain_connection,
)
from retail_assets_tests.conftest import TEST_START_DATE
from retail_assets_tests.defs.test_generation import failure_message, resources, run_bronze
from retail_assets_tests.duckdb_holder import held_by_another_process


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _garbage_header(path: Path) -> None:
    with path.open("r+b") as f:
        f.write(b"\xa5" * 4096)


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _text(path: Path) -> None:
    path.write_text("these are my notes, not a database\n" * 20)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": _truncate,
    "garbage_header": _garbage_header,
    "zero_bytes": _zero_bytes,
    "text_file": _text,
}


def _real_ledger(state: Path) -> Path:
    Ledger(state).claim(date(2024, 1, 1), "batch", "test")
    return ledger_path(state)


def _real_outbox(state: Path) -> Path:
    Outbox.in_state_dir(state).status()
    return outbox_path(state)


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_ledger_is_diagnosed_as_corrupt_with_the_rebuild(tmp_path: Path, damage: str) -> None:
    database = _real_ledger(tmp_path)
    DAMAGE[damage](database)
    before = database.read_bytes()
    with pytest.raises(LedgerCorruptError) as info:
        Ledger(tmp_path).claim(date(2024, 1, 2), "batch", "test")
    exc = info.value
    assert isinstance(exc, LedgerError) and isinstance(exc, DuckDBFileCorruptError)  # old handlers still match
    assert not isinstance(exc, DuckDBFileLockedError)
    text = str(exc)
    assert str(database) in text and "not a valid DuckDB database" in text
    assert "retail-assets ledger rebuild --yes" in text and "moves the damaged file aside" in text and "locked" not in text
    assert database.read_bytes() == before  # the diagnosis leaves the evidence as it was


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_outbox_is_diagnosed_as_corrupt_with_the_recovery(tmp_path: Path, damage: str) -> None:
    database = _real_outbox(tmp_path)
    DAMAGE[damage](database)
    with pytest.raises(OutboxCorruptError) as info:
        Outbox.in_state_dir(tmp_path).open_count()
    exc = info.value
    assert isinstance(exc, OutboxError) and not isinstance(exc, OutboxLockedError)
    text = str(exc)
    assert str(database) in text and "Retrying cannot help" in text
    assert f"mv {database} {database}.corrupt-" in text
    assert "regenerates it" in text and "ledger release" in text


def test_dagster_outbox_resource_reports_a_damaged_file_as_corrupt(tmp_path: Path) -> None:
    database = _real_outbox(tmp_path)
    _garbage_header(database)
    resource = OutboxDuckDBResource(database=str(database), lock_wait_seconds=5.0)
    with pytest.raises(OutboxCorruptError, match="is damaged"), resource.get_connection():
        pass


def test_held_ledger_is_locked_not_corrupt_and_names_the_holder(tmp_path: Path) -> None:
    database = _real_ledger(tmp_path)
    ledger = Ledger(tmp_path, connect=lambda: _plain_connection(database, attempts=3, pause_s=0.01))
    with held_by_another_process(database) as proc, pytest.raises(LedgerLockedError) as info:
        ledger.claim(date(2024, 1, 2), "batch", "test")
    exc = info.value
    assert isinstance(exc, LedgerError) and not isinstance(exc, DuckDBFileCorruptError)
    assert exc.holder_pid == proc.pid
    assert f"process {proc.pid}" in str(exc) and "intact" in str(exc) and str(database) in str(exc)


def test_held_outbox_is_locked_and_names_the_holder(tmp_path: Path) -> None:
    database = _real_outbox(tmp_path)
    with (
        held_by_another_process(database) as proc,
        pytest.raises(OutboxLockedError) as info,
        plain_connection(database, read_only=True, attempts=2, pause_s=0.01),
    ):
        pass
    assert info.value.holder_pid == proc.pid and f"process {proc.pid}" in str(info.value)


def test_dagster_ledger_resource_diagnoses_damage_at_open_and_in_use(tmp_path: Path) -> None:
    database = _real_ledger(tmp_path)
    resource = LedgerDuckDBResource(database=str(database), lock_wait_seconds=5.0)
    _truncate(database)  # opens (the header is intact), fails when a query reads past the end
    with pytest.raises(LedgerCorruptError, match="retail-assets ledger rebuild"):
        Ledger(tmp_path, connect=resource.get_connection).claim(date(2024, 1, 2), "batch", "test")
    _garbage_header(database)
    with pytest.raises(LedgerCorruptError, match="is damaged"), resource.get_connection():
        pass


def test_a_batch_run_on_a_damaged_ledger_fails_with_the_rebuild(retail_env) -> None:
    home = retail_env.home
    res = {**resources(home), "ledger_duckdb": LedgerDuckDBResource(database=str(ledger_path(home / "state")))}
    with dg.DagsterInstance.ephemeral() as instance:
        dg.materialize([dimensions], instance=instance, resources=res)
        database = _real_ledger(home / "state")
        _garbage_header(database)
        result = run_bronze(instance, res, partition_key=TEST_START_DATE.isoformat(), raise_on_error=False)
    message = failure_message(result)
    assert f"the generation ledger {database} is damaged" in message
    assert "retail-assets ledger rebuild" in message and "locked" not in message
