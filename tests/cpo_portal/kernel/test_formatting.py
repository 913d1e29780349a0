"""Numbers, amounts and durations read the same on PDFs, e-mails, the portal and the admin."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import translation

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
