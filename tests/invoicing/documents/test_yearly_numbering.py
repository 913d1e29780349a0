"""A series can restart at 1 under a new prefix each year; a closed prefix is never reused."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from datetime import date
from multiprocessing import get_context

import pytest
from django.db import connection

from invoicing.admin.forms import NumberingSeriesForm
from invoicing.documents.composition import InvoicingError
from invoicing.documents.issuing import issue_session_documents
from invoicing.documents.numbering import open_series
from invoicing.models import Document, NumberingSeries
from invoicing.setup.operators import ensure_series
from tests.invoicing.documents.concurrent_issuer import issue_one_by_one

NEW_YEARS_EVE = date(2026, 12, 31)
NEW_YEAR = date(2027, 1, 1)


def yearly(operator, pattern="INV-{year}-"):
    series = ensure_series(operator=operator)["invoice"]
    series.yearly_prefix = pattern
    series.save()
    return series


def issue(session, on):
    (document,) = issue_session_documents(session_ids=[session.pk], issue_date=on)
    return document.display_number


def series_form(series, **changes):
    data = {
        "prefix": series.prefix,
        "yearly_prefix": series.yearly_prefix,
        "next_number": series.next_number,
        "padding": series.padding,
        **changes,
    }
    return NumberingSeriesForm(data=data, instance=NumberingSeries.objects.get(pk=series.pk))


@pytest.mark.django_db
def test_a_yearly_series_starts_again_at_1_under_the_new_years_prefix(
    charge, per_session_customer, operator
):
    yearly(operator)
    sessions = charge(per_session_customer, count=4)

    numbers = [issue(sessions[0], NEW_YEARS_EVE), issue(sessions[1], NEW_YEARS_EVE)]
    numbers += [issue(sessions[2], NEW_YEAR), issue(sessions[3], NEW_YEAR)]

    assert numbers == ["INV-2026-000001", "INV-2026-000002", "INV-2027-000001", "INV-2027-000002"]
    # Setting the yearly prefix closed the plain "INV-" at the first issue after it.
    plain, old, new = NumberingSeries.objects.filter(operator=operator, kind="invoice").order_by(
        "id"
    )
    assert (plain.prefix, old.prefix, new.prefix) == ("INV-", "INV-2026-", "INV-2027-")
    assert plain.closed_at is not None
    assert old.closed_at is not None and new.closed_at is None
    assert new.yearly_prefix == "INV-{year}-"
    assert Document.objects.filter(series=old).count() == 2


@pytest.mark.django_db
def test_a_document_dated_in_a_closed_years_prefix_is_refused_not_numbered_there(
    charge, per_session_customer, operator
):
    yearly(operator)
    first, late = charge(per_session_customer, count=2)
    issue(first, NEW_YEAR)

    # Per-session issuing logs why and leaves the session unbilled for the hourly catch-up.
    assert issue_session_documents(session_ids=[late.pk], issue_date=NEW_YEARS_EVE) == []
    with pytest.raises(InvoicingError, match="'INV-2027-' already numbers 2027"):
        open_series(operator_id=operator.pk, kind="invoice", issue_date=NEW_YEARS_EVE)
    assert issue(late, NEW_YEAR) == "INV-2027-000002"


@pytest.mark.django_db
def test_the_admin_starts_a_new_prefix_and_refuses_a_closed_one(
    charge, per_session_customer, operator
):
    (session,) = charge(per_session_customer)
    series = ensure_series(operator=operator)["invoice"]
    issue(session, NEW_YEARS_EVE)

    form = series_form(series, prefix="RE-", next_number=1)
    assert form.is_valid(), form.errors
    new = form.save()

    assert (new.prefix, new.next_number) == ("RE-", 1)
    assert NumberingSeries.objects.get(pk=series.pk).closed_at is not None
    again = series_form(new, prefix="INV-")
    assert not again.is_valid()
    assert "is closed: a closed prefix is never used again" in again.errors["prefix"][0]
    bad = series_form(new, yearly_prefix="RE-{yy}-")
    assert not bad.is_valid()
    assert "{year} exactly once" in bad.errors["yearly_prefix"][0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_processes_issuing_at_the_turn_of_the_year_stay_gap_free_in_the_new_prefix(
    charge, per_session_customer, operator
):
    yearly(operator)
    sessions = [s.pk for s in charge(per_session_customer, count=41)]
    (document,) = issue_session_documents(session_ids=sessions[:1], issue_date=NEW_YEARS_EVE)
    assert document.display_number == "INV-2026-000001"
    rest = sessions[1:]
    batches = [rest, rest[::-1], rest[20:] + rest[:20], rest[10:] + rest[:10]]
    database = connection.settings_dict["NAME"]

    with ProcessPoolExecutor(max_workers=4, mp_context=get_context("spawn")) as pool:
        results = list(
            pool.map(issue_one_by_one, [database] * 4, batches, [NEW_YEAR.isoformat()] * 4)
        )

    issued = sorted(number for numbers in results for number in numbers)
    assert issued == [f"INV-2027-{n:06d}" for n in range(1, 41)]
    prefixes = NumberingSeries.objects.filter(operator=operator, kind="invoice")
    assert sorted((s.prefix, s.closed_at is None) for s in prefixes) == [
        ("INV-", False),
        ("INV-2026-", False),
        ("INV-2027-", True),
    ]
