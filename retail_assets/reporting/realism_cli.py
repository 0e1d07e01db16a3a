"""``retail-assets realism [--from D --to D] [--layer bronze|silver]``: the realism report of the lake.

Prints one line per headline metric of issue 12 (value, reference range, verdict, source) over the
days the lake holds in the range, then a summary and the sources.

Exit code: 0 when every metric is inside its reference range; 2 when any metric is outside or
could not be computed ("not enough data": the range lacks the days it needs). A usage error
(a bad date, an unknown layer) also exits 2, with the message on stderr instead of a table.
"""

from __future__ import annotations

import argparse
from datetime import date

from retail_assets.config import ConfigError, HomeSettings


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2024-11-15") from None


def _run(args: argparse.Namespace) -> int:
    from retail_assets.reporting.realism_report import build_report, format_table
    from retail_assets.reporting.realism_sources import connect_lake

    if args.start and args.end and args.start > args.end:
        raise ConfigError(f"--from {args.start} is after --to {args.end}; swap them.")
    home = HomeSettings.from_env()
    report = build_report(connect_lake(home.lake_root, args.layer, args.start, args.end))
    span = f"{args.start or 'first day'} … {args.end or 'last day'}"
    print(f"realism report of {home.lake_root} ({args.layer}), {span}\n")
    print(format_table(report))
    return report.exit_code


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "realism",
        help="compare the lake's data with public retail statistics (exit 0 = every metric inside its range, 2 = not)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--from",
        dest="start",
        type=_day,
        default=None,
        help="first day (YYYY-MM-DD); default: the lake's first",
    )
    parser.add_argument(
        "--to", dest="end", type=_day, default=None, help="last day (YYYY-MM-DD); default: the lake's last"
    )
    parser.add_argument(
        "--layer",
        choices=("bronze", "silver"),
        default="bronze",
        help="facts from Bronze batch tables (cusn, batch days only; default) or Silver (ag, batch and streamed days)",
    )
    parser.set_defaults(func=_run)
