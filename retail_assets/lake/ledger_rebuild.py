"""Rebuild the generation ledger from the lake (``retail-assets ledger rebuild``).

Why it can be rebuilt: the ledger's facts are also in the lake. The manifest partition of a day is
committed after its Bronze and state partitions (``pipeline`` write order), so a day with all its
manifest rows was generated completely, and the manifest's ``path`` column says which path owns it
(a stream day has ``stream`` rows). Whether a stream day's events all landed is the outbox's
knowledge: landed when every event of the day is SENT. A claim without a manifest was a generation
that never finished; it is dropped, so the day is simply generated again.

The old file is moved aside, never deleted: a corrupt ledger stays available for inspection.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from retail_assets.config import HomeSettings
from retail_assets.contract.tables import FACT_TABLES
from retail_assets.lake.ledger import DayRecord, Ledger, ledger_path


@dataclass
class RebuildPlan:
    """What a rebuild would write, and the days it could not decide."""

    records: list[DayRecord] = field(default_factory=list)
    incomplete_manifest: list[date] = field(default_factory=list)
    stream_days_not_landed: dict[date, str] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        by_state: dict[str, int] = defaultdict(int)
        for r in self.records:
            by_state[f"{r.path}/{r.state}"] += 1
        return {
            "days": len(self.records),
            "by_path_and_state": dict(sorted(by_state.items())),
            "first_day": self.records[0].day.isoformat() if self.records else None,
            "last_day": self.records[-1].day.isoformat() if self.records else None,
            "dropped_incomplete_manifest": [d.isoformat() for d in self.incomplete_manifest],
            "stream_days_not_landed": {d.isoformat(): why for d, why in self.stream_days_not_landed.items()},
        }


def plan_rebuild(home: HomeSettings, outbox_days: dict[date, dict[str, int]] | None) -> RebuildPlan:
    """The ledger rows the lake (manifest) and the outbox (``days`` of its status) justify.

    ``outbox_days`` maps a stream day to its counts by status (``pending``/``leased``/``sent``/
    ``dead``/``events``); None when there is no outbox (every stream day is then left not landed).
    """
    from retail_assets.pipeline import read_manifest

    manifest = read_manifest(home)
    tables: dict[date, set[str]] = defaultdict(set)
    paths: dict[date, set[str]] = defaultdict(set)
    for row in manifest.select(["event_date", "table_name", "path"]).to_pylist():
        tables[row["event_date"]].add(row["table_name"])
        paths[row["event_date"]].add(row["path"])
    now = datetime.now(UTC).replace(tzinfo=None)
    plan = RebuildPlan()
    for day in sorted(tables):
        if tables[day] != set(FACT_TABLES):
            plan.incomplete_manifest.append(day)
            continue
        path = "stream" if "stream" in paths[day] else "batch"
        landed: datetime | None = now
        if path == "stream":
            counts = (outbox_days or {}).get(day)
            if counts is None:
                landed = None
                plan.stream_days_not_landed[day] = "the outbox has no record of this day"
            elif counts.get("sent", 0) != counts.get("events", -1):
                landed = None
                plan.stream_days_not_landed[day] = (
                    f"{counts.get('pending', 0)} pending, {counts.get('leased', 0)} leased, "
                    f"{counts.get('dead', 0)} dead of {counts.get('events', 0)} events"
                )
        plan.records.append(DayRecord(day, path, f"rebuild:{now:%Y%m%dT%H%M%S}", now, now, landed))
    return plan


def outbox_days(home: HomeSettings) -> dict[date, dict[str, int]] | None:
    """Per-day status counts of the outbox, or None when this home never streamed."""
    from retail_assets.streaming.outbox import Outbox, outbox_path

    if not outbox_path(home.state_dir).exists():
        return None
    days = Outbox.in_state_dir(home.state_dir).status(dead_letters=0)["days"]
    return {date.fromisoformat(d["event_date"]): d for d in days}


def move_aside(database: Path) -> Path | None:
    """Rename the current ledger (and its WAL) to ``*.replaced-<UTC time>``; the new name, if any."""
    if not database.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = database.with_name(f"{database.name}.replaced-{stamp}")
    database.rename(target)
    wal = database.with_name(database.name + ".wal")
    if wal.exists():
        wal.rename(target.with_name(target.name + ".wal"))
    return target


def rebuild(home: HomeSettings, plan: RebuildPlan) -> Path | None:
    """Move the old ledger aside and write the planned rows; returns where the old file went."""
    moved = move_aside(ledger_path(home.state_dir))
    Ledger(home.state_dir).restore(plan.records)
    return moved
