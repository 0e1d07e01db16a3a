"""Prechecks: prove a passing rule holds on the Arrow data, without running its SQL.

Why: a DuckDB subquery costs a few ms of planning and scheduling even on a hundred rows, and most
rules pass on most days. Dimension references (a binary search in the cached sorted dimension
keys), the cents of 2-decimal money (the decimal's unscaled integer is the cents) and the inventory
balance chain (one sort of the day's rows, then vectorised comparisons; a DuckDB window partitioned
by location and product was the most expensive rule) and the stockout spacing (C10: a sort of the
day's few stockouts and a binary search in D−1's state, where the SQL hashed the whole state) are
answered on the Arrow buffers in a fraction of that, and so is primary-key uniqueness at any size
(the distinct values of one column, or of several combined into one integer per row: an Arrow
grouping of several columns had lost to DuckDB's hash aggregate, the combined integer does not). A precheck
only ever says "holds" or "cannot tell": when it cannot tell, the rule's query runs and produces the
usual count and sample of offending keys.

Ids such as ``RCP-20240102-00054-000001`` have one byte length and differ in a few digits, so the
varying bytes make a small integer code (``_fixed_width_codes``): uniqueness, same-day parents,
document sums and payments against their documents then index arrays by code (the ids of both
tables coded together) instead of hashing strings; when every rule of a table is proven, its
statement is not run at all, which is where most of the saving is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.silver.rules.kinds import (
    BalanceWalk,
    CentsOf,
    DocumentSums,
    EventDay,
    InSet,
    KeysIn,
    KeysInByType,
    KeysInParent,
    NotBelow,
    PaidDocuments,
    Precheck,
    ProductOf,
    StockoutSpacing,
    SumOf,
    UniqueKey,
)


def holds(
    precheck: Precheck, data: pa.Table, relations: Mapping[str, pa.Table], day: date | None = None
) -> bool:
    """True when ``precheck`` proves its rule holds on ``data``; False means "run the rule".

    ``day``: the day being checked (``EventDay`` cannot tell without it).
    """
    try:
        if isinstance(precheck, EventDay):
            return day is not None and _event_day(data, day)
        if isinstance(precheck, InSet):
            return _in_set(data.column(precheck.column), precheck.values)
        if isinstance(precheck, NotBelow):
            return _not_below(data.column(precheck.column), precheck.bound)
        if isinstance(precheck, SumOf):
            return _sum_of(data, precheck)
        if isinstance(precheck, ProductOf):
            return _product_of(data, precheck)
        if isinstance(precheck, UniqueKey):
            return _unique_key(data, precheck)
        if isinstance(precheck, BalanceWalk):
            state = relations.get(precheck.state)
            return state is not None and _balance_walk(data, state, precheck)
        if isinstance(precheck, StockoutSpacing):
            state = relations.get(precheck.state)
            return state is not None and _stockout_spacing(data, state, precheck)
        if isinstance(precheck, CentsOf):
            return _cents_of(data.column(precheck.money), data.column(precheck.cents), precheck.scale)
        if isinstance(precheck, KeysIn):
            reference = relations.get(precheck.relation)
            if reference is None:
                return False
            return _keys_in(data.column(precheck.column), reference, precheck.key)
        if isinstance(precheck, KeysInByType):
            return _keys_in_by_type(data, relations, precheck)
        if isinstance(precheck, KeysInParent):
            parent = relations.get(precheck.relation)
            return parent is not None and day is not None and _keys_in_parent(data, parent, precheck, day)
        if isinstance(precheck, PaidDocuments):
            return _paid_documents(data, relations, precheck)
        if isinstance(precheck, DocumentSums):
            documents = relations.get(precheck.relation)
            return documents is not None and _document_sums(data, documents, precheck)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, KeyError):
        return False  # e.g. a type the kernel does not hash: let the SQL decide
    raise TypeError(f"unknown precheck {precheck!r}")


def _unscaled(money: pa.ChunkedArray) -> np.ndarray | None:
    """The unscaled integers of a decimal128 column (None when one does not fit in 64 bits).

    A decimal128 value is a 16-byte little-endian two's complement integer; when the high word is
    the sign extension of the low word, the low word is the value.
    """
    parts = []
    for chunk in money.chunks:
        words = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[2 * chunk.offset : 2 * (chunk.offset + len(chunk))]
        low, high = words[0::2], words[1::2]
        if not np.array_equal(high, low >> 63):
            return None
        parts.append(low)
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def _cents_of(money: pa.ChunkedArray, cents: pa.ChunkedArray, scale: int) -> bool:
    if not pa.types.is_decimal128(money.type) or money.type.scale != scale or scale > 2:
        return False
    if money.null_count or cents.null_count or not pa.types.is_int64(cents.type):
        return False  # NULL is a violation: let the SQL count it
    unscaled = _unscaled(money)
    if unscaled is None:
        return False
    wanted = unscaled * (10 ** (2 - scale))
    got = np.concatenate([c.to_numpy() for c in cents.chunks]) if cents.num_chunks else np.empty(0, np.int64)
    return bool(np.array_equal(wanted, got))


_WALKS: OrderedDict[int, tuple[pa.Table, dict | None]] = OrderedDict()
"""The sorted walk of a day's inventory rows, shared by the chain and end prechecks of one table."""

