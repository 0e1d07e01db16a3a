"""A sink shim for pacing tests: confirms every event and records when each batch was handed over.

Why a shim and not the local Delta sink: pacing is about *when* the drain hands events over; the
landing's Delta commits would only add noise (and seconds) to that measurement.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from retail_assets.streaming.sinks import SendResult


@dataclass
class HandOff:
    wall_monotonic: float
    wall_utc: datetime
    seqs: list[int]
    event_ts: list[datetime]


@dataclass
class RecordingSink:
    name: str = "recording"
    handoffs: list[HandOff] = field(default_factory=list)

    def send(self, events: pa.Table) -> SendResult:
        self.handoffs.append(
            HandOff(
                time.monotonic(),
                datetime.now(UTC),
                events["outbox_seq"].to_pylist(),
                events["event_ts"].to_pylist(),
            )
        )
        return SendResult(sent=events["outbox_seq"].to_numpy(), failed=np.empty(0, np.int64))

    def close(self) -> None:
        return None

    @property
    def seqs(self) -> list[int]:
        return [s for h in self.handoffs for s in h.seqs]

    @property
    def event_ts(self) -> list[datetime]:
        return [t for h in self.handoffs for t in h.event_ts]
