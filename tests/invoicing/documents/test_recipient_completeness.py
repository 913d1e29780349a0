"""A full invoice names its recipient with a full address: without one, a simplified receipt up
to 250 EUR gross, above it the document is held (admin, API, billing-run errors) until the
details arrive; a walk-in driver's receipt names no one and asks for no payment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from cpo_portal.kernel.periods import previous_period, today_for
from customers.models import Customer
from invoicing.billing.runs import run_billing
from invoicing.documents.issuing import DocumentHeld, bill_sessions, issue_session_documents
from invoicing.models import Document, DocumentKind, DocumentStatus, InvoicingSettings
from invoicing.tasks import issue_pending_session_documents
from tests.factories import CustomerFactory
from tests.invoicing.helpers import make_priced_session

pytestmark = pytest.mark.django_db

# 0.40/kWh at 19 %: these energies cost exactly these gross amounts.
GROSS_350_92 = "737.225"  # net 294.89, VAT 56.03
GROSS_250_00 = "525.200"  # net 210.08, VAT 39.92
GROSS_250_01 = "525.225"  # net 210.09, VAT 39.92
NO_ADDRESS = {"street": "", "postal_code": "", "city": "", "country": ""}


@pytest.fixture
def addressless(operator):
    """A per-session individual who asked for invoices but gave no address (and the operator's
    mandatory-field settings ask for none)."""
    InvoicingSettings.objects.filter(operator=operator).update(mandatory_fields_individual=[])
    return CustomerFactory(
        operator=operator,
        requires_invoice=True,
        billing_mode=Customer.BillingMode.PER_SESSION,
        name="Jonas Weber",
        **NO_ADDRESS,
    )


def test_an_invoice_of_350_92_without_an_address_is_held_then_issued_once_it_arrives(
    operator, addressless
):
    # Ended yesterday: within the hourly catch-up's reach.
    start = timezone.now().replace(microsecond=0) - timedelta(days=1)
    session = make_priced_session(operator, addressless, energy_kwh=GROSS_350_92, start=start)

    assert issue_session_documents(session_ids=[session.pk]) == []
    assert issue_pending_session_documents() == 0
    assert not Document.objects.exists()

    Customer.objects.filter(pk=addressless.pk).update(
        street="Hauptstraße 5", postal_code="10115", city="Berlin", country="DE"
    )
    assert issue_pending_session_documents() == 1

    document = Document.objects.get()
    assert (document.kind, document.total_gross) == (DocumentKind.INVOICE, Decimal("350.92"))
    assert (document.recipient_street, document.recipient_city) == ("Hauptstraße 5", "Berlin")


def test_the_simplified_receipt_limit_is_250_00_gross_inclusive(operator, addressless):
    at_limit = make_priced_session(operator, addressless, energy_kwh=GROSS_250_00)
    above = make_priced_session(
        operator, addressless, energy_kwh=GROSS_250_01, start=datetime(2026, 3, 3, 10, tzinfo=UTC)
    )

    (receipt,) = issue_session_documents(session_ids=[at_limit.pk, above.pk])

    assert (receipt.kind, receipt.total_gross) == (DocumentKind.SALES_RECEIPT, Decimal("250.00"))
    assert receipt.display_number.startswith("SR-")
    with pytest.raises(DocumentHeld) as held:
        bill_sessions(session_ids=[above.pk])
    assert sorted(held.value.errors) == ["city", "country", "postal_code", "street"]
    assert "250.01 EUR" in str(held.value)


def test_a_held_invoice_is_a_400_naming_the_missing_fields_on_the_bill_call(
    api, operator, addressless
):
    session = make_priced_session(operator, addressless, energy_kwh=GROSS_350_92)

    response = api.post(f"/api/v1/sessions/{session.pk}/bill/")
    customer = api.get(f"/api/v1/customers/{addressless.pk}/").json()

    assert response.status_code == 400, response.json()
    assert set(response.json()) >= {"street", "postal_code", "city", "country"}
    assert set(customer["invoice_detail_errors"]) == {"street", "postal_code", "city", "country"}
    assert not Document.objects.exists()

    Customer.objects.filter(pk=addressless.pk).update(
        street="Hauptstraße 5", postal_code="10115", city="Berlin", country="DE"
    )
    issued = api.post(f"/api/v1/sessions/{session.pk}/bill/")

    assert issued.status_code == 201, issued.json()
    (document,) = issued.json()["documents"]
    assert (document["kind"], document["total_gross"]) == ("invoice", "350.92")


def test_the_admin_shows_what_holds_a_customers_invoices(admin_client, operator, addressless):
    session = make_priced_session(operator, addressless, energy_kwh=GROSS_350_92)

    page = admin_client.get(reverse("admin:customers_customer_change", args=[addressless.pk]))
    listed = admin_client.get(reverse("admin:customers_customer_changelist"))
    billed = admin_client.post(
        reverse("admin:charging_chargingsession_changelist"),
        {"action": "bill_again", "_selected_action": [session.pk]},
        follow=True,
    )

    assert "The street is required on an invoice." in page.text
    assert "The city is required on an invoice." in listed.text
    (message,) = [str(m) for m in get_messages(billed.wsgi_request)]
    assert "Held: 350.92 EUR" in message and "street" in message
    assert not Document.objects.exists()


def test_the_monthly_run_records_a_held_invoice_and_bills_a_small_one_as_a_receipt(operator):
    InvoicingSettings.objects.filter(operator=operator).update(mandatory_fields_individual=[])
    large, small = (
        CustomerFactory(
            operator=operator,
            requires_invoice=True,
            billing_mode=Customer.BillingMode.MONTHLY,
            **NO_ADDRESS,
        )
        for _ in range(2)
    )
    period = previous_period(today_for(operator))
    start = datetime(period.year, period.month, 2, 10, tzinfo=UTC)
    make_priced_session(operator, large, energy_kwh=GROSS_350_92, start=start)
    make_priced_session(operator, small, energy_kwh="10.5", start=start)

    run = run_billing(operator=operator, period=period)

    (error,) = run.errors.all()
    assert error.customer == large
    assert "Held: 350.92 EUR" in error.message and "postal_code" in error.message
    receipt = Document.objects.get()
    assert (receipt.customer, receipt.kind) == (small, DocumentKind.SALES_RECEIPT)


@pytest.mark.parametrize("kind", [Customer.Kind.ANONYMOUS, Customer.Kind.AD_HOC])
def test_a_walk_in_receipt_names_no_anonymous_customer_and_is_settled_at_issue(operator, kind):
    InvoicingSettings.objects.filter(operator=operator).update(always_issue=True)
    walk_in = CustomerFactory(
        operator=operator, kind=kind, name="", email="walkin@example.org", **NO_ADDRESS
    )
    # Above the simplified limit too: a full receipt, still no name and no payment request.
    session = make_priced_session(operator, walk_in, energy_kwh=GROSS_350_92)

    (receipt,) = issue_session_documents(session_ids=[session.pk])

    assert receipt.kind == DocumentKind.SALES_RECEIPT
    assert "Anonymous" not in receipt.recipient_name
    assert (receipt.status, receipt.paid_on) == (DocumentStatus.PAID, receipt.issue_date)
