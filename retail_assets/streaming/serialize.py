"""Canonical JSON text of event fields, one Arrow column at a time (contract §5.2).

Why vectorised text building instead of ``json.dumps`` per row: a scale-factor-1 day has about a
million events and the streaming path must enqueue them in a second or two. Every value kind of the
contract has a fixed textual form, so each field becomes a string column and an event body is an
element-wise concatenation of literal keys and value columns, done in Arrow's C++ kernels.

Forms (§1.3, §5.2): strings JSON-quoted; integers in decimal; money as the shortest decimal that
round-trips the IEEE double nearest to the DECIMAL value — for DECIMAL(18,2)/(18,4) values with at
most 15 significant digits that is the decimal itself with trailing zeros removed (``4.40`` →
``4.4``, ``0.00`` → ``0.0``, never ``-0.0``), exactly what Python's ``repr(float(x))`` prints;
timestamps as ``"YYYY-MM-DDTHH:MM:SS.ffffffZ"``; absent values as ``null``.

Fixed-width texts (timestamps, uuids) are written straight into a byte matrix with numpy — Arrow's
``strftime`` and string slicing cost about a microsecond a row, the matrix a few nanoseconds.
"""

from __future__ import annotations

import json
import threading
import uuid

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Arr = pa.Array | pa.ChunkedArray
Part = Arr | str
"""A piece of an event body: an encoded value column, or literal JSON text shared by every row."""

NULL_TEXT = "null"
WIRE_TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # Arrow's %S prints the 6 fraction digits of a µs timestamp
_CONTROL = r"[\x00-\x1f]"

_NEEDS_ESCAPE = np.zeros(256, dtype=bool)
_NEEDS_ESCAPE[:0x20] = True
_NEEDS_ESCAPE[[ord('"'), ord("\\")]] = True
"""Bytes that JSON forbids unescaped inside a string; UTF-8 multi-byte sequences are never among them."""

_MAX_MATRIX_BYTES = 2**31 - 1  # int32 offsets of pa.string()


def _fill(text: Arr) -> Arr:
    return pc.fill_null(text, NULL_TEXT)


def _single(values: Arr) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _text_bytes(values: pa.Array) -> np.ndarray:
    """The UTF-8 bytes that ``values`` (``pa.string()``) spans, without a copy."""
    if len(values) == 0:
        return np.empty(0, dtype=np.uint8)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32, count=len(values) + 1, offset=values.offset * 4)
    data = values.buffers()[2]
    if data is None:
        return np.empty(0, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]


