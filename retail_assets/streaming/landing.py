"""The one landing function: canonical event bytes → typed Bronze event tables (contract §5.5).

Both sinks call ``Lander.land`` — the local sink with the outbox's bodies, the Event Hubs consumer
with what it read — so both give identical Bronze rows apart from the landing columns.

Why it is built this way:

* **Fast path in C++.** Bodies are grouped by event type and parsed as newline-delimited JSON by
  Arrow's reader with the declared schema of that type, then flattened into the Bronze columns;
  a million events land in seconds, without a Python loop over events.
* **Malformed events never stop good ones.** Bodies over ``MAX_BODY_BYTES``, empty or not UTF-8
  are quarantined before parsing. If a group does not parse (bad JSON, a wrong JSON type), the rows
  are checked one by one to find the culprits; the rest are parsed in bulk again. Every parsed row
  then passes the row rules of ``streaming/validation.py`` (required fields, calendar timestamps
  within the dataset's days, finite numbers, non-empty ids, contract enums) *before* anything that
  could raise on the whole batch. Each culprit goes to ``cusn.ctl_rejected_events`` with one reason
  (a bounded prefix of its body, its byte length and sha256); its neighbours land.
* **Only the lake fails a batch.** An exception that is not about one row (the lake is unwritable,
  a Delta conflict, a full disk) propagates: the caller does not confirm the batch, and because
  rejects are written after every event table, a retry lands each event exactly once.
* **Idempotent on event_id.** Ids already landed in the (table, day) partition are skipped; a
  redelivery whose envelope or payload differs from the landed copy is rejected instead. Landed ids
  are known per (table, day) as 64-bit fingerprints after one read (``LandedIds``), so checking costs
  a binary search per event and 8 bytes per landed event; a fingerprint hit is confirmed against
  the landed rows.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from retail_assets.contract.events import ENVELOPE_FIELDS, EVENT_TYPES, EventType, JsonType, bronze_event_spec
from retail_assets.contract.tables import CONTROL_TABLES
from retail_assets.lake import delta
from retail_assets.lake.paths import bronze_uri
from retail_assets.streaming.validation import (
    MAX_BODY_BYTES,
    REASON_MAX_CHARS,
    REJECT_RAW_PREFIX_BYTES,
    TimeWindow,
    bounded,
    check_rows,
    reason_kind,
    show_value,
)

REJECTS_TABLE = "ctl_rejected_events"
_TYPE_RE = r'"event_type"\s*:\s*"(?P<t>[^"\\]*)"'
ENVELOPE_NAMES = [f.name for f in ENVELOPE_FIELDS]
_COMPARED = [*ENVELOPE_NAMES, "_payload"]


def _wire_arrow_type(json_type: JsonType) -> pa.DataType:
    """How a field is *read* from JSON: timestamps as text first, to check the exact wire format."""
    return pa.string() if json_type is JsonType.TIMESTAMP else json_type.arrow_type


def read_schema(et: EventType) -> pa.Schema:
    payload = pa.struct([pa.field(f.name, _wire_arrow_type(f.json_type)) for f in et.payload])
    fields = [pa.field(f.name, _wire_arrow_type(f.json_type)) for f in ENVELOPE_FIELDS]
    return pa.schema([*fields, pa.field("payload", payload)])


_READ_SCHEMAS = {name: read_schema(et) for name, et in EVENT_TYPES.items()}
_BRONZE_SCHEMAS = {name: bronze_event_spec(name).arrow_schema for name in EVENT_TYPES}


@dataclass
class LandingReport:
    """What one call landed: new rows per (event type, day), duplicates skipped, rejects by reason."""

    landed: Counter = field(default_factory=Counter)  # (event_type, date) -> new rows
    duplicates: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason kind -> count
    rejected_examples: list[str] = field(default_factory=list)

    @property
    def landed_total(self) -> int:
        return sum(self.landed.values())

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def merge(self, other: LandingReport) -> None:
        self.landed.update(other.landed)
        self.duplicates += other.duplicates
        self.rejected.update(other.rejected)
        self.rejected_examples.extend(other.rejected_examples[: max(0, 10 - len(self.rejected_examples))])


@dataclass(frozen=True)
class Reject:
    """One quarantined event: what is known of it, the one reason, and the body as received."""

    event_type: str | None
    event_id: str | None
    reason: str
    raw: str | bytes


EVENT_ID_MAX_CHARS = 128  # an event_id is a UUID; a poison body's "id" is stored bounded


# --- per-row validation (slow path, used only to isolate malformed rows) ---------------------------


def _type_ok(value: object, json_type: JsonType) -> bool:
    if json_type is JsonType.STRING:
        return isinstance(value, str)
    if json_type is JsonType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if json_type is JsonType.NUMBER:  # NaN/Infinity literals parse (the row rules reject them)
        return isinstance(value, int | float) and not isinstance(value, bool)
    if json_type is JsonType.TIMESTAMP:  # read as text; the row rules check the format and calendar
        return isinstance(value, str)
    if json_type is JsonType.INTEGER_ARRAY:
        return isinstance(value, list) and all(_type_ok(v, JsonType.INTEGER) for v in value)
    return False  # pragma: no cover


class _NotADouble(ValueError):
    """A JSON number too large for a double (``1e999``): Arrow's reader refuses it, Python's would
    silently read infinity."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotADouble(text)
    return value


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        dup = next(k for i, (k, _) in enumerate(pairs) if k in dict(pairs[:i]))
        raise json.JSONDecodeError(f"key {show_value(dup)} appears twice", "", 0)
    return obj


