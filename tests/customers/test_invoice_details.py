"""The one invoice-detail validation shared by admin, API and portal (customers.services)."""

from __future__ import annotations

import pytest

from cpo_portal.kernel.errors import InvalidInput
from customers.models import Customer
from customers.services import (
    clean_invoice_details,
    create_customer,
    get_anonymous_customer,
    invoice_detail_errors,
    update_customer,
)
from invoicing.models import DEFAULT_MANDATORY_FOR_COMPANIES, DEFAULT_MANDATORY_FOR_INDIVIDUALS
from tests.factories import CustomerFactory

COMPLETE_COMPANY = {
    "company_name": "Fleet GmbH",
    "vat_id": "DE136695976",
    "street": "Hauptstraße 5",
    "postal_code": "10115",
    "city": "Berlin",
    "country": "DE",
    "email": "fleet@example.org",
}


def errors_for(kind, details, settings):
    return invoice_detail_errors(kind=kind, details=details, settings=settings)


def test_company_without_details_gets_one_message_per_field_mandatory_by_default(
    invoicing_settings,
):
    errors = errors_for(Customer.Kind.COMPANY, {}, invoicing_settings)

    assert set(errors) == set(DEFAULT_MANDATORY_FOR_COMPANIES)
    assert all(isinstance(message, str) for message in errors.values())
    assert errors["vat_id"] == "The VAT ID is required for company customers."
    assert errors["company_name"] == "The company name is required for company customers."


def test_individual_without_details_needs_name_and_email_by_default(invoicing_settings):
    errors = errors_for(Customer.Kind.INDIVIDUAL, {}, invoicing_settings)

    assert set(errors) == set(DEFAULT_MANDATORY_FOR_INDIVIDUALS) == {"name", "email"}
    assert errors["name"] == "The name is required for individual customers."
    assert errors["email"] == "The e-mail is required for individual customers."


def test_complete_company_details_pass(invoicing_settings):
    assert errors_for(Customer.Kind.COMPANY, COMPLETE_COMPANY, invoicing_settings) == {}


def test_mandatory_fields_follow_the_operator_setting(invoicing_settings):
    invoicing_settings.mandatory_fields_individual = ["street", "city"]
    invoicing_settings.mandatory_fields_company = ["company_name"]
    invoicing_settings.save()

    assert set(errors_for(Customer.Kind.INDIVIDUAL, {}, invoicing_settings)) == {
        "street",
        "city",
    }
    assert set(errors_for(Customer.Kind.COMPANY, {}, invoicing_settings)) == {"company_name"}
    assert errors_for(Customer.Kind.COMPANY, {"company_name": "Fleet"}, invoicing_settings) == {}


def test_an_operator_can_make_nothing_mandatory(invoicing_settings):
    invoicing_settings.mandatory_fields_individual = []
    invoicing_settings.mandatory_fields_company = []

    assert errors_for(Customer.Kind.INDIVIDUAL, {}, invoicing_settings) == {}
    assert errors_for(Customer.Kind.COMPANY, {}, invoicing_settings) == {}


def test_blank_and_whitespace_values_count_as_missing(invoicing_settings):
    errors = errors_for(
        Customer.Kind.INDIVIDUAL, {"name": "   ", "email": None}, invoicing_settings
    )

    assert set(errors) == {"name", "email"}


@pytest.mark.parametrize("vat_id", ["DE136695975", "XX123456789", "DE12345", "136695976"])
def test_invalid_eu_vat_ids_are_rejected(invoicing_settings, vat_id):
    errors = errors_for(
        Customer.Kind.COMPANY, {**COMPLETE_COMPANY, "vat_id": vat_id}, invoicing_settings
    )

    assert set(errors) == {"vat_id"}
    assert "is not a valid EU VAT ID" in errors["vat_id"]
    assert vat_id in errors["vat_id"]


@pytest.mark.parametrize(
    "vat_id", ["DE136695976", "DE 136 695 976", "de136695976", "ATU13585627", "NL004495445B01"]
)
def test_valid_eu_vat_ids_are_accepted(invoicing_settings, vat_id):
    details = {**COMPLETE_COMPANY, "vat_id": vat_id}

    assert errors_for(Customer.Kind.COMPANY, details, invoicing_settings) == {}


def test_an_optional_vat_id_is_still_checked_when_given(invoicing_settings):
    errors = errors_for(
        Customer.Kind.INDIVIDUAL,
        {"name": "Ada", "email": "ada@example.org", "vat_id": "DE000"},
        invoicing_settings,
    )

    assert set(errors) == {"vat_id"}


