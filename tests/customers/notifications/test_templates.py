"""The operator's own message texts: used for their event, channel and language, previewed in
the admin with an example, refused when they do not render; other languages keep shipped texts."""

from __future__ import annotations

import pytest
from django.db import transaction

from customers.notifications.models import MessageTemplate, OutboundMessage
from customers.notifications.outbox import notify
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/customers/messagetemplate/add/"
CONTEXT = {"customer_name": "Eva", "operator_name": "VoltWay", "amount": "24.50", "currency": "EUR"}


def queue(customer) -> OutboundMessage:
    with transaction.atomic():
        (message,) = notify(event="payment_succeeded", customer=customer, context=CONTEXT)
    return message


def own_wording(operator, **fields) -> MessageTemplate:
    return MessageTemplate.objects.create(
        operator=operator,
        event="payment_succeeded",
        channel="email",
        language="de",
        subject="Danke, {{ customer_name }}!",
        body_text="Wir haben {{ amount }} {{ currency }} erhalten.",
        body_html="<p>Wir haben <b>{{ amount }} {{ currency }}</b> erhalten.</p>",
        **fields,
    )


def test_the_operators_wording_replaces_the_shipped_text_in_its_language(operator):
    own_wording(operator)
    german = CustomerFactory(operator=operator, language="de", mobile_phone="")

    message = queue(german)

    assert message.subject == "Danke, Eva!"
    assert message.body_text == "Wir haben 24.50 EUR erhalten."
    assert "<b>24.50 EUR</b>" in message.body_html


def test_other_languages_and_other_operators_keep_the_shipped_text(operator, other_operator):
    own_wording(operator)
    french = CustomerFactory(operator=operator, language="fr", mobile_phone="")
    elsewhere = CustomerFactory(operator=other_operator, language="de", mobile_phone="")

    assert queue(french).subject == "Paiement reçu : 24.50 EUR"
    assert queue(elsewhere).subject == "Zahlung erhalten: 24.50 EUR"


def test_a_value_in_the_html_is_escaped_and_the_text_is_not(operator):
    own_wording(operator)
    german = CustomerFactory(operator=operator, language="de", mobile_phone="")

    with transaction.atomic():
        (message,) = notify(
            event="payment_succeeded",
            customer=german,
            context={**CONTEXT, "amount": "<script>"},
        )

    assert "&lt;script&gt;" in message.body_html
    assert "<script>" in message.body_text


def test_the_admin_shows_a_preview_filled_with_an_example(admin_client, operator):
    template = own_wording(operator)

    page = admin_client.get(f"/admin/customers/messagetemplate/{template.pk}/change/").text

    assert "Danke, Anna Example!" in page
    # In the template's language, numbers too.
    assert "Wir haben 42,50 EUR erhalten." in page


def test_the_admin_refuses_a_template_that_does_not_render_and_stores_nothing(
    admin_client, operator
):
    response = admin_client.post(
        ADD_URL,
        {
            "operator": operator.pk,
            "event": "payment_succeeded",
            "channel": "email",
            "language": "de",
            "subject": "Danke",
            "body_text": "Wir haben {% if amount %}{{ amount }} erhalten.",
        },
    )

    assert response.status_code == 200
    assert "The template cannot be used" in response.text
    assert "endif" in response.text
    assert not MessageTemplate.objects.exists()


def test_an_e_mail_template_without_a_subject_is_refused(admin_client, operator):
    response = admin_client.post(
        ADD_URL,
        {
            "operator": operator.pk,
            "event": "payment_succeeded",
            "channel": "email",
            "language": "de",
            "body_text": "Danke.",
        },
    )

    assert "An e-mail needs a subject." in response.text
    assert not MessageTemplate.objects.exists()
