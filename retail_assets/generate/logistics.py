"""One day of inventory, replenishment and online orders around the in-store simulation.

Why a facade: the store day (``day.py``/``store_day.py``) owns traffic, baskets and receipts, but
its hourly postings share one posting chain with truck receipts, online allocations, damage and
cycle counts (§7.8), and the 23:00 reviews need the store balances at exactly 23:00. ``LogisticsDay``
holds that chain and everything that is not in-store, so the store day only has to:

    lg = LogisticsDay(settings, dims, prev_state, day, ctx)
    returns = lg.schedule_due("RETURN_VISIT")            # actions carried from earlier days
    for h in range(24):
        on_hand = lg.store_on_hand(store_idx, product_ids)  # balances at the start of hour h
        posted = lg.post_store_hour(h, sales_and_returns)    # SALE/RETURN TxnBatch of hour h
    lg.add_schedule(return_visit_rows)                  # new future actions of the store day
    result = lg.finish()  # -> LogisticsResult(tables, online_payments, state)

``finish`` runs the DC chain (supplier receipts, online allocations, cycle counts, the 22:00 supplier
review, the 23:00 allocation for tomorrow's visits, 23:30 picking), books trucks and supplier slots,
finalises online orders, assigns txn ids, detects stockouts and returns the state of D.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.config import DatasetSettings
from retail_assets.generate import calendar as cal
from retail_assets.generate import inventory as inv
from retail_assets.generate import online, replenishment
from retail_assets.generate.inventory import InventoryBook, TxnBatch
from retail_assets.generate.state import CarryState, sort_schedule
from retail_assets.generate.store_context import StoreContext

US_H = cal.US_PER_HOUR


@dataclass(frozen=True)
class LogisticsResult:
    """Output of ``LogisticsDay.finish``.

    ``tables`` holds fact_store_inventory_txn, fact_dc_inventory_txn, fact_stockouts,
    fact_reorders, fact_truck_moves, fact_truck_inventory, fact_online_order_headers and
    fact_online_order_lines (contract schemas, sorted by (event_ts, pk)); ``online_payments`` holds
    the online fact_payments rows (to be concatenated with the in-store ones); ``state`` is the
    state of D (schedule included, with the rows added through ``add_schedule``).
    """

    tables: dict[str, pa.Table]
    online_payments: pa.Table
    state: CarryState


class LogisticsDay:
    """Inventory books and logistics of one day (see the module docstring for the call protocol)."""

    def __init__(
        self,
        settings: DatasetSettings,
        dims: dict[str, pa.Table],
        prev_state: CarryState,
        day: date,
        ctx: StoreContext | None = None,
    ) -> None:
        expected = date.fromordinal(day.toordinal() - 1)
        if prev_state.state_date != expected:
            raise ValueError(
                f"generating {day} needs the state of {expected}, got the state of {prev_state.state_date}; "
                f"load or materialize day {expected} first."
            )
        self.settings, self.dims, self.day = settings, dims, day
        self.ctx = ctx or StoreContext.from_dims(dims)
        self.net = replenishment.Network.cached(dims)
        self.state = prev_state.copy()
        self.day_start = cal.day_start_us(day)
        self._due = prev_state.schedule_due(day)
        self._carry = prev_state.schedule_after(day)
        self._new_schedule: list[pa.Table] = []
        self.store_book = InventoryBook(
            "STORE", self.state.store_on_hand, self.state.store_last_stockout_ts, day, self.net.store_ids
        )
        self.dc_book = InventoryBook(
            "DC", self.state.dc_on_hand, self.state.dc_last_stockout_ts, day, self.net.dc_ids
        )
        # scheduled receipts of today
        self.receiving = replenishment.due_receiving(self.net, self._due)
        # stateless draws of the day
        self.online_plan = online.plan_day(settings, self.ctx, self.net, day)
        store_ops, dc_ops = replenishment.ops_txns(settings, self.ctx, self.net, self.state, day)
        online_store, online_dc = online.allocation_txns(self.online_plan)
        self._pending_store = TxnBatch.concat([self.receiving.store_txns, store_ops, online_store])
        self._pending_dc = TxnBatch.concat([self.receiving.dc_txns, dc_ops, online_dc])
        self._online_posted = np.zeros(len(self.online_plan.line_order), dtype=np.int64)
        self._next_hour = 0
        self._review_on_hand: np.ndarray | None = None

    # --- store chain (called by the store day) ---------------------------------------------
    def store_on_hand(self, store_idx: np.ndarray | int, product_ids: np.ndarray | int) -> np.ndarray:
        """Store on-hand now (a copy): at the start of the next hour to post."""
        return self.store_book.on_hand(store_idx, product_ids)

    @property
    def store_on_hand_array(self) -> np.ndarray:
        """The live (S, P) store on-hand array (read only, product index = product_id − 1)."""
        return self.state.store_on_hand

    def post_store_hour(self, hour: int, batch: TxnBatch) -> np.ndarray:
        """Post hour ``hour`` (0..23, in order, every hour once): ``batch`` (the store day's SALE and
        RETURN txns of the hour, event_ts inside the hour) together with the pending txns of that
        hour (truck receipts, online allocations at store nodes, damage, cycle counts).

        Returns the posted signed quantity per row of ``batch`` (clipped to stock; 0 = dropped).
        """
        if hour != self._next_hour:
            raise ValueError(
                f"post_store_hour({hour}) called out of order: hour {self._next_hour} is next (0..23 once)."
            )
        lo, hi = self.day_start + hour * US_H, self.day_start + (hour + 1) * US_H
        if len(batch) and (batch.event_ts.min() < lo or batch.event_ts.max() >= hi):
            raise ValueError(
                f"txns posted for hour {hour} must have event_ts inside [{hour}:00, {hour + 1}:00)."
            )
        if hour == 23:  # the 23:00 review sees every txn before 23:00 (§7.8)
            self._review_on_hand = self.state.store_on_hand.copy()
        pts = self._pending_store.event_ts
        pend = self._pending_store.select((pts >= lo) & (pts < hi))
        tagged = TxnBatch.concat([batch.take(np.arange(len(batch))), pend])
        n_own = len(batch)
        # refs: own rows keep 0..n-1 positions; pending rows keep their refs (online line index)
        posted = self.store_book.post(tagged)
        self._record_online(pend, posted[n_own:])
        self._next_hour += 1
        return posted[:n_own]

    def _record_online(self, pend: TxnBatch, posted: np.ndarray) -> None:
        is_online = pend.txn_type == inv.ONLINE_SALE
        self._online_posted[pend.ref[is_online]] = posted[is_online]

    # --- schedule shared with the store day ---------------------------------------------------
    def schedule_due(self, action_type: str) -> pa.Table:
        """Carried actions of ``action_type`` due today (e.g. ``RETURN_VISIT``)."""
        return self._due.filter(pc.equal(self._due.column("action_type"), action_type))

    def add_schedule(self, rows: pa.Table) -> None:
        """Add future actions (``state.SCHEDULE_SCHEMA`` rows due after today) to the state of D."""
        self._new_schedule.append(rows)

    # --- end of day ---------------------------------------------------------------------------
    def finish(self) -> LogisticsResult:
        """Close the day: DC chain, reviews, allocation, trucks, supplier booking, online orders."""
        if self._next_hour != 24:
            raise ValueError(f"finish() before all 24 store hours were posted (next hour {self._next_hour}).")
        st, day, d0 = self.state, self.day, self.day_start
        st.store_in_transit -= self.receiving.store_received
        st.dc_on_order -= self.receiving.dc_received
        # DC chain in phases (§7.9, §7.10)
        pend = self._pending_dc
        self._post_dc(pend.select(pend.event_ts < d0 + 22 * US_H))
        supplier = replenishment.supplier_review(self.settings, self.net, st, day)
        self._post_dc(pend.select((pend.event_ts >= d0 + 22 * US_H) & (pend.event_ts < d0 + 23 * US_H)))
        review_on_hand = self._review_on_hand if self._review_on_hand is not None else st.store_on_hand
        reorders = replenishment.store_review_and_allocate(self.settings, self.net, st, review_on_hand, day)
        reserved = reorders.reserved  # (D, P) allocated tonight, picked at 23:30
        half = d0 + 23 * US_H + 30 * cal.US_PER_MINUTE
        window = (pend.event_ts >= d0 + 23 * US_H) & (pend.event_ts <= half)
        self._post_dc(pend.select(window), floor=reserved)
        self._post_dc(TxnBatch.concat([reorders.picking_txns, pend.select(pend.event_ts > half)]))
        store_txn, store_so = self.store_book.finish()
        dc_txn, dc_so = self.dc_book.finish()
        # trucks and supplier deliveries (future rows go to the schedule)
        shipments = replenishment.dispatch_store_shipments(self.settings, self.net, reorders, day)
        bookings = replenishment.book_supplier_deliveries(self.settings, self.net, supplier, self._carry, day)
        orders = online.finalize(self.settings, self.ctx, self.online_plan, self._online_posted, day)
        new_rows = sort_schedule(
            pa.concat_tables(
                [self._carry, shipments.schedule, bookings.schedule, orders.schedule, *self._new_schedule]
            )
        )
        st.schedule = new_rows
        st.state_date = day
        store_txn = online.rename_sources(store_txn, orders.source_map)
        dc_txn = online.rename_sources(dc_txn, orders.source_map)
        stockouts = pa.concat_tables([store_so, dc_so]).sort_by(
            [("event_ts", "ascending"), ("txn_id_ext", "ascending")]
        )
        due_rows = replenishment.due_truck_rows(self._due)
        tables = {
            "fact_store_inventory_txn": store_txn,
            "fact_dc_inventory_txn": dc_txn,
            "fact_stockouts": stockouts,
            "fact_reorders": reorders.table,
            "fact_truck_moves": due_rows.truck_moves,
            "fact_truck_inventory": due_rows.truck_inventory,
            "fact_online_order_headers": orders.headers,
            "fact_online_order_lines": online.concat_lines(
                [online.due_line_rows(self._due), orders.lines_today]
            ),
        }
        return LogisticsResult(tables=tables, online_payments=orders.payments, state=st)

    def _post_dc(self, batch: TxnBatch, floor: np.ndarray | None = None) -> None:
        posted = self.dc_book.post(batch, floor)
        self._record_online(batch, posted)
