"""The generation ledger: which path (batch or stream) owns each generated day.

Why it exists: a (day, table) must be produced by exactly one path (contract §2 path rule). The
claim is taken *before* a day is generated, atomically, in a small DuckDB file
(``state/ledger.duckdb``). DuckDB lets only one process hold a file read-write, so a claim is one
``INSERT … ON CONFLICT DO NOTHING`` followed by a read-back inside a short-lived connection: of two
racing processes, one inserts, the other reads the winner's row and is refused (or accepted if it
asked for the same path). Connections are opened per operation and retried briefly on
``duckdb.IOException`` lock errors (ARCHITECTURE.md "Process model").

Besides ownership, the ledger records the two completion marks of a day (contract §2, §8.3):

* ``generated_ts`` — the day's generation finished: its Bronze partitions, carried state and manifest
  are all committed. It is the LAST commit of a generated day, so it is the single marker the
  reader of D's carried state trusts (``pipeline.load_prev_state`` refuses D+1 without it).
* ``landed_ts`` — every row of the day is in Bronze: on a batch day the same moment as
  ``generated_ts``; on a stream day when every event of the day is SENT (none PENDING, LEASED or
  DEAD). Silver is built only for landed days (``defs/silver/gate.py``).

Re-generating a day clears both marks at the claim and sets them again at the end, so a crash in a
re-run leaves the day visibly incomplete instead of trusting the previous run's marks.

Plain Python; Dagster code passes ``DuckDBResource.get_connection`` as ``connect``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
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
# Ledgers written before the completion marks existed gain the columns on first open. Their days
# were written by the previous version's state-last order, so they are taken as generated (and a
# batch day as landed); a stream day's landed mark comes from the next streaming run, which marks
# every day whose events are all SENT. `retail-assets ledger rebuild` re-derives all marks from the lake.
_MIGRATION = (
    f"ALTER TABLE {LEDGER_TABLE} ADD COLUMN generated_ts TIMESTAMP",
    f"ALTER TABLE {LEDGER_TABLE} ADD COLUMN landed_ts TIMESTAMP",
    f"""UPDATE {LEDGER_TABLE} SET generated_ts = claimed_ts,
           landed_ts = CASE WHEN path = 'batch' THEN claimed_ts END""",
)

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


def _migrate(conn: duckdb.DuckDBPyConnection) -> None:
    """Add the completion-mark columns to a ledger of the previous version, in one transaction."""
    has_marks = conn.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = 'generated_ts'",
        [LEDGER_TABLE],
    ).fetchone()
    if has_marks and has_marks[0]:
        return
    conn.execute("BEGIN TRANSACTION")
    try:
        for sql in _MIGRATION:
            conn.execute(sql)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


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
        "rebuild it from the day manifests in the lake and the outbox with `retail-assets ledger rebuild --yes` "
        "(it moves the damaged file aside, never deletes it). Nothing in the lake is lost: the ledger only "
        "records which path (batch or stream) owns each day and whether the day is complete."
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
            _migrate(conn)
            yield conn

    def claim(self, day: date, path: ClaimPath, owner: str) -> None:
        """Claim ``day`` for ``path``; the same path may claim again, the other path is refused."""
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        with self._session() as conn:
            conn.execute(
                f"""INSERT INTO {LEDGER_TABLE} (event_date, path, owner, claimed_ts)
                    VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING""",
                [day, path, owner, _now()],
            )
            row = conn.execute(
                f"SELECT path, owner FROM {LEDGER_TABLE} WHERE event_date = ?", [day]
            ).fetchone()
            if row is not None and row[0] == path:
                # a (re-)generation starts: the day is incomplete until this run's last commit
                conn.execute(
                    f"""UPDATE {LEDGER_TABLE} SET owner = ?, generated_ts = NULL, landed_ts = NULL
                        WHERE event_date = ?""",
                    [owner, day],
                )
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
        """Every claimed day with its path (of one path, or of either), in date order."""
        return {d: r.path for d, r in self.records().items() if path is None or r.path == path}

    def release(self, day: date, path: str) -> bool:
        """Drop ``path``'s claim on ``day`` (operator action); True when a claim was removed."""
        with self._session() as conn:
            removed = conn.execute(
                f"DELETE FROM {LEDGER_TABLE} WHERE event_date = ? AND path = ? RETURNING event_date",
                [day, path],
            ).fetchall()
        return bool(removed)

    # --- completion marks ---------------------------------------------------------------------

    def mark_generated(self, day: date, path: ClaimPath) -> None:
        """The day's last commit: its Bronze, state and manifest are in the lake.

        A batch day is landed at the same moment (its rows went straight to Bronze); a stream day is
        landed later, by ``mark_landed`` once its events are all SENT.
        """
        now = _now()
        with self._session() as conn:
            rows = conn.execute(
                f"""UPDATE {LEDGER_TABLE} SET generated_ts = ?,
                           landed_ts = CASE WHEN path = 'batch' THEN ? ELSE NULL END
                    WHERE event_date = ? AND path = ? RETURNING event_date""",
                [now, now, day, path],
            ).fetchall()
        if not rows:
            raise LedgerError(
                f"cannot mark {day.isoformat()} generated: it is not claimed by the {path} path in "
                f"{self.database} (was the claim released while the day was being generated?); "
                f"re-materialize {day.isoformat()}."
            )

    def mark_landed(self, days: list[date]) -> list[date]:
        """Stream days whose events are all SENT: landed now (only generated, not yet landed days)."""
        if not days:
            return []
        with self._session() as conn:
            rows = conn.execute(
                f"""UPDATE {LEDGER_TABLE} SET landed_ts = ?
                    WHERE event_date IN (SELECT unnest(?::DATE[])) AND generated_ts IS NOT NULL
                      AND landed_ts IS NULL
                    RETURNING event_date""",
                [_now(), list(days)],
            ).fetchall()
        return sorted(r[0] for r in rows)

    def day_record(self, day: date) -> DayRecord | None:
        """Ownership and completion of one day, or None when unclaimed."""
        found = self.records(day, day)
        return found.get(day)

    def records(self, start: date | None = None, end: date | None = None) -> dict[date, DayRecord]:
        """Every claimed day (optionally within [start, end]) with its path and completion marks."""
        if not self._exists():
            return {}
        sql = f"SELECT event_date, path, owner, claimed_ts, generated_ts, landed_ts FROM {LEDGER_TABLE} WHERE true"
        params: list[object] = []
        if start is not None:
            sql += " AND event_date >= ?"
            params.append(start)
        if end is not None:
            sql += " AND event_date <= ?"
            params.append(end)
        with self._session() as conn:
            rows = conn.execute(sql + " ORDER BY event_date", params).fetchall()
        return {r[0]: DayRecord(*r) for r in rows}

    def restore(self, records: list[DayRecord]) -> int:
        """Write ``records`` as the ledger's whole content (``retail-assets ledger rebuild``)."""
        with self._session() as conn:
            conn.execute("BEGIN TRANSACTION")
            try:
                conn.execute(f"DELETE FROM {LEDGER_TABLE}")
                for r in records:
                    conn.execute(
                        f"""INSERT INTO {LEDGER_TABLE} (event_date, path, owner, claimed_ts, generated_ts, landed_ts)
                            VALUES (?, ?, ?, ?, ?, ?)""",
                        [r.day, r.path, r.owner, r.claimed_ts, r.generated_ts, r.landed_ts],
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return len(records)


@dataclass(frozen=True)
class DayRecord:
    """One ledger row: who owns the day and how far it got."""

    day: date
    path: str
    owner: str
    claimed_ts: datetime
    generated_ts: datetime | None
    landed_ts: datetime | None

    @property
    def generated(self) -> bool:
        return self.generated_ts is not None

    @property
    def landed(self) -> bool:
        return self.landed_ts is not None

    @property
    def state(self) -> str:
        """``claimed`` (generation unfinished), ``generated`` (stream events not all landed) or ``landed``."""
        return "landed" if self.landed else "generated" if self.generated else "claimed"


def _now() -> datetime:
    """Naive UTC (the ledger's TIMESTAMP columns)."""
    return datetime.now(UTC).replace(tzinfo=None)
