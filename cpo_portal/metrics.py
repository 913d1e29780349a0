"""Prometheus metrics for the scraper: what waits and what failed, read at scrape time."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from cpo_portal.kernel.integrations.models import WebhookDelivery
from customers.models import OutboundMessage


class _Collector:
    """Counts straight from the database, so every web process reports the same figures."""

    def collect(self):
        outbox = GaugeMetricFamily(
            "cpo_outbox_messages", "Outbound messages by status.", labels=["status"]
        )
        for status in OutboundMessage.Status.values:
            count = OutboundMessage.objects.filter(status=status).count()
            outbox.add_metric([status], count)
        yield outbox
        failed = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.FAILED).count()
        yield GaugeMetricFamily(
            "cpo_webhook_deliveries_failed", "Webhook deliveries given up.", value=failed
        )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Only the scraper holding METRICS_TOKEN reads the metrics; without one set, nobody does."""
    expected = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return HttpResponse(status=401, headers={"WWW-Authenticate": "Bearer"})
    registry = CollectorRegistry()
    registry.register(_Collector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
