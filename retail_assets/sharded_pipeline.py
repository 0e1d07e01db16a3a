"""A batch day generated in shards (contract §8.5) and committed once per table (memory per shard).

Why: one process holding a whole day needs memory linear in the scale factor (sf 10 Black Friday:
9.7 GiB). Here a day is three steps with the same commit order as ``pipeline.generate_and_write_day``:

1. ``begin_day`` — every refusal first (day range, dimensions, D−1 complete, lake writable), then the
   ledger claim; returns the shard plan;
2. ``generate_shard`` — one shard: read the dimensions and its part of D−1's state, generate, write
   its rows of every table as staged files (``lake.staged``), return their descriptors. Shards are
   independent: they may run one after another in this process (memory = one shard) or in parallel
   on any engine that can call a function (the Dagster job in ``defs/generation/sharded.py`` runs
   them as steps of the multiprocess executor);
3. ``commit_day`` — per table one Delta commit of all shards' files, then the state, the manifest,
   and the ledger's ``generated`` mark last. A crash before a table's commit leaves that table as
   it was; D stays incomplete until the mark, exactly as in the one-process pipeline.

The rows of a table-day read back in shard order (shard 0's file first); within a shard they are in
(event_ts, primary key) order.

Both paths: ``path='batch'`` stages every Bronze table; ``path='stream'`` stages the batch-only ones
and hands each shard's fact tables to ``on_tables``, where the streaming runner turns the streamable
ones into events staged in the outbox (``streaming.runner``); the commit then marks the day for its path.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.dataset as pads

from retail_assets import pipeline
from retail_assets.config import DatasetSettings, HomeSettings, require_scale_factor_fits
from retail_assets.contract.tables import CONTROL_TABLES, FACT_TABLES
from retail_assets.generate import dims_cache
from retail_assets.generate.customer_index import CUSTOMER_COLUMNS, compact_customers
from retail_assets.generate.day import generate_day
from retail_assets.generate.shards import Shard, plan_shards, shard_count_for, shard_dims
from retail_assets.generate.state import CarryState, initial_state
from retail_assets.lake import delta, staged
from retail_assets.lake.ledger import Ledger
from retail_assets.lake.manifest import MANIFEST_TABLE, manifest_rows
from retail_assets.lake.staging_fs import stages

_log = logging.getLogger(__name__)
_DIMS_CACHE: dict[tuple[str, str], dict[str, pa.Table]] = {}


def _compact_customers(uri: str) -> pa.Table:
    """dim_customers as a shard worker holds it: a row per home store, read a batch at a time."""
    return compact_customers(delta.dataset(uri).to_batches(columns=list(CUSTOMER_COLUMNS)))


GENERATOR_READERS = {"dim_customers": _compact_customers}
"""The dimensions a shard reads its own way (the rest is read whole)."""


@dataclass(frozen=True)
class ShardOutput:
    """What a shard hands to the commit: its staged files and figures (picklable, small)."""

    shard: Shard
    files: dict[str, staged.StagedFile | None]  # table -> its file of this shard (None: no rows)
    row_counts: dict[str, int]  # fact table -> rows of this shard
    seconds: float
    peak_rss_mib: float  # of the process that made the shard (its lifetime peak)
    pid: int  # the process that made it (shards of one day run in several)


def _dims(home: HomeSettings, settings: DatasetSettings) -> dict[str, pa.Table]:
    """The dimensions, read once per process and dataset (a worker makes many shards)."""
    key = (str(home.lake_root), settings.dataset_id)
    if key not in _DIMS_CACHE:
        _DIMS_CACHE.clear()
        _DIMS_CACHE[key] = pipeline.load_dimensions(home, settings, readers=GENERATOR_READERS)
        # the read's scratch (the customers' record batches, the other tables' decoding) stays in
        # Arrow's allocator otherwise, on top of every shard a worker makes
        pa.default_memory_pool().release_unused()
    return _DIMS_CACHE[key]


def release_dimensions() -> None:
    """Drop this process's dimensions and everything derived from them, and hand the memory back:
    the streaming runner does so once a day's shards are made, before the outbox numbers its events."""
    _DIMS_CACHE.clear()
    dims_cache.clear()
    pa.default_memory_pool().release_unused()


