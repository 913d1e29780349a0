"""Prometheus metrics at /metrics/, for a scraper holding METRICS_TOKEN: requests, queue depth,
billing-run progress, outbox and webhook failures, the card-receipt matching rate."""

from __future__ import annotations

import hmac
import logging
import time

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

from cpo_portal.celery import app as celery_app
from cpo_portal.kernel.integrations.models import WebhookDelivery
from customers.notifications.models import OutboundMessage
from invoicing.billing.models import BillingRun
from invoicing.dashboard.figures import receipt_matching

logger = logging.getLogger(__name__)

REQUESTS = Counter(
    "cpo_http_requests", "HTTP requests answered, by method and status class.", ["method", "status"]
)
LATENCY = Histogram("cpo_http_request_seconds", "Time to answer an HTTP request.", ["method"])


class RequestMetricsMiddleware:
    """Counts every answered request and its duration (labels stay few: method and 2xx…5xx)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        LATENCY.labels(request.method).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, f"{response.status_code // 100}xx").inc()
        return response


class StateCollector:
    """Figures read from the database and the broker at each scrape (small, indexed counts)."""

    def collect(self):
        queue = GaugeMetricFamily(
            "cpo_celery_queue_depth", "Tasks waiting in the broker queue.", labels=["queue"]
        )
        name = celery_app.conf.task_default_queue
        depth = _queue_depth(name)
        if depth is not None:
            queue.add_metric([name], depth)
        yield queue

        run = BillingRun.objects.order_by("-created_at", "-pk").first()
        progress = GaugeMetricFamily(
            "cpo_billing_run_customers",
            "The latest billing run's customers by state.",
            labels=["period", "state"],
        )
        if run is not None:
            period = f"{run.period:%Y-%m}"
            progress.add_metric([period, "to_bill"], run.customers_total)
            progress.add_metric([period, "billed"], run.customers_billed)
            progress.add_metric([period, "failed"], run.customers_failed)
        yield progress

        outbox = GaugeMetricFamily(
            "cpo_outbox_messages", "Outbox messages not sent, by status.", labels=["status"]
        )
        for status in (OutboundMessage.Status.QUEUED, OutboundMessage.Status.FAILED):
            outbox.add_metric([status], OutboundMessage.objects.filter(status=status).count())
        yield outbox

        yield GaugeMetricFamily(
            "cpo_webhook_deliveries_failed",
            "Webhook deliveries given up after their retries.",
            value=WebhookDelivery.objects.filter(status=WebhookDelivery.Status.FAILED).count(),
        )

        matched, review, total = receipt_matching()
        yield GaugeMetricFamily(
            "cpo_receipt_matching_ratio",
            "Card-terminal transactions matched to a session, of all.",
            value=matched / total if total else 0.0,
        )
        yield GaugeMetricFamily(
            "cpo_receipt_review_queue",
            "Card-terminal transactions waiting for staff.",
            value=review,
        )


def _queue_depth(name: str) -> int | None:
    try:
        with celery_app.connection_for_write() as connection:
            declared = connection.default_channel.queue_declare(queue=name, passive=True)
            return declared.message_count
    except Exception as exc:  # the queue does not exist yet, or the broker is down
        logger.warning("metrics: queue depth of %s unknown: %s", name, type(exc).__name__)
        return None


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(StateCollector())
    if settings.PROMETHEUS_MULTIPROC_DIR:
        # Several gunicorn workers: each writes its counters to files the scrape adds up.
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (REQUESTS, LATENCY):
            registry.register(collector)
    return registry


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The metrics for a scraper sending `Authorization: Bearer <METRICS_TOKEN>`; 404 while no
    token is configured, 401 for a wrong or missing one."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off: set METRICS_TOKEN.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        response = HttpResponse("A valid bearer token is required.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
