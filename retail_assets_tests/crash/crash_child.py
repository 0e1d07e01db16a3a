"""Test-only child process: run one step of a day and SIGKILL itself right after a chosen commit.

Usage: ``python -m retail_assets_tests.crash.crash_child <home> <batch|stream|stream_sharded> <day> <point>``.

``point`` is ``<commit>[:<table>]``. The commit functions of the product are wrapped (in this child
only) so that, after the real commit returns, the process is killed with a real ``SIGKILL`` — no
exception handler, ``finally`` or atexit runs, exactly as when an operator or the OOM killer kills
a run. Exit status 0 means the point was never reached (the test fails on that).
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import date
from functools import wraps

from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.lake import delta, staged
from retail_assets.lake.ledger import Ledger
from retail_assets.streaming import outbox as outbox_module
from retail_assets.streaming.lease_owner import process_owner
from retail_assets_tests.conftest import TEST_SCALE_FACTOR, TEST_SEED, TEST_START_DATE

SETTINGS = DatasetSettings(seed=TEST_SEED, scale_factor=TEST_SCALE_FACTOR, start_date=TEST_START_DATE)
SHARDED_SETTINGS = DatasetSettings(seed=TEST_SEED, scale_factor=0.08, start_date=TEST_START_DATE)  # 2 DCs
STREAM_SHARDS = 2  # path "stream_sharded": a stream day made in shards (streaming/sharded_day.py)


def settings_for(path: str) -> DatasetSettings:
    return SHARDED_SETTINGS if path == "stream_sharded" else SETTINGS


def shards_for(path: str) -> int | None:
    return STREAM_SHARDS if path == "stream_sharded" else None


def drain_batch_for(path: str) -> int:
    """Small batches at sf 0.01 (a day drains in several); the larger sharded day in a few."""
    return 20_000 if path == "stream_sharded" else 500


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _after(owner: object, name: str, when=lambda *a, **k: True) -> None:
    real = getattr(owner, name)

    @wraps(real)
    def wrapper(*args, **kwargs):
        out = real(*args, **kwargs)
        if when(*args, **kwargs):
            _die()
        return out

    setattr(owner, name, wrapper)


def _table_is(table: str):
    return lambda uri, *a, **k: uri.rstrip("/").endswith(f"/{table}")


def arm(point: str) -> None:
    commit, _, table = point.partition(":")
    if commit == "claim":
        _after(Ledger, "claim")
    elif commit == "generated":
        _after(Ledger, "mark_generated")
    elif commit == "landed":
        _after(Ledger, "mark_landed", lambda self, days: bool(days))
    elif commit == "partition":
        _after(delta, "replace_partition", _table_is(table))
    elif commit == "append":  # the first landing commit into an event table
        _after(delta, "append", lambda uri, *a, **k: "/ctl_" not in uri)
    elif commit == "commit":  # a staged (sharded) table-day's one commit
        _after(staged, "commit_partition", _table_is(table))
    elif commit == "stage":  # the first shard's events staged in the outbox's staging file
        _after(outbox_module.Outbox, "stage_shard")
    elif commit == "enqueue":
        _after(outbox_module.Outbox, "enqueue_day")
    elif commit == "enqueue_staged":
        _after(outbox_module.Outbox, "enqueue_staged_day")
    elif commit == "ack":
        _after(outbox_module.Outbox, "ack")
    else:
        raise SystemExit(f"unknown crash point {point!r}")


def main(home_dir: str, path: str, day: str, point: str) -> int:
    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": home_dir})
    arm(point)
    if path == "batch":
        from retail_assets import pipeline

        pipeline.generate_and_write_day(home, settings_for(path), date.fromisoformat(day), "batch", owner="crash-child")
    else:
        from retail_assets.streaming.drain import DrainSettings
        from retail_assets.streaming.runner import StreamSettings, stream_once
        from retail_assets.streaming.sinks.local import LocalDeltaSink

        settings = StreamSettings(drain=DrainSettings(batch_size=drain_batch_for(path)), shards=shards_for(path))
        stream_once(home, settings_for(path), LocalDeltaSink(home.lake_root), process_owner(), settings,
                    today=date.fromisoformat(day))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:5]))
