"""The stream path's completion mark: a streamed day is landed when every one of its events is SENT.

Why here and not in the drain: the drain knows batches, not days. After a run, the outbox's per-day
counts say which days have nothing PENDING, LEASED or DEAD left; those days get the ledger's
``landed_ts`` (only days whose generation finished and that are not marked yet), which is what
opens the Silver gate (``defs/silver/gate.py``). A poison event quarantined by the landing counts
as SENT: the sink took it, and it is kept in ``cusn.ctl_rejected_events`` with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from retail_assets.lake.ledger import Ledger


def fully_sent_days(days: Iterable[Mapping[str, Any]]) -> list[date]:
    """Days of an outbox status (``status()["days"]``) whose events were all SENT."""
    return sorted(
        date.fromisoformat(str(d["event_date"]))
        for d in days
        if d["events"] > 0 and d["sent"] == d["events"] and not (d["pending"] or d["leased"] or d["dead"])
    )


def record_landed_days(ledger: Ledger, status: Mapping[str, Any]) -> list[date]:
    """Mark the fully sent days landed in the ledger; returns the days marked by this call."""
    return ledger.mark_landed(fully_sent_days(status.get("days", [])))
