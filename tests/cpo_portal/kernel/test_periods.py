"""Months as billing periods and days in an operator's time zone (cpo_portal/kernel/periods.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from django.utils import timezone

from cpo_portal.kernel import periods


def test_a_month_in_berlin_runs_from_local_midnight_to_local_midnight():
    start, end, first, last = periods.period_bounds(date(2026, 12, 1), "Europe/Berlin")

    assert start == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert (first, last) == (date(2026, 12, 1), date(2026, 12, 31))


def test_february_of_a_leap_year_ends_on_the_29th():
    _start, _end, _first, last = periods.period_bounds(date(2028, 2, 1), "UTC")
    assert last == date(2028, 2, 29)


@pytest.mark.parametrize(
    ("today", "previous"),
    [(date(2026, 1, 15), date(2025, 12, 1)), (date(2026, 3, 31), date(2026, 2, 1))],
)
def test_the_previous_period_is_the_month_before(today, previous):
    assert periods.previous_period(today) == previous


def test_adding_months_keeps_the_day_or_ends_the_month():
    assert periods.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert periods.add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
    assert periods.add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)


@pytest.mark.parametrize("text", ["2026-13", "October", "2026-10-01", ""])
def test_text_that_is_not_a_month_says_how_to_write_one(text):
    with pytest.raises(periods.InvalidPeriod, match=r"write it as YYYY-MM, e\.g\. 2026-10"):
        periods.parse_period(text)


def test_today_for_an_operator_is_the_day_in_its_time_zone(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 3, 31, 23, 30, tzinfo=UTC))

    assert periods.today_for(SimpleNamespace(time_zone="Europe/Berlin")) == date(2026, 4, 1)
    assert periods.today_for(SimpleNamespace(time_zone="America/New_York")) == date(2026, 3, 31)


def test_a_session_is_read_on_its_locations_clock_and_a_document_on_its_operators():
    session = SimpleNamespace(
        evse=SimpleNamespace(location=SimpleNamespace(time_zone="Europe/Athens"))
    )
    document = SimpleNamespace(operator=SimpleNamespace(time_zone="Europe/Berlin"))

    assert periods.session_time_zone(session) == "Europe/Athens"
    assert periods.operator_time_zone(document) == "Europe/Berlin"


@pytest.mark.parametrize(
    ("moment", "zone", "name"),
    [
        (datetime(2026, 11, 30, 21, 30, tzinfo=UTC), "Europe/Athens", "EET"),
        (datetime(2026, 7, 1, 12, 0, tzinfo=UTC), "Europe/Athens", "EEST"),
        (datetime(2026, 11, 30, 21, 30, tzinfo=UTC), "Europe/Berlin", "CET"),
        (datetime(2026, 7, 1, 12, 0, tzinfo=UTC), "Europe/London", "BST"),
    ],
)
def test_the_zone_is_named_as_clocks_there_print_it_summer_or_winter(moment, zone, name):
    assert periods.zone_abbreviation(moment, zone) == name