def needs_escape(values: Arr) -> bool:
    """True when some string holds a quote, a backslash or a control character."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    return any(_NEEDS_ESCAPE[_text_bytes(c)].any() for c in chunks)


def _strings_from_matrix(matrix: np.ndarray, validity: pa.Array | None = None) -> pa.Array:
    """Rows of an (n, width) uint8 matrix as an Arrow string array (null where ``validity`` is False)."""
    n, width = matrix.shape
    if n * width > _MAX_MATRIX_BYTES:
        raise ValueError(f"{n} texts of {width} bytes exceed one Arrow string array; build the day in parts.")
    offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    data = pa.py_buffer(np.ascontiguousarray(matrix))
    bitmap, null_count = None, 0
    if validity is not None:
        mask = pc.fill_null(validity, False).to_numpy(zero_copy_only=False)
        null_count = n - int(np.count_nonzero(mask))
        if null_count:
            bitmap = pa.array(mask, pa.bool_()).buffers()[1]
    return pa.StringArray.from_buffers(n, offsets, data, bitmap, null_count)


def _put_digits(out: np.ndarray, start: int, width: int, values: np.ndarray) -> None:
    for k in range(width):
        out[:, start + k] = (values // 10 ** (width - 1 - k)) % 10 + ord("0")


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01, proleptic Gregorian (H. Hinnant's algorithm)."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


_WIRE_TS_WIDTH = len("2024-01-02T10:32:53.670366Z")


def _wire_ts_matrix(values: pa.Array, quoted: bool) -> np.ndarray | None:
    """Wire texts of µs timestamps as a byte matrix, or None when a year has no 4-digit form."""
    us = values.cast(pa.int64()).fill_null(0).to_numpy()
    days, in_day = np.divmod(us, 86_400_000_000)
    year, month, day = _civil(days)
    if len(year) and (year.min() < 1000 or year.max() > 9999):
        return None  # strftime's %Y prints other widths there; let Arrow do it
    q = 1 if quoted else 0
    out = np.empty((len(us), _WIRE_TS_WIDTH + 2 * q), dtype=np.uint8)
    if quoted:
        out[:, 0] = out[:, -1] = ord('"')
    seconds, micros = np.divmod(in_day, 1_000_000)
    for pos, width, part in (
        (0, 4, year),
        (5, 2, month),
        (8, 2, day),
        (11, 2, seconds // 3600),
        (14, 2, seconds // 60 % 60),
        (17, 2, seconds % 60),
        (20, 6, micros),
    ):
        _put_digits(out, q + pos, width, part)
    for pos, char in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "."), (26, "Z")):
        out[:, q + pos] = ord(char)
    return out


def _is_utc(type_: pa.DataType) -> bool:
    return pa.types.is_timestamp(type_) and type_.tz in (None, "UTC", "+00:00", "Z", "Etc/UTC")


def _format_ts(values: Arr, quoted: bool) -> Arr:
    if pa.types.is_timestamp(values.type) and values.type.unit != "us":
        values = pc.cast(values, pa.timestamp("us", tz="UTC"))
    if _is_utc(values.type):
        arr = _single(values)
        matrix = _wire_ts_matrix(arr, quoted)
        if matrix is not None:
            return _strings_from_matrix(matrix, pc.is_valid(arr) if arr.null_count else None)
    text = pc.strftime(values, format=WIRE_TS_FORMAT)
    return pc.binary_join_element_wise('"', text, '"', "") if quoted else text


def wire_ts(values: Arr) -> Arr:
    """Timestamps (µs, UTC) as wire strings without quotes (nulls stay null)."""
    return _format_ts(values, quoted=False)


def json_string(values: Arr) -> Arr:
    """JSON string literals. Identifiers and enums are plain ASCII; anything needing more than
    quote/backslash escaping (control characters, rare) is escaped by the json module."""
    values = pc.cast(values, pa.string())
    if not needs_escape(values):
        return _fill(pc.binary_join_element_wise('"', values, '"', ""))
    escaped = pc.replace_substring(values, "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    if pc.any(pc.match_substring_regex(values, _CONTROL)).as_py():
        quoted = pa.array(
            [None if v is None else json.dumps(v, ensure_ascii=False) for v in values.to_pylist()],
            pa.string(),
        )
    return _fill(quoted)


def json_string_parts(values: Arr) -> list[Part]:
    """A JSON string field as body parts: ``['"', values, '"']`` when the column needs neither
    escaping nor ``null`` (most ids), so the quotes merge into the neighbouring literal text and the
    column is never copied just to quote it; else the one encoded column."""
    values = pc.cast(values, pa.string())
    if values.null_count == 0 and not needs_escape(values):
        return ['"', values, '"']
    return [json_string(values)]


def json_literal(value: str | None) -> str:
    """The JSON text of a value every row shares (an event type name, a schema version, …)."""
    return json.dumps(value, ensure_ascii=False)


def json_int(values: Arr) -> Arr:
    return _fill(pc.cast(pc.cast(values, pa.int64()), pa.string()))


def money_text(values: Arr) -> Arr:
    """Shortest round-trip text of DECIMAL money (= ``repr(float(x))``), nulls stay null."""
    if not pa.types.is_decimal(values.type):
        raise TypeError(
            f"money must be a DECIMAL column (got {values.type}); doubles cannot give exact cents (§1.4)."
        )
    text = pc.cast(values, pa.string())
    text = pc.replace_substring_regex(text, r"(\.\d*?)0+$", r"\1")
    return pc.replace_substring_regex(text, r"\.$", ".0")


def json_money(values: Arr) -> Arr:
    return _fill(money_text(values))


def json_ts(values: Arr) -> Arr:
    return _fill(_format_ts(values, quoted=True))


def json_int_list(values: Arr) -> Arr:
    """``list<int64>`` as ``[1,2,3]``."""
    joined = pc.binary_join(pc.cast(values, pa.list_(pa.string())), ",")
    return _fill(pc.binary_join_element_wise("[", joined, "]", ""))


def object_parts(keys: list[str], values: list[Part | list[Part]]) -> list[Part]:
    """Parts of ``{"k1":v1,"k2":v2,...}``; a value is an encoded column, literal JSON text, or a
    list of parts (a nested object, a string whose quotes are literal parts)."""
    parts: list[Part] = []
    for i, (key, value) in enumerate(zip(keys, values, strict=True)):
        parts.append(("{" if i == 0 else ",") + json.dumps(key) + ":")
        parts.extend(value if isinstance(value, list) else [value])
    parts.append("}")
    return parts


def join_parts(parts: list[Part]) -> Arr:
    """Element-wise concatenation of parts (no nulls allowed), adjacent literals merged first so
    Arrow's kernel walks as few arguments per row as possible."""
    merged: list[Part] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    if all(isinstance(p, str) for p in merged):
        raise ValueError("join_parts needs at least one column")
    return pc.binary_join_element_wise(*merged, "")


