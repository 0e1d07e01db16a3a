"""``LocalDeltaSink`` (the default): lands events straight into the Bronze event tables.

Confirmation = the Delta commits of the landing function are done; a crash before the ack only
leads to a re-send, which the landing skips by ``event_id``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from retail_assets.streaming.landing import Lander
from retail_assets.streaming.sinks import SendResult


class LocalDeltaSink:
    name = "local"

    def __init__(self, lake_root: str) -> None:
        self.lander = Lander(lake_root, sink="local")

    def send(self, events: pa.Table) -> SendResult:
        seqs = events["outbox_seq"].to_numpy()
        try:
            report = self.lander.land(events["body"], event_types=events["event_type"])
        except Exception as exc:  # the lake is unreachable / not writable: every event is retried later
            err = f"local landing failed: {type(exc).__name__}: {exc}"
            return SendResult(failed=seqs, errors=[err] * len(seqs))
        return SendResult(sent=seqs, landing=report, failed=np.empty(0, np.int64))

    def close(self) -> None:
        return None
