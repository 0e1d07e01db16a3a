"""Every customer's home store and app flag, held in memory that grows with the stores, not the customers.

Why: a store serves anyone, so generating a shard of a day looks up customers of the whole chain
(a visitor from elsewhere, an online order's home store, an ad impression's app flag). Held as
arrays over every customer, that cost each worker ≈ 26 MiB per scale-factor unit (sf 100: ≈ 1 GiB of
a 3.1 GiB peak) — memory linear in the scale factor. Since model 5, customer ids are numbered home
store by home store (contract §3.5), so a store's customers are one range of ids and a count per
store tells every customer's home store; the app flags are kept as bits (an eighth of a byte a
customer). The index is built from record batches, never from the whole table at once.

Two forms of the ``dim_customers`` table are understood: the whole table (what a one-process day
reads) and the compact one that :func:`compact_customers` makes for shard workers — a row per home
store: ``home_store_id``, ``first_customer_id``, ``customer_count`` and ``app_users`` (its customers'
flags in id order, a list column whose values are one bit-packed array over every customer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

CUSTOMER_COLUMNS = ("customer_id", "home_store_id", "app_user")
"""The columns of dim_customers that generating a day reads; the device ids are derived from
``customer_id`` where needed (``dimensions.customer_device_ids``)."""

COMPACT_SCHEMA = pa.schema(
    [
        ("home_store_id", pa.int64()),
        ("first_customer_id", pa.int64()),
        ("customer_count", pa.int64()),
        ("app_users", pa.large_list(pa.bool_())),
    ]
)


class CustomerLayoutError(ValueError):
    """dim_customers is not numbered home store by home store (built by model 4 or earlier)."""


def _layout_error(detail: str) -> CustomerLayoutError:
    return CustomerLayoutError(
        f"dim_customers is not numbered home store by home store ({detail}): it was built by an older "
        "model (≤ 4) or changed by hand. Re-materialize the 'dimensions' group (`dagster asset materialize "
        "-m retail_assets.definitions --select group:dimensions`)."
    )


class CustomerLookup:
    """A read-only stand-in for an array over every customer, indexed by ``customer_id − 1`` as
    the arrays it replaces were (``ctx.customer_home_store[customer - 1]``)."""

    def __init__(self, of: Callable[[np.ndarray], np.ndarray], n_customers: int) -> None:
        self._of = of
        self._n = n_customers

    def __getitem__(self, positions: np.ndarray | int) -> np.ndarray:
        return self._of(np.asarray(positions, dtype=np.int64) + 1)

    def __len__(self) -> int:
        return self._n


@dataclass(frozen=True)
class CustomerIndex:
    """Home stores as id ranges, app flags as bits. Lookups take customer ids (1..n)."""

    home_store_id: np.ndarray  # int64 (H,): the stores that are someone's home, ascending
    first_customer_id: np.ndarray  # int64 (H+1,): each one's first customer id, then n + 1
    app_bits: np.ndarray  # uint8: customer i's flag is bit (i − 1 + app_bit_offset), least significant first
    app_bit_offset: int
    n_customers: int

    def home_store_of(self, customer_ids: np.ndarray) -> np.ndarray:
        self._check(customer_ids)
        return self.home_store_id[np.searchsorted(self.first_customer_id, customer_ids, side="right") - 1]

    def app_user_of(self, customer_ids: np.ndarray) -> np.ndarray:
        self._check(customer_ids)
        bit = np.asarray(customer_ids, dtype=np.int64) - 1 + self.app_bit_offset
        return ((self.app_bits[bit >> 3] >> (bit & 7)) & 1).astype(bool)

    def _check(self, customer_ids: np.ndarray) -> None:
        ids = np.asarray(customer_ids)
        if ids.size and (ids.min() < 1 or ids.max() > self.n_customers):
            raise IndexError(f"customer ids must be 1..{self.n_customers}, got {int(ids.min())}..{int(ids.max())}")

    def customers_of(self, store_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The customers whose home is each of ``store_ids`` (ascending ids, store after store) and the
        CSR offsets of each store's run: what a StoreContext of a shard's stores holds."""
        store_ids = np.asarray(store_ids, dtype=np.int64)
        first = np.zeros(len(store_ids), dtype=np.int64)
        count = np.zeros(len(store_ids), dtype=np.int64)
        if len(self.home_store_id):  # a store that is no one's home has no run: count 0
            at = np.minimum(np.searchsorted(self.home_store_id, store_ids), len(self.home_store_id) - 1)
            found = self.home_store_id[at] == store_ids
            first[found] = self.first_customer_id[at[found]]
            count[found] = self.first_customer_id[at[found] + 1] - first[found]
        offsets = np.concatenate(([0], np.cumsum(count))).astype(np.int64)
        homed = np.empty(int(offsets[-1]), dtype=np.int64)
        for f, lo, hi in zip(first.tolist(), offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
            homed[lo:hi] = np.arange(f, f + hi - lo, dtype=np.int64)
        return homed, offsets

    @property
    def home_store(self) -> CustomerLookup:
        return CustomerLookup(self.home_store_of, self.n_customers)

    @property
    def app_user(self) -> CustomerLookup:
        return CustomerLookup(self.app_user_of, self.n_customers)

    @classmethod
    def from_table(cls, customers: pa.Table) -> CustomerIndex:
        """From the compact table, or from the whole one (its record batches)."""
        if "app_users" in customers.column_names:
            return cls._from_compact(customers)
        return cls._from_compact(compact_customers(customers.select(list(CUSTOMER_COLUMNS)).to_batches()))

    @classmethod
    def _from_compact(cls, compact: pa.Table) -> CustomerIndex:
        compact = compact.combine_chunks()
        homes = compact.column("home_store_id").to_numpy().astype(np.int64)
        first = compact.column("first_customer_id").to_numpy().astype(np.int64)
        count = compact.column("customer_count").to_numpy().astype(np.int64)
        n = int(count.sum())
        if len(homes) and (not np.array_equal(first, 1 + np.concatenate(([0], np.cumsum(count)[:-1]))) or np.any(np.diff(homes) <= 0)):
            raise _layout_error("the compact table's runs do not tile the ids in store order")
        flags = compact.column("app_users").chunk(0).flatten() if compact.num_rows else pa.array([], pa.bool_())
        bits = np.frombuffer(flags.buffers()[1], dtype=np.uint8) if len(flags) else np.zeros(0, np.uint8)
        return cls(
            home_store_id=homes,
            first_customer_id=np.append(first, n + 1) if len(first) else np.array([1], np.int64),
            app_bits=bits,
            app_bit_offset=flags.offset,
            n_customers=n,
        )


def compact_customers(batches: Iterable[pa.RecordBatch]) -> pa.Table:
    """The compact form of dim_customers from record batches of ``CUSTOMER_COLUMNS`` (in any order:
    a table may come back in several files), checking the layout: ids 1..n without gaps and home
    store ids that never decrease as the id grows. Holds one batch at a time, plus the flags as bits."""
    runs: list[tuple[int, int, int, int, pa.Array]] = []  # (first id, last id, first home, last home, flags)
    counts = np.zeros(0, dtype=np.int64)  # customers per home store id
    for batch in batches:
        if batch.num_rows == 0:
            continue
        ids = batch.column("customer_id").to_numpy().astype(np.int64, copy=False)
        home = batch.column("home_store_id").to_numpy().astype(np.int64, copy=False)
        flags = batch.column("app_user")
        if flags.null_count:
            raise ValueError("dim_customers.app_user has NULLs; the contract (§3.5) says it never does")
        if np.any(np.diff(ids) != 1):
            raise _layout_error(f"customer ids {int(ids[0])}..{int(ids[-1])} of one file are not consecutive")
        if np.any(np.diff(home) < 0):
            raise _layout_error(f"home store ids decrease within customers {int(ids[0])}..{int(ids[-1])}")
        per_store = np.bincount(home)
        if len(per_store) > len(counts):
            counts = np.pad(counts, (0, len(per_store) - len(counts)))
        counts[: len(per_store)] += per_store
        runs.append((int(ids[0]), int(ids[-1]), int(home[0]), int(home[-1]), flags))
    runs.sort(key=lambda run: run[0])
    expected, last_home = 1, 0
    for first_id, last_id, first_home, run_last_home, _ in runs:
        if first_id != expected:
            raise _layout_error(f"customer id {expected} is missing (the next one is {first_id})")
        if first_home < last_home:
            raise _layout_error(f"home store ids decrease at customer {first_id}")
        expected, last_home = last_id + 1, run_last_home
    homes = np.flatnonzero(counts).astype(np.int64)
    per_home = counts[homes]
    ends = np.cumsum(per_home)
    flags = pa.concat_arrays([run[4] for run in runs]) if runs else pa.array([], pa.bool_())
    return pa.table(
        [
            pa.array(homes),
            pa.array(1 + ends - per_home),
            pa.array(per_home),
            pa.LargeListArray.from_arrays(pa.array(np.concatenate(([0], ends)), pa.int64()), flags),
        ],
        schema=COMPACT_SCHEMA,
    )
