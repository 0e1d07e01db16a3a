"""The day pipeline (contract §8.3): dimensions and state in, one generated day out to the lake.

Why a module of its own: both paths (the Dagster batch assets and the streaming job) generate a
day the same way — claim it in the ledger, read D−1's carried state, generate, write — and only
differ in which tables go to Bronze. Keeping that sequence here (plain Python, no Dagster) gives
one place that owns the write order that makes a crash harmless:

1. everything that can be refused (day out of range, missing dimensions, missing/corrupt/foreign
   D−1 state, unwritable lake) is checked before the claim and before any commit;
2. the claim is taken before generating (the §2 path rule's atomic ownership);
3. Bronze partitions, then the two state partitions, then the manifest partition, then the
   ledger's ``generated`` mark LAST. That mark is the single marker of a complete day: the reader
   of D's carried state (``load_prev_state`` for D+1) refuses a day without it, naming the day to
   re-materialize, so a crash between any two commits (the two state tables included) can never
   feed D+1 a half-written state. Re-running D clears the mark at the claim, replaces exactly D's
   partitions with the same bytes and sets the mark again (idempotent).

Commit points of a day (each a separate atomic commit; the crash-matrix test kills the process
right after each one): ledger claim → each Bronze partition → ``ctl_state_inventory`` →
``ctl_state_schedule`` → ``ctl_day_manifest`` → ledger ``generated`` (a batch day is ``landed``
then too; a stream day continues in ``streaming.runner``: outbox enqueue → per batch a landing
commit per event table and an outbox ack → ledger ``landed``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from retail_assets.config import ConfigError, DatasetSettings, HomeSettings
from retail_assets.contract.dimensions import DIMENSION_TABLES
from retail_assets.contract.tables import BATCH_ONLY_TABLES, CONTROL_TABLES, FACT_TABLES
from retail_assets.generate.day import DayResult, generate_day
from retail_assets.generate.dimensions import StreamedDimensions
from retail_assets.generate.state import CarryState, StateError, initial_state
from retail_assets.lake import delta, staged
from retail_assets.lake.ledger import Ledger, LedgerError
from retail_assets.lake.manifest import MANIFEST_TABLE, manifest_rows
from retail_assets.lake.paths import bronze_uri

STATE_TABLES = ("ctl_state_inventory", "ctl_state_schedule")
DATASET_METADATA_KEY = "retail_assets.dataset_id"
_log = logging.getLogger(__name__)  # captured into Dagster run logs (dagster.yaml: managed_python_loggers)
MATERIALIZE_DIMS = "dagster asset materialize -m retail_assets.definitions --select 'group:dimensions'"

__all__ = [
    "DatasetMismatchError",
    "DayOutOfRangeError",
    "DayResult",
    "IncompleteDayError",
    "MissingStateError",
    "PipelineError",
    "StateError",
    "build_and_write_dimensions",
    "generate_and_write_day",
    "load_dimensions",
    "load_prev_state",
    "tables_for_path",
    "validate_day",
]


class PipelineError(RuntimeError):
    """A day cannot be generated as asked; the message names the problem and the fix."""


class DayOutOfRangeError(PipelineError, ValueError):
    """The day is before the dataset's start date or in the future."""


class MissingStateError(PipelineError, delta.MissingTableError):
    """D−1's carried state is not in the lake (its day was never generated)."""


class IncompleteDayError(PipelineError):
    """D−1 was claimed but its generation has not finished: still running, or stopped between its commits.

    ``unfinished_day`` and ``owner`` name the claim when there is one, so a caller that can tell
    whether ``owner`` still runs (a Dagster run: ``defs/generation/one_at_a_time.py``) can say which."""

    def __init__(self, message: str, unfinished_day: date | None = None, owner: str | None = None) -> None:
        super().__init__(message)
        self.unfinished_day, self.owner = unfinished_day, owner


class DatasetMismatchError(PipelineError):
    """Stored dimensions or state belong to another dataset (other seed/scale/start date)."""


def _uri(home: HomeSettings, table: str) -> str:
    return bronze_uri(home.lake_root, table)


def tables_for_path(path: str) -> tuple[str, ...]:
    """Bronze batch tables a path writes: every fact table on a batch day, the batch-only ones on a stream day."""
    if path == "batch":
        return tuple(FACT_TABLES)
    if path == "stream":
        return tuple(BATCH_ONLY_TABLES)
    raise ValueError(f"path must be 'batch' or 'stream', got {path!r}")


