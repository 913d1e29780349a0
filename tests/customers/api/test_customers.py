"""Customers and tokens through the API: the same invoice-detail rules as admin and portal."""

from __future__ import annotations

from customers.models import ChargingToken, Customer
from tests.factories import ChargingTokenFactory, CompanyCustomerFactory, CustomerFactory

CUSTOMERS = "/api/v1/customers/"
TOKENS = "/api/v1/tokens/"

COMPANY = {
    "kind": "company",
    "company_name": "Fleet GmbH",
    "vat_id": "de 136.695-976",
    "street": "Hauptstraße 5",
    "postal_code": "10115",
    "city": "Berlin",
    "country": "de",
    "email": "billing@fleet.example",
    "requires_invoice": True,
    "billing_mode": "monthly",
}


def test_a_company_is_created_with_normalised_details(api, operator):
    response = api.post(CUSTOMERS, COMPANY)

    assert response.status_code == 201, response.json()
    body = response.json()
    customer = Customer.objects.get(pk=body["id"])
    assert customer.operator == operator
    assert (customer.vat_id, customer.country) == ("DE136695976", "DE")
    assert body["vat_id"] == "DE136695976"
    assert body["invoice_detail_errors"] == {}
    assert body["tokens"] == []


def test_missing_mandatory_fields_get_one_message_each_and_nothing_is_stored(api):
    response = api.post(CUSTOMERS, {"kind": "company", "company_name": "Fleet GmbH"})

    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"vat_id", "street", "postal_code", "city", "country", "email"}
    assert errors["vat_id"] == ["The VAT ID is required for company customers."]
    assert not Customer.objects.exists()


def test_the_operators_own_mandatory_fields_decide(api, invoicing_settings):
    invoicing_settings.mandatory_fields_individual = ["name", "street"]
    invoicing_settings.save()

    response = api.post(CUSTOMERS, {"kind": "individual", "name": "Ada"})

    assert (response.status_code, response.json()) == (
        400,
        {"street": ["The street is required for individual customers."]},
    )


def test_an_invalid_vat_id_is_refused_with_the_shared_message(api):
    response = api.post(CUSTOMERS, {**COMPANY, "vat_id": "DE123"})

    assert response.status_code == 400
    assert response.json()["vat_id"] == [
        "“DE123” is not a valid EU VAT ID (country prefix and number, e.g. DE136695976)."
    ]


def test_a_partial_update_is_validated_as_a_whole(api, operator):
    customer = CompanyCustomerFactory(operator=operator)

    cleared = api.patch(f"{CUSTOMERS}{customer.pk}/", {"city": ""})
    renamed = api.patch(f"{CUSTOMERS}{customer.pk}/", {"company_name": "New name AG"})

    assert cleared.status_code == 400
    assert cleared.json() == {"city": ["The city is required for company customers."]}
    assert renamed.status_code == 200
    customer.refresh_from_db()
    assert (customer.company_name, customer.city) == ("New name AG", "Berlin")


def test_a_customer_is_read_with_tokens_and_what_its_details_lack(api, operator):
    customer = CustomerFactory(operator=operator, email="")
    ChargingTokenFactory(customer=customer, uid="04AA")

    body = api.get(f"{CUSTOMERS}{customer.pk}/").json()

    assert body["tokens"] == [
        {"id": customer.tokens.get().pk, "kind": "rfid", "uid": "04AA", "is_blocked": False}
    ]
    assert body["invoice_detail_errors"] == {
        "email": "The e-mail is required for individual customers."
    }


def test_the_list_filters_by_kind_and_email(api, operator):
    ada = CustomerFactory(operator=operator, email="ada@example.org")
    CompanyCustomerFactory(operator=operator)

    by_email = api.get(CUSTOMERS, {"email": "ADA@example.org"}).json()
    companies = api.get(CUSTOMERS, {"kind": "company"}).json()

    assert [c["id"] for c in by_email["results"]] == [ada.pk]
    assert [c["kind"] for c in companies["results"]] == ["company"]


def test_the_anonymous_customer_is_read_only(api, operator):
    anonymous = Customer.objects.create(operator=operator, kind=Customer.Kind.ANONYMOUS)

    response = api.patch(f"{CUSTOMERS}{anonymous.pk}/", {"name": "Someone"})

    assert response.status_code == 400
    assert api.get(f"{CUSTOMERS}{anonymous.pk}/").json()["kind"] == "anonymous"


def test_an_ad_hoc_customer_starts_the_30_day_erasure_clock(api):
    response = api.post(CUSTOMERS, {"kind": "ad_hoc", "email": "walkin@example.org"})

    assert response.status_code == 201
    assert Customer.objects.get(pk=response.json()["id"]).email_collected_at is not None


def test_a_token_is_created_for_a_customer_of_the_operator_only(api, operator, other_operator):
    mine = CustomerFactory(operator=operator)
    theirs = CustomerFactory(operator=other_operator)

    created = api.post(TOKENS, {"customer": mine.pk, "kind": "rfid", "uid": "04BEEF"})
    foreign = api.post(TOKENS, {"customer": theirs.pk, "kind": "rfid", "uid": "04CAFE"})

    assert created.status_code == 201
    assert ChargingToken.objects.get(uid="04BEEF").customer == mine
    assert foreign.status_code == 400
    assert set(foreign.json()) == {"customer"}
    assert not ChargingToken.objects.filter(uid="04CAFE").exists()


def test_a_token_uid_is_unique_per_kind(api, operator):
    customer = CustomerFactory(operator=operator)
    ChargingTokenFactory(customer=customer, uid="04AA")

    response = api.post(TOKENS, {"customer": customer.pk, "kind": "rfid", "uid": "04AA"})

    assert (response.status_code, response.json()) == (
        400,
        {"uid": ["A token of this kind with this UID exists."]},
    )


def test_a_token_is_blocked_with_a_reason(api, operator):
    token = ChargingTokenFactory(customer=CustomerFactory(operator=operator))

    response = api.patch(
        f"{TOKENS}{token.pk}/", {"is_blocked": True, "blocked_reason": "Card reported lost"}
    )

    assert response.status_code == 200
    token.refresh_from_db()
    assert (token.is_blocked, token.blocked_reason) == (True, "Card reported lost")


def test_the_authorization_endpoint_takes_an_api_key_and_sees_only_its_operator(
    api, other_api, operator
):
    ChargingTokenFactory(customer=CustomerFactory(operator=operator), uid="04AABB")

    assert api.get("/api/v1/authorizations/04AABB").json()["allowed"] is True
    assert other_api.get("/api/v1/authorizations/04AABB").status_code == 404


def test_a_mobile_number_without_country_code_is_read_as_one_of_the_customers_country(api):
    created = api.post(CUSTOMERS, {**COMPANY, "country": "fr", "mobile_phone": "06 12 34 56 78"})
    refused = api.post(CUSTOMERS, {**COMPANY, "mobile_phone": "call me"})

    assert created.status_code == 201, created.json()
    assert created.json()["mobile_phone"] == "+33612345678"
    assert refused.status_code == 400
    assert "is not a phone number" in refused.json()["mobile_phone"][0]