def test_a_missing_vat_id_gets_only_the_required_message(invoicing_settings):
    errors = errors_for(
        Customer.Kind.COMPANY, {**COMPLETE_COMPANY, "vat_id": ""}, invoicing_settings
    )

    assert errors == {"vat_id": "The VAT ID is required for company customers."}


@pytest.mark.parametrize("email", ["ada", "ada@", "ada@example", "a da@example.org"])
def test_invalid_email_is_rejected(invoicing_settings, email):
    errors = errors_for(
        Customer.Kind.INDIVIDUAL, {"name": "Ada", "email": email}, invoicing_settings
    )

    assert errors == {"email": f"“{email}” is not a valid e-mail address."}


@pytest.mark.parametrize("country", ["DEU", "D", "D1", "12"])
def test_country_must_be_a_two_letter_code(invoicing_settings, country):
    errors = errors_for(
        Customer.Kind.COMPANY, {**COMPLETE_COMPANY, "country": country}, invoicing_settings
    )

    assert errors == {"country": "Use the two-letter country code (ISO 3166-1), e.g. DE."}


def test_ad_hoc_customers_need_only_an_email(invoicing_settings):
    assert errors_for(Customer.Kind.AD_HOC, {"email": "x@example.org"}, invoicing_settings) == {}
    assert set(errors_for(Customer.Kind.AD_HOC, {}, invoicing_settings)) == {"email"}


def test_ad_hoc_ignores_the_operator_setting(invoicing_settings):
    invoicing_settings.mandatory_fields_individual = ["name", "street"]

    assert set(errors_for(Customer.Kind.AD_HOC, {}, invoicing_settings)) == {"email"}


def test_anonymous_customers_need_nothing(invoicing_settings):
    assert errors_for(Customer.Kind.ANONYMOUS, {}, invoicing_settings) == {}


def test_invoice_details_are_cleaned_once_the_same_way_everywhere():
    cleaned = clean_invoice_details(
        {
            "name": "  Dana Driver ",
            "vat_id": " de 136.695.976 ",
            "country": " de",
            "email": " dana@example.org ",
            "language": "de",  # not an invoice detail: left alone
        }
    )

    assert cleaned == {
        "name": "Dana Driver",
        "vat_id": "DE136695976",
        "country": "DE",
        "email": "dana@example.org",
    }
    assert clean_invoice_details({"vat_id": " DE 123 "}) == {"vat_id": "DE 123"}  # as typed


def test_creating_a_customer_refuses_one_message_per_problem_field_and_stores_nothing(operator):
    with pytest.raises(InvalidInput) as refused:
        create_customer(
            operator=operator,
            values={"kind": Customer.Kind.INDIVIDUAL, "name": " ", "email": "not-an-address"},
        )

    assert refused.value.errors == {
        "name": ["The name is required for individual customers."],
        "email": ["“not-an-address” is not a valid e-mail address."],
    }
    assert not Customer.objects.exists()


def test_a_created_customer_is_stored_cleaned(operator):
    customer = create_customer(
        operator=operator,
        values={"kind": Customer.Kind.COMPANY, **COMPLETE_COMPANY, "country": "de"},
    )

    customer.refresh_from_db()
    assert (customer.country, customer.vat_id, customer.email_collected_at) == (
        "DE",
        "DE136695976",
        None,
    )


def test_the_anonymous_customer_and_a_subscribers_billing_mode_are_locked(operator):
    anonymous = get_anonymous_customer(operator=operator)
    subscriber = CustomerFactory(operator=operator, billing_mode=Customer.BillingMode.SUBSCRIPTION)

    with pytest.raises(InvalidInput) as edited:
        update_customer(customer=anonymous, changes={"language": "de"})
    with pytest.raises(InvalidInput) as moved:
        update_customer(customer=subscriber, changes={"billing_mode": Customer.BillingMode.MONTHLY})

    assert edited.value.errors == {"kind": ["The operator's anonymous customer cannot be edited."]}
    assert moved.value.errors == {
        "billing_mode": ["The customer is billed on a subscription; cancel it first."]
    }
    subscriber.refresh_from_db()
    assert subscriber.billing_mode == Customer.BillingMode.SUBSCRIPTION
    update_customer(customer=subscriber, changes={"city": "Hamburg"})  # the rest may change


def test_an_ad_hoc_email_starts_its_erasure_clock_when_given_and_again_when_changed(operator):
    customer = create_customer(
        operator=operator, values={"kind": Customer.Kind.AD_HOC, "email": "a@example.org"}
    )
    given = customer.email_collected_at
    assert given is not None

    update_customer(customer=customer, changes={"language": "fr", "email": "a@example.org"})
    assert customer.email_collected_at == given
    update_customer(customer=customer, changes={"email": "b@example.org"})

    customer.refresh_from_db()
    assert customer.email_collected_at > given
