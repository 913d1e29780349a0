"""Numbers, amounts and durations read the same on PDFs, e-mails, the portal and the admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import formats, translation

from cpo_portal.kernel import formatting
from customers.templatetags import portal


@pytest.mark.parametrize(
    ("language", "localized"),
    [("en", "1,234.50 EUR"), ("de", "1.234,50 EUR"), ("fr", "1\u202f234,50 EUR")],
)
def test_an_amount_follows_the_language_and_the_plain_figure_never_does(language, localized):
    with translation.override(language):
        text = formatting.amount(Decimal("1234.50"), "EUR")
        plain = formatting.amount(Decimal("1234.50"), "EUR", localized=False)

    assert text.replace("\xa0", "\u202f") == localized
    assert plain == "1234.50 EUR"  # the admin shows the stored figure, as the exports write it


def test_the_portal_and_the_pdf_write_the_same_amount_energy_and_duration():
    with translation.override("de"):
        assert portal.money(Decimal("-5.5"), "EUR") == formatting.amount(
            Decimal("-5.5"), "EUR", separator="\xa0"
        )
        assert portal.kwh(Decimal("12.345")) == "12,345\xa0kWh"
        assert portal.duration(timedelta(minutes=65, seconds=29)) == formatting.duration_text(3929)
    assert formatting.duration_text(3929) == "1 h 05 min"


@pytest.mark.parametrize(
    ("seconds", "with_seconds", "text"),
    [(0, False, "0:00"), (3660, False, "1:01"), (3661, False, "1:01:01"), (3660, True, "1:01:00")],
)
def test_a_clock_duration_shows_seconds_only_when_asked_or_left_over(seconds, with_seconds, text):
    assert formatting.clock_duration(seconds, with_seconds=with_seconds) == text


def test_a_moment_reads_on_the_given_clock_with_its_zone_named():
    end = datetime(2026, 11, 30, 21, 30, tzinfo=UTC)

    assert formatting.local_datetime_text(end, "Europe/Athens", localized=False) == (
        "2026-11-30 23:30 EET"
    )
    with translation.override("de"):
        assert formatting.local_datetime_text(end, "Europe/Athens") == "30.11.2026 23:30 EET"


def test_a_span_writes_the_day_once_when_it_does_not_cross_midnight_on_that_clock():
    start = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    with translation.override("en"):
        same_day = formatting.local_span_text(start, start + timedelta(minutes=90), "Europe/Athens")
        # In Athens the same session, an hour later, ends after local midnight.
        late = formatting.local_span_text(
            start + timedelta(hours=1), start + timedelta(hours=2, minutes=30), "Europe/Athens"
        )

    assert same_day == "11/30/2026 22:00\u201323:30 EET"
    assert late == "11/30/2026 23:00 \u2013 12/01/2026 00:30 EET"


@pytest.mark.parametrize("language", ["en", "de", "fr", "el", "ar"])
def test_each_language_writes_a_date_one_way_with_or_without_a_time(language):
    moment = datetime(2026, 11, 30, 21, 30, tzinfo=UTC)
    with translation.override(language):
        day = formats.date_format(moment, "DATE_FORMAT", use_l10n=True)
        with_time = formats.date_format(moment, "DATETIME_FORMAT", use_l10n=True)

    assert with_time.startswith(day), (day, with_time)
