"""Card payments through Stripe, against a fake Stripe API on 127.0.0.1 through the real
`stripe` client: checkout for what is due, paid only by a signed webhook seen once, refunds."""

from __future__ import annotations

import json
import time

import pytest
from django.urls import reverse

from cpo_portal.kernel.integrations.models import WebhookEvent
from invoicing.documents.issuing import issue_credit_note
from invoicing.documents.models import Document, DocumentStatus
from invoicing.models import WebhookEndpoint
from invoicing.payments import checkout
from invoicing.payments.models import (
    Payment,
    PaymentTransaction,
    ProviderEvent,
    TransactionKind,
    TransactionStatus,
)
from invoicing.payments.providers import _registry
from invoicing.payments.refunds import refund_credit_note
from tests.invoicing.helpers import issue_invoice_for
from tests.invoicing.payments import fake_stripe

NOTIFY = "/payments/notify/stripe/"


@pytest.fixture
def stripe_api(settings):
    with fake_stripe.FakeStripe() as fake:
        settings.STRIPE_SECRET_KEY = fake_stripe.SECRET_KEY
        settings.STRIPE_WEBHOOK_SECRET = fake_stripe.WEBHOOK_SECRET
        settings.STRIPE_API_BASE = fake.url
        settings.PAYMENT_CHECKOUT_PROVIDER = "stripe"
        _registry.cache_clear()
        yield fake
    _registry.cache_clear()


@pytest.fixture
def listening(integrator):
    return WebhookEndpoint.objects.create(integrator=integrator, url="http://127.0.0.1:9/hooks")


@pytest.fixture
def invoice(monthly_company):
    return issue_invoice_for(monthly_company, sessions=2)


def deliver(client, body: str, signature: str | None):
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
    return client.post(NOTIFY, data=body, content_type="application/json", **headers)


def paid_session(stripe_api, invoice):
    started = checkout.start(document=invoice, return_url="http://testserver/back/")
    return fake_stripe.event("checkout.session.completed", stripe_api.completed(started.reference))


def test_checkout_asks_stripe_for_what_is_due_in_the_invoices_currency(stripe_api, invoice):
    started = checkout.start(document=invoice, return_url="http://testserver/back/")

    method, path, params = stripe_api.requests[-1]
    assert (method, path) == ("POST", "/v1/checkout/sessions")
    assert int(params["line_items[0][price_data][unit_amount]"]) == int(invoice.total_gross * 100)
    assert params["line_items[0][price_data][currency]"] == invoice.currency.lower()
    assert params["metadata[document]"] == str(invoice.pk)
    assert params["success_url"].startswith("http://testserver/back/")
    assert started.url.startswith(stripe_api.url)


def test_a_signed_webhook_pays_the_invoice_and_announces_it(client, stripe_api, listening, invoice):
    body = paid_session(stripe_api, invoice)

    response = deliver(client, body, fake_stripe.sign(body))

    assert response.status_code == 200
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.PAID
    entry = PaymentTransaction.objects.get(provider="stripe")
    assert (entry.kind, entry.status, entry.amount) == (
        TransactionKind.CAPTURE,
        TransactionStatus.SUCCEEDED,
        invoice.total_gross,
    )
    kinds = set(WebhookEvent.objects.values_list("type", flat=True))
    assert {"invoice.paid", "payment.succeeded"} <= kinds


@pytest.mark.bad_input
@pytest.mark.parametrize(
    "signing",
    [
        pytest.param(lambda body: None, id="unsigned"),
        pytest.param(lambda body: fake_stripe.sign(body, secret="whsec_wrong"), id="bad-signature"),
        pytest.param(
            lambda body: fake_stripe.sign(body, timestamp=int(time.time()) - 3600), id="stale"
        ),
        pytest.param(lambda body: "t=1,v1=abc", id="garbled"),
    ],
)
def test_an_unproven_webhook_is_refused_and_changes_nothing(client, stripe_api, invoice, signing):
    body = paid_session(stripe_api, invoice)

    response = deliver(client, body, signing(body))

    assert response.status_code == 400
    assert "error" in response.json()
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.ISSUED
    assert not PaymentTransaction.objects.exists()


@pytest.mark.bad_input
def test_a_body_that_is_no_event_is_refused(client, stripe_api):
    response = deliver(client, "not json", fake_stripe.sign("not json"))

    assert response.status_code == 400
    assert "error" in response.json()


