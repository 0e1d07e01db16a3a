"""The transactional outbox: ``streaming_outbox`` in its own DuckDB file (contract §5.6).

Why a DuckDB outbox: generation writes a whole day of events in one transaction, and the drain
then moves them to a sink at its own pace, surviving crashes and sink outages. Every operation is
set-based — a day is one ``INSERT … SELECT`` from Arrow, a lease is one ``UPDATE … RETURNING`` of a
batch in ``outbox_seq`` order, an ack or nack is one ``UPDATE`` joined to an Arrow list of seqs —
so the number of statements grows with batches, never with events.

Status machine (ARCHITECTURE.md "Streaming"): PENDING → LEASED (owner + expiry, ``attempts`` + 1)
→ SENT on ack. A nack records ``last_error`` and keeps the row LEASED until its back-off expires
(the lease *is* the back-off, so nothing else needs a "not before" column); any expired lease goes
back to PENDING, or to DEAD once ``attempts`` reached the maximum. A crashed run's leases therefore
come back by themselves.

Process model: DuckDB allows one writing process per file, so connections are short-lived, opened
per operation and retried while another process holds the lock. Plain Python; Dagster code passes
``DuckDBResource.get_connection`` as ``connect``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from retail_assets.streaming.events import EVENTS_SCHEMA

OUTBOX_FILE = "outbox.duckdb"
TABLE = "streaming_outbox"
DAYS_TABLE = "streaming_outbox_days"
STATUSES = ("PENDING", "LEASED", "SENT", "DEAD")
CHECKPOINT_THRESHOLD = "1GB"

ConnectionFactory = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]

_DDL = (
    # outbox_seq and event_id are unique by construction (seq = day ordinal × 10^10 + rank; a day is
    # enqueued once, guarded by DAYS_TABLE in the same transaction; event ids are uuid5 of unique
    # natural keys) and the tests check it. They are deliberately NOT declared PRIMARY KEY / UNIQUE:
    # DuckDB's ART indexes make a 100k-row UPDATE … RETURNING ~30× slower (4.5 s vs 0.14 s).
    # body and event_id are zstd-compressed: the default dictionary/FSST analysis of ~600-byte JSON
    # bodies costs more than the insert itself (a sf-1 day: ~25% faster enqueue, 51 vs 162 MiB).
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        outbox_seq BIGINT NOT NULL,
        event_date DATE NOT NULL,
        event_ts TIMESTAMPTZ NOT NULL,
        event_type VARCHAR NOT NULL,
        event_id VARCHAR NOT NULL USING COMPRESSION zstd,
        partition_key VARCHAR NOT NULL,
        body VARCHAR NOT NULL USING COMPRESSION zstd,
        status VARCHAR NOT NULL,
        attempts BIGINT NOT NULL,
        lease_owner VARCHAR,
        lease_expires_ts TIMESTAMPTZ,
        last_error VARCHAR,
        sent_ts TIMESTAMPTZ
    )""",
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


class OutboxLockedError(OutboxError):
    """Another process holds the outbox file (a streaming run, usually)."""


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
    """A short-lived connection, retried while another process holds the file lock."""
    last: Exception | None = None
    conn = None
    for _ in range(max(1, attempts)):
        try:
            conn = duckdb.connect(str(database), read_only=read_only)
            break
        except duckdb.IOException as exc:  # "Could not set lock on file"
            last = exc
            if attempts > 1:
                time.sleep(pause_s)
    if conn is None:
        raise OutboxLockedError(
            f"the outbox {database} is locked by another process ({last}); a streaming run is probably "
            "writing it — retry when it has finished, or read the status snapshot."
        )
    try:
        yield conn
    finally:
        conn.close()


@dataclass(frozen=True)
class OutboxSettings:
    """Operational knobs of the status machine."""

    max_attempts: int = 5
    lease_seconds: float = 120.0
    backoff_base_s: float = 2.0
    backoff_max_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise OutboxError(f"max_attempts={self.max_attempts} must be >= 1.")
        if self.lease_seconds <= 0:
            raise OutboxError(f"lease_seconds={self.lease_seconds} must be > 0.")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise OutboxError("backoff seconds must be >= 0.")


