"""What went wrong with a Delta table, in words an operator can act on.

Why a module: delta-rs reports a damaged log as ``DeltaError: Kernel error: Json error: …`` with a
Rust backtrace, a data file deleted behind Delta's back as pyarrow's ``FileNotFoundError``, and a
full disk as ``DeltaError: … No space left on device (os error 28)`` — none names the table, the
partition, what survived or the fix. ``diagnose`` turns each into a :class:`LakeError` subclass whose
message does, looking at the table's ``_delta_log`` (local tables) for the version that is intact
and the partitions a damaged commit wrote. Rules are a table (``_RULES``): first match wins.
"""

from __future__ import annotations

import errno
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote


class LakeError(RuntimeError):
    """A lake operation failed; the message names the table and what to do about it."""


class MissingTableError(LakeError):
    """A table that a step needs does not exist yet."""


class CorruptTableError(LakeError):
    """The table's Delta log cannot be read (a truncated or garbled commit file)."""


class MissingDataFileError(CorruptTableError):
    """The log references a data file that is no longer on disk."""


class LakeFullError(LakeError):
    """The device under the lake is full (ENOSPC) or a file-size limit was hit (EFBIG)."""


@dataclass(frozen=True)
class Failure:
    """One failed lake call: the table, what was being done, to which partition, how much it wrote."""

    uri: str
    action: str  # "reading" / "writing" / "appending to"
    partition: str | None = None  # e.g. "event_date=2024-01-02"; None = the whole table
    needed_bytes: int | None = None

    @property
    def where(self) -> str:
        return f"{self.uri} ({self.partition})" if self.partition else f"{self.uri} (all partitions)"

    @property
    def writes(self) -> bool:
        return self.action != "reading"


def _local(uri: str) -> Path | None:
    return Path(uri.removeprefix("file://")) if "://" not in uri or uri.startswith("file://") else None


def commit_files(uri: str) -> list[Path]:
    """The table's commit files in version order (local tables only)."""
    path = _local(uri)
    if path is None or not (path / "_delta_log").is_dir():
        return []
    return sorted((path / "_delta_log").glob("[0-9]" * 20 + ".json"))


def _version(commit: Path) -> int:
    return int(commit.stem)


def _readable_lines(commit: Path) -> tuple[list[dict], bool]:
    """The actions that parse, and whether every line parsed."""
    actions, intact = [], True
    for line in commit.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            actions.append(json.loads(line))
        except json.JSONDecodeError:
            intact = False
    return actions, intact and bool(actions)


def _partitions_of(actions: list[dict]) -> list[str]:
    found: set[str] = set()
    for action in actions:
        for kind in ("add", "remove"):
            values = (action.get(kind) or {}).get("partitionValues") or {}
            found.update(f"{k}={v}" for k, v in values.items())
        app_id = str((action.get("txn") or {}).get("appId") or "")
        if app_id.startswith("retail_assets:"):  # the day a day-clustered table's commit replaced (lake.day_commit)
            found.add(app_id.removeprefix("retail_assets:"))
        predicate = ((action.get("commitInfo") or {}).get("operationParameters") or {}).get("predicate") or ""
        found.update(f"event_date={d}" for d in re.findall(r"'(\d{4}-\d{2}-\d{2})'", predicate))
    return sorted(found)


def _intact_version(uri: str) -> int | None:
    """The newest version whose commit file and all before it parse (local tables)."""
    last = None
    for commit in commit_files(uri):
        if not _readable_lines(commit)[1]:
            break
        last = _version(commit)
    return last


def _kept(f: Failure, log_readable: bool = True) -> str:
    if not f.writes:
        return "Nothing was changed (this was a read)."
    if not log_readable:
        return "Nothing of this write was committed (the log could not be read, so nothing was written)."
    version = _intact_version(f.uri)
    if version is None:
        return "Nothing of this write was committed."
    return (
        f"Nothing of this write was committed: a failed Delta commit leaves the table as it was, at "
        f"version {version}, every partition as before."
    )


def _gib(n: float) -> str:
    return f"{n / 1024**3:.2f} GiB" if n >= 1024**3 / 10 else f"{n / 1024**2:.1f} MiB"


def _full(exc: BaseException, f: Failure) -> LakeError:
    path = _local(f.uri)
    probe = path
    while probe is not None and not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = f"{_gib(shutil.disk_usage(probe).free)} free now" if probe is not None else "free space unknown"
    size = (
        f"about {_gib(f.needed_bytes)} (the rows being written, as Arrow data; parquet is usually smaller)"
        if f.needed_bytes
        else "at least the size of the partition being written"
    )
    too_large = getattr(exc, "errno", None) == errno.EFBIG or "File too large" in str(exc) or "os error 27" in str(exc)
    cause = (
        "a file-size limit was hit (EFBIG, `ulimit -f`): raise the limit for this process, or free space if the "
        "limit is a quota"
        if too_large
        else "the device holding the lake is full (ENOSPC)"
    )
    return LakeFullError(
        f"{f.action} {f.where} failed: {cause}; {free} under {probe}. {_kept(f)} The write needs {size}: free "
        "that much under the lake (old runs, `*.corrupt-*` files, or old table versions with "
        "`DeltaTable.vacuum`), or point RETAIL_ASSETS_LAKE_ROOT at a larger disk, then re-run the partition."
    )


