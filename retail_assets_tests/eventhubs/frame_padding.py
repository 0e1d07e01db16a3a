"""Pads the performatives a proton peer writes to their full arity (TEST code only).

azure-eventhub 5.15's pure-Python AMQP decoder reads performative fields by position
(``frame[10]`` is an attach's max-message-size, ``frame[9]`` its initial delivery count) and
only understands list8/list32 bodies. AMQP 1.0 lets an encoder omit trailing null fields and
send an empty list as ``list0`` — which proton does — so the SDK would raise ``IndexError``
on a perfectly valid frame. The fake endpoint therefore passes its output through
``FramePadder``, which rewrites each frame's performative as a list32 holding every field
(missing ones as AMQP null) and leaves the rest of the bytes (transfer payloads, empty
heartbeat frames, protocol headers) exactly as proton wrote them.
"""

from __future__ import annotations

import struct

# descriptor code -> number of fields (AMQP 1.0 §2.7 performatives, §5.3 SASL frames)
ARITY = {
    0x10: 10,  # open
    0x11: 8,  # begin
    0x12: 14,  # attach
    0x13: 11,  # flow
    0x14: 11,  # transfer
    0x15: 6,  # disposition
    0x16: 3,  # detach
    0x17: 1,  # end
    0x18: 1,  # close
    0x40: 1,  # sasl-mechanisms
    0x41: 3,  # sasl-init
    0x42: 1,  # sasl-challenge
    0x43: 1,  # sasl-response
    0x44: 2,  # sasl-outcome
}
_NULL = b"\x40"
_PROTOCOL_HEADER = b"AMQP"


def pad_performative(body: bytes) -> bytes:
    """``body`` = described performative list (+ transfer payload) → the same with every field."""
    if len(body) < 4 or body[0] != 0x00 or body[1] != 0x53 or body[2] not in ARITY:
        return body
    arity = ARITY[body[2]]
    ctor = body[3]
    if ctor == 0x45:  # list0
        count, elements, rest = 0, b"", body[4:]
    elif ctor == 0xC0:  # list8: size, count
        size, count = body[4], body[5]
        elements, rest = body[6 : 5 + size], body[5 + size :]
    elif ctor == 0xD0:  # list32
        size, count = struct.unpack(">II", body[4:12])
        elements, rest = body[12 : 8 + size], body[8 + size :]
    else:
        return body
    if count >= arity:
        return body
    elements += _NULL * (arity - count)
    return body[:3] + b"\xd0" + struct.pack(">II", len(elements) + 4, arity) + elements + rest


class FramePadder:
    """Stateful rewriter of one connection's outgoing byte stream (frames may arrive in pieces)."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        self._pending += data
        out = []
        while True:
            buf = self._pending
            if buf[:1] == _PROTOCOL_HEADER[:1]:  # "AMQP" + id + version; a frame size never starts with 0x41
                if len(buf) < 8:
                    break
                out.append(buf[:8])
                self._pending = buf[8:]
                continue
            if len(buf) < 8:
                break
            size = struct.unpack(">I", buf[:4])[0]
            if len(buf) < size:
                break
            frame, self._pending = buf[:size], buf[size:]
            header_len = frame[4] * 4
            body = pad_performative(frame[header_len:])
            out.append(struct.pack(">I", header_len + len(body)) + frame[4:header_len] + body)
        return b"".join(out)