class Outbox:
    """``streaming_outbox`` operations; ``statements`` counts every SQL statement executed."""

    def __init__(
        self,
        database: Path,
        connect: ConnectionFactory | None = None,
        settings: OutboxSettings | None = None,
    ) -> None:
        self.database = Path(database)
        self.settings = settings or OutboxSettings()
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
                done = self._run(conn, f"SELECT count(*) FROM {DAYS_TABLE} WHERE event_date = ?", [day])
                if done[0][0]:
                    self._run(conn, "ROLLBACK")
                    return 0
                open_rows = self._run(
                    conn, f"SELECT count(*) FROM {TABLE} WHERE status IN ('PENDING', 'LEASED')"
                )[0][0]
                if max_pending is not None and open_rows + events.num_rows > max_pending:
                    raise OutboxFullError(
                        f"refusing to enqueue {day}: {events.num_rows:,} new events + {open_rows:,} pending would "
                        f"exceed the cap of {max_pending:,} pending events. Drain the outbox first "
                        "(`retail-assets stream`), or raise max_pending / lower the scale factor."
                    )
                conn.register("__new_events", events)
                self._run(
                    conn,
                    f"""INSERT INTO {TABLE}
                        SELECT outbox_seq, event_date, event_ts, event_type, event_id, partition_key, body,
                               'PENDING', 0, NULL, NULL, NULL, NULL
                        FROM __new_events""",
                )
                conn.unregister("__new_events")
                self._run(conn, f"INSERT INTO {DAYS_TABLE} VALUES (?, ?, ?)", [day, events.num_rows, now_utc()])
                self._run(conn, "COMMIT")
            except BaseException:
                self._run(conn, "ROLLBACK")
                raise
        return events.num_rows

    # --- lease / ack / nack --------------------------------------------------------------------

    def _expire(self, conn: duckdb.DuckDBPyConnection, now: datetime) -> None:
        """Expired leases go back to PENDING, or to DEAD once the attempts are used up."""
        self._run(
            conn,
            f"""UPDATE {TABLE} SET
                    status = CASE WHEN attempts >= $max THEN 'DEAD' ELSE 'PENDING' END,
                    last_error = CASE WHEN attempts >= $max
                        THEN coalesce(last_error, 'lease expired without an ack') ELSE last_error END,
                    lease_owner = NULL, lease_expires_ts = NULL
                WHERE status = 'LEASED' AND lease_expires_ts <= $now""",
            {"max": self.settings.max_attempts, "now": now},
        )

    def lease(self, owner: str, limit: int, max_event_ts: datetime | None = None, now: datetime | None = None) -> pa.Table:
        """Lease up to ``limit`` PENDING events in ``outbox_seq`` order (optionally only those due by
        ``max_event_ts``); returns them sorted by ``outbox_seq``."""
        now = now or now_utc()
        expires = now + timedelta(seconds=self.settings.lease_seconds)
        due = "AND event_ts <= $due" if max_event_ts is not None else ""
        params: dict[str, Any] = {"owner": owner, "exp": expires, "n": int(limit)}
        if max_event_ts is not None:
            params["due"] = max_event_ts
        pending = f"status = 'PENDING' {due}"
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
                    {k: v for k, v in params.items() if k in ("n", "due")},
                )[0]
                in_range = f"{pending} AND outbox_seq BETWEEN $lo AND $hi"
                bounds = {"lo": lo, "hi": hi, **({"due": max_event_ts} if max_event_ts is not None else {})}
                leased = self._run_arrow(
                    conn,
                    f"""SELECT outbox_seq, event_date, event_ts, event_type, event_id, partition_key, body,
                               attempts + 1 AS attempts
                        FROM {TABLE} WHERE {in_range} ORDER BY outbox_seq""",
                    bounds,
                )
                self._run(
                    conn,
                    f"""UPDATE {TABLE} SET status = 'LEASED', lease_owner = $owner, lease_expires_ts = $exp,
                               attempts = attempts + 1
                        WHERE {in_range}""",
                    {**bounds, "owner": owner, "exp": expires},
                )
                self._run(conn, "COMMIT")
            except BaseException:
                self._run(conn, "ROLLBACK")
                raise
        return leased

    def ack(self, seqs: pa.Array | list[int], now: datetime | None = None) -> int:
        """Mark events SENT (the sink confirmed them), whoever holds the lease now."""
        ids = pa.table({"seq": pa.array(seqs, pa.int64())})
        if ids.num_rows == 0:
            return 0
        with self._session() as conn:
            conn.register("__acked", ids)
            # the affected-row count, not RETURNING: fetching 100k tuples into Python cost more than the UPDATE
            rows = self._run(
                conn,
                f"""UPDATE {TABLE} SET status = 'SENT', sent_ts = $now, lease_owner = NULL,
                           lease_expires_ts = NULL, last_error = NULL
                    WHERE outbox_seq IN (SELECT seq FROM __acked)""",
                {"now": now or now_utc()},
            )
            conn.unregister("__acked")
        return int(rows[0][0])

    def backoff_seconds(self, attempts: int) -> float:
        if self.settings.backoff_base_s == 0:
            return 0.0
        return min(self.settings.backoff_max_s, self.settings.backoff_base_s * 2 ** max(0, attempts - 1))

    def nack(self, seqs: pa.Array | list[int], errors: list[str], owner: str, now: datetime | None = None) -> dict[str, int]:
        """Record failed sends: DEAD after ``max_attempts``, else held (LEASED) for the back-off.

        With a zero back-off the rows return to PENDING at once.
        """
        failed = pa.table({"seq": pa.array(seqs, pa.int64()), "err": pa.array(errors, pa.string())})
        if failed.num_rows == 0:
            return {"dead": 0, "retry": 0}
        now = now or now_utc()
        base, cap = self.settings.backoff_base_s, self.settings.backoff_max_s
        with self._session() as conn:
            conn.register("__failed", failed)
            rows = self._run(
                conn,
                f"""UPDATE {TABLE} AS o SET
                        last_error = f.err,
                        status = CASE WHEN o.attempts >= $max THEN 'DEAD'
                                      WHEN $base = 0 THEN 'PENDING' ELSE 'LEASED' END,
                        lease_owner = CASE WHEN o.attempts < $max AND $base > 0 THEN o.lease_owner END,
                        lease_expires_ts = CASE WHEN o.attempts < $max AND $base > 0 THEN
                            $now + to_microseconds(CAST(1e6 * least($cap, $base * pow(2, o.attempts - 1)) AS BIGINT))
                        END
                    FROM __failed AS f
                    WHERE o.outbox_seq = f.seq AND o.status = 'LEASED' AND o.lease_owner = $owner
                    RETURNING o.status""",
                {"max": self.settings.max_attempts, "base": base, "cap": cap, "now": now, "owner": owner},
            )
            statuses = [r[0] for r in rows]
            conn.unregister("__failed")
        dead = sum(1 for s in statuses if s == "DEAD")
        return {"dead": dead, "retry": len(statuses) - dead}

    # --- housekeeping and status ---------------------------------------------------------------

    def open_count(self) -> int:
        """PENDING + LEASED rows (the rule: no new day while this is > 0)."""
        with self._session() as conn:
            rows = self._run(conn, f"SELECT count(*) FROM {TABLE} WHERE status IN ('PENDING', 'LEASED')")
        return int(rows[0][0])

    def oldest_pending_ts(self) -> datetime | None:
        with self._session() as conn:
            rows = self._run(conn, f"SELECT min(event_ts) FROM {TABLE} WHERE status = 'PENDING'")
        return rows[0][0]

    def purge_sent(self, older_than: timedelta, now: datetime | None = None) -> int:
        cutoff = (now or now_utc()) - older_than
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
        stamp = _iso(now or now_utc())
        only = "AND event_type = $type" if event_type else ""
        params: dict[str, Any] = {"note": f"requeued at {stamp} after: "}
        if event_type:
            params["type"] = event_type
        with self._session() as conn:
            rows = self._run(
                conn,
                f"""UPDATE {TABLE} SET status = 'PENDING', attempts = 0, lease_owner = NULL,
                           lease_expires_ts = NULL, last_error = $note || coalesce(last_error, 'no error recorded')
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

    def status(self, dead_letters: int = 20) -> dict[str, Any]:
        with self._session() as conn:
            return status_query(conn, dead_letters, self._run)

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


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def status_query(
    conn: duckdb.DuckDBPyConnection,
    dead_letters: int = 20,
    run: Callable[..., list[tuple]] | None = None,
) -> dict[str, Any]:
    """The status summary (counts by status and type, times, dead letters, days) from an open connection."""

    def q(sql: str, params: Any = None) -> list[tuple]:
        if run is not None:
            return run(conn, sql, params)
        return (conn.execute(sql, params) if params is not None else conn.execute(sql)).fetchall()

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
    return {
        "pending": totals["PENDING"],
        "leased": totals["LEASED"],
        "sent": totals["SENT"],
        "dead": totals["DEAD"],
        "oldest_pending_ts": _iso(oldest),
        "latest_sent_ts": _iso(latest),
        "oldest_open_enqueued_ts": _iso(open_since),
        "by_event_type": by_type,
        "dead_letters": dead,
        "days": days,
    }
