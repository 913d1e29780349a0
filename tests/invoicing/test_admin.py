"""The invoicing admin: settings and numbering, read-only documents corrected through the
services, payments, and billing runs with their failed customers."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.forms import CheckboxInput, FileField, MultipleChoiceField
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cpo_portal.kernel.periods import previous_period, today_for
from customers.models import Customer
from invoicing import tasks
from invoicing.billing.runs import run_billing
from invoicing.documents.issuing import correct_recipient_details
from invoicing.models import (
    RECIPIENT_FIELDS,
    BillingRun,
    Document,
    DocumentKind,
    DocumentOrigin,
    DocumentStatus,
    InvoicingSettings,
    NumberingSeries,
    Operator,
    Payment,
    RecipientCorrection,
)
from invoicing.payments.recording import record_payment
from tests.factories import CustomerFactory, OperatorFactory
from tests.invoicing.helpers import issue_invoice_for, make_priced_session

pytestmark = pytest.mark.django_db


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def change_form_data(response) -> dict:
    """What a browser submits for a change page as rendered: every form's current values."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        forms.extend(inline.formset.forms)
    for form in forms:
        for name, field in form.fields.items():
            value = form[name].value()
            key = form.add_prefix(name)
            if isinstance(field, FileField):
                continue
            if isinstance(field.widget, CheckboxInput):
                if value:
                    data[key] = "on"
            elif value is None:
                if not isinstance(field, MultipleChoiceField):  # nothing ticked: nothing sent
                    data[key] = ""
            else:
                data[key] = list(value) if isinstance(value, list | tuple) else value
    return data


@pytest.fixture
def customer(operator):
    return CustomerFactory(operator=operator, requires_invoice=True, billing_mode="per_session")


@pytest.fixture
def invoice(customer):
    return issue_invoice_for(customer)


def document_url(document, action="change"):
    return reverse(f"admin:invoicing_document_{action}", args=[document.pk])


# --- operators: settings and numbering -----------------------------------------------------


def operator_url(operator):
    return reverse("admin:invoicing_operator_change", args=[operator.pk])


def series_forms(response):
    (inline,) = [
        i for i in response.context["inline_admin_formsets"] if i.formset.model is NumberingSeries
    ]
    return {form.instance.kind: form for form in inline.formset.forms}


def test_operator_page_keeps_the_settings_fieldsets_and_shows_a_series_per_kind(
    admin_client, operator
):
    assert not NumberingSeries.objects.exists()

    response = admin_client.get(operator_url(operator))

    assert response.status_code == 200
    settings_inline = response.context["inline_admin_formsets"][0]
    assert [name for name, _options in settings_inline.fieldsets] == [
        "General configuration",
        "Issuing schedule",
        "Content",
    ]
    forms = series_forms(response)
    assert set(forms) == set(DocumentKind.values)
    assert forms["invoice"]["prefix"].value() == "INV-"
    assert NumberingSeries.objects.filter(operator=operator).count() == 4
    assert "INV-000001" in response.text  # what the next invoice number looks like


def test_mandatory_invoice_details_are_tick_boxes(admin_client, operator):
    response = admin_client.get(operator_url(operator))

    prefix = "invoicing_settings-0-mandatory_fields_company"
    assert f'type="checkbox" name="{prefix}" value="vat_id"' in response.text
    assert f'type="checkbox" name="{prefix}" value="company_registration_id"' in response.text
    assert "VAT ID" in response.text


def test_saving_the_operator_stores_the_ticked_invoice_details_in_field_order(
    admin_client, operator
):
    data = change_form_data(admin_client.get(operator_url(operator)))
    data["invoicing_settings-0-mandatory_fields_individual"] = ["email", "city", "name"]
    data["invoicing_settings-0-mandatory_fields_company"] = []

    response = admin_client.post(operator_url(operator), data)

    assert response.status_code == 302, response.context["errors"]
    settings = InvoicingSettings.objects.get(operator=operator)
    assert settings.mandatory_fields_individual == ["name", "city", "email"]
    assert settings.mandatory_fields_company == []


