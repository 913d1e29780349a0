"""Nothing is billed that was decided not to be: a session records, when it is stored, whether
it is due for a document, and a later change of the settings never bills it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from invoicing import tasks
from invoicing.billing.runs import run_billing
from invoicing.models import Document, InvoicingSettings
from tests.factories import CompanyCustomerFactory

pytestmark = pytest.mark.django_db

Schedule = InvoicingSettings.IssuingSchedule


def recently():
    return timezone.now() - timedelta(days=2)


def settle(settings, **values):
    for name, value in values.items():
        setattr(settings, name, value)
    settings.save()


def test_a_collect_only_session_is_not_invoiced_when_the_setting_changes(
    charge, invoicing_settings
):
    settle(invoicing_settings, issuing_schedule=Schedule.COLLECT_ONLY, always_issue=True)
    (session,) = charge(start=recently())  # a walk-in driver: a receipt under "always issue"
    assert session.issuing_due is False

    settle(invoicing_settings, issuing_schedule=Schedule.PER_SESSION)
    issued = tasks.issue_pending_session_documents()

    assert issued == 0
    assert not Document.objects.exists()
    # A session stored under the new setting is due and billed as before.
    (later,) = charge(start=recently())
    assert later.issuing_due is True
    assert tasks.issue_pending_session_documents() == 1
    assert Document.objects.get().billed_sessions.get().session == later


def test_a_session_without_a_document_stays_so_when_always_issue_is_switched_on(
    charge, invoicing_settings
):
    settle(invoicing_settings, issuing_schedule=Schedule.PER_SESSION, always_issue=False)
    (session,) = charge(start=recently())
    assert session.issuing_due is False

    settle(invoicing_settings, always_issue=True)

    assert tasks.issue_pending_session_documents() == 0
    assert not Document.objects.exists()


def test_the_monthly_run_skips_sessions_stored_under_collect_only(
    charge, operator, invoicing_settings
):
    settle(invoicing_settings, issuing_schedule=Schedule.COLLECT_ONLY)
    fleet = CompanyCustomerFactory(operator=operator, requires_invoice=True)
    (session,) = charge(fleet)

    settle(invoicing_settings, issuing_schedule=Schedule.MONTHLY)
    period = session.ended_at.date().replace(day=1)
    run_billing(operator=operator, period=period)

    assert not Document.objects.exists()


def test_staff_mark_a_session_due_and_it_is_billed(api, charge, invoicing_settings):
    settle(invoicing_settings, issuing_schedule=Schedule.COLLECT_ONLY, always_issue=True)
    (session,) = charge(start=recently())
    settle(invoicing_settings, issuing_schedule=Schedule.PER_SESSION)

    response = api.post(f"/api/v1/sessions/{session.pk}/due/", {})

    assert response.status_code == 200, response.content
    assert response.json()["issuing_due"] is True
    assert Document.objects.get().billed_sessions.get().session == session
    assert tasks.issue_pending_session_documents() == 0


def test_staff_mark_sessions_due_in_the_admin(admin_client, charge, invoicing_settings):
    settle(invoicing_settings, issuing_schedule=Schedule.COLLECT_ONLY, always_issue=True)
    sessions = charge(count=2, start=recently())
    settle(invoicing_settings, issuing_schedule=Schedule.PER_SESSION)

    response = admin_client.post(
        "/admin/charging/chargingsession/",
        {"action": "mark_due", "_selected_action": [s.pk for s in sessions]},
        follow=True,
    )

    assert response.status_code == 200
    assert "2 issued now" in response.content.decode()
    assert Document.objects.count() == 2
