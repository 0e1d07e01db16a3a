"""Poison isolation (issue 8, items 3 and 6): a bad event is quarantined with one clear reason and its
neighbours land, through the local sink, through the Event Hubs consumer's batch handler and through
a whole drained day; only a failure that is not about one event (the lake) fails a batch, and then
nothing is confirmed and the retry lands every event exactly once."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from azure.eventhub import EventData, PartitionContext
from deltalake import write_deltalake

from retail_assets.contract.tables import CONTROL_TABLES
from retail_assets.lake import delta
from retail_assets.streaming.events import build_day_events
from retail_assets.streaming.landing import Lander
from retail_assets.streaming.sinks.eventhub import file_checkpoint_store, land_event_batch
from retail_assets.streaming.sinks.local import LocalDeltaSink
from retail_assets.streaming.validation import MAX_BODY_BYTES, REJECT_RAW_PREFIX_BYTES, parse_wire_timestamps
from retail_assets_tests.streaming.facts import DATASET_ID, DAY, contract_example_day

START = date(2024, 1, 1)  # the dataset's first day; the example events are on DAY = 2024-04-11
REJECTS = "ctl_rejected_events"


def _good() -> pa.Table:
    return build_day_events(contract_example_day(), DATASET_ID, START, DAY)


def _receipt() -> dict:
    body = next(b for b in _good()["body"].to_pylist() if '"receipt_type":"SALE"' in b)
    return json.loads(body)


def _poison(kind: str, change) -> str:
    event = _receipt()
    event["event_id"] = f"poison-{kind}"  # distinct from the good receipt: never a redelivery of it
    change(event)
    return json.dumps(event, separators=(",", ":"))  # NaN/Infinity are written as the bare literals


def _set(**envelope):
    return lambda e: e.update(envelope)


def _set_payload(**fields):
    return lambda e: e["payload"].update(fields)


def _v1_without_event_id(e: dict) -> None:
    e["schema_version"] = "1.0"
    del e["event_id"]


POISON: dict[str, tuple[str, str]] = {
    # kind: (body, the reason's expected beginning)
    "bad calendar timestamp": (
        _poison("cal", _set(ingest_timestamp="2024-01-03T25:61:00.000000Z")),
        'bad timestamp: ingest_timestamp "2024-01-03T25:61:00.000000Z" is not a UTC time',
    ),
    "February 30": (
        _poison("feb30", _set(ingest_timestamp="2024-02-30T10:00:00.000000Z")),
        'bad timestamp: ingest_timestamp "2024-02-30T10:00:00.000000Z"',
    ),
    "year 0001": (
        _poison("y1", _set(ingest_timestamp="0001-01-01T00:00:00.000000Z")),
        "timestamp out of range: ingest_timestamp \"0001-01-01T00:00:00.000000Z\" is before the dataset's first day 2024-01-01",
    ),
    "year 1999": (
        _poison("y1999", _set(ingest_timestamp="1999-12-31T23:59:59.999999Z")),
        'timestamp out of range: ingest_timestamp "1999-12-31T23:59:59.999999Z" is before',
    ),
    "year 2031 (future)": (
        _poison("y2031", _set(ingest_timestamp="2031-06-01T12:00:00.000000Z")),
        'timestamp out of range: ingest_timestamp "2031-06-01T12:00:00.000000Z" is after',
    ),
    "year 9999": (
        _poison("y9999", _set(ingest_timestamp="9999-12-31T23:59:59.999999Z")),
        'timestamp out of range: ingest_timestamp "9999-12-31T23:59:59.999999Z" is after',
    ),
    "NaN": (_poison("nan", _set_payload(total=float("nan"))), "not a finite number: payload.total is NaN"),
    "Infinity": (_poison("inf", _set_payload(tax=float("inf"))), "not a finite number: payload.tax is Infinity"),
    "-Infinity": (
        _poison("ninf", _set_payload(subtotal=float("-inf"))),
        "not a finite number: payload.subtotal is -Infinity",
    ),
    "empty event_id": (_poison("eid", _set(event_id="")), 'empty id: event_id is ""'),
    "blank payload id": (_poison("pid", _set_payload(receipt_id="  ")), 'empty id: payload.receipt_id is "  "'),
    "schema 1.0 without event_id": (_poison("v1", _v1_without_event_id), "missing required field event_id"),
    "payload {}": (_poison("empty", _set(payload={})), "empty payload: {} has none of the fields of receipt_created"),
    "enum outside the contract": (
        _poison("enum", _set_payload(receipt_type="GIFT")),
        'value outside the contract: payload.receipt_type "GIFT" is not one of SALE, RETURN',
    ),
    "unsupported schema_version": (_poison("v3", _set(schema_version="3.0")), 'unsupported schema_version "3.0"'),
    "oversize body": (
        _poison("big", _set_payload(padding="x" * (10 * 1024 * 1024))),
        "body too large: 10486",
    ),
    "bad JSON": (_poison("json", lambda e: None)[:-9], "bad JSON"),
    "unknown event type": (
        _poison("unknown", _set(event_type="receipt_voided")),
        'unknown event_type "receipt_voided"',
    ),
}


def _v1_without_2_0_fields() -> str:
    """A legitimate 1.x event: the payload lacks fields a 2.0 producer must send (§5.7: they map to
    NULL / the documented default in Silver), so it lands."""
    event = _receipt()
    event["event_id"] = "v1-ok"
    event["schema_version"] = "1.0"
    del event["payload"]["receipt_type"], event["payload"]["discount_amount"]
    return json.dumps(event, separators=(",", ":"))


def _mixed() -> tuple[pa.Table, int]:
    """An outbox-shaped batch: the good events with every poison kind and one 1.x event between them."""
    good = _good()
    bodies = good["body"].to_pylist()
    types = good["event_type"].to_pylist()
    poison = [body for body, _ in POISON.values()]
    mixed_bodies = [*bodies[:4], *poison[:9], _v1_without_2_0_fields(), *bodies[4:], *poison[9:]]
    mixed_types = [*types[:4], *["receipt_created"] * 10, *types[4:], *["receipt_created"] * (len(poison) - 9)]
    table = pa.table(
        {
            "outbox_seq": pa.array(range(1, len(mixed_bodies) + 1), pa.int64()),
            "event_type": pa.array(mixed_types, pa.string()),
            "body": pa.array(mixed_bodies, pa.string()),
        }
    )
    return table, len(bodies) + 1


def _read(root: str, table: str) -> pa.Table:
    return delta.read_table(delta.table_uri(root, "cusn", table))


def _bronze_rows(root: str) -> Counter:
    counts: Counter = Counter()
    for name in set(_good()["event_type"].to_pylist()):
        for event_id in _read(root, name)["event_id"].to_pylist():
            counts[event_id] += 1
    return counts


def _assert_quarantined(root: str) -> None:
    """Each poison body is in ctl_rejected_events once, with its reason, a bounded prefix, its byte
    length and sha256; every good event (and the 1.x one) is in Bronze once."""
    rejects = {r["raw_sha256"]: r for r in _read(root, REJECTS).to_pylist()}
    assert len(rejects) == _read(root, REJECTS).num_rows == len(POISON)
    for kind, (body, reason) in POISON.items():
        data = body.encode()
        row = rejects[hashlib.sha256(data).hexdigest()]
        assert row["reason"].startswith(reason), (kind, row["reason"])
        assert len(row["reason"]) <= 400 and row["raw_bytes"] == len(data)
        assert row["raw"].encode() == data[:REJECT_RAW_PREFIX_BYTES], kind  # the whole body when it is small
    big = rejects[hashlib.sha256(POISON["oversize body"][0].encode()).hexdigest()]
    assert len(big["raw"]) == REJECT_RAW_PREFIX_BYTES < big["raw_bytes"]  # a prefix, not 10 MB
    assert big["event_id"] == "poison-big" and big["event_type"] == "receipt_created"
    landed = _bronze_rows(root)
    expected = [*_good()["event_id"].to_pylist(), "v1-ok"]
    assert sorted(landed.elements()) == sorted(expected)  # each good event exactly once, no poison
    v1 = next(r for r in _read(root, "receipt_created").to_pylist() if r["event_id"] == "v1-ok")
    assert v1["receipt_type"] is None and v1["schema_version"] == "1.0"
    partitions = set(_read(root, "receipt_created")["event_date"].to_pylist())
    assert partitions == {DAY}  # no year-0001/1999/2031/9999 partitions


def test_every_poison_kind_through_the_local_sink_is_quarantined_and_the_batch_confirmed(tmp_path):
    root = str(tmp_path / "lake")
    batch, _ = _mixed()
    result = LocalDeltaSink(root, earliest=START).send(batch)
    assert len(result.failed) == 0 and sorted(result.sent.tolist()) == batch["outbox_seq"].to_pylist()
    assert result.landing.rejected_total == len(POISON)
    _assert_quarantined(root)


def _received(body: str | bytes, sequence_number: int, table: str | None) -> EventData:
    """An ``EventData`` as the consumer receives it: body bytes, sequence number, offset and the
    ``Table`` application property (bytes keys and values, as they come off the wire)."""
    event = EventData(body.encode() if isinstance(body, str) else body)
    event.raw_amqp_message.annotations[b"x-opt-sequence-number"] = sequence_number
    event.raw_amqp_message.annotations[b"x-opt-offset"] = str(sequence_number * 100).encode()
    if table is not None:
        event.properties = {b"Table": table.encode()}
    return event


def _partition(checkpoints: Path) -> PartitionContext:
    return PartitionContext("ns.servicebus.windows.net", "retail", "$Default", "3", file_checkpoint_store(checkpoints))


def _checkpoint(checkpoints: Path) -> dict | None:
    files = list(checkpoints.glob("*.json"))
    return json.loads(files[0].read_text()) if files else None


def test_the_consumer_quarantines_poison_and_checkpoints_past_it(tmp_path):
    root, checkpoints = str(tmp_path / "lake"), tmp_path / "checkpoints"
    batch, _ = _mixed()
    not_utf8 = _poison("utf8", lambda e: None).encode().replace(b"RCP-", b"\xff\xfe-")
    events = [
        _received(body, 1000 + i, table)
        for i, (body, table) in enumerate(zip(batch["body"].to_pylist(), batch["event_type"].to_pylist(), strict=True))
    ]
    events.append(_received(not_utf8, 1000 + len(events), "receipt_created"))
    report = land_event_batch(Lander(root, "eventhub", earliest=START), _partition(checkpoints), events)
    assert report.rejected_total == len(POISON) + 1
    assert _checkpoint(checkpoints)["sequence_number"] == events[-1].sequence_number  # past every poison event
    rejects = _read(root, REJECTS)
    assert "bad JSON: the body is not valid UTF-8" in rejects["reason"].to_pylist()
    landed = _read(root, "receipt_created").to_pylist()
    assert {(r["_sink"], r["_eh_partition_id"]) for r in landed} == {("eventhub", "3")}
    by_id = {r["event_id"]: r["_eh_sequence_number"] for r in landed}
    assert by_id["v1-ok"] == 1000 + batch["body"].to_pylist().index(_v1_without_2_0_fields())


def _block(path: Path) -> None:
    """Make a table location unwritable. Tests run as root, which ignores permission bits, so the
    table's directory is replaced by a file (what a full or read-only mount looks like to Delta)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a directory")


