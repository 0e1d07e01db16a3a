"""Prechecks: prove a passing rule holds on the Arrow data, without running its SQL.

Why: a DuckDB subquery costs a few ms of planning and scheduling even on a hundred rows, and most
rules pass on most days. Primary-key uniqueness (one hash grouping of the key columns) and
dimension references (a hash-set lookup against the cached dimension keys) are answered by Arrow
kernels in a fraction of that. A precheck only ever says "holds" or "cannot tell": when it
cannot tell, the rule's query runs and produces the usual count and sample of offending keys.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.silver.rules.kinds import KeysIn, KeysUnique, Precheck


def holds(precheck: Precheck, data: pa.Table, relations: Mapping[str, pa.Table]) -> bool:
    """True when ``precheck`` proves its rule holds on ``data``; False means "run the rule"."""
    try:
        if isinstance(precheck, KeysUnique):
            return _keys_unique(data, precheck.columns)
        if isinstance(precheck, KeysIn):
            reference = relations.get(precheck.relation)
            if reference is None:
                return False
            return _keys_in(data.column(precheck.column), reference, precheck.key)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, KeyError):
        return False  # e.g. a type the kernel does not hash: let the SQL decide
    raise TypeError(f"unknown precheck {precheck!r}")


def _keys_unique(data: pa.Table, columns: tuple[str, ...]) -> bool:
    if data.num_rows < 2:
        return True
    groups = data.select(list(columns)).group_by(list(columns), use_threads=False).aggregate([])
    return groups.num_rows == data.num_rows


_SORTED_KEYS: OrderedDict[tuple[int, str], tuple[pa.Table, np.ndarray]] = OrderedDict()
"""Sorted integer keys per reference table and column (the reference cache hands out one table
object per Delta version): hashing 120 k customer ids again for every fact table cost more than
the SQL it replaces; a binary search in a sorted copy made once does not."""


def _sorted_int_keys(reference: pa.Table, key: str) -> np.ndarray:
    hit = _SORTED_KEYS.get((id(reference), key))
    if hit is not None and hit[0] is reference:
        return hit[1]
    ordered = np.sort(pc.drop_null(reference.column(key)).to_numpy())
    _SORTED_KEYS[(id(reference), key)] = (reference, ordered)  # holding it keeps its id from reuse
    while len(_SORTED_KEYS) > 16:
        _SORTED_KEYS.popitem(last=False)
    return ordered


def _keys_in(values: pa.ChunkedArray, reference: pa.Table, key: str) -> bool:
    present = pc.drop_null(values)
    if len(present) == 0:
        return True
    keys = reference.column(key)
    if pa.types.is_integer(present.type) and keys.type == present.type:
        ordered = _sorted_int_keys(reference, key)
        if not len(ordered):
            return False
        wanted = present.to_numpy()
        at = np.minimum(np.searchsorted(ordered, wanted), len(ordered) - 1)
        return bool(np.all(ordered[at] == wanted))
    if keys.type != present.type:
        keys = keys.cast(present.type)
    return bool(pc.all(pc.is_in(present, value_set=keys.combine_chunks())).as_py())
