"""Azure Event Hubs: ``EventHubSink`` (producer) and ``consume_to_bronze`` (the consumer side).

Producer rules (contract §5.2 "Transport", issue): one ``EventData`` per event, body = the canonical
bytes, ``message_id`` = ``event_id``, application properties ``Table`` = event type and
``schema_version``; batches are grouped by partition key (so a store's events keep their order) and
split at the hub's batch size limit; every ``send_batch`` has a deadline (``timeout``) and the
client's retries are bounded. When a send fails, every event of this call that was not yet
confirmed is reported failed, so the drain nacks them (attempts count up to DEAD) instead of
silently dropping them — the old system ignored a failed connection.

The connection string comes from ``AZURE_EVENTHUB_CONNECTION_STRING`` and is never logged or put in
an error message. The SDK is imported lazily (heavy, and only needed when this sink is chosen).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.contract.events import SCHEMA_VERSION
from retail_assets.streaming.landing import Lander, LandingReport
from retail_assets.streaming.sinks import SendResult
from retail_assets.streaming.sinks.scrub import scrub  # re-exported: other modules import it from here

CONNECTION_ENV = "AZURE_EVENTHUB_CONNECTION_STRING"


class EventHubConfigError(ValueError):
    """Event Hubs settings are missing or unusable; the message says which and how to fix it."""


def _connection_string(explicit: str | None) -> str:
    conn = explicit or os.environ.get(CONNECTION_ENV, "")
    if not conn.strip():
        raise EventHubConfigError(
            f"the Event Hubs sink needs a connection string: set {CONNECTION_ENV} (Endpoint=sb://…;"
            "SharedAccessKeyName=…;SharedAccessKey=…), or use the default local sink."
        )
    return conn


@dataclass(frozen=True)
class EventHubSettings:
    eventhub_name: str
    send_timeout_s: float = 10.0
    retry_total: int = 2
    max_batch_bytes: int = 1_046_528  # the Standard tier's 1 MB message limit (minus headroom)

    def __post_init__(self) -> None:
        if not self.eventhub_name:
            raise EventHubConfigError("eventhub_name is empty; set the hub name in the job config or --eventhub-name.")
        if self.send_timeout_s <= 0:
            raise EventHubConfigError("send_timeout_s must be > 0 (a send without a deadline can hang forever).")


def _groups_by_key(keys: pa.ChunkedArray | pa.Array) -> Iterator[tuple[str, np.ndarray]]:
    """Row indices per partition key, each in original (= outbox_seq, event_ts) order."""
    order = pc.sort_indices(keys).to_numpy()  # Arrow's sort is stable: rows keep their order per key
    sorted_keys = keys.take(pa.array(order)).to_numpy(zero_copy_only=False)
    if len(order) == 0:
        return
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for s, e in zip(starts, ends, strict=True):
        yield str(sorted_keys[s]), order[s:e]


class EventHubSink:
    """Sends leased events with ``EventHubProducerClient``; ``client`` may be injected (tests)."""

    name = "eventhub"

    def __init__(self, settings: EventHubSettings, connection_string: str | None = None, client: Any = None) -> None:
        self.settings = settings
        if client is None:
            from azure.eventhub import EventHubProducerClient

            client = EventHubProducerClient.from_connection_string(
                _connection_string(connection_string),
                eventhub_name=settings.eventhub_name,
                retry_total=settings.retry_total,
                retry_backoff_factor=0.5,
                retry_backoff_max=2.0,
                auth_timeout=settings.send_timeout_s,
            )
        self._client = client
        self.sends = 0

    def send(self, events: pa.Table) -> SendResult:
        from azure.eventhub import EventData

        seqs = events["outbox_seq"].to_numpy()
        bodies = events["body"].to_pylist()
        ids = events["event_id"].to_pylist()
        types = events["event_type"].to_pylist()
        sent: list[np.ndarray] = []
        failed: list[int] = []
        errors: list[str] = []
        abort: str | None = None

        for key, rows in _groups_by_key(events["partition_key"]):
            if abort is not None:
                failed.extend(int(seqs[i]) for i in rows)
                errors.extend([abort] * len(rows))
                continue
            batch, abort = self._new_batch(key)
            if abort is not None:
                failed.extend(int(seqs[i]) for i in rows)
                errors.extend([abort] * len(rows))
                continue
            in_batch: list[int] = []
            for i in rows:
                data = EventData(bodies[i])
                data.message_id = ids[i]
                data.properties = {"Table": types[i], "schema_version": SCHEMA_VERSION}
                try:
                    batch.add(data)
                    in_batch.append(i)
                    continue
                except ValueError:  # the batch is full (or the event alone is too large)
                    pass
                if in_batch:
                    abort = self._flush(batch, in_batch, seqs, sent, failed, errors)
                    in_batch = []
                    if abort is not None:
                        break
                    batch, abort = self._new_batch(key)
                    if abort is not None:
                        break
                    try:
                        batch.add(data)
                        in_batch.append(i)
                        continue
                    except ValueError:
                        pass
                failed.append(int(seqs[i]))
                errors.append(
                    f"event {ids[i]} ({len(bodies[i].encode())} bytes) exceeds the hub's maximum batch size "
                    f"{batch.max_size_in_bytes} bytes"
                )
            if abort is None and in_batch:
                abort = self._flush(batch, in_batch, seqs, sent, failed, errors)
            if abort is not None:
                done = set(int(s) for arr in sent for s in arr) | set(failed)
                rest = [int(seqs[i]) for i in rows if int(seqs[i]) not in done]
                failed.extend(rest)
                errors.extend([abort] * len(rest))
        return SendResult(
            sent=np.concatenate(sent) if sent else np.empty(0, np.int64),
            failed=np.array(failed, np.int64),
            errors=errors,
        )

    def _new_batch(self, key: str) -> tuple[Any, str | None]:
        """A fresh batch for ``key``, sized locally so that the only network call is ``send_batch``
        (which carries the deadline); ``create_batch`` would open a link without one."""
        from azure.eventhub import EventDataBatch

        try:
            return EventDataBatch(max_size_in_bytes=self.settings.max_batch_bytes, partition_key=key), None
        except Exception as exc:  # pragma: no cover - constructor failures are programming errors
            return None, f"cannot build an Event Hubs batch: {type(exc).__name__}: {exc}"

    def _flush(
        self, batch: Any, rows: list[int], seqs: np.ndarray, sent: list[np.ndarray], failed: list[int], errors: list[str]
    ) -> str | None:
        """Send one batch with a deadline; returns the abort error when it failed."""
        self.sends += 1
        try:
            self._client.send_batch(batch, timeout=self.settings.send_timeout_s)
        except Exception as exc:  # any SDK failure (connect, auth, timeout) fails the rest of this call
            err = scrub(f"Event Hubs send failed: {type(exc).__name__}: {exc}")[:1000]
            failed.extend(int(seqs[i]) for i in rows)
            errors.extend([err] * len(rows))
            return err
        sent.append(seqs[np.array(rows, dtype=np.int64)])
        return None

    def close(self) -> None:
        # closing a client whose connection never opened must not mask the real error
        with contextlib.suppress(Exception):
            self._client.close()


# --- consumer ------------------------------------------------------------------------------------


def _checkpoint_store_class() -> type:
    from azure.eventhub._eventprocessor.in_memory_checkpoint_store import InMemoryCheckpointStore

    class FileCheckpointStore(InMemoryCheckpointStore):
        """Checkpoints as small JSON files (atomic rename) so a restart resumes after the last landed
        event; partition ownership stays in memory (one consumer process at a time)."""

        def __init__(self, directory: Path) -> None:
            super().__init__()
            self.directory = Path(directory)
            self.directory.mkdir(parents=True, exist_ok=True)

        def _file(self, ns: str, hub: str, group: str, pid: str) -> Path:
            name = "__".join(re.sub(r"[^A-Za-z0-9._-]", "_", str(p)) for p in (ns, hub, group, pid))
            return self.directory / f"{name}.json"

        def update_checkpoint(self, checkpoint: dict[str, Any], **kwargs: Any) -> None:
            path = self._file(
                checkpoint["fully_qualified_namespace"],
                checkpoint["eventhub_name"],
                checkpoint["consumer_group"],
                checkpoint["partition_id"],
            )
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(checkpoint))
            os.replace(tmp, path)

        def list_checkpoints(self, fully_qualified_namespace: str, eventhub_name: str, consumer_group: str, **kwargs: Any):
            prefix = "__".join(
                re.sub(r"[^A-Za-z0-9._-]", "_", p) for p in (fully_qualified_namespace, eventhub_name, consumer_group)
            )
            return [json.loads(p.read_text()) for p in sorted(self.directory.glob(f"{prefix}__*.json"))]

    return FileCheckpointStore


def table_property(properties: dict[Any, Any] | None) -> str | None:
    """The ``Table`` application property (the event type) as text; received events may carry
    bytes keys and values. Only a hint: the landing checks it against the body."""
    if not properties:
        return None
    value = properties.get("Table", properties.get(b"Table"))
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


def file_checkpoint_store(directory: Path) -> Any:
    return _checkpoint_store_class()(directory)


@dataclass
class ConsumeResult:
    report: LandingReport
    events: int
    batches: int
    error: str | None


def consume_to_bronze(
    lake_root: str,
    checkpoint_dir: Path,
    eventhub_name: str,
    consumer_group: str = "$Default",
    max_events: int = 1_000_000,
    max_seconds: float = 60.0,
    connection_string: str | None = None,
    max_batch_size: int = 1000,
) -> ConsumeResult:
    """Read events from a hub and land them (``_sink = 'eventhub'``), checkpointing after each
    landed batch; stops after ``max_seconds`` or ``max_events``."""
    from azure.eventhub import EventHubConsumerClient

    client = EventHubConsumerClient.from_connection_string(
        _connection_string(connection_string),
        consumer_group=consumer_group,
        eventhub_name=eventhub_name,
        checkpoint_store=file_checkpoint_store(checkpoint_dir),
        retry_total=2,
    )
    lander = Lander(lake_root, sink="eventhub")
    report = LandingReport()
    state = {"events": 0, "batches": 0, "error": None}
    done = threading.Event()

    def on_batch(partition_context: Any, events: list[Any]) -> None:
        if not events:
            return
        bodies = [e.body_as_str(encoding="utf-8") for e in events]
        pid = pa.array([partition_context.partition_id] * len(events), pa.string())
        seq = pa.array([e.sequence_number for e in events], pa.int64())
        hints = [table_property(e.properties) for e in events]
        report.merge(lander.land(bodies, eh_partition_ids=pid, eh_sequence_numbers=seq, event_types=hints))
        partition_context.update_checkpoint(events[-1])  # only after the landing committed
        state["events"] += len(events)
        state["batches"] += 1
        if state["events"] >= max_events:
            done.set()

    def on_error(partition_context: Any, error: Exception) -> None:
        state["error"] = scrub(f"{type(error).__name__}: {error}")[:1000]

    worker = threading.Thread(
        target=lambda: client.receive_batch(
            on_event_batch=on_batch, on_error=on_error, max_batch_size=max_batch_size, max_wait_time=5,
            starting_position="-1",
        ),
        daemon=True,
    )
    worker.start()
    deadline = time.monotonic() + max_seconds
    while not done.is_set() and worker.is_alive() and time.monotonic() < deadline:
        done.wait(0.2)
    client.close()
    worker.join(timeout=30)
    return ConsumeResult(report=report, events=state["events"], batches=state["batches"], error=state["error"])
