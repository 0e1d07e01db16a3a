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
"""

from __future__ import annotations

import json
import uuid

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

NULL_TEXT = "null"
WIRE_TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # Arrow's %S prints the 6 fraction digits of a µs timestamp
_CONTROL = r"[\x00-\x1f]"


def _fill(text: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return pc.fill_null(text, NULL_TEXT)


def wire_ts(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Timestamps (µs, UTC) as wire strings without quotes (nulls stay null)."""
    if pa.types.is_timestamp(values.type) and values.type.unit != "us":
        values = pc.cast(values, pa.timestamp("us", tz="UTC"))
    return pc.strftime(values, format=WIRE_TS_FORMAT)


def json_string(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """JSON string literals. Identifiers and enums are plain ASCII; anything needing more than
    quote/backslash escaping (control characters, rare) is escaped by the json module."""
    values = pc.cast(values, pa.string())
    escaped = pc.replace_substring(values, "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    if pc.any(pc.match_substring_regex(values, _CONTROL)).as_py():
        quoted = pa.array(
            [None if v is None else json.dumps(v, ensure_ascii=False) for v in values.to_pylist()],
            pa.string(),
        )
    return _fill(quoted)


def json_int(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return _fill(pc.cast(pc.cast(values, pa.int64()), pa.string()))


def money_text(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Shortest round-trip text of DECIMAL money (= ``repr(float(x))``), nulls stay null."""
    if not pa.types.is_decimal(values.type):
        raise TypeError(
            f"money must be a DECIMAL column (got {values.type}); doubles cannot give exact cents (§1.4)."
        )
    text = pc.cast(values, pa.string())
    text = pc.replace_substring_regex(text, r"(\.\d*?)0+$", r"\1")
    return pc.replace_substring_regex(text, r"\.$", ".0")


def json_money(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return _fill(money_text(values))


def json_ts(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return _fill(pc.binary_join_element_wise('"', wire_ts(values), '"', ""))


def json_int_list(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``list<int64>`` as ``[1,2,3]``."""
    joined = pc.binary_join(pc.cast(values, pa.list_(pa.string())), ",")
    return _fill(pc.binary_join_element_wise("[", joined, "]", ""))


def json_object(keys: list[str], texts: list[pa.Array | pa.ChunkedArray | str]) -> pa.Array | pa.ChunkedArray:
    """``{"k1":v1,"k2":v2,...}`` from already-encoded value texts (no nulls allowed)."""
    parts: list[pa.Array | pa.ChunkedArray | str] = []
    for i, (key, text) in enumerate(zip(keys, texts, strict=True)):
        parts.append(("{" if i == 0 else ",") + json.dumps(key) + ":")
        parts.append(text)
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


def uuid5_column(namespace: uuid.UUID, names: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``str(uuid.uuid5(namespace, name))`` for every name, computed by DuckDB's vectorised sha1.

    uuid5 = first 16 bytes of sha1(namespace bytes + UTF-8 name) with the version nibble set to 5
    and the RFC 4122 variant bits ``10``; done as string surgery on the hex digest.
    """
    if isinstance(names, pa.ChunkedArray):
        names = names.combine_chunks()
    tbl = pa.table({"n": pc.cast(names, pa.string())})
    sql = """
        WITH h AS (SELECT sha1($ns::BLOB || n::BLOB) AS d FROM tbl)
        SELECT substr(d, 1, 8) || '-' || substr(d, 9, 4) || '-5' || substr(d, 14, 3) || '-'
            || translate(substr(d, 17, 1), '0123456789abcdef', '89ab89ab89ab89ab')
            || substr(d, 18, 3) || '-' || substr(d, 21, 12) AS u
        FROM h
    """
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        con.register("tbl", tbl)
        out = con.sql(sql, params={"ns": namespace.bytes}).to_arrow_table().column("u")
    finally:
        con.close()
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out
