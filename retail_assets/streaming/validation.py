"""Row rules of the landing: what one parsed event must satisfy before it may reach Bronze.

Why this module exists (issue 8, "poison isolation"): a single bad event used to raise inside the
landing (a timestamp that matches the wire pattern but is no calendar time, a schema-1.0 event
without ``event_id``) and fail its whole batch, or it landed values no consumer can use (NaN
amounts, year-9999 partitions, empty ids, enum values outside the contract). Every rule below runs
column-wise over a parsed batch *before* anything that can raise on a whole batch (typed casts, the
Delta append), and each violating row gets exactly one reason naming the field and the value.

How it is built:

* **Rules as data.** ``RULES`` is an ordered table of named rules, each with its reason text and
  the fields it applies to; the first rule a row violates gives its reason. What a field is (id,
  enum, required, business time) is derived from the contract (``contract/events.py``, the fact
  tables' ``Column.enum``, the Bronze spec), never restated here.
* **Vectorised.** A rule returns a boolean mask over the batch (pyarrow compute / numpy); Python
  only touches the few violating rows to format their reasons. Wire timestamps are validated and
  converted in one pass over the string bytes (no per-row parsing, no cast that could raise).
* **Schema versions.** 2.x events must carry every "no"-null field of §5.1/§5.4. 1.x events may
  omit payload fields (§5.7: they map to NULL in Silver), but never what Bronze itself stores as
  NOT NULL (the envelope's "no" fields: ``event_id`` is the de-duplication key, ``ingest_timestamp``
  the partition), nor the payload as a whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.contract.events import (
    ENVELOPE_FIELDS,
    EVENT_TYPES,
    Derived,
    EventType,
    JsonType,
    PayloadField,
    bronze_event_spec,
)
from retail_assets.contract.tables import FACT_TABLES

MAX_BODY_BYTES = 256 * 1024
"""Largest event body the landing accepts (a canonical event is ~0.5-1.5 KB; Event Hubs' own
message limit is 1 MB). Larger bodies are quarantined with a prefix and a hash, never parsed."""

REJECT_RAW_PREFIX_BYTES = 16 * 1024
"""``ctl_rejected_events.raw`` keeps at most this many bytes of a body (every normal event whole);
``raw_bytes`` and ``raw_sha256`` identify the whole body."""

REASON_MAX_CHARS = 400
VALUE_MAX_CHARS = 80

FUTURE_TOLERANCE = timedelta(minutes=5)
"""Clock skew allowed between a producer and this landing when "today" is the upper bound."""

OTHER_TIME_MARGIN = timedelta(days=7)
"""Timestamps that are not the business time (``planned_time``) may lie a little outside the
dataset's days (a truck move is planned the evening before); they only have to be near them."""

SCHEMA_VERSION_PATTERN = r"^[12]\.[0-9]+$"
SUPPORTED_SCHEMA_VERSIONS = "1.x or 2.x"


# --- what each field is, derived from the contract ---------------------------------------------


class Required(StrEnum):
    ALWAYS = "always"  # stored NOT NULL in Bronze: required whatever the schema version
    SCHEMA_2 = "schema 2.x"  # a "no"-null field of schema 2.0; 1.x producers may omit it
    NEVER = "never"


@dataclass(frozen=True)
class FieldSpec:
    """One field of an event type as the rules see it."""

    label: str  # as named in reasons: ``ingest_timestamp``, ``payload.total``
    column: str  # the parsed/Bronze column
    json_type: JsonType | None  # None for the payload object itself
    required: Required = Required.NEVER
    is_id: bool = False
    allowed: tuple[str, ...] | None = None
    business_time: bool = False  # equals ingest_timestamp: must fall inside the dataset's days


PAYLOAD = "payload"


