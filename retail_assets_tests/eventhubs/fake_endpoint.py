"""A fake Azure Event Hubs namespace speaking real AMQP 1.0 on a loopback port (TEST code only).

Built on python-qpid-proton's protocol engine (``Connection`` + ``Transport``) driven by one
``select`` loop in a daemon thread, so the real ``azure-eventhub`` clients — the product's
``EventHubSink`` and ``consume_to_bronze`` — talk to it through a plain connection string
(``UseDevelopmentEmulator=true`` makes the SDK use plain AMQP on the Endpoint's port, as it does
for Microsoft's emulator). What it does, and why each part is needed:

* SASL ANONYMOUS, then claims-based security: ``$cbs`` put-token requests are answered with
  status-code 200 — or never, with ``answer_put_token=False``, to reproduce a namespace that
  hangs in authentication.
* ``$management`` READ for the hub's properties (partition ids) and each partition's.
* Sender links to ``<hub>`` (partition picked from ``x-opt-partition-key``) and
  ``<hub>/Partitions/<n>``; a batch envelope's data sections are each a whole event message and
  are copied out at once (proton reuses its buffers). Each transfer's size is recorded, and one
  larger than the link's advertised ``max_message_size`` is rejected like the service does.
* Receiver links to ``<hub>/ConsumerGroups/<cg>/Partitions/<n>`` replay stored events from the
  position in the link's selector filter, with per-partition sequence numbers, offsets and
  enqueued times in the message annotations, so checkpoints work.
* ``$cbs``/``$management`` replies go out on the connection the request came on (the SDK sets no
  ``reply_to`` and opens several connections).
* The SDK's decoder needs every performative field present: see ``frame_padding``.
* Bounded: the loop stops by itself after ``lifetime_s`` even if a test forgets to stop it.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from proton import (
    Collector,
    Condition,
    Connection,
    Data,
    Delivery,
    Described,
    Event,
    Message,
    Transport,
    symbol,
    timestamp,
    ulong,
)

from retail_assets_tests.eventhubs.frame_padding import FramePadder

BASIC_TIER_MAX_MESSAGE_SIZE = 262_144  # bytes; a Basic-tier hub's limit
PARTITION_KEY = symbol("x-opt-partition-key")
_SELECTOR = re.compile(r"x-opt-(offset|sequence-number|enqueued-time)\s*(>=|>)\s*'(-?\d+)'")
_RECEIVE_ADDRESS = re.compile(r"^(?P<hub>[^/]+)/ConsumerGroups/[^/]+/Partitions/(?P<pid>\d+)$")
_SEND_ADDRESS = re.compile(r"^(?P<hub>[^/]+)(?:/Partitions/(?P<pid>\d+))?$")
_URL_PREFIX = re.compile(r"^[a-z]+://[^/]+/")  # the SDK addresses links as amqps://<namespace>/<entity>
_ERROR_INFO = {symbol("com.microsoft:tracking-id"): "fake-eventhubs"}
_SECTION_ANNOTATIONS = 0x72
_SECTION_DATA = 0x75


def _value_end(buf: bytes, pos: int) -> int:
    """Index just past the AMQP-encoded value starting at ``buf[pos]`` (sizes from the constructor)."""
    ctor = buf[pos]
    if ctor == 0x00:  # described: descriptor, then value
        return _value_end(buf, _value_end(buf, pos + 1))
    width = {0x4: 0, 0x5: 1, 0x6: 2, 0x7: 4, 0x8: 8, 0x9: 16}.get(ctor >> 4)
    if width is not None:
        return pos + 1 + width
    if (ctor >> 4) in (0xA, 0xC, 0xE):  # one-byte size
        return pos + 2 + buf[pos + 1]
    return pos + 5 + int.from_bytes(buf[pos + 1 : pos + 5], "big")  # four-byte size


def split_sections(buf: bytes) -> list[tuple[int, bytes]]:
    """A message's sections as (descriptor code, encoded bytes), in order."""
    sections, pos = [], 0
    while pos < len(buf):
        end = _value_end(buf, pos)
        code = buf[pos + 2] if buf[pos + 1] == 0x53 else int.from_bytes(buf[pos + 2 : pos + 10], "big")
        sections.append((code, bytes(buf[pos:end])))
        pos = end
    return sections


def _binary_value(section: bytes) -> bytes:
    """The bytes inside a data section (vbin8 or vbin32)."""
    if section[3] == 0xA0:
        return section[5 : 5 + section[4]]
    return section[8 : 8 + int.from_bytes(section[4:8], "big")]


def _decode_value(encoded: bytes) -> Any:
    data = Data()
    data.decode(encoded)
    data.rewind()
    data.next()
    return data.get_object()


