"""Invoicing tasks: thin, idempotent wrappers around the services (they may run twice)."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from celery import shared_task
from django.db import DatabaseError, transaction
from django.utils import timezone

from cpo_portal.kernel.periods import previous_period, today_for
from invoicing.archive import sources as archive
from invoicing.archive import verification as archive_verification
from invoicing.archive.models import ArchiveVerification
from invoicing.billing import runs as billing
from invoicing.dashboard import summaries as dashboard_summaries
from invoicing.documents import issuing as services
from invoicing.documents.selectors import never_billed
from invoicing.models import InvoicingSettings, Operator
from invoicing.output import emails as delivery
from invoicing.output import erasure, pdf, receipt_requests
from invoicing.output import pipeline as outputs
from invoicing.payments import card_receipts, collections, ledger, statements
from invoicing.payments.models import BankStatement, StatementStatus
from invoicing.subscriptions import lifecycle as subscriptions
from invoicing.terminals import live as terminal_matching
from sessions.models import ChargingSession

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
        ids = never_billed(
            ChargingSession.objects.filter(
                services.sessions_due_per_session(operator=operator)
            ).filter(ended_at__gte=since)
        ).values_list("id", flat=True)
        batch: list[int] = []
        for session_id in ids.iterator(chunk_size=1000):
            batch.append(session_id)
            if len(batch) == 1000:
                issued += len(services.issue_session_documents(session_ids=batch))
                batch = []
        issued += len(services.issue_session_documents(session_ids=batch))
    return issued


@shared_task(name="invoicing.erase_expired_ad_hoc_addresses")
def erase_expired_ad_hoc_addresses() -> int:
    """GDPR, daily: ad-hoc e-mails 30 days after collection are gone from customers, receipts,
    e-mail deliveries and session payloads."""
    return erasure.erase_expired_ad_hoc_addresses()


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
        period = previous_period(today_for(operator))
        runs.append(billing.queue_billing_run(operator=operator, period=period).pk)
    return runs


@shared_task(name="invoicing.renew_subscriptions")
def renew_subscriptions() -> int:
    """Daily: invoice every subscription period that has ended (catching up missed days)."""
    return subscriptions.renew_subscriptions()


@shared_task(name="invoicing.check_subscription_payments")
def check_subscription_payments() -> None:
    """Daily: reminders, overdue notices, past due and suspension of unpaid subscriptions."""
    subscriptions.check_subscription_payments()


@shared_task(name="invoicing.settle_direct_debits")
def settle_direct_debits() -> int:
    """Daily: direct debits not returned within the settlement period count as paid."""
    return collections.settle_collections()


@shared_task(name="invoicing.write_collection_run")
def write_collection_run(run_id: int) -> str:
    """A collection run staff started: its pain.008 written once, however often this runs."""
    run = collections.write_queued_collection(run_id=run_id)
    return run.state if run else "no such run"


@shared_task(name="invoicing.mark_overdue_documents")
def mark_overdue_documents() -> int:
    """Daily: unpaid documents past their due date become overdue."""
    return services.mark_overdue_documents()


# --- PDFs and e-mail delivery (invoicing/outputs.py, pdf.py, delivery.py) --------------------

RENDER_RETRY_DELAYS = (10, 60, 300)


@shared_task(name="invoicing.render_document_pdf", bind=True, acks_late=True, max_retries=3)
def render_document_pdf(
    self, document_id: int, reason: str = "issued", rendered_by_id: int | None = None
) -> int | None:
    """Render and store a document's PDF, then queue its automatic e-mail (queued on commit).

    A render that cannot succeed (broken logo, missing font) is recorded and fails the task;
    storage and database hiccups are retried.
    """
    try:
        document_file = outputs.render_document(
            document_id=document_id, reason=reason, rendered_by_id=rendered_by_id
        )
    except pdf.RenderError:
        raise
    except (OSError, DatabaseError) as exc:
        delay = RENDER_RETRY_DELAYS[min(self.request.retries, len(RENDER_RETRY_DELAYS) - 1)]
        raise self.retry(exc=exc, countdown=delay) from exc
    return document_file.pk if document_file else None


@shared_task(name="invoicing.queue_document_pdfs", acks_late=True)
def queue_document_pdfs(document_ids: list[int]) -> int:
    """Queue one render task per document issued by a billing chunk."""
    return outputs.queue_issued_pdfs(document_ids)


@shared_task(name="invoicing.send_document_email", bind=True, acks_late=True, max_retries=5)
def send_document_email(self, delivery_id: int) -> str:
    """Send one e-mail delivery; failures are recorded and retried with growing delays."""
    try:
        return delivery.send_email(delivery_id=delivery_id)
    except delivery.TransientDeliveryError as exc:
        raise self.retry(exc=exc, countdown=delivery.retry_delay(self.request.retries)) from exc


@shared_task(name="invoicing.render_missing_pdfs")
def render_missing_pdfs() -> int:
    """Hourly: queue the PDFs of issued documents whose render task was lost."""
    return outputs.render_missing()


@shared_task(name="invoicing.requeue_stale_deliveries")
def requeue_stale_deliveries() -> int:
    """Hourly: queue again the e-mails whose task was lost (sending twice is prevented)."""
    ids = delivery.stale_delivery_ids()
    for delivery_id in ids:
        send_document_email.delay(delivery_id)
    return len(ids)


# --- the audit-proof archive (invoicing/archive/) ---------------------------------------------


@shared_task(name="invoicing.archive_document", acks_late=True, max_retries=5, bind=True)
def archive_document(self, document_id: int) -> int:
    """Archive an issued document's PDF revisions and the session payloads it bills (once)."""
    try:
        return len(archive.archive_document(document_id=document_id))
    except (OSError, DatabaseError) as exc:
        delay = RENDER_RETRY_DELAYS[min(self.request.retries, len(RENDER_RETRY_DELAYS) - 1)]
        raise self.retry(exc=exc, countdown=delay) from exc


