"""The dataset calendar: which business day of the dataset is "today" on the wall clock.

The dataset starts on a fixed business day (``RETAIL_ASSETS_START_DATE``, 2024-01-01 by default) that
is usually years before the wall clock. Daily partitions that simply ran "from the start date until
yesterday" offered ~1,000 days of which only the first could be built (each day needs the day
before), and the schedule targeted the last of them. The calendar fixes a constant **lag** between
the two clocks instead:

    business day offered on wall day W  =  W − lag          (never before the start date)

It is stored once per home, in ``$RETAIL_ASSETS_HOME/calendar.json``, as an anchor pair: on wall day
``anchor_wall_day`` the last business day offered was ``anchor_business_day``. One wall day later one
more business day is offered, and so on; ``extend --through D`` moves the anchor so that D is
offered today (it never takes a day back). ``init`` anchors a fresh home at the start date (the
first day to build) and an existing one at the day after its last claimed day, so on the day of
set-up the last partition is exactly the next day that can be built.

Without the file (a home set up before the calendar existed, the test suite, ``dagster dev`` started
by hand) the partitions are a fixed window of :data:`FALLBACK_DAYS` days from the start date, not
tied to the wall clock, and the daily schedule skips until ``retail-assets calendar init`` is run.

Plain Python, no Dagster import: the Dagster partitions (``defs/partitions.py``), the schedule and the
CLI all derive from this one object.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

CALENDAR_FILE = "calendar.json"
FORMAT_VERSION = 1
FALLBACK_DAYS = 31
"""Days offered (from the start date) by a home without a calendar file: a month, enough for the
demo and the test suite, and never the ~1,000 days between a 2024 start and today."""


class CalendarError(ValueError):
    """The calendar is missing, unreadable or asked for something impossible; the message says the fix."""


def wall_today() -> date:
    """The wall clock's day, UTC (the partitions' timezone)."""
    return datetime.now(UTC).date()


def parse_day(text: str, what: str) -> date:
    """An ISO day, or a CalendarError naming ``what`` and the expected format."""
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise CalendarError(f"{what}={text!r} is not a date; write it as YYYY-MM-DD, e.g. 2024-01-05.") from None


@dataclass(frozen=True)
class DatasetCalendar:
    """A home's fixed relation between business days and wall days (see the module docstring)."""

    start_date: date
    anchor_wall_day: date
    anchor_business_day: date

    def __post_init__(self) -> None:
        if self.anchor_business_day < self.start_date:
            raise CalendarError(
                f"the calendar's anchor business day {self.anchor_business_day} is before the dataset start "
                f"{self.start_date}; the first day that can be offered is the start date."
            )

    @property
    def lag_days(self) -> int:
        """Wall day minus business day: constant for the home, so the partitions' end offset is too."""
        return (self.anchor_wall_day - self.anchor_business_day).days

    @property
    def end_offset(self) -> int:
        """``DailyPartitionsDefinition.end_offset``: its last partition is ``yesterday + end_offset``,
        which must equal ``today − lag``."""
        return 1 - self.lag_days

    def last_offered_day(self, wall_day: date) -> date:
        """The last business day offered (can be built) on ``wall_day``; never before the start date."""
        return max(self.start_date, wall_day - timedelta(days=self.lag_days))

    def extended_through(self, through: date, wall_day: date) -> DatasetCalendar:
        """This calendar moved so that ``through`` is offered on ``wall_day`` (and one more per day after).

        Refuses a day before the start and a day after ``wall_day`` (the pipeline generates no future
        day); a day already offered leaves the calendar unchanged — it never takes a day back.
        """
        if through < self.start_date:
            raise CalendarError(
                f"--through {through} is before the dataset start {self.start_date}; pick a day on or after "
                f"{self.start_date}."
            )
        if through > wall_day:
            raise CalendarError(
                f"--through {through} is after today ({wall_day}, UTC): business days never run ahead of the "
                f"wall clock (the pipeline refuses future days); pick {wall_day} or earlier."
            )
        if through <= self.last_offered_day(wall_day):
            return self
        return DatasetCalendar(self.start_date, anchor_wall_day=wall_day, anchor_business_day=through)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format_version": FORMAT_VERSION,
                "start_date": self.start_date.isoformat(),
                "anchor_wall_day": self.anchor_wall_day.isoformat(),
                "anchor_business_day": self.anchor_business_day.isoformat(),
                "lag_days": self.lag_days,
                "meaning": "on anchor_wall_day (UTC) the last business day offered is anchor_business_day; "
                "one more business day is offered per wall day",
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> DatasetCalendar:
        try:
            raw = json.loads(text)
            return cls(
                start_date=date.fromisoformat(raw["start_date"]),
                anchor_wall_day=date.fromisoformat(raw["anchor_wall_day"]),
                anchor_business_day=date.fromisoformat(raw["anchor_business_day"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CalendarError(
                f"the dataset calendar {source} is unreadable ({type(exc).__name__}: {exc}); move it aside and "
                "run `retail-assets calendar init` to write a new one."
            ) from None


def calendar_path(home: Path) -> Path:
    return Path(home) / CALENDAR_FILE


def load_calendar(home: Path) -> DatasetCalendar | None:
    """The home's calendar, or None when it has none (the fallback window applies)."""
    path = calendar_path(home)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return DatasetCalendar.from_json(text, str(path))


def require_calendar(home: Path) -> DatasetCalendar:
    """The home's calendar, or a CalendarError saying how to create it."""
    calendar = load_calendar(home)
    if calendar is None:
        raise CalendarError(
            f"no dataset calendar at {calendar_path(home)}; create it with `retail-assets calendar init` "
            "(`make ui` and `make demo` do it for you)."
        )
    return calendar


def save_calendar(home: Path, calendar: DatasetCalendar) -> Path:
    """Write atomically (a reader never sees half a file)."""
    path = calendar_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".json.tmp{os.getpid()}")
    tmp.write_text(calendar.to_json() + "\n")
    tmp.replace(path)
    return path


def require_same_start(calendar: DatasetCalendar, start_date: date, home: Path) -> None:
    """A calendar belongs to one dataset: a different start date is a different dataset."""
    if calendar.start_date != start_date:
        raise CalendarError(
            f"the dataset calendar {calendar_path(home)} starts on {calendar.start_date} but "
            f"RETAIL_ASSETS_START_DATE is {start_date}: a different start date is a different dataset. Set "
            f"RETAIL_ASSETS_START_DATE={calendar.start_date}, or use a fresh RETAIL_ASSETS_HOME."
        )


def init_calendar(
    home: Path, start_date: date, wall_day: date, next_buildable: date | None = None
) -> tuple[DatasetCalendar, bool]:
    """Create the home's calendar unless it has one; returns (calendar, whether it was created now).

    ``next_buildable`` (the day after the last claimed day of an existing home) is offered today;
    a fresh home offers its start date.
    """
    existing = load_calendar(home)
    if existing is not None:
        require_same_start(existing, start_date, home)
        return existing, False
    first = max(start_date, next_buildable or start_date)
    if first > wall_day:
        raise CalendarError(
            f"the first day to offer, {first}, is after today ({wall_day}, UTC); business days never run ahead "
            "of the wall clock. Set RETAIL_ASSETS_START_DATE to a past day."
        )
    calendar = DatasetCalendar(start_date, anchor_wall_day=wall_day, anchor_business_day=first)
    save_calendar(home, calendar)
    return calendar, True


def extend_calendar(home: Path, start_date: date, through: date, wall_day: date) -> tuple[DatasetCalendar, bool]:
    """Offer ``through`` from ``wall_day`` on (creating the calendar first if needed); returns
    (calendar, whether it changed)."""
    calendar, _ = init_calendar(home, start_date, wall_day)
    extended = calendar.extended_through(through, wall_day)
    if extended != calendar:
        save_calendar(home, extended)
    return extended, extended != calendar


def offered_days(calendar: DatasetCalendar | None, start_date: date, wall_day: date) -> tuple[date, date]:
    """(first, last) business day offered on ``wall_day``: the calendar's, or the fallback window."""
    if calendar is None:
        return start_date, start_date + timedelta(days=FALLBACK_DAYS - 1)
    return calendar.start_date, calendar.last_offered_day(wall_day)


def business_today(home: Path, wall_day: date) -> tuple[date, str]:
    """(the day generation may reach on ``wall_day``, how it was decided): the calendar's last offered
    day, or the wall day itself in a home without a calendar."""
    calendar = load_calendar(home)
    if calendar is None:
        return wall_day, "today, UTC"
    return calendar.last_offered_day(wall_day), "the last business day the dataset calendar offers today"
