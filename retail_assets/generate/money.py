"""Exact integer money (contract §1.4): rounding, tax and cents -> DECIMAL columns.

Why integers: a binary double cannot hold most cent amounts exactly (``1.265 * 100`` is
``126.49999999999999``), so every amount lives in an int64 numpy array of cents (or of
ten-thousandths for marketing ``cost``) and every division is a ``round_half_away`` on integers.
The DECIMAL column is then just a view of that integer with a scale, built without any float.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

#: tax rates are carried as ``tax_rate × 100000`` (DECIMAL(7,5) unscaled)
TAX_RATE_SCALE = 100_000
#: ``2k`` per taxability (k = 1, 0.5, 0), so ``tax = net × r × k2 / 200000`` stays integral (§7.4)
TAX_K2 = {"TAXABLE": 2, "REDUCED_RATE": 1, "NON_TAXABLE": 0}


def round_half_away(n: np.ndarray | int, d: np.ndarray | int) -> np.ndarray:
    """``round(n / d)`` half away from zero, exactly, for int64 ``n`` and ``d > 0``.

    ``sign(n) × floor((2|n| + d) / (2d))`` — the vectorised form of Python
    ``Decimal(n / d).quantize(1, ROUND_HALF_UP)``.
    """
    n = np.asarray(n, dtype=np.int64)
    d = np.asarray(d, dtype=np.int64)
    if np.any(d <= 0):
        raise ValueError("round_half_away needs a positive divisor d")
    q = (2 * np.abs(n) + d) // (2 * d)
    return np.where(n < 0, -q, q).astype(np.int64)


def tax_cents(net_cents: np.ndarray, rate_1e5: np.ndarray | int, k2: np.ndarray | int) -> np.ndarray:
    """Line tax of §7.4: ``round_half_away(net × r × k2 / 200000)``, r = tax_rate × 100000."""
    net = np.asarray(net_cents, dtype=np.int64)
    return round_half_away(
        net * np.asarray(rate_1e5, dtype=np.int64) * np.asarray(k2, dtype=np.int64), 2 * TAX_RATE_SCALE
    )


def percent_of(cents: np.ndarray, pct: np.ndarray | int) -> np.ndarray:
    """``round(cents × pct / 100)`` half away from zero (percentage discounts)."""
    return round_half_away(np.asarray(cents, dtype=np.int64) * np.asarray(pct, dtype=np.int64), 100)


def decimal_array(
    unscaled: np.ndarray, precision: int = 18, scale: int = 2, mask: np.ndarray | None = None
) -> pa.Array:
    """A decimal128(precision, scale) Arrow array whose unscaled values are ``unscaled`` (int64).

    Built from raw 128-bit little-endian two's-complement words, so no float and no per-row
    Python ``Decimal`` is involved: ``decimal_array([12345])`` is ``123.45``. ``mask`` (True = null)
    makes nullable columns.
    """
    v = np.ascontiguousarray(np.asarray(unscaled, dtype=np.int64))
    words = np.empty((len(v), 2), dtype=np.int64)
    words[:, 0] = v
    words[:, 1] = v >> 63  # sign extension of the high word
    validity = None
    null_count = 0
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        null_count = int(m.sum())
        if null_count:
            validity = pa.array(~m).buffers()[1]
    return pa.Array.from_buffers(
        pa.decimal128(precision, scale),
        len(v),
        [validity, pa.py_buffer(words.tobytes())],
        null_count=null_count,
    )


def cents_to_decimal(cents: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """DECIMAL(18,2) dollars from int64 cents (``cents / 100`` exactly)."""
    return decimal_array(cents, 18, 2, mask)


def decimal_unscaled(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The unscaled int64 of a decimal128 column (values must fit in int64), e.g. cents of DECIMAL(18,2)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    raw = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset * 2 : (arr.offset + len(arr)) * 2]
    return raw[0::2].copy()
