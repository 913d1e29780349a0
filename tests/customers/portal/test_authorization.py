"""Every portal URL is scoped to the signed-in driver: other ids answer 404, strangers are sent
to sign in, staff are refused, and drivers never reach the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, reverse

from customers import urls as portal_urls
from tests.customers.conftest import PASSWORD, credit, issue, make_driver
from tests.factories import ChargingSessionFactory, CustomerFactory, OperatorFactory

pytestmark = pytest.mark.django_db

# Pages anyone may open: signing in, password reset, the front page, the public receipt
# pages (a signed token per session; tests/invoicing/receipts/test_delivery.py), an invoice's
# signed pay link with the demo checkout it leads to, and the providers' signed notifications
# (tests/customers/portal/test_payments.py, tests/invoicing/payments/test_stripe.py).
PUBLIC = {
    "pay-link",
    "demo-checkout",
    "payment-notify",
    "demo-receipt",
    "find-receipt",
    "receipt",
    "receipt-pdf",
    "receipt-signed-data",
    "landing",
    "sign-in",
    "sign-out",
    "password-reset",
    "password-reset-sent",
    "password-reset-confirm",
    "password-reset-complete",
}
PATTERNS: list[URLPattern] = portal_urls.urlpatterns
DRIVER_PAGES = [p for p in PATTERNS if p.name not in PUBLIC]


def body(response) -> bytes:
    """The whole body; the test client closes a streamed file once it is read to the end."""
    return b"".join(response.streaming_content) if response.streaming else response.content


def url_for(pattern: URLPattern, ids: dict[str, int]) -> str:
    kwargs = {name: ids[name] for name in pattern.pattern.converters}
    return reverse(f"portal:{pattern.name}", kwargs=kwargs)


@pytest.fixture
def foreign_ids(operator, media):
    """Ids of everything the portal shows, belonging to others: another driver of the same
    operator (with a credit note), and a driver of another operator."""
    other = make_driver(operator, email="otto@example.org")
    credit_note = credit(issue(other))
    stranger_operator = OperatorFactory(name="Elsewhere")
    stranger = make_driver(stranger_operator, email="erin@example.org")
    stranger_document = issue(stranger)
    return [
        {"session_id": credit_note.lines.first().session_id, "document_id": credit_note.pk},
        {
            "session_id": credit_note.credited_document.lines.first().session_id,
            "document_id": credit_note.credited_document_id,
        },
        {
            "session_id": stranger_document.lines.first().session_id,
            "document_id": stranger_document.pk,
        },
        {"session_id": 987654321, "document_id": 987654321},
        {"session_id": 2**70, "document_id": 2**70},  # beyond any database integer
    ]


def test_every_parameter_of_every_portal_url_is_covered_here():
    parameters = {name for p in PATTERNS for name in p.pattern.converters}

    assert parameters == {"session_id", "document_id", "uidb64", "token", "provider_key"}
    assert {p.name for p in PATTERNS if "provider_key" in p.pattern.converters} <= PUBLIC
    assert {p.name for p in PATTERNS if "uidb64" in p.pattern.converters} <= PUBLIC


def test_another_drivers_ids_answer_404_on_every_portal_url(client, operator, foreign_ids):
    driver = make_driver(operator, email="dana@example.org")
    own_document = issue(driver)
    own = {
        "session_id": own_document.lines.first().session_id,
        "document_id": own_document.pk,
    }
    client.force_login(driver.user)
    with_ids = [p for p in DRIVER_PAGES if p.pattern.converters]
    assert {p.name for p in with_ids} == {
        "session",
        "session-signed-data",
        "invoice",
        "invoice-pdf",
        "invoice-einvoice",
        "invoice-pay",
        "invoice-paid",
    }

    for pattern in with_ids:
        # "Pay now" is a form's POST; everything else is read.
        fetch = client.post if pattern.name == "invoice-pay" else client.get
        mine = fetch(url_for(pattern, own))
        if pattern.name in ("invoice-einvoice", "invoice-pay"):
            # A driver's invoice has no e-invoice: back to the invoice page, saying so;
            # paying goes on to the checkout.
            assert mine.status_code == 302, pattern.name
        elif pattern.name == "session-signed-data":
            # This session has no signed meter data; tests/sessions/metering/test_handover.py
            # downloads a driver's own file and is refused another driver's.
            assert mine.status_code == 404, pattern.name
        else:
            assert mine.status_code == 200, pattern.name
            body(mine)
        for ids in foreign_ids:
            response = fetch(url_for(pattern, ids))
            assert response.status_code == 404, (pattern.name, ids)
            assert b"%PDF" not in body(response)


def test_lists_show_only_the_drivers_own_sessions_and_documents(client, operator, foreign_ids):
    driver = make_driver(operator, email="dana@example.org")
    ChargingSessionFactory(operator=operator, customer=driver)
    client.force_login(driver.user)

    for name in ("landing", "sessions", "invoices", "subscription"):
        html = client.get(reverse(f"portal:{name}")).content.decode()
        for ids in foreign_ids:
            assert reverse("portal:session", args=[ids["session_id"]]) not in html, name
            assert reverse("portal:invoice", args=[ids["document_id"]]) not in html, name


def test_strangers_are_sent_to_sign_in_from_every_driver_page(client, operator):
    ids = {"session_id": 1, "document_id": 1}

    for pattern in DRIVER_PAGES:
        url = url_for(pattern, ids)
        response = client.get(url)
        assert response.status_code == 302, pattern.name
        assert response["Location"] == f"{reverse('portal:sign-in')}?next={url}", pattern.name


@pytest.mark.parametrize("flags", [{"is_staff": True}, {"is_superuser": True}])
def test_staff_are_refused_on_every_driver_page_even_when_linked(client, operator, flags):
    clerk = get_user_model().objects.create_user("clerk", password=PASSWORD, **flags)
    # Even an account wrongly linked to a customer stays a back-office account.
    CustomerFactory(operator=operator, user=clerk)
    client.force_login(clerk)
    ids = {"session_id": 1, "document_id": 1}

    for pattern in DRIVER_PAGES:
        response = client.get(url_for(pattern, ids))
        assert response.status_code == 403, pattern.name
        assert b"Staff accounts cannot use the drivers' portal" in response.content


def test_an_account_linked_to_no_customer_is_refused(client, operator):
    loose = get_user_model().objects.create_user("loose", password=PASSWORD)
    client.force_login(loose)

    response = client.get(reverse("portal:invoices"))

    assert response.status_code == 403
    assert b"not linked to a customer" in response.content


def test_posting_details_changes_only_the_signed_in_drivers_customer(client, operator):
    driver = make_driver(operator, email="dana@example.org")
    other = make_driver(operator, email="otto@example.org", name="Otto Other")
    client.force_login(driver.user)

    client.post(
        reverse("portal:details"),
        {"kind": "individual", "name": "Changed", "email": "x@example.org", "id": other.pk},
    )

    other.refresh_from_db()
    driver.refresh_from_db()
    assert other.name == "Otto Other"
    assert driver.name == "Changed"


def test_a_driver_cannot_sign_in_to_the_admin(client, operator):
    driver = make_driver(operator, email="dana@example.org")

    response = client.post(
        reverse("admin:login"),
        {"username": driver.user.username, "password": PASSWORD, "next": "/admin/"},
    )

    assert response.status_code == 200
    assert b"Please enter the correct username and password for a staff account" in (
        response.content
    )
    assert "_auth_user_id" not in client.session


def test_a_signed_in_driver_is_sent_away_from_the_admin(client, operator):
    driver = make_driver(operator, email="dana@example.org")
    client.force_login(driver.user)

    for url in ("/admin/", "/admin/invoicing/document/", "/admin/customers/customer/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url


def test_admin_login_does_not_accept_a_drivers_email(client, operator):
    make_driver(operator, email="dana@example.org")

    client.post(reverse("admin:login"), {"username": "dana@example.org", "password": PASSWORD})

    assert "_auth_user_id" not in client.session