def _encode_value(value: Any) -> bytes:
    data = Data()
    data.put_object(value)
    return data.encode()


def _is_event_message(payload: bytes) -> bool:
    return len(payload) > 3 and payload[0] == 0x00 and payload[1] == 0x53 and 0x70 <= payload[2] <= 0x78


@dataclass
class StoredEvent:
    """One event as the hub stores it: its own encoded AMQP message plus the broker's bookkeeping."""

    partition_id: str
    sequence_number: int
    offset: int
    enqueued_ms: int
    partition_key: str | None
    raw: bytes

    def message(self) -> Message:
        msg = Message()
        msg.decode(self.raw)
        return msg

    def with_annotations(self) -> bytes:
        """The message as delivered to a consumer: the broker's annotations spliced in."""
        annotations: dict[Any, Any] = {
            symbol("x-opt-sequence-number"): self.sequence_number,
            symbol("x-opt-offset"): str(self.offset),
            symbol("x-opt-enqueued-time"): timestamp(self.enqueued_ms),
        }
        sections = split_sections(self.raw)
        for code, body in sections:
            if code == _SECTION_ANNOTATIONS:
                annotations.update(_decode_value(body).value)
        if self.partition_key is not None:
            annotations[PARTITION_KEY] = self.partition_key
        new = _encode_value(Described(ulong(_SECTION_ANNOTATIONS), annotations))
        head = [s for c, s in sections if c < _SECTION_ANNOTATIONS]
        tail = [s for c, s in sections if c > _SECTION_ANNOTATIONS]
        return b"".join([*head, new, *tail])


@dataclass
class _Replay:
    """A consumer's receiver link on one partition and the index of the next event to deliver."""

    partition_id: str
    cursor: int


@dataclass
class _Peer:
    sock: socket.socket
    transport: Transport
    connection: Connection
    collector: Collector
    padder: FramePadder = field(default_factory=FramePadder)
    outbuf: bytearray = field(default_factory=bytearray)
    replays: dict[Any, _Replay] = field(default_factory=dict)
    queued: dict[Any, list[bytes]] = field(default_factory=dict)  # replies waiting for credit
    closed: bool = False