def validate_event(raw: str) -> str | None:
    """Why Arrow's JSON reader cannot read this event, or None (slow path: isolates the culprits of a
    group that does not parse, and names the problem of a body whose type is unknown).

    Only what stops *parsing* is checked here (JSON syntax, JSON types, event_type); everything a
    parsed row can violate is left to the row rules (``validation.RULES``), so a row gets the same
    reason whatever its neighbours in the batch.
    """
    try:
        obj = json.loads(raw, parse_float=_finite_float, object_pairs_hook=_unique_keys)
    except _NotADouble as exc:
        return f"not a finite number: {bounded(str(exc), 60)} does not fit a double"
    except json.JSONDecodeError as exc:
        return f"bad JSON: {exc.msg}" + (f" at position {exc.pos}" if exc.doc else "")
    except (RecursionError, ValueError) as exc:
        return f"bad JSON: {bounded(str(exc), 200)}"
    if not isinstance(obj, dict):
        return "bad JSON: the event is not a JSON object"
    name = obj.get("event_type")
    if name is None:
        return "missing required field event_type"
    if not isinstance(name, str):
        return f"wrong type: event_type must be a string, got {show_value(name)}"
    if name not in EVENT_TYPES:
        return f"unknown event_type {show_value(name)}"
    et = EVENT_TYPES[name]
    for f in ENVELOPE_FIELDS:
        value = obj.get(f.name)
        if value is not None and not _type_ok(value, f.json_type):
            return _wrong_type(f.name, f.json_type, value)
    payload = obj.get("payload")
    if payload is None:
        return None  # the row rules name it ("empty payload")
    if not isinstance(payload, dict):
        return f"wrong type: payload must be an object, got {show_value(payload)}"
    for f in et.payload:
        value = payload.get(f.name)
        if value is not None and not _type_ok(value, f.json_type):
            return _wrong_type(f"payload.{f.name}", f.json_type, value)
    return None


def _wrong_type(label: str, json_type: JsonType, value: object) -> str:
    return f"wrong type: {label} must be {json_type.value}, got {show_value(value)}"


def _payload_text_slow(raw: str) -> str:
    """The payload object exactly as received, for bodies where it is not the last key."""
    obj = json.loads(raw)
    decoder = json.JSONDecoder()
    for m in re.finditer(r'"payload"\s*:\s*', raw):
        try:
            value, end = decoder.raw_decode(raw, m.end())
        except json.JSONDecodeError:
            continue
        if value == obj.get("payload"):
            return raw[m.end() : end]
    return json.dumps(obj.get("payload"), separators=(",", ":"))


# --- landed-id cache -----------------------------------------------------------------------------