def _damaged_log(exc: BaseException, f: Failure) -> LakeError:
    commits = commit_files(f.uri)
    damaged = next((c for c in commits if not _readable_lines(c)[1]), None)
    detail = str(exc).splitlines()[0][:300]
    if damaged is None:
        return CorruptTableError(
            f"{f.action} {f.where} failed: its Delta log cannot be read ({detail}). {_kept(f, False)} Restore the "
            f"table's _delta_log from a backup, or delete {f.uri} and re-materialize every partition of it."
        )
    previous = _version(damaged) - 1
    wrote = ", ".join(_partitions_of(_readable_lines(damaged)[0])) or "partitions not readable from it"
    if damaged == commits[-1]:
        fix = (
            f"it is the newest commit, so it is an interrupted or damaged last commit: move it aside (`mv {damaged} "
            f"{damaged}.damaged`); the table then reads at version {previous}, without that commit's change "
            f"({wrote}) — re-materialize those partitions."
        )
    else:
        fix = (
            f"it is not the newest commit (later versions build on it), so it cannot simply be dropped: restore it "
            f"from a backup, or delete {f.uri} and re-materialize every partition of it."
        )
    return CorruptTableError(
        f"{f.action} {f.where} failed: its Delta log is damaged — {damaged.name} (version {_version(damaged)}) is "
        f"not valid JSON ({detail}). {_kept(f, False)} Fix: {fix}"
    )


_PARQUET = re.compile(r"'?(?P<file>/[^'\s]+\.parquet)'?")


def _missing_file(exc: BaseException, f: Failure) -> LakeError:
    m = _PARQUET.search(str(exc))
    file = m["file"] if m else "a data file"
    part = re.search(r"/(\w+=[^/]+)/[^/]+\.parquet", file)
    partition = part[1] if part else (_days_of_file(f.uri, file) or f.partition or "unknown partition")
    if ".." in partition:  # a compacted month of a day-clustered table: no day's replace can read it
        return MissingDataFileError(
            f"{f.action} {f.where} failed: the Delta log references {file}, which is no longer on disk (deleted "
            f"or moved outside Delta). It holds {partition}; the other days are intact. {_kept(f)} Fix: put the "
            f"file back from a backup, or drop the reference (`DeltaTable('{f.uri}').repair(dry_run=False)`) and "
            "re-materialize those days."
        )
    return MissingDataFileError(
        f"{f.action} {f.where} failed: the Delta log references {file}, which is no longer on disk (deleted or "
        f"moved outside Delta). It belongs to partition {partition}; the other partitions are intact. "
        f"{_kept(f)} Fix: re-materialize partition {partition} of this table (its replace drops the reference), "
        "or put the file back from a backup."
    )


def _days_of_file(uri: str, file: str) -> str | None:
    """``event_date=D`` (or ``event_date=A..B``) of a day-clustered table's file, from its add action."""
    from deltalake import DeltaTable

    from retail_assets.lake import day_layout, delta

    try:
        table = DeltaTable(uri, storage_options=delta.storage_options())
        day_col = day_layout.day_column_of(table)
        if day_col is None:
            return None
        for f in day_layout.dated_files(table, day_col):
            if file.endswith("/" + unquote(f.path)) and f.first_day is not None:
                last = "" if f.one_day else f"..{f.last_day}"
                return f"{day_col}={f.first_day}{last}"
    except Exception:
        return None
    return None


def _text(exc: BaseException) -> str:
    return str(exc)


_RULES: tuple[tuple[Callable[[BaseException], bool], Callable[[BaseException, Failure], LakeError]], ...] = (
    (lambda e: getattr(e, "errno", None) in (errno.ENOSPC, errno.EFBIG), _full),
    (lambda e: any(s in _text(e) for s in ("No space left on device", "os error 28", "File too large", "os error 27")), _full),
    (lambda e: isinstance(e, FileNotFoundError) and ".parquet" in _text(e), _missing_file),
    (lambda e: ".parquet" in _text(e) and any(s in _text(e) for s in ("No such file", "not found", "os error 2)")), _missing_file),
    (lambda e: any(s in _text(e) for s in ("Json error", "Invalid JSON", "Truncated record", "_delta_log")), _damaged_log),
)


def diagnose(exc: BaseException, failure: Failure) -> LakeError:
    """The ``LakeError`` for ``exc``; unknown failures still name the table and the partition."""
    for matches, build in _RULES:
        if matches(exc):
            return build(exc, failure)
    first = str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__
    return LakeError(
        f"{failure.action} {failure.where} failed: {first}. {_kept(failure)} Check that the lake root is "
        "reachable and writable."
    )
