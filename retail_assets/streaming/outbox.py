"""The transactional outbox: ``streaming_outbox`` in its own DuckDB file (contract §5.6).

Why a DuckDB outbox: generation writes a whole day of events in one transaction, and the drain
then moves them to a sink at its own pace, surviving crashes and sink outages. Every operation is
set-based — a day is one ``INSERT … SELECT`` from Arrow, a lease is one ``UPDATE … RETURNING`` of a
batch in ``outbox_seq`` order, an ack or nack is one ``UPDATE`` joined to an Arrow list of seqs —
so the number of statements grows with batches, never with events.

Status machine (ARCHITECTURE.md "Streaming"): PENDING → LEASED (owner + expiry) → SENT on ack.
``attempts`` counts real sends only, from the sink's answer (ack or nack), never at lease time: a
lease released unsent — the run stopped, was killed, or its lease expired — costs nothing, so quick
runs during an outage cannot burn the retries. A nack returns the row to PENDING with a back-off
(``retry_after_ts``, capped exponential) and stamps ``first_failed_ts`` once; it becomes DEAD only
when it has ``max_attempts`` real attempts AND they span ``min_retry_window_s`` of wall-clock time,
so a short outage never kills a day (once the attempts are used up, the next retry is scheduled at
the window's end). Leases carry an owner that can be checked for liveness (``lease_owner.py``):
``reclaim_orphaned_leases`` hands a dead owner's leases back at once instead of after their expiry,
and leases of a live owner are reported as held by it, never as "drained".

Process model: DuckDB allows one writing process per file, so connections are short-lived, opened
per operation and retried while another process holds the lock. Plain Python; Dagster code passes
``DuckDBResource.get_connection`` as ``connect``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from retail_assets.lake import duckdb_files
from retail_assets.streaming.events import EVENTS_SCHEMA
from retail_assets.streaming.lease_owner import LivenessCheck, owner_liveness

OUTBOX_FILE = "outbox.duckdb"
TABLE = "streaming_outbox"
DAYS_TABLE = "streaming_outbox_days"
STATUSES = ("PENDING", "LEASED", "SENT", "DEAD")
CHECKPOINT_THRESHOLD = "1GB"
STAGING_FILE = "outbox_staging.duckdb"
SPILL_DIR = "duckdb_spill"  # next to the outbox; the Silver database spills there too
STAGING = "staging"  # the staging database's name while attached to an outbox session
STAGED_EVENTS = f"{STAGING}.staged_events"
STAGED_SHARDS = f"{STAGING}.staged_shards"
NUMBERING_WINDOW_EVENTS = 250_000
"""Events numbered per statement when a day staged in shards is enqueued (≈ 150 MB of rows: sorted
in memory, far below the outbox's memory limit)."""
DEFAULT_MEMORY_LIMIT = "1GB"
"""DuckDB's memory in an outbox session (its default is 80 % of the machine). Why a limit: a large
day is staged and numbered (sf 30: ≈ 22 M events, ≈ 15 GB of bodies) and a drain scans an outbox of
that size batch after batch; DuckDB evicts or spills beyond the limit instead of growing the process
with the scale factor."""

ConnectionFactory = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]

EVENT_COLUMNS_DDL = """
        event_date DATE NOT NULL,
        event_ts TIMESTAMPTZ NOT NULL,
        event_type VARCHAR NOT NULL,
        event_id VARCHAR NOT NULL USING COMPRESSION zstd,
        partition_key VARCHAR NOT NULL,
        body VARCHAR NOT NULL USING COMPRESSION zstd"""
"""Columns 2–7 of §5.6, as the outbox and the staging of a day in shards declare them."""