def _uri(home: HomeSettings, table: str) -> str:
    return pipeline._uri(home, table)


def day_shard_count(home: HomeSettings, dataset: DatasetSettings, requested: int | None = None) -> int:
    """How many shards a day is made in when the caller does not choose (the ``bronze_batch`` assets,
    a streamed day): ``requested``, or about one shard per ``STORES_PER_SHARD`` stores, so memory is
    set by the shard and not by the chain; one shard on a lake root that cannot take staged files
    (the staged commit writes files next to the table; local and Azure roots can, ``lake.staging_fs``).
    One shard holds the whole day, so then the one-process memory guard applies (the callers
    resolved their settings without it)."""
    if requested is not None:
        if requested < 1:
            raise ValueError(f"shards must be at least 1, got {requested}")
        n = requested
    elif not stages(str(home.lake_root)):
        n = 1
    else:
        n = shard_count_for(pipeline.load_dimensions(home, only=("dim_stores",))["dim_stores"].num_rows)
    if n == 1:
        require_scale_factor_fits(dataset.scale_factor)
    return n


def begin_day(
    home: HomeSettings,
    settings: DatasetSettings,
    day: date,
    owner: str,
    n_shards: int,
    *,
    ledger: Ledger | None = None,
    today: date | None = None,
    path: str = "batch",
) -> list[Shard]:
    """Check everything that can be refused, claim ``day`` for ``path``, plan the shards."""
    pipeline.validate_day(settings, day, today)
    dims = pipeline.load_dimensions(home, settings, only=("dim_stores", "dim_distribution_centers"))
    ledger = ledger or Ledger(home.state_dir)
    if day != settings.start_date:
        prev = day - timedelta(days=1)
        pipeline._check_complete(home, settings, prev, day, ledger)
    names = (*pipeline.tables_for_path(path), MANIFEST_TABLE, *pipeline.STATE_TABLES)
    pipeline._preflight(home, names)
    for name in names:
        staged.check_stageable(_uri(home, name))
    ledger.claim(day, path, owner)
    return plan_shards(dims, n_shards)


def load_shard_state(
    home: HomeSettings, settings: DatasetSettings, dims: dict[str, pa.Table], shard: Shard, day: date
) -> CarryState:
    """The shard's part of D−1's state: its locations' inventory rows (a filtered read) and the
    schedule actions whose home DC is one of its own."""
    sub = shard_dims(dims, shard)
    if day == settings.start_date:
        return initial_state(settings, sub)
    prev = day - timedelta(days=1)
    # rows carry the DC of their shard (home_dc_id, §8.5): a shard's own files are the only ones
    # whose statistics match, so the read skips every other shard's rows
    mine = pads.field("home_dc_id").isin(pa.array(shard.dc_ids, type=pa.int64()))
    inv_spec, sched_spec = (CONTROL_TABLES[t] for t in pipeline.STATE_TABLES)
    inventory = delta.read_table(
        _uri(home, "ctl_state_inventory"), inv_spec.arrow_schema, prev, "state_date", row_filter=mine
    )
    if inventory.num_rows == 0:
        raise pipeline.MissingStateError(
            f"the carried state of {prev.isoformat()} has no rows for shard {shard.index} (DCs {list(shard.dc_ids)}); "
            f"re-materialize the 'bronze_batch' partition {prev.isoformat()}, then {day.isoformat()}."
        )
    schedule = delta.read_table(
        _uri(home, "ctl_state_schedule"), sched_spec.arrow_schema, prev, "state_date", row_filter=mine
    )
    return CarryState.from_tables(prev, inventory, schedule, dims=sub)


