"""Credit notes, recipient corrections, payments and due dates of issued documents."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from invoicing.billing.runs import run_billing
from invoicing.documents.actions import DocumentActionRefused
from invoicing.documents.composition import InvoicingError
from invoicing.documents.issuing import (
    correct_recipient_details,
    issue_credit_note,
    issue_session_documents,
    mark_overdue_documents,
)
from invoicing.documents.selectors import billed
from invoicing.models import BilledSession, Document, DocumentKind, DocumentStatus
from invoicing.payments.recording import record_payment
from sessions.models import ChargingSession
from tests.factories import CompanyCustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(charge, per_session_customer):
    (session,) = charge(per_session_customer)
    (invoice,) = issue_session_documents(session_ids=[session.pk], issue_date=date(2026, 10, 5))
    return invoice


def test_a_credit_note_negates_every_line_and_nets_the_original_to_zero(invoice):
    credit_note, replacement = issue_credit_note(document=invoice, reason="Wrong tariff")

    assert replacement is None
    assert (credit_note.kind, credit_note.display_number) == (DocumentKind.CREDIT_NOTE, "CN-000001")
    assert credit_note.credited_document == invoice
    assert credit_note.reason == "Wrong tariff"
    original_lines = list(invoice.lines.values_list("service", "quantity", "unit_price", "net"))
    credit_lines = list(credit_note.lines.values_list("service", "quantity", "unit_price", "net"))
    assert credit_lines == [(s, -q, p, -n) for s, q, p, n in original_lines]
    assert invoice.total_gross + credit_note.total_gross == 0
    assert invoice.total_vat + credit_note.total_vat == 0
    assert credit_note.vat_summary == [
        {"rate": "19.00", "net": "-5.50", "vat": "-1.05", "gross": "-6.55"}
    ]
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.CREDITED


def test_credited_sessions_are_billed_again_only_with_a_replacement(charge, invoice, operator):
    session = invoice.billed_sessions.get().session

    issue_credit_note(document=invoice, reason="Cancelled")

    assert not billed(ChargingSession.objects.filter(pk=session.pk)).exists()
    assert issue_session_documents(session_ids=[session.pk]) == []
    assert run_billing(operator=operator, period=date(2026, 10, 1)).documents_issued == 0


def test_a_replacement_takes_todays_customer_details(invoice, per_session_customer):
    per_session_customer.name = "Corrected Name"
    per_session_customer.save()

    _credit_note, replacement = issue_credit_note(
        document=invoice, reason="Name was wrong", reissue=True
    )

    assert replacement.display_number == "INV-000002"
    assert replacement.recipient_name == "Corrected Name"
    assert replacement.origin == "correction"
    assert (replacement.period_start, replacement.period_end) == (
        invoice.period_start,
        invoice.period_end,
    )
    assert replacement.total_gross == invoice.total_gross
    session = invoice.billed_sessions.get().session
    assert billed(ChargingSession.objects.filter(pk=session.pk)).exists()
    assert BilledSession.objects.filter(session=session).count() == 3  # original, credit, new


@pytest.mark.parametrize(("reason", "message"), [("", "needs a reason"), ("   ", "needs a reason")])
def test_a_credit_note_needs_a_reason(invoice, reason, message):
    with pytest.raises(InvoicingError, match=message):
        issue_credit_note(document=invoice, reason=reason)
    assert not Document.objects.filter(kind=DocumentKind.CREDIT_NOTE).exists()


def test_a_document_is_credited_once_and_credit_notes_are_not_credited(invoice):
    credit_note, _ = issue_credit_note(document=invoice, reason="Cancelled")

    with pytest.raises(DocumentActionRefused, match="already credited"):
        issue_credit_note(document=invoice, reason="Again")
    with pytest.raises(DocumentActionRefused, match="credit note cannot be credited"):
        issue_credit_note(document=credit_note, reason="Undo")
    assert Document.objects.filter(kind=DocumentKind.CREDIT_NOTE).count() == 1


def test_recipient_correction_is_recorded_and_leaves_money_and_number_alone(invoice):
    clerk = get_user_model().objects.create_user("clerk")
    before = (invoice.display_number, invoice.total_gross, invoice.vat_summary)
    old_name = invoice.recipient_name

    correction = correct_recipient_details(
        document=invoice,
        changes={"recipient_name": "Dr. Jane Doe", "recipient_vat_id": "de 136 695 976"},
        reason="Customer asked for title and VAT ID",
        corrected_by=clerk,
    )

    invoice.refresh_from_db()
    assert (invoice.recipient_name, invoice.recipient_vat_id) == ("Dr. Jane Doe", "DE136695976")
    assert (invoice.display_number, invoice.total_gross, invoice.vat_summary) == before
    assert correction.corrected_by == clerk
    assert correction.corrected_by_name == "clerk"
    assert correction.corrected_at is not None
    assert correction.old_values == {"recipient_name": old_name, "recipient_vat_id": ""}
    assert correction.new_values == {
        "recipient_name": "Dr. Jane Doe",
        "recipient_vat_id": "DE136695976",
    }
    assert correction.reason == "Customer asked for title and VAT ID"


@pytest.mark.parametrize(
    ("changes", "reason", "message"),
    [
        (
            {"total_gross": "0"},
            "Fraud",
            "Only recipient details can be corrected, not: total_gross",
        ),
        ({"recipient_name": "X"}, "", "Say why"),
        ({"recipient_vat_id": "DE123"}, "Typo", "is not a valid EU VAT ID"),
        ({"recipient_country": "Germany"}, "Typo", "two-letter country code"),
        ({"recipient_name": "x" * 201}, "Typo", "recipient name may have at most 200 characters"),
        ({"recipient_name": " "}, "Typo", "The name is required for individual customers"),
    ],
)
def test_bad_corrections_are_refused_and_change_nothing(invoice, changes, reason, message):
    before = Document.objects.values().get(pk=invoice.pk)

    with pytest.raises(InvoicingError, match=message):
        correct_recipient_details(document=invoice, changes=changes, reason=reason)

    assert Document.objects.values().get(pk=invoice.pk) == before
    assert not invoice.recipient_corrections.exists()


def test_a_company_invoice_keeps_the_details_a_company_must_give(charge, operator):
    company = CompanyCustomerFactory(operator=operator, billing_mode="per_session")
    (invoice,) = issue_session_documents(session_ids=[charge(company)[0].pk])

    with pytest.raises(InvoicingError, match="VAT ID is required for company customers"):
        correct_recipient_details(
            document=invoice, changes={"recipient_vat_id": ""}, reason="Remove"
        )
    correct_recipient_details(
        document=invoice, changes={"recipient_name": "Logistik Nord AG"}, reason="Renamed"
    )
    invoice.refresh_from_db()
    assert invoice.recipient_name == "Logistik Nord AG"


def test_payments_mark_the_invoice_paid_once_they_cover_it(invoice):
    record_payment(document=invoice, amount=Decimal("5.00"), paid_on=date(2026, 10, 10))
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, invoice.outstanding) == (
        DocumentStatus.ISSUED,
        Decimal("5.00"),
        Decimal("1.55"),
    )

    record_payment(
        document=invoice, amount=Decimal("1.55"), paid_on=date(2026, 10, 12), reference="TX-9"
    )

    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_on) == (DocumentStatus.PAID, date(2026, 10, 12))
    with pytest.raises(DocumentActionRefused, match="no payment is due"):
        record_payment(document=invoice, amount=Decimal("1"), paid_on=date(2026, 10, 13))


@pytest.mark.parametrize(
    ("amount", "method", "message"),
    [
        (Decimal("0"), "card", "more than zero"),
        (Decimal("6.56"), "card", "more than the 6.55 still due"),
        (Decimal("1"), "bitcoin", "Unknown payment method"),
    ],
)
def test_bad_payments_are_refused(invoice, amount, method, message):
    with pytest.raises(InvoicingError, match=message):
        record_payment(document=invoice, amount=amount, paid_on=date(2026, 10, 6), method=method)
    assert not invoice.payments.exists()


def test_unpaid_documents_become_overdue_after_the_due_date(invoice):
    assert invoice.due_date == date(2026, 10, 19)

    assert mark_overdue_documents(today=date(2026, 10, 19)) == 0
    assert mark_overdue_documents(today=date(2026, 10, 20)) == 1

    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.OVERDUE
    record_payment(document=invoice, amount=invoice.total_gross, paid_on=date(2026, 10, 25))
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.PAID
