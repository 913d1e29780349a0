"""Health check: the database answers a query and the Celery broker accepts a connection."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cpo_portal.celery import app as celery_app

logger = logging.getLogger(__name__)


def check_database() -> str | None:
    """Return None when the database answers, else the reason it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down" to a load balancer
        logger.warning("health: database check failed: %s", exc)
        return type(exc).__name__
    return None


def check_broker() -> str | None:
    """Return None when the Celery broker accepts a connection, else the reason it does not."""
    try:
        with celery_app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # kombu raises transport-specific errors
        logger.warning("health: broker check failed: %s", exc)
        return type(exc).__name__
    return None


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """200 when database and broker are reachable, 503 naming what is down otherwise."""
    checks = {"database": check_database(), "broker": check_broker()}
    healthy = all(reason is None for reason in checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: "ok" if r is None else f"down: {r}" for name, r in checks.items()},
    }
    return JsonResponse(body, status=200 if healthy else 503)