def generate_shard(
    home: HomeSettings,
    settings: DatasetSettings,
    day: date,
    shard: Shard,
    *,
    path: str = "batch",
    on_tables: Callable[[Shard, Mapping[str, pa.Table]], None] | None = None,
) -> ShardOutput:
    """Generate one shard of ``day`` and stage its rows of the path's Bronze tables and the state;
    ``on_tables`` (the stream path's event staging) sees every fact table of the shard first."""
    t0 = time.perf_counter()
    dims = _dims(home, settings)
    prev_state = load_shard_state(home, settings, dims, shard, day)
    result = generate_day(settings, shard_dims(dims, shard), prev_state, day, chain_rows=shard.owns_chain_rows)
    if on_tables is not None:
        on_tables(shard, result.tables)
    tag = f"s{shard.index:04d}"
    files: dict[str, staged.StagedFile | None] = {}
    for name in pipeline.tables_for_path(path):
        table, spec = result.tables[name], FACT_TABLES[name]
        files[name] = staged.stage_partition(_uri(home, name), table, spec.arrow_schema, spec.partition_by, day, tag)
    for name, table in result.state.to_tables().items():
        spec = CONTROL_TABLES[name]
        files[name] = staged.stage_partition(_uri(home, name), table, spec.arrow_schema, spec.partition_by, day, tag)
    counts = {name: t.num_rows for name, t in result.tables.items()}
    return ShardOutput(shard, files, counts, time.perf_counter() - t0, peak_rss_mib(), os.getpid())


def commit_day(
    home: HomeSettings,
    settings: DatasetSettings,
    day: date,
    plan: list[Shard],
    outputs: Iterable[ShardOutput],
    *,
    ledger: Ledger | None = None,
    path: str = "batch",
) -> dict[str, int]:
    """One commit per table of every shard's files (the path's Bronze, then state, then the manifest),
    then the ledger mark for ``path``; returns the rows per fact table. Refuses unless every shard of ``plan`` came back
    exactly once (a lost shard would silently drop its DCs' rows)."""
    outputs = sorted(outputs, key=lambda o: o.shard.index)
    if [o.shard for o in outputs] != sorted(plan, key=lambda s: s.index):
        got = [o.shard.index for o in outputs]
        raise pipeline.PipelineError(
            f"day {day.isoformat()}: shards {got} came back, the plan has {[s.index for s in plan]}; a shard's "
            "step failed or ran twice. Re-run the day: nothing of it was committed."
        )
    counts = {name: sum(o.row_counts[name] for o in outputs) for name in FACT_TABLES}
    specs = {**FACT_TABLES, **CONTROL_TABLES}
    for name in (*pipeline.tables_for_path(path), *pipeline.STATE_TABLES):
        files = [f for o in outputs if (f := o.files[name]) is not None]
        spec = specs[name]
        staged.commit_partition(_uri(home, name), spec.arrow_schema, spec.partition_by, day, files)
    spec = CONTROL_TABLES[MANIFEST_TABLE]
    delta.replace_partition(
        _uri(home, MANIFEST_TABLE), manifest_rows(day, path, counts, settings), spec.arrow_schema, day,
        partition_col=spec.partition_by,
    )  # fmt: skip
    (ledger or Ledger(home.state_dir)).mark_generated(day, path)  # type: ignore[arg-type]
    return counts


def generate_and_write_day_sharded(
    home: HomeSettings,
    settings: DatasetSettings,
    day: date,
    owner: str,
    n_shards: int,
    *,
    run_shards: Callable[[Callable[[Shard], ShardOutput], list[Shard]], list[ShardOutput]] | None = None,
    ledger: Ledger | None = None,
    today: date | None = None,
) -> dict[str, int]:
    """``begin_day`` → every shard → ``commit_day``. ``run_shards(fn, shards)`` decides where the
    shards run (default: one after another in this process, so memory is one shard's)."""
    shards = begin_day(home, settings, day, owner, n_shards, ledger=ledger, today=today)

    def one(shard: Shard) -> ShardOutput:
        return generate_shard(home, settings, day, shard)

    outputs = run_shards(one, shards) if run_shards else [one(s) for s in shards]
    counts = commit_day(home, settings, day, shards, outputs, ledger=ledger)
    _log.info("day %s: %d shards, %d fact rows committed", day, len(shards), sum(counts.values()))
    return counts


def peak_rss_mib() -> float:
    """This process's peak resident set (MiB): ``ru_maxrss`` is KiB on Linux, bytes on macOS."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


__all__ = [
    "ShardOutput",
    "begin_day",
    "commit_day",
    "generate_and_write_day_sharded",
    "generate_shard",
    "load_shard_state",
    "peak_rss_mib",
    "release_dimensions",
]