def test_an_unwritable_lake_fails_the_batch_and_the_retry_lands_each_event_once(tmp_path):
    root = tmp_path / "lake"
    batch, _ = _mixed()
    blocked = root / "cusn" / "receipt_line_added"  # written after store_opened and receipt_created
    _block(blocked)
    sink = LocalDeltaSink(str(root), earliest=START)
    result = sink.send(batch)
    assert len(result.sent) == 0 and sorted(result.failed.tolist()) == batch["outbox_seq"].to_pylist()
    assert "receipt_line_added" in result.errors[0]
    assert _read(str(root), "receipt_created").num_rows == 3  # landed before the failure ...
    assert not delta.table_exists(delta.table_uri(str(root), "cusn", REJECTS))  # ... rejects come last
    blocked.unlink()
    result = sink.send(batch)  # the drain's retry of the nacked batch
    assert len(result.failed) == 0 and len(result.sent) == batch.num_rows
    _assert_quarantined(str(root))  # nothing twice, nothing lost


def test_the_consumer_does_not_checkpoint_when_the_lake_fails_and_lands_everything_on_the_reread(tmp_path):
    root, checkpoints = tmp_path / "lake", tmp_path / "checkpoints"
    batch, _ = _mixed()
    events = [
        _received(body, 7 + i, table)
        for i, (body, table) in enumerate(zip(batch["body"].to_pylist(), batch["event_type"].to_pylist(), strict=True))
    ]
    _block(root / "cusn" / "receipt_line_added")
    lander = Lander(str(root), "eventhub", earliest=START)
    with pytest.raises(delta.LakeError, match="receipt_line_added"):
        land_event_batch(lander, _partition(checkpoints), events)
    assert _checkpoint(checkpoints) is None  # the SDK reads the batch again from the last checkpoint
    (root / "cusn" / "receipt_line_added").unlink()
    land_event_batch(Lander(str(root), "eventhub", earliest=START), _partition(checkpoints), events)
    assert _checkpoint(checkpoints)["sequence_number"] == events[-1].sequence_number
    _assert_quarantined(str(root))