WALK_COLUMNS = ("product_id", "event_ts", "txn_id_ext", "quantity", "balance_after")


def _walk(data: pa.Table, location_col: str) -> dict | None:
    """Columns of ``data`` sorted by (location, product, event_ts, txn_id_ext) as numpy arrays,
    with ``same`` (row i+1 continues row i's location and product); None when the order is not
    total (a NULL or a tie on all four keys leaves the SQL's order undecided) or a value is NULL."""
    hit = _WALKS.get(id(data))
    if hit is not None and hit[0] is data:
        return hit[1]
    walk: dict | None = None
    cols = data.select([location_col, *WALK_COLUMNS])
    if not any(c.null_count for c in cols.columns):
        walk = _walk_by_integers(cols, location_col)
    if walk is None and not any(c.null_count for c in cols.columns):
        keys = [location_col, "product_id", "event_ts", "txn_id_ext"]
        sorted_ = cols.take(pc.sort_indices(cols, [(k, "ascending") for k in keys]))
        loc = sorted_.column(location_col).to_numpy()
        product = sorted_.column("product_id").to_numpy()
        ts = pc.cast(sorted_.column("event_ts"), pa.int64()).to_numpy()
        txn = sorted_.column("txn_id_ext")
        same = (loc[1:] == loc[:-1]) & (product[1:] == product[:-1])
        tie = same & (ts[1:] == ts[:-1]) & pc.equal(txn[1:], txn[:-1]).to_numpy(zero_copy_only=False)
        if not tie.any():
            walk = {
                "loc": loc,
                "product": product,
                "quantity": sorted_.column("quantity").to_numpy(),
                "balance": sorted_.column("balance_after").to_numpy(),
                "same": same,
            }
    _WALKS[id(data)] = (data, walk)
    while len(_WALKS) > 4:
        _WALKS.popitem(last=False)
    return walk


def _walk_by_integers(cols: pa.Table, location_col: str) -> dict | None:
    """The walk of ``_walk`` sorted by (location, product, event_ts) as integers only; None when
    two rows of one location and product share an ``event_ts`` (their order would then come from
    ``txn_id_ext``: the string sort of ``_walk`` decides) or an id does not fit the combined key.

    Why: the Arrow sort on four keys, one of them a string, was most of the inventory checks at
    scale factor 1; one ``lexsort`` of two int64 keys is about twice as fast, and with no equal
    (location, product, event_ts) the order is exactly the SQL's ORDER BY of all four keys. The
    built rows usually come in ``event_ts`` order already: then a stable radix sort of the dense
    (location, product) code alone yields the same order again about three times faster."""
    if not pa.types.is_timestamp(cols.schema.field("event_ts").type):
        return None
    loc = cols.column(location_col).to_numpy()
    product = cols.column("product_id").to_numpy()
    combined = _combined(loc, product)
    if combined is None:
        return None
    ts = pc.cast(cols.column("event_ts"), pa.int64()).to_numpy()
    order = _order_by_key_then_time(loc, product, ts)
    if order is None:
        order = np.lexsort((ts, combined))
    combined, ts = combined[order], ts[order]
    same = combined[1:] == combined[:-1]
    if (same & (ts[1:] == ts[:-1])).any():
        return None
    return {
        "loc": loc[order],
        "product": product[order],
        "quantity": cols.column("quantity").to_numpy()[order],
        "balance": cols.column("balance_after").to_numpy()[order],
        "same": same,
    }


RADIX_PASSES = 3
"""Most 16-bit digits ``_stable_order`` sorts by (keys below 2**48); wider keys take ``argsort``."""