_DDL = (
    # outbox_seq and event_id are unique by construction (seq = day ordinal × 10^10 + rank; a day is
    # enqueued once, guarded by DAYS_TABLE in the same transaction; event ids are uuid5 of unique
    # natural keys) and the tests check it. They are deliberately NOT declared PRIMARY KEY / UNIQUE:
    # DuckDB's ART indexes make a 100k-row UPDATE … RETURNING ~30× slower (4.5 s vs 0.14 s).
    # body and event_id are zstd-compressed: the default dictionary/FSST analysis of ~600-byte JSON
    # bodies costs more than the insert itself (a sf-1 day: ~25% faster enqueue, 51 vs 162 MiB).
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        outbox_seq BIGINT NOT NULL,{EVENT_COLUMNS_DDL},
        status VARCHAR NOT NULL,
        attempts BIGINT NOT NULL,
        lease_owner VARCHAR,
        lease_expires_ts TIMESTAMPTZ,
        last_error VARCHAR,
        sent_ts TIMESTAMPTZ,
        first_failed_ts TIMESTAMPTZ,
        retry_after_ts TIMESTAMPTZ
    )""",
    # outbox files written before attempts counted real sends lack the last two columns
    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS first_failed_ts TIMESTAMPTZ",
    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS retry_after_ts TIMESTAMPTZ",
    # Which days were enqueued (one row per day, written in the same transaction as its events):
    # lets a crashed generation be finished, and keeps a purged day from being generated again.
    f"""CREATE TABLE IF NOT EXISTS {DAYS_TABLE} (
        event_date DATE PRIMARY KEY,
        events BIGINT NOT NULL,
        enqueued_ts TIMESTAMPTZ NOT NULL
    )""",
)


class OutboxError(RuntimeError):
    """The outbox refused an operation or could not be opened; the message says what to do."""


class OutboxLockedError(OutboxError, duckdb_files.DuckDBFileLockedError):
    """Another process holds the outbox file (a streaming run, usually)."""


class OutboxCorruptError(OutboxError, duckdb_files.DuckDBFileCorruptError):
    """``outbox.duckdb`` is not a valid DuckDB database any more; waiting cannot help."""


# What moving a damaged outbox aside means, worked out from ``runner.next_stream_day``: the fresh
# outbox has no enqueued days, so the latest stream-claimed day counts as "claimed but never
# enqueued" and is generated again (deterministically the same events); landing is idempotent on
# event_id, so the events that had already landed are skipped, not duplicated. An earlier day can
# only be regenerated once it is the latest claim again, hence the releases.
OUTBOX_RESTORE = (
    "move it aside (`mv {database} {database}.corrupt-$(date +%Y%m%dT%H%M%S)`); the next `retail-assets "
    "stream` (or stream_outbox run) creates a fresh outbox. Events already SENT are in Bronze; the ones "
    "the file held unsent are gone from the queue, and are recovered by regeneration: the latest "
    "stream-claimed day is not in the fresh outbox, so the next run regenerates it (the same events) and "
    "re-sends all of them; landing skips those already landed (idempotent on event_id), so nothing is "
    "duplicated. If an earlier day still had unsent or DEAD events (see `days` in outbox_status.json "
    "next to it), release the stream claims of every later day, newest first (`retail-assets ledger "
    "release <day> --path stream`): the next runs then regenerate that day and the ones after it."
)
OUTBOX_FILE_ROLE = duckdb_files.FileRole(
    what="the outbox",
    locked_error=OutboxLockedError,
    corrupt_error=OutboxCorruptError,
    while_locked=(
        "a streaming run is probably writing it — retry when it has finished, or read the status snapshot "
        "(`retail-assets outbox status`)"
    ),
    restore=OUTBOX_RESTORE,
)


class OutboxFullError(OutboxError):
    """Enqueueing would exceed the hard cap on pending events (the 96M-backlog guard)."""


def outbox_path(state_dir: Path) -> Path:
    return Path(state_dir) / OUTBOX_FILE


def now_utc() -> datetime:
    return datetime.now(UTC)


@contextmanager
def plain_connection(
    database: Path, read_only: bool = False, attempts: int = 100, pause_s: float = 0.05
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection, retried while another process holds the file lock; a damaged file
    fails at once with ``OutboxCorruptError`` (see ``lake/duckdb_files.py``)."""
    with duckdb_files.session(
        database, OUTBOX_FILE_ROLE, read_only=read_only, attempts=attempts, pause_s=pause_s
    ) as conn:
        yield conn


DEFAULT_MIN_RETRY_WINDOW_S = 900.0
"""15 minutes: an event becomes DEAD only after its failed sends span at least this long, so an
outage shorter than that (a network blip, a hub restart) never kills a day, however many quick runs
the sensor starts meanwhile."""


@dataclass(frozen=True)
class OutboxSettings:
    """Operational knobs of the status machine.

    ``max_attempts`` real sends AND ``min_retry_window_s`` seconds from the first failed send are
    both needed before an event is DEAD; ``backoff_base_s`` doubles per failed send up to
    ``backoff_max_s``.
    """

    max_attempts: int = 5
    lease_seconds: float = 120.0
    backoff_base_s: float = 2.0
    backoff_max_s: float = 300.0
    min_retry_window_s: float = DEFAULT_MIN_RETRY_WINDOW_S
    memory_limit: str = DEFAULT_MEMORY_LIMIT

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise OutboxError(f"max_attempts={self.max_attempts} must be >= 1.")
        if self.lease_seconds <= 0:
            raise OutboxError(f"lease_seconds={self.lease_seconds} must be > 0.")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise OutboxError("backoff seconds must be >= 0.")
        if self.min_retry_window_s < 0:
            raise OutboxError(
                f"min_retry_window_s={self.min_retry_window_s} must be >= 0 (seconds the failed sends of an "
                f"event must span before it is DEAD; default {DEFAULT_MIN_RETRY_WINDOW_S:g})."
            )


@dataclass(frozen=True)
class LeaseHolder:
    """Open leases of one owner: how many events, and when the last of them expires."""

    owner: str
    events: int
    until: datetime

    def describe(self) -> str:
        return f"held by {self.owner} until {iso_ts(self.until)} ({self.events:,} events)"


@dataclass(frozen=True)
class ReclaimReport:
    """What ``reclaim_orphaned_leases`` did: events taken back per dead owner; live holders left alone."""

    reclaimed: dict[str, int]
    held: tuple[LeaseHolder, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.reclaimed.values())

    def describe(self) -> str:
        parts = [f"reclaimed {n:,} leased events of {owner}, which is no longer running" for owner, n in
                 self.reclaimed.items()]
        parts += [h.describe() for h in self.held]
        return "; ".join(parts) or "no leases held"


@dataclass(frozen=True)
class Backlog:
    """Why nothing is leasable right now: events due, events in back-off, leases held by others."""

    due: int
    backoff: int
    next_retry_ts: datetime | None
    held: tuple[LeaseHolder, ...]


