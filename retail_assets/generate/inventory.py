"""The inventory posting engine and stockout detection (contract §7.8, §4.4–4.6).

Why a closed form instead of a loop: an outgoing txn can never take a balance below zero (or
below a floor), so each balance is ``b_k = max(floor, b_{k−1} + desired_k)`` per (location,
product). With ``S_k = opening + Σ_{i≤k} desired_i`` that recursion equals
``b_k = S_k − min(0, min_{j≤k} S_j)`` — a running sum minus a running minimum, which vectorises over
all groups at once (one ``cumsum`` and one ``minimum.accumulate`` with per-group offsets). The
posted quantity is ``b_k − b_{k−1}``; a txn that posts 0 is not written and gets no id.

``InventoryBook`` holds the dense on-hand array of one location kind (stores or DCs) during a day.
Callers post batches in time order (e.g. the 24 hourly steps of the store day); the book keeps the
written rows and at the end assigns ``txn_id_ext`` per (location, day) in posting order and
detects stockouts with the 24 h de-duplication against ``last_stockout_ts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.contract.tables import FACT_TABLES
from retail_assets.generate import calendar as cal
from retail_assets.generate import ids
from retail_assets.generate.arrays import lexsort_ints, stable_argsort
from retail_assets.generate.state import NO_TS

#: txn types in alphabetical order, so that sorting by code = sorting by the string (posting order)
TXN_TYPES: tuple[str, ...] = (
    "ADJUSTMENT",
    "DAMAGED",
    "INBOUND_SHIPMENT",
    "ONLINE_SALE",
    "OUTBOUND_SHIPMENT",
    "RETURN",
    "SALE",
)
TXN_CODE = {t: i for i, t in enumerate(TXN_TYPES)}
ADJUSTMENT, DAMAGED, INBOUND, ONLINE_SALE, OUTBOUND, RETURN, SALE = range(7)
STOCKOUT_DEDUP_US = 24 * cal.US_PER_HOUR


class PostingOrderError(ValueError):
    """A batch was posted out of time order; the book's balances would no longer be a chain."""


@dataclass
class TxnBatch:
    """Desired inventory changes (one per document line), columnar.

    ``loc`` is the location *index* (store_id − 1 or dc_id − 1); ``source`` holds the
    ``source_id_ext`` strings (None = NULL, sorted last); ``desired`` is the signed quantity asked
    for (−sale quantity, +inbound, ±adjustment…). ``ref`` is the caller's own row reference, kept
    so that posted quantities can be mapped back (e.g. to a receipt line).
    """

    loc: np.ndarray
    product: np.ndarray
    event_ts: np.ndarray
    txn_type: np.ndarray
    source: np.ndarray
    desired: np.ndarray
    ref: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.loc)
        self.loc = np.asarray(self.loc, dtype=np.int64)
        self.product = np.asarray(self.product, dtype=np.int64)
        self.event_ts = np.asarray(self.event_ts, dtype=np.int64)
        self.txn_type = np.asarray(self.txn_type, dtype=np.int8)
        self.source = np.asarray(self.source, dtype=object)
        self.desired = np.asarray(self.desired, dtype=np.int64)
        self.ref = np.arange(n, dtype=np.int64) if self.ref is None else np.asarray(self.ref, dtype=np.int64)
        for name in ("product", "event_ts", "txn_type", "source", "desired", "ref"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"TxnBatch.{name} has {len(getattr(self, name))} rows, loc has {n}")

    def __len__(self) -> int:
        return len(self.loc)

    @classmethod
    def empty(cls) -> TxnBatch:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, z.astype(np.int8), np.zeros(0, dtype=object), z, z)

    @classmethod
    def concat(cls, batches: list[TxnBatch]) -> TxnBatch:
        batches = [b for b in batches if len(b)]
        if not batches:
            return cls.empty()
        return cls(
            *(
                np.concatenate([getattr(b, f) for b in batches])
                for f in ("loc", "product", "event_ts", "txn_type")
            ),
            np.concatenate([b.source for b in batches]),
            np.concatenate([b.desired for b in batches]),
            np.concatenate([b.ref for b in batches]),
        )

    def take(self, idx: np.ndarray) -> TxnBatch:
        return TxnBatch(
            self.loc[idx], self.product[idx], self.event_ts[idx], self.txn_type[idx],
            self.source[idx], self.desired[idx], self.ref[idx],
        )  # fmt: skip

    def select(self, mask: np.ndarray) -> TxnBatch:
        return self.take(np.nonzero(mask)[0])