def test_a_replayed_event_is_applied_once(client, stripe_api, invoice):
    body = paid_session(stripe_api, invoice)
    deliver(client, body, fake_stripe.sign(body))
    # The same payment announced again as a payment intent: recorded under the same reference.
    session = json.loads(body)["data"]["object"]
    intent = {
        "id": session["payment_intent"],
        "object": "payment_intent",
        "amount": session["amount_total"],
        "amount_received": session["amount_total"],
        "currency": session["currency"],
        "metadata": session["metadata"],
    }
    again = fake_stripe.event("payment_intent.succeeded", intent)

    assert deliver(client, body, fake_stripe.sign(body)).status_code == 200
    assert deliver(client, again, fake_stripe.sign(again)).status_code == 200

    assert PaymentTransaction.objects.count() == 1
    assert Payment.objects.filter(document=invoice).count() == 1


def test_a_failed_payment_leaves_the_invoice_open_with_the_reason(client, stripe_api, invoice):
    checkout.start(document=invoice, return_url="http://testserver/back/")
    intent = {
        "id": "pi_declined",
        "object": "payment_intent",
        "amount": int(invoice.total_gross * 100),
        "currency": "eur",
        "metadata": {"document": str(invoice.pk)},
        "last_payment_error": {"message": "Your card was declined."},
    }
    body = fake_stripe.event("payment_intent.payment_failed", intent)

    assert deliver(client, body, fake_stripe.sign(body)).status_code == 200

    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.ISSUED
    entry = PaymentTransaction.objects.get(provider_reference="pi_declined")
    assert (entry.status, entry.failure_reason) == (
        TransactionStatus.FAILED,
        "Your card was declined.",
    )


def test_refunding_a_credit_note_goes_through_stripe(client, stripe_api, invoice):
    body = paid_session(stripe_api, invoice)
    deliver(client, body, fake_stripe.sign(body))
    payment = PaymentTransaction.objects.get(provider="stripe")
    note, _ = issue_credit_note(document=Document.objects.get(pk=invoice.pk), reason="Wrong tariff")

    refunds = refund_credit_note(credit_note=note)

    assert [r["amount"] for r in stripe_api.refunds] == [int(invoice.total_gross * 100)]
    assert stripe_api.refunds[0]["payment_intent"] == payment.provider_reference
    (refund,) = refunds
    assert (refund.kind, refund.status, refund.parent_id, refund.provider_reference) == (
        TransactionKind.REFUND,
        TransactionStatus.SUCCEEDED,
        payment.pk,
        stripe_api.refunds[0]["id"],
    )
    # Stripe's charge.refunded for the same refund changes nothing twice.
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": payment.provider_reference,
        "refunds": {"data": [stripe_api.refunds[0]]},
    }
    echo = fake_stripe.event("charge.refunded", charge)
    assert deliver(client, echo, fake_stripe.sign(echo)).status_code == 200
    assert PaymentTransaction.objects.filter(kind=TransactionKind.REFUND).count() == 1


@pytest.mark.django_db
def test_a_refund_of_a_charge_we_never_took_is_acknowledged_kept_and_changes_nothing(
    client, stripe_api
):
    charge = {
        "id": "ch_elsewhere",
        "object": "charge",
        "payment_intent": "pi_made_in_the_dashboard",
        "refunds": {"data": [{"id": "re_1", "amount": 500, "status": "succeeded"}]},
    }
    body = fake_stripe.event("charge.refunded", charge)

    # 200, or Stripe would retry it for three days.
    assert deliver(client, body, fake_stripe.sign(body)).status_code == 200
    assert not PaymentTransaction.objects.exists()
    kept = ProviderEvent.objects.get(provider="stripe", kind="charge.refunded")
    assert kept.payload == body


def test_nothing_due_means_no_checkout(stripe_api, invoice):
    Document.objects.filter(pk=invoice.pk).update(status=DocumentStatus.PAID)
    invoice.refresh_from_db()

    with pytest.raises(Exception, match="Nothing is due"):
        checkout.start(document=invoice, return_url="http://testserver/back/")
    assert stripe_api.requests == []


@pytest.mark.bad_input
def test_an_unknown_provider_is_a_clear_404(client):
    response = client.post(
        reverse("portal:payment-notify", args=["nobody"]),
        data="{}",
        content_type="application/json",
    )

    assert response.status_code == 404
    assert "nobody" in response.json()["error"]