def _order_by_key_then_time(loc: np.ndarray, product: np.ndarray, ts: np.ndarray) -> np.ndarray | None:
    """The row order by (location, product, ts) when the rows are already in ``ts`` order (a stable
    sort by the key alone then keeps each key's rows in time order); None when they are not."""
    if len(ts) < 2 or not bool((ts[1:] >= ts[:-1]).all()):
        return None
    loc, product = loc.astype(np.int64, copy=False), product.astype(np.int64, copy=False)
    loc_low, product_low = int(loc.min()), int(product.min())
    product_span = int(product.max()) - product_low + 1
    span = (int(loc.max()) - loc_low + 1) * product_span
    return _stable_order((loc - loc_low) * product_span + (product - product_low), span)


def _stable_order(keys: np.ndarray, span: int) -> np.ndarray:
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


KEY_BITS = 31
"""Location and product ids below 2**31 combine into one int64 key (location << 32 | product)."""


def _combined(loc: np.ndarray, product: np.ndarray) -> np.ndarray | None:
    if len(loc) and (loc.min() < 0 or product.min() < 0 or loc.max() >= 2**KEY_BITS or product.max() >= 2**KEY_BITS):
        return None
    return (loc.astype(np.int64) << 32) | product.astype(np.int64)


_STATE_INDEX: OrderedDict[tuple[int, str], tuple[pa.Table, tuple | None]] = OrderedDict()
"""Sorted (location, product) keys of a state table per location type: the state of D−1 and D is
read by both inventory tables of a day (and D's again as D+1's D−1), so it is sorted once."""


def _state_index(state: pa.Table, location_type: str) -> tuple | None:
    """(sorted combined keys, on_hand, dense table or None) of ``location_type``; None when a key
    repeats (one row may then join several state rows: the SQL counts those) or an id does not fit
    the combined key."""
    hit = _STATE_INDEX.get((id(state), location_type))
    if hit is not None and hit[0] is state:
        return hit[1]
    mine = state.filter(pc.equal(state.column("location_type"), location_type))
    mine = mine.filter(pc.is_valid(mine.column("on_hand")))  # a NULL on_hand compares to nothing in SQL
    keys = _combined(mine.column("location_id").to_numpy(), mine.column("product_id").to_numpy())
    index = None
    if keys is not None:
        order = np.argsort(keys, kind="stable")
        keys, on_hand = keys[order], mine.column("on_hand").to_numpy()[order]
        if not (len(keys) > 1 and (keys[1:] == keys[:-1]).any()):
            index = (keys, on_hand, _dense_state(keys, on_hand))
    _STATE_INDEX[(id(state), location_type)] = (state, index)
    while len(_STATE_INDEX) > 8:
        _STATE_INDEX.popitem(last=False)
    return index


DENSE_SLOTS_PER_KEY = 4
"""``_dense_state`` builds a table when (location, product) ranges hold at most this many slots per
state key (the state lists every product of every location: about one slot per key)."""


def _dense_state(keys: np.ndarray, on_hand: np.ndarray) -> tuple | None:
    """(location range, product range, found per slot, on_hand per slot) for unique combined
    ``keys``, one slot per (location, product) of the ranges; None when the ranges are sparse.

    Why: the chain and end rules look up every (location, product) of the day (73 k at scale
    factor 1) in a state of ~0.4 M keys per location type; indexing a table built once per state
    replaces a binary search per key (about 4 ms per rule)."""
    if not len(keys):
        return None
    loc, product = keys >> 32, keys & 0xFFFFFFFF
    loc_range = (int(loc.min()), int(loc.max()))
    product_range = (int(product.min()), int(product.max()))
    product_span = product_range[1] - product_range[0] + 1
    slots = (loc_range[1] - loc_range[0] + 1) * product_span
    if slots > DENSE_SLOTS_PER_KEY * len(keys):
        return None
    at = (loc - loc_range[0]) * product_span + (product - product_range[0])
    found = np.zeros(slots, np.bool_)
    found[at] = True
    values = np.zeros(slots, on_hand.dtype)
    values[at] = on_hand
    return loc_range, product_range, found, values


def _state_lookup(state: pa.Table, location_type: str, loc: np.ndarray, product: np.ndarray):
    """(found, on_hand) of ``state`` at each (location, product); None when the index cannot tell
    (``on_hand`` is meaningful only where ``found``)."""
    index = _state_index(state, location_type)
    if index is None:
        return None
    keys, on_hand, dense = index
    if dense is not None:
        return _dense_lookup(dense, loc, product)
    wanted = _combined(loc, product)
    if wanted is None:
        return None
    if not len(keys):
        return np.zeros(len(wanted), bool), np.zeros(len(wanted), np.int64)
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return keys[at] == wanted, on_hand[at]


