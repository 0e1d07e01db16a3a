"""Arrow key columns as int64 codes, and the integer views the prechecks compute on.

Why a module of its own: uniqueness (``prechecks``), same-day parents, document sums and payments
(``document_prechecks``) all stop hashing strings by turning key columns into small integers
(``column codes``: the varying bytes of fixed-width ids, dictionary indices, integer offsets; several
columns in mixed radix) and then index or radix-sort arrays by code. A code is equal exactly when
the values are equal, so a precheck built on them decides like the SQL it stands in for.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

RADIX_PASSES = 3
"""Most 16-bit digits ``stable_order`` sorts by (keys below 2**48); wider keys take ``argsort``."""


def stable_order(keys: np.ndarray, span: int) -> np.ndarray:
    """A stable sort order of non-negative int64 ``keys`` below ``span``, as a least-significant-digit
    radix sort by 16-bit digits (numpy sorts a 16-bit array stably by radix; a stable ``argsort``
    of int64 is a merge sort, several times slower)."""
    if span > 2 ** (16 * RADIX_PASSES):
        return np.argsort(keys, kind="stable")
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    shift = 16
    while (span - 1) >> shift:
        digit = ((keys[order] >> shift) & 0xFFFF).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
        shift += 16
    return order


RADIX_LIMIT = 2**62
"""Largest product of the columns' code ranges that one int64 key may hold."""

MARKS_PER_ROW = 8
"""``all_distinct`` marks codes in a byte array when the code range is at most this many bytes per
row (sf 1 inventory ids: 630 k codes for 146 k rows); wider ranges are radix-sorted."""


def all_distinct(codes: np.ndarray, span: int) -> bool:
    """Whether the codes (each in ``0..span-1``) are pairwise different, without hashing: a byte per
    possible code, marked, counts the distinct codes when the range is small; otherwise a radix sort
    puts equal codes next to each other (sf 1 receipt lines, 44 M codes for 130 k rows: ≈ 1.5 ms
    against ≈ 4.6 ms for ``pc.unique``)."""
    if span < len(codes):
        return False  # pigeonhole: two rows share a code
    if span <= MARKS_PER_ROW * max(len(codes), 1):
        marks = np.zeros(span, np.bool_)
        marks[codes] = True
        return int(np.count_nonzero(marks)) == len(codes)
    if span <= 2 ** (16 * RADIX_PASSES):
        ordered = codes[stable_order(codes, span)]
        return not bool((ordered[1:] == ordered[:-1]).any())
    return len(pc.unique(pa.array(codes))) == len(codes)


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, int] | None:
    """(codes in 0..n-1, n): equal codes exactly for equal values (strings: their varying bytes or
    their dictionary index, integers: the offset from the smallest); None for another type or a
    range too wide."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        coded = _fixed_width_codes(column)
        if coded is not None:
            return coded
        encoded = pc.dictionary_encode(column.combine_chunks())
        return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), max(len(encoded.dictionary), 1)
    values = int_values(column)
    if values is None or not len(values):
        return None
    low, high = int(values.min()), int(values.max())
    if high - low + 1 > RADIX_LIMIT:
        return None
    return values - low, high - low + 1


def _byte_matrices(column: pa.ChunkedArray) -> list[np.ndarray] | None:
    """The strings of a NULL-free string column as one (rows, width) byte matrix per chunk (views
    of the chunks' data buffers, no copy) when every value has the same byte length; None otherwise."""
    if column.null_count:
        return None
    offset_type = np.int64 if pa.types.is_large_string(column.type) else np.int32
    matrices: list[np.ndarray] = []
    width: int | None = None
    for chunk in column.chunks:
        if not len(chunk):
            continue
        offsets = np.frombuffer(chunk.buffers()[1], dtype=offset_type)[chunk.offset : chunk.offset + len(chunk) + 1]
        lengths = np.diff(offsets)
        width = int(lengths[0]) if width is None else width
        if not bool((lengths == width).all()):
            return None
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8) if width else np.empty(0, np.uint8)
        matrices.append(data[int(offsets[0]) : int(offsets[-1])].reshape(len(chunk), width))
    return matrices


RANGE_BLOCK = 64
"""Rows folded into one long row by ``_byte_ranges``: a min/max down a (rows, width) matrix runs
an inner loop of ``width`` bytes per row, of (rows / 64, 64 × width) one of 64 × width."""


