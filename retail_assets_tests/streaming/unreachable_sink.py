"""A sink whose network is down: every send really tries to open a TCP connection to a loopback port
nothing listens on, and reports each event failed with the refusal, as a sink does in an outage.

A test shim (not a mock of the outbox): the drain and the outbox run for real against it, and it
counts the sends it was asked to make per ``outbox_seq`` so a test can compare them with the
attempts the outbox charged.
"""

from __future__ import annotations

import socket
from collections import Counter

import numpy as np
import pyarrow as pa

from retail_assets.streaming.sinks import SendResult


def closed_loopback_port() -> int:
    """A port that was free a moment ago (bound, then closed): connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UnreachableSink:
    name = "unreachable"

    def __init__(self) -> None:
        self.port = closed_loopback_port()
        self.sends: Counter[int] = Counter()

    def send(self, events: pa.Table) -> SendResult:
        seqs = events["outbox_seq"].to_numpy()
        self.sends.update(seqs.tolist())
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=2.0).close()
        except OSError as exc:
            err = f"unreachable sink: {type(exc).__name__}: {exc}"
            return SendResult(failed=seqs, errors=[err] * len(seqs), sent=np.empty(0, np.int64))
        raise AssertionError(f"something listens on 127.0.0.1:{self.port}; the outage test needs a closed port")

    def close(self) -> None:
        return None