def _dense_lookup(dense: tuple, loc: np.ndarray, product: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found, on_hand) at each (location, product) from a ``_dense_state`` table (a key outside
    the ranges is in no state row)."""
    (loc_low, loc_high), (product_low, product_high), found, values = dense
    loc, product = loc.astype(np.int64, copy=False), product.astype(np.int64, copy=False)
    inside = (loc >= loc_low) & (loc <= loc_high) & (product >= product_low) & (product <= product_high)
    product_span = product_high - product_low + 1
    at = np.where(inside, (loc - loc_low) * product_span + (product - product_low), 0)
    return inside & found[at], values[at]


def _balance_walk(data: pa.Table, state: pa.Table, rule: BalanceWalk) -> bool:
    if data.num_rows == 0:
        return True
    walk = _walk(data, rule.location_col)
    if walk is None:
        return False
    same, balance, quantity = walk["same"], walk["balance"], walk["quantity"]
    if rule.end:
        pick = np.append(~same, True)  # the last row of each (location, product)
    else:
        # balance[i] = balance[i-1] + quantity[i] within a key, as one pass of whole-array arithmetic
        # (the same 64-bit wrap-around as the sum it replaces; masking three arrays first cost more)
        if bool(((balance[1:] - balance[:-1] - quantity[1:] != 0) & same).any()):
            return False
        pick = np.insert(~same, 0, True)  # the first row of each (location, product)
    lookup = _state_lookup(state, rule.location_type, walk["loc"][pick], walk["product"][pick])
    if lookup is None:
        return False
    found, on_hand = lookup
    expected = on_hand if rule.end else on_hand + quantity[pick]
    return bool(np.array_equal(balance[pick][found], expected[found]))


_STOCKOUT_INDEX: OrderedDict[tuple[int, str], tuple[pa.Table, tuple | None]] = OrderedDict()
"""Sorted (location, product) keys of a state table per location type with their last stockout."""


def _micros(stamps: pa.ChunkedArray) -> np.ndarray | None:
    """A time-zone-aware timestamp column as epoch microseconds (None: naive, or finer than µs)."""
    if not pa.types.is_timestamp(stamps.type) or stamps.type.tz is None:
        return None
    as_us = pc.cast(stamps, pa.timestamp("us", stamps.type.tz))  # safe: raises on a lost nanosecond
    return pc.cast(as_us, pa.int64()).to_numpy(zero_copy_only=False)


def _stockout_index(state: pa.Table, location_type: str) -> tuple | None:
    """(sorted combined keys, last_stockout_ts in µs, whether it is set) of ``location_type``; None
    when a key repeats (the SQL's LEFT JOIN would then see several rows) or cannot be combined."""
    hit = _STOCKOUT_INDEX.get((id(state), location_type))
    if hit is not None and hit[0] is state:
        return hit[1]
    index = None
    mine = state.filter(pc.equal(state.column("location_type"), location_type))
    last = mine.column("last_stockout_ts")
    micros = _micros(pc.fill_null(last, pa.scalar(0, last.type)) if last.null_count else last)
    keys = None
    if micros is not None and not mine.column("location_id").null_count and not mine.column("product_id").null_count:
        keys = _combined(mine.column("location_id").to_numpy(), mine.column("product_id").to_numpy())
    if keys is not None:
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        if not (len(keys) > 1 and (keys[1:] == keys[:-1]).any()):
            index = (keys, micros[order], pc.is_valid(last).to_numpy(zero_copy_only=False)[order])
    _STOCKOUT_INDEX[(id(state), location_type)] = (state, index)
    while len(_STOCKOUT_INDEX) > 8:
        _STOCKOUT_INDEX.popitem(last=False)
    return index


def _stockout_spacing(data: pa.Table, state: pa.Table, rule: StockoutSpacing) -> bool:
    """C10 on the Arrow columns: sort the day's stockouts by (location, product, event_ts) per
    location type; no two of one key within ``hours``, nor the first within ``hours`` of the state's
    last stockout. Anything the SQL would treat through a NULL (a key, a time) is left to the SQL."""
    if data.num_rows == 0:
        return True
    location_type = data.column("location_type")
    loc = pc.coalesce(data.column("store_id"), data.column("dc_id"))
    if location_type.null_count or loc.null_count or data.column("product_id").null_count:
        return False
    stamps = _micros(data.column("event_ts"))
    if stamps is None or data.column("event_ts").null_count:
        return False
    if not pa.types.is_timestamp(state.schema.field("last_stockout_ts").type):
        return False
    window = rule.hours * 3_600_000_000
    types = location_type.to_numpy(zero_copy_only=False)
    loc_values, products = loc.to_numpy(), data.column("product_id").to_numpy()
    for value in set(types.tolist()):
        rows = types == value
        keys = _combined(loc_values[rows], products[rows])
        index = _stockout_index(state, value)
        if keys is None or index is None:
            return False
        ts = stamps[rows]
        order = np.lexsort((ts, keys))
        keys, ts = keys[order], ts[order]
        same = keys[1:] == keys[:-1]
        if (same & (ts[1:] - ts[:-1] < window)).any():
            return False
        first = np.insert(~same, 0, True)
        state_keys, last, has_last = index
        if not len(state_keys):
            continue
        at = np.minimum(np.searchsorted(state_keys, keys[first]), len(state_keys) - 1)
        matched = (state_keys[at] == keys[first]) & has_last[at]
        if (matched & (ts[first] - last[at] < window)).any():
            return False
    return True


_SORTED_KEYS: OrderedDict[tuple[int, str], tuple[pa.Table, np.ndarray, bool]] = OrderedDict()
"""Sorted integer keys per reference table and column (the reference cache hands out one table
object per Delta version): hashing 120 k customer ids again for every fact table cost more than
the SQL it replaces; a binary search in a sorted copy made once does not. The flag says the keys
are a whole range ``lo..hi`` (dimension ids are numbered densely): then a value is a key exactly
when it lies in the range, and the day's min and max answer for every row without a search."""


def _sorted_int_keys(reference: pa.Table, key: str) -> tuple[np.ndarray, bool]:
    """(sorted keys, whether they cover every integer between the smallest and the largest)."""
    hit = _SORTED_KEYS.get((id(reference), key))
    if hit is not None and hit[0] is reference:
        return hit[1], hit[2]
    ordered = np.sort(pc.drop_null(reference.column(key)).to_numpy())
    dense = bool(len(ordered)) and bool(np.all(np.diff(ordered) <= 1))
    _SORTED_KEYS[(id(reference), key)] = (reference, ordered, dense)  # holding it keeps its id from reuse
    while len(_SORTED_KEYS) > 16:
        _SORTED_KEYS.popitem(last=False)
    return ordered, dense


def _keys_in(values: pa.ChunkedArray, reference: pa.Table, key: str) -> bool:
    present = pc.drop_null(values)
    if len(present) == 0:
        return True
    keys = reference.column(key)
    if pa.types.is_integer(present.type) and keys.type == present.type:
        ordered, dense = _sorted_int_keys(reference, key)
        if not len(ordered):
            return False
        if dense:
            lo, hi = (v.as_py() for v in pc.min_max(present).values())
            return int(ordered[0]) <= lo and hi <= int(ordered[-1])
        wanted = present.to_numpy()
        at = np.minimum(np.searchsorted(ordered, wanted), len(ordered) - 1)
        return bool(np.all(ordered[at] == wanted))
    if keys.type != present.type:
        keys = keys.cast(present.type)
    return bool(pc.all(pc.is_in(present, value_set=keys.combine_chunks())).as_py())


def _keys_in_by_type(data: pa.Table, relations: Mapping[str, pa.Table], rule: KeysInByType) -> bool:
    """Every case's rows reference a key of its relation (``_keys_in`` on the rows of that type).

    Why: the ``(node_type, node_id)`` rule's two NOT IN subqueries cost ~5 ms of the online order
    lines' statement at scale factor 1; a filter and a range test of the cached keys cost ~0.5 ms."""
    types = data.column(rule.type_column)
    for value, relation, key in rule.cases:
        reference = relations.get(relation)
        if reference is None:
            return False
        # a NULL type selects no row here, and compares to no case in the SQL either
        if not _keys_in(data.column(rule.column).filter(pc.equal(types, value)), reference, key):
            return False
    return True


# --- same-day parents and document sums: both tables' keys as integers of one code space ---


def _joint_codes(
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
    combined = _mixed_radix(both)
    if combined is None:
        return None
    codes, span = _compact(*combined)
    return codes[:n], codes[n:], span


_JOINT: OrderedDict[tuple, tuple[pa.Table, pa.Table, tuple | None]] = OrderedDict()
"""Joint codes of the last few (child keys, parent keys) pairs: a table's same-day parent and its
document-sum rule code the same key of the same two tables (receipt lines and receipts)."""


def _joint_codes_of(left: pa.Table, right: pa.Table) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``_joint_codes`` of two key tables, memoised by the memory their columns view (a ``select``
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
    coded = _joint_codes(list(left.columns), list(right.columns))
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
    order = _stable_order(codes, span)
    ordered = codes[order]
    rank = np.empty(len(codes), np.int64)
    rank[order] = np.concatenate(([0], np.cumsum(ordered[1:] != ordered[:-1])))
    return rank, int(rank[order[-1]]) + 1


def _without_nulls(table: pa.Table, columns: tuple[str, ...]) -> pa.Table:
    """The rows of ``table`` with no NULL among ``columns`` (such rows join nothing in SQL)."""
    if not any(table.column(c).null_count for c in columns):
        return table
    mask = pc.is_valid(table.column(columns[0]))
    for c in columns[1:]:
        mask = pc.and_(mask, pc.is_valid(table.column(c)))
    return table.filter(mask)


def _keys_in_parent(data: pa.Table, parent: pa.Table, rule: KeysInParent, day: date) -> bool:
    """Every child key tuple (rows without a NULL key) is a key tuple of a parent row of D.

    Why: the same-day reference of receipt and promo lines was an anti-join of every line against
    the day's parents in the table's statement; marking the parents' codes and looking the lines'
    up is a fraction of that, and with the table's other rules proven the statement is not run."""
    child = _without_nulls(data.select(list(rule.child)), rule.child)
    if not child.num_rows:
        return True
    dates = parent.column("event_date")
    if dates.null_count or len(dates) == 0 or any(v.as_py() != day for v in pc.min_max(dates).values()):
        parent = parent.filter(pc.equal(dates, pa.scalar(day, pa.date32())))  # a partition of D: rarely needed
    keys = _without_nulls(parent.select(list(rule.parent)), rule.parent)
    if not keys.num_rows:
        return False
    coded = _joint_codes_of(child, keys)
    if coded is None:
        return False
    child_codes, parent_codes, span = coded
    present = np.zeros(span, np.bool_)
    present[parent_codes] = True
    return bool(present[child_codes].all())


EXACT_SUM = 2**52
"""Integer sums below this in magnitude are exact in float64 (``np.bincount`` weights add floats)."""


def _document_sums(data: pa.Table, documents: pa.Table, rule: DocumentSums) -> bool:
    """Every document finds its lines: as many as its count, their sums equal to its columns.

    Why: the document-sum rule grouped every built line by its document's string id (receipt
    lines at scale factor 1: 130 k rows, most of the table's statement); counting and summing per
    integer code with ``np.bincount`` gives the same totals. Any NULL, a non-integer column or a
    sum that float64 might round leaves the rule to its SQL."""
    line_columns = [*rule.key, *(line for _, line in rule.sums)]
    doc_columns = [*rule.key, *(doc for doc, _ in rule.sums), rule.count]
    if any(data.column(c).null_count for c in line_columns) or any(documents.column(c).null_count for c in doc_columns):
        return False
    if not documents.num_rows:
        return True
    coded = _joint_codes_of(data.select(list(rule.key)), documents.select(list(rule.key)))
    if coded is None:
        return False
    line_codes, doc_codes, span = coded
    # Number the documents' codes 0..d-1 (a repeated id shares one number) and count and sum per
    # number: arrays of d entries, where per code they had ``span`` (~50 × as many at sf 1).
    number = np.full(span, -1, np.int64)
    number[doc_codes] = np.arange(len(doc_codes))
    doc_number, line_number = number[doc_codes], number[line_codes]
    mine = line_number >= 0  # lines of no document: the rule, reading from the documents, ignores them
    line_number = line_number[mine]
    counts = np.bincount(line_number, minlength=len(doc_codes))[doc_number]
    expected = _int_values(documents.column(rule.count))
    if expected is None or not np.array_equal(counts, expected) or not bool((counts > 0).all()):
        return False
    for doc, line in rule.sums:
        values, totals = _int_values(data.column(line)), _int_values(documents.column(doc))
        if values is None or totals is None or not _bounded(totals, EXACT_SUM):
            return False
        if len(values) and float(np.abs(values.astype(np.float64)).sum()) >= EXACT_SUM:
            return False
        sums = np.bincount(line_number, weights=values[mine], minlength=len(doc_codes))[doc_number]
        if not np.array_equal(sums, totals.astype(np.float64)):
            return False
    return True


PAYMENT_COLUMNS = ("amount_cents", "event_ts")
DOCUMENT_COLUMNS = ("total_cents", "event_ts")


_PAID: OrderedDict[tuple, tuple[tuple, dict | None]] = OrderedDict()
"""The coded join of a table's payments and documents, shared by the four payment prechecks."""


def _paid_join(data: pa.Table, relations: Mapping[str, pa.Table], rule: PaidDocuments) -> dict | None:
    """Payments and documents side by side with their ids coded together (``_joint_codes``); None
    when a document relation is missing or the ids cannot be coded."""
    tables = [relations.get(relation) for relation, _ in rule.documents]
    if any(t is None for t in tables):
        return None
    key = (id(data), *(id(t) for t in tables), rule.documents, rule.references)
    hit = _PAID.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], (data, *tables), strict=True)):
        return hit[1]
    parts = [
        t.select([k, *DOCUMENT_COLUMNS]).rename_columns(["doc", *DOCUMENT_COLUMNS])
        for t, (_, k) in zip(tables, rule.documents, strict=True)
    ]
    documents = pa.concat_tables(parts)
    refs = [data.column(c) for c in rule.references]
    doc_of = refs[0] if len(refs) == 1 else pc.coalesce(*refs)
    payments = pa.table([doc_of, *(data.column(c) for c in PAYMENT_COLUMNS)], names=["doc", *PAYMENT_COLUMNS])
    joined = None
    if not payments.column("doc").null_count and not documents.column("doc").null_count:
        coded = None
        if payments.num_rows and documents.num_rows:
            coded = _joint_codes(list(payments.select(["doc"]).columns), list(documents.select(["doc"]).columns))
        joined = {"payments": payments, "documents": documents, "coded": coded}
    _PAID[key] = ((data, *tables), joined)  # holding the tables keeps their ids from reuse
    while len(_PAID) > 4:
        _PAID.popitem(last=False)
    return joined


