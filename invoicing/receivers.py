"""Every receiver of the project, in one place: what follows when a layer announces a change.

Lower layers (the kernel, sessions) and the invoicing domain send the signals they declare
(`cpo_portal/kernel/signals.py`, `sessions/signals.py`, `invoicing/signals.py`). A receiver here
only queues Celery tasks, on commit when the signal is sent inside the caller's transaction; it
never holds a business rule, so the order of effects can be read top to bottom.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import receiver

from cpo_portal.kernel.integrations import tasks as integration_tasks
from cpo_portal.kernel.signals import webhook_deliveries_written
from invoicing import tasks
from invoicing.documents.composition import per_session_due
from invoicing.output import document_messages, pipeline, receipt_requests
from invoicing.payments import notices
from invoicing.signals import (
    billing_chunks_planned,
    collection_queued,
    document_pdf_stored,
    documents_issued,
    payment_recorded,
    payment_status_changed,
    pdf_batch_requested,
    pdf_render_requested,
    recipient_corrected,
    terminal_match_undone,
    terminal_payment_matched,
    terminal_transactions_received,
)
from invoicing.terminals.live import terminals_for_sessions
from sessions.signals import sessions_ingested, sessions_released

logger = logging.getLogger(__name__)


@receiver(sessions_ingested, dispatch_uid="queue_per_session_documents")
def queue_per_session_documents(sender, *, operator, sessions, **kwargs) -> None:
    """Completed sessions of per-session customers get their document from a task."""
    due = per_session_due(operator=operator, sessions=sessions)
    if due:
        transaction.on_commit(lambda: tasks.issue_session_documents.delay(due))


@receiver(sessions_released, dispatch_uid="queue_released_session_documents")
def queue_released_session_documents(sender, *, operator, sessions, **kwargs) -> None:
    """Sessions released from quarantine are billed like freshly ingested ones."""
    queue_per_session_documents(sender, operator=operator, sessions=sessions)


@receiver(collection_queued, dispatch_uid="queue_collection_run")
def queue_collection_run(sender, *, run_id, **kwargs) -> None:
    transaction.on_commit(lambda: tasks.write_collection_run.delay(run_id))


@receiver(documents_issued, dispatch_uid="queue_issued_pdfs")
def queue_issued_pdfs(sender, *, document_ids, **kwargs) -> None:
    transaction.on_commit(lambda: pipeline.after_issue(document_ids))


@receiver(documents_issued, dispatch_uid="queue_document_messages")
def queue_document_messages(sender, *, document_ids, **kwargs) -> None:
    """The document's e-mail (or the card receipt's link) is an outbox row in the issuing
    transaction; it is sent once the PDF is stored."""
    document_messages.queue_issued(document_ids)


@receiver(documents_issued, dispatch_uid="queue_credit_application")
def queue_credit_application(sender, *, document_ids, **kwargs) -> None:
    ids = list(document_ids)

    def send() -> None:
        try:
            tasks.apply_customer_credit.delay(ids)
        except Exception:
            # The broker is down: the credit stays visible and is applied to the next invoice.
            logger.exception("Could not queue applying credit to %s documents", len(ids))

    transaction.on_commit(send)


@receiver(recipient_corrected, dispatch_uid="queue_corrected_pdf")
def queue_corrected_pdf(sender, *, document_id, **kwargs) -> None:
    transaction.on_commit(lambda: pipeline.after_recipient_correction(document_id))


@receiver(pdf_render_requested, dispatch_uid="queue_pdf_render")
def queue_pdf_render(sender, *, document_id, reason, rendered_by_id=None, **kwargs) -> None:
    tasks.render_document_pdf.delay(document_id, reason, rendered_by_id)


@receiver(pdf_batch_requested, dispatch_uid="queue_pdf_batch")
def queue_pdf_batch(sender, *, document_ids, **kwargs) -> None:
    tasks.queue_document_pdfs.delay(list(document_ids))


def _queue_archiving(task, object_id: int, what: str) -> None:
    def send() -> None:
        try:
            task.delay(object_id)
        except Exception:
            # The broker is down: the hourly `archive_pending` task archives it later.
            logger.exception("Could not queue the archiving of %s %s", what, object_id)

    transaction.on_commit(send)


@receiver(document_pdf_stored, dispatch_uid="queue_document_archiving")
def queue_document_archiving(sender, *, document_id, **kwargs) -> None:
    _queue_archiving(tasks.archive_document, document_id, "document")


@receiver(payment_recorded, dispatch_uid="queue_payment_archiving")
def queue_payment_archiving(sender, *, payment_id, **kwargs) -> None:
    _queue_archiving(tasks.archive_payment, payment_id, "payment")


@receiver(payment_status_changed, dispatch_uid="queue_transaction_archiving")
def queue_transaction_archiving(sender, *, transaction_id, **kwargs) -> None:
    _queue_archiving(tasks.archive_transaction, transaction_id, "transaction")


@receiver(billing_chunks_planned, dispatch_uid="queue_billing_chunks")
def queue_billing_chunks(sender, *, chunk_ids, **kwargs) -> None:
    for chunk_id in chunk_ids:
        tasks.bill_chunk.delay(chunk_id)


@receiver(webhook_deliveries_written, dispatch_uid="queue_webhook_deliveries")
def queue_webhook_deliveries(sender, *, delivery_ids, **kwargs) -> None:
    integration_tasks.queue_deliveries(delivery_ids)


@receiver(terminal_payment_matched, dispatch_uid="queue_card_receipt")
def queue_card_receipt(sender, *, session_id, transaction_id, card_payment, **kwargs) -> None:
    args = (session_id, transaction_id, dict(card_payment))
    transaction.on_commit(lambda: tasks.settle_card_payment.delay(*args))


@receiver(terminal_match_undone, dispatch_uid="queue_card_receipt_cancellation")
def queue_card_receipt_cancellation(sender, *, session_id, transaction_id, **kwargs) -> None:
    transaction.on_commit(lambda: tasks.undo_card_payment.delay(session_id, transaction_id))


@receiver(document_pdf_stored, dispatch_uid="queue_requested_receipt_emails")
def queue_requested_receipt_emails(sender, *, document_id, **kwargs) -> None:
    if receipt_requests.has_waiting_requests(document_id):
        tasks.send_requested_receipt_emails.delay(document_id)


@receiver(terminal_transactions_received, dispatch_uid="queue_terminal_matching")
def queue_terminal_matching(sender, *, terminal_ids, **kwargs) -> None:
    """A payment that arrives after its session is matched right away."""
    transaction.on_commit(lambda: tasks.match_terminal_payments.delay(terminal_ids))


@receiver(sessions_ingested, dispatch_uid="queue_terminal_matching_for_sessions")
def queue_terminal_matching_for_sessions(sender, *, operator, sessions, **kwargs) -> None:
    """A session that ends after its payment arrived is matched right away."""
    terminal_ids = terminals_for_sessions(sessions)
    if terminal_ids:
        transaction.on_commit(lambda: tasks.match_terminal_payments.delay(terminal_ids))


@receiver(payment_status_changed, dispatch_uid="queue_payment_notice")
def queue_payment_notice(sender, *, transaction_id, status, **kwargs) -> None:
    """The driver's payment notice is an outbox row in the ledger's transaction."""
    notices.queue_payment_notice(transaction_id=transaction_id)
