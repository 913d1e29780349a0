"""The scraper's metrics endpoint: refused without the token, the figures with it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from customers.models import OutboundMessage
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_metrics_are_refused_without_the_token(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"

    assert client.get("/metrics/").status_code == 401
    wrong = client.get("/metrics/", HTTP_AUTHORIZATION="Bearer guessed")
    assert wrong.status_code == 401


def test_the_scraper_reads_queue_depth_and_failures(client, settings, operator):
    settings.METRICS_TOKEN = "scrape-secret"
    customer = CustomerFactory(operator=operator)
    for _ in range(2):
        OutboundMessage.objects.create(
            customer=customer,
            event="payment_succeeded",
            channel="email",
            recipient="driver@example.com",
            language="en",
            subject="Payment received",
            body_text="We have received your payment.",
            not_before=timezone.now(),
        )

    response = client.get("/metrics/", HTTP_AUTHORIZATION="Bearer scrape-secret")

    assert response.status_code == 200
    text = response.content.decode()
    assert 'cpo_outbox_messages{status="queued"} 2.0' in text
    assert "cpo_webhook_deliveries_failed 0.0" in text
