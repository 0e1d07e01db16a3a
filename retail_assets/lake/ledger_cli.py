"""``retail-assets ledger …``: look at, release and rebuild day claims of the generation ledger.

Releasing is the operator's way out of a :class:`DayClaimedError`: it only removes the claim; the
rows the other path produced for that day must be removed first (otherwise Silver would count them
twice), which is why the command asks for the path explicitly.
"""

from __future__ import annotations

import argparse
from datetime import date

from retail_assets.config import HomeSettings, parse_start_date
from retail_assets.lake.ledger import PATHS, Ledger


def _show(args: argparse.Namespace) -> int:
    ledger = Ledger(HomeSettings.from_env().state_dir)
    days = ledger.claimed_days()
    if not days:
        print(f"no claimed days in {ledger.database}")
        return 0
    for day, record in ledger.records().items():
        print(f"{day.isoformat()}  {record.path:<6}  {record.state}")
    return 0


def _release(args: argparse.Namespace) -> int:
    day: date = parse_start_date(args.day, "day")
    ledger = Ledger(HomeSettings.from_env().state_dir)
    if ledger.release(day, args.path):
        print(f"released the {args.path} claim on {day.isoformat()}")
        return 0
    print(f"no {args.path} claim on {day.isoformat()} (owner: {ledger.owner_of(day) or 'none'})")
    return 1


def _rebuild(args: argparse.Namespace) -> int:
    import json

    from retail_assets.lake.ledger_rebuild import outbox_days, plan_rebuild, rebuild

    home = HomeSettings.from_env()
    plan = plan_rebuild(home, outbox_days(home))
    report: dict[str, object] = {"plan": plan.summary(), "written": False}
    if args.yes:
        moved = rebuild(home, plan)
        report.update(written=True, ledger=str(Ledger(home.state_dir).database), old_ledger_moved_to=str(moved) if moved else None)
    else:
        report["note"] = "nothing written: add --yes to move the current ledger aside and write this one"
    print(json.dumps(report, indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ledger", help="show or release day claims of the generation ledger")
    sub = parser.add_subparsers(dest="ledger_command", required=True)
    show = sub.add_parser("show", help="list claimed days and their path")
    show.set_defaults(func=_show)
    release = sub.add_parser("release", help="remove one path's claim on a day")
    release.add_argument("day", help="YYYY-MM-DD")
    release.add_argument("--path", choices=PATHS, required=True)
    release.set_defaults(func=_release)
    rebuild = sub.add_parser(
        "rebuild",
        help="re-derive the ledger from the lake's manifest and the outbox (after a lost or corrupt ledger file)",
    )
    rebuild.add_argument("--yes", action="store_true", help="write it (the old file is moved aside, not deleted)")
    rebuild.set_defaults(func=_rebuild)