def _allowed_values(et: EventType, f: PayloadField) -> tuple[str, ...] | None:
    """The enum of a payload field: its literal, its selector keys, or the ``Column.enum`` of the
    fact column it carries (union over the tables the type feeds; None if any table has none)."""
    if f.derived is Derived.LITERAL:
        return (f.literal,) if f.literal is not None else None
    if f.derived is Derived.SELECTOR:
        return tuple(et.table_by_selector)
    if f.derived is not Derived.COLUMN or f.column is None:
        return None
    enums = [FACT_TABLES[t].column(f.column).enum for t in et.fact_tables if f.column in FACT_TABLES[t].column_names]
    if not enums or any(e is None for e in enums):
        return None
    return tuple(dict.fromkeys(v for e in enums for v in e))  # type: ignore[union-attr]


def _is_id(f: PayloadField) -> bool:
    """A business identifier (contract §1.1: ``<thing>_id_ext`` columns are the generated ids)."""
    return f.json_type is JsonType.STRING and f.column is not None and f.column.endswith("_id_ext")


def field_specs(et: EventType) -> tuple[FieldSpec, ...]:
    """Envelope fields, the payload object, then the payload fields, in contract order."""
    bronze = bronze_event_spec(et.name)
    envelope = tuple(
        FieldSpec(
            label=f.name,
            column=f.name,
            json_type=f.json_type,
            required=Required.NEVER if bronze.column(f.name).nullable else Required.ALWAYS,
            is_id=f.name == "event_id",
            business_time=f.json_type is JsonType.TIMESTAMP,
        )
        for f in ENVELOPE_FIELDS
    )
    payload = tuple(
        FieldSpec(
            label=f"payload.{f.name}",
            column=f.landed_name,
            json_type=f.json_type,
            required=Required.NEVER if f.nullable else Required.SCHEMA_2,
            is_id=_is_id(f),
            allowed=_allowed_values(et, f),
            business_time=f.derived is Derived.INGEST_TIME,
        )
        for f in et.payload
    )
    return (*envelope, FieldSpec(PAYLOAD, "_payload", None), *payload)


# --- wire timestamps -------------------------------------------------------------------------

