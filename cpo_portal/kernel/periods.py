"""Calendar arithmetic: months as billing periods, local days and clocks in a time zone.

Pure functions of dates, instants and time zone names; what a period means for billing or for a
subscription (which month may be billed, when a plan renews) stays with those rules.

Which clock a moment is read on, everywhere (admin, PDFs, e-mails, portal, exports):

- a charging session's times and days (start, end, the tax rule in force, the breakdown page):
  its location's time zone, the clock at the charger (`session_time_zone`);
- a document's days and times (issue date, service period, billing month, issued at) and a
  billing run's: the operator's time zone (`operator_time_zone`);
- exports write moments in UTC (columns ending in `_utc`), sessions also on the charger's clock
  (columns ending in `_location_time`, beside `location_time_zone`).

Wherever a time is shown, the zone is named next to it (`zone_abbreviation`: 23:30 EET).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from django.utils import timezone

from cpo_portal.kernel.errors import InvalidInput


class InvalidPeriod(InvalidInput):
    """Text that is not a month (YYYY-MM); the message says how to write one."""


class HasTimeZone(Protocol):
    time_zone: str


def parse_period(text: str) -> date:
    """'2026-10' -> 2026-10-01, with a sentence when it is not a month."""
    try:
        year, month = (int(part) for part in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise InvalidPeriod(
            f"“{text}” is not a month; write it as YYYY-MM, e.g. 2026-10.", field="period"
        ) from None


def previous_period(today: date) -> date:
    """The first day of the month before `today`'s."""
    return add_months(today.replace(day=1), -1)


def period_bounds(period: date, time_zone: str) -> tuple[datetime, datetime, date, date]:
    """The month as [start, end) instants in the operator's time zone, and its first/last day."""
    following = add_months(period, 1)
    start, end = day_start(period, time_zone), day_start(following, time_zone)
    return start, end, period, following - timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    return min(day.replace(year=year, month=month, day=1) + timedelta(day.day - 1),
               following - timedelta(days=1))  # fmt: skip


class HasLocation(Protocol):
    location: HasTimeZone


class HasEVSE(Protocol):
    evse: HasLocation


class HasOperator(Protocol):
    operator: HasTimeZone


def session_time_zone(session: HasEVSE) -> str:
    """A session's times are read on the clock at its charger: the location's time zone."""
    return session.evse.location.time_zone


def operator_time_zone(thing: HasOperator) -> str:
    """A document's (or a billing run's) days and times are the operator's: its time zone."""
    return thing.operator.time_zone


def local_time(moment: datetime, time_zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(time_zone))


def local_date(moment: datetime, time_zone: str) -> date:
    return local_time(moment, time_zone).date()


def zone_abbreviation(moment: datetime, time_zone: str) -> str:
    """The zone's name at that moment as clocks there print it: CET, CEST, EET, GMT, or +04."""
    return local_time(moment, time_zone).tzname() or time_zone


def day_start(day: date, time_zone: str | None = None) -> datetime:
    """Midnight at the start of `day` in `time_zone` (default: the current time zone)."""
    zone = ZoneInfo(time_zone) if time_zone else timezone.get_current_timezone()
    return datetime.combine(day, time.min, tzinfo=zone)


def today_for(operator: HasTimeZone) -> date:
    """Today in the operator's time zone: the issue date of what is issued now."""
    return local_date(timezone.now(), operator.time_zone)


def validate_time_zone(name: str) -> None:
    """A time zone is an IANA name the server knows (Europe/Athens), nothing else."""
    from zoneinfo import available_timezones

    from django.core.exceptions import ValidationError
    from django.utils.translation import gettext as _

    if name and name not in available_timezones():
        raise ValidationError(
            _("%(name)s is not a time zone; write its IANA name, e.g. Europe/Athens.")
            % {"name": name}
        )