class LandedIds:
    """Which event_ids may already be in each Bronze (table, day) partition: 64-bit fingerprints,
    read once per partition, then kept up to date with every append.

    Why fingerprints and not the ids: a scale-factor-30 day lands ≈ 22 M events; their ids are ≈ 0.9 GB
    of text, and testing a batch against them rebuilt a hash set of the whole day per batch (the drain
    slowed to a third and grew by gigabytes as the day filled). Fingerprints are 8 bytes an event in
    sorted arrays probed by binary search. A hit only says "maybe": the caller confirms it against the
    landed rows (``Lander._landed_copies``), so a fingerprint collision can never drop a new event.
    """

    def __init__(self, lake_root: str) -> None:
        self.lake_root = lake_root
        self._sorted: dict[tuple[str, date], np.ndarray] = {}
        self._recent: dict[tuple[str, date], list[np.ndarray]] = {}

    def _load(self, key: tuple[str, date]) -> None:
        if key in self._sorted:
            return
        event_type, day = key
        existing = delta.read_table(
            bronze_uri(self.lake_root, event_type), schema=_BRONZE_SCHEMAS[event_type], partition_value=day,
            columns=["event_id"],
        )  # fmt: skip
        self._sorted[key] = np.sort(fingerprints(existing["event_id"]))
        self._recent[key] = []

    def maybe_landed(self, event_type: str, day: date, fp: np.ndarray) -> np.ndarray:
        """A bool per fingerprint (``fingerprints`` of the ids): True when an id with it was landed
        (confirm before trusting)."""
        key = (event_type, day)
        self._load(key)
        recent = self._recent[key]
        if recent and sum(len(r) for r in recent) * 8 > len(self._sorted[key]):
            # fold the recent appends in once they are an eighth of the day: amortised linear
            self._sorted[key] = np.sort(np.concatenate([self._sorted[key], *recent]))
            recent.clear()
        hit = _in_sorted(self._sorted[key], fp)
        for r in recent:
            hit |= _in_sorted(r, fp)
        return hit

    def add(self, event_type: str, day: date, fp: np.ndarray) -> None:
        """Record the fingerprints of ids just landed."""
        key = (event_type, day)
        self._load(key)
        self._recent[key].append(np.sort(fp))


_HASHER: list = []  # one in-memory DuckDB per process (opening one costs ≈ 15 ms; a batch hashes in ≈ 5)