def validate_day(settings: DatasetSettings, day: date, today: date | None = None) -> None:
    """A generated day must lie in [start_date, today]; anything else is refused with the range."""
    if not isinstance(day, date):
        raise DayOutOfRangeError(f"day {day!r} is not a date; pass a partition key like 2024-01-05.")
    today = today or datetime.now(UTC).date()
    if day < settings.start_date:
        raise DayOutOfRangeError(
            f"day {day.isoformat()} is before the dataset's start date {settings.start_date.isoformat()}; "
            f"pick a partition between {settings.start_date.isoformat()} and {today.isoformat()}, or set "
            "RETAIL_ASSETS_START_DATE earlier."
        )
    if day > today:
        raise DayOutOfRangeError(
            f"day {day.isoformat()} is in the future (today is {today.isoformat()} UTC); pick a partition "
            f"between {settings.start_date.isoformat()} and {today.isoformat()}."
        )


# --- dimensions ------------------------------------------------------------------------------------


def build_and_write_dimensions(home: HomeSettings, settings: DatasetSettings) -> dict[str, int]:
    """Build every dimension and replace its Bronze table (tagged with the dataset_id they belong to);
    returns the rows of each.

    ``dim_customers`` is built and written a batch at a time (``StreamedDimensions``): the step's
    memory is the customers' draws (16–18 bytes each), not their finished rows (≈ 270 bytes each,
    10 GiB at sf 100). Nothing is cached in the process; ``build_dimensions`` builds them whole."""
    built = StreamedDimensions(settings)
    uris = {name: _uri(home, name) for name in DIMENSION_TABLES}
    for uri in uris.values():
        delta.check_writable(uri)
    tags = {DATASET_METADATA_KEY: settings.dataset_id}
    # dim_customers first: its build is the one that can run out of memory or disk, and a failure
    # there leaves every dimension as it was (each table is replaced in one commit; the six are not)
    spec = DIMENSION_TABLES["dim_customers"]
    rows = {"dim_customers": staged.replace_table_from_batches(uris["dim_customers"], spec.arrow_schema, built.customer_batches(), tags)}
    for name, table in built.tables.items():
        delta.replace_table(uris[name], table, DIMENSION_TABLES[name].arrow_schema, tags)
        rows[name] = table.num_rows
    return {name: rows[name] for name in DIMENSION_TABLES}


def load_dimensions(
    home: HomeSettings,
    settings: DatasetSettings | None = None,
    only: Iterable[str] | None = None,
    readers: Mapping[str, Callable[[str], pa.Table]] | None = None,
) -> dict[str, pa.Table]:
    """Read every Bronze dimension table; with ``settings``, refuse dimensions of another dataset.

    ``readers`` reads a table its own way
    from its URI (the sharded generator reads ``dim_customers`` — 40 million rows at sf 100 — batch by
    batch into a row per home store, ``generate.customer_index``); ``only`` reads just those tables
    (planning shards needs the stores and DCs)."""
    dims: dict[str, pa.Table] = {}
    wanted_tables = set(only) if only is not None else set(DIMENSION_TABLES)
    for name, spec in DIMENSION_TABLES.items():
        if name not in wanted_tables:
            continue
        uri = _uri(home, name)
        if not delta.table_exists(uri):
            raise delta.MissingTableError(
                f"the dimension table {spec.qualified_name} does not exist at {uri}; materialize the asset "
                f"{spec.key_string} (group 'dimensions') first: `{MATERIALIZE_DIMS}`, or in the UI "
                "materialize the 'dimensions' group."
            )
        if settings is not None:
            stored = delta.last_commit_metadata(uri).get(DATASET_METADATA_KEY)
            if stored is not None and stored != settings.dataset_id:
                raise DatasetMismatchError(
                    f"{spec.qualified_name} was built for dataset {stored}, but the settings give "
                    f"{settings.dataset_id} (seed/scale factor/start date changed); re-materialize the "
                    f"'dimensions' group (`{MATERIALIZE_DIMS}`) or restore the previous settings."
                )
        if readers and name in readers:
            dims[name] = readers[name](uri)
        else:
            dims[name] = delta.read_table(uri, spec.arrow_schema)
    return dims


# --- carried state ---------------------------------------------------------------------------------


def _latest_state_date(home: HomeSettings, before: date) -> date | None:
    counts = delta.partition_row_counts(_uri(home, "ctl_state_inventory"), partition_col="state_date")
    earlier = [d for d in counts if d < before]
    return max(earlier) if earlier else None


def _rematerialize_hint(day: date, path: str | None) -> str:
    if path == "stream":
        return (
            f"run the streaming job again (`retail-assets stream`, or let the outbox_sensor launch "
            f"stream_outbox): it regenerates {day.isoformat()} deterministically before anything else"
        )
    return (
        f"re-materialize the 'bronze_batch' partition {day.isoformat()} (`dagster asset materialize -m "
        f"retail_assets.definitions --select 'group:bronze_batch' --partition {day.isoformat()}`)"
    )


