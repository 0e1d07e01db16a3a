"""A stream day generated in shards: memory set by the shard, not by the scale factor (§5.6, §8.5).

Why: the one-process stream day holds the whole day's fact tables and then all its events (a
scale-factor-10 day needs ≈ 10 GiB; sf 30 cannot run on a 24 GiB machine). Here the day is made as the
batch path makes a large day (``sharded_pipeline``), one shard after another in this process, and
each shard's events go to the outbox's staging file as soon as they are built. The commit order is
the one-process stream day's:

1. the ledger claim (``begin_day``, after every refusal);
2. per shard: its events staged (one DuckDB transaction), its batch-only Bronze rows and state staged
   as files;
3. one Delta commit per table-day, the manifest, the ledger's ``generated`` mark (``commit_day``);
4. one outbox transaction numbers the staged events by the §5.6 order and enqueues the day.

A crash anywhere before 4 leaves a day that is claimed but not enqueued: the next streaming run
generates it again from the start (the staging is discarded first), deterministically the same, as
after a crash of the one-process path. The events and their ``outbox_seq`` equal the one-process
path's; only the row order inside a Bronze batch-only partition differs (shard order).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import date

import pyarrow as pa

from retail_assets import sharded_pipeline
from retail_assets.config import DatasetSettings, HomeSettings
from retail_assets.generate.shards import Shard
from retail_assets.streaming.events import build_unsequenced_events, first_outbox_seq
from retail_assets.streaming.outbox import Outbox


def generate_day_in_shards(
    home: HomeSettings,
    dataset: DatasetSettings,
    outbox: Outbox,
    day: date,
    owner: str,
    n_shards: int,
    max_pending: int | None,
    log: Callable[[str], None],
    today: date | None = None,
) -> int:
    """Steps 1–4 of the module docstring for ``day``; returns the events enqueued."""
    t0 = time.perf_counter()
    shards = sharded_pipeline.begin_day(home, dataset, day, owner, n_shards, today=today, path="stream")
    outbox.discard_staged()

    def stage_events(shard: Shard, tables: Mapping[str, pa.Table]) -> None:
        events = build_unsequenced_events(dict(tables), dataset.dataset_id, day)
        outbox.stage_shard(day, shard.index, events)

    outputs = []
    for shard in shards:
        out = sharded_pipeline.generate_shard(home, dataset, day, shard, path="stream", on_tables=stage_events)
        outputs.append(out)
        log(
            f"day {day.isoformat()} (stream path): shard {shard.index + 1}/{len(shards)} "
            f"({sum(out.row_counts.values()):,} rows) generated and its events staged in {out.seconds:.1f} s"
        )
    sharded_pipeline.commit_day(home, dataset, day, shards, outputs, path="stream")
    sharded_pipeline.release_dimensions()  # the numbering below needs the memory, not the dimensions
    t1 = time.perf_counter()
    first_seq = first_outbox_seq(dataset.start_date, day)
    n = outbox.enqueue_staged_day(day, [s.index for s in shards], first_seq, max_pending=max_pending)
    log(
        f"day {day.isoformat()} (stream path): {len(shards)} shards generated and committed in {t1 - t0:.1f} s, "
        f"{n:,} events numbered and enqueued in {time.perf_counter() - t1:.1f} s."
    )
    return n
