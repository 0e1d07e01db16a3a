"""The one landing function: canonical event bytes → typed Bronze event tables (contract §5.5).

Both sinks call ``Lander.land`` — the local sink with the outbox's bodies, the Event Hubs consumer
with what it read — so both give identical Bronze rows apart from the landing columns.

Why it is built this way:

* **Fast path in C++.** Bodies are grouped by event type and parsed as newline-delimited JSON by
  Arrow's reader with the declared schema of that type, then flattened into the Bronze columns;
  a million events land in seconds, without a Python loop over events.
* **Malformed events never stop good ones.** If a group does not parse (bad JSON, a wrong JSON
  type), the rows are checked one by one to find the culprits, which go to
  ``cusn.ctl_rejected_events`` with the reason; the rest are parsed in bulk again. Missing required
  fields (schema 2.x), unknown event types and badly formatted timestamps are found column-wise.
* **Idempotent on event_id.** Ids already landed in the (table, day) partition are skipped; a
  redelivery whose envelope or payload differs from the landed copy is rejected instead. Landed ids
  are cached per (table, day) after one read, so checking costs a hash lookup per event.
"""

from __future__ import annotations

import json
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

REJECTS_TABLE = "ctl_rejected_events"
TS_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"
_TS_RE = re.compile(TS_PATTERN)
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


# --- per-row validation (slow path, used only to isolate malformed rows) ---------------------------


def _type_ok(value: object, json_type: JsonType) -> bool:
    if json_type is JsonType.STRING:
        return isinstance(value, str)
    if json_type is JsonType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if json_type is JsonType.NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if json_type is JsonType.TIMESTAMP:
        return isinstance(value, str) and bool(_TS_RE.match(value))
    if json_type is JsonType.INTEGER_ARRAY:
        return isinstance(value, list) and all(_type_ok(v, JsonType.INTEGER) for v in value)
    return False  # pragma: no cover


def validate_event(raw: str) -> str | None:
    """The reason an event must be rejected, or None. Mirrors what the fast path enforces."""
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"bad JSON: {exc.msg} at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else f"bad JSON: {exc}"
    if not isinstance(obj, dict):
        return "bad JSON: the event is not a JSON object"
    name = obj.get("event_type")
    if name is None:
        return "missing required field event_type"
    if not isinstance(name, str):
        return f"wrong type: event_type must be a string, got {type(name).__name__}"
    if name not in EVENT_TYPES:
        return f"unknown event_type {name!r}"
    et = EVENT_TYPES[name]
    strict = str(obj.get("schema_version", "")).startswith("2")
    for f in ENVELOPE_FIELDS:
        value = obj.get(f.name)
        if value is None:
            if strict and not f.nullable:
                return f"missing required field {f.name}"
            continue
        if not _type_ok(value, f.json_type):
            return f"wrong type: {f.name} must be {f.json_type.value}, got {json.dumps(value)[:60]}"
    payload = obj.get("payload")
    if payload is None:
        return "missing required field payload"
    if not isinstance(payload, dict):
        return "wrong type: payload must be an object"
    for f in et.payload:
        value = payload.get(f.name)
        if value is None:
            if strict and not f.nullable:
                return f"missing required field payload.{f.name}"
            continue
        if not _type_ok(value, f.json_type):
            return f"wrong type: payload.{f.name} must be {f.json_type.value}, got {json.dumps(value)[:60]}"
    return None


def reason_kind(reason: str) -> str:
    """Counter key of a reason: 'bad JSON', 'unknown event_type', 'missing required field', …"""
    for kind in ("bad JSON", "unknown event_type", "missing required field", "wrong type", "conflicting redelivery"):
        if reason.startswith(kind):
            return kind
    return "other"


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
    """event_ids already in each Bronze (table, day) partition, read once per partition."""

    def __init__(self, lake_root: str) -> None:
        self.lake_root = lake_root
        self._ids: dict[tuple[str, date], list[pa.Array]] = {}

    def get(self, event_type: str, day: date) -> pa.Array:
        key = (event_type, day)
        if key not in self._ids:
            uri = delta.table_uri(self.lake_root, "cusn", event_type)
            existing = delta.read_table(
                uri, schema=_BRONZE_SCHEMAS[event_type], partition_value=day, columns=["event_id"]
            )
            self._ids[key] = [existing["event_id"].combine_chunks()]
        chunks = self._ids[key]
        if len(chunks) > 1:
            chunks[:] = [pa.concat_arrays(chunks)]
        return chunks[0]

    def add(self, event_type: str, day: date, ids: pa.Array) -> None:
        self.get(event_type, day)
        self._ids[(event_type, day)].append(ids)

    def count(self, event_type: str, day: date) -> int:
        return len(self.get(event_type, day))


# --- the landing ---------------------------------------------------------------------------------


