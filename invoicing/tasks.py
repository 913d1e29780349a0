"""Invoicing tasks: thin, idempotent wrappers around the services (they may run twice)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from sessions.models import ChargingSession

from . import billing, services
from .models import InvoicingSettings, Operator

PER_SESSION_CATCH_UP = timedelta(days=35)


@shared_task(name="invoicing.issue_session_documents")
def issue_session_documents(session_ids: list[int]) -> int:
    """Issue the per-session documents of these sessions (queued by ingest on commit)."""
    return len(services.issue_session_documents(session_ids=session_ids))


@shared_task(name="invoicing.issue_pending_session_documents")
def issue_pending_session_documents() -> int:
    """Catch up per-session documents that were not issued (worker down, details fixed later)."""
    since = timezone.now() - PER_SESSION_CATCH_UP
    issued = 0
    for operator in Operator.objects.exclude(
        invoicing_settings__issuing_schedule=InvoicingSettings.IssuingSchedule.COLLECT_ONLY
    ):
        ids = (
            ChargingSession.objects.filter(services.sessions_due_per_session(operator=operator))
            .filter(ended_at__gte=since)
            .never_billed()
            .values_list("id", flat=True)
        )
        batch: list[int] = []
        for session_id in ids.iterator(chunk_size=1000):
            batch.append(session_id)
            if len(batch) == 1000:
                issued += len(services.issue_session_documents(session_ids=batch))
                batch = []
        issued += len(services.issue_session_documents(session_ids=batch))
    return issued


@shared_task(name="invoicing.bill_chunk", acks_late=True)
def bill_chunk(chunk_id: int) -> int:
    """Bill one chunk of a monthly run; a chunk already billed is skipped."""
    result = billing.bill_chunk(chunk_id=chunk_id)
    return result.documents if result else 0


@shared_task(name="invoicing.run_monthly_billing")
def run_monthly_billing() -> list[int]:
    """On the 1st: start every operator's run for the month that just closed."""
    runs = []
    for operator in Operator.objects.exclude(
        invoicing_settings__issuing_schedule=InvoicingSettings.IssuingSchedule.COLLECT_ONLY
    ):
        period = billing.previous_period(services.today_for(operator))
        runs.append(billing.queue_billing_run(operator=operator, period=period).pk)
    return runs


@shared_task(name="invoicing.mark_overdue_documents")
def mark_overdue_documents() -> int:
    """Daily: unpaid documents past their due date become overdue."""
    return services.mark_overdue_documents()