def _byte_ranges(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) byte at each position of a C-contiguous (rows, width) byte matrix."""
    rows, width = matrix.shape
    whole = rows - rows % RANGE_BLOCK
    parts = [matrix[whole:]] if whole < rows else []
    if whole:
        folded = matrix[:whole].reshape(whole // RANGE_BLOCK, RANGE_BLOCK * width)
        parts += [folded.min(axis=0).reshape(RANGE_BLOCK, width), folded.max(axis=0).reshape(RANGE_BLOCK, width)]
    stacked = np.concatenate(parts)
    return stacked.min(axis=0), stacked.max(axis=0)


def _fixed_width_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, int] | None:
    """(codes, span) for strings of one byte length: the bytes that vary between rows, read as the
    digits of a mixed-radix integer (radix: that byte's range), so equal codes are exactly equal
    strings; None for other strings or a range beyond ``RADIX_LIMIT``.

    Why: ids such as ``ITX-S-00045-20240102-0000001`` share most of their bytes; hashing the whole
    strings (``pc.unique``, ``dictionary_encode``) was most of the C5 precheck of the inventory and
    receipt-line tables at scale factor 1, while the few varying digits make one small integer."""
    matrices = _byte_matrices(column)
    if matrices is None:
        return None
    if not matrices or not matrices[0].shape[1]:
        return np.zeros(len(column), np.int64), 1
    ranges = [_byte_ranges(m) for m in matrices]
    low = np.min([r[0] for r in ranges], axis=0)
    high = np.max([r[1] for r in ranges], axis=0)
    varying = np.flatnonzero(low != high)
    radices = [int(high[p]) - int(low[p]) + 1 for p in varying]
    span = 1
    for radix in radices:
        span *= radix
        if span > RADIX_LIMIT:
            return None
    parts = []
    for matrix in matrices:
        codes = np.zeros(len(matrix), np.int64)
        for position, radix in zip(varying, radices, strict=True):
            codes *= radix
            codes += matrix[:, position]
            codes -= int(low[position])
        parts.append(codes)
    return (parts[0] if len(parts) == 1 else np.concatenate(parts)), span


def mixed_radix(keys: pa.Table) -> tuple[np.ndarray, int] | None:
    """The key columns as ONE int64 per row (mixed radix of their codes), equal exactly when every
    column is equal, and the range of those integers; None when a column is neither string nor
    integer or the codes do not fit.

    Why: two or three columns (receipt id and line number) hashed as one integer, after a dictionary
    encoding of the string column, took a third of the CPU of DuckDB's grouping in the table's
    statement (receipt lines at scale factor 1: ≈ 9 ms against ≈ 20 ms) and less than half of an Arrow
    group-by of the columns."""
    combined: np.ndarray | None = None
    span = 1
    for column in keys.columns:
        coded = _codes(column)
        if coded is None:
            return None
        codes, n = coded
        span *= n
        if span > RADIX_LIMIT:
            return None
        combined = codes if combined is None else combined * n + codes
    return None if combined is None else (combined, span)


def int_values(column: pa.ChunkedArray) -> np.ndarray | None:
    """The values of a 64-bit-or-narrower integer column without NULLs as int64; None otherwise."""
    if not pa.types.is_integer(column.type) or column.null_count:
        return None
    if pa.types.is_uint64(column.type):
        return None  # may not fit int64
    if column.num_chunks == 0:
        return np.empty(0, np.int64)
    return np.concatenate([c.to_numpy() for c in column.chunks]).astype(np.int64, copy=False)


def bounded(values: np.ndarray, limit: int) -> bool:
    """Whether every value lies strictly between ``-limit`` and ``limit`` (so sums and products of
    them stay exact in the arithmetic a precheck uses)."""
    return not len(values) or (int(values.min()) > -limit and int(values.max()) < limit)


# --- the keys of two tables in one code space (a child and its parent, documents and payments) ---


def code_together(
    left: list[pa.ChunkedArray], right: list[pa.ChunkedArray]
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Key tuples of two tables (NULL-free columns, pairwise of one type) as int64 codes in
    ``0..span-1``, equal exactly for equal tuples across both tables (``span`` at most
    ``MARKS_PER_ROW`` per row); None when they cannot be coded (a type ``_codes`` does not take).

    Why: the rows of both sides coded together (``_codes`` of each column over both tables) let
    the prechecks index arrays by key instead of hashing strings, as DuckDB's joins did."""
    if len(left) != len(right) or any(a.type != b.type for a, b in zip(left, right, strict=True)):
        return None
    n = len(left[0]) if left else 0
    columns = [pa.chunked_array(a.chunks + b.chunks, a.type) for a, b in zip(left, right, strict=True)]
    both = pa.table(columns, names=[f"k{i}" for i in range(len(columns))])
    combined = mixed_radix(both)
    if combined is None:
        return None
    codes, span = _compact(*combined)
    return codes[:n], codes[n:], span


_JOINT: OrderedDict[tuple, tuple[pa.Table, pa.Table, tuple | None]] = OrderedDict()
"""Joint codes of the last few (child keys, parent keys) pairs: a table's same-day parent and its
document-sum rule code the same key of the same two tables (receipt lines and receipts)."""


def joint_codes(left: pa.Table, right: pa.Table) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``code_together`` of two key tables, memoised by the memory their columns view (a ``select``
    of the same columns is a new table over the same buffers; the entry holds the tables, so their
    buffers stay allocated and an address cannot be reused for other data while it is cached)."""
    parts: list[tuple] = [(left.num_columns, left.num_rows), (right.num_columns, right.num_rows)]
    for column in (*left.columns, *right.columns):
        parts.append((str(column.type), column.num_chunks))
        for chunk in column.chunks:
            parts.append((chunk.offset, len(chunk), *(b.address if b is not None else 0 for b in chunk.buffers())))
    key = tuple(parts)
    hit = _JOINT.get(key)
    if hit is not None:
        _JOINT.move_to_end(key)
        return hit[2]
    coded = code_together(list(left.columns), list(right.columns))
    _JOINT[key] = (left, right, coded)
    while len(_JOINT) > 4:
        _JOINT.popitem(last=False)
    return coded


def _compact(codes: np.ndarray, span: int) -> tuple[np.ndarray, int]:
    """The codes renumbered densely (0..distinct-1, order kept) when their range is more than
    ``MARKS_PER_ROW`` per row, so arrays indexed by code stay small (two-column keys: receipt id
    and line number span ~27 M codes for ~140 k rows at scale factor 1)."""
    if not len(codes) or span <= MARKS_PER_ROW * len(codes):
        return codes, span
    order = stable_order(codes, span)
    ordered = codes[order]
    rank = np.empty(len(codes), np.int64)
    rank[order] = np.concatenate(([0], np.cumsum(ordered[1:] != ordered[:-1])))
    return rank, int(rank[order[-1]]) + 1
