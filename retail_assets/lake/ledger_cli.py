"""``retail-assets ledger …``: look at and release day claims of the generation ledger.

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
    for day, path in days.items():
        print(f"{day.isoformat()}  {path}")
    return 0


def _release(args: argparse.Namespace) -> int:
    day: date = parse_start_date(args.day, "day")
    ledger = Ledger(HomeSettings.from_env().state_dir)
    if ledger.release(day, args.path):
        print(f"released the {args.path} claim on {day.isoformat()}")
        return 0
    print(f"no {args.path} claim on {day.isoformat()} (owner: {ledger.owner_of(day) or 'none'})")
    return 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ledger", help="show or release day claims of the generation ledger")
    sub = parser.add_subparsers(dest="ledger_command", required=True)
    show = sub.add_parser("show", help="list claimed days and their path")
    show.set_defaults(func=_show)
    release = sub.add_parser("release", help="remove one path's claim on a day")
    release.add_argument("day", help="YYYY-MM-DD")
    release.add_argument("--path", choices=PATHS, required=True)
    release.set_defaults(func=_release)