class Lander:
    """Lands event bodies into ``cusn.<event_type>`` and rejects into ``cusn.ctl_rejected_events``."""

    def __init__(self, lake_root: str, sink: str) -> None:
        if sink not in ("local", "eventhub"):
            raise ValueError(f"sink must be 'local' or 'eventhub', got {sink!r}")
        self.lake_root = lake_root
        self.sink = sink
        self.ids = LandedIds(lake_root)

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

        ``event_types`` is an optional per-event hint (the outbox's ``event_type`` column, the Event
        Hubs ``Table`` property): it saves searching every body for its type. A hint is only
        trusted when the body itself carries ``"event_type":"<hint>"`` (and the parsed field agrees);
        bodies without a usable hint are typed by a search of the body, as without hints.
        """
        landed_ts = landed_ts or datetime.now(UTC)
        hints = _as_hints(event_types, bodies)
        bodies, bad_utf8 = _as_strings(bodies)
        if hints is not None and bad_utf8:
            hints = None  # positions shifted by the split-off rejects: fall back to searching
        n = len(bodies)
        meta = pa.table(
            {
                "_eh_partition_id": eh_partition_ids if eh_partition_ids is not None else pa.nulls(n, pa.string()),
                "_eh_sequence_number": eh_sequence_numbers if eh_sequence_numbers is not None else pa.nulls(n, pa.int64()),
            }
        )
        report = LandingReport()
        rejects: list[tuple[str | None, str | None, str, str]] = [
            (None, None, "bad JSON: the body is not valid UTF-8", raw) for raw in bad_utf8
        ]
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
                    rejects.append((None, None, validate_event(raw) or "unknown event_type", raw))
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
        rows, row_rejects = _check_rows(name, rows, raw)
        rejects.extend(row_rejects)
        return [(name, rows)]

    # parsing -----------------------------------------------------------------------------------

    def _parse_group(
        self, name: str, flat: pa.Array, raw: pa.Array
    ) -> tuple[pa.Table | None, pa.Array, list[tuple[str | None, str | None, str, str]]]:
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
                rejects.append((name, _maybe_event_id(text), reason, text))
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
                rejects.append((name, _maybe_event_id(text), f"wrong type: {exc}", text))
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

    def _append_new(self, name: str, rows: pa.Table, report: LandingReport) -> list[tuple[str | None, str | None, str, str]]:
        rejects: list[tuple[str | None, str | None, str, str]] = []
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
        to_write = []
        for day_scalar in pc.unique(rows["event_date"]).to_pylist():
            day_rows = rows.filter(pc.equal(rows["event_date"], pa.scalar(day_scalar, pa.date32())))
            seen = pc.is_in(day_rows["event_id"], value_set=self.ids.get(name, day_scalar))
            if pc.any(seen).as_py():
                dups = day_rows.filter(seen)
                landed = self._landed_copies(name, day_scalar, dups["event_id"])
                conflicts = _differing(dups, landed)
                report.duplicates += dups.num_rows - len(conflicts)
                rejects.extend(conflicts)
                day_rows = day_rows.filter(pc.invert(seen))
            if day_rows.num_rows:
                to_write.append(day_rows)
                report.landed[(name, day_scalar)] += day_rows.num_rows
        if to_write:
            new = pa.concat_tables(to_write)
            delta.append(delta.table_uri(self.lake_root, "cusn", name), new, schema, "event_date")
            for t in to_write:
                self.ids.add(name, t["event_date"][0].as_py(), t["event_id"].combine_chunks())
        return rejects

    def _landed_copies(self, name: str, day: date, ids: pa.ChunkedArray | pa.Array) -> pa.Table:
        uri = delta.table_uri(self.lake_root, "cusn", name)
        ds = delta.dataset(uri)
        flt = (pc.field("event_date") == pa.scalar(day, pa.date32())) & pc.field("event_id").isin(ids)
        return ds.to_table(columns=_COMPARED, filter=flt)

    def _write_rejects(self, rejects: list[tuple[str | None, str | None, str, str]], landed_ts: datetime, report: LandingReport) -> None:
        spec = CONTROL_TABLES[REJECTS_TABLE]
        day = landed_ts.astimezone(UTC).date()
        table = pa.table(
            {
                "landed_date": pa.array([day] * len(rejects), pa.date32()),
                "event_type": pa.array([r[0] for r in rejects], pa.string()),
                "event_id": pa.array([r[1] for r in rejects], pa.string()),
                "reason": pa.array([r[2] for r in rejects], pa.string()),
                "raw": pa.array([r[3] for r in rejects], pa.string()),
            },
            schema=spec.arrow_schema,
        )
        delta.append(delta.table_uri(self.lake_root, "cusn", REJECTS_TABLE), table, spec.arrow_schema, "landed_date")
        for r in rejects:
            report.rejected[reason_kind(r[2])] += 1
            if len(report.rejected_examples) < 10:
                report.rejected_examples.append(r[2])


# --- helpers -------------------------------------------------------------------------------------


def _as_strings(bodies: pa.Array | Iterable[str | bytes]) -> tuple[pa.Array, list[str]]:
    """Bodies as a string array; bytes that are not UTF-8 are split off as rejects."""
    if isinstance(bodies, pa.ChunkedArray):
        bodies = bodies.combine_chunks()
    if not isinstance(bodies, pa.Array):
        items = list(bodies)
        if items and isinstance(items[0], bytes | bytearray | memoryview):
            bodies = pa.array([bytes(b) for b in items], pa.binary())
        else:
            bodies = pa.array(items, pa.string())
    if pa.types.is_string(bodies.type):
        return bodies, []
    if pa.types.is_large_string(bodies.type):
        return pc.cast(bodies, pa.string()), []
    good, bad = [], []
    for b in bodies.to_pylist():
        try:
            good.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            bad.append(b.decode("utf-8", errors="replace"))
    return pa.array(good, pa.string()), bad


_TYPE_NAMES = pa.array(list(EVENT_TYPES), pa.string())


def _as_hints(event_types: pa.Array | Iterable[str | None] | None, bodies: object) -> pa.Array | None:
    if event_types is None:
        return None
    if isinstance(event_types, pa.ChunkedArray):
        event_types = event_types.combine_chunks()
    hints = event_types if isinstance(event_types, pa.Array) else pa.array(list(event_types), pa.string())
    hints = pc.cast(hints, pa.string())
    if len(hints) != len(bodies):  # type: ignore[arg-type]
        raise ValueError(f"event_types has {len(hints)} entries for {len(bodies)} bodies; give one per body.")  # type: ignore[arg-type]
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


def _check_rows(name: str, rows: pa.Table, raw: pa.Array) -> tuple[pa.Table, list[tuple[str | None, str | None, str, str]]]:
    """Column-wise checks after parsing: event_type, timestamp format, schema-2.x required fields.

    Converts the wire timestamps to typed columns and fills ``event_date`` for the rows that pass.
    """
    et = EVENT_TYPES[name]
    n = rows.num_rows
    reason: pa.Array = pa.nulls(n, pa.string())
    strict = pc.fill_null(pc.starts_with(rows["schema_version"], "2"), False)
    checks: list[tuple[pa.Array, str]] = [
        (pc.fill_null(pc.not_equal(rows["event_type"], name), True), "bad JSON: event_type is ambiguous or missing")
    ]
    for f in ENVELOPE_FIELDS:
        if not f.nullable:
            checks.append((pc.and_(strict, pc.is_null(rows[f.name])), f"missing required field {f.name}"))
    for f in et.payload:
        if not f.nullable:
            checks.append((pc.and_(strict, pc.is_null(rows[f.landed_name])), f"missing required field payload.{f.name}"))
    ts_fields = [("ingest_timestamp", "ingest_timestamp")] + [
        (f.landed_name, f"payload.{f.name}") for f in et.payload if f.json_type is JsonType.TIMESTAMP
    ]
    for col, label in ts_fields:
        bad = pc.and_(pc.is_valid(rows[col]), pc.invert(pc.fill_null(pc.match_substring_regex(rows[col], TS_PATTERN), False)))
        checks.append((bad, f"wrong type: {label} must be a timestamp like 2024-04-11T17:42:05.123456Z"))
    for failed, text in reversed(checks):
        reason = pc.if_else(pc.fill_null(failed, False), pa.scalar(text), reason)
    ok = pc.is_null(reason)
    rejects = []
    if not pc.all(ok).as_py():
        bad_idx = np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
        for i in bad_idx:
            i = int(i)
            rejects.append((name, rows["event_id"][i].as_py(), reason[i].as_py(), raw[i].as_py()))
        rows = rows.filter(ok)
    for col, _ in ts_fields:
        idx = rows.schema.get_field_index(col)
        rows = rows.set_column(idx, col, pc.cast(rows[col], pa.timestamp("us", tz="UTC")))
    rows = rows.set_column(
        rows.schema.get_field_index("event_date"), "event_date", pc.cast(rows["ingest_timestamp"], pa.date32())
    )
    return rows.cast(_BRONZE_SCHEMAS[name]), rejects


def _differing(new: pa.Table, landed: pa.Table) -> list[tuple[str | None, str | None, str, str]]:
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
            (
                joined["event_type"][i].as_py(),
                eid,
                f"conflicting redelivery: event_id {eid} differs from the copy already landed "
                "(two deliveries of one event_id must be byte-identical)",
                json.dumps({"event_id": eid, "payload": body}),
            )
        )
    return out
