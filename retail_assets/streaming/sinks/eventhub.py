"""Azure Event Hubs: ``EventHubSink`` (producer) and ``consume_to_bronze`` (the consumer side).

Producer rules (contract §5.2 "Transport", issue): one ``EventData`` per event, body = the canonical
bytes, ``message_id`` = ``event_id``, application properties ``Table`` = event type and
``schema_version``; batches are grouped by partition key (so a store's events keep their order) and
split at the hub's own limit (the send link's advertised max message size: 1 MB Standard, 256 KB
Basic); every network call of the SDK runs under a hard deadline that holds whatever the SDK does
(see ``EventHubSink``) and the client's retries are bounded. When a send fails, every event of this call that was not yet
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
from datetime import date
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
_ENDPOINT = re.compile(r"Endpoint=[a-z]+://([^/;\s]+)", re.IGNORECASE)


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
    max_batch_bytes: int | None = None
    """None: the hub's own limit, advertised as the send link's max message size (1 MB Standard,
    256 KB Basic); a number caps it further (never above the link's limit)."""

    def __post_init__(self) -> None:
        if not self.eventhub_name:
            raise EventHubConfigError("eventhub_name is empty; set the hub name in the job config or --eventhub-name.")
        if self.send_timeout_s <= 0:
            raise EventHubConfigError("send_timeout_s must be > 0 (a send without a deadline can hang forever).")
        if self.max_batch_bytes is not None and self.max_batch_bytes <= 0:
            raise EventHubConfigError(
                f"max_batch_bytes={self.max_batch_bytes} must be > 0, or unset to use the hub's own limit."
            )


class SendDeadlineExceeded(TimeoutError):
    """A network call of the SDK did not finish within ``send_timeout_s``; it was abandoned."""


RELEASE_WAIT_S = 0.5
"""How long the sink waits for an abandoned client's release before it moves on (the release goes
on in the background: the SDK's links close in well under a second)."""


RELEASE_GIVE_UP_S = 60.0
"""The background release stops chasing the abandoned call's retries after this long."""


def _close_handlers(client: Any) -> None:
    for producer in list((getattr(client, "_producers", None) or {}).values()):
        handler = getattr(producer, "_handler", None)
        if handler is not None:
            with contextlib.suppress(Exception):
                handler.close()


def _release(client: Any, worker: threading.Thread | None = None) -> None:
    """Close an abandoned client's links and connections from outside the call that hangs.

    ``client.close()`` alone would wait for the lock that the hanging call holds (the SDK opens the
    producer link under it), so the producers' AMQP handlers are closed first: that closes their
    sockets and the call fails at once instead of after the SDK's own timeouts. The SDK then
    retries with a new handler, so this is repeated until the abandoned call has ended.
    """
    give_up = time.monotonic() + RELEASE_GIVE_UP_S
    _close_handlers(client)
    while worker is not None and worker.is_alive() and time.monotonic() < give_up:
        worker.join(0.1)
        _close_handlers(client)
    with contextlib.suppress(Exception):
        client.close()


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


def event_data(body: str | bytes, event_id: str, event_type: str) -> Any:
    """One outbox event as the SDK's ``EventData``: the body, its id as ``message_id`` and the
    ``Table``/``schema_version`` properties the consumer uses to type it (one shape for every sender)."""
    from azure.eventhub import EventData

    data = EventData(body)
    data.message_id = event_id
    data.properties = {"Table": event_type, "schema_version": SCHEMA_VERSION}
    return data


class EventHubSink:
    """Sends leased events with ``EventHubProducerClient``.

    Every call that can touch the network (opening the send link, ``send_batch``) runs in a worker
    thread with a hard deadline of ``send_timeout_s``: the SDK's own timeouts do not hold while
    authentication gets no answer (a put-token left unanswered kept one send busy for minutes).
    On expiry the client is released (its sockets closed) and dropped, the events of the call are
    reported failed — so they stay in the outbox and are retried — and the next call builds a
    fresh client. ``client`` may be injected (tests); it is then used until it is abandoned.
    """

    name = "eventhub"

    def __init__(self, settings: EventHubSettings, connection_string: str | None = None, client: Any = None) -> None:
        self.settings = settings
        self._connection_string = None if client is not None else _connection_string(connection_string)
        self._client = client
        self._link_max_bytes: int | None = None  # the current client's link limit, learned once
        self.sends = 0
        self.abandoned = 0

    # --- the client and the deadline -------------------------------------------------------------

    def _current_client(self) -> Any:
        if self._client is None:
            from azure.eventhub import EventHubProducerClient

            if self._connection_string is None:
                raise EventHubConfigError("the injected Event Hubs client was abandoned and there is no connection string")
            self._client = EventHubProducerClient.from_connection_string(
                self._connection_string,
                eventhub_name=self.settings.eventhub_name,
                retry_total=self.settings.retry_total,
                retry_backoff_factor=0.5,
                retry_backoff_max=2.0,
                auth_timeout=self.settings.send_timeout_s,
            )
            self._link_max_bytes = None
        return self._client

    def _namespace(self, client: Any) -> str:
        """The namespace host (never the key) for error texts."""
        match = _ENDPOINT.search(self._connection_string or "")
        if match:
            return match[1]
        return str(getattr(client, "fully_qualified_namespace", None) or "the Event Hubs namespace")

    def _with_deadline(self, call: Any) -> Any:
        """``call(client)`` in a worker thread; raises ``SendDeadlineExceeded`` when it outlives the
        deadline (the client is then released and replaced on the next call)."""
        client = self._current_client()
        outcome: dict[str, Any] = {}
        finished = threading.Event()

        def run() -> None:
            try:
                outcome["value"] = call(client)
            except BaseException as exc:  # handed to the caller's thread
                outcome["error"] = exc
            finally:
                finished.set()

        worker = threading.Thread(target=run, name="eventhub-send", daemon=True)
        worker.start()
        if not finished.wait(self.settings.send_timeout_s):
            self._abandon(client, worker)
            raise SendDeadlineExceeded(
                f"no answer from {self._namespace(client)} within {self.settings.send_timeout_s:g} s "
                f"(unreachable, or authentication/put-token unanswered); send abandoned: check the namespace, the network "
                f"and {CONNECTION_ENV}"
            )
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def _abandon(self, client: Any, worker: threading.Thread) -> None:
        self.abandoned += 1
        if self._client is client:
            self._client = None
            self._link_max_bytes = None
        closer = threading.Thread(target=_release, args=(client, worker), name="eventhub-release", daemon=True)
        closer.start()
        closer.join(RELEASE_WAIT_S)

    # --- sending ---------------------------------------------------------------------------------

    def send(self, events: pa.Table) -> SendResult:

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
                data = event_data(bodies[i], ids[i], types[i])
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
                    f"event {ids[i]} ({len(bodies[i].encode())} bytes) exceeds the hub's maximum message size "
                    f"{batch.max_size_in_bytes} bytes; it can never be sent to this hub: shorten the event or "
                    "use a tier with a larger limit"
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

    def _batch_bytes(self) -> int:
        """The size of every batch: the link's advertised max message size, learned once per client
        (opening the send link, under the deadline), capped by ``max_batch_bytes`` when set."""
        if self._link_max_bytes is None:
            self._link_max_bytes = int(self._with_deadline(lambda client: client.create_batch().max_size_in_bytes))
        cap = self.settings.max_batch_bytes
        return self._link_max_bytes if cap is None else min(cap, self._link_max_bytes)

    def _new_batch(self, key: str) -> tuple[Any, str | None]:
        """A fresh batch for ``key``; only the first one of a client touches the network."""
        try:
            size = self._batch_bytes()
            return self._current_client().create_batch(partition_key=key, max_size_in_bytes=size), None
        except SendDeadlineExceeded as exc:
            return None, f"Event Hubs send failed: {exc}"
        except Exception as exc:  # connect/auth errors of the SDK while opening the link
            return None, scrub(f"Event Hubs send failed: {type(exc).__name__}: {exc}")[:1000]

    def _flush(
        self, batch: Any, rows: list[int], seqs: np.ndarray, sent: list[np.ndarray], failed: list[int], errors: list[str]
    ) -> str | None:
        """Send one batch within the deadline; returns the abort error when it failed."""
        self.sends += 1
        try:
            self._with_deadline(lambda client: client.send_batch(batch, timeout=self.settings.send_timeout_s))
        except Exception as exc:  # any SDK failure (connect, auth, timeout) fails the rest of this call
            text = str(exc) if isinstance(exc, SendDeadlineExceeded) else f"{type(exc).__name__}: {exc}"
            err = scrub(f"Event Hubs send failed: {text}")[:1000]
            failed.extend(int(seqs[i]) for i in rows)
            errors.extend([err] * len(rows))
            return err
        sent.append(seqs[np.array(rows, dtype=np.int64)])
        return None

    def close(self) -> None:
        # closing a client whose connection never opened must not mask the real error, nor hang
        if self._client is not None:
            closer = threading.Thread(target=_release, args=(self._client,), name="eventhub-release", daemon=True)
            closer.start()
            closer.join(RELEASE_WAIT_S)
            self._client = None


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


def event_body(event: Any) -> bytes:
    """The body of a received event as bytes, whatever it holds: decoding is the landing's job,
    so a body that is not UTF-8 becomes a quarantined event instead of an exception that would
    fail its batch (and then stall the partition, re-read forever)."""
    try:
        return b"".join(bytes(section) for section in event.body)
    except TypeError:  # an AMQP value/sequence body, not data sections
        return str(event.body).encode("utf-8", "replace")


def land_event_batch(lander: Lander, partition_context: Any, events: list[Any]) -> LandingReport:
    """Land one received batch of a partition, then checkpoint past its last event.

    A poison event is quarantined by the landing (it never raises for one event), so the checkpoint
    moves past it and the partition keeps flowing. An exception (the lake, not a row) propagates
    before the checkpoint: the SDK reports it to ``on_error``, and the batch is read again from the
    last checkpoint; the landing skips what already landed by ``event_id``.
    """
    bodies = [event_body(e) for e in events]
    pid = pa.array([partition_context.partition_id] * len(events), pa.string())
    seq = pa.array([e.sequence_number for e in events], pa.int64())
    hints = [table_property(e.properties) for e in events]
    report = lander.land(bodies, eh_partition_ids=pid, eh_sequence_numbers=seq, event_types=hints)
    partition_context.update_checkpoint(events[-1])  # only after the landing committed
    return report


def consume_to_bronze(
    lake_root: str,
    checkpoint_dir: Path,
    eventhub_name: str,
    consumer_group: str = "$Default",
    max_events: int = 1_000_000,
    max_seconds: float = 60.0,
    connection_string: str | None = None,
    max_batch_size: int = 1000,
    earliest: date | None = None,
    latest: date | None = None,
    *,
    max_wait_s: float = 5.0,
    checkpoint_store: Any | None = None,
) -> ConsumeResult:
    """Read events from a hub and land them (``_sink = 'eventhub'``), checkpointing after each
    landed batch; stops after ``max_seconds`` or ``max_events``. ``earliest`` (the dataset's start
    date) and ``latest`` (None = today) bound the business days accepted; see ``Lander``.
    ``checkpoint_store`` defaults to the settings' choice (``checkpoints.checkpoint_store_from_env``:
    blob container or files).

    A partition's batch is handed over when ``max_batch_size`` events are there or after
    ``max_wait_s``. The client prefetches a whole batch: with the SDK's default prefetch (300)
    a 1000-event batch never filled, so every batch waited the full ``max_wait_s``."""
    from azure.eventhub import EventHubConsumerClient

    from retail_assets.streaming.sinks.checkpoints import checkpoint_store_from_env

    if checkpoint_store is None:
        checkpoint_store = checkpoint_store_from_env(checkpoint_dir)

    client = EventHubConsumerClient.from_connection_string(
        _connection_string(connection_string),
        consumer_group=consumer_group,
        eventhub_name=eventhub_name,
        checkpoint_store=checkpoint_store,
        retry_total=2,
    )
    lander = Lander(lake_root, sink="eventhub", earliest=earliest, latest=latest)
    report = LandingReport()
    state = {"events": 0, "batches": 0, "error": None}
    done = threading.Event()

    def on_batch(partition_context: Any, events: list[Any]) -> None:
        if not events:
            return
        report.merge(land_event_batch(lander, partition_context, events))
        state["events"] += len(events)
        state["batches"] += 1
        if state["events"] >= max_events:
            done.set()

    def on_error(partition_context: Any, error: Exception) -> None:
        state["error"] = scrub(f"{type(error).__name__}: {error}")[:1000]

    worker = threading.Thread(
        target=lambda: client.receive_batch(
            on_event_batch=on_batch, on_error=on_error, max_batch_size=max_batch_size, max_wait_time=max_wait_s,
            prefetch=max(max_batch_size, 300), starting_position="-1",
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
