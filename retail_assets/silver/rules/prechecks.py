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
varying bytes make a small integer code (``int_codes``): uniqueness, same-day parents (``document_prechecks``),
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

from retail_assets.silver.rules.document_prechecks import document_sums, keys_in_parent, paid_documents
from retail_assets.silver.rules.int_codes import all_distinct, bounded, int_values, mixed_radix, stable_order
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
            return parent is not None and day is not None and keys_in_parent(data, parent, precheck, day)
        if isinstance(precheck, PaidDocuments):
            return paid_documents(data, relations, precheck)
        if isinstance(precheck, DocumentSums):
            documents = relations.get(precheck.relation)
            return documents is not None and document_sums(data, documents, precheck)
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


def _order_by_key_then_time(loc: np.ndarray, product: np.ndarray, ts: np.ndarray) -> np.ndarray | None:
    """The row order by (location, product, ts) when the rows are already in ``ts`` order (a stable
    sort by the key alone then keeps each key's rows in time order); None when they are not."""
    if len(ts) < 2 or not bool((ts[1:] >= ts[:-1]).all()):
        return None
    loc, product = loc.astype(np.int64, copy=False), product.astype(np.int64, copy=False)
    loc_low, product_low = int(loc.min()), int(product.min())
    product_span = int(product.max()) - product_low + 1
    span = (int(loc.max()) - loc_low + 1) * product_span
    return stable_order((loc - loc_low) * product_span + (product - product_low), span)


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


# --- row rules on the Arrow columns: a min/max or a distinct set instead of a predicate per row ---


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


def _sum_of(data: pa.Table, rule: SumOf) -> bool:
    result = int_values(data.column(rule.result))
    terms = [int_values(data.column(c)) for c in (*rule.plus, *rule.minus)]
    if result is None or any(t is None for t in terms) or not all(bounded(t, SAFE_ADDEND) for t in terms):
        return False
    if len(rule.plus) + len(rule.minus) > 3:
        return False  # the bound above covers three terms
    expected = np.zeros(len(result), np.int64)
    for i, t in enumerate(terms):
        expected = expected + t if i < len(rule.plus) else expected - t
    return bool(np.array_equal(result, expected))


def _product_of(data: pa.Table, rule: ProductOf) -> bool:
    result, left, right = (int_values(data.column(c)) for c in (rule.result, rule.left, rule.right))
    if result is None or left is None or right is None:
        return False
    if not (bounded(left, SAFE_FACTOR) and bounded(right, SAFE_FACTOR)):
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
    combined = mixed_radix(keys)
    if combined is not None:
        return all_distinct(*combined)
    if len(rule.columns) == 1:
        # one column: its distinct values, about twice as fast as a group-by (sf 1 inventory ids)
        return len(pc.unique(keys.column(0))) == data.num_rows
    return keys.group_by(list(rule.columns)).aggregate([]).num_rows == data.num_rows

