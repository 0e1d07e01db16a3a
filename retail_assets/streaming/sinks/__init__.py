"""Sinks: where the drain delivers leased events. Each returns which events it confirmed.

The drain acks exactly the confirmed ``outbox_seq`` values and nacks the failed ones with their
error, so a sink never has to be all-or-nothing (an Event Hubs partition key can fail while others
succeed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pyarrow as pa

from retail_assets.streaming.landing import LandingReport


@dataclass
class SendResult:
    """Outcome of one ``Sink.send``: confirmed seqs, failed seqs with one error text each."""

    sent: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    failed: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    errors: list[str] = field(default_factory=list)
    landing: LandingReport | None = None


class Sink(Protocol):
    name: str

    def send(self, events: pa.Table) -> SendResult:
        """Deliver ``events`` (outbox rows in ``outbox_seq`` order); return what was confirmed."""
        ...

    def close(self) -> None: ...