def source_rank(source: np.ndarray) -> np.ndarray:
    """Dense rank of ``source_id_ext`` strings in ascending order with NULL last (posting order)."""
    if len(source) == 0:
        return np.zeros(0, dtype=np.int64)
    # rank the distinct strings only (a batch repeats each document's id on all its lines), then
    # map back; NULLs rank after every string, as one tie
    encoded = pa.array(source, type=pa.string()).dictionary_encode()
    distinct = pc.rank(encoded.dictionary, sort_keys=[("", "ascending", "at_end")], tiebreaker="dense")
    rank_of = np.append(distinct.to_numpy().astype(np.int64), len(encoded.dictionary) + 1)
    return rank_of[encoded.indices.fill_null(len(encoded.dictionary)).to_numpy()]


def posting_order(batch: TxnBatch) -> np.ndarray:
    """Permutation putting a batch in posting order: (loc, event_ts, source NULL last, product, txn_type).

    The five keys are packed into two non-negative int64 words when their ranges fit — (loc,
    event_ts) and (source rank, product, txn_type) — so the stable lexsort makes 2 passes instead
    of 5; the permutation is the same, ties included (both sorts are stable).
    """
    rank = source_rank(batch.source)
    if len(batch) == 0:
        return np.zeros(0, dtype=np.int64)
    hi_key = _pack((batch.loc, batch.event_ts))
    lo_key = _pack((rank, batch.product, batch.txn_type))
    if hi_key is None or lo_key is None:
        return np.lexsort((batch.txn_type, batch.product, rank, batch.event_ts, batch.loc))
    return lexsort_ints((lo_key, hi_key))


def _pack(keys: tuple[np.ndarray, ...]) -> np.ndarray | None:
    """Keys (most significant first) as one int64 with the same lexicographic order, or None when
    their ranges (offset by each key's minimum) need more than 63 bits."""
    packed = np.zeros(len(keys[0]), dtype=np.int64)
    bits_used = 0
    for k in keys:
        k = np.asarray(k, dtype=np.int64)
        lo = int(k.min())
        span = int(k.max()) - lo
        bits = max(1, span.bit_length())
        bits_used += bits
        if bits_used > 63:
            return None
        packed = (packed << bits) | (k - lo)
    return packed