def json_object(keys: list[str], texts: list[Part | list[Part]]) -> Arr:
    """``{"k1":v1,"k2":v2,...}`` from already-encoded value texts (no nulls allowed)."""
    return join_parts(object_parts(keys, texts))


_VARIANT = np.frombuffer(b"89ab" * 4, dtype=np.uint8)
_HEX_VALUE = np.zeros(256, dtype=np.uint8)
_HEX_VALUE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)
_SHA1_HEX_WIDTH = 40
_local = threading.local()


def _duckdb() -> duckdb.DuckDBPyConnection:
    """One in-memory connection per thread (a day hashes in ~40 calls; connecting costs ~15 ms)."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
        con.execute("SET preserve_insertion_order = true")
    return con


def _sha1_hex(namespace: uuid.UUID, names: pa.Array) -> pa.Array:
    """Hex sha1 of namespace bytes + UTF-8 name, by DuckDB's vectorised sha1 (names without nulls)."""
    tbl = pa.table({"n": pc.cast(names, pa.binary())})
    con = _duckdb()
    con.register("__uuid5_names", tbl)
    try:
        out = con.sql("SELECT sha1($ns::BLOB || n) AS d FROM __uuid5_names", params={"ns": namespace.bytes})
        return _single(out.to_arrow_table().column("d"))
    finally:
        con.unregister("__uuid5_names")


def _uuid5_from_sha1_hex(hexes: pa.Array) -> pa.Array:
    """uuid5 text from sha1 hex digests: first 32 hex digits, version nibble 5, variant bits ``10``."""
    digest = _text_bytes(hexes)
    if digest.size != len(hexes) * _SHA1_HEX_WIDTH:
        raise ValueError("sha1 digests are not all 40 hex digits; DuckDB's sha1 changed its output form")
    h = digest.reshape(len(hexes), _SHA1_HEX_WIDTH)
    out = np.empty((len(hexes), 36), dtype=np.uint8)
    out[:, 0:8] = h[:, 0:8]
    out[:, 9:13] = h[:, 8:12]
    out[:, 14] = ord("5")
    out[:, 15:18] = h[:, 13:16]
    out[:, 19] = _VARIANT[_HEX_VALUE[h[:, 16]]]
    out[:, 20:23] = h[:, 17:20]
    out[:, 24:36] = h[:, 20:32]
    out[:, [8, 13, 18, 23]] = ord("-")
    return _strings_from_matrix(out)


def _hash_valid(namespace: uuid.UUID, names: pa.Array) -> pa.Array:
    """uuid5 text of the non-null names, null where the name is null (those are not hashed)."""
    if names.null_count == 0:
        return _uuid5_from_sha1_hex(_sha1_hex(namespace, names)) if len(names) else pa.array([], pa.string())
    valid = pc.is_valid(names).to_numpy(zero_copy_only=False)
    present = names.filter(pa.array(valid))
    hashed = _hash_valid(namespace, present)
    slot = pa.array(np.cumsum(valid) - 1, pa.int64(), mask=~valid)
    return hashed.take(slot)


def uuid5_column(namespace: uuid.UUID, names: Arr, *, repeated: bool = False) -> pa.Array:
    """``str(uuid.uuid5(namespace, name))`` for every name (null in → null out, nulls not hashed).

    Hashing is DuckDB's vectorised sha1; the uuid text is then cut from the hex digest in a byte
    matrix. ``repeated``: the names repeat a lot (every line of a receipt has the receipt's event as
    parent), so each distinct name is hashed once — not worth its hash table for unique names.
    """
    names = _single(pc.cast(names, pa.string()))
    if not repeated:
        return _hash_valid(namespace, names)
    encoded = pc.dictionary_encode(names)
    return _hash_valid(namespace, encoded.dictionary).take(encoded.indices)
