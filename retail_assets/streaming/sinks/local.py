"""``LocalDeltaSink`` (the default): lands events straight into the Bronze event tables.

Confirmation = the Delta commits of the landing function are done; a crash before the ack only
leads to a re-send, which the landing skips by ``event_id``. A bad event is not a failure: the
landing quarantines it in ``cusn.ctl_rejected_events`` and it counts as sent (retrying it could
never help). Only an exception of the landing (the lake, not a row) fails the batch, so every event
of it is retried later.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from retail_assets.streaming.landing import Lander
from retail_assets.streaming.sinks import SendResult
from retail_assets.streaming.validation import MAX_BODY_BYTES


class LocalDeltaSink:
    name = "local"

    def __init__(
        self,
        lake_root: str,
        earliest: date | None = None,
        latest: date | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        """``earliest``: the dataset's start date (``DatasetSettings.start_date``); ``latest``: the
        last day accepted (None = today, UTC). See ``Lander``."""
        self.lander = Lander(lake_root, sink="local", earliest=earliest, latest=latest, max_body_bytes=max_body_bytes)

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