def test_a_day_with_poison_in_the_outbox_drains_completely(tmp_path, dataset_settings):
    from retail_assets import pipeline
    from retail_assets.config import HomeSettings
    from retail_assets.generate.day import generate_day
    from retail_assets.generate.dimensions import build_dimensions
    from retail_assets.streaming.drain import DrainSettings, drain
    from retail_assets.streaming.outbox import Outbox

    home = HomeSettings.from_env({"RETAIL_ASSETS_HOME": str(tmp_path / "home")})
    day = dataset_settings.start_date
    pipeline.build_and_write_dimensions(home, dataset_settings)
    dims = build_dimensions(dataset_settings)
    tables = generate_day(dataset_settings, dims, pipeline.load_prev_state(home, dataset_settings, dims, day), day).tables
    events = build_day_events(tables, dataset_settings.dataset_id, dataset_settings.start_date, day)
    bodies = events["body"].to_pylist()
    poisoned = {  # row -> change: the outbox rows keep their ids, only the bodies go bad
        7: lambda e: e.update(ingest_timestamp="2024-01-01T12:00:00Z"),
        len(bodies) // 3: lambda e: (e.update(schema_version="1.0"), e.pop("event_id")),
        len(bodies) // 2: lambda e: e.update(ingest_timestamp="2024-01-01T25:61:00.000000Z"),
        len(bodies) - 5: lambda e: e.update(payload={}),
        len(bodies) - 2: lambda e: e.update(ingest_timestamp="9999-12-31T23:59:59.999999Z"),
    }
    for row, change in poisoned.items():
        event = json.loads(bodies[row])
        change(event)
        bodies[row] = json.dumps(event, separators=(",", ":"))
    events = events.set_column(events.schema.get_field_index("body"), "body", pa.array(bodies, pa.string()))
    outbox = Outbox.in_state_dir(Path(home.state_dir))
    assert outbox.enqueue_day(day, events) == len(bodies)
    sink = LocalDeltaSink(home.lake_root, earliest=dataset_settings.start_date)
    result = drain(outbox, sink, "test", DrainSettings(max_events=10**7, max_seconds=120, batch_size=len(bodies) // 4))
    assert (result.dead, result.failed, result.sent) == (0, 0, len(bodies))
    assert result.stop_reason == "drained" and outbox.open_count() == 0
    assert sum(result.landed.values()) == len(bodies) - len(poisoned)
    assert sum(result.rejected.values()) == len(poisoned)
    assert set(day for _, day in result.landed) == {day}
    rejected = _read(home.lake_root, REJECTS)["raw"].to_pylist()
    assert sorted(rejected) == sorted(bodies[row] for row in poisoned)


def test_an_existing_rejects_table_without_the_new_columns_gets_them(tmp_path):
    root = str(tmp_path / "lake")
    uri = delta.table_uri(root, "cusn", REJECTS)
    old = pa.schema([f for f in CONTROL_TABLES[REJECTS].arrow_schema if f.name not in ("raw_bytes", "raw_sha256")])
    old_row = {"landed_date": [date(2024, 5, 1)], "event_type": [None], "event_id": [None], "reason": ["bad JSON"], "raw": ["{"]}
    write_deltalake(uri, pa.table(old_row, schema=old), partition_by=["landed_date"])
    Lander(root, "local", earliest=START).land([POISON["NaN"][0]])
    rows = sorted(_read(root, REJECTS).to_pylist(), key=lambda r: r["landed_date"])
    assert rows[0]["raw_bytes"] is None and rows[0]["raw"] == "{"  # history kept, new columns NULL
    assert rows[1]["raw_bytes"] == len(POISON["NaN"][0]) and rows[1]["reason"].startswith("not a finite number")


def test_a_row_with_several_problems_gets_one_reason_the_first_rule_gives(tmp_path):
    root = str(tmp_path / "lake")
    body = _poison("two", lambda e: (e.update(event_id=""), e["payload"].update(total=float("nan"))))
    assert Lander(root, "local", earliest=START).land([body]).rejected == {"empty id": 1}
    assert _read(root, REJECTS)["reason"].to_pylist() == ['empty id: event_id is ""']


def test_the_size_limit_is_configurable_and_applies_to_the_body_bytes(tmp_path):
    root = str(tmp_path / "lake")
    body = next(b for b in _good()["body"].to_pylist() if "store_opened" in b)
    report = Lander(root, "local", earliest=START, max_body_bytes=len(body.encode()) - 1).land([body])
    assert report.rejected == {"body too large": 1} and MAX_BODY_BYTES == 256 * 1024
    assert Lander(root, "local", earliest=START, max_body_bytes=len(body.encode())).land([body]).landed_total == 1


def test_a_later_latest_day_accepts_a_streamed_future_day_and_today_is_the_default(tmp_path):
    future = datetime.now(UTC).date() + timedelta(days=400)
    body = _poison("next-year", _set(ingest_timestamp=f"{future.isoformat()}T08:00:00.000000Z"))
    assert Lander(str(tmp_path / "a"), "local", earliest=START).land([body]).rejected == {"timestamp out of range": 1}
    assert Lander(str(tmp_path / "b"), "local", earliest=START, latest=future).land([body]).landed_total == 1


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-29T23:59:59.999999Z", "2023-02-29T00:00:00.000000Z", "1900-02-29T00:00:00.000000Z",
        "2000-02-29T00:00:00.000000Z", "2024-04-31T00:00:00.000000Z", "2024-12-31T23:59:59.000000Z",
        "2024-13-01T00:00:00.000000Z", "2024-00-10T00:00:00.000000Z", "2024-01-00T00:00:00.000000Z",
        "2024-01-01T24:00:00.000000Z", "2024-01-01T23:60:00.000000Z", "2024-01-01T23:59:60.000000Z",
        "0000-01-01T00:00:00.000000Z", "0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z",
        "1969-12-31T23:59:59.999999Z", "2024-01-01T00:00:00.000000+", "2024-01-01 00:00:00.000000Z",
        "2024-01-01T00:00:00.00000Z", "2024-01-01T00:00:00.0000000Z", "2024-0a-01T00:00:00.000000Z",
        "２024-01-01T00:00:00.000000Z", "",
    ],
)  # fmt: skip
def test_wire_timestamps_are_checked_like_a_calendar(text):
    """The vectorised check agrees with Python's calendar on every edge (leap years, month ends,
    hour 24, second 60, year 0, wrong separators or lengths, non-ASCII digits)."""
    try:
        expected = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) if len(text) == 27 else None
    except ValueError:
        expected = None
    if expected is not None and not text.isascii():
        expected = None
    parsed = parse_wire_timestamps(pa.array(["x" * 30, text, None], pa.string()).slice(1, 1))
    assert bool(parsed.ok[0]) == (expected is not None)
    if expected is not None:
        assert parsed.typed()[0].as_py() == expected