_TS_LEN = 27  # YYYY-MM-DDTHH:MM:SS.ffffffZ
_TS_SEPARATORS = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":", 19: ".", 26: "Z"}
_TS_NUMBERS = {"year": (0, 4), "month": (5, 7), "day": (8, 10), "hour": (11, 13), "minute": (14, 16),
               "second": (17, 19), "micro": (20, 26)}  # fmt: skip
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)
US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class WireTimes:
    """A wire timestamp column checked and converted: µs since the epoch where ``ok``."""

    micros: np.ndarray  # int64; 0 where not ok
    ok: np.ndarray  # bool: a real calendar time in the exact wire format
    present: np.ndarray  # bool: the field is not null

    def typed(self) -> pa.Array:
        return pa.array(self.micros, pa.timestamp("us", tz="UTC"), mask=~self.ok)

    def days(self) -> pa.Array:
        return pa.array(np.floor_divide(self.micros, US_PER_DAY).astype(np.int32), pa.date32(), mask=~self.ok)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (vectorised; H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _byte_matrix(data: np.ndarray, offsets: np.ndarray, shaped: np.ndarray) -> np.ndarray:
    """The 27 bytes of every row as an (n, 27) matrix; rows not ``shaped`` read zeros.

    Fast path: a column of only 27-byte strings laid end to end (what Arrow's JSON reader produces
    for canonical bodies) is already that matrix: one zero-copy reshape.
    """
    n = len(shaped)
    start, stop = int(offsets[0]), int(offsets[-1])
    if shaped.all() and stop - start == n * _TS_LEN:
        return data[start:stop].reshape(n, _TS_LEN)
    out = np.zeros((n, _TS_LEN), np.uint8)
    rows = np.flatnonzero(shaped)
    for lo in range(0, len(rows), 1 << 16):  # bounded index matrices
        r = rows[lo : lo + (1 << 16)]
        out[r] = data[offsets[r][:, None] + np.arange(_TS_LEN)]
    return out


def parse_wire_timestamps(values: pa.Array | pa.ChunkedArray) -> WireTimes:
    """Check and convert ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` strings in one pass over their bytes.

    Unlike Arrow's cast, this never raises: ``2024-01-03T25:61:00.000000Z`` or ``2023-02-29…`` is
    simply not ``ok`` (and ``strptime`` would silently roll Feb 30 over to March).
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    values = values.cast(pa.string()) if not pa.types.is_string(values.type) else values
    n = len(values)
    present = values.is_valid().to_numpy(zero_copy_only=False)
    if n == 0:
        return WireTimes(np.zeros(0, np.int64), np.zeros(0, bool), present)
    bufs = values.buffers()
    offsets = np.frombuffer(bufs[1], np.int32)[values.offset : values.offset + n + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    shaped = present & (np.diff(offsets) == _TS_LEN)
    chars = _byte_matrix(data, offsets, shaped)
    ok = shaped.copy()
    for pos, sep in _TS_SEPARATORS.items():  # column by column: numpy reduces a short axis slowly
        ok &= chars[:, pos] == ord(sep)
    parts = {}
    for name, (lo, hi) in _TS_NUMBERS.items():
        value = np.zeros(n, np.int64)
        for pos in range(lo, hi):
            digit = chars[:, pos] - np.uint8(ord("0"))  # uint8: anything below "0" wraps to >= 10
            ok &= digit < 10
            value = value * 10 + digit
        parts[name] = value
    y, m, d = parts["year"], parts["month"], parts["day"]
    ok &= (y >= 1) & (m >= 1) & (m <= 12)
    m = np.where(ok, m, 1)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    ok &= (d >= 1) & (d <= _DAYS_IN_MONTH[m - 1] + (leap & (m == 2)))
    ok &= (parts["hour"] <= 23) & (parts["minute"] <= 59) & (parts["second"] <= 59)
    seconds = ((_days_from_civil(y, m, d) * 24 + parts["hour"]) * 60 + parts["minute"]) * 60 + parts["second"]
    micros = np.where(ok, seconds * 1_000_000 + parts["micro"], 0)
    return WireTimes(micros, ok, present)


# --- the dataset's time window ------------------------------------------------------------------


@dataclass(frozen=True)
class TimeWindow:
    """Which days an event's business time may fall on: ``[earliest, latest]`` (UTC dates).

    ``earliest`` is the dataset's start date (None: no lower bound); ``latest`` None means "today"
    (UTC, with ``FUTURE_TOLERANCE``), evaluated at each landing so a long-running consumer moves on.
    """

    earliest: date | None = None
    latest: date | None = None

    def __post_init__(self) -> None:
        if self.earliest and self.latest and self.latest < self.earliest:
            raise ValueError(
                f"latest={self.latest} is before earliest={self.earliest}: no event could land; "
                "pass the dataset's start date as earliest and a later day (or None = today) as latest."
            )

    def last_day(self, now: datetime) -> date:
        return self.latest or (now.astimezone(UTC) + FUTURE_TOLERANCE).date()

    def bounds_us(self, now: datetime, margin: timedelta = timedelta(0)) -> tuple[int | None, int]:
        """[lo, hi) in µs since the epoch; lo None when unbounded below."""
        lo = None
        if self.earliest is not None:
            lo = _us(datetime.combine(self.earliest, time(), UTC) - margin)
        hi = _us(datetime.combine(self.last_day(now) + timedelta(days=1), time(), UTC) + margin)
        return lo, hi


def _us(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


# --- the rules ---------------------------------------------------------------------------------


@dataclass
class RowContext:
    """What the rules of one parsed batch of one event type share."""

    event_type: str
    rows: pa.Table
    strict: np.ndarray  # bool: schema 2.x
    times: dict[str, WireTimes]  # by column
    payload_columns: tuple[str, ...]
    window: TimeWindow
    now: datetime
    _present: dict[str, np.ndarray] = field(default_factory=dict)

    def values(self, spec: FieldSpec) -> pa.Array | pa.ChunkedArray:
        return self.rows[spec.column]

    def present(self, column: str) -> np.ndarray:
        """Not-null mask of a column (computed once: most rules start from it)."""
        if column not in self._present:
            self._present[column] = _np(pc.is_valid(self.rows[column]))
        return self._present[column]


Mask = np.ndarray


def _np(mask: pa.Array | pa.ChunkedArray) -> Mask:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _wrong_event_type(ctx: RowContext, spec: FieldSpec) -> Mask:
    return ~_np(pc.equal(ctx.values(spec), ctx.event_type))


def _empty_payload(ctx: RowContext, spec: FieldSpec) -> Mask:
    empty = np.ones(ctx.rows.num_rows, bool)
    for col in ctx.payload_columns:
        empty &= ~ctx.present(col)
    return empty


def _unsupported_version(ctx: RowContext, spec: FieldSpec) -> Mask:
    values = ctx.values(spec)
    return ctx.present(spec.column) & ~_np(pc.match_substring_regex(values, SCHEMA_VERSION_PATTERN))


def _missing(ctx: RowContext, spec: FieldSpec) -> Mask:
    absent = ~ctx.present(spec.column)
    return absent if spec.required is Required.ALWAYS else absent & ctx.strict


def _empty_id(ctx: RowContext, spec: FieldSpec) -> Mask:
    return _np(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(ctx.values(spec))), 0))


def _bad_timestamp(ctx: RowContext, spec: FieldSpec) -> Mask:
    t = ctx.times[spec.column]
    return t.present & ~t.ok


def _margin(spec: FieldSpec) -> timedelta:
    return timedelta(0) if spec.business_time else OTHER_TIME_MARGIN


def _too_early(ctx: RowContext, spec: FieldSpec) -> Mask:
    lo, _ = ctx.window.bounds_us(ctx.now, _margin(spec))
    t = ctx.times[spec.column]
    return t.ok & (t.micros < lo) if lo is not None else np.zeros(len(t.ok), bool)


def _too_late(ctx: RowContext, spec: FieldSpec) -> Mask:
    _, hi = ctx.window.bounds_us(ctx.now, _margin(spec))
    t = ctx.times[spec.column]
    return t.ok & (t.micros >= hi)


def _not_finite(ctx: RowContext, spec: FieldSpec) -> Mask:
    values = ctx.values(spec)
    return ctx.present(spec.column) & ~_np(pc.is_finite(values))


def _outside_enum(ctx: RowContext, spec: FieldSpec) -> Mask:
    values = ctx.values(spec)
    allowed = pa.array(spec.allowed, pa.string())
    return ctx.present(spec.column) & ~_np(pc.is_in(values, value_set=allowed))


def _is_timestamp(spec: FieldSpec) -> bool:
    return spec.json_type is JsonType.TIMESTAMP


@dataclass(frozen=True)
class Rule:
    """One named rule: the fields it applies to, how a batch violates it, and the reason text.

    ``kind`` is the first words of every reason (the landing report counts rejects by it). The
    reason template may use ``{field}``, ``{value}``, ``{event_type}``, ``{allowed}``,
    ``{earliest}``, ``{latest}``, ``{supported}``.
    """

    kind: str
    reason: str
    applies: Callable[[FieldSpec], bool]
    violated: Callable[[RowContext, FieldSpec], Mask]


RULES: tuple[Rule, ...] = (
    Rule(
        "bad JSON",
        "bad JSON: event_type is ambiguous or missing",
        lambda s: s.label == "event_type",
        _wrong_event_type,
    ),
    Rule(
        "empty payload",
        "empty payload: {value} has none of the fields of {event_type}",
        lambda s: s.label == PAYLOAD,
        _empty_payload,
    ),
    Rule(
        "unsupported schema_version",
        "unsupported schema_version {value}: this landing reads {supported}",
        lambda s: s.label == "schema_version",
        _unsupported_version,
    ),
    Rule(
        "missing required field",
        "missing required field {field}",
        lambda s: s.required is not Required.NEVER,
        _missing,
    ),
    Rule("empty id", "empty id: {field} is {value}", lambda s: s.is_id, _empty_id),
    Rule(
        "bad timestamp",
        "bad timestamp: {field} {value} is not a UTC time like 2024-04-11T17:42:05.123456Z",
        _is_timestamp,
        _bad_timestamp,
    ),
    Rule(
        "timestamp out of range",
        "timestamp out of range: {field} {value} is before the dataset's first day {earliest}",
        _is_timestamp,
        _too_early,
    ),
    Rule(
        "timestamp out of range",
        "timestamp out of range: {field} {value} is after {latest}, the last day this landing accepts",
        _is_timestamp,
        _too_late,
    ),
    Rule(
        "not a finite number",
        "not a finite number: {field} is {value}",
        lambda s: s.json_type is JsonType.NUMBER,
        _not_finite,
    ),
    Rule(
        "value outside the contract",
        "value outside the contract: {field} {value} is not one of {allowed}",
        lambda s: s.allowed is not None,
        _outside_enum,
    ),
)
"""Checked rule by rule in this order (each over its fields in contract order); the first violation
of a row gives its one reason."""

REASON_KINDS: tuple[str, ...] = tuple(
    dict.fromkeys(
        ["bad JSON", "body too large", "unknown event_type", "missing required field", "wrong type",
         "conflicting redelivery", *(r.kind for r in RULES)]
    )
)  # fmt: skip
"""Every reason starts with one of these (the counter keys of ``LandingReport.rejected``)."""


def reason_kind(reason: str) -> str:
    for kind in REASON_KINDS:
        if reason.startswith(kind):
            return kind
    return "other"


_SPECS: dict[str, tuple[FieldSpec, ...]] = {name: field_specs(et) for name, et in EVENT_TYPES.items()}
_CHECKS: dict[str, tuple[tuple[Rule, FieldSpec], ...]] = {
    name: tuple((rule, spec) for rule in RULES for spec in specs if rule.applies(spec)) for name, specs in _SPECS.items()
}


# --- evaluation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowVerdicts:
    """The outcome for one parsed batch: which rows violate a rule (with reasons) and the typed
    timestamp columns (null where a row's timestamp is not a valid time)."""

    rows: int
    bad_rows: np.ndarray  # int64 row indices, ascending
    reasons: list[str]
    times: dict[str, WireTimes]  # by column

    @property
    def ok(self) -> np.ndarray:
        mask = np.ones(self.rows, bool)
        mask[self.bad_rows] = False
        return mask


def check_rows(event_type: str, rows: pa.Table, window: TimeWindow, now: datetime) -> RowVerdicts:
    """Apply ``RULES`` to one event type's parsed rows (wire timestamps still as strings)."""
    specs = _SPECS[event_type]
    n = rows.num_rows
    strict = _np(pc.starts_with(rows["schema_version"], "2"))
    times = {s.column: parse_wire_timestamps(rows[s.column]) for s in specs if _is_timestamp(s)}
    payload_columns = tuple(s.column for s in specs if s.label.startswith(f"{PAYLOAD}."))
    ctx = RowContext(event_type, rows, strict, times, payload_columns, window, now)
    first = np.full(n, -1, np.int64)
    checks = _CHECKS[event_type]
    for k, (rule, spec) in enumerate(checks):
        mask = rule.violated(ctx, spec)
        if mask.any():
            mask &= first < 0
            first[mask] = k
    bad_rows = np.flatnonzero(first >= 0)
    reasons = [_reason(checks[int(first[i])], ctx, int(i)) for i in bad_rows]
    return RowVerdicts(n, bad_rows, reasons, times)


def _reason(check: tuple[Rule, FieldSpec], ctx: RowContext, row: int) -> str:
    rule, spec = check
    value = ctx.rows[spec.column][row].as_py()
    text = rule.reason.format(
        field=spec.label,
        value=show_value(value) if spec.json_type is not None else bounded(str(value), VALUE_MAX_CHARS),
        event_type=ctx.event_type,
        allowed=", ".join(spec.allowed or ()),
        earliest=ctx.window.earliest,
        latest=ctx.window.latest or f"{ctx.window.last_day(ctx.now)} (today, UTC)",
        supported=SUPPORTED_SCHEMA_VERSIONS,
    )
    return bounded(text, REASON_MAX_CHARS)


def show_value(value: object) -> str:
    """A value as JSON would spell it (NaN/Infinity as the non-standard literals), bounded."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return bounded(json.dumps(value, ensure_ascii=False), VALUE_MAX_CHARS)


def bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
