"""Small exact array helpers shared by the in-store modules.

``np.bincount(..., weights=...)`` sums in float64; money must stay exact integers (§1.4), so group
sums of cents go through ``sorted_group_sum`` (int64 throughout).
"""

from __future__ import annotations

import numpy as np


def sorted_group_sum(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Exact int64 sum of ``values`` per group id in ``0..n_groups-1`` for ``group`` sorted ascending.

    One ``np.add.reduceat`` over the runs (empty groups sum to 0); unsorted ids are refused rather
    than silently mis-summed.
    """
    values = np.asarray(values, dtype=np.int64)
    group = np.asarray(group, dtype=np.int64)
    out = np.zeros(n_groups, dtype=np.int64)
    if len(group) == 0:
        return out
    if np.any(group[1:] < group[:-1]):
        raise ValueError("sorted_group_sum needs group ids in ascending order")
    starts = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
    out[group[starts]] = np.add.reduceat(values, starts)
    return out


def within_group_rank(group: np.ndarray) -> np.ndarray:
    """0-based position of each row inside its run of equal ``group`` values (rows grouped)."""
    n = len(group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.ones(n, dtype=bool)
    first[1:] = group[1:] != group[:-1]
    idx = np.arange(n)
    return idx - np.maximum.accumulate(np.where(first, idx, 0))


def stable_argsort(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` for integer keys, computed ~4x faster.

    Why: numpy's stable sort of int64 is a timsort, while its plain sort is SIMD-vectorised. With
    the row index packed below the key, ``(key − min) << b | index``, all packed values are unique,
    so the plain sort of them is the stable order; the low ``b`` bits are the permutation. Keys
    whose range does not leave room for the index fall back to the stable argsort.
    """
    keys = np.asarray(keys)
    n = len(keys)
    if n < 2 or keys.dtype.kind not in "iu":
        return np.argsort(keys, kind="stable")
    lo, hi = int(keys.min()), int(keys.max())
    bits = (n - 1).bit_length()
    if (hi - lo).bit_length() + bits > 63:
        return np.argsort(keys, kind="stable")
    packed = (keys.astype(np.int64) - lo) << bits
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    packed &= (1 << bits) - 1
    return packed


def lexsort_ints(keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """``np.lexsort(keys)`` (last key most significant) for integer keys, one ``stable_argsort`` per key."""
    order = stable_argsort(keys[0])
    for k in keys[1:]:
        order = order[stable_argsort(np.asarray(k)[order])]
    return order
