"""The outbox status machine: batches, leases, expiry, back-off, dead letters, cap, housekeeping."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from retail_assets.streaming.events import build_day_events
from retail_assets.streaming.outbox import Outbox, OutboxFullError, OutboxSettings, now_utc
from retail_assets_tests.streaming.facts import DATASET_ID, DAY, contract_example_day


@pytest.fixture
def events():
    return build_day_events(contract_example_day(), DATASET_ID, date(2024, 1, 1), DAY)


def _outbox(tmp_path, **kw) -> Outbox:
    return Outbox.in_state_dir(tmp_path, settings=OutboxSettings(**kw))


def test_enqueue_is_one_transaction_and_idempotent_per_day(tmp_path, events):
    ob = _outbox(tmp_path)
    assert ob.enqueue_day(DAY, events) == events.num_rows
    assert ob.enqueue_day(DAY, events) == 0
    s = ob.status()
    assert (s["pending"], s["sent"]) == (events.num_rows, 0)
    assert s["days"] == [{"event_date": DAY.isoformat(), "events": 10, "pending": 10, "leased": 0, "sent": 0, "dead": 0}]


def test_cap_refuses_and_writes_nothing(tmp_path, events):
    ob = _outbox(tmp_path)
    with pytest.raises(OutboxFullError, match="cap of 5 pending"):
        ob.enqueue_day(DAY, events, max_pending=5)
    assert ob.status()["pending"] == 0 and ob.enqueued_days() == {}


def test_lease_in_seq_order_and_ack(tmp_path, events):
    ob = _outbox(tmp_path)
    ob.enqueue_day(DAY, events)
    first = ob.lease("a", 4)
    assert first["outbox_seq"].to_pylist() == events["outbox_seq"].to_pylist()[:4]
    assert set(first["attempts"].to_pylist()) == {1}
    second = ob.lease("b", 100)
    assert second["outbox_seq"].to_pylist() == events["outbox_seq"].to_pylist()[4:]
    statements = ob.statements
    assert ob.ack(first["outbox_seq"]) == 4
    assert ob.statements - statements <= 3  # set-based: one UPDATE for the whole batch
    s = ob.status()
    assert (s["pending"], s["leased"], s["sent"]) == (0, 6, 4)
    assert s["latest_sent_ts"] is not None and s["oldest_pending_ts"] is None


def test_expired_lease_returns_to_pending_and_costs_no_attempt(tmp_path, events):
    ob = _outbox(tmp_path, max_attempts=2, lease_seconds=60, min_retry_window_s=0)
    ob.enqueue_day(DAY, events)
    t = now_utc()
    assert ob.lease("crashed", 3, now=t).num_rows == 3
    assert ob.lease("other", 100, now=t + timedelta(seconds=30)).num_rows == 7  # not expired yet
    again = ob.lease("other", 100, now=t + timedelta(seconds=61))
    assert again["outbox_seq"].to_pylist() == events["outbox_seq"].to_pylist()[:3]
    assert set(again["attempts"].to_pylist()) == {1}  # the crashed run never sent: still the first attempt
    for k in range(2, 6):  # leases expiring over and over never make an event DEAD
        assert ob.lease(f"x{k}", 100, now=t + timedelta(seconds=100 * k)).num_rows == 10
    s = ob.status(now=t + timedelta(seconds=500))
    assert (s["dead"], s["leased"]) == (0, 10)
    assert ob.open_attempts()["max"] == 0


def test_nack_backs_off_and_dead_letters_keep_the_error(tmp_path, events):
    ob = _outbox(tmp_path, max_attempts=2, backoff_base_s=10, min_retry_window_s=0)
    ob.enqueue_day(DAY, events)
    t = now_utc()
    batch = ob.lease("a", 2, now=t)
    assert ob.nack(batch["outbox_seq"], ["hub down", "hub down"], "a", now=t) == {"dead": 0, "retry": 2}
    assert ob.lease("a", 100, now=t + timedelta(seconds=5))["outbox_seq"].to_pylist() == events["outbox_seq"].to_pylist()[2:]
    retry = ob.lease("a", 100, now=t + timedelta(seconds=11))
    assert retry["outbox_seq"].to_pylist() == events["outbox_seq"].to_pylist()[:2]
    assert ob.nack(retry["outbox_seq"], ["boom 1", "boom 2"], "a", now=t) == {"dead": 2, "retry": 0}
    s = ob.status()
    assert s["dead"] == 2 and [d["last_error"] for d in s["dead_letters"]] == ["boom 1", "boom 2"]
    assert s["by_event_type"]["store_opened"]["dead"] == 1


def test_purge_and_clear(tmp_path, events):
    ob = _outbox(tmp_path)
    ob.enqueue_day(DAY, events)
    batch = ob.lease("a", 3)
    ob.ack(batch["outbox_seq"], now=now_utc() - timedelta(days=10))
    assert ob.purge_sent(timedelta(days=7)) == 3
    assert ob.status()["sent"] == 0
    assert ob.clear() == 7
    assert ob.status()["pending"] == 0
    assert ob.enqueue_day(DAY, events) == 0  # the day stays recorded: never enqueued twice


def test_seq_and_event_id_are_unique_across_days(tmp_path):
    from datetime import timedelta as td

    from retail_assets_tests.streaming.facts import contract_example_day as day_tables

    ob = _outbox(tmp_path)
    ob.enqueue_day(DAY, build_day_events(day_tables(), DATASET_ID, date(2024, 1, 1), DAY))
    shifted = {}
    for name, t in day_tables().items():  # the same rows one day later: new ids, new seqs
        import pyarrow as pa
        import pyarrow.compute as pc

        if t.num_rows:
            t = t.set_column(0, "event_ts", pc.add(t["event_ts"], pa.scalar(td(days=1), pa.duration("us"))))
            t = t.set_column(1, "event_date", pc.cast(t["event_ts"], pa.date32()))
        shifted[name] = t
    ob.enqueue_day(DAY + td(days=1), build_day_events(shifted, DATASET_ID, date(2024, 1, 1), DAY + td(days=1)))
    import duckdb

    with duckdb.connect(str(ob.database), read_only=True) as con:
        n, seqs = con.execute("SELECT count(*), count(DISTINCT outbox_seq) FROM streaming_outbox").fetchall()[0]
        per_day = con.execute(
            "SELECT count(*) = count(DISTINCT event_id) FROM streaming_outbox GROUP BY event_date"
        ).fetchall()
    assert n == seqs == 20 and per_day == [(True,), (True,)]
