"""The invoicing admin: operators, their settings and numbering series."""

from __future__ import annotations

import pytest
from django.urls import reverse

from invoicing.models import (
    DocumentKind,
    InvoicingSettings,
    NumberingSeries,
    Operator,
)
from tests.invoicing.admin.helpers import change_form_data
from tests.invoicing.helpers import issue_invoice_for

pytestmark = pytest.mark.django_db


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
        "E-invoices",
        "SEPA direct debit",
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


def test_a_new_prefix_after_issuing_closes_the_old_one_and_starts_where_the_admin_says(
    admin_client, operator, invoice
):
    page = admin_client.get(operator_url(operator))
    data = change_form_data(page)
    form = series_forms(page)["invoice"]
    data[form.add_prefix("prefix")] = "RE-2026-"
    data[form.add_prefix("padding")] = "4"
    data[form.add_prefix("next_number")] = "1"

    response = admin_client.post(operator_url(operator), data)

    assert response.status_code == 302
    series = NumberingSeries.objects.get(operator=operator, kind="invoice", closed_at=None)
    assert (series.prefix, series.padding, series.next_number) == ("RE-2026-", 4, 1)
    second = issue_invoice_for(invoice.customer)
    assert second.display_number == "RE-2026-0001"
    invoice.refresh_from_db()
    assert invoice.display_number == "INV-000001"  # issued numbers never change
    assert invoice.series.prefix == "INV-" and invoice.series.closed_at is not None


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