def _check_complete(home: HomeSettings, settings: DatasetSettings, prev: date, day: date, ledger: Ledger | None) -> None:
    """D−1 is usable only if its generation finished: ledger mark set and a manifest row per fact table."""
    record = (ledger or Ledger(home.state_dir)).day_record(prev)
    if record is None:
        raise IncompleteDayError(
            f"the carried state of {prev.isoformat()} cannot be trusted: it is not claimed in the ledger, so "
            f"{day.isoformat()} is not generated. Fix: {_rematerialize_hint(prev, None)}; then {day.isoformat()}. "
            "(If the ledger file was lost or rebuilt, `retail-assets ledger rebuild` restores the marks from "
            "the manifest.)"
        )
    if not record.generated:
        raise IncompleteDayError(
            f"the carried state of {prev.isoformat()} cannot be trusted yet: its {record.path} generation by "
            f"{record.owner} started at {record.claimed_ts:%Y-%m-%d %H:%M:%S} UTC and has not finished — it is "
            f"still running, or its process stopped between its commits — so {day.isoformat()} is not "
            f"generated. Fix: if it still runs, let it finish, then launch {day.isoformat()} again; if it "
            f"stopped, {_rematerialize_hint(prev, record.path)}; then {day.isoformat()}.",
            unfinished_day=prev,
            owner=record.owner,
        )
    rows = _check_manifest_dataset(home, settings, prev)
    if rows != len(FACT_TABLES):
        raise IncompleteDayError(
            f"the ledger marks {prev.isoformat()} generated, but its manifest ({CONTROL_TABLES[MANIFEST_TABLE].qualified_name}) has "
            f"{rows} of {len(FACT_TABLES)} rows: the lake lost part of that day. Fix: "
            f"{_rematerialize_hint(prev, record.path)}; then {day.isoformat()}."
        )


def _check_manifest_dataset(home: HomeSettings, settings: DatasetSettings, day: date) -> int:
    """Refuse a day of another dataset; the number of manifest rows of ``day``."""
    spec = CONTROL_TABLES[MANIFEST_TABLE]
    rows = delta.read_table(_uri(home, MANIFEST_TABLE), spec.arrow_schema, partition_value=day)
    foreign = sorted(set(rows.column("dataset_id").to_pylist()) - {settings.dataset_id})
    if foreign:
        raise DatasetMismatchError(
            f"day {day.isoformat()} in the lake was generated for dataset {foreign[0]}, not "
            f"{settings.dataset_id}; regenerate from {settings.start_date.isoformat()} with the current "
            "settings in a fresh RETAIL_ASSETS_HOME, or restore the previous settings."
        )
    return rows.num_rows


def load_prev_state(
    home: HomeSettings,
    settings: DatasetSettings,
    dims: dict[str, pa.Table],
    day: date,
    ledger: Ledger | None = None,
) -> CarryState:
    """The carried state D needs: the initial state on start_date, else D−1's stored partitions.

    A missing D−1 is never replaced by a fresh state (§8.3): the error says which days to generate
    first. D−1 must be a complete day (its ledger ``generated`` mark and its manifest), else
    ``IncompleteDayError`` names it. A corrupt snapshot surfaces the generator's ``StateError``.
    """
    if day == settings.start_date:
        return initial_state(settings, dims)
    prev = day - timedelta(days=1)
    ledger = ledger or Ledger(home.state_dir)
    record = ledger.day_record(prev)
    if record is not None and not record.generated:  # claimed, never finished: say so before anything else
        _check_complete(home, settings, prev, day, ledger)
    inv_spec, sched_spec = (CONTROL_TABLES[t] for t in STATE_TABLES)
    inventory = delta.read_table(
        _uri(home, "ctl_state_inventory"), inv_spec.arrow_schema, partition_value=prev, partition_col="state_date"
    )
    if inventory.num_rows == 0:
        latest = _latest_state_date(home, day)
        first_missing = (latest + timedelta(days=1)) if latest else settings.start_date
        raise MissingStateError(
            f"the carried state of {prev.isoformat()} ({inv_spec.qualified_name}, state_date="
            f"{prev.isoformat()}) is missing, so {day.isoformat()} cannot be generated; materialize the "
            f"earlier days first, in date order: backfill the 'bronze_batch' partitions "
            f"{first_missing.isoformat()}...{day.isoformat()} (`dagster asset materialize -m "
            f"retail_assets.definitions --select 'group:bronze_batch' --partition-range "
            f"{first_missing.isoformat()}...{day.isoformat()}`)."
        )
    _check_complete(home, settings, prev, day, ledger)
    schedule = delta.read_table(
        _uri(home, "ctl_state_schedule"), sched_spec.arrow_schema, partition_value=prev, partition_col="state_date"
    )
    return CarryState.from_tables(prev, inventory, schedule, dims=dims)