class FakeEventHub:
    """``with FakeEventHub(...) as hub:`` → ``hub.connection_string``; ``hub.events()`` after sends."""

    def __init__(
        self,
        hub: str = "retail",
        partitions: int = 4,
        max_message_size: int = BASIC_TIER_MAX_MESSAGE_SIZE,
        answer_put_token: bool = True,
        lifetime_s: float = 120.0,
    ) -> None:
        self.hub = hub
        self.partition_ids = [str(i) for i in range(partitions)]
        self.max_message_size = max_message_size
        self.answer_put_token = answer_put_token
        self.lifetime_s = lifetime_s
        self.transfer_sizes: list[int] = []
        self.rejected_transfers = 0
        self.put_token_requests = 0
        self.connections_accepted = 0
        self._store: dict[str, list[StoredEvent]] = {p: [] for p in self.partition_ids}
        self._next_offset = dict.fromkeys(self.partition_ids, 0)
        self._round_robin = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._peers: list[_Peer] = []
        self._thread = threading.Thread(target=self._run, name="fake-eventhub", daemon=True)
        self.error: BaseException | None = None

    # --- public ----------------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def connection_string(self) -> str:
        return (
            f"Endpoint=sb://{self.namespace};SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey=fake-key-not-a-secret;UseDevelopmentEmulator=true"
        )

    def start(self) -> FakeEventHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def __enter__(self) -> FakeEventHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def events(self, partition_id: str | None = None) -> list[StoredEvent]:
        with self._lock:
            if partition_id is not None:
                return list(self._store[partition_id])
            return [e for p in self.partition_ids for e in self._store[p]]

    @property
    def open_connections(self) -> int:
        with self._lock:
            return sum(not p.closed for p in self._peers)

    def partition_for(self, key: str | None) -> str:
        """Where a partition key goes (stable hash); no key → round robin."""
        if key is None:
            self._round_robin += 1
            return self.partition_ids[self._round_robin % len(self.partition_ids)]
        return self.partition_ids[zlib.crc32(key.encode()) % len(self.partition_ids)]

    # --- loop ------------------------------------------------------------------------------------

    def _run(self) -> None:
        until = time.monotonic() + self.lifetime_s
        try:
            while not self._stop.is_set() and time.monotonic() < until:
                self._step()
        except BaseException as exc:  # surfaced to the test through .error
            self.error = exc
            raise
        finally:
            for peer in self._peers:
                self._drop(peer)
            self._listener.close()

    def _step(self) -> None:
        live = [p for p in self._peers if not p.closed]
        readers = [self._listener, *(p.sock for p in live)]
        writers = [p.sock for p in live if p.outbuf]
        readable, writable, _ = select.select(readers, writers, [], 0.02)
        if self._listener in readable:
            self._accept()
        by_sock = {p.sock: p for p in live}
        for sock in readable:
            peer = by_sock.get(sock)
            if peer is not None:
                self._read(peer)
        now = time.monotonic()
        for peer in live:
            if peer.closed:
                continue
            peer.transport.tick(now)
            self._dispatch(peer)
            self._pump_replays(peer)
            self._collect_output(peer)
        for sock in writable:
            peer = by_sock[sock]
            if peer.closed or not peer.outbuf:
                continue
            try:
                sent = sock.send(peer.outbuf)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                self._drop(peer)
                continue
            del peer.outbuf[:sent]

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        transport = Transport(Transport.SERVER)
        transport.idle_timeout = 0
        sasl = transport.sasl()
        sasl.allowed_mechs("ANONYMOUS")
        connection = Connection()
        collector = Collector()
        connection.collect(collector)
        transport.bind(connection)
        with self._lock:
            self._peers.append(_Peer(sock, transport, connection, collector))
            self.connections_accepted += 1

    def _read(self, peer: _Peer) -> None:
        capacity = peer.transport.capacity()
        if capacity < 0:
            return
        try:
            data = peer.sock.recv(max(1, min(capacity, 1 << 20)))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            peer.transport.push(data)
        else:
            peer.transport.close_tail()
            self._drop(peer)

    def _collect_output(self, peer: _Peer) -> None:
        pending = peer.transport.pending()
        if pending > 0:
            data = peer.transport.peek(pending)
            peer.transport.pop(len(data))
            peer.outbuf += peer.padder.feed(data)
        elif pending < 0 and not peer.outbuf:
            self._drop(peer)

    def _drop(self, peer: _Peer) -> None:
        if not peer.closed:
            peer.closed = True
            with contextlib.suppress(OSError):
                peer.sock.close()

    # --- protocol events -------------------------------------------------------------------------

    def _dispatch(self, peer: _Peer) -> None:
        while (event := peer.collector.peek()) is not None:
            kind = event.type
            if kind == Event.CONNECTION_REMOTE_OPEN:
                event.connection.container = "fake-eventhubs"
                event.connection.open()
            elif kind == Event.SESSION_REMOTE_OPEN:
                event.session.open()
            elif kind == Event.LINK_REMOTE_OPEN:
                self._attach(peer, event.link)
            elif kind in (Event.LINK_REMOTE_CLOSE, Event.LINK_REMOTE_DETACH):
                peer.replays.pop(event.link, None)
                peer.queued.pop(event.link, None)
                event.link.close()
            elif kind == Event.SESSION_REMOTE_CLOSE:
                event.session.close()
            elif kind == Event.CONNECTION_REMOTE_CLOSE:
                event.connection.close()
            elif kind == Event.DELIVERY:
                self._delivery(peer, event.delivery)
            peer.collector.pop()

    def _attach(self, peer: _Peer, link: Any) -> None:
        if link.is_receiver:  # the client sends to us
            address = link.remote_target.address or ""
            link.target.address = address
            link.source.address = link.remote_source.address or "client"
            link.max_message_size = self.max_message_size
            link.open()
            link.flow(1000)
            return
        address = link.remote_source.address or ""
        link.source.address = address
        link.target.address = link.remote_target.address or "client"
        link.open()
        match = _RECEIVE_ADDRESS.match(_URL_PREFIX.sub("", address))
        if match:
            pid = match["pid"]
            peer.replays[link] = _Replay(pid, self._start_index(pid, link.remote_source.filter))
        else:
            peer.queued.setdefault(link, [])

    def _start_index(self, pid: str, filter_data: Data) -> int:
        """Index of the first stored event the link's selector filter selects."""
        text = ""
        filter_data.rewind()
        if filter_data.next() is not None:
            for value in (filter_data.get_object() or {}).values():
                text += str(value.value if isinstance(value, Described) else value)
        match = _SELECTOR.search(text)
        if not match:
            return 0
        what, op, raw = match.groups()
        bound = int(raw)
        events = self.events(pid)
        for i, e in enumerate(events):
            value = {"offset": e.offset, "sequence-number": e.sequence_number, "enqueued-time": e.enqueued_ms}[what]
            if value > bound or (op == ">=" and value == bound):
                return i
        return len(events)

    def _delivery(self, peer: _Peer, delivery: Delivery) -> None:
        link = delivery.link
        if link.is_sender:  # the consumer settled something we sent
            if delivery.settled:
                delivery.settle()
            return
        if not delivery.readable or delivery.partial:
            return
        chunks = []
        while (chunk := link.recv(1 << 20)) is not None and len(chunk):
            chunks.append(chunk)
        link.advance()
        payload = b"".join(chunks)
        outcome = self._on_message(peer, link.target.address or "", payload)
        if outcome is None:
            delivery.update(Delivery.ACCEPTED)
        else:
            delivery.local.condition = outcome
            delivery.update(Delivery.REJECTED)
        delivery.settle()
        if link.credit < 500:
            link.flow(1000)

    def _on_message(self, peer: _Peer, address: str, payload: bytes) -> Condition | None:
        if address == "$cbs":
            with self._lock:
                self.put_token_requests += 1
            if self.answer_put_token:
                request = Message()
                request.decode(payload)
                self._reply(peer, "$cbs", request, {"status-code": 200, "status-description": "OK"}, None)
            return None
        if address == "$management":
            request = Message()
            request.decode(payload)
            self._reply(peer, "$management", request, {"status-code": 200, "status-description": "OK"},
                        self._management_body(request))
            return None
        match = _SEND_ADDRESS.match(_URL_PREFIX.sub("", address))
        if not match or match["hub"] != self.hub:
            return Condition("amqp:not-found", f"The messaging entity '{address}' could not be found.", _ERROR_INFO)
        with self._lock:
            self.transfer_sizes.append(len(payload))
        if len(payload) > self.max_message_size:
            with self._lock:
                self.rejected_transfers += 1
            return Condition(
                "amqp:link:message-size-exceeded",
                f"The received message (size: {len(payload)}) exceeds the limit ({self.max_message_size} bytes).",
                _ERROR_INFO,  # the SDK reads the error's info field by position: proton drops an empty one
            )
        self._store_envelope(payload, match["pid"])
        return None

    def _store_envelope(self, payload: bytes, pid: str | None) -> None:
        sections = split_sections(payload)
        key = None
        for code, body in sections:
            if code == _SECTION_ANNOTATIONS:
                key = _decode_value(body).value.get(PARTITION_KEY)
        bodies = [_binary_value(s) for c, s in sections if c == _SECTION_DATA]
        batch = bool(bodies) and all(_is_event_message(b) for b in bodies)
        messages = bodies if batch else [payload]  # a batch: each data section is a whole event message
        now_ms = int(time.time() * 1000)
        with self._lock:
            target = pid if pid is not None else self.partition_for(key)
            stored = self._store[target]
            for raw in messages:
                offset = self._next_offset[target]
                self._next_offset[target] += len(raw)
                stored.append(StoredEvent(target, len(stored), offset, now_ms, key, bytes(raw)))

    def _management_body(self, request: Message) -> dict[str, Any]:
        props = request.properties or {}
        if props.get("type") == "com.microsoft:partition":
            pid = str(props.get("partition"))
            events = self.events(pid)
            last = events[-1] if events else None
            return {
                "name": self.hub,
                "partition": pid,
                "begin_sequence_number": 0,
                "last_enqueued_sequence_number": last.sequence_number if last else -1,
                "last_enqueued_offset": str(last.offset if last else -1),
                "last_enqueued_time_utc": last.enqueued_ms if last else 0,
                "is_partition_empty": last is None,
            }
        return {"name": self.hub, "created_at": 1_700_000_000_000, "partition_ids": list(self.partition_ids)}

    def _reply(self, peer: _Peer, source: str, request: Message, status: dict[str, Any], body: Any) -> None:
        reply = Message(body=body, correlation_id=request.id, properties=status)
        reply.id = str(uuid.uuid4())
        encoded = reply.encode()
        for link, queue in peer.queued.items():
            if link.source.address == source:
                queue.append(encoded)
                self._flush_queue(link, queue)
                return

    def _flush_queue(self, link: Any, queue: list[bytes]) -> None:
        while queue and link.credit > 0:
            self._send(link, queue.pop(0))

    @staticmethod
    def _send(link: Any, encoded: bytes) -> None:
        delivery = link.delivery(uuid.uuid4().bytes)
        link.send(encoded)
        link.advance()
        delivery.settle()

    def _pump_replays(self, peer: _Peer) -> None:
        for link, queue in peer.queued.items():
            self._flush_queue(link, queue)
        for link, replay in peer.replays.items():
            if link.credit <= 0:
                continue
            with self._lock:
                stored = self._store[replay.partition_id]
                events = stored[replay.cursor : replay.cursor + min(link.credit, 500)]
            for event in events:
                self._send(link, event.with_annotations())
            replay.cursor += len(events)
