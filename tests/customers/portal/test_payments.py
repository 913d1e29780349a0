"""Paying in the portal through the demo provider: “Pay now” on an open invoice, the demo
checkout's signed notification through the real endpoint, the invoice paid at once, declines,
the payment history with the customer's credit, the e-mail's pay link and the API's."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from cpo_portal.kernel.integrations.models import WebhookEvent
from invoicing.models import Document, DocumentStatus, WebhookEndpoint
from invoicing.output import emails as delivery
from invoicing.payments import checkout, ledger
from invoicing.payments.models import PaymentTransaction, TransactionKind, TransactionStatus
from invoicing.payments.providers import demo
from tests.conftest import CHROMIUM
from tests.customers.conftest import PASSWORD, issue

# What a browser's form sends.
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def invoice(driver) -> Document:
    return issue(driver)


def follow_to_checkout(client, invoice):
    """Press “Pay now” and land on the demo checkout page."""
    response = client.post(reverse("portal:invoice-pay", args=[invoice.pk]))
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    return page


def press(client, page, button: str):
    """Send what the checkout page's button sends: its signed notification to the endpoint."""
    return client.post(
        page.context["notify_url"],
        urlencode({"notification": page.context[button], "next": page.context["next"]}),
        content_type=FORM,
    )


def test_pay_now_pays_the_invoice_and_the_return_page_says_paid(driver_client, invoice, integrator):
    WebhookEndpoint.objects.create(integrator=integrator, url="http://127.0.0.1:9/hooks")
    listing = driver_client.get(reverse("portal:invoices")).content.decode()
    assert "Pay now" in listing

    page = follow_to_checkout(driver_client, invoice)
    assert page.context["amount"] == str(invoice.total_gross)
    back = press(driver_client, page, "pay")

    assert back.status_code == 302
    assert back["Location"].endswith(reverse("portal:invoice-paid", args=[invoice.pk]))
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.PAID
    returned = driver_client.get(back["Location"]).content.decode()
    assert "Thank you, your payment has been received." in returned
    assert {"invoice.paid", "payment.succeeded"} <= set(
        WebhookEvent.objects.values_list("type", flat=True)
    )
    detail = driver_client.get(reverse("portal:invoice", args=[invoice.pk])).content.decode()
    assert "Pay now" not in detail


def test_a_declined_payment_says_so_and_a_retry_can_still_pay(driver_client, invoice):
    page = follow_to_checkout(driver_client, invoice)

    back = press(driver_client, page, "decline")

    returned = driver_client.get(back["Location"]).content.decode()
    assert "The payment was declined." in returned
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.ISSUED
    press(driver_client, page, "pay")
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.PAID


def test_until_the_notification_arrives_the_return_page_refreshes(driver_client, invoice):
    page = driver_client.get(reverse("portal:invoice-paid", args=[invoice.pk])).content.decode()

    assert "being confirmed" in page
    assert 'http-equiv="refresh"' in page


@pytest.mark.bad_input
@pytest.mark.parametrize(
    "body",
    [
        pytest.param("", id="empty"),
        pytest.param("notification=forged", id="forged"),
        pytest.param("notification=" + "x" * 5000, id="long"),
        pytest.param("%ff%fe=1", id="not-utf8"),
    ],
)
def test_a_forged_demo_notification_is_refused(client, invoice, body):
    response = client.post(
        reverse("portal:payment-notify", args=["demo"]),
        data=body,
        content_type=FORM,
    )

    assert response.status_code == 400
    assert response.json()["error"]
    assert not PaymentTransaction.objects.exists()


def test_a_replayed_demo_notification_pays_once(client, invoice):
    started = checkout.start(document=invoice, return_url="/back/")
    token = started.url.rstrip("/").rsplit("/", 1)[-1]
    signed = demo.notification(demo.unsign(token), "paid")
    url = reverse("portal:payment-notify", args=["demo"])

    for _ in range(2):
        response = client.post(url, urlencode({"notification": signed}), content_type=FORM)
        assert response.status_code == 200, response.content

    assert PaymentTransaction.objects.count() == 1
    assert invoice.payments.count() == 1


def test_payment_history_lists_payments_their_documents_and_my_credit(driver_client, driver):
    invoice = issue(driver)
    entry = ledger.record_transaction(
        ledger.TransactionFacts(
            operator=driver.operator,
            provider="bank_transfer",
            provider_reference="stmt-1-1",
            kind=TransactionKind.BANK_TRANSFER,
            status=TransactionStatus.SUCCEEDED,
            amount=invoice.total_gross + Decimal("5.00"),
            currency=invoice.currency,
            customer=driver,
            payer_iban="DE89 3704 0044 0532 0130 00",
        )
    )
    ledger.allocate(entry=entry, document=invoice, amount=invoice.total_gross)

    page = driver_client.get(reverse("portal:payments")).content.decode()

    assert invoice.display_number in page
    assert "0532 0130" not in page and "053201300" not in page
    assert "Your credit" in page and "5.00" in page


def test_the_e_mail_pay_link_works_without_signing_in(client, invoice, settings):
    body = render_to_string("invoicing/email/document.txt", delivery.email_context(invoice))
    link = body.split("Pay online by card: ")[1].split()[0]
    assert link.startswith(settings.PUBLIC_BASE_URL)
    link = link.removeprefix(settings.PUBLIC_BASE_URL)

    response = client.get(link)

    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 200
    forged = client.get(link[:-2] + "x/")
    assert forged.status_code == 200
    assert "This pay link is not valid." in forged.content.decode()
    settings.PAYMENT_CHECKOUT_PROVIDER = ""
    assert "Pay online" not in render_to_string(
        "invoicing/email/document.txt", delivery.email_context(invoice)
    )


def test_the_api_gives_a_payment_link_and_409_once_paid(api, invoice):
    url = f"/api/v1/invoices/{invoice.pk}/payment-link/"

    response = api.post(url, {})

    assert response.status_code == 200, response.content
    assert "/payments/demo/" in response.json()["url"]
    Document.objects.filter(pk=invoice.pk).update(status=DocumentStatus.PAID)
    assert api.post(url, {}).status_code == 409


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_driver_pays_an_invoice_in_the_browser(live_server, driver, media):
    from playwright.sync_api import expect, sync_playwright

    invoice = issue(driver)
    number = invoice.display_number

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{live_server.url}/sign-in/")
            page.get_by_label("E-mail address").fill(driver.email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{live_server.url}/")
            page.goto(f"{live_server.url}/invoices/")
            page.get_by_role("button", name=f"Pay now {number}").click()
            expect(page.get_by_role("heading", name="Demo checkout")).to_be_visible()
            page.get_by_role("button", name="Pay", exact=True).click()
            expect(page.locator(".payment-state")).to_contain_text("Paid")
        finally:
            browser.close()

    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.PAID
