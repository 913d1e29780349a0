"""The customer admin: invoice details checked by the shared validation, a fast changelist."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import Customer
from tests.factories import CompanyCustomerFactory, CustomerFactory, OperatorFactory

ADD_URL = "admin:customers_customer_add"


def company_form(operator, **overrides):
    data = {
        "operator": operator.pk,
        "kind": Customer.Kind.COMPANY,
        "language": "en",
        "name": "",
        "company_name": "Fleet Services GmbH",
        "company_registration_id": "HRB 12345 B",
        "vat_id": "DE136695976",
        "email": "fleet@example.org",
        "street": "Hauptstraße 5",
        "postal_code": "10115",
        "city": "Berlin",
        "country": "DE",
        "requires_invoice": "on",
        "billing_mode": "",
        "tokens-TOTAL_FORMS": "0",
        "tokens-INITIAL_FORMS": "0",
        "tokens-MIN_NUM_FORMS": "0",
        "tokens-MAX_NUM_FORMS": "1000",
        "notification_preferences-TOTAL_FORMS": "0",
        "notification_preferences-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def form_errors(response):
    return response.context["adminform"].form.errors


def test_add_page_groups_fields_for_a_cpo(admin_client, operator):
    response = admin_client.get(reverse(ADD_URL))

    assert response.status_code == 200
    titles = [fieldset.name for fieldset in response.context["adminform"]]
    assert titles == [
        "Customer",
        "Invoice details",
        "Address",
        "E-invoice",
        "Billing",
        "Portal account",
    ]
    assert "tokens-TOTAL_FORMS" in response.text  # the charging tokens inline


def test_add_form_refuses_a_company_without_vat_id_with_the_shared_message(admin_client, operator):
    response = admin_client.post(reverse(ADD_URL), company_form(operator, vat_id=""))

    assert response.status_code == 200
    assert form_errors(response) == {"vat_id": ["The VAT ID is required for company customers."]}
    assert (
        '<ul class="errorlist" id="id_vat_id_error">'
        "<li>The VAT ID is required for company customers.</li></ul>"
    ) in response.text
    assert not Customer.objects.exists()


def test_add_form_refuses_an_invalid_vat_id_with_the_shared_message(admin_client, operator):
    response = admin_client.post(reverse(ADD_URL), company_form(operator, vat_id="DE136695975"))

    assert form_errors(response)["vat_id"] == [
        "“DE136695975” is not a valid EU VAT ID (country prefix and number, e.g. DE136695976)."
    ]
    assert not Customer.objects.exists()


def test_add_form_shows_one_shared_message_per_missing_field(admin_client, operator):
    response = admin_client.post(
        reverse(ADD_URL),
        company_form(operator, company_name="", street="", city="", email="not-an-address"),
    )

    assert form_errors(response) == {
        "company_name": ["The company name is required for company customers."],
        "street": ["The street is required for company customers."],
        "city": ["The city is required for company customers."],
        "email": ["“not-an-address” is not a valid e-mail address."],
    }
    assert not Customer.objects.exists()


def test_add_form_uses_the_shared_country_message(admin_client, operator):
    response = admin_client.post(reverse(ADD_URL), company_form(operator, country="DEU"))

    assert form_errors(response) == {
        "country": ["Use the two-letter country code (ISO 3166-1), e.g. DE."]
    }


def test_add_form_accepts_a_valid_company_and_stores_a_normalised_vat_id(admin_client, operator):
    response = admin_client.post(
        reverse(ADD_URL), company_form(operator, vat_id="de 136.695-976", country="de")
    )

    assert response.status_code == 302
    customer = Customer.objects.get()
    assert customer.vat_id == "DE136695976"
    assert customer.country == "DE"
    assert customer.operator == operator
    assert customer.kind == Customer.Kind.COMPANY


def test_mandatory_fields_in_the_admin_follow_the_operator_setting(admin_client, operator):
    settings = operator.invoicing_settings
    settings.mandatory_fields_company = ["company_name"]
    settings.save()

    response = admin_client.post(
        reverse(ADD_URL), company_form(operator, vat_id="", street="", city="", country="")
    )

    assert response.status_code == 302
    assert Customer.objects.get().vat_id == ""


def test_add_form_says_when_the_operator_has_no_invoicing_settings(admin_client):
    operator = OperatorFactory(invoicing_settings=None)

    response = admin_client.post(reverse(ADD_URL), company_form(operator))

    assert response.status_code == 200
    errors = form_errors(response)
    assert list(errors) == ["__all__"]
    assert "has no invoicing settings yet" in errors["__all__"][0]
    assert not Customer.objects.exists()


def test_an_ad_hoc_customer_added_in_the_admin_is_due_for_erasure(admin_client, operator):
    response = admin_client.post(
        reverse(ADD_URL),
        company_form(
            operator,
            kind=Customer.Kind.AD_HOC,
            company_name="",
            vat_id="",
            street="",
            postal_code="",
            city="",
            country="",
            email="driver@example.org",
        ),
    )

    assert response.status_code == 302
    customer = Customer.objects.get()
    assert customer.email_collected_at is not None


def test_a_second_anonymous_customer_is_refused_with_a_message(admin_client, operator):
    Customer.objects.create(operator=operator, kind=Customer.Kind.ANONYMOUS)

    response = admin_client.post(
        reverse(ADD_URL), company_form(operator, kind=Customer.Kind.ANONYMOUS)
    )

    assert response.status_code == 200
    assert "already has its anonymous customer" in form_errors(response)["kind"][0]
    assert Customer.objects.count() == 1


def test_change_form_validates_with_the_operator_of_the_customer(admin_client, operator):
    customer = CompanyCustomerFactory(operator=operator)
    url = reverse("admin:customers_customer_change", args=[customer.pk])

    page = admin_client.get(url)
    assert page.status_code == 200
    for fieldset in ("Customer", "Invoice details", "Address", "Billing"):
        assert fieldset in page.text

    data = company_form(operator, vat_id="")
    del data["operator"]  # read-only on change
    response = admin_client.post(url, data)

    assert form_errors(response) == {"vat_id": ["The VAT ID is required for company customers."]}
    customer.refresh_from_db()
    assert customer.vat_id == "DE136695976"


def changelist(admin_client):
    response = admin_client.get(reverse("admin:customers_customer_changelist"))
    assert response.status_code == 200
    return response


def test_customer_changelist_uses_a_constant_number_of_queries(
    admin_client, operator, django_assert_max_num_queries
):
    count = 30
    CustomerFactory.create_batch(3, operator=operator)
    with CaptureQueriesContext(connection) as few:
        changelist(admin_client)
    assert len(few.captured_queries) <= 6  # session, user, count, page, country filter

    other_operator = OperatorFactory(name="ChargeCo")
    CustomerFactory.create_batch(count, operator=operator)
    CompanyCustomerFactory.create_batch(count, operator=other_operator)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = changelist(admin_client)

    assert len(response.context["cl"].result_list) == min(2 * count + 3, 100)


def test_a_driver_account_can_be_linked_as_the_portal_account(admin_client, operator):
    from django.contrib.auth import get_user_model

    driver = get_user_model().objects.create_user("fleet", email="fleet@example.org")

    response = admin_client.post(reverse(ADD_URL), company_form(operator, user=driver.pk))

    assert response.status_code == 302
    assert Customer.objects.get(company_name="Fleet Services GmbH").user == driver


def test_a_staff_account_is_never_a_portal_account(admin_client, admin_user, operator):
    response = admin_client.post(reverse(ADD_URL), company_form(operator, user=admin_user.pk))

    assert form_errors(response) == {
        "user": ["A back-office account cannot be a driver's portal account."]
    }


def test_a_token_uid_taken_in_the_operator_is_a_form_error_not_a_crash(admin_client, operator):
    from customers.models import ChargingToken
    from tests.factories import ChargingTokenFactory

    ChargingTokenFactory(customer=CustomerFactory(operator=operator), kind="rfid", uid="04AA")
    tokens = {
        "tokens-TOTAL_FORMS": "1",
        "tokens-0-kind": "rfid",
        "tokens-0-uid": "04AA",
    }

    response = admin_client.post(reverse(ADD_URL), company_form(operator, **tokens))
    elsewhere = admin_client.post(
        reverse(ADD_URL), company_form(OperatorFactory(name="Other CPO"), **tokens)
    )

    assert response.status_code == 200
    assert "A token of this kind with this UID exists." in response.content.decode()
    assert elsewhere.status_code == 302  # another operator's UID is no clash
    assert ChargingToken.objects.filter(uid="04AA").count() == 2


def test_a_mobile_number_is_stored_in_e164_or_refused_next_to_its_field(admin_client, operator):
    refused = admin_client.post(
        reverse(ADD_URL), company_form(operator, mobile_phone="030 1234567")
    )
    assert form_errors(refused) == {
        "mobile_phone": ["“030 1234567” is not a mobile number; text messages need one."]
    }

    saved = admin_client.post(
        reverse(ADD_URL), company_form(operator, mobile_phone="0151 23456789")
    )

    assert saved.status_code == 302
    assert Customer.objects.get().mobile_phone == "+4915123456789"


def test_staff_set_a_customers_channel_per_event_but_cannot_switch_off_mandatory_ones(
    admin_client, operator
):
    from customers.models import NotificationPreference

    customer = CustomerFactory(operator=operator)
    page = admin_client.get(reverse("admin:customers_customer_change", args=[customer.pk]))
    assert 'value="payment_failed"' in page.text
    assert 'value="direct_debit_pre_notification"' not in page.text

    data = company_form(
        operator,
        kind="individual",
        name="Maria",
        email="maria@example.org",
        **{
            "notification_preferences-TOTAL_FORMS": "1",
            "notification_preferences-0-event": "payment_failed",
            "notification_preferences-0-channels": "sms",
        },
    )
    response = admin_client.post(
        reverse("admin:customers_customer_change", args=[customer.pk]), data
    )

    assert response.status_code == 302, form_errors(response)
    assert NotificationPreference.objects.get(customer=customer).channels == "sms"


def test_the_customer_form_picks_the_operator_by_name_not_by_id(admin_client, operator):
    response = admin_client.get(reverse(ADD_URL))

    assert 'data-ajax--url="/admin/autocomplete/"' in response.text
    assert 'name="operator"' in response.text
    assert "vForeignKeyRawIdAdminField" not in response.text
    chosen = admin_client.get(
        "/admin/autocomplete/",
        {"app_label": "customers", "model_name": "customer", "field_name": "operator", "term": ""},
    ).json()
    assert {"id": str(operator.pk), "text": operator.name} in chosen["results"]


def test_no_admin_form_asks_for_a_raw_id():
    from django.contrib import admin

    raw = {
        f"{model._meta.label}: {list(model_admin.raw_id_fields)}"
        for model, model_admin in admin.site._registry.items()
        if model_admin.raw_id_fields
    }
    assert raw == set()