def test_an_unknown_mandatory_invoice_detail_is_a_form_error_naming_it(admin_client, operator):
    data = change_form_data(admin_client.get(operator_url(operator)))
    data["invoicing_settings-0-mandatory_fields_company"] = ["vat_id", "shoe_size"]

    response = admin_client.post(operator_url(operator), data)

    assert response.status_code == 200
    settings_form = response.context["inline_admin_formsets"][0].formset.forms[0]
    (message,) = settings_form.errors["mandatory_fields_company"]
    assert message.startswith("Unknown invoice detail: “shoe_size”.")
    assert "vat_id" in message  # the known names are listed
    settings = InvoicingSettings.objects.get(operator=operator)
    assert "shoe_size" not in settings.mandatory_fields_company


@pytest.mark.parametrize("next_number", ["1", "3", "100"])
def test_the_next_number_of_a_series_with_issued_documents_cannot_move(
    admin_client, operator, invoice, next_number
):
    assert invoice.display_number == "INV-000001"
    data = change_form_data(admin_client.get(operator_url(operator)))
    form = series_forms(admin_client.get(operator_url(operator)))["invoice"]
    data[form.add_prefix("next_number")] = next_number

    response = admin_client.post(operator_url(operator), data)

    assert response.status_code == 200
    assert series_forms(response)["invoice"].errors["next_number"] == [
        "INV-000001 is the last number issued in this series: the next number must be 2, "
        "or the numbering would repeat a number or leave a gap."
    ]
    assert NumberingSeries.objects.get(operator=operator, kind="invoice").next_number == 2


def test_series_prefix_and_padding_can_change_after_issuing(admin_client, operator, invoice):
    page = admin_client.get(operator_url(operator))
    data = change_form_data(page)
    form = series_forms(page)["invoice"]
    data[form.add_prefix("prefix")] = "RE-2026-"
    data[form.add_prefix("padding")] = "4"

    response = admin_client.post(operator_url(operator), data)

    assert response.status_code == 302
    series = NumberingSeries.objects.get(operator=operator, kind="invoice")
    assert (series.prefix, series.padding, series.next_number) == ("RE-2026-", 4, 2)
    second = issue_invoice_for(invoice.customer)
    assert second.display_number == "RE-2026-0002"
    invoice.refresh_from_db()
    assert invoice.display_number == "INV-000001"  # issued numbers never change


def test_a_series_without_documents_may_start_anywhere(admin_client, operator):
    page = admin_client.get(operator_url(operator))
    data = change_form_data(page)
    form = series_forms(page)["credit_note"]
    data[form.add_prefix("next_number")] = "5000"
    admin_client.post(operator_url(operator), data)
    data[form.add_prefix("next_number")] = "42"

    response = admin_client.post(operator_url(operator), data)

    assert response.status_code == 302
    assert NumberingSeries.objects.get(operator=operator, kind="credit_note").next_number == 42


def test_a_next_number_of_zero_is_refused(admin_client, operator):
    page = admin_client.get(operator_url(operator))
    data = change_form_data(page)
    form = series_forms(page)["invoice"]
    data[form.add_prefix("next_number")] = "0"

    response = admin_client.post(operator_url(operator), data)

    assert response.status_code == 200
    assert series_forms(response)["invoice"].errors["next_number"] == [
        "Ensure this value is greater than or equal to 1."
    ]


def test_an_operator_added_without_touching_the_settings_gets_settings_and_series(
    admin_client,
):
    add_url = reverse("admin:invoicing_operator_add")
    data = change_form_data(admin_client.get(add_url))
    data.update(
        name="ChargeCo",
        legal_name="ChargeCo SAS",
        street="1 rue de la Paix",
        postal_code="75002",
        city="Paris",
        country="FR",
        email="billing@chargeco.example",
        currency="EUR",
        time_zone="Europe/Paris",
    )

    response = admin_client.post(add_url, data)

    assert response.status_code == 302, response.context["errors"]
    operator = Operator.objects.get(name="ChargeCo")
    assert InvoicingSettings.objects.filter(operator=operator).exists()
    assert NumberingSeries.objects.filter(operator=operator).count() == 4


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
    assert set(response.context["form"].fields) == {"reason", "reissue"}
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
    assert "lacks invoice details required on an invoice" in message
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