# --- one day ---------------------------------------------------------------------------------------


WRITE_THREADS = 4
"""delta-rs encodes and writes outside the GIL, so a day's independent table writes overlap."""


def _write_partitions(home: HomeSettings, tables: dict[str, pa.Table], day: date) -> None:
    """Replace ``day``'s partition of each table, several tables at a time; returns when ALL are done.

    Each replace is its own atomic Delta commit; if one fails, the others still finish and the
    first error is raised (the caller's write order keeps the day incomplete: no state is written).
    """
    specs = {**FACT_TABLES, **CONTROL_TABLES}

    def write(name: str) -> None:
        spec = specs[name]
        delta.replace_partition(_uri(home, name), tables[name], spec.arrow_schema, day, partition_col=spec.partition_by)

    with ThreadPoolExecutor(max_workers=min(WRITE_THREADS, max(1, len(tables)))) as pool:
        futures = [pool.submit(write, name) for name in tables]
    for future in futures:
        future.result()


def _preflight(home: HomeSettings, names: Iterable[str]) -> None:
    for name in names:
        delta.check_writable(_uri(home, name))
        if name in STATE_TABLES:  # model 4 added home_dc_id: a home made before gets the column
            delta.add_missing_columns(_uri(home, name), CONTROL_TABLES[name].arrow_schema)


def generate_and_write_day(
    home: HomeSettings,
    settings: DatasetSettings,
    day: date,
    path: str,
    owner: str,
    *,
    ledger: Ledger | None = None,
    dims: dict[str, pa.Table] | None = None,
    today: date | None = None,
) -> DayResult:
    """Claim ``day`` for ``path``, generate it and write its partitions; return the generator's result.

    ``path='batch'`` writes every Bronze batch table; ``path='stream'`` writes only the
    batch-only tables (the caller turns ``result.tables`` of the streamable ones into events).
    Both write the manifest and the state. ``dims`` may be passed to avoid re-reading them per day.
    """
    bronze = tables_for_path(path)
    validate_day(settings, day, today)
    t0 = time.perf_counter()
    if dims is None:
        dims = load_dimensions(home, settings)
    ledger = ledger or Ledger(home.state_dir)
    prev_state = load_prev_state(home, settings, dims, day, ledger)
    _preflight(home, (*bronze, MANIFEST_TABLE, *STATE_TABLES))
    ledger.claim(day, path, owner)
    t1 = time.perf_counter()
    _log.info("day %s (%s path): claimed, dimensions and carried state read in %.2f s", day, path, t1 - t0)

    result = generate_day(settings, dims, prev_state, day)
    counts = {t: result.tables[t].num_rows for t in FACT_TABLES}
    t2 = time.perf_counter()
    _log.info("day %s (%s path): generated %d fact rows in %d tables in %.2f s", day, path, sum(counts.values()), len(counts), t2 - t1)

    # Bronze, the state, the manifest, then the ledger mark LAST (module docstring): only the mark
    # tells D+1 that D is whole. The state tables go one after the other so a crash between them
    # is a commit point of its own (and is caught by the missing mark, not by luck).
    _write_partitions(home, {t: result.tables[t] for t in bronze}, day)
    state_tables = result.state.to_tables()
    for name in STATE_TABLES:
        _write_partitions(home, {name: state_tables[name]}, day)
    _write_partitions(home, {MANIFEST_TABLE: manifest_rows(day, path, counts, settings)}, day)
    ledger.mark_generated(day, path)  # type: ignore[arg-type]
    _log.info(
        "day %s (%s path): wrote %d Bronze rows in %d tables, manifest and state in %.2f s",
        day, path, sum(result.tables[t].num_rows for t in bronze), len(bronze), time.perf_counter() - t2,
    )
    return result


def read_manifest(home: HomeSettings) -> pa.Table:
    """All manifest rows (empty when nothing was generated yet): the demo's rows-per-day table."""
    spec = CONTROL_TABLES[MANIFEST_TABLE]
    return delta.read_table(_uri(home, MANIFEST_TABLE), spec.arrow_schema)


USER_FIXABLE_ERRORS: tuple[type[Exception], ...] = (ConfigError, delta.LakeError, LedgerError, PipelineError, StateError)
"""Exceptions whose message names the problem and the fix (the Dagster shell turns them into Failures)."""
