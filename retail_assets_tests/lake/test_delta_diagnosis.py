"""Delta failures name the table, the partition, what was kept and the fix — and the fix works.

Real damage only: a commit file of the table's own ``_delta_log`` truncated, a data file the log
references deleted, a real full disk (a 2 MiB tmpfs, mounted when this process may; root in the
sandbox) and a real file-size limit (``RLIMIT_FSIZE`` in a subprocess: EFBIG, reported the same way).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from retail_assets.lake import day_layout, delta
from retail_assets.lake.lake_errors import CorruptTableError, LakeError, LakeFullError, MissingDataFileError

SCHEMA = pa.schema([("event_date", pa.date32()), ("n", pa.int64()), ("text", pa.string())])
DAY1, DAY2, DAY3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)


def rows(day: date, n: int = 100, width: int = 8) -> pa.Table:
    return pa.table(
        {
            "event_date": pa.array([day] * n, pa.date32()),
            "n": pa.array(range(n), pa.int64()),
            "text": pa.array([os.urandom(width).hex() for _ in range(n)]),
        }
    )


def two_days(uri: str) -> None:
    delta.replace_partition(uri, rows(DAY1), SCHEMA, DAY1)
    delta.replace_partition(uri, rows(DAY2), SCHEMA, DAY2)


def commit(uri: str, version: int) -> Path:
    return Path(uri) / "_delta_log" / f"{version:020d}.json"


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def test_truncated_last_commit_names_table_partition_and_the_restore_that_works(tmp_path: Path) -> None:
    uri = str(tmp_path / "cusn" / "fact_receipts")
    two_days(uri)
    damaged = commit(uri, 1)
    truncate(damaged)

    with pytest.raises(CorruptTableError) as info:
        delta.read_table(uri, SCHEMA, partition_value=DAY2)
    text = str(info.value)
    assert uri in text and "event_date=2024-01-02" in text
    assert f"{damaged.name} (version 1) is not valid JSON" in text and "Nothing was changed" in text
    assert f"mv {damaged} {damaged}.damaged" in text and "reads at version 0" in text

    with pytest.raises(CorruptTableError, match="Nothing of this write was committed"):
        delta.replace_partition(uri, rows(DAY3), SCHEMA, DAY3)
    assert not commit(uri, 2).exists()  # the failed write added no commit

    damaged.rename(damaged.with_name(damaged.name + ".damaged"))  # the advised fix ...
    assert delta.partition_row_counts(uri) == {DAY1: 100}  # ... keeps day 1 ...
    delta.replace_partition(uri, rows(DAY2), SCHEMA, DAY2)  # ... and day 2 is re-materialized
    assert delta.partition_row_counts(uri) == {DAY1: 100, DAY2: 100}


def test_damaged_commit_that_is_not_the_newest_is_not_advised_to_be_dropped(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    two_days(uri)
    delta.replace_partition(uri, rows(DAY3), SCHEMA, DAY3)
    truncate(commit(uri, 1))
    with pytest.raises(CorruptTableError) as info:
        delta.partition_row_counts(uri)
    assert "is not the newest commit" in str(info.value) and "re-materialize every partition" in str(info.value)


def test_deleted_data_file_names_its_partition_and_rematerializing_it_heals(tmp_path: Path) -> None:
    uri = str(tmp_path / "cusn" / "fact_receipts")
    two_days(uri)
    (victim,) = [Path(uri) / f.path for f in day_layout.dated_files(delta.open_table(uri), "event_date") if f.holds(DAY2)]
    victim.unlink()

    with pytest.raises(MissingDataFileError) as info:
        delta.read_table(uri, SCHEMA)
    text = str(info.value)
    assert isinstance(info.value, LakeError) and uri in text and str(victim) in text
    assert "partition event_date=2024-01-02" in text and "other partitions are intact" in text
    assert delta.read_table(uri, SCHEMA, partition_value=DAY1).num_rows == 100  # the rest still reads

    delta.replace_partition(uri, rows(DAY2), SCHEMA, DAY2)
    assert delta.partition_row_counts(uri) == {DAY1: 100, DAY2: 100}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: a real ENOSPC without filling the machine's disk (needs CAP_SYS_ADMIN)."""
    mount = tmp_path / "small_disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the EFBIG test covers the path")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_names_table_partition_kept_version_and_size(small_disk: Path) -> None:
    uri = str(small_disk / "cusn" / "fact_receipts")
    delta.replace_partition(uri, rows(DAY1), SCHEMA, DAY1)
    big = rows(DAY2, n=60_000, width=32)  # ~4 MiB of incompressible text on a 2 MiB disk

    with pytest.raises(LakeFullError) as info:
        delta.replace_partition(uri, big, SCHEMA, DAY2)
    text = str(info.value)
    assert uri in text and "(event_date=2024-01-02)" in text and "ENOSPC" in text
    assert "at version 0, every partition as before" in text and "free now" in text
    assert f"about {big.nbytes / 1024**2:.1f} MiB" in text
    with pytest.raises(LakeFullError, match=r"appending to .*event_date=2024-01-02"):
        delta.append(uri, big, SCHEMA)

    assert delta.table_version(uri) == 0  # nothing of either write was committed
    assert delta.partition_row_counts(uri) == {DAY1: 100}


_EFBIG_WRITER = """
import json, resource, signal, sys
from datetime import date
sys.path.insert(0, sys.argv[2])
from retail_assets_tests.lake.test_delta_diagnosis import SCHEMA, rows
from retail_assets.lake import day_layout, delta
uri = sys.argv[1]
delta.replace_partition(uri, rows(date(2024, 1, 1)), SCHEMA, date(2024, 1, 1))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
try:
    delta.replace_partition(uri, rows(date(2024, 1, 2), n=20_000, width=32), SCHEMA, date(2024, 1, 2))  # ~1.3 MB
except Exception as exc:
    print(json.dumps({"type": type(exc).__name__, "message": str(exc)}))
"""


def test_file_size_limit_is_reported_like_a_full_disk(tmp_path: Path) -> None:
    uri = str(tmp_path / "cusn" / "fact_receipts")
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run(
        [sys.executable, "-c", _EFBIG_WRITER, uri, root], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["type"] == "LakeFullError"
    assert "file-size limit" in result["message"] and "(event_date=2024-01-02)" in result["message"]
    assert "at version 0" in result["message"]
    assert delta.partition_row_counts(uri) == {DAY1: 100}