@pytest.fixture
def viewer_client(client, django_user_model):
    """A staff member who may look at documents but correct nothing."""
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="invoicing", codename__in=["view_document", "view_billingrun"]
        )
    )
    client.force_login(user)
    return client


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


# --- billing runs --------------------------------------------------------------------------


def in_month(period: date) -> datetime:
    """A moment well inside the month, whatever the operator's time zone."""
    return datetime(period.year, period.month, 2, 10, tzinfo=UTC)


@pytest.fixture
def failed_run(operator):
    """Last month's run: one monthly customer billed, one without e-mail not billed."""
    period = previous_period(today_for(operator))
    good = CustomerFactory(operator=operator, requires_invoice=True, name="Good Driver")
    bad = CustomerFactory(operator=operator, requires_invoice=True, name="No Mail", email="")
    for customer in (good, bad):
        make_priced_session(operator, customer, start=in_month(period))
    run = run_billing(operator=operator, period=period)
    assert run.status == BillingRun.Status.COMPLETED_WITH_ERRORS
    return run


def run_url(run, action="change"):
    return reverse(f"admin:invoicing_billingrun_{action}", args=[run.pk])


def test_billing_run_list_shows_counts_and_progress(admin_client, failed_run):
    response = admin_client.get(reverse("admin:invoicing_billingrun_changelist"))

    assert response.status_code == 200
    (row,) = response.context["cl"].result_list
    assert row == failed_run
    text = response.text
    assert f"{failed_run.period:%Y-%m}" in text
    assert '<td class="field-customers_total">2</td>' in text
    assert '<td class="field-customers_billed">1</td>' in text
    assert '<td class="field-customers_failed">1</td>' in text
    assert '<td class="field-documents_issued">1</td>' in text
    assert '<td class="field-chunks">1/1</td>' in text
    assert "Completed with errors" in text
    assert reverse("admin:invoicing_billingrun_start") in text
    assert 'href="/admin/invoicing/billingrun/add/"' not in text


def test_billing_run_page_shows_the_failed_customers_and_why(admin_client, failed_run):
    response = admin_client.get(run_url(failed_run))

    assert response.status_code == 200
    text = response.text
    assert "No Mail" in text
    assert "The e-mail is required for individual customers." in text
    assert 'name="_save"' not in text
    assert run_url(failed_run, "rebill") in text
    documents = reverse("admin:invoicing_document_changelist")
    listed = admin_client.get(documents, {"billing_run__id__exact": failed_run.pk})
    assert [d.recipient_name for d in listed.context["cl"].result_list] == ["Good Driver"]


def test_rebill_action_bills_the_fixed_customer_and_completes_the_run(admin_client, failed_run):
    Customer.objects.filter(name="No Mail").update(email="no.mail@example.org")

    response = admin_client.post(
        reverse("admin:invoicing_billingrun_changelist"),
        {"action": "rebill_failed_customers", "_selected_action": [failed_run.pk]},
        follow=True,
    )

    assert messages_of(response) == [
        f"{failed_run}: billed 1 of 1 failed customers again (1 document issued)."
    ]
    failed_run.refresh_from_db()
    assert failed_run.status == BillingRun.Status.COMPLETED
    assert (failed_run.customers_billed, failed_run.customers_failed) == (2, 0)
    assert failed_run.documents_issued == 2
    assert not failed_run.errors.exists()
    document = Document.objects.get(customer__name="No Mail")
    assert document.billing_run == failed_run


def test_rebill_of_a_customer_still_missing_details_keeps_the_error(admin_client, failed_run):
    response = admin_client.post(run_url(failed_run, "rebill"), follow=True)

    assert response.redirect_chain[-1][0] == run_url(failed_run)
    (message,) = messages_of(response)
    assert message.startswith(f"{failed_run}: 1 customer still not billed (No Mail: ")
    assert "e-mail is required" in message
    failed_run.refresh_from_db()
    assert failed_run.status == BillingRun.Status.COMPLETED_WITH_ERRORS
    assert failed_run.errors.count() == 1
    assert Document.objects.count() == 1


def test_rebill_button_wants_a_post(admin_client, failed_run):
    assert admin_client.get(run_url(failed_run, "rebill")).status_code == 405