class Outbox:
    """``streaming_outbox`` operations; ``statements`` counts every SQL statement executed."""

    def __init__(
        self,
        database: Path,
        connect: ConnectionFactory | None = None,
        settings: OutboxSettings | None = None,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.database = Path(database)
        self.settings = settings or OutboxSettings()
        self.clock = clock  # wall-clock time of leases, acks, back-offs; tests pass a fake one
        self._connect = connect or (lambda: plain_connection(self.database))
        self.statements = 0
        self._ready = False
        self._held: duckdb.DuckDBPyConnection | None = None

    @classmethod
    def in_state_dir(cls, state_dir: Path, **kwargs: Any) -> Outbox:
        return cls(outbox_path(state_dir), **kwargs)

    # --- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def hold(self) -> Iterator[Outbox]:
        """Keep one connection open for a run of operations (a drain).

        Why: every open of the file and every close (which checkpoints) costs tens of milliseconds,
        more than a 100k-event ack. While held, other processes see the file locked — exactly as
        during any single operation — and read the status snapshot the drain publishes instead.
        """
        if self._held is not None:
            yield self
            return
        with self._session() as conn:
            self._held = conn
            try:
                yield self
            finally:
                self._held = None

    @contextmanager
    def _session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._held is not None:
            yield self._held
            return
        try:
            self.database.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutboxError(
                f"cannot create {self.database.parent} ({exc}); point RETAIL_ASSETS_HOME at a writable directory."
            ) from exc
        with self._connect() as conn:
            self._run(conn, "SET TimeZone = 'UTC'")
            # A drain updates a few columns of every row: at the default 16 MB WAL threshold DuckDB
            # checkpoints (rewrites the touched row groups) every couple of batches, ~0.6 s each. The
            # WAL is replayed after a crash and checkpointed when the connection closes anyway.
            self._run(conn, f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
            # not counted in ``statements`` (the per-batch cost the tests bound): session settings
            conn.execute(f"SET memory_limit = '{self.settings.memory_limit}'")
            conn.execute(f"SET temp_directory = '{self.database.parent / SPILL_DIR}'")
            if not self._ready:
                for ddl in _DDL:
                    self._run(conn, ddl)
                self._ready = True
            yield conn

    def _run(self, conn: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple]:
        """Execute one statement and fetch its whole result (DuckDB refuses new work on a connection
        with an unfinished result)."""
        self.statements += 1
        cur = conn.execute(sql, params) if params is not None else conn.execute(sql)
        return cur.fetchall()

    def _run_arrow(self, conn: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> pa.Table:
        self.statements += 1
        cur = conn.execute(sql, params) if params is not None else conn.execute(sql)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "extra copy" notice: batches are small relative to memory
            return cur.to_arrow_table()

    # --- enqueue -------------------------------------------------------------------------------

    def enqueued_days(self) -> dict[date, int]:
        with self._session() as conn:
            rows = self._run(conn, f"SELECT event_date, events FROM {DAYS_TABLE} ORDER BY event_date")
        return {d: n for d, n in rows}

    def enqueue_day(self, day: date, events: pa.Table, max_pending: int | None = None) -> int:
        """Insert a day's events in one transaction; a day already enqueued is skipped (returns 0).

        ``max_pending`` is the hard cap: if PENDING + LEASED + the new events would exceed it, nothing
        is written and ``OutboxFullError`` says why and what to change.
        """
        if events.schema.names != EVENTS_SCHEMA.names:
            raise OutboxError(f"events must have the columns {EVENTS_SCHEMA.names}, got {events.schema.names}")
        with self._session() as conn:
            self._run(conn, "BEGIN TRANSACTION")
            try:
                if self._already_enqueued(conn, day):
                    self._run(conn, "ROLLBACK")
                    return 0
                self._refuse_over_cap(conn, day, events.num_rows, max_pending)
                conn.register("__new_events", events)
                self._run(
                    conn,
                    f"""INSERT INTO {TABLE} (outbox_seq, event_date, event_ts, event_type, event_id,
                                             partition_key, body, status, attempts)
                        SELECT outbox_seq, event_date, event_ts, event_type, event_id, partition_key, body,
                               'PENDING', 0
                        FROM __new_events""",
                )
                conn.unregister("__new_events")
                self._run(conn, f"INSERT INTO {DAYS_TABLE} VALUES (?, ?, ?)", [day, events.num_rows, self.clock()])
                self._run(conn, "COMMIT")
            except BaseException:
                self._run(conn, "ROLLBACK")
                raise
        return events.num_rows

    def _already_enqueued(self, conn: duckdb.DuckDBPyConnection, day: date) -> bool:
        return bool(self._run(conn, f"SELECT count(*) FROM {DAYS_TABLE} WHERE event_date = ?", [day])[0][0])

    def _refuse_over_cap(self, conn: duckdb.DuckDBPyConnection, day: date, new: int, max_pending: int | None) -> None:
        """The hard cap: PENDING + LEASED + the new events must stay within ``max_pending``."""
        if max_pending is None:
            return
        open_rows = self._run(conn, f"SELECT count(*) FROM {TABLE} WHERE status IN ('PENDING', 'LEASED')")[0][0]
        if open_rows + new > max_pending:
            raise OutboxFullError(
                f"refusing to enqueue {day}: {new:,} new events + {open_rows:,} pending would "
                f"exceed the cap of {max_pending:,} pending events. Drain the outbox first "
                "(`retail-assets stream`), or raise max_pending / lower the scale factor."
            )

    # --- a day enqueued in shards (contract §5.6, §8.5) ----------------------------------------
    # Why a staging file: a large day's events do not fit in memory at once, and their outbox_seq is
    # their rank in the whole day. Each shard's events go to ``outbox_staging.duckdb`` with their sort
    # keys (one transaction per shard, so a shard is staged whole or not at all); when every shard is
    # in, one outbox transaction numbers the day window by window of event time and inserts it in seq
    # order. A separate file, because a day's staging is as large as the day and is thrown away after:
    # deleting the file gives the disk back, where deleted rows would only leave free blocks.

    @property
    def staging_path(self) -> Path:
        return self.database.parent / STAGING_FILE

    def _attach_staging(self, conn: duckdb.DuckDBPyConnection) -> None:
        self._run(conn, f"ATTACH IF NOT EXISTS '{self.staging_path}' AS {STAGING}")
        self._run(
            conn,
            f"""CREATE TABLE IF NOT EXISTS {STAGED_EVENTS} (
                shard INTEGER NOT NULL,{EVENT_COLUMNS_DDL},
                sort_rank BIGINT, sort_k0s VARCHAR, sort_k0i BIGINT, sort_k1s VARCHAR, sort_k1i BIGINT
            )""",
        )
        self._run(
            conn,
            f"""CREATE TABLE IF NOT EXISTS {STAGED_SHARDS} (
                event_date DATE NOT NULL, shard INTEGER NOT NULL, events BIGINT NOT NULL
            )""",
        )

    def discard_staged(self) -> None:
        """Remove every staged shard (the remains of a day whose generation stopped before its
        enqueue: that day is generated again from the start, deterministically the same)."""
        with self._session() as conn:
            self._run(conn, f"DETACH DATABASE IF EXISTS {STAGING}")
        for suffix in ("", ".wal"):
            Path(f"{self.staging_path}{suffix}").unlink(missing_ok=True)

    def stage_shard(self, day: date, shard: int, events: pa.Table) -> int:
        """Stage one shard's events of ``day`` (``events.UNSEQUENCED_SCHEMA``), replacing an earlier
        staging of the same shard; returns the events staged."""
        from retail_assets.streaming.events import UNSEQUENCED_SCHEMA

        if events.schema.names != UNSEQUENCED_SCHEMA.names:
            raise OutboxError(f"staged events must have the columns {UNSEQUENCED_SCHEMA.names}, got {events.schema.names}")
        with self._session() as conn:
            self._attach_staging(conn)
            self._run(conn, "BEGIN TRANSACTION")
            try:
                where = "WHERE event_date = ? AND shard = ?"
                self._run(conn, f"DELETE FROM {STAGED_EVENTS} {where}", [day, shard])
                self._run(conn, f"DELETE FROM {STAGED_SHARDS} {where}", [day, shard])
                conn.register("__shard_events", events)
                # time-ordered, so that the numbering's windows of event time skip most row groups
                self._run(conn, f"INSERT INTO {STAGED_EVENTS} SELECT ?, * FROM __shard_events ORDER BY event_ts", [shard])
                conn.unregister("__shard_events")
                self._run(conn, f"INSERT INTO {STAGED_SHARDS} VALUES (?, ?, ?)", [day, shard, events.num_rows])
                self._run(conn, "COMMIT")
            except BaseException:
                self._run(conn, "ROLLBACK")
                raise
        return events.num_rows

    def enqueue_staged_day(self, day: date, shards: list[int], first_seq: int, max_pending: int | None = None) -> int:
        """Number the staged events of ``day`` and enqueue them in one transaction, exactly as
        ``enqueue_day`` would the whole day: ``outbox_seq`` = ``first_seq`` + rank − 1 by (event_ts,
        type rank, natural key). Refuses unless exactly ``shards`` were staged (a lost shard would drop
        its events silently). A day already enqueued is skipped (returns 0). Discards the staging after."""
        with self._session() as conn:
            self._attach_staging(conn)
            self._run(conn, "BEGIN TRANSACTION")
            try:
                n = self._enqueue_staged(conn, day, shards, first_seq, max_pending)
                self._run(conn, "ROLLBACK" if n is None else "COMMIT")
            except BaseException:
                self._run(conn, "ROLLBACK")
                raise
        self.discard_staged()
        return n or 0

    def _enqueue_staged(
        self, conn: duckdb.DuckDBPyConnection, day: date, shards: list[int], first_seq: int, max_pending: int | None
    ) -> int | None:
        """The enqueue inside the caller's transaction; None when the day was enqueued before."""
        if self._already_enqueued(conn, day):
            return None
        staged = self._run(conn, f"SELECT shard, events FROM {STAGED_SHARDS} WHERE event_date = ? ORDER BY shard", [day])
        if [s for s, _ in staged] != sorted(shards):
            raise OutboxError(
                f"day {day}: shards {[s for s, _ in staged]} are staged, the plan has {sorted(shards)}; a shard's "
                "events were lost. Run the stream again: the day is generated again from the start."
            )
        total = sum(e for _, e in staged)
        self._refuse_over_cap(conn, day, total, max_pending)
        # Numbered window by window of event time, each window sorted on its own: rank = the events
        # of the earlier windows + the rank inside the window, the same order as one sort of the day
        # (event_ts leads the key). One sort of the whole day spilled its bodies to disk (sf 30:
        # ≈ 10 GB of spill files); a window of ≤ NUMBERING_WINDOW_EVENTS sorts in memory, and the
        # staged rows are time-ordered per shard, so a window's range scan skips most row groups.
        keys = "event_ts, sort_rank, sort_k0s, sort_k0i, sort_k1s, sort_k1i"
        before = 0
        for lo, hi, n in self._numbering_windows(conn, day):
            self._run(
                conn,
                f"""INSERT INTO {TABLE} (outbox_seq, event_date, event_ts, event_type, event_id,
                                         partition_key, body, status, attempts)
                    SELECT ? + row_number() OVER (ORDER BY {keys}) - 1 AS seq, event_date, event_ts,
                           event_type, event_id, partition_key, body, 'PENDING', 0
                    FROM {STAGED_EVENTS}
                    WHERE event_date = ? AND event_ts >= ? AND event_ts < ?
                    ORDER BY seq""",
                [first_seq + before, day, lo, hi],
            )
            before += n
        if before != total:
            raise OutboxError(f"day {day}: {before:,} staged events numbered, the shards reported {total:,}; run the stream again.")
        self._run(conn, f"INSERT INTO {DAYS_TABLE} VALUES (?, ?, ?)", [day, total, self.clock()])
        return total

    def _numbering_windows(self, conn: duckdb.DuckDBPyConnection, day: date) -> list[tuple[datetime, datetime, int]]:
        """[start, end) windows of whole minutes of the day's staged events, each of at most
        ``NUMBERING_WINDOW_EVENTS`` events (more only when one minute holds more), with their counts."""
        minutes = self._run(
            conn,
            f"""SELECT epoch_us(event_ts) // 60000000 AS m, count(*) FROM {STAGED_EVENTS}
                WHERE event_date = ? GROUP BY m ORDER BY m""",
            [day],
        )
        windows: list[tuple[int, int, int]] = []
        for minute, n in minutes:
            if windows and windows[-1][2] + n <= NUMBERING_WINDOW_EVENTS:
                first, _, count = windows[-1]
                windows[-1] = (first, minute + 1, count + n)
            else:
                windows.append((minute, minute + 1, n))
        return [(datetime.fromtimestamp(a * 60, UTC), datetime.fromtimestamp(b * 60, UTC), n) for a, b, n in windows]

    # --- lease / ack / nack --------------------------------------------------------------------

    def _expire(self, conn: duckdb.DuckDBPyConnection, now: datetime) -> None:
        """Expired leases go back to PENDING. No attempt is charged and nothing becomes DEAD here:
        the sink never answered for them, so whether a send was tried is unknown (and the landing
        skips a re-sent event by ``event_id``)."""
        self._run(
            conn,
            f"""UPDATE {TABLE} SET status = 'PENDING', lease_owner = NULL, lease_expires_ts = NULL
                WHERE status = 'LEASED' AND lease_expires_ts <= $now""",
            {"now": now},
        )

    def lease(self, owner: str, limit: int, max_event_ts: datetime | None = None, now: datetime | None = None) -> pa.Table:
        """Lease up to ``limit`` PENDING events whose back-off is over, in ``outbox_seq`` order
        (optionally only those due by ``max_event_ts``); returns them sorted by ``outbox_seq``.

        ``attempts`` in the result is the number this send will be (attempts so far + 1); the
        outbox charges it only when the sink answers (``ack``/``nack``).
        """
        now = now or self.clock()
        expires = now + timedelta(seconds=self.settings.lease_seconds)
        due = "AND event_ts <= $due" if max_event_ts is not None else ""
        params: dict[str, Any] = {"owner": owner, "exp": expires, "n": int(limit), "now": now}
        if max_event_ts is not None:
            params["due"] = max_event_ts
        pending = f"status = 'PENDING' AND (retry_after_ts IS NULL OR retry_after_ts <= $now) {due}"
        with self._session() as conn:
            self._expire(conn, now)
            # Why bounds, then SELECT, then UPDATE (not one UPDATE … RETURNING): RETURNING the bodies
            # costs twice a plain scan of them (~0.2 s vs 0.1 s per 100k). The first ``limit``
            # PENDING rows in seq order are exactly the PENDING rows with seq in [first, last] of
            # them (seqs are unique), and the transaction keeps that set fixed across the statements.
            self._run(conn, "BEGIN TRANSACTION")
            try:
                lo, hi = self._run(
                    conn,
                    f"""SELECT min(outbox_seq), max(outbox_seq) FROM (
                            SELECT outbox_seq FROM {TABLE} WHERE {pending} ORDER BY outbox_seq LIMIT $n)""",
                    {k: v for k, v in params.items() if k in ("n", "due", "now")},
                )[0]
                in_range = f"{pending} AND outbox_seq BETWEEN $lo AND $hi"
                bounds = {"lo": lo, "hi": hi, "now": now, **({"due": max_event_ts} if max_event_ts is not None else {})}
                leased = self._run_arrow(
                    conn,
                    f"""SELECT outbox_seq, event_date, event_ts, event_type, event_id, partition_key, body,
                               attempts + 1 AS attempts
                        FROM {TABLE} WHERE {in_range} ORDER BY outbox_seq""",
                    bounds,
                )
                self._run(
                    conn,
                    f"""UPDATE {TABLE} SET status = 'LEASED', lease_owner = $owner, lease_expires_ts = $exp
                        WHERE {in_range}""",
                    {**bounds, "owner": owner, "exp": expires},
                )
                self._run(conn, "COMMIT")
            except BaseException:
                self._run(conn, "ROLLBACK")
                raise
        return leased

    def ack(self, seqs: pa.Array | list[int], now: datetime | None = None) -> int:
        """Mark events SENT (the sink confirmed them: one real attempt), whoever holds the lease now."""
        ids = pa.table({"seq": pa.array(seqs, pa.int64())})
        if ids.num_rows == 0:
            return 0
        with self._session() as conn:
            conn.register("__acked", ids)
            # the affected-row count, not RETURNING: fetching 100k tuples into Python cost more than the UPDATE
            rows = self._run(
                conn,
                f"""UPDATE {TABLE} SET status = 'SENT', sent_ts = $now, lease_owner = NULL,
                           lease_expires_ts = NULL, last_error = NULL, attempts = attempts + 1
                    WHERE outbox_seq IN (SELECT seq FROM __acked)""",
                {"now": now or self.clock()},
            )
            conn.unregister("__acked")
        return int(rows[0][0])

    def backoff_seconds(self, attempts: int) -> float:
        if self.settings.backoff_base_s == 0:
            return 0.0
        return min(self.settings.backoff_max_s, self.settings.backoff_base_s * 2 ** max(0, attempts - 1))

    def nack(self, seqs: pa.Array | list[int], errors: list[str], owner: str, now: datetime | None = None) -> dict[str, int]:
        """Record failed sends (one real attempt each): back to PENDING after a back-off, or DEAD.

        DEAD needs both ``max_attempts`` attempts and ``min_retry_window_s`` since the event's first
        failed send; when the attempts are used up before the window is over, the next (last) retry
        is scheduled no earlier than the window's end. Only rows still leased by ``owner`` change:
        a lease that was reclaimed or expired meanwhile belongs to another run now.
        """
        failed = pa.table({"seq": pa.array(seqs, pa.int64()), "err": pa.array(errors, pa.string())})
        if failed.num_rows == 0:
            return {"dead": 0, "retry": 0}
        now = now or self.clock()
        s = self.settings
        tried = "o.attempts + 1"
        first = "coalesce(o.first_failed_ts, $now)"
        window_end = f"{first} + to_microseconds($window_us)"
        dead = f"({tried} >= $max AND $now >= {window_end})"
        backoff = f"$now + to_microseconds(CAST(1e6 * least($cap, $base * pow(2, {tried} - 1)) AS BIGINT))"
        with self._session() as conn:
            conn.register("__failed", failed)
            # every right-hand side reads the row as it was before this UPDATE
            rows = self._run(
                conn,
                f"""UPDATE {TABLE} AS o SET
                        attempts = {tried},
                        last_error = f.err,
                        first_failed_ts = {first},
                        status = CASE WHEN {dead} THEN 'DEAD' ELSE 'PENDING' END,
                        lease_owner = NULL, lease_expires_ts = NULL,
                        retry_after_ts = CASE WHEN {dead} THEN NULL
                            WHEN {tried} >= $max THEN greatest({backoff}, {window_end})
                            ELSE {backoff} END
                    FROM __failed AS f
                    WHERE o.outbox_seq = f.seq AND o.status = 'LEASED' AND o.lease_owner = $owner
                    RETURNING o.status""",
                {
                    "max": s.max_attempts, "base": s.backoff_base_s, "cap": s.backoff_max_s, "now": now,
                    "owner": owner, "window_us": int(s.min_retry_window_s * 1e6),
                },
            )
            statuses = [r[0] for r in rows]
            conn.unregister("__failed")
        n_dead = sum(1 for st in statuses if st == "DEAD")
        return {"dead": n_dead, "retry": len(statuses) - n_dead}

    def release(self, owner: str, seqs: pa.Array | list[int] | None = None) -> int:
        """Give leases back unsent (the run stops before the sink answered): PENDING, no attempt
        charged. ``seqs`` limits it to those events; by default every lease of ``owner``."""
        only = "AND outbox_seq IN (SELECT seq FROM __released)" if seqs is not None else ""
        with self._session() as conn:
            if seqs is not None:
                conn.register("__released", pa.table({"seq": pa.array(seqs, pa.int64())}))
            rows = self._run(
                conn,
                f"""UPDATE {TABLE} SET status = 'PENDING', lease_owner = NULL, lease_expires_ts = NULL
                    WHERE status = 'LEASED' AND lease_owner = $owner {only}""",
                {"owner": owner},
            )
            if seqs is not None:
                conn.unregister("__released")
        return int(rows[0][0])

    def lease_holders(self, now: datetime | None = None) -> list[LeaseHolder]:
        """Owners of unexpired leases, largest first."""
        with self._session() as conn:
            return _lease_holders(conn, now or self.clock(), self._run)

    def reclaim_orphaned_leases(self, is_alive: LivenessCheck, now: datetime | None = None) -> ReclaimReport:
        """Return the leases of owners that ``is_alive`` says are gone to PENDING at once (no attempt
        charged; a send they may have made is skipped by the landing's ``event_id`` check).

        ``is_alive`` is asked once per owner (not per event); an owner it cannot answer for, or whose
        check raises, keeps its leases until they expire. Live owners come back in ``held``.
        """
        now = now or self.clock()
        with self._session() as conn:
            holders = _lease_holders(conn, now, self._run, include_expired=True)
            gone: dict[str, int] = {}
            held: list[LeaseHolder] = []
            for holder in holders:
                try:
                    alive = is_alive(holder.owner)
                except Exception:  # a liveness source that fails must not free a live run's events
                    alive = True
                if not alive:
                    gone[holder.owner] = holder.events
                elif holder.until > now:
                    held.append(holder)
            if gone:
                self._run(
                    conn,
                    f"""UPDATE {TABLE} SET status = 'PENDING', lease_owner = NULL, lease_expires_ts = NULL
                        WHERE status = 'LEASED' AND list_contains($owners, lease_owner)""",
                    {"owners": list(gone)},
                )
        return ReclaimReport(reclaimed=gone, held=tuple(held))

    def backlog(self, now: datetime | None = None) -> Backlog:
        """What is open and why it is not leasable now (see ``Backlog``)."""
        now = now or self.clock()
        with self._session() as conn:
            due, waiting, next_retry = self._run(
                conn,
                f"""SELECT count(*) FILTER (WHERE retry_after_ts IS NULL OR retry_after_ts <= $now),
                           count(*) FILTER (WHERE retry_after_ts > $now),
                           min(retry_after_ts) FILTER (WHERE retry_after_ts > $now)
                    FROM {TABLE} WHERE status = 'PENDING'""",
                {"now": now},
            )[0]
            held = _lease_holders(conn, now, self._run)
        return Backlog(due=int(due), backoff=int(waiting), next_retry_ts=next_retry, held=tuple(held))

    # --- housekeeping and status ---------------------------------------------------------------

    def open_count(self) -> int:
        """PENDING + LEASED rows (the rule: no new day while this is > 0)."""
        with self._session() as conn:
            rows = self._run(conn, f"SELECT count(*) FROM {TABLE} WHERE status IN ('PENDING', 'LEASED')")
        return int(rows[0][0])

    def not_sent_count(self) -> int:
        """Every event not SENT (PENDING, LEASED, DEAD): a day with any of them is not complete, so
        no later day should be generated (a DEAD event waits for ``requeue-dead``, it is not done)."""
        with self._session() as conn:
            rows = self._run(conn, f"SELECT count(*) FROM {TABLE} WHERE status <> 'SENT'")
        return int(rows[0][0])

    def oldest_pending_ts(self) -> datetime | None:
        with self._session() as conn:
            rows = self._run(conn, f"SELECT min(event_ts) FROM {TABLE} WHERE status = 'PENDING'")
        return rows[0][0]

    def purge_sent(self, older_than: timedelta, now: datetime | None = None) -> int:
        cutoff = (now or self.clock()) - older_than
        with self._session() as conn:
            return len(
                self._run(conn, f"DELETE FROM {TABLE} WHERE status = 'SENT' AND sent_ts < ? RETURNING outbox_seq", [cutoff])
            )

    def clear(self) -> int:
        """Delete every event (the record of enqueued days stays, so no day is generated twice)."""
        with self._session() as conn:
            return len(self._run(conn, f"DELETE FROM {TABLE} RETURNING outbox_seq"))

    def requeue_dead(self, event_type: str | None = None, now: datetime | None = None) -> dict[str, int]:
        """DEAD → PENDING with ``attempts`` reset, optionally for one event type; counts by event type.

        Why keep the error: the operator fixed the cause (sink settings, network) and retries, but the
        reason the events died stays readable in ``last_error`` (prefixed with when they were
        requeued) until a successful send clears it.
        """
        stamp = iso_ts(now or self.clock())
        only = "AND event_type = $type" if event_type else ""
        params: dict[str, Any] = {"note": f"requeued at {stamp} after: "}
        if event_type:
            params["type"] = event_type
        with self._session() as conn:
            rows = self._run(
                conn,
                f"""UPDATE {TABLE} SET status = 'PENDING', attempts = 0, lease_owner = NULL,
                           lease_expires_ts = NULL, first_failed_ts = NULL, retry_after_ts = NULL,
                           last_error = $note || coalesce(last_error, 'no error recorded')
                    WHERE status = 'DEAD' {only}
                    RETURNING event_type""",
                params,
            )
        counts: dict[str, int] = {}
        for (name,) in rows:
            counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items()))

    def open_attempts(self) -> dict[str, int]:
        """Attempts already used by the open (PENDING/LEASED) events: ``max`` and ``events`` with ≥ 1."""
        with self._session() as conn:
            top, tried = self._run(
                conn,
                f"""SELECT coalesce(max(attempts), 0), count(*) FILTER (WHERE attempts > 0)
                    FROM {TABLE} WHERE status IN ('PENDING', 'LEASED')""",
            )[0]
        return {"max": int(top), "events": int(tried), "limit": self.settings.max_attempts}

    def status(self, dead_letters: int = 20, now: datetime | None = None) -> dict[str, Any]:
        with self._session() as conn:
            # the session ran the DDL, migrations included: the newer columns are there
            return status_query(conn, dead_letters, self._run, now=now or self.clock(), migrated=True)

    # --- policy queries (runner) ---------------------------------------------------------------

    def unsent_days(self) -> list[tuple[date, int, int, int]]:
        """``(day, pending, leased, dead)`` of every day with an event that is not SENT, oldest first
        (``streaming/policy.py``: no new day while this is non-empty)."""
        with self._session() as conn:
            rows = self._run(
                conn,
                f"""SELECT event_date, count(*) FILTER (WHERE status = 'PENDING'),
                           count(*) FILTER (WHERE status = 'LEASED'), count(*) FILTER (WHERE status = 'DEAD')
                    FROM {TABLE} WHERE status <> 'SENT' GROUP BY event_date ORDER BY event_date""",
            )
        return [(d, int(p), int(lz), int(dd)) for d, p, lz, dd in rows]

    def next_pending_event_ts(self, after: datetime) -> datetime | None:
        """The earliest ``event_ts`` of a PENDING event later than ``after`` (paced drains wait for it)."""
        with self._session() as conn:
            rows = self._run(conn, f"SELECT min(event_ts) FROM {TABLE} WHERE status = 'PENDING' AND event_ts > ?", [after])
        return rows[0][0]


def iso_ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _query(conn: duckdb.DuckDBPyConnection, run: Callable[..., list[tuple]] | None, sql: str, params: Any = None) -> list[tuple]:
    if run is not None:
        return run(conn, sql, params)
    return (conn.execute(sql, params) if params is not None else conn.execute(sql)).fetchall()


def _lease_holders(
    conn: duckdb.DuckDBPyConnection,
    now: datetime,
    run: Callable[..., list[tuple]] | None = None,
    include_expired: bool = False,
) -> list[LeaseHolder]:
    live = "" if include_expired else "AND lease_expires_ts > $now"
    rows = _query(
        conn, run,
        f"""SELECT lease_owner, count(*), max(lease_expires_ts) FROM {TABLE}
            WHERE status = 'LEASED' {live} GROUP BY lease_owner ORDER BY 2 DESC, 1""",
        {"now": now} if not include_expired else None,
    )
    return [LeaseHolder(owner=o or "(no owner)", events=int(n), until=u) for o, n, u in rows]


STATES = ("held", "pending", "backoff", "dead", "drained")
"""``status()["state"]``: the first that applies, in this order; ``state_text`` says all that apply."""


def describe_state(
    status: dict[str, Any], now: datetime | None = None, is_alive: LivenessCheck | None = None
) -> tuple[str, str]:
    """(state, text) of a status summary: who holds leases until when, what waits for a retry,
    what is DEAD; "drained" only when nothing at all is open or dead.

    Works on a snapshot too: a holder whose ``until`` has passed is reported as expired (the next
    run takes its events back), never as holding; so is a holder known to be gone (a killed
    ``retail-assets stream``: ``is_alive``, by default ``owner_liveness()``), whose leases the next
    run reclaims at once.
    """
    now = now or now_utc()
    is_alive = is_alive or owner_liveness()
    parts: list[tuple[str, str]] = []
    for h in status.get("lease_holders", []):
        until = _parse_iso(h["until"])
        if until > now and not _alive(is_alive, h["owner"]):
            parts.append(("pending", f"{h['events']:,} events leased by {h['owner']}, which is no longer "
                          "running: the next run takes them back at once"))
        elif until > now:
            parts.append(("held", f"held by {h['owner']} until {h['until']} ({h['events']:,} events)"))
        else:
            parts.append(("pending", f"{h['events']:,} events leased by {h['owner']} whose lease expired at "
                          f"{h['until']}: the next run takes them back"))
    backoff = int(status.get("backoff", 0))
    due = int(status.get("pending", 0)) - backoff
    if due > 0:
        parts.append(("pending", f"{due:,} events pending"))
    if backoff:
        parts.append(("backoff", f"{backoff:,} events wait for their retry after failed sends, the next at "
                      f"{status.get('next_retry_ts')}"))
    if status.get("dead"):
        parts.append(("dead", f"{status['dead']:,} events are DEAD (see dead_letters; `retail-assets outbox "
                      "requeue-dead --yes` once the cause is fixed)"))
    if not parts:
        return "drained", "drained: every event was sent"
    state = min((kind for kind, _ in parts), key=STATES.index)
    return state, "; ".join(text for _, text in parts)


def _alive(is_alive: LivenessCheck, owner: str) -> bool:
    """A liveness check that cannot answer counts as alive (the lease then expires as before)."""
    try:
        return bool(is_alive(owner))
    except Exception:  # a status line must never fail on a liveness probe
        return True


def _has_column(conn: duckdb.DuckDBPyConnection, run: Callable[..., list[tuple]] | None, column: str) -> bool:
    """Whether ``streaming_outbox`` has ``column`` (a file written by an older version, opened
    read-only, cannot be migrated and lacks the newer columns)."""
    return bool(_query(
        conn, run,
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = $t AND column_name = $c",
        {"t": TABLE, "c": column},
    )[0][0])


def status_query(
    conn: duckdb.DuckDBPyConnection,
    dead_letters: int = 20,
    run: Callable[..., list[tuple]] | None = None,
    now: datetime | None = None,
    migrated: bool = False,
) -> dict[str, Any]:
    """The status summary (counts by status and type, times, dead letters, days, lease holders,
    back-off, state) from an open connection (``migrated``: it is known to have the newer columns)."""
    now = now or now_utc()

    def q(sql: str, params: Any = None) -> list[tuple]:
        return _query(conn, run, sql, params)

    by_type: dict[str, dict[str, int]] = {}
    totals = dict.fromkeys(STATUSES, 0)
    for event_type, status, n in q(f"SELECT event_type, status, count(*) FROM {TABLE} GROUP BY ALL ORDER BY ALL"):
        by_type.setdefault(event_type, {s.lower(): 0 for s in STATUSES})[status.lower()] = n
        totals[status] = totals.get(status, 0) + n
    oldest, latest = q(
        f"SELECT min(event_ts) FILTER (WHERE status = 'PENDING'), max(sent_ts) FROM {TABLE}"
    )[0]
    # wall-clock age of the backlog: event_ts is business time (the dataset may start in 2024)
    open_since = q(
        f"""SELECT min(d.enqueued_ts) FROM {DAYS_TABLE} d WHERE EXISTS (
                SELECT 1 FROM {TABLE} o WHERE o.event_date = d.event_date AND o.status IN ('PENDING', 'LEASED'))"""
    )[0][0]
    dead = [
        {"outbox_seq": s, "event_id": e, "event_type": t, "attempts": a, "last_error": err}
        for s, e, t, a, err in q(
            f"""SELECT outbox_seq, event_id, event_type, attempts, last_error FROM {TABLE}
                WHERE status = 'DEAD' ORDER BY outbox_seq LIMIT {int(dead_letters)}"""
        )
    ]
    days = [
        {"event_date": d.isoformat(), "events": n, "pending": p, "leased": lz, "sent": s, "dead": dd}
        for d, n, p, lz, s, dd in q(
            f"""SELECT d.event_date, d.events,
                       count(*) FILTER (WHERE o.status = 'PENDING'), count(*) FILTER (WHERE o.status = 'LEASED'),
                       count(*) FILTER (WHERE o.status = 'SENT'), count(*) FILTER (WHERE o.status = 'DEAD')
                FROM {DAYS_TABLE} d LEFT JOIN {TABLE} o ON o.event_date = d.event_date
                GROUP BY ALL ORDER BY d.event_date"""
        )
    ]
    backoff, next_retry = 0, None
    if migrated or _has_column(conn, run, "retry_after_ts"):
        backoff, next_retry = q(
            f"""SELECT count(*), min(retry_after_ts) FROM {TABLE}
                WHERE status = 'PENDING' AND retry_after_ts > $now""",
            {"now": now},
        )[0]
    holders = [
        {"owner": h.owner, "events": h.events, "until": iso_ts(h.until)}
        for h in _lease_holders(conn, now, run, include_expired=True)
    ]
    status = {
        "pending": totals["PENDING"],
        "leased": totals["LEASED"],
        "sent": totals["SENT"],
        "dead": totals["DEAD"],
        "backoff": int(backoff),
        "next_retry_ts": iso_ts(next_retry),
        "lease_holders": holders,
        "oldest_pending_ts": iso_ts(oldest),
        "latest_sent_ts": iso_ts(latest),
        "oldest_open_enqueued_ts": iso_ts(open_since),
        "by_event_type": by_type,
        "dead_letters": dead,
        "days": days,
    }
    status["state"], status["state_text"] = describe_state(status, now)
    return status