def fingerprints(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit hashes of ids (DuckDB's vectorised ``hash``), in input order."""
    import duckdb

    if not _HASHER:
        _HASHER.append(duckdb.connect())
    with _HASHER[0].cursor() as cur:  # a cursor per call: safe if two threads land at once
        cur.register("__ids", pa.table({"event_id": ids}))
        out = cur.sql("SELECT hash(event_id) AS h FROM __ids").fetchnumpy()["h"]
    return np.asarray(out, dtype=np.uint64)


def _in_sorted(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    if len(haystack) == 0:
        return np.zeros(len(needles), dtype=bool)
    pos = np.minimum(np.searchsorted(haystack, needles), len(haystack) - 1)
    return haystack[pos] == needles


# --- the landing ---------------------------------------------------------------------------------


class Lander:
    """Lands event bodies into ``cusn.<event_type>`` and rejects into ``cusn.ctl_rejected_events``."""

    def __init__(
        self,
        lake_root: str,
        sink: str,
        earliest: date | None = None,
        latest: date | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        """``earliest``: the dataset's start date (events before it are rejected; None: no lower
        bound); ``latest``: the last day accepted (None: today, UTC, evaluated at each landing);
        ``max_body_bytes``: larger bodies are quarantined unparsed."""
        if sink not in ("local", "eventhub"):
            raise ValueError(f"sink must be 'local' or 'eventhub', got {sink!r}")
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes={max_body_bytes} must be >= 1 (the default is {MAX_BODY_BYTES}).")
        self.lake_root = lake_root
        self.sink = sink
        self.window = TimeWindow(earliest, latest)
        self.max_body_bytes = max_body_bytes
        self.ids = LandedIds(lake_root)
        self._rejects_schema_checked = False

    # public ------------------------------------------------------------------------------------

    def land(
        self,
        bodies: pa.Array | Iterable[str | bytes],
        eh_partition_ids: pa.Array | None = None,
        eh_sequence_numbers: pa.Array | None = None,
        landed_ts: datetime | None = None,
        event_types: pa.Array | Iterable[str | None] | None = None,
    ) -> LandingReport:
        """Land a batch; returns only after every Delta commit (the sink's confirmation).

        A bad event never raises: it is quarantined with its reason and the rest land. What raises
        is not about one event (the lake), and then nothing of the batch may be confirmed.

        ``event_types`` is an optional per-event hint (the outbox's ``event_type`` column, the Event
        Hubs ``Table`` property): it saves searching every body for its type. A hint is only
        trusted when the body itself carries ``"event_type":"<hint>"`` (and the parsed field agrees);
        bodies without a usable hint are typed by a search of the body, as without hints.
        """
        landed_ts = landed_ts or datetime.now(UTC)
        received = _as_array(bodies)
        n = len(received)
        hints = _as_hints(event_types, n)
        meta = pa.table(
            {
                "_eh_partition_id": eh_partition_ids if eh_partition_ids is not None else pa.nulls(n, pa.string()),
                "_eh_sequence_number": eh_sequence_numbers if eh_sequence_numbers is not None else pa.nulls(n, pa.int64()),
            }
        )
        bodies, kept, rejects = _screen_bodies(received, self.max_body_bytes)
        if kept is not None:
            meta = meta.take(kept)
            hints = hints.take(kept) if hints is not None else None
        report = LandingReport()
        flat = _single_line(bodies)
        types = hints if hints is not None else _search_types(flat)
        rows_by_type: list[tuple[str, pa.Table]] = []
        retype: list[np.ndarray] = []
        for searched in (False, True):
            if searched:  # bodies that do not carry their hint: typed by their own text
                keep = pa.array(np.sort(np.concatenate(retype)), pa.int64()) if retype else None
                if keep is None or len(keep) == 0:
                    break
                bodies, flat, meta = bodies.take(keep), flat.take(keep), meta.take(keep)
                types = _search_types(flat)
            known = pc.fill_null(pc.is_in(types, _TYPE_NAMES), False).to_numpy(zero_copy_only=False)
            if hints is not None and not searched:  # no usable hint: search the body instead
                retype.append(np.flatnonzero(~known))
            else:
                for idx in np.flatnonzero(~known):
                    raw = bodies[int(idx)].as_py()
                    rejects.append(Reject(None, _maybe_event_id(raw), validate_event(raw) or "unknown event_type", raw))
            order, groups = _group_bounds(types)
            # one gather into type order; every group is then a zero-copy slice
            s_raw = bodies.take(order)
            s_flat = s_raw if flat is bodies else flat.take(order)
            s_meta = meta.take(order)
            for name, lo, hi in groups:
                g_raw, g_flat, g_meta = s_raw.slice(lo, hi - lo), s_flat.slice(lo, hi - lo), s_meta.slice(lo, hi - lo)
                if hints is not None and not searched:
                    carries = pc.fill_null(pc.match_substring(g_flat, f'"event_type":"{name}"'), False)
                    if not pc.all(carries).as_py():
                        retype.append(order[lo:hi][~carries.to_numpy(zero_copy_only=False)])
                        g_raw, g_flat, g_meta = g_raw.filter(carries), g_flat.filter(carries), g_meta.filter(carries)
                if len(g_raw):
                    rows_by_type.extend(self._parse_and_check(name, g_flat, g_raw, g_meta, landed_ts, rejects))
        merged: dict[str, list[pa.Table]] = {}
        for name, rows in rows_by_type:
            merged.setdefault(name, []).append(rows)
        rows_by_type = [(name, pa.concat_tables(parts)) for name, parts in merged.items()]
        for name, rows in rows_by_type:
            rejects.extend(self._append_new(name, rows, report))
        if rejects:
            self._write_rejects(rejects, landed_ts, report)
        return report

    def _parse_and_check(
        self, name: str, flat: pa.Array, raw: pa.Array, meta: pa.Table, landed_ts: datetime, rejects: list
    ) -> list[tuple[str, pa.Table]]:
        """Parse one type's bodies and apply the column-wise checks; rejects are appended in place."""
        parsed, good_idx, group_rejects = self._parse_group(name, flat, raw)
        rejects.extend(group_rejects)
        if parsed is None or not parsed.num_rows:
            return []
        if len(good_idx) != len(raw):
            raw, meta = pc.take(raw, good_idx), meta.take(good_idx)
        rows = self._bronze_rows(name, parsed, raw, meta, landed_ts)
        rows, row_rejects = _check_rows(name, rows, raw, self.window, landed_ts)
        rejects.extend(row_rejects)
        return [(name, rows)]

    # parsing -----------------------------------------------------------------------------------

    def _parse_group(
        self, name: str, flat: pa.Array, raw: pa.Array
    ) -> tuple[pa.Table | None, pa.Array, list[Reject]]:
        schema = _READ_SCHEMAS[name]
        all_idx = pa.array(np.arange(len(flat)), pa.int64())
        try:
            return _read_ndjson(flat, schema), all_idx, []
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
        rejects = []
        good: list[int] = []
        for i, text in enumerate(raw.to_pylist()):
            reason = validate_event(text)
            if reason is None:
                good.append(i)
            else:
                rejects.append(Reject(name, _maybe_event_id(text), reason, text))
        good_idx = pa.array(good, pa.int64())
        if not good:
            return None, good_idx, rejects
        try:
            return _read_ndjson(pc.take(flat, good_idx), schema), good_idx, rejects
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
        # last resort: one by one (a mismatch between the validator and Arrow's reader)
        tables, kept = [], []
        for i in good:
            try:
                tables.append(_read_ndjson(flat.slice(i, 1), schema))
                kept.append(i)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                text = raw[i].as_py()
                rejects.append(Reject(name, _maybe_event_id(text), f"wrong type: {bounded(str(exc), 200)}", text))
        if not tables:
            return None, pa.array([], pa.int64()), rejects
        return pa.concat_tables(tables), pa.array(kept, pa.int64()), rejects

    def _bronze_rows(self, name: str, parsed: pa.Table, raw: pa.Array, meta: pa.Table, landed_ts: datetime) -> pa.Table:
        et = EVENT_TYPES[name]
        schema = _BRONZE_SCHEMAS[name]
        n = parsed.num_rows
        cols: dict[str, pa.Array | pa.ChunkedArray] = {}
        for f in ENVELOPE_FIELDS:
            cols[f.name] = parsed[f.name]
        payload = parsed["payload"].combine_chunks()
        payload_valid = payload.is_valid()
        for f in et.payload:
            values = pc.struct_field(payload, f.name)
            cols[f.landed_name] = pc.if_else(payload_valid, values, pa.nulls(n, values.type))
        cols["_payload"] = _payload_texts(raw)
        cols["_landed_ts"] = pa.array(np.full(n, np.datetime64(landed_ts.replace(tzinfo=None), "us")), pa.timestamp("us", tz="UTC"))
        cols["_sink"] = pa.array([self.sink] * n, pa.string())
        cols["_eh_partition_id"] = meta["_eh_partition_id"]
        cols["_eh_sequence_number"] = meta["_eh_sequence_number"]
        cols["event_date"] = pa.nulls(n, pa.date32())
        table = pa.table(cols)
        # wire strings kept for the checks; typed conversion happens in _check_rows
        return table.select(schema.names)

    # dedupe + append ---------------------------------------------------------------------------

    def _append_new(self, name: str, rows: pa.Table, report: LandingReport) -> list[Reject]:
        rejects: list[Reject] = []
        if rows.num_rows == 0:
            return rejects
        schema = _BRONZE_SCHEMAS[name]
        # duplicates inside this batch: keep the first copy
        idx = pa.array(np.arange(rows.num_rows), pa.int64())
        firsts = pa.table({"event_id": rows["event_id"], "i": idx}).group_by("event_id", use_threads=False).aggregate([("i", "min")])
        first_mask = pc.is_in(idx, firsts["i_min"])
        if not pc.all(first_mask).as_py():
            later = rows.filter(pc.invert(first_mask))
            first_rows = rows.take(firsts["i_min"])
            conflicts = _differing(later, first_rows)
            report.duplicates += later.num_rows - len(conflicts)
            rejects.extend(conflicts)
            rows = first_rows.take(pc.sort_indices(firsts["i_min"]))
        to_write: list[tuple[date, pa.Table, np.ndarray]] = []
        for day_scalar in pc.unique(rows["event_date"]).to_pylist():
            day_rows = rows.filter(pc.equal(rows["event_date"], pa.scalar(day_scalar, pa.date32())))
            fp = fingerprints(day_rows["event_id"])  # once: probed here, recorded after the append
            maybe = self.ids.maybe_landed(name, day_scalar, fp)
            if maybe.any():  # confirmed against the landed rows: a fingerprint collision is not a duplicate
                landed = self._landed_copies(name, day_scalar, day_rows.filter(pa.array(maybe))["event_id"])
                seen = pc.is_in(day_rows["event_id"], value_set=landed["event_id"])
                dups = day_rows.filter(seen)
                conflicts = _differing(dups, landed)
                report.duplicates += dups.num_rows - len(conflicts)
                rejects.extend(conflicts)
                fresh = pc.invert(seen)
                day_rows, fp = day_rows.filter(fresh), fp[fresh.to_numpy(zero_copy_only=False)]
            if day_rows.num_rows:
                to_write.append((day_scalar, day_rows, fp))
                report.landed[(name, day_scalar)] += day_rows.num_rows
        if to_write:
            new = pa.concat_tables([t for _, t, _ in to_write])
            delta.append(bronze_uri(self.lake_root, name), new, schema, "event_date")
            for day_scalar, _, fp in to_write:
                self.ids.add(name, day_scalar, fp)
        return rejects

    def _landed_copies(self, name: str, day: date, ids: pa.ChunkedArray | pa.Array) -> pa.Table:
        uri = bronze_uri(self.lake_root, name)
        ds = delta.dataset(uri)
        flt = (pc.field("event_date") == pa.scalar(day, pa.date32())) & pc.field("event_id").isin(ids)
        return ds.to_table(columns=_COMPARED, filter=flt)

    def _write_rejects(self, rejects: list[Reject], landed_ts: datetime, report: LandingReport) -> None:
        """Append the quarantined events (after every event table: a failure here fails the batch
        and the retry lands nothing twice). ``raw`` is a bounded prefix; length and hash identify
        the whole body."""
        spec = CONTROL_TABLES[REJECTS_TABLE]
        uri = bronze_uri(self.lake_root, REJECTS_TABLE)
        if not self._rejects_schema_checked:
            delta.add_missing_columns(uri, spec.arrow_schema)  # tables written before raw_bytes/raw_sha256
            self._rejects_schema_checked = True
        day = landed_ts.astimezone(UTC).date()
        data = [r.raw if isinstance(r.raw, bytes) else r.raw.encode("utf-8", "surrogatepass") for r in rejects]
        reasons = [bounded(r.reason, REASON_MAX_CHARS) for r in rejects]
        table = pa.table(
            {
                "landed_date": pa.array([day] * len(rejects), pa.date32()),
                "event_type": pa.array([r.event_type for r in rejects], pa.string()),
                "event_id": pa.array([_bounded_id(r.event_id) for r in rejects], pa.string()),
                "reason": pa.array(reasons, pa.string()),
                "raw": pa.array([b[:REJECT_RAW_PREFIX_BYTES].decode("utf-8", "replace") for b in data], pa.string()),
                "raw_bytes": pa.array([len(b) for b in data], pa.int64()),
                "raw_sha256": pa.array([hashlib.sha256(b).hexdigest() for b in data], pa.string()),
            },
            schema=spec.arrow_schema,
        )
        delta.append(uri, table, spec.arrow_schema, "landed_date")
        for reason in reasons:
            report.rejected[reason_kind(reason)] += 1
            if len(report.rejected_examples) < 10:
                report.rejected_examples.append(reason)


# --- helpers -------------------------------------------------------------------------------------


def _as_array(bodies: pa.Array | pa.ChunkedArray | Iterable[str | bytes]) -> pa.Array:
    """Bodies as one Arrow array: string when given text, binary when given bytes."""
    if isinstance(bodies, pa.ChunkedArray):
        bodies = bodies.combine_chunks() if bodies.num_chunks else pa.array([], bodies.type)
    if isinstance(bodies, pa.Array):
        return pc.cast(bodies, pa.string()) if pa.types.is_large_string(bodies.type) else bodies
    items = list(bodies)
    if any(isinstance(b, bytes | bytearray | memoryview) for b in items):
        return pa.array([b.encode() if isinstance(b, str) else None if b is None else bytes(b) for b in items], pa.binary())
    return pa.array(items, pa.string())


def _screen_bodies(received: pa.Array, max_bytes: int) -> tuple[pa.Array, pa.Array | None, list[Reject]]:
    """Split off, before any parsing, the bodies that cannot be events: null or empty, larger than
    ``max_bytes`` (never decoded or parsed: only a prefix and the hash are kept) and not UTF-8.

    Returns the remaining bodies as strings, their positions in ``received`` (None: all kept) and
    the rejects.
    """
    sizes = pc.fill_null(pc.binary_length(received), 0).to_numpy(zero_copy_only=False)
    bad = (sizes == 0) | (sizes > max_bytes)
    utf8 = pa.types.is_string(received.type)
    if not utf8:
        try:
            received.filter(pa.array(~bad)).cast(pa.string())
        except pa.ArrowInvalid:  # some body is not UTF-8: find which, one by one (rare)
            for i, b in enumerate(received.to_pylist()):
                if not bad[i]:
                    try:
                        b.decode("utf-8")
                    except UnicodeDecodeError:
                        bad[i] = True
    if not bad.any():
        return (received if utf8 else received.cast(pa.string())), None, []
    rejects = []
    for i in np.flatnonzero(bad):
        body = received[int(i)].as_py()
        if body is None or sizes[i] == 0:
            rejects.append(Reject(None, None, "bad JSON: the body is empty", body or ""))
            continue
        head = (body if isinstance(body, bytes) else body.encode())[:REJECT_RAW_PREFIX_BYTES].decode("utf-8", "replace")
        m = re.search(_TYPE_RE, head)
        if sizes[i] > max_bytes:
            reason = (
                f"body too large: {int(sizes[i])} bytes, the limit is {max_bytes} bytes (MAX_BODY_BYTES); "
                f"the first {REJECT_RAW_PREFIX_BYTES} bytes and the sha256 are kept"
            )
        else:
            reason = "bad JSON: the body is not valid UTF-8"
        rejects.append(Reject(m.group("t") if m else None, _maybe_event_id(head), reason, body))
    kept = pa.array(np.flatnonzero(~bad), pa.int64())
    remaining = received.take(kept)
    return (remaining if utf8 else remaining.cast(pa.string())), kept, rejects


def _bounded_id(event_id: str | None) -> str | None:
    return None if event_id is None else bounded(event_id, EVENT_ID_MAX_CHARS)


_TYPE_NAMES = pa.array(list(EVENT_TYPES), pa.string())


def _as_hints(event_types: pa.Array | Iterable[str | None] | None, n: int) -> pa.Array | None:
    if event_types is None:
        return None
    if isinstance(event_types, pa.ChunkedArray):
        event_types = event_types.combine_chunks() if event_types.num_chunks else pa.array([], pa.string())
    hints = event_types if isinstance(event_types, pa.Array) else pa.array(list(event_types), pa.string())
    hints = pc.cast(hints, pa.string())
    if len(hints) != n:
        raise ValueError(f"event_types has {len(hints)} entries for {n} bodies; give one per body.")
    return hints


def _single_line(bodies: pa.Array) -> pa.Array:
    """Bodies with raw CR/LF turned into spaces (in valid JSON they can only be insignificant
    whitespace), so each body is one NDJSON line. Canonical bodies have none: checked with numpy
    over the raw bytes, and only the rare multi-line batch pays for the regex."""
    offsets, data = _string_buffers(bodies)
    chunk = 1 << 22
    for start in range(int(offsets[0]), int(offsets[-1]), chunk):
        piece = data[start : min(start + chunk, int(offsets[-1]))]
        if np.any((piece == 10) | (piece == 13)):
            return pc.replace_substring_regex(bodies, r"[\r\n]", " ")
    return bodies


def _search_types(flat: pa.Array) -> pa.Array:
    return pc.struct_field(pc.extract_regex(flat, _TYPE_RE), [0])


def _group_bounds(types: pa.Array) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """A stable order that puts known types in contract order, input order within a type, unknown
    types first; and each present type's [lo, hi) range in that order."""
    codes = pc.fill_null(pc.index_in(types, value_set=_TYPE_NAMES), -1).to_numpy().astype(np.int64)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes[codes >= 0], minlength=len(_TYPE_NAMES))
    lo = int(np.count_nonzero(codes < 0))
    groups = []
    for code, count in enumerate(counts):
        if count:
            groups.append((_TYPE_NAMES[code].as_py(), lo, lo + int(count)))
            lo += int(count)
    return order, groups


def _string_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data) of a string array as numpy views, offsets already shifted by the slice."""
    buffers = values.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[values.offset : values.offset + len(values) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
    return offsets, data


def _read_ndjson(lines: pa.Array, schema: pa.Schema) -> pa.Table:
    # newline-terminated lines, straight from Arrow's buffers (no Python string per event)
    joined = pc.binary_join_element_wise(lines, "\n", "")
    offsets, _ = _string_buffers(joined)
    data = joined.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    table = pajson.read_json(
        pa.BufferReader(data),
        read_options=pajson.ReadOptions(use_threads=True, block_size=max(1 << 20, min(data.size + 1, 1 << 22))),
        parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=False),
    )
    if table.num_rows != len(lines):
        raise pa.ArrowInvalid(f"expected {len(lines)} JSON objects, read {table.num_rows}")
    return table


_PAYLOAD_KEY = ',"payload":'


def _payload_texts(raw: pa.Array) -> pa.Array:
    """``_payload``: the payload object as received.

    Fast path, for bodies whose text after the first ``,"payload":`` is a flat object followed by
    the body's closing brace (every canonical body): that object is the top-level payload of a body
    that parses, so it is cut out of the body bytes (one search kernel and one gather; Arrow's
    split/slice kernels cost several times as much). Any other shape (nested braces,
    whitespace, payload not last) goes through the JSON decoder (slow, rare).
    """
    n = len(raw)
    if n == 0:
        return pa.array([], pa.string())
    raw = pc.cast(raw, pa.string())
    offsets, data = _string_buffers(raw)
    offsets = offsets.astype(np.int64)
    pos = pc.fill_null(pc.find_substring(raw, _PAYLOAD_KEY), -1).to_numpy(zero_copy_only=False)
    body_end = offsets[1:]
    start = offsets[:-1] + pos + len(_PAYLOAD_KEY)
    stop = body_end - 1  # without the body's closing brace
    last_two = np.maximum(body_end - 2, 0)
    ok = (pos >= 0) & (stop - start >= 2)
    if len(data) >= 2:
        top = len(data) - 1
        ok &= (data[np.minimum(last_two, top)] == ord("}")) & (data[np.minimum(last_two + 1, top)] == ord("}"))
    else:
        ok[:] = False
    texts = _cut(raw, offsets, np.where(ok, start, offsets[:-1]), np.where(ok, stop, offsets[:-1]))
    fast = ok & pc.and_(
        pc.starts_with(texts, "{"),
        pc.and_(pc.equal(pc.count_substring(texts, "{"), 1), pc.equal(pc.count_substring(texts, "}"), 1)),
    ).to_numpy(zero_copy_only=False)
    if fast.all():
        return texts
    out = texts.to_pylist()
    for i in np.flatnonzero(~fast):
        out[int(i)] = _payload_text_slow(raw[int(i)].as_py())
    return pa.array(out, pa.string())


def _cut(raw: pa.Array, offsets: np.ndarray, start: np.ndarray, stop: np.ndarray) -> pa.Array:
    """The string array of ``raw[i]``'s bytes ``[start[i], stop[i])`` (absolute positions in its data
    buffer, inside the string, cut at ASCII characters).

    Zero-copy trick: every string is split into three pieces (before, the cut, after) by an offsets
    array over the *same* data buffer, and one ``take`` of the middle pieces gathers the cuts.
    """
    n = len(start)
    pieces = np.empty(3 * n + 1, np.int64)
    pieces[0:-1:3], pieces[1::3], pieces[2::3], pieces[-1] = offsets[:-1], start, stop, offsets[-1]
    split = pa.StringArray.from_buffers(3 * n, pa.py_buffer(pieces.astype(np.int32)), raw.buffers()[2])
    return split.take(pa.array(np.arange(1, 3 * n, 3, dtype=np.int64)))


def _maybe_event_id(text: str) -> str | None:
    m = re.search(r'"event_id"\s*:\s*"([^"\\]{1,64})"', text)
    return m.group(1) if m else None


def _check_rows(
    name: str, rows: pa.Table, raw: pa.Array, window: TimeWindow, now: datetime
) -> tuple[pa.Table, list[Reject]]:
    """Apply the row rules (``validation.RULES``), quarantine the violators, and type the rest:
    wire timestamps become TIMESTAMP columns and ``event_date`` is filled. After the rules, no
    cast below can fail on a row."""
    verdicts = check_rows(name, rows, window, now)
    rejects = [
        Reject(name, rows["event_id"][int(i)].as_py(), reason, raw[int(i)].as_py())
        for i, reason in zip(verdicts.bad_rows, verdicts.reasons, strict=True)
    ]
    for col, times in verdicts.times.items():
        rows = rows.set_column(rows.schema.get_field_index(col), col, times.typed())
    rows = rows.set_column(rows.schema.get_field_index("event_date"), "event_date", verdicts.times["ingest_timestamp"].days())
    if rejects:
        rows = rows.filter(pa.array(verdicts.ok))
    return rows.cast(_BRONZE_SCHEMAS[name]), rejects


def _differing(new: pa.Table, landed: pa.Table) -> list[Reject]:
    """Redeliveries whose envelope or payload differs from the landed copy (same event_id)."""
    if new.num_rows == 0:
        return []
    left = new.select(_COMPARED)
    right = landed.select(_COMPARED).rename_columns([f"__l_{c}" for c in _COMPARED])
    joined = left.join(right, keys="event_id", right_keys="__l_event_id", join_type="left outer")
    differs = pa.array(np.zeros(joined.num_rows, dtype=bool))
    for c in _COMPARED[1:]:
        a, b = joined[c], joined[f"__l_{c}"]
        same = pc.or_(pc.fill_null(pc.equal(a, b), False), pc.and_(pc.is_null(a), pc.is_null(b)))
        differs = pc.or_(differs, pc.invert(same))
    out = []
    for i in np.flatnonzero(differs.to_numpy(zero_copy_only=False)):
        i = int(i)
        eid = joined["event_id"][i].as_py()
        body = joined["_payload"][i].as_py()
        out.append(
            Reject(
                joined["event_type"][i].as_py(),
                eid,
                f"conflicting redelivery: event_id {eid} differs from the copy already landed "
                "(two deliveries of one event_id must be byte-identical)",
                json.dumps({"event_id": eid, "payload": body}),
            )
        )
    return out