def test_view_only_staff_cannot_rebill(viewer_client, failed_run):
    page = viewer_client.get(run_url(failed_run))

    assert page.status_code == 200
    assert run_url(failed_run, "rebill") not in page.text
    assert viewer_client.post(run_url(failed_run, "rebill")).status_code == 403
    assert viewer_client.get(reverse("admin:invoicing_billingrun_start")).status_code == 403


def test_billing_runs_cannot_be_added_or_deleted(admin_client, failed_run):
    assert admin_client.get(reverse("admin:invoicing_billingrun_add")).status_code == 403
    deleted = admin_client.post(run_url(failed_run, "delete"), {"post": "yes"})
    assert deleted.status_code == 403


@pytest.fixture
def eager_celery(monkeypatch):
    """Queued chunks are billed at once, in this process."""
    from cpo_portal.celery import app

    monkeypatch.setattr(app.conf, "task_always_eager", True)


def test_start_form_proposes_the_month_that_just_closed(admin_client, operator):
    response = admin_client.get(reverse("admin:invoicing_billingrun_start"))

    assert response.status_code == 200
    form = response.context["form"]
    assert form["operator"].value() == operator.pk
    assert form["period"].value() == f"{previous_period(today_for(operator)):%Y-%m}"


def test_starting_a_billing_run_queues_and_bills_the_month(admin_client, operator, eager_celery):
    period = previous_period(today_for(operator))
    customer = CustomerFactory(operator=operator, requires_invoice=True)
    make_priced_session(operator, customer, start=in_month(period))

    response = admin_client.post(
        reverse("admin:invoicing_billingrun_start"),
        {"operator": operator.pk, "period": f"{period:%Y-%m}"},
        follow=True,
    )

    run = BillingRun.objects.get()
    assert response.redirect_chain[-1][0] == run_url(run)
    assert messages_of(response) == [
        f"{run} started: 1 customer in 1 chunk, queued for the workers."
    ]
    run.refresh_from_db()
    assert run.status == BillingRun.Status.COMPLETED
    assert Document.objects.get().customer == customer


@pytest.mark.parametrize(
    ("period", "words"),
    [("2026-13", "“2026-13” is not a month"), ("soon", "write it as YYYY-MM")],
)
def test_starting_a_run_for_a_bad_month_says_why(admin_client, operator, period, words):
    response = admin_client.post(
        reverse("admin:invoicing_billingrun_start"), {"operator": operator.pk, "period": period}
    )

    assert response.status_code == 200
    (message,) = messages_of(response)
    assert words in message
    assert not BillingRun.objects.exists()


def test_the_current_month_cannot_be_billed_yet(admin_client, operator):
    month = f"{today_for(operator):%Y-%m}"

    response = admin_client.post(
        reverse("admin:invoicing_billingrun_start"), {"operator": operator.pk, "period": month}
    )

    assert messages_of(response) == [f"{month} is not over yet; only closed months are billed."]
    assert not BillingRun.objects.exists()


def test_a_queue_outage_is_an_error_message_not_a_server_error(admin_client, operator, monkeypatch):
    from kombu.exceptions import OperationalError

    def broker_down(*args, **kwargs):
        raise OperationalError("Connection refused")

    customer = CustomerFactory(operator=operator, requires_invoice=True)
    period = previous_period(today_for(operator))
    make_priced_session(operator, customer, start=in_month(period))
    monkeypatch.setattr(tasks.bill_chunk, "delay", broker_down)

    response = admin_client.post(
        reverse("admin:invoicing_billingrun_start"),
        {"operator": operator.pk, "period": f"{period:%Y-%m}"},
    )

    assert response.status_code == 200
    (message,) = messages_of(response)
    assert "could not be handed to the workers (Connection refused)" in message


def test_an_operator_without_settings_cannot_be_chosen(admin_client, operator):
    bare = OperatorFactory(name="Bare", invoicing_settings=None)

    response = admin_client.post(
        reverse("admin:invoicing_billingrun_start"), {"operator": bare.pk, "period": "2020-01"}
    )

    assert response.status_code == 200
    assert "operator" in response.context["form"].errors
    assert not BillingRun.objects.exists()
