"""Open a DuckDB state file and tell a lock (wait: it passes) from a damaged file (waiting never helps).

Why: DuckDB raises the same ``IOException`` for "another process holds the file" and for "this is not
a DuckDB database" (a truncated copy, a header overwritten, a zero-byte or text file), and a bad
checksum as a bare ``duckdb.Error``. Retrying the second kind forever and then telling the operator
"locked, retry" sends them the wrong way. Here a lock is retried a bounded number of times and then
reported with the holder's PID when DuckDB names it; a damaged file is reported at once, with the
file and how to restore it. The caller passes a :class:`FileRole` that names the file in messages,
the exception classes to raise (so ``LedgerError`` / ``OutboxError`` handlers keep working) and the
restore procedure, which differs per file.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb

Diagnosis = Literal["locked", "corrupt"]

# Message fragments DuckDB 1.x/2.x uses, as data: (diagnosis, fragment). Checked in order.
_FRAGMENTS: tuple[tuple[Diagnosis, str], ...] = (
    ("locked", "Could not set lock on file"),
    ("locked", "Conflicting lock is held"),
    ("corrupt", "not a valid DuckDB database file"),
    ("corrupt", "Could not read enough bytes from file"),  # truncated file
    ("corrupt", "Corrupt database file"),  # block checksum mismatch
    ("corrupt", "does not match stored checksum"),
    ("corrupt", "Failed to load metadata pointer"),
)
_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


class DuckDBFileError(RuntimeError):
    """A DuckDB state file could not be opened; the message names the file and what to do."""

    def __init__(self, message: str, database: Path | str | None = None) -> None:
        super().__init__(message)
        self.database = Path(database) if database is not None else None


class DuckDBFileLockedError(DuckDBFileError):
    """Another process holds the file; it will be free once that process closes it."""

    def __init__(
        self, message: str, database: Path | str | None = None, holder_pid: int | None = None
    ) -> None:
        super().__init__(message, database)
        self.holder_pid = holder_pid


class DuckDBFileCorruptError(DuckDBFileError):
    """The file is not a valid (or no longer an intact) DuckDB database; retrying cannot help."""


@dataclass(frozen=True)
class FileRole:
    """How one state file is talked about: its name, the errors to raise, and the fixes.

    ``while_locked`` and ``restore`` may use ``{database}`` and ``{holder}`` (the PID phrase).
    """

    what: str
    locked_error: type[DuckDBFileLockedError] = DuckDBFileLockedError
    corrupt_error: type[DuckDBFileCorruptError] = DuckDBFileCorruptError
    while_locked: str = "retry when that process has finished"
    restore: str = "move it aside (`mv {database} {database}.corrupt-$(date +%Y%m%dT%H%M%S)`)"


def diagnose(exc: BaseException) -> Diagnosis | None:
    """``"locked"``, ``"corrupt"`` or None (some other failure: permissions, a missing directory, …)."""
    if not isinstance(exc, duckdb.Error):
        return None
    text = str(exc)
    return next((kind for kind, fragment in _FRAGMENTS if fragment in text), None)


def lock_holder(exc: BaseException) -> tuple[int | None, str | None]:
    """(PID, program) of the process DuckDB says holds the lock, when its message names it."""
    m = _HOLDER.search(str(exc))
    return (int(m["pid"]), m["program"]) if m else (None, None)


def locked_error(role: FileRole, database: Path, exc: BaseException, waited_s: float) -> DuckDBFileLockedError:
    pid, program = lock_holder(exc)
    holder = f"process {pid} ({program})" if pid is not None else "another process"
    fix = role.while_locked.format(database=database, holder=holder)
    see = f" (`ps -o pid,etime,args -p {pid}` shows what it is)" if pid is not None else ""
    return role.locked_error(
        f"{role.what} {database} is locked: {holder} holds it open{see}, and it stayed locked for "
        f"{waited_s:.1f} s. The file is intact; {fix}.",
        database,
        holder_pid=pid,
    )


def corrupt_error(role: FileRole, database: Path, exc: BaseException) -> DuckDBFileCorruptError:
    restore = role.restore.format(database=database, holder="")
    return role.corrupt_error(
        f"{role.what} {database} is damaged: it is not a valid DuckDB database ({str(exc)[:300]}). "
        f"Retrying cannot help. To restore: {restore}",
        database,
    )


def _create_atomically(database: Path) -> None:
    """Create an empty DuckDB file under a private name, then link it into place.

    Why: two processes creating the same file race; the loser could open the winner's file before
    DuckDB has written its header and take it for a damaged database ("not a valid DuckDB database
    file"). A hard link appears whole or not at all, so the loser sees a complete file or none.
    """
    private = database.with_name(f".{database.name}.{os.getpid()}.{time.monotonic_ns()}.creating")
    try:
        duckdb.connect(str(private)).close()
        with contextlib.suppress(FileExistsError):  # another process created it first: use theirs
            os.link(private, database)
    except (OSError, duckdb.Error):
        pass  # the real open below reports what is wrong (permissions, a missing directory, …)
    finally:
        for leftover in (private, private.with_name(private.name + ".wal")):
            leftover.unlink(missing_ok=True)


def connect(
    database: Path | str,
    role: FileRole,
    *,
    read_only: bool = False,
    attempts: int = 50,
    pause_s: float = 0.05,
    config: dict[str, Any] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open ``database``: retry up to ``attempts`` times while locked, fail at once when damaged.

    Other DuckDB errors (permission denied, a missing directory) are raised unchanged: their own
    text already says what is wrong, and they are neither a lock nor damage.
    """
    database = Path(database)
    if not read_only and not database.exists():
        _create_atomically(database)
    started = time.monotonic()
    for attempt in range(1, max(1, attempts) + 1):
        try:
            return duckdb.connect(str(database), read_only=read_only, config=config or {})
        except duckdb.Error as exc:
            kind = diagnose(exc)
            if kind == "corrupt":
                raise corrupt_error(role, database, exc) from exc
            if kind != "locked":
                raise
            if attempt >= attempts:
                raise locked_error(role, database, exc, time.monotonic() - started) from exc
            time.sleep(pause_s)
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def session(
    database: Path | str,
    role: FileRole,
    *,
    read_only: bool = False,
    attempts: int = 50,
    pause_s: float = 0.05,
    config: dict[str, Any] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """:func:`connect`, closed on exit; damage found while using the file is diagnosed too.

    Why both: a truncated file often opens (its header is intact) and fails only when a query
    reads a block past the end, so the open alone cannot tell.
    """
    conn = connect(database, role, read_only=read_only, attempts=attempts, pause_s=pause_s, config=config)
    try:
        yield conn
    except duckdb.Error as exc:
        if diagnose(exc) == "corrupt":
            raise corrupt_error(role, Path(database), exc) from exc
        raise
    finally:
        conn.close()