def group_running_min(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per-group running minimum of ``values`` (rows grouped contiguously; ``starts`` marks group heads).

    One ``np.minimum.accumulate`` over values shifted down by ``group_ordinal × span``, so that a
    later group is always below every earlier one and the running minimum restarts at each head.
    """
    if len(values) == 0:
        return values.copy()
    gid = np.cumsum(starts) - 1
    span = int(values.max()) - int(values.min()) + 1
    if span * (int(gid[-1]) + 1) < 2**62:
        shifted = values - gid * span
        return np.minimum.accumulate(shifted) + gid * span
    # pathological ranges: fall back to a per-group loop over group boundaries (not rows)
    out = np.empty_like(values)
    heads = np.nonzero(starts)[0]
    ends = np.append(heads[1:], len(values))
    for a, b in zip(heads, ends, strict=True):
        out[a:b] = np.minimum.accumulate(values[a:b])
    return out


def clipped_chain(
    group_starts: np.ndarray, opening: np.ndarray, desired: np.ndarray, floor: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Posted quantities and balances of grouped, posting-ordered txns (closed form of §7.8).

    ``group_starts`` marks the first row of each (location, product) group; ``opening`` is the
    group's opening balance repeated on every row; ``floor`` (default 0) the per-row floor of the
    group (the DC's reserved stock between 23:00 and 23:30). Returns ``(posted, balance_after)``
    with ``balance_after_k = max(floor, balance_{k−1} + desired_k)``, applied to openings ≥ floor.
    """
    desired = np.asarray(desired, dtype=np.int64)
    if len(desired) == 0:
        return desired.copy(), desired.copy()
    fl = np.zeros_like(desired) if floor is None else np.minimum(np.asarray(floor, dtype=np.int64), opening)
    cs = np.cumsum(desired)
    head_idx = np.maximum.accumulate(np.where(group_starts, np.arange(len(desired)), 0))
    before = cs[head_idx] - desired[head_idx]
    s = (opening - fl) + (cs - before)
    m = group_running_min(s, group_starts)
    bal = s - np.minimum(0, m) + fl
    prev = np.where(group_starts, opening, np.roll(bal, 1))
    return bal - prev, bal


def resolve(
    batch: TxnBatch, on_hand: np.ndarray, floor: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resolve a batch against a dense (L, P) on-hand array (not modified).

    Returns ``(order, posted, balance_after)``: ``order`` puts the batch in posting order;
    ``posted``/``balance_after`` are aligned with ``batch.take(order)``. ``floor`` is an optional
    (L, P) array of per-(location, product) floors.
    """
    order, posted, bal, _, _ = _resolve_groups(batch, on_hand, floor)
    return order, posted, bal


def _resolve_groups(
    batch: TxnBatch, on_hand: np.ndarray, floor: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``resolve`` plus each touched (location, product) cell's flat index and closing balance.

    The closing balance is the balance after the group's last txn; a txn that posts 0 leaves the
    balance unchanged, so it equals the balance after the last *written* txn (or the opening).
    """
    order = posting_order(batch)
    loc, prod = batch.loc[order], batch.product[order] - 1
    key = loc * on_hand.shape[1] + prod
    chain = stable_argsort(key)  # group by (loc, product), keep posting order inside
    k = key[chain]
    starts = np.ones(len(k), dtype=bool)
    starts[1:] = k[1:] != k[:-1]
    opening = on_hand.reshape(-1)[k]
    fl = None if floor is None else floor.reshape(-1)[k]
    posted_c, bal_c = clipped_chain(starts, opening, batch.desired[order][chain], fl)
    posted = np.empty_like(posted_c)
    bal = np.empty_like(bal_c)
    posted[chain] = posted_c
    bal[chain] = bal_c
    ends = np.empty(len(k), dtype=bool)
    ends[:-1] = starts[1:]
    ends[-1:] = True
    return order, posted, bal, k[ends], bal_c[ends]


class InventoryBook:
    """On-hand of one location kind during one day, plus the txn rows written so far.

    ``kind`` is "STORE" or "DC"; ``on_hand`` (L, P) is updated in place by ``post``. Batches must
    be posted in time order: every txn of a batch must not be earlier than any txn already posted
    (checked), so that the concatenation of batches is the day's posting chain.
    """

    def __init__(
        self,
        kind: str,
        on_hand: np.ndarray,
        last_stockout_ts: np.ndarray,
        day: date,
        location_ids: np.ndarray | None = None,
    ) -> None:
        if kind not in ("STORE", "DC"):
            raise ValueError("InventoryBook kind must be 'STORE' or 'DC'")
        self.kind = kind
        # the id of each location index (a shard's locations are a subset of the chain's, §8.5)
        self.location_ids = (
            np.arange(1, on_hand.shape[0] + 1, dtype=np.int64)
            if location_ids is None
            else np.asarray(location_ids, dtype=np.int64)
        )
        self.on_hand_array = on_hand
        self.last_stockout_ts = last_stockout_ts
        self.day = day
        self._rows: list[tuple[np.ndarray, ...]] = []
        self._watermark = cal.day_start_us(day)
        self._day_end = self._watermark + cal.US_PER_DAY

    def on_hand(self, loc_idx: np.ndarray | int, product_ids: np.ndarray | int) -> np.ndarray:
        """Snapshot read of the current on-hand (a copy), by location index and product_id."""
        return self.on_hand_array[np.asarray(loc_idx), np.asarray(product_ids) - 1].copy()

    def post(self, batch: TxnBatch, floor: np.ndarray | None = None) -> np.ndarray:
        """Post a batch; returns the posted signed quantity per input row (0 = not written).

        Outgoing quantities are clipped to the on-hand (or ``floor``, an (L, P) array) at their
        instant; zero postings are dropped. Raises ``PostingOrderError`` for a txn earlier than an
        already posted one or outside the book's day.
        """
        n = len(batch)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        lo, hi = int(batch.event_ts.min()), int(batch.event_ts.max())
        if lo < self._watermark or hi >= self._day_end:
            raise PostingOrderError(
                f"{self.kind} txns at {cal.day_of_us(lo)}…{cal.day_of_us(hi)} cannot be posted to day {self.day} "
                f"after txns up to µs {self._watermark}: post batches in time order, each inside the day."
            )
        order, posted, bal, cells, closing = _resolve_groups(batch, self.on_hand_array, floor)
        keep = posted != 0
        sel = order[keep]
        self.on_hand_array.reshape(-1)[cells] = closing
        self._rows.append(
            (batch.loc[sel], batch.product[sel], batch.event_ts[sel], batch.txn_type[sel], batch.source[sel],
             posted[keep], bal[keep])
        )  # fmt: skip
        self._watermark = hi
        out = np.zeros(n, dtype=np.int64)
        out[order] = posted
        return out

    @property
    def rows_written(self) -> int:
        return sum(len(r[0]) for r in self._rows)

    def finish(self) -> tuple[pa.Table, pa.Table]:
        """The day's txn table and stockout table (contract schemas), and the updated
        ``last_stockout_ts`` (in place). ``txn_id_ext`` seq = 1.. per location in posting order."""
        cols = [np.concatenate([r[i] for r in self._rows]) if self._rows else np.zeros(0) for i in range(7)]
        loc, prod, ts, typ, src, qty, bal = cols
        loc, prod, ts, qty, bal = (np.asarray(a, dtype=np.int64) for a in (loc, prod, ts, qty, bal))
        typ = np.asarray(typ, dtype=np.int8)
        src = np.asarray(src, dtype=object)
        # rows are in posting order inside each call and calls are chronological: a stable sort by
        # location gives the per-location posting order
        order = stable_argsort(loc)
        loc_sorted = loc[order]
        n = len(loc)
        starts = np.ones(n, dtype=bool)
        starts[1:] = loc_sorted[1:] != loc_sorted[:-1]
        idx = np.arange(n)
        seq = idx - np.maximum.accumulate(np.where(starts, idx, 0)) + 1
        letter = "S" if self.kind == "STORE" else "D"
        if n == 0 or (int(self.location_ids[loc_sorted[-1]]) < 10**5 and int(seq.max()) < 10**7):
            # fixed-width ids sort like (location, seq), the order rows are in now: a stable sort
            # by event_ts alone is the (event_ts, txn_id_ext) order, without comparing strings
            by_time = stable_argsort(ts[order])
            order, seq = order[by_time], seq[by_time]
        loc, prod, ts, typ, src, qty, bal = (a[order] for a in (loc, prod, ts, typ, src, qty, bal))
        txn_id = ids.txn_ids_arrow(letter, self.location_ids[loc], self.day, seq)
        txn_table = self._txn_table(ts, txn_id, loc, prod, typ, qty, bal, src)
        stockouts = self._stockouts(ts, txn_id, loc, prod, qty, bal)
        return txn_table, stockouts

    def _txn_table(self, ts, txn_id, loc, prod, typ, qty, bal, src) -> pa.Table:
        name = "fact_store_inventory_txn" if self.kind == "STORE" else "fact_dc_inventory_txn"
        spec = FACT_TABLES[name]
        ts_arr = pa.array(ts, type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        table = pa.table(
            [
                ts_arr,
                pa.array(ts // cal.US_PER_DAY, type=pa.int32()).cast(pa.date32()),
                txn_id,
                pa.array(self.location_ids[loc], type=pa.int64()),
                pa.array(prod, type=pa.int64()),
                pa.array(TXN_TYPES, type=pa.string()).take(pa.array(typ.astype(np.int64))),
                pa.array(qty, type=pa.int64()),
                pa.array(bal, type=pa.int64()),
                pa.array(src, type=pa.string()),
            ],
            schema=spec.arrow_schema,
        )
        return _sorted_by_time_and_id(table)

    def _stockouts(self, ts, txn_id, loc, prod, qty, bal) -> pa.Table:
        cand = np.nonzero((qty < 0) & (bal == 0))[0]
        last = self.last_stockout_ts[loc[cand], prod[cand] - 1]
        allowed = cand[(last == NO_TS) | (ts[cand] - last >= STOCKOUT_DEDUP_US)]
        # earliest allowed candidate per (loc, product): rows are in posting order per location
        key = loc[allowed] * self.last_stockout_ts.shape[1] + prod[allowed] - 1
        _, first = np.unique(key, return_index=True)
        hit = np.sort(allowed[first])
        self.last_stockout_ts[loc[hit], prod[hit] - 1] = ts[hit]
        is_store = self.kind == "STORE"
        loc_ids = pa.array(self.location_ids[loc[hit]], type=pa.int64())
        nulls = pa.nulls(len(hit), type=pa.int64())
        table = pa.table(
            [
                pa.array(ts[hit], type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                pa.array(ts[hit] // cal.US_PER_DAY, type=pa.int32()).cast(pa.date32()),
                txn_id.take(pa.array(hit, type=pa.int64())),
                pa.array([self.kind] * len(hit), type=pa.string()),
                loc_ids if is_store else nulls,
                nulls if is_store else loc_ids,
                pa.array(prod[hit], type=pa.int64()),
                pa.array(-qty[hit], type=pa.int64()),
            ],
            schema=FACT_TABLES["fact_stockouts"].arrow_schema,
        )
        return _sorted_by_time_and_id(table)


def _sorted_by_time_and_id(table: pa.Table) -> pa.Table:
    """``table`` in (event_ts, txn_id_ext) order; a linear check first, since it usually is."""
    ts = table.column("event_ts").cast(pa.int64()).to_numpy()
    step = ts[1:] - ts[:-1]
    if not (step < 0).any():
        ids_ = table.column("txn_id_ext")
        n = table.num_rows
        id_before = pc.less(ids_.slice(0, n - 1), ids_.slice(1)) if n > 1 else pa.array([], pa.bool_())
        if pc.all(pc.or_(id_before, pa.array(step != 0))).as_py():
            return table
    return table.sort_by([("event_ts", "ascending"), ("txn_id_ext", "ascending")])