def _paid_documents(data: pa.Table, relations: Mapping[str, pa.Table], rule: PaidDocuments) -> bool:
    """One part of the payment rules on integer codes of the document ids (see ``PaidDocuments``).

    Why: the four payment rules joined every payment to the union of the day's receipts and
    orders in DuckDB (~15 ms of statement at scale factor 1 for ~15 k payments); with the ids
    coded together, each part is an array lookup, and the joint coding is shared by the four."""
    joined = _paid_join(data, relations, rule)
    if joined is None:
        return False  # a missing relation, or a NULL id (an ANTI JOIN reports it): the SQL decides
    payments, documents = joined["payments"], joined["documents"]
    if any(payments.column(c).null_count for c in PAYMENT_COLUMNS) or any(c.null_count for c in documents.columns):
        return False
    if payments.schema.field("event_ts").type != documents.schema.field("event_ts").type:
        return False
    if not documents.num_rows:
        return not payments.num_rows if rule.part == "exists" else True
    if not payments.num_rows:
        return rule.part != "approved"
    if joined["coded"] is None:
        return False
    pay, doc, span = joined["coded"]
    if rule.part == "approved":
        approved = pc.fill_null(pc.equal(data.column("status"), "APPROVED"), False).to_numpy(zero_copy_only=False)
        return bool((np.bincount(pay[approved], minlength=span)[doc] == 1).all())
    if (np.bincount(doc, minlength=span) > 1).any():
        return False  # a repeated document id joins a payment several times: the SQL decides
    slot = np.full(span, -1, np.int64)
    slot[doc] = np.arange(len(doc))
    at = slot[pay]
    if rule.part == "exists":
        return bool((at >= 0).all())
    found = at >= 0
    mine_column, their_column = ("amount_cents", "total_cents") if rule.part == "amount" else ("event_ts", "event_ts")
    mine = pc.cast(payments.column(mine_column), pa.int64()).to_numpy()[found]
    theirs = pc.cast(documents.column(their_column), pa.int64()).to_numpy()[at[found]]
    if rule.part == "amount":
        return bool(np.array_equal(mine, theirs))
    if rule.part == "after":
        return bool((mine > theirs).all())
    return False


