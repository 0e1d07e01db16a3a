from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_assets.generate import calendar as cal
from retail_assets.generate.inventory import (
    ADJUSTMENT,
    INBOUND,
    SALE,
    InventoryBook,
    PostingOrderError,
    TxnBatch,
    resolve,
)
from retail_assets.generate.state import NO_TS

DAY = date(2024, 4, 11)
D0 = cal.day_start_us(DAY)
H = cal.US_PER_HOUR


def _reference(
    batch: TxnBatch, on_hand: np.ndarray, floor: np.ndarray | None = None
) -> dict[int, tuple[int, int]]:
    """Row-by-row loop in posting order: b = max(floor, b + desired)."""
    keys = sorted(
        range(len(batch)),
        key=lambda i: (
            batch.loc[i], batch.event_ts[i], batch.source[i] is None, batch.source[i] or "",
            batch.product[i], batch.txn_type[i],
        ),
    )  # fmt: skip
    bal = on_hand.copy()
    out = {}
    for i in keys:
        loc, p = batch.loc[i], batch.product[i] - 1
        fl = 0 if floor is None else min(floor[loc, p], bal[loc, p])
        new = max(fl, bal[loc, p] + batch.desired[i])
        out[i] = (new - bal[loc, p], new)
        bal[loc, p] = new
    return out


rows = st.lists(
    st.tuples(
        st.integers(0, 2),  # loc
        st.integers(1, 3),  # product
        st.integers(0, 5),  # time bucket (ties on purpose)
        st.sampled_from([None, "RCP-1", "RCP-2", "SHP-1"]),
        st.integers(-6, 4),
        st.sampled_from([SALE, INBOUND, ADJUSTMENT]),
    ),
    min_size=1,
    max_size=60,
)


def _batch(rs) -> TxnBatch:
    loc, prod, t, src, des, typ = zip(*rs, strict=True)
    return TxnBatch(
        np.array(loc),
        np.array(prod),
        D0 + np.array(t),
        np.array(typ),
        np.array(src, dtype=object),
        np.array(des),
    )


@settings(max_examples=150, deadline=None)
@given(rows, st.lists(st.integers(0, 8), min_size=9, max_size=9))
def test_posting_engine_matches_row_by_row_reference(rs, opening):
    batch = _batch(rs)
    on_hand = np.array(opening, dtype=np.int64).reshape(3, 3)
    order, posted, bal = resolve(batch, on_hand)
    ref = _reference(batch, on_hand)
    for k, i in enumerate(order):
        assert (posted[k], bal[k]) == ref[i]
    assert (bal >= 0).all()


@settings(max_examples=100, deadline=None)
@given(
    rows,
    st.lists(st.integers(0, 8), min_size=9, max_size=9),
    st.lists(st.integers(0, 8), min_size=9, max_size=9),
)
def test_posting_engine_with_floor_matches_reference(rs, opening, floor):
    batch = _batch(rs)
    on_hand = np.array(opening, dtype=np.int64).reshape(3, 3)
    fl = np.minimum(np.array(floor, dtype=np.int64).reshape(3, 3), on_hand)
    order, posted, bal = resolve(batch, on_hand, fl)
    ref = _reference(batch, on_hand, fl)
    for k, i in enumerate(order):
        assert (posted[k], bal[k]) == ref[i]


def _book(on_hand, last=None):
    on_hand = np.array(on_hand, dtype=np.int64)
    last = np.full(on_hand.shape, NO_TS, dtype=np.int64) if last is None else last
    return InventoryBook("STORE", on_hand, last, DAY)


def _sales(loc, prod, ts, qty, src=None):
    n = len(loc)
    return TxnBatch(
        np.array(loc), np.array(prod), np.array(ts), np.full(n, SALE),
        np.array(src if src is not None else [None] * n, dtype=object), -np.array(qty),
    )  # fmt: skip


def test_book_clips_sales_drops_zero_postings_and_numbers_in_posting_order():
    book = _book([[3, 5]])
    posted = book.post(_sales([0, 0, 0, 0], [1, 1, 1, 2], [D0 + 10, D0 + 20, D0 + 30, D0 + 5], [2, 2, 2, 1],
                              ["RCP-A", "RCP-B", "RCP-C", "RCP-D"]))  # fmt: skip
    assert posted.tolist() == [-2, -1, 0, -1]
    assert book.on_hand(0, np.array([1, 2])).tolist() == [0, 4]
    txn, stockouts = book.finish()
    assert txn.column("txn_id_ext").to_pylist() == [
        "ITX-S-00001-20240411-0000001",  # product 2 at +5 µs
        "ITX-S-00001-20240411-0000002",
        "ITX-S-00001-20240411-0000003",
    ]
    assert txn.column("balance_after").to_pylist() == [4, 1, 0]
    assert stockouts.num_rows == 1
    assert stockouts.column("last_known_quantity").to_pylist() == [1]
    assert stockouts.column("txn_id_ext").to_pylist() == ["ITX-S-00001-20240411-0000003"]


def test_book_refuses_out_of_order_batches():
    book = _book([[5]])
    book.post(_sales([0], [1], [D0 + 2 * H], [1]))
    with pytest.raises(PostingOrderError, match="time order"):
        book.post(_sales([0], [1], [D0 + H], [1]))
    with pytest.raises(PostingOrderError):
        book.post(_sales([0], [1], [D0 + 25 * H], [1]))


@pytest.mark.parametrize(("hours_before", "recorded"), [(23, False), (25, True)])
def test_stockout_dedup_24h_across_days(hours_before, recorded):
    ts = D0 + 10 * H
    last = np.array([[ts - hours_before * H]], dtype=np.int64)
    book = _book([[2]], last)
    book.post(_sales([0], [1], [ts], [5]))
    _, stockouts = book.finish()
    assert (stockouts.num_rows == 1) is recorded
    assert book.last_stockout_ts[0, 0] == (ts if recorded else ts - hours_before * H)


def test_only_first_stockout_of_a_key_per_day_is_recorded():
    book = _book([[1]])
    inbound = TxnBatch(np.array([0]), np.array([1]), np.array([D0 + 2 * H]), np.array([INBOUND]),
                       np.array([None], dtype=object), np.array([3]))  # fmt: skip
    book.post(_sales([0], [1], [D0 + H], [1]))
    book.post(inbound)
    book.post(_sales([0], [1], [D0 + 3 * H], [3]))
    txn, stockouts = book.finish()
    assert txn.column("balance_after").to_pylist() == [0, 3, 0]
    assert stockouts.num_rows == 1
    assert stockouts.column("event_ts").cast("int64").to_pylist() == [D0 + H]
