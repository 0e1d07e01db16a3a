"""The generation ledger: which path (batch or stream) owns each generated day.

Why it exists: a (day, table) must be produced by exactly one path (contract §2 path rule). The
claim is taken *before* a day is generated, atomically, in a small DuckDB file
(``state/ledger.duckdb``). DuckDB lets only one process hold a file read-write, so a claim is one
``INSERT … ON CONFLICT DO NOTHING`` followed by a read-back inside a short-lived connection: of two
racing processes, one inserts, the other reads the winner's row and is refused (or accepted if it
asked for the same path). Connections are opened per operation and retried briefly on
``duckdb.IOException`` lock errors (ARCHITECTURE.md "Process model").

Plain Python; Dagster code passes ``DuckDBResource.get_connection`` as ``connect``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import duckdb

from retail_assets.lake import duckdb_files

ClaimPath = Literal["batch", "stream"]
PATHS: tuple[str, ...] = ("batch", "stream")
LEDGER_FILE = "ledger.duckdb"
LEDGER_TABLE = "ctl_day_ledger"

ConnectionFactory = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]

_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
    event_date DATE PRIMARY KEY,
    path VARCHAR NOT NULL,
    owner VARCHAR NOT NULL,
    claimed_ts TIMESTAMP NOT NULL
)
"""

_PATH_WORDS = {"batch": "batch", "stream": "streaming"}


class LedgerError(RuntimeError):
    """The ledger refused or could not record a claim; the message says what to do."""


class DayClaimedError(LedgerError):
    """The day is owned by the other path; regenerating it there would duplicate rows in Silver."""

    def __init__(self, day: date, owned_by: str, owner: str, requested: str) -> None:
        self.day, self.owned_by, self.owner, self.requested = day, owned_by, owner, requested
        super().__init__(
            f"day {day.isoformat()} is owned by the {_PATH_WORDS.get(owned_by, owned_by)} path "
            f"(claimed by {owner}); {requested} re-generation is refused so that no (day, table) is "
            f"produced twice. Pick another partition, or release the {owned_by} claim with "
            f"`retail-assets ledger release {day.isoformat()} --path {owned_by}` once that path's "
            "rows for the day have been removed."
        )


class LedgerLockedError(LedgerError, duckdb_files.DuckDBFileLockedError):
    """Another process holds ``ledger.duckdb`` open; it is free again when that process finishes."""


class LedgerCorruptError(LedgerError, duckdb_files.DuckDBFileCorruptError):
    """``ledger.duckdb`` is not a valid DuckDB database any more; only a rebuild helps."""


LEDGER_FILE_ROLE = duckdb_files.FileRole(
    what="the generation ledger",
    locked_error=LedgerLockedError,
    corrupt_error=LedgerCorruptError,
    while_locked="retry when that run has finished",
    restore=(
        "move it aside (`mv {database} {database}.corrupt-$(date +%Y%m%dT%H%M%S)`) and rebuild it from the "
        "day manifests in the lake with `retail-assets ledger rebuild`. Nothing in the lake is lost: the "
        "ledger only records which path (batch or stream) owns each generated day."
    ),
)


def ledger_path(state_dir: Path) -> Path:
    """Where the ledger file lives under ``RETAIL_ASSETS_HOME/state``."""
    return Path(state_dir) / LEDGER_FILE


@contextmanager
def _plain_connection(
    database: Path, attempts: int = 50, pause_s: float = 0.05
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-write connection, retried while another process holds the file lock;
    a damaged file fails at once with ``LedgerCorruptError`` (see ``lake/duckdb_files.py``)."""
    with duckdb_files.session(database, LEDGER_FILE_ROLE, attempts=attempts, pause_s=pause_s) as conn:
        yield conn


class Ledger:
    """Day ownership claims in ``<state_dir>/ledger.duckdb``."""

    def __init__(self, state_dir: Path, connect: ConnectionFactory | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.database = ledger_path(self.state_dir)
        self._connect = connect or (lambda: _plain_connection(self.database))

    def _exists(self) -> bool:
        """Reads of a ledger that was never written answer "nothing claimed" without creating it."""
        return self.database.exists()

    @contextmanager
    def _session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(
                f"cannot create the state directory {self.state_dir} ({exc}); point RETAIL_ASSETS_HOME "
                "at a writable directory."
            ) from exc
        with self._connect() as conn:
            conn.execute(_DDL)
            yield conn

    def claim(self, day: date, path: ClaimPath, owner: str) -> None:
        """Claim ``day`` for ``path``; the same path may claim again, the other path is refused."""
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        with self._session() as conn:
            conn.execute(
                f"INSERT INTO {LEDGER_TABLE} VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [day, path, owner, datetime.now(UTC).replace(tzinfo=None)],
            )
            row = conn.execute(
                f"SELECT path, owner FROM {LEDGER_TABLE} WHERE event_date = ?", [day]
            ).fetchone()
        if row is None:  # pragma: no cover - the insert or a concurrent one must have left a row
            raise LedgerError(f"claim of {day} did not persist in {self.database}; retry.")
        owned_by, owned_owner = row
        if owned_by != path:
            raise DayClaimedError(day, owned_by, owned_owner, path)

    def owner_of(self, day: date) -> str | None:
        """The path that owns ``day`` (``'batch'``/``'stream'``), or None when unclaimed."""
        if not self._exists():
            return None
        with self._session() as conn:
            row = conn.execute(f"SELECT path FROM {LEDGER_TABLE} WHERE event_date = ?", [day]).fetchone()
        return row[0] if row else None

    def latest_claimed_day(self, path: str | None = None) -> date | None:
        """The most recent claimed day (of one path, or of either)."""
        if not self._exists():
            return None
        sql = f"SELECT max(event_date) FROM {LEDGER_TABLE}"
        params: list[object] = []
        if path is not None:
            sql += " WHERE path = ?"
            params.append(path)
        with self._session() as conn:
            row = conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def claimed_days(self, path: str | None = None) -> dict[date, str]:
        """Every claimed day with its path, in date order."""
        if not self._exists():
            return {}
        sql = f"SELECT event_date, path FROM {LEDGER_TABLE}"
        params: list[object] = []
        if path is not None:
            sql += " WHERE path = ?"
            params.append(path)
        with self._session() as conn:
            rows = conn.execute(sql + " ORDER BY event_date", params).fetchall()
        return {d: p for d, p in rows}

    def release(self, day: date, path: str) -> bool:
        """Drop ``path``'s claim on ``day`` (operator action); True when a claim was removed."""
        with self._session() as conn:
            removed = conn.execute(
                f"DELETE FROM {LEDGER_TABLE} WHERE event_date = ? AND path = ? RETURNING event_date",
                [day, path],
            ).fetchall()
        return bool(removed)