# --- row rules on the Arrow columns: a min/max or a distinct set instead of a predicate per row ---


def _int_values(column: pa.ChunkedArray) -> np.ndarray | None:
    """The values of a 64-bit-or-narrower integer column without NULLs as int64; None otherwise."""
    if not pa.types.is_integer(column.type) or column.null_count:
        return None
    if pa.types.is_uint64(column.type):
        return None  # may not fit int64
    if column.num_chunks == 0:
        return np.empty(0, np.int64)
    return np.concatenate([c.to_numpy() for c in column.chunks]).astype(np.int64, copy=False)


def _event_day(data: pa.Table, day: date) -> bool:
    """C6: ``event_date`` is D and ``event_ts`` in [D, D+1) UTC on every row, NULL nowhere.

    A time-zone-aware ``event_ts`` holds UTC instants, so the bounds compare as epoch integers in
    the column's unit; a naive one would compare in DuckDB's session time zone, so it is not judged.
    """
    dates, stamps = data.column("event_date"), data.column("event_ts")
    if not pa.types.is_date32(dates.type) or not pa.types.is_timestamp(stamps.type) or stamps.type.tz is None:
        return False
    if dates.null_count or stamps.null_count:
        return False
    if data.num_rows == 0:
        return True
    lo_date, hi_date = (v.as_py() for v in pc.min_max(dates).values())
    if lo_date != day or hi_date != day:
        return False
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[stamps.type.unit]
    start = int((datetime(day.year, day.month, day.day, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    end = start + int(timedelta(days=1).total_seconds())
    epoch = pc.cast(stamps, pa.int64())
    lo, hi = (v.as_py() for v in pc.min_max(epoch).values())
    return start * per_second <= lo and hi < end * per_second


def _in_set(column: pa.ChunkedArray, values: tuple[str, ...]) -> bool:
    """C13: the distinct non-null values (a handful per enum column) are all allowed."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return False
    present = set(pc.unique(column).to_pylist())
    present.discard(None)
    return present <= set(values)


def _not_below(column: pa.ChunkedArray, bound: int) -> bool:
    if not pa.types.is_integer(column.type) or column.null_count:
        return False  # NULL is a violation: let the SQL count it
    if len(column) == 0:
        return True
    return pc.min(column).as_py() >= bound


SAFE_ADDEND = 2**60
"""Addends below this in magnitude: a sum or difference of three cannot overflow int64."""
SAFE_FACTOR = 2**31
"""Factors below this in magnitude: their product cannot overflow int64."""


def _bounded(values: np.ndarray, limit: int) -> bool:
    return not len(values) or (int(values.min()) > -limit and int(values.max()) < limit)


def _sum_of(data: pa.Table, rule: SumOf) -> bool:
    result = _int_values(data.column(rule.result))
    terms = [_int_values(data.column(c)) for c in (*rule.plus, *rule.minus)]
    if result is None or any(t is None for t in terms) or not all(_bounded(t, SAFE_ADDEND) for t in terms):
        return False
    if len(rule.plus) + len(rule.minus) > 3:
        return False  # the bound above covers three terms
    expected = np.zeros(len(result), np.int64)
    for i, t in enumerate(terms):
        expected = expected + t if i < len(rule.plus) else expected - t
    return bool(np.array_equal(result, expected))


def _product_of(data: pa.Table, rule: ProductOf) -> bool:
    result, left, right = (_int_values(data.column(c)) for c in (rule.result, rule.left, rule.right))
    if result is None or left is None or right is None:
        return False
    if not (_bounded(left, SAFE_FACTOR) and _bounded(right, SAFE_FACTOR)):
        return False  # DuckDB raises on an overflowing product: let the SQL do so
    return bool(np.array_equal(result, left * right))


GROUPABLE = (pa.types.is_integer, pa.types.is_string, pa.types.is_large_string, pa.types.is_timestamp, pa.types.is_date)
"""Key types whose Arrow equality is SQL equality (no floats: NaN and -0.0 group differently)."""


def _unique_key(data: pa.Table, rule: UniqueKey) -> bool:
    """C5 uniqueness: as many groups of the key columns as rows (NULL keys: let the SQL decide)."""
    if rule.max_rows is not None and data.num_rows > rule.max_rows:
        return False
    keys = data.select(list(rule.columns))
    if any(c.null_count for c in keys.columns) or not all(any(t(f.type) for t in GROUPABLE) for f in keys.schema):
        return False
    if data.num_rows < 2:
        return True
    combined = _mixed_radix(keys)
    if combined is not None:
        return _all_distinct(*combined)
    if len(rule.columns) == 1:
        # one column: its distinct values, about twice as fast as a group-by (sf 1 inventory ids)
        return len(pc.unique(keys.column(0))) == data.num_rows
    return keys.group_by(list(rule.columns)).aggregate([]).num_rows == data.num_rows


RADIX_LIMIT = 2**62
"""Largest product of the columns' code ranges that one int64 key may hold."""

MARKS_PER_ROW = 8
"""``_all_distinct`` marks codes in a byte array when the code range is at most this many bytes per
row (sf 1 inventory ids: 630 k codes for 146 k rows); wider ranges are radix-sorted."""


def _all_distinct(codes: np.ndarray, span: int) -> bool:
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
        ordered = codes[_stable_order(codes, span)]
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
    values = _int_values(column)
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


def _mixed_radix(keys: pa.Table) -> tuple[np.ndarray, int] | None:
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
