"""The invoicing admin: read-only documents, corrected through the services; payments."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cpo_portal.kernel.periods import today_for
from customers.models import Customer
from invoicing.documents.issuing import correct_recipient_details
from invoicing.models import (
    RECIPIENT_FIELDS,
    Document,
    DocumentKind,
    DocumentOrigin,
    DocumentStatus,
    Payment,
    RecipientCorrection,
)
from invoicing.payments.recording import record_payment
from tests.factories import CustomerFactory
from tests.invoicing.admin.helpers import document_url, messages_of, run_url
from tests.invoicing.helpers import issue_invoice_for

pytestmark = pytest.mark.django_db


# --- documents: list and detail ------------------------------------------------------------


def test_document_changelist_lists_amounts_with_a_constant_number_of_queries(
    admin_client, operator, customer, django_assert_max_num_queries
):
    first = issue_invoice_for(customer)
    with CaptureQueriesContext(connection) as few:
        response = admin_client.get(reverse("admin:invoicing_document_changelist"))
    assert response.status_code == 200
    assert first.display_number in response.text
    assert "5.00" in response.text and "4.20" in response.text and "0.80" in response.text

    for _ in range(5):
        issue_invoice_for(
            CustomerFactory(operator=operator, requires_invoice=True, billing_mode="per_session")
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get(reverse("admin:invoicing_document_changelist"))

    assert len(response.context["cl"].result_list) == 6
    assert reverse("admin:invoicing_document_add") not in response.text  # issued, never added


def test_documents_are_found_by_recipient_email_and_filtered_by_status(
    admin_client, operator, customer, invoice
):
    other = issue_invoice_for(
        CustomerFactory(operator=operator, requires_invoice=True, billing_mode="per_session")
    )
    record_payment(document=other, amount=other.total_gross, paid_on=date(2026, 3, 10))
    url = reverse("admin:invoicing_document_changelist")

    found = admin_client.get(url, {"q": customer.email}).context["cl"].result_list
    paid = admin_client.get(url, {"status__exact": "paid"}).context["cl"].result_list
    by_number = admin_client.get(url, {"q": invoice.display_number}).context["cl"].result_list

    assert list(found) == [invoice]
    assert list(paid) == [other]
    assert list(by_number) == [invoice]


def test_issued_invoice_page_shows_everything_the_document_says(
    admin_client, django_user_model, invoice
):
    session = invoice.billed_sessions.get().session
    clerk = django_user_model.objects.create_user("clerk")
    correct_recipient_details(
        document=invoice,
        changes={"recipient_city": "Potsdam"},
        reason="Customer moved",
        corrected_by=clerk,
    )
    record_payment(document=invoice, amount=Decimal("2.00"), paid_on=date(2026, 3, 10))

    response = admin_client.get(document_url(invoice))

    assert response.status_code == 200
    text = response.text
    assert "INV-000001" in text
    assert "VoltWay Charging GmbH" in text  # the supplier as issued
    assert "DE136695976" in text
    assert invoice.recipient_name in text
    assert "<td>19.00 %</td><td>4.20</td><td>0.80</td><td>5.00</td>" in text  # VAT summary
    assert text.count('<td class="field-description">') == 1  # one energy line
    session_url = reverse("admin:charging_chargingsession_change", args=[session.pk])
    assert f'<a href="{session_url}">{session}</a>' in text
    assert "Customer moved" in text
    assert "<p>City: Berlin</p>" in text and "<p>City: Potsdam</p>" in text
    assert "clerk" in text
    assert "2.00" in text and "3.00" in text  # paid and still due
    assert document_url(invoice, "credit_note") in text
    assert document_url(invoice, "correct_recipient") in text
    assert document_url(invoice, "record_payment") in text


def test_a_monthly_document_lists_its_sessions_and_says_when_some_are_left_out(
    admin_client, operator, monkeypatch
):
    monthly = CustomerFactory(operator=operator, requires_invoice=True, name="Fleet Driver")
    document = issue_invoice_for(monthly, sessions=3)
    assert (document.origin, document.session_count) == (DocumentOrigin.MONTHLY, 3)
    monkeypatch.setattr("invoicing.admin.common.INLINE_ROWS_SHOWN", 2)

    response = admin_client.get(document_url(document))

    assert response.status_code == 200
    assert "Billed sessions (first 2 of 3)" in response.text
    session_links = re.findall(r'href="/admin/charging/chargingsession/\d+/change/"', response.text)
    assert len(session_links) == 2  # and none from the lines: monthly lines carry no session
    assert (
        document.billing_run.get_status_display()
        in admin_client.get(run_url(document.billing_run)).text
    )


def test_documents_are_read_only_and_cannot_be_added_or_deleted(admin_client, invoice):
    page = admin_client.get(document_url(invoice))
    assert 'name="_save"' not in page.text
    assert 'name="recipient_name"' not in page.text

    changed = admin_client.post(document_url(invoice), {"recipient_name": "Someone else"})
    added = admin_client.get(reverse("admin:invoicing_document_add"))
    deleted = admin_client.post(document_url(invoice, "delete"), {"post": "yes"})

    assert (changed.status_code, added.status_code, deleted.status_code) == (403, 403, 403)
    invoice.refresh_from_db()
    assert invoice.recipient_name != "Someone else"
    assert Document.objects.count() == 1


# --- documents: credit notes ---------------------------------------------------------------


def test_credit_note_page_asks_for_a_reason(admin_client, invoice):
    response = admin_client.get(document_url(invoice, "credit_note"))

    assert response.status_code == 200
    assert set(response.context["form"].fields) == {"reason", "reissue", "reprice"}
    assert "csrfmiddlewaretoken" in response.text
    assert "5.00 EUR" in response.text


def test_a_credit_note_without_reason_shows_the_service_message_and_changes_nothing(
    admin_client, invoice
):
    response = admin_client.post(document_url(invoice, "credit_note"), {"reason": "   "})

    assert response.status_code == 200
    assert messages_of(response) == [
        "A credit note needs a reason (it is printed on the document)."
    ]
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.ISSUED
    assert not Document.objects.filter(kind=DocumentKind.CREDIT_NOTE).exists()


def test_issuing_a_credit_note_credits_the_invoice(admin_client, invoice):
    response = admin_client.post(
        document_url(invoice, "credit_note"), {"reason": "Charged twice"}, follow=True
    )

    credit_note = Document.objects.get(kind=DocumentKind.CREDIT_NOTE)
    assert response.redirect_chain[-1][0] == document_url(credit_note)
    assert messages_of(response) == [
        f'Credit note <a href="{document_url(credit_note)}">CN-000001</a> issued; '
        f'<a href="{document_url(invoice)}">INV-000001</a> is credited.'
    ]
    assert credit_note.credited_document == invoice
    assert credit_note.reason == "Charged twice"
    assert credit_note.total_gross == -invoice.total_gross
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.CREDITED
    assert Document.objects.count() == 2
    original_page = admin_client.get(document_url(invoice))
    assert f'<a href="{document_url(credit_note)}">CN-000001</a>' in original_page.text
    assert document_url(invoice, "credit_note") not in original_page.text


def test_a_credit_note_can_reissue_the_document_with_the_fixed_details(
    admin_client, customer, invoice
):
    Customer.objects.filter(pk=customer.pk).update(name="Erika Mustermann")

    response = admin_client.post(
        document_url(invoice, "credit_note"),
        {"reason": "Wrong name", "reissue": "on"},
        follow=True,
    )

    replacement = Document.objects.get(origin=DocumentOrigin.CORRECTION, kind="invoice")
    assert replacement.recipient_name == "Erika Mustermann"
    assert replacement.display_number == "INV-000002"
    assert replacement.total_gross == invoice.total_gross
    assert "Replacement:" in messages_of(response)[0]


def test_a_replacement_that_cannot_be_issued_leaves_the_invoice_uncredited(
    admin_client, customer, invoice
):
    Customer.objects.filter(pk=customer.pk).update(email="")  # mandatory for individuals

    response = admin_client.post(
        document_url(invoice, "credit_note"), {"reason": "Wrong name", "reissue": "on"}
    )

    assert response.status_code == 200
    (message,) = messages_of(response)
    assert "needs an invoice with the recipient's details" in message
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.ISSUED
    assert Document.objects.count() == 1


def test_action_forms_refuse_a_post_without_csrf_token(client, admin_user, invoice):
    client.handler.enforce_csrf_checks = True
    client.force_login(admin_user)

    response = client.post(document_url(invoice, "credit_note"), {"reason": "Charged twice"})

    assert response.status_code == 403
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.ISSUED


def test_crediting_a_credited_document_is_refused_with_the_reason(admin_client, invoice):
    admin_client.post(
        document_url(invoice, "credit_note"), {"reason": "Charged twice"}, follow=True
    )

    response = admin_client.post(document_url(invoice, "credit_note"), {"reason": "Again"})

    assert response.status_code == 200
    assert messages_of(response) == ["INV-000001 is already credited."]
    assert Document.objects.filter(kind=DocumentKind.CREDIT_NOTE).count() == 1


def test_a_credit_note_cannot_be_credited(admin_client, invoice):
    admin_client.post(
        document_url(invoice, "credit_note"), {"reason": "Charged twice"}, follow=True
    )
    credit_note = Document.objects.get(kind=DocumentKind.CREDIT_NOTE)

    response = admin_client.post(document_url(credit_note, "credit_note"), {"reason": "No"})

    assert messages_of(response) == [
        "A credit note cannot be credited; issue a new invoice instead."
    ]


# --- documents: recipient corrections ------------------------------------------------------


def test_correction_form_is_prefilled_with_the_recipient_block(admin_client, invoice):
    response = admin_client.get(document_url(invoice, "correct_recipient"))

    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.fields)[-1] == "reason"
    assert form["recipient_name"].value() == invoice.recipient_name
    assert form["recipient_email"].value() == invoice.recipient_email
    assert form["recipient_city"].value() == "Berlin"


def correction_data(document, **changes):
    """The correction form as prefilled, with some values changed."""
    data = {name: getattr(document, name) for name in RECIPIENT_FIELDS}
    data.update(changes)
    return data


def test_correcting_the_recipient_records_old_and_new_values_and_the_user(
    admin_client, admin_user, invoice
):
    response = admin_client.post(
        document_url(invoice, "correct_recipient"),
        correction_data(
            invoice,
            recipient_street="Neue Straße 7",
            recipient_vat_id="de 136 695 976",
            reason="Customer sent their company details",
        ),
        follow=True,
    )

    assert response.redirect_chain[-1][0] == document_url(invoice)
    correction = RecipientCorrection.objects.get()
    assert correction.old_values == {"recipient_street": "Hauptstraße 5", "recipient_vat_id": ""}
    assert correction.new_values == {
        "recipient_street": "Neue Straße 7",
        "recipient_vat_id": "DE136695976",
    }
    assert correction.corrected_by == admin_user
    assert correction.corrected_by_name == admin_user.username
    assert correction.reason == "Customer sent their company details"
    invoice.refresh_from_db()
    assert (invoice.recipient_street, invoice.recipient_vat_id) == ("Neue Straße 7", "DE136695976")
    assert invoice.total_gross == Decimal("5.00")
    assert messages_of(response) == [
        "Recipient details of INV-000001 corrected: recipient VAT ID, street."
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"recipient_email": "not-an-address"}, "“not-an-address” is not a valid e-mail address."),
        (
            {"recipient_city": "Potsdam", "reason": ""},
            "Say why the recipient details are corrected.",
        ),
        ({}, "These are already the document's recipient details."),
        (
            {"recipient_vat_id": "DE000"},
            "“DE000” is not a valid EU VAT ID (country prefix and number, e.g. DE136695976).",
        ),
    ],
)
def test_a_refused_correction_shows_why_and_changes_nothing(
    admin_client, invoice, changes, message
):
    data = correction_data(invoice, reason="Customer asked")
    data.update(changes)

    response = admin_client.post(document_url(invoice, "correct_recipient"), data)

    assert response.status_code == 200
    assert messages_of(response) == [message]
    assert not RecipientCorrection.objects.exists()
    before = invoice.recipient_email
    invoice.refresh_from_db()
    assert invoice.recipient_email == before


def test_an_overlong_recipient_value_is_a_form_error_not_a_database_error(admin_client, invoice):
    data = correction_data(invoice, recipient_country="DEU", reason="Typo")

    response = admin_client.post(document_url(invoice, "correct_recipient"), data)

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "recipient_country": ["Ensure this value has at most 2 characters (it has 3)."]
    }
    assert not RecipientCorrection.objects.exists()


# --- documents: payments -------------------------------------------------------------------


def test_payment_form_is_prefilled_with_what_is_due(admin_client, invoice):
    record_payment(document=invoice, amount=Decimal("1.50"), paid_on=date(2026, 3, 10))

    response = admin_client.get(document_url(invoice, "record_payment"))

    form = response.context["form"]
    assert form["amount"].value() == Decimal("3.50")
    assert form["paid_on"].value() == today_for(invoice.operator)
    assert form["method"].value() == Payment.Method.BANK_TRANSFER


def test_recording_the_full_amount_marks_the_invoice_paid(admin_client, admin_user, invoice):
    response = admin_client.post(
        document_url(invoice, "record_payment"),
        {"amount": "5.00", "paid_on": "2026-03-10", "method": "card", "reference": "TX-1"},
        follow=True,
    )

    assert messages_of(response) == ["Payment of 5.00 EUR recorded; INV-000001 is paid."]
    payment = Payment.objects.get()
    assert (payment.amount, payment.method, payment.reference) == (Decimal("5.00"), "card", "TX-1")
    assert payment.recorded_by == admin_user
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.PAID
    assert invoice.paid_on == date(2026, 3, 10)
    assert document_url(invoice, "record_payment") not in response.text


def test_a_part_payment_says_what_is_still_due(admin_client, invoice):
    response = admin_client.post(
        document_url(invoice, "record_payment"),
        {"amount": "2", "paid_on": "2026-03-10", "method": "bank_transfer"},
        follow=True,
    )

    assert messages_of(response) == [
        "Payment of 2.00 EUR recorded; 3.00 EUR still due on INV-000001."
    ]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (DocumentStatus.ISSUED, Decimal("2.00"))


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("5.01", "5.01 is more than the 5.00 still due on INV-000001."),
        ("0", "A payment amount must be more than zero."),
        ("-5", "A payment amount must be more than zero."),
    ],
)
def test_a_refused_payment_shows_the_service_message_and_records_nothing(
    admin_client, invoice, amount, message
):
    response = admin_client.post(
        document_url(invoice, "record_payment"),
        {"amount": amount, "paid_on": "2026-03-10", "method": "bank_transfer"},
    )

    assert response.status_code == 200
    assert messages_of(response) == [message]
    assert not Payment.objects.exists()
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.ISSUED


def test_a_payment_that_is_not_a_number_is_a_form_error(admin_client, invoice):
    response = admin_client.post(
        document_url(invoice, "record_payment"),
        {"amount": "five", "paid_on": "someday", "method": "bitcoin"},
    )

    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"amount", "paid_on", "method"}
    assert "Please correct the errors below." in response.text
    assert not Payment.objects.exists()


# --- documents: permissions and changelist actions -----------------------------------------


def test_view_only_staff_see_documents_but_no_correction_buttons(viewer_client, invoice):
    page = viewer_client.get(document_url(invoice))

    assert page.status_code == 200
    assert document_url(invoice, "credit_note") not in page.text
    for action in ("credit_note", "correct_recipient", "record_payment"):
        assert viewer_client.get(document_url(invoice, action)).status_code == 403
    refused = viewer_client.post(document_url(invoice, "credit_note"), {"reason": "x"})
    assert refused.status_code == 403
    assert not Document.objects.filter(kind=DocumentKind.CREDIT_NOTE).exists()


def test_a_changelist_action_opens_the_form_of_the_one_selected_document(admin_client, invoice):
    changelist = reverse("admin:invoicing_document_changelist")

    response = admin_client.post(
        changelist, {"action": "credit_selected", "_selected_action": [invoice.pk]}
    )

    assert response.status_code == 302
    assert response.url == document_url(invoice, "credit_note")


def test_a_changelist_action_wants_exactly_one_document(admin_client, operator, invoice):
    other = issue_invoice_for(
        CustomerFactory(operator=operator, requires_invoice=True, billing_mode="per_session")
    )

    response = admin_client.post(
        reverse("admin:invoicing_document_changelist"),
        {"action": "pay_selected", "_selected_action": [invoice.pk, other.pk]},
        follow=True,
    )

    assert messages_of(response) == ["Select exactly one document for this action."]


def test_payments_and_corrections_are_listed_read_only(admin_client, invoice):
    record_payment(document=invoice, amount=Decimal("5.00"), paid_on=date(2026, 3, 10))
    correct_recipient_details(
        document=invoice, changes={"recipient_city": "Potsdam"}, reason="Moved"
    )
    payment, correction = Payment.objects.get(), RecipientCorrection.objects.get()

    payments = admin_client.get(reverse("admin:invoicing_payment_changelist"))
    corrections = admin_client.get(reverse("admin:invoicing_recipientcorrection_changelist"))
    correction_page = admin_client.get(
        reverse("admin:invoicing_recipientcorrection_change", args=[correction.pk])
    )

    assert payments.status_code == corrections.status_code == 200
    assert "INV-000001" in payments.text and "Moved" in corrections.text
    assert "City: Potsdam" in correction_page.text
    assert admin_client.get(reverse("admin:invoicing_payment_add")).status_code == 403
    deleted = admin_client.post(
        reverse("admin:invoicing_payment_delete", args=[payment.pk]), {"post": "yes"}
    )
    assert deleted.status_code == 403
    assert Payment.objects.count() == 1


def test_the_invoice_list_shows_client_payment_services_energy_and_total_in_one_query(
    admin_client, operator, django_assert_max_num_queries
):
    def row_of(response, document):
        rows = re.findall(r"<tr>.*?</tr>", " ".join(response.text.split()))
        (row,) = [r for r in rows if document.display_number in r]
        return re.sub(r"<[^>]+>", " ", row)

    driver = CustomerFactory(
        operator=operator,
        name="Eleni Papadopoulou",
        requires_invoice=True,
        billing_mode="per_session",
    )
    first = issue_invoice_for(driver)
    record_payment(document=first, amount=Decimal("2.00"), paid_on=today_for(operator))
    url = reverse("admin:invoicing_document_changelist")
    with CaptureQueriesContext(connection) as one:
        response = admin_client.get(url)
    for _ in range(5):
        issue_invoice_for(
            CustomerFactory(operator=operator, requires_invoice=True, billing_mode="per_session")
        )
    with django_assert_max_num_queries(len(one.captured_queries)):
        many = admin_client.get(url)

    assert len(many.context["cl"].result_list) == 6
    row = " ".join(row_of(response, first).split())
    assert f"Eleni Papadopoulou #{driver.pk}" in row  # the client and their customer number
    assert "Issued, 2.00 of 5.00 paid" in row
    assert "Energy" in row  # the services billed
    assert f"{first.total_energy_kwh:.3f}" in row
    assert "5.00 EUR" in row
    for header in ("client (customer no.)", "payment", "services", "energy (kWh)", "total incl."):
        assert header.lower() in response.text.lower()