@shared_task(name="invoicing.archive_payment", acks_late=True)
def archive_payment(payment_id: int) -> int | None:
    """Archive one payment record (once)."""
    entry = archive.archive_payment(payment_id=payment_id)
    return entry.pk if entry else None


@shared_task(name="invoicing.archive_transaction", acks_late=True)
def archive_transaction(transaction_id: int) -> int:
    """Archive a ledger transaction in its current status, with its payload (once)."""
    return len(archive.archive_transaction(transaction_id=transaction_id))


@shared_task(name="invoicing.apply_customer_credit", acks_late=True)
def apply_customer_credit(document_ids: list[int]) -> int:
    """Pay newly issued invoices from their customers' credit (allocations are checked, so a
    second run finds nothing left to apply)."""
    return ledger.apply_credit_to_issued(document_ids)


@shared_task(name="invoicing.archive_pending")
def archive_pending() -> int:
    """Hourly: archive the PDFs and payments whose archiving task was lost."""
    return archive.archive_pending()


@shared_task(name="invoicing.verify_archive", acks_late=True)
def verify_archive(verification_id: int) -> str:
    """Verify the archive for a run staff requested in the admin; the run records the result."""
    verification = ArchiveVerification.objects.filter(
        pk=verification_id, state=ArchiveVerification.State.RUNNING, finished_at__isnull=True
    ).first()
    if verification is None:
        return "done"
    return archive_verification.run_verification(verification=verification).state


@shared_task(name="invoicing.settle_card_payment", acks_late=True)
def settle_card_payment(session_id: int, transaction_id: int, card_payment: dict) -> int:
    """Issue a matched session's card receipt and allocate the capture to it (once)."""
    return card_receipts.settle_card_payment(
        session_id=session_id, transaction_id=transaction_id, card_payment=card_payment
    ).pk


@shared_task(name="invoicing.undo_card_payment", acks_late=True)
def undo_card_payment(session_id: int, transaction_id: int) -> int | None:
    """Credit the receipt of a capture no longer matched to the session (once)."""
    credit_note = card_receipts.undo_card_payment(
        session_id=session_id, transaction_id=transaction_id
    )
    return credit_note.pk if credit_note else None


@shared_task(name="invoicing.send_requested_receipt_emails", acks_late=True)
def send_requested_receipt_emails(document_id: int) -> int:
    """E-mail a card receipt to the addresses left for it on the public page (once each)."""
    return receipt_requests.send_for_document(document_id)


# --- bank statements (invoicing/payments/statements.py) ------------------------------------

# Larger uploads are imported by a worker (progress on the statement); smaller ones at once.
LARGE_STATEMENT_BYTES = 2_000_000


@shared_task(name="invoicing.import_bank_statement", acks_late=True)
def import_bank_statement(statement_id: int) -> str:
    """Import a queued statement; run again (redelivered) it books nothing twice."""
    statement = BankStatement.objects.get(pk=statement_id)
    if statement.status in (StatementStatus.DONE, StatementStatus.FAILED):
        return statement.status
    # A refused file keeps its error on the statement, shown in the admin and the API.
    with contextlib.suppress(statements.StatementError):
        statements.import_statement(statement)
    return BankStatement.objects.get(pk=statement_id).status


def import_or_queue(statement: BankStatement) -> bool:
    """Import an uploaded statement now, or hand a large one to a worker after commit (True)."""
    if statement.file.size > LARGE_STATEMENT_BYTES:
        transaction.on_commit(lambda: import_bank_statement.delay(statement.pk))
        return True
    statements.import_statement(statement)
    return False


@shared_task(name="invoicing.match_terminal_payments")
def match_terminal_payments(terminal_ids: list[int]) -> int:
    """Match the open payments of these terminals; each decision is made once."""
    return sum(terminal_matching.match_terminal(pk)["matched"] for pk in terminal_ids)


@shared_task(name="invoicing.sweep_terminal_payments")
def sweep_terminal_payments() -> int:
    """The periodic sweep: every terminal with payments still open is matched again."""
    return match_terminal_payments(terminal_matching.terminals_with_open_payments())


@shared_task(name="invoicing.refresh_dashboard")
def refresh_dashboard() -> int:
    """Recompute the dashboard's summaries of this month and the last in the operator's zone."""
    refreshed = 0
    for operator in Operator.objects.all():
        refreshed += dashboard_summaries.refresh_recent(today_for(operator), operator.time_zone)
    return refreshed
