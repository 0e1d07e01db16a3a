"""``retail-assets calendar init|show|extend``: set up and move the home's dataset calendar."""

from __future__ import annotations

import argparse
import os
from datetime import date, timedelta

from retail_assets.config import DEFAULT_START_DATE, HomeSettings, parse_start_date
from retail_assets.dataset_calendar import (
    DatasetCalendar,
    calendar_path,
    extend_calendar,
    init_calendar,
    parse_day,
    require_calendar,
    require_same_start,
    wall_today,
)


def _start_date() -> date:
    return parse_start_date(os.environ.get("RETAIL_ASSETS_START_DATE", DEFAULT_START_DATE.isoformat()))


def describe(calendar: DatasetCalendar, wall_day: date) -> str:
    """What the calendar means today, in the words the UI uses."""
    last = calendar.last_offered_day(wall_day)
    count = (last - calendar.start_date).days + 1
    return (
        f"dataset start {calendar.start_date}; business days lag the wall clock by {calendar.lag_days} days "
        f"(anchored {calendar.anchor_wall_day} -> {calendar.anchor_business_day}).\n"
        f"today ({wall_day}, UTC): {count} daily partition(s), {calendar.start_date} .. {last}; "
        f"tomorrow {last + timedelta(days=1)} is added."
    )


def _init(args: argparse.Namespace) -> int:
    from retail_assets.lake.ledger import Ledger

    home = HomeSettings.from_env()
    latest = Ledger(home.state_dir).latest_claimed_day()
    today = wall_today()
    calendar, created = init_calendar(
        home.home, _start_date(), today, next_buildable=latest + timedelta(days=1) if latest else None
    )
    verb = "created" if created else "already set up, unchanged:"
    print(f"dataset calendar {verb} {calendar_path(home.home)}\n{describe(calendar, today)}")
    return 0


def _show(args: argparse.Namespace) -> int:
    home = HomeSettings.from_env()
    calendar = require_calendar(home.home)
    require_same_start(calendar, _start_date(), home.home)
    print(f"{calendar_path(home.home)}\n{describe(calendar, wall_today())}")
    return 0


def _extend(args: argparse.Namespace) -> int:
    home = HomeSettings.from_env()
    today = wall_today()
    calendar, changed = extend_calendar(home.home, _start_date(), parse_day(args.through, "--through"), today)
    if changed:
        note = "extended (reload the code location, or restart `make ui`, to see the new partitions)"
    else:
        note = f"unchanged ({args.through} is already offered)"
    print(f"dataset calendar {note}\n{describe(calendar, today)}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calendar", help="the home's dataset calendar: which business day is offered on which wall day"
    )
    sub = parser.add_subparsers(dest="calendar_command", required=True)
    sub.add_parser("init", help="create the calendar (once per home; the next buildable day is offered today)").set_defaults(
        func=_init
    )
    sub.add_parser("show", help="print the calendar and the partitions it offers today").set_defaults(func=_show)
    extend = sub.add_parser("extend", help="offer business days through a day from today on (never takes one back)")
    extend.add_argument("--through", required=True, help="last business day to offer today, YYYY-MM-DD")
    extend.set_defaults(func=_extend)
